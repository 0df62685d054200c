//! Delivery, the pure part: what a fire sends and what happens after each attempt.
//!
//! A fire becomes an [`Execution`] when it is recorded; its body (the rendered payload template,
//! the default payload, or the Slack message) is rendered then, from the fire alone, so every
//! attempt sends the same bytes under the same `webhook-id`. At send time the adapter looks the
//! integration up, asks [`request::build`] for the URL, headers and signatures, sends, and asks the
//! [`RetryPolicy`] what the outcome means. The address check ([`address`]) and the clock stay
//! with the adapter; nothing here does I/O.

pub mod address;
pub mod execution;
pub mod payload;
pub mod request;
pub mod retry;
pub mod sample;
pub mod sign;
pub mod template;

mod describe;

pub use execution::{Execution, ExecutionState, ExecutionView, LastResponse, RecordedRequest, StoredExecution};
pub use request::{OutgoingRequest, Target, TargetKind};
pub use retry::{Attempt, RetryPolicy, Verdict};
