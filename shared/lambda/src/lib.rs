//! What the AWS Lambda functions do, so that each function's `main` is a few lines.
//!
//! - [`settings`]: configuration from the environment (`template.yaml` sets it), with errors that
//!   name the variable;
//! - [`init`]: JSON logs, and the AWS clients, built once per cold start;
//! - [`evaluate`]: a batch of envelopes through the core's ingest on DynamoDB ([`automations_dynamo::RunBatch`]),
//!   the run activity with it, and the new fires' deliveries onto the delivery queue;
//! - [`sqs_batch`]: an SQS batch with partial failures: invalid envelopes to the dead-letter
//!   queue at once, a failing message never failing its neighbours, FIFO order kept per group;
//! - [`mlflow_poller`]: the scheduled MLflow tracking poller, through the same use case as `serve`;
//! - [`dispatcher`], [`sweeper`], [`config_api`]: the other three functions.

pub mod config_api;
pub mod dispatcher;
pub mod evaluate;
pub mod functions;
pub mod init;
pub mod mlflow_poller;
pub mod settings;
pub mod sqs_batch;
pub mod sweeper;
#[cfg(feature = "testing")]
pub mod testing;

pub use evaluate::Evaluator;
pub use settings::Settings;

/// What a handler returns on failure (the Lambda runtime logs it and fails the invocation).
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The wall clock.
pub fn now() -> automations_core::time::Timestamp {
    use automations_core::time::Clock;
    automations_api::SystemClock.now()
}
