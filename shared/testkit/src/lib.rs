//! Test support shared by the AWS adapters and the Lambda functions.
//!
//! - [`tools`]: find the PyPI tools that `scripts/venv` installs into `.venv`, failing (never
//!   skipping) with a message that says how to install them;
//! - [`process`]: a child process killed when its guard drops, with its output kept for failure
//!   messages;
//! - [`moto`]: a moto server (DynamoDB and SQS) on a free loopback port, and SDK clients for it;
//! - [`lambda`]: the `cargo lambda watch` runtime emulator and `cargo lambda invoke`;
//! - [`mlflow`]: a real MLflow tracking server, and a training-like script logging into it;
//! - [`queues`]: the deployment's queues with their dead-letter queues, on moto;
//! - [`conformance`]: the store conformance suite, written once and run against every adapter.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod conformance;
pub mod lambda;
pub mod mlflow;
pub mod moto;
pub mod process;
pub mod queues;
pub mod tools;
