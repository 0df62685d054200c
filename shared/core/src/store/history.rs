//! The history port: each run's logged values per metric ([`crate::history`]), for the run chart
//! and backtests over a stored run.

use super::StoreError;
use crate::BoxFuture;
use crate::EntityId;
use crate::event::RunKey;
use crate::history::{Point, RunHistory, Series};
use crate::time::Timestamp;

/// Run histories: the values logged per (run, metric), thinned to a bounded number of points.
pub trait HistoryStore: Send + Sync {
    /// Append each series' points whose step is past the last one stored for its (run, metric),
    /// then thin each (run, metric) back within [`crate::history::MAX_POINTS`]. A redelivered
    /// batch appends nothing.
    fn append_history<'a>(&'a self, series: &'a [Series], now: Timestamp) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Up to `limit` runs of (entity, project) with stored history, the most recently updated first.
    fn history_runs<'a>(
        &'a self,
        entity: &'a EntityId,
        project: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<RunHistory>, StoreError>>;

    /// The stored points of one (run, metric), in step order (empty when there are none).
    fn metric_history<'a>(&'a self, run: &'a RunKey, metric: &'a str) -> BoxFuture<'a, Result<Vec<Point>, StoreError>>;
}
