//! Stored metric history (the [`HistoryStore`] port): `history_series` keeps each (run, metric)'s
//! count, last step and number of chunks; `history_chunks` keeps its points, up to [`CHUNK`] a
//! row, each point 24 bytes (step, time, value; little-endian). A batch reads one series row,
//! rewrites the series' last chunk and adds chunks as it fills them: a few row writes per
//! (run, metric) per batch, not one per value. Past the bound the series is thinned
//! ([`thin`]) and its chunks written again.

use crate::SqliteStore;
use crate::error::{Result, SqliteError};
use automations_core::BoxFuture;
use automations_core::EntityId;
use automations_core::event::RunKey;
use automations_core::history::{HISTORY_TTL, MAX_POINTS, Point, RunHistory, Series, thin};
use automations_core::store::{HistoryStore, StoreError};
use automations_core::time::Timestamp;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

/// Points per chunk row: 3 KiB, within one 4 KiB page.
const CHUNK: usize = 128;
const POINT_BYTES: usize = 24;

fn encode(points: &[Point], out: &mut Vec<u8>) {
    for p in points {
        out.extend_from_slice(&p.step.to_le_bytes());
        out.extend_from_slice(&p.time.0.to_le_bytes());
        out.extend_from_slice(&p.value.to_le_bytes());
    }
}

fn decode(blob: &[u8], out: &mut Vec<Point>) -> Result<()> {
    if !blob.len().is_multiple_of(POINT_BYTES) {
        return Err(SqliteError::Corrupt(format!("a history chunk of {} bytes", blob.len())));
    }
    for p in blob.chunks_exact(POINT_BYTES) {
        let word = |i: usize| <[u8; 8]>::try_from(&p[i * 8..i * 8 + 8]).unwrap_or_default();
        out.push(Point {
            step: i64::from_le_bytes(word(0)),
            time: Timestamp(i64::from_le_bytes(word(1))),
            value: f64::from_le_bytes(word(2)),
        });
    }
    Ok(())
}

fn load_chunks(conn: &Connection, id: i64, from: i64) -> Result<Vec<Point>> {
    let mut stmt =
        conn.prepare_cached("SELECT points FROM history_chunks WHERE series_id = ?1 AND chunk >= ?2 ORDER BY chunk")?;
    let mut rows = stmt.query(params![id, from])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let blob: Vec<u8> = row.get(0)?;
        decode(&blob, &mut out)?;
    }
    Ok(out)
}

/// Write `points` as chunks `first..` of series `id` (replacing what those chunks held); returns
/// the number of chunks in all.
fn write_chunks(tx: &Transaction<'_>, id: i64, first: i64, points: &[Point]) -> Result<i64> {
    let mut put =
        tx.prepare_cached("INSERT OR REPLACE INTO history_chunks (series_id, chunk, points) VALUES (?1, ?2, ?3)")?;
    let mut n = first;
    let mut blob = Vec::with_capacity(CHUNK * POINT_BYTES);
    for part in points.chunks(CHUNK) {
        blob.clear();
        encode(part, &mut blob);
        put.execute(params![id, n, blob])?;
        n += 1;
    }
    Ok(n)
}

fn append(tx: &Transaction<'_>, series: &[Series], max: usize, now: Timestamp) -> Result<()> {
    for s in series {
        let k = &s.run;
        let found: Option<(i64, i64, Option<i64>, i64)> = tx
            .prepare_cached(
                "SELECT id, points, last_step, chunks FROM history_series
                 WHERE entity = ?1 AND project = ?2 AND run_id = ?3 AND metric = ?4",
            )?
            .query_row(params![k.entity, k.project, k.run_id, s.metric], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .optional()?;
        let (id, count, last, chunks) = match found {
            Some(f) => f,
            None => {
                tx.prepare_cached(
                    "INSERT INTO history_series (entity, project, run_id, metric, run_name, points, chunks, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, 0, 0, ?6)",
                )?
                .execute(params![k.entity, k.project, k.run_id, s.metric, s.run_name, now.0])?;
                (tx.last_insert_rowid(), 0, None, 0)
            }
        };
        // The engine's rule: only steps past the last one taken.
        let mut new = Vec::with_capacity(s.points.len());
        let mut top = last;
        for p in &s.points {
            if top.is_none_or(|l| p.step > l) {
                new.push(*p);
                top = Some(p.step);
            }
        }
        let Some(top) = top.filter(|_| !new.is_empty()) else { continue };
        let count = usize::try_from(count).unwrap_or(0);
        let (count, chunks) = if count + new.len() > max {
            // Past the bound: thin the whole series and write it again.
            let mut all = load_chunks(tx, id, 0)?;
            all.extend_from_slice(&new);
            let steps: Vec<i64> = all.iter().map(|p| p.step).collect();
            let dropped = thin(&steps, max);
            all.retain(|p| dropped.binary_search(&p.step).is_err());
            tx.prepare_cached("DELETE FROM history_chunks WHERE series_id = ?1")?.execute([id])?;
            (all.len(), write_chunks(tx, id, 0, &all)?)
        } else {
            // Refill the last chunk (when it has room) and add chunks after it.
            let last_len = count - (usize::try_from(chunks).unwrap_or(0).saturating_sub(1)) * CHUNK;
            let (from, mut points) = if chunks > 0 && last_len < CHUNK {
                (chunks - 1, load_chunks(tx, id, chunks - 1)?)
            } else {
                (chunks, Vec::new())
            };
            points.extend_from_slice(&new);
            (count + new.len(), write_chunks(tx, id, from, &points)?)
        };
        tx.prepare_cached(
            "UPDATE history_series SET run_name = COALESCE(?2, run_name), points = ?3, last_step = ?4, chunks = ?5,
             updated_at = ?6 WHERE id = ?1",
        )?
        .execute(params![id, s.run_name, count as i64, top, chunks, now.0])?;
    }
    Ok(())
}

/// Remove the (run, metric)s that logged nothing for [`HISTORY_TTL`]; returns the rows deleted.
pub(crate) fn delete_expired(conn: &Connection, now: Timestamp) -> rusqlite::Result<usize> {
    let cutoff = now.minus(HISTORY_TTL).0;
    let chunks = conn
        .prepare_cached(
            "DELETE FROM history_chunks WHERE series_id IN (SELECT id FROM history_series WHERE updated_at <= ?1)",
        )?
        .execute([cutoff])?;
    let series = conn.prepare_cached("DELETE FROM history_series WHERE updated_at <= ?1")?.execute([cutoff])?;
    Ok(chunks + series)
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
    fn append_history<'a>(&'a self, series: &'a [Series], now: Timestamp) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            if series.is_empty() {
                return Ok(());
            }
            Ok(self.append_history_bounded(series, MAX_POINTS, now)?)
        })
    }

    fn history_runs<'a>(
        &'a self,
        entity: &'a EntityId,
        project: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<RunHistory>, StoreError>> {
        Box::pin(async move {
            let conn = self.lock();
            let mut stmt = conn
                .prepare_cached(
                    "SELECT run_id, MAX(run_name), group_concat(metric, char(10)), MAX(updated_at) FROM (
                   SELECT run_id, run_name, metric, updated_at FROM history_series
                   WHERE entity = ?1 AND project = ?2 AND points > 0 ORDER BY metric)
                 GROUP BY run_id ORDER BY MAX(updated_at) DESC, run_id LIMIT ?3",
                )
                .map_err(SqliteError::from)?;
            let rows = stmt
                .query_map(params![entity.as_str(), project, i64::try_from(limit).unwrap_or(i64::MAX)], |r| {
                    let metrics: String = r.get(2)?;
                    Ok(RunHistory {
                        run: RunKey { entity: entity.to_string(), project: project.to_string(), run_id: r.get(0)? },
                        run_name: r.get(1)?,
                        metrics: metrics.split('\n').map(str::to_string).collect(),
                        updated_at: Timestamp(r.get(3)?),
                    })
                })
                .map_err(SqliteError::from)?;
            Ok(rows.collect::<rusqlite::Result<_>>().map_err(SqliteError::from)?)
        })
    }

    fn metric_history<'a>(&'a self, run: &'a RunKey, metric: &'a str) -> BoxFuture<'a, Result<Vec<Point>, StoreError>> {
        Box::pin(async move {
            let conn = self.lock();
            let id: Option<i64> = conn
                .prepare_cached(
                    "SELECT id FROM history_series WHERE entity = ?1 AND project = ?2 AND run_id = ?3 AND metric = ?4",
                )
                .map_err(SqliteError::from)?
                .query_row(params![run.entity, run.project, run.run_id, metric], |r| r.get(0))
                .optional()
                .map_err(SqliteError::from)?;
            match id {
                Some(id) => Ok(load_chunks(&conn, id, 0)?),
                None => Ok(Vec::new()),
            }
        })
    }
}
