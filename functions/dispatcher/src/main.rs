//! `dispatcher`: the delivery queue's consumer: one attempt per message, retries by the
//! message's visibility timeout; reports partial batch failures.

use automations_lambda::dispatcher::Dispatcher;
use automations_lambda::{Error, init};
use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    init::logs();
    let function = &Dispatcher::start().await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| function.invoke(event.payload))).await
}
