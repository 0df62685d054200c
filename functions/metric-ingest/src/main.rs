//! `metric-ingest`: the FIFO queue of run events (`run.metrics.logged`, `run.state.changed`,
//! `run.heartbeat`), grouped by run, evaluated on DynamoDB; reports partial batch failures.

use automations_lambda::functions::Ingest;
use automations_lambda::sqs_batch::SourceQueue;
use automations_lambda::{Error, init};
use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    init::logs();
    let function = &Ingest::start(SourceQueue::Fifo).await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| function.handle(event.payload))).await
}
