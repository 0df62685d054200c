//! MLflow tracking in, the adapter: an HTTP client of an MLflow tracking server's REST API
//! ([`TrackingClient`]) and one poll of a tracking integration ([`poll_once`]), which maps what
//! changed through the core ([`automations_core::mlflow::tracking`]) and hands the envelopes to
//! the deployment's one ingest path (an [`EnvelopeFeed`]).
//!
//! One poll makes, per integration: one `experiments/search` (per 1000 experiments), two
//! `runs/search` (the running runs, and the runs that ended since the last poll; per 1000 runs
//! and per 100 experiments), and one `metrics/get-history` per (run, metric) whose latest step
//! or timestamp moved since it was last forwarded (per 25000 points).

mod client;
mod integration;
mod poll;

pub use automations_delivery::EnvelopeFeed;
pub use client::{TrackingClient, TrackingError};
pub use integration::{Hooks, MAX_BACKOFF, MlflowError, backoff, client, due, interval, poll_integration};
pub use poll::{PollError, PollOutcome, poll_once};
