//! `artifact-events`: the standard queue of artifact and collection events, evaluated on
//! DynamoDB; reports partial batch failures.

use automations_lambda::functions::Ingest;
use automations_lambda::sqs_batch::SourceQueue;
use automations_lambda::{Error, init};
use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    init::logs();
    let function = &Ingest::start(SourceQueue::Standard).await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| function.handle(event.payload))).await
}
