//! The store port of ingest: load the runs a batch touches, then commit its unit of work.

use super::UnitOfWork;
use super::work::Committed;
use crate::activity::ActivityUpdate;
use crate::engine::RunRecord;
use crate::event::RunKey;
use crate::store::{StoreError, Versioned};
use crate::time::Timestamp;
use std::future::Future;

/// A store ingest can run on. A batch works in one [`IngestSession`], so an adapter can keep
/// what it read for the commit (DynamoDB writes a run's record and liveness in one request).
pub trait IngestStore: Send + Sync {
    type Session<'a>: IngestSession
    where
        Self: 'a;

    fn session(&self) -> Self::Session<'_>;
}

/// One batch's reads and writes.
pub trait IngestSession: Send + Sync {
    /// The live records of `keys` at `now`, in their order. `activity` is the liveness the
    /// batch will write (an adapter may read those runs in the same request); it is passed once,
    /// on the first load, and may be empty.
    fn load_runs(
        &self,
        keys: &[RunKey],
        activity: &[ActivityUpdate],
        now: Timestamp,
    ) -> impl Future<Output = Result<Vec<Option<Versioned<RunRecord>>>, StoreError>> + Send;

    /// Commit `work` as one unit (see [`UnitOfWork`] for the order without transactions). By
    /// value: a store that keeps records in memory takes them as they are, with no copy.
    fn commit(&self, work: UnitOfWork) -> impl Future<Output = Result<Committed, StoreError>> + Send;
}
