//! Run activity and expiry: what the sweeper reads and cleans (SPEC section 8).
//!
//! The intake records one [`ActivityUpdate`] per run per batch ([`crate::activity::updates`]);
//! the store merges it into the run's row with [`crate::activity::apply`]. On DynamoDB that is a
//! read and a conditional write per run (or an `UpdateItem` with `SET last_seen = :now`, and the
//! state fields conditioned on `state_at <= :t`), with a sparse GSI over `running` rows by
//! `last_seen` for [`RunActivityStore::stalled_runs`].

use super::StoreError;
use crate::BoxFuture;
use crate::activity::{ActivityUpdate, RunActivity};
use crate::time::Timestamp;

/// Run liveness, for stalled-run detection.
pub trait RunActivityStore: Send + Sync {
    /// Merge one batch's updates (one per run) into the runs' rows.
    fn record_activity<'a>(
        &'a self,
        updates: &'a [ActivityUpdate],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Up to `limit` live `running` runs last seen at or before `silent_since`, longest silent
    /// first.
    fn stalled_runs<'a>(
        &'a self,
        silent_since: Timestamp,
        limit: usize,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<RunActivity>, StoreError>>;
}

/// Removing what expired. Reads already treat expired items as absent; this reclaims space.
pub trait PurgeExpired: Send + Sync {
    /// Delete everything that expired at `now`; returns how many items went.
    fn purge_expired<'a>(&'a self, now: Timestamp) -> BoxFuture<'a, Result<usize, StoreError>>;
}
