//! Polling one tracking integration and recording the outcome: the use case both deployments
//! run (`automations serve`'s poller task and the AWS `mlflow-poller` function), so the backoff,
//! the poll record and what is logged are decided here once.

use crate::client::{TrackingClient, TrackingError};
use crate::poll::{PollError, PollOutcome, poll_once};
use automations_api::{BoxFuture, HookError, TrackingHooks};
use automations_core::model::Integration;
use automations_core::store::{PollRecord, StoreError, TrackingStore};
use automations_core::time::{Millis, SECOND, Timestamp};
use automations_delivery::EnvelopeFeed;
use serde_json::{Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// The longest wait between two polls of a failing server.
pub const MAX_BACKOFF: Millis = 300 * SECOND;

/// The wait after a poll that left `failures` failed polls in a row, for an integration polled
/// every `interval`: the interval, doubled per failure (at most 64 times), at most
/// [`MAX_BACKOFF`] (or the interval, if longer).
pub fn backoff(interval: Millis, failures: u32) -> Millis {
    if failures == 0 {
        return interval;
    }
    interval.saturating_mul(1 << failures.min(6)).min(MAX_BACKOFF.max(interval))
}

/// The interval of `integration` (its `poll_seconds`), unless `every` overrides it.
pub fn interval(integration: &Integration, every: Option<Millis>) -> Millis {
    every.unwrap_or_else(|| integration.tracking().map_or(15, |t| i64::from(t.poll_seconds)) * SECOND)
}

/// Is a poll of an integration whose last poll is `last` due at `now`? (`slack`: how early a
/// poll may start, for a scheduler that wakes up at a coarser grain than the interval.)
pub fn due(last: Option<&PollRecord>, interval: Millis, now: Timestamp, slack: Millis) -> bool {
    last.is_none_or(|r| now >= r.at.plus(backoff(interval, r.failures)).minus(slack))
}

/// Why a tracking integration's server could not be checked or polled. Like
/// [`TrackingError`], a message never holds a credential: what is shown on
/// `GET /v1/integrations/{name}` (`last_poll.error`) and in the API's refusals is this text.
#[derive(Debug, thiserror::Error)]
pub enum MlflowError {
    /// The integration is not a tracking one.
    #[error("the integration has no tracking_uri")]
    NotTracking,
    /// The client could not be made (the URI is refused).
    #[error(transparent)]
    Client(TrackingError),
    /// The server did not answer a check as it should; the integration was not stored.
    #[error("{0}; nothing was stored")]
    Check(#[source] TrackingError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A poll failed.
    #[error(transparent)]
    Poll(#[from] PollError),
}

/// A client of `integration`'s tracking server.
pub fn client(
    integration: &Integration,
    timeout: Duration,
    allow_private: bool,
) -> Result<TrackingClient, MlflowError> {
    let tracking = integration.tracking().ok_or(MlflowError::NotTracking)?;
    TrackingClient::new(tracking, timeout, allow_private).map_err(MlflowError::Client)
}

/// The API's side of tracking integrations, for either deployment's sink: check that a new (or
/// moved) integration's server answers, and show its last poll on `GET /v1/integrations/{name}`.
pub struct Hooks<S> {
    /// Where the last poll of each integration is kept.
    pub store: Arc<S>,
    /// How long a check's request may take.
    pub timeout: Duration,
    /// Whether tracking servers on private addresses may be reached (tests, on-premises).
    pub allow_private: bool,
}

impl<S: TrackingStore + 'static> TrackingHooks for Hooks<S> {
    fn check<'a>(&'a self, integration: &'a Integration) -> BoxFuture<'a, Result<(), HookError>> {
        Box::pin(async move {
            let c = client(integration, self.timeout, self.allow_private)?;
            c.check().await.map_err(|e| MlflowError::Check(e).into())
        })
    }

    fn status<'a>(
        &'a self,
        integration: &'a Integration,
    ) -> BoxFuture<'a, Result<Option<Map<String, Value>>, HookError>> {
        Box::pin(async move {
            let record = self.store.poll_record(&integration.id).await.map_err(MlflowError::Store)?;
            let mut out = Map::new();
            // A view of strings and numbers always serializes.
            out.insert(
                "last_poll".into(),
                record.map_or(Value::Null, |r| serde_json::to_value(r.view()).unwrap_or(Value::Null)),
            );
            Ok(Some(out))
        })
    }
}

/// Poll `integration` once at `now` (with a client made with `timeout` and `allow_private`),
/// hand what changed to `feed`, and store the outcome as its poll record, which this returns.
/// A failure is in the record (and logged), not an error: the next poll backs off by it.
#[tracing::instrument(skip_all, fields(integration = %integration.name, entity = %integration.entity))]
pub async fn poll_integration<S: TrackingStore, F: EnvelopeFeed>(
    store: &S,
    feed: &F,
    integration: &Integration,
    timeout: Duration,
    allow_private: bool,
    now: Timestamp,
) -> PollRecord {
    let previous = match store.poll_record(&integration.id).await {
        Ok(p) => p.unwrap_or_default(),
        Err(e) => {
            tracing::error!(error = %e, "mlflow poll skipped: cannot read the last poll");
            return PollRecord { at: now, error: Some(e.to_string()), failures: 1, ..PollRecord::default() };
        }
    };
    let mut outcome = PollOutcome::default();
    let result = match client(integration, timeout, allow_private) {
        Ok(c) => poll_once(&c, store, feed, integration, previous.last_success, now, &mut outcome)
            .await
            .map_err(MlflowError::from),
        Err(e) => Err(e),
    };
    let ok = result.is_ok();
    let record = PollRecord {
        at: now,
        error: result.err().map(|e| e.to_string()),
        requests: outcome.requests,
        envelopes: outcome.envelopes,
        last_success: if ok { Some(now) } else { previous.last_success },
        failures: if ok { 0 } else { previous.failures.saturating_add(1) },
    };
    match &record.error {
        Some(e) => tracing::warn!(
            error = %e,
            failures = record.failures,
            requests = record.requests,
            "mlflow poll failed; retried with backoff"
        ),
        None => {
            if previous.error.is_some() {
                tracing::info!(after_failures = previous.failures, "mlflow polling again");
            }
            tracing::debug!(
                requests = record.requests,
                envelopes = record.envelopes,
                runs = outcome.runs,
                "mlflow polled"
            );
        }
    }
    if let Err(e) = store.save_poll_record(&integration.id, &record).await {
        tracing::error!(error = %e, "cannot record the mlflow poll");
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_and_due_follows_it() {
        let i = 15 * SECOND;
        assert_eq!([0, 1, 2, 3].map(|f| backoff(i, f)), [i, 2 * i, 4 * i, 8 * i]);
        assert_eq!(backoff(i, 30), MAX_BACKOFF);
        assert_eq!(backoff(600 * SECOND, 3), 600 * SECOND, "an interval above the cap is kept");
        let last = PollRecord { at: Timestamp(1_000_000), failures: 1, ..PollRecord::default() };
        assert!(due(None, i, Timestamp(0), 0));
        assert!(!due(Some(&last), i, Timestamp(1_000_000 + 29_999), 0));
        assert!(due(Some(&last), i, Timestamp(1_000_000 + 30_000), 0));
        assert!(due(Some(&last), i, Timestamp(1_000_000 + 25_000), 5 * SECOND));
    }
}
