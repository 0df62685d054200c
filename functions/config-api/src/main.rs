//! `config-api`: the configuration API and event intake (the same router as `automations serve`)
//! behind an API Gateway HTTP API, over DynamoDB, queueing accepted events.

use automations_lambda::{Error, functions, init};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    init::logs();
    lambda_http::run(functions::config_api().await?).await
}
