//! `mlflow-poller`: every minute (EventBridge Scheduler), each MLflow integration with a
//! `tracking_uri`, of every entity, is polled and what changed is evaluated.

use automations_lambda::functions::MlflowPoll;
use automations_lambda::{Error, init};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    init::logs();
    let function = &MlflowPoll::start().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| function.handle(event.payload))).await
}
