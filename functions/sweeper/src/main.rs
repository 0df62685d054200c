//! `sweeper`: every minute (EventBridge Scheduler), stalled runs become `crashed` and executions
//! that never reached the delivery queue are relayed to it.

use automations_lambda::functions::Sweep;
use automations_lambda::{Error, init};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    init::logs();
    let function = &Sweep::start().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| function.handle(event.payload))).await
}
