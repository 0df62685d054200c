//! The store port of ingest: load the runs a batch touches, then commit its unit of work.

use super::UnitOfWork;
use super::work::Committed;
use crate::BoxFuture;
use crate::activity::ActivityUpdate;
use crate::engine::RunRecord;
use crate::event::RunKey;
use crate::store::{StoreError, Versioned};
use crate::time::Timestamp;

/// A store ingest can run on. A batch works in one [`IngestSession`], so an adapter can keep
/// what it read for the commit (DynamoDB writes a run's record and liveness in one request).
pub trait IngestStore: Send + Sync {
    /// A new session for one batch (boxed once per batch, so the port can be a trait object).
    fn session(&self) -> Box<dyn IngestSession + '_>;
}

/// One batch's reads and writes.
pub trait IngestSession: Send + Sync {
    /// The live records of `keys` at `now`, in their order. `activity` is the liveness the
    /// batch will write (an adapter may read those runs in the same request); it is passed once,
    /// on the first load, and may be empty.
    fn load_runs<'a>(
        &'a self,
        keys: &'a [RunKey],
        activity: &'a [ActivityUpdate],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Option<Versioned<RunRecord>>>, StoreError>>;

    /// Commit `work` as one unit (see [`UnitOfWork`] for the order without transactions). By
    /// value: a store that keeps records in memory takes them as they are, with no copy.
    fn commit(&self, work: UnitOfWork) -> BoxFuture<'_, Result<Committed, StoreError>>;
}
