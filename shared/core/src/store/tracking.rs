//! The tracking poller's port: what it keeps per MLflow integration between polls.
//!
//! A [`RunCursor`] per (integration, run) says what was forwarded; it is written only after the
//! envelopes it covers were ingested, so a crash in between forwards them again (with the same
//! ids: nothing fires twice) and loses nothing. A [`PollRecord`] per integration is the last
//! poll's outcome (shown by `GET /v1/integrations/{name}`) and where the next one starts.

use super::StoreError;
use crate::BoxFuture;
use crate::mlflow::tracking::RunCursor;
use crate::model::Integration;
use crate::time::Timestamp;

/// The last poll of one integration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PollRecord {
    /// When the last poll started.
    pub at: Timestamp,
    /// Why it failed (`None`: it succeeded). Never holds a credential.
    pub error: Option<String>,
    /// HTTP requests it made.
    pub requests: u64,
    /// Envelopes it forwarded.
    pub envelopes: u64,
    /// When the last poll that succeeded started (the next poll's ended-runs search starts a
    /// margin before it).
    pub last_success: Option<Timestamp>,
    /// Failed polls in a row (the backoff).
    pub failures: u32,
}

impl PollRecord {
    /// As `GET /v1/integrations/{name}` shows it, under `last_poll`.
    pub fn view(&self) -> PollView<'_> {
        PollView {
            at: self.at,
            outcome: if self.error.is_none() { "ok" } else { "error" },
            error: self.error.as_deref(),
            requests: self.requests,
            envelopes: self.envelopes,
            last_success: self.last_success,
            consecutive_failures: self.failures,
        }
    }
}

/// A [`PollRecord`] as `GET /v1/integrations/{name}` shows it, under `last_poll`.
#[derive(Debug, serde::Serialize)]
pub struct PollView<'a> {
    #[serde(serialize_with = "crate::time::rfc3339")]
    at: Timestamp,
    outcome: &'static str,
    error: Option<&'a str>,
    requests: u64,
    envelopes: u64,
    #[serde(serialize_with = "crate::time::rfc3339_opt")]
    last_success: Option<Timestamp>,
    consecutive_failures: u32,
}

/// What the MLflow tracking poller keeps between polls: run cursors and each integration's last poll.
pub trait TrackingStore: Send + Sync {
    /// Every `mlflow` integration with a tracking side, of every entity.
    fn tracking_integrations<'a>(&'a self) -> BoxFuture<'a, Result<Vec<Integration>, StoreError>>;

    /// The cursors of `run_ids` of integration `integration_id`, in their order (a run never
    /// forwarded has the default, empty cursor).
    fn load_cursors<'a>(
        &'a self,
        integration_id: &'a str,
        run_ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<RunCursor>, StoreError>>;

    /// Store one run's cursor (replacing what it had).
    fn save_cursor<'a>(
        &'a self,
        integration_id: &'a str,
        run_id: &'a str,
        cursor: &'a RunCursor,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The last poll of integration `integration_id`; `None` before its first poll.
    fn poll_record<'a>(&'a self, integration_id: &'a str) -> BoxFuture<'a, Result<Option<PollRecord>, StoreError>>;

    /// Store the outcome of integration `integration_id`'s poll (replacing the previous one).
    fn save_poll_record<'a>(
        &'a self,
        integration_id: &'a str,
        record: &'a PollRecord,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
}
