//! Stored metric history (the [`HistoryStore`] port): `history_series` keeps each (run, metric)'s
//! count and last step, so an append reads one row per series and thins only when the bound is
//! passed; `history_points` keeps the points.

use crate::SqliteStore;
use crate::error::Result;
use automations_core::event::RunKey;
use automations_core::history::{HISTORY_TTL, MAX_POINTS, Point, RunHistory, Series, thin};
use automations_core::store::{HistoryStore, StoreError};
use automations_core::time::Timestamp;
use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};

fn append(tx: &Transaction<'_>, series: &[Series], max: usize, now: Timestamp) -> Result<()> {
    for s in series {
        let k = &s.run;
        let found: Option<(i64, i64, Option<i64>)> = tx
            .prepare_cached(
                "SELECT id, points, last_step FROM history_series
                 WHERE entity = ?1 AND project = ?2 AND run_id = ?3 AND metric = ?4",
            )?
            .query_row(params![k.entity, k.project, k.run_id, s.metric], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?;
        let (id, mut count, mut last) = match found {
            Some(f) => f,
            None => {
                tx.prepare_cached(
                    "INSERT INTO history_series (entity, project, run_id, metric, run_name, points, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6)",
                )?
                .execute(params![k.entity, k.project, k.run_id, s.metric, s.run_name, now.0])?;
                (tx.last_insert_rowid(), 0, None)
            }
        };
        let mut insert = tx.prepare_cached(
            "INSERT OR IGNORE INTO history_points (series_id, step, time, value) VALUES (?1, ?2, ?3, ?4)",
        )?;
        let mut appended = 0;
        for p in &s.points {
            if last.is_some_and(|l| p.step <= l) {
                continue;
            }
            appended += insert.execute(params![id, p.step, p.time.0, p.value])?;
            last = Some(p.step);
        }
        if appended == 0 {
            continue;
        }
        count += appended as i64;
        if usize::try_from(count).unwrap_or(usize::MAX) > max {
            let steps: Vec<i64> = tx
                .prepare_cached("SELECT step FROM history_points WHERE series_id = ?1 ORDER BY step")?
                .query_map([id], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut delete = tx.prepare_cached("DELETE FROM history_points WHERE series_id = ?1 AND step = ?2")?;
            let dropped = thin(&steps, max);
            for step in &dropped {
                delete.execute(params![id, step])?;
            }
            count = (steps.len() - dropped.len()) as i64;
        }
        tx.prepare_cached(
            "UPDATE history_series SET run_name = COALESCE(?2, run_name), points = ?3, last_step = ?4, updated_at = ?5
             WHERE id = ?1",
        )?
        .execute(params![id, s.run_name, count, last, now.0])?;
    }
    Ok(())
}

/// Remove the (run, metric)s that logged nothing for [`HISTORY_TTL`]; returns the rows deleted.
pub(crate) fn delete_expired(conn: &rusqlite::Connection, now: Timestamp) -> rusqlite::Result<usize> {
    let cutoff = now.0 - HISTORY_TTL;
    let points = conn
        .prepare_cached(
            "DELETE FROM history_points WHERE series_id IN (SELECT id FROM history_series WHERE updated_at <= ?1)",
        )?
        .execute([cutoff])?;
    let series = conn.prepare_cached("DELETE FROM history_series WHERE updated_at <= ?1")?.execute([cutoff])?;
    Ok(points + series)
}

impl SqliteStore {
    /// [`HistoryStore::append_history`] with another bound than [`MAX_POINTS`] (for tests).
    pub fn append_history_bounded(&self, series: &[Series], max: usize, now: Timestamp) -> Result<()> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        append(&tx, series, max, now)?;
        tx.commit()?;
        Ok(())
    }
}

impl HistoryStore for SqliteStore {
    async fn append_history(&self, series: &[Series], now: Timestamp) -> Result<(), StoreError> {
        if series.is_empty() {
            return Ok(());
        }
        Ok(self.append_history_bounded(series, MAX_POINTS, now)?)
    }

    async fn history_runs(&self, entity: &str, project: &str, limit: usize) -> Result<Vec<RunHistory>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT run_id, MAX(run_name), group_concat(metric, char(10)), MAX(updated_at) FROM (
                   SELECT run_id, run_name, metric, updated_at FROM history_series
                   WHERE entity = ?1 AND project = ?2 AND points > 0 ORDER BY metric)
                 GROUP BY run_id ORDER BY MAX(updated_at) DESC, run_id LIMIT ?3",
            )
            .map_err(crate::SqliteError::from)?;
        let rows = stmt
            .query_map(params![entity, project, i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                let metrics: String = r.get(2)?;
                Ok(RunHistory {
                    run: RunKey { entity: entity.to_string(), project: project.to_string(), run_id: r.get(0)? },
                    run_name: r.get(1)?,
                    metrics: metrics.split('\n').map(str::to_string).collect(),
                    updated_at: Timestamp(r.get(3)?),
                })
            })
            .map_err(crate::SqliteError::from)?;
        Ok(rows.collect::<rusqlite::Result<_>>().map_err(crate::SqliteError::from)?)
    }

    async fn metric_history(&self, run: &RunKey, metric: &str) -> Result<Vec<Point>, StoreError> {
        let conn = self.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT p.step, p.time, p.value FROM history_series s JOIN history_points p ON p.series_id = s.id
                 WHERE s.entity = ?1 AND s.project = ?2 AND s.run_id = ?3 AND s.metric = ?4 ORDER BY p.step",
            )
            .map_err(crate::SqliteError::from)?;
        let rows = stmt
            .query_map(params![run.entity, run.project, run.run_id, metric], |r| {
                Ok(Point { step: r.get(0)?, time: Timestamp(r.get(1)?), value: r.get(2)? })
            })
            .map_err(crate::SqliteError::from)?;
        Ok(rows.collect::<rusqlite::Result<_>>().map_err(crate::SqliteError::from)?)
    }
}
