//! The sweeper (SPEC section 8), run every minute: stalled runs become `crashed`, outbox items
//! that never reached the delivery queue are relayed (AWS; locally the deliverer reads the outbox
//! itself), and expired state is removed.
//!
//! Two overlapping sweeps do no harm: a stalled run's `crashed` envelope has an id derived from
//! the run and its silence, so both sweeps feed the same envelope and its fires are recorded once;
//! a relay claims each execution before sending it on, so only one sweep relays it; purging twice
//! deletes nothing the second time.

use automations_core::BoxFuture;
use automations_core::activity::{self, RunActivity};
use automations_core::delivery::Execution;
use automations_core::event::Envelope;
use automations_core::store::{ExecutionStore, PurgeExpired, RunActivityStore, StoreError};
use automations_core::time::{MINUTE, Millis, Timestamp};
use std::sync::Arc;

/// How long a running run may stay silent before it is marked `crashed`, unless set: 10 minutes,
/// as W&B.
pub const DEFAULT_STALL: Millis = 10 * MINUTE;

/// Where the sweeper's envelopes go: the same evaluation as intake (and the same run-activity
/// update), so a `crashed` run fires `RUN_STATE` automations like any other.
pub trait EnvelopeFeed: Send + Sync {
    /// Why a feed failed; kept as the source of [`SweepError::Feed`] (and of the MLflow poller's
    /// ingest error), so the cause chain reaches the log.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Evaluate `envelopes` as arrived at `now`, and record what they fire.
    fn feed<'a>(&'a self, envelopes: Vec<Envelope>, now: Timestamp) -> BoxFuture<'a, Result<(), Self::Error>>;
}

/// Sends claimed executions to the delivery queue (AWS). Locally there is none: the deliverer
/// reads the outbox itself.
pub trait Relay: Send + Sync {
    /// Why a relay failed; kept as the source of [`SweepError::Relay`].
    type Error: std::error::Error + Send + Sync + 'static;

    /// Send these executions on, each with the version its claim gave it.
    fn relay<'a>(&'a self, executions: &'a [Execution]) -> BoxFuture<'a, Result<(), Self::Error>>;
}

/// Nothing to relay to (the local mode).
impl Relay for () {
    type Error = std::convert::Infallible;

    fn relay<'a>(&'a self, _executions: &'a [Execution]) -> BoxFuture<'a, Result<(), Self::Error>> {
        Box::pin(async move { Ok(()) })
    }
}

/// An error of a seam whose type the sweeper does not know (a feed's, a relay's), with its
/// cause chain.
pub type SeamError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Stalled runs fed as `crashed`.
    pub crashed: usize,
    /// Executions relayed to the queue.
    pub relayed: usize,
    /// Expired items removed.
    pub purged: usize,
}

/// Why a sweep stopped (what it did before that stays done).
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Evaluating the `crashed` envelopes failed.
    #[error("feeding the crashed-run events failed: {0}")]
    Feed(#[source] SeamError),
    /// Sending executions to the delivery queue failed.
    #[error("relaying to the delivery queue failed: {0}")]
    Relay(#[source] SeamError),
}

/// The sweeper over store `S`.
pub struct Sweeper<S> {
    /// Run activity, executions, and everything that expires.
    pub store: Arc<S>,
    /// How long a running run may stay silent before it is marked `crashed`.
    pub stall: Millis,
    /// How long a due execution is left to the queue before the relay takes it.
    pub relay_grace: Millis,
    /// How long a relay's claim holds an execution (the dispatcher claims it again by version).
    pub relay_lease: Millis,
    /// Items per round of each step.
    pub batch: usize,
}

impl<S: RunActivityStore + ExecutionStore + PurgeExpired> Sweeper<S> {
    /// A sweeper with the default stall period, relay timing and batch size.
    pub fn new(store: Arc<S>) -> Sweeper<S> {
        Sweeper { store, stall: DEFAULT_STALL, relay_grace: 2 * MINUTE, relay_lease: 5 * MINUTE, batch: 500 }
    }

    /// One sweep at `now`.
    pub async fn sweep(
        &self,
        feed: &impl EnvelopeFeed,
        relay: Option<&impl Relay>,
        now: Timestamp,
    ) -> Result<SweepReport, SweepError> {
        let mut report = SweepReport { crashed: self.crash_stalled(feed, now).await?, ..SweepReport::default() };
        if let Some(relay) = relay {
            report.relayed = self.relay(relay, now).await?;
        }
        report.purged = self.store.purge_expired(now).await?;
        Ok(report)
    }

    /// Feed a `crashed` envelope for every run silent past its stall period.
    pub async fn crash_stalled(&self, feed: &impl EnvelopeFeed, now: Timestamp) -> Result<usize, SweepError> {
        let silent_since = now.minus(self.stall);
        let mut crashed = 0;
        // Each round's crashes leave the stalled set, so rounds make progress; the bound only
        // guards against a store that does not.
        for _ in 0..1000 {
            let stalled = self.store.stalled_runs(silent_since, self.batch, now).await?;
            let found = stalled.len();
            let due: Vec<&RunActivity> = stalled.iter().filter(|a| activity::is_stalled(a, self.stall, now)).collect();
            if !due.is_empty() {
                let envelopes: Vec<Envelope> = due.iter().map(|a| activity::crash_envelope(a, now)).collect();
                crashed += envelopes.len();
                feed.feed(envelopes, now).await.map_err(|e| SweepError::Feed(Box::new(e)))?;
            }
            // A short round is the last; so is one that found nothing due (a guard against a store
            // that keeps answering the same runs).
            if found < self.batch || due.is_empty() {
                break;
            }
        }
        Ok(crashed)
    }

    /// Claim executions due for longer than the grace and hand them to the relay.
    pub async fn relay(&self, relay: &impl Relay, now: Timestamp) -> Result<usize, SweepError> {
        let due_by = now.minus(self.relay_grace);
        let mut relayed = 0;
        for _ in 0..1000 {
            let claimed = self.store.claim_due(due_by, self.batch, now.plus(self.relay_lease), now).await?;
            if claimed.is_empty() {
                break;
            }
            relay.relay(&claimed).await.map_err(|e| SweepError::Relay(Box::new(e)))?;
            relayed += claimed.len();
            if claimed.len() < self.batch {
                break;
            }
        }
        Ok(relayed)
    }
}
