//! The history port: each run's logged values per metric ([`crate::history`]), for the run chart
//! and backtests over a stored run.

use super::StoreError;
use crate::event::RunKey;
use crate::history::{Point, RunHistory, Series};
use crate::time::Timestamp;
use std::future::Future;

pub trait HistoryStore: Send + Sync {
    /// Append each series' points whose step is past the last one stored for its (run, metric),
    /// then thin each (run, metric) back within [`crate::history::MAX_POINTS`]. A redelivered
    /// batch appends nothing.
    fn append_history(&self, series: &[Series], now: Timestamp) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Up to `limit` runs of (entity, project) with stored history, the most recently updated first.
    fn history_runs(
        &self,
        entity: &str,
        project: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RunHistory>, StoreError>> + Send;

    /// The stored points of one (run, metric), in step order (empty when there are none).
    fn metric_history(&self, run: &RunKey, metric: &str)
    -> impl Future<Output = Result<Vec<Point>, StoreError>> + Send;
}
