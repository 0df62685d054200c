//! Run activity and expiry: what the sweeper reads and cleans (SPEC section 8).
//!
//! The intake records one [`ActivityUpdate`] per run per batch ([`crate::activity::updates`]);
//! the store merges it into the run's row with [`crate::activity::apply`]. On DynamoDB that is a
//! read and a conditional write per run (or an `UpdateItem` with `SET last_seen = :now`, and the
//! state fields conditioned on `state_at <= :t`), with a sparse GSI over `running` rows by
//! `last_seen` for [`RunActivityStore::stalled_runs`].

use super::StoreError;
use crate::activity::{ActivityUpdate, RunActivity};
use crate::time::Timestamp;
use std::future::Future;

/// Run liveness, for stalled-run detection.
pub trait RunActivityStore: Send + Sync {
    /// Merge one batch's updates (one per run) into the runs' rows.
    fn record_activity(
        &self,
        updates: &[ActivityUpdate],
        now: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Up to `limit` live `running` runs last seen at or before `silent_since`, longest silent
    /// first.
    fn stalled_runs(
        &self,
        silent_since: Timestamp,
        limit: usize,
        now: Timestamp,
    ) -> impl Future<Output = Result<Vec<RunActivity>, StoreError>> + Send;
}

/// Removing what expired. Reads already treat expired items as absent; this reclaims space.
pub trait PurgeExpired: Send + Sync {
    /// Delete everything that expired at `now`; returns how many items went.
    fn purge_expired(&self, now: Timestamp) -> impl Future<Output = Result<usize, StoreError>> + Send;
}
