//! Run activity on SQLite: one small `run_activity` row per run, merged once per batch.
//!
//! The merge ([`automations_core::activity::apply`]) needs the old row, so a batch reads and
//! writes its runs' rows in one IMMEDIATE transaction (one writer at a time, so nothing can slip
//! between the read and the write). A partial index over `running` rows by `last_seen` answers
//! the sweeper's stalled-run query without scanning finished runs.

use crate::SqliteStore;
use crate::error::SqliteError;
use automations_core::BoxFuture;
use automations_core::activity::{self, ActivityUpdate, RunActivity};
use automations_core::event::RunKey;
use automations_core::model::RunState;
use automations_core::store::{PurgeExpired, RunActivityStore, StoreError};
use automations_core::time::Timestamp;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

type Result<T> = std::result::Result<T, StoreError>;

fn db(e: rusqlite::Error) -> StoreError {
    SqliteError::from(e).into()
}

const COLUMNS: &str = "entity, project, run_id, state, state_at, last_seen, info, expires_at";

fn read(row: &Row<'_>) -> Result<RunActivity> {
    let key =
        RunKey { entity: row.get(0).map_err(db)?, project: row.get(1).map_err(db)?, run_id: row.get(2).map_err(db)? };
    let corrupt =
        |why: String| StoreError::Corrupt(format!("run activity {}/{}/{}: {why}", key.entity, key.project, key.run_id));
    let state: String = row.get(3).map_err(db)?;
    let info: Option<String> = row.get(6).map_err(db)?;
    let info = match info {
        None => None,
        Some(text) => {
            let stored: activity::StoredRunInfo =
                serde_json::from_str(&text).map_err(|e| corrupt(format!("info: {e}")))?;
            Some(stored.into_info(key.clone()))
        }
    };
    Ok(RunActivity {
        state: RunState::parse(&state).ok_or_else(|| corrupt(format!("unknown state {state:?}")))?,
        state_at: Timestamp(row.get(4).map_err(db)?),
        last_seen: Timestamp(row.get(5).map_err(db)?),
        info,
        expires_at: Timestamp(row.get(7).map_err(db)?),
        key,
    })
}

/// Apply each update to its run's row, inside the caller's transaction.
pub(crate) fn record(tx: &rusqlite::Transaction<'_>, updates: &[ActivityUpdate], now: Timestamp) -> Result<()> {
    {
        let mut select = tx
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM run_activity WHERE entity = ?1 AND project = ?2 AND run_id = ?3 AND expires_at > ?4"
            ))
            .map_err(db)?;
        let mut upsert = tx
            .prepare_cached(
                "INSERT OR REPLACE INTO run_activity (entity, project, run_id, state, state_at, last_seen, info, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .map_err(db)?;
        for u in updates {
            let k = &u.key;
            let old = select
                .query_row(params![k.entity, k.project, k.run_id, now.0], |row| Ok(read(row)))
                .optional()
                .map_err(db)?
                .transpose()?;
            let new = activity::apply(old.as_ref(), u);
            // The info is rewritten only when this batch brought one or the row is new.
            let info = match &new.info {
                None => None,
                Some(i) => Some(
                    serde_json::to_string(&activity::StoredRunInfo::of(i))
                        .map_err(|e| StoreError::Corrupt(format!("run info of {}: {e}", i.key.run_id)))?,
                ),
            };
            upsert
                .execute(params![
                    k.entity,
                    k.project,
                    k.run_id,
                    new.state.as_str(),
                    new.state_at.0,
                    new.last_seen.0,
                    info,
                    new.expires_at.0
                ])
                .map_err(db)?;
        }
    }
    Ok(())
}

fn stalled(conn: &Connection, silent_since: Timestamp, limit: usize, now: Timestamp) -> Result<Vec<RunActivity>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM run_activity
             WHERE state = 'running' AND last_seen <= ?1 AND expires_at > ?2
             ORDER BY last_seen, entity, project, run_id LIMIT ?3"
        ))
        .map_err(db)?;
    let mut rows = stmt.query(params![silent_since.0, now.0, i64::try_from(limit).unwrap_or(i64::MAX)]).map_err(db)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        out.push(read(row)?);
    }
    Ok(out)
}

/// Delete activity rows that expired; returns how many.
pub(crate) fn delete_expired(conn: &Connection, now: Timestamp) -> rusqlite::Result<usize> {
    conn.prepare_cached("DELETE FROM run_activity WHERE expires_at <= ?1")?.execute([now.0])
}

impl RunActivityStore for SqliteStore {
    fn record_activity<'a>(&'a self, updates: &'a [ActivityUpdate], now: Timestamp) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            if updates.is_empty() {
                return Ok(());
            }
            let mut conn = self.lock();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
            record(&tx, updates, now)?;
            tx.commit().map_err(db)
        })
    }

    fn stalled_runs<'a>(
        &'a self,
        silent_since: Timestamp,
        limit: usize,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<RunActivity>>> {
        Box::pin(async move { stalled(&self.lock(), silent_since, limit, now) })
    }
}

impl PurgeExpired for SqliteStore {
    fn purge_expired<'a>(&'a self, now: Timestamp) -> BoxFuture<'a, Result<usize>> {
        Box::pin(async move { Ok(self.delete_expired(now)?) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stalled_query_reads_only_running_rows_by_index() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::schema::prepare(&mut conn).unwrap();
        let sql = format!(
            "EXPLAIN QUERY PLAN SELECT {COLUMNS} FROM run_activity
             WHERE state = 'running' AND last_seen <= ?1 AND expires_at > ?2
             ORDER BY last_seen, entity, project, run_id LIMIT ?3"
        );
        let mut stmt = conn.prepare(&sql).unwrap();
        let plan: Vec<String> =
            stmt.query_map(params![0, 0, 0], |r| r.get(3)).unwrap().collect::<rusqlite::Result<_>>().unwrap();
        assert!(plan.iter().any(|p| p.contains("USING INDEX run_activity_running")), "{plan:?}");
    }
}
