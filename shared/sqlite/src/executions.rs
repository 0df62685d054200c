//! The outbox on SQLite: one `executions` row per fire, written in the fire's transaction.
//!
//! `state`, `next_attempt_at` (set only while pending) and `version` are columns, authoritative
//! over the copies inside `document` ([`Execution::to_json`]), so a claim is a one-row UPDATE of
//! two integers and never rewrites the document. A partial index over pending rows by due time
//! makes finding due work (and the next due time) an index range scan however many finished
//! executions the table keeps.

use crate::SqliteStore;
use crate::error::SqliteError;
use automations_core::BoxFuture;
use automations_core::delivery::{Execution, ExecutionState};
use automations_core::store::ReadExecution;
use automations_core::store::{ExecutionStore, Page, StoreError, execution_cursor, parse_execution_cursor};
use automations_core::time::Timestamp;
use automations_core::{AutomationId, FireId};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};

type Result<T> = std::result::Result<T, StoreError>;

fn db(e: rusqlite::Error) -> StoreError {
    SqliteError::from(e).into()
}

/// Write a new fire's execution, inside the fire's transaction. A row with the same id can only
/// be an expired one (the fire insert just succeeded), so it is replaced.
pub(crate) fn insert(tx: &Transaction<'_>, e: &Execution) -> rusqlite::Result<()> {
    let next = next_column(e);
    tx.prepare_cached(
        "INSERT OR REPLACE INTO executions
            (fire_id, automation_id, state, next_attempt_at, version, document, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        e.fire_id.as_str(),
        e.automation_id.as_str(),
        e.state.as_str(),
        next,
        version_column(e.version),
        e.to_json().to_string(),
        e.created_at.0,
        e.expires_at.0
    ])?;
    Ok(())
}

fn next_column(e: &Execution) -> Option<i64> {
    e.next_attempt_at.filter(|_| e.state == ExecutionState::Pending).map(|t| t.0)
}

fn version_column(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

const COLUMNS: &str = "fire_id, state, next_attempt_at, version, document";

/// Read a row of [`COLUMNS`]: the document, with the columns laid over it.
fn read(row: &Row<'_>) -> Result<Execution> {
    let id: String = row.get(0).map_err(db)?;
    let state: String = row.get(1).map_err(db)?;
    let next: Option<i64> = row.get(2).map_err(db)?;
    let version: i64 = row.get(3).map_err(db)?;
    let text: String = row.get(4).map_err(db)?;
    let corrupt = |why: String| StoreError::Corrupt(format!("execution {id}: {why}"));
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
    let mut e = Execution::from_json(&doc).map_err(corrupt)?;
    e.state = ExecutionState::parse(&state).ok_or_else(|| corrupt(format!("unknown state {state:?}")))?;
    e.next_attempt_at = next.map(Timestamp);
    e.version = u64::try_from(version).map_err(|_| corrupt(format!("negative version {version}")))?;
    Ok(e)
}

fn claim_row(tx: &Transaction<'_>, fire_id: &FireId, version: u64, lease_until: Timestamp) -> Result<bool> {
    let n = tx
        .prepare_cached(
            "UPDATE executions SET version = version + 1, next_attempt_at = ?3
             WHERE fire_id = ?1 AND version = ?2 AND state = 'PENDING'",
        )
        .and_then(|mut s| s.execute(params![fire_id.as_str(), version_column(version), lease_until.0]))
        .map_err(db)?;
    Ok(n == 1)
}

fn claimed(mut e: Execution, lease_until: Timestamp) -> Execution {
    e.version += 1;
    e.next_attempt_at = Some(lease_until);
    e
}

fn claim_due(
    conn: &mut Connection,
    due_by: Timestamp,
    limit: usize,
    lease_until: Timestamp,
    now: Timestamp,
) -> Result<Vec<Execution>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
    let found: Vec<Execution> = {
        let mut stmt = tx
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM executions
                 WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= ?1 AND expires_at > ?2
                 ORDER BY next_attempt_at LIMIT ?3"
            ))
            .map_err(db)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows = stmt.query(params![due_by.0, now.0, limit]).map_err(db)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(db)? {
            out.push(read(row)?);
        }
        out
    };
    let mut out = Vec::with_capacity(found.len());
    for e in found {
        if e.state == ExecutionState::Pending && claim_row(&tx, &e.fire_id, e.version, lease_until)? {
            out.push(claimed(e, lease_until));
        }
    }
    tx.commit().map_err(db)?;
    Ok(out)
}

fn get(conn: &Connection, fire_id: &FireId, now: Timestamp) -> Result<Option<Execution>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM executions WHERE fire_id = ?1 AND expires_at > ?2"))
        .map_err(db)?
        .query_row(params![fire_id.as_str(), now.0], |row| Ok(read(row)))
        .optional()
        .map_err(db)?
        .transpose()
}

fn claim(
    conn: &mut Connection,
    fire_id: &FireId,
    version: Option<u64>,
    lease_until: Timestamp,
    now: Timestamp,
) -> Result<Option<Execution>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
    let Some(e) = get(&tx, fire_id, now)? else { return Ok(None) };
    let wanted = e.state == ExecutionState::Pending
        && match version {
            Some(v) => e.version == v,
            None => e.is_due(now),
        };
    if !wanted || !claim_row(&tx, fire_id, e.version, lease_until)? {
        return Ok(None);
    }
    tx.commit().map_err(db)?;
    Ok(Some(claimed(e, lease_until)))
}

fn save(conn: &Connection, e: &Execution, now: Timestamp) -> Result<bool> {
    let mut stored = e.clone();
    stored.version = e.version.saturating_add(1);
    let n = conn
        .prepare_cached(
            "UPDATE executions SET state = ?3, next_attempt_at = ?4, version = ?5, document = ?6
             WHERE fire_id = ?1 AND version = ?2 AND expires_at > ?7",
        )
        .and_then(|mut s| {
            s.execute(params![
                e.fire_id.as_str(),
                version_column(e.version),
                e.state.as_str(),
                next_column(e),
                version_column(stored.version),
                stored.to_json().to_string(),
                now.0
            ])
        })
        .map_err(db)?;
    Ok(n == 1)
}

fn list(
    conn: &Connection,
    automation_id: &AutomationId,
    cursor: Option<&str>,
    limit: usize,
    now: Timestamp,
) -> Result<Page<Execution>> {
    let after = match cursor.map(parse_execution_cursor) {
        None => None,
        Some(Some(k)) => Some(k),
        Some(None) => return Ok(Page { items: Vec::new(), next: None }),
    };
    let limit = limit.max(1);
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM executions
             WHERE automation_id = ?1 AND expires_at > ?2 AND (?3 IS NULL OR (created_at, fire_id) < (?3, ?4))
             ORDER BY created_at DESC, fire_id DESC LIMIT ?5"
        ))
        .map_err(db)?;
    let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
    let (after_t, after_id) = match after {
        Some((t, id)) => (Some(t.0), id.into_string()),
        None => (None, String::new()),
    };
    let mut rows = stmt.query(params![automation_id.as_str(), now.0, after_t, after_id.as_str(), fetch]).map_err(db)?;
    let mut items = Vec::new();
    while let Some(row) = rows.next().map_err(db)? {
        items.push(read(row)?);
    }
    let more = items.len() > limit;
    items.truncate(limit);
    let next = if more { items.last().map(execution_cursor) } else { None };
    Ok(Page { items, next })
}

fn next_due(conn: &Connection, now: Timestamp) -> Result<Option<Timestamp>> {
    let t: Option<i64> = conn
        .prepare_cached(
            "SELECT MIN(next_attempt_at) FROM executions WHERE next_attempt_at IS NOT NULL AND expires_at > ?1",
        )
        .map_err(db)?
        .query_row([now.0], |r| r.get(0))
        .map_err(db)?;
    Ok(t.map(Timestamp))
}

/// Executions waiting for a delivery and the creation time of the oldest of them (for the
/// outbox metrics). Expired rows not yet removed do not count: they will never be delivered.
pub(crate) fn pending(conn: &Connection, now: Timestamp) -> Result<(u64, Option<Timestamp>)> {
    let (n, oldest): (i64, Option<i64>) = conn
        .prepare_cached(
            "SELECT COUNT(*), MIN(created_at) FROM executions WHERE next_attempt_at IS NOT NULL AND expires_at > ?1",
        )
        .map_err(db)?
        .query_row([now.0], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(db)?;
    Ok((u64::try_from(n).unwrap_or(0), oldest.map(Timestamp)))
}

/// Delete execution rows that expired; returns how many.
pub(crate) fn delete_expired(conn: &Connection, now: Timestamp) -> rusqlite::Result<usize> {
    conn.prepare_cached("DELETE FROM executions WHERE expires_at <= ?1")?.execute([now.0])
}

impl ExecutionStore for SqliteStore {
    fn claim_due<'a>(
        &'a self,
        due_by: Timestamp,
        limit: usize,
        lease_until: Timestamp,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Execution>>> {
        Box::pin(async move { claim_due(&mut self.lock(), due_by, limit, lease_until, now) })
    }

    fn claim<'a>(
        &'a self,
        fire_id: &'a FireId,
        version: Option<u64>,
        lease_until: Timestamp,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Option<Execution>>> {
        Box::pin(async move { claim(&mut self.lock(), fire_id, version, lease_until, now) })
    }

    fn save_execution<'a>(&'a self, execution: &'a Execution, now: Timestamp) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move { save(&self.lock(), execution, now) })
    }

    fn list_executions<'a>(
        &'a self,
        automation_id: &'a AutomationId,
        cursor: Option<&'a str>,
        limit: usize,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Page<Execution>>> {
        Box::pin(async move { list(&self.lock(), automation_id, cursor, limit, now) })
    }

    fn next_due<'a>(&'a self, now: Timestamp) -> BoxFuture<'a, Result<Option<Timestamp>>> {
        Box::pin(async move { next_due(&self.lock(), now) })
    }
}

impl ReadExecution for SqliteStore {
    fn get_execution<'a>(&'a self, fire_id: &'a FireId, now: Timestamp) -> BoxFuture<'a, Result<Option<Execution>>> {
        Box::pin(async move { get(&self.lock(), fire_id, now) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(conn: &Connection, sql: &str, args: usize) -> Vec<String> {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let args = vec![rusqlite::types::Value::Integer(0); args];
        stmt.query_map(rusqlite::params_from_iter(args), |r| r.get(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn due_work_and_listings_are_index_range_scans() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::schema::prepare(&mut conn).unwrap();
        let due = plan(
            &conn,
            &format!(
                "SELECT {COLUMNS} FROM executions WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= ?1 AND expires_at > ?2 ORDER BY next_attempt_at LIMIT ?3"
            ),
            3,
        );
        assert!(due.iter().any(|p| p.contains("USING INDEX executions_due")), "{due:?}");
        assert!(!due.iter().any(|p| p.starts_with("SCAN executions") && !p.contains("INDEX")), "{due:?}");
        let list = plan(
            &conn,
            &format!(
                "SELECT {COLUMNS} FROM executions WHERE automation_id = ?1 AND expires_at > ?2 AND (?3 IS NULL OR (created_at, fire_id) < (?3, ?4)) ORDER BY created_at DESC, fire_id DESC LIMIT ?5"
            ),
            5,
        );
        assert!(list.iter().any(|p| p.contains("INDEX executions_automation")), "{list:?}");
        assert!(!list.iter().any(|p| p.contains("TEMP B-TREE")), "no sort step: {list:?}");
    }
}
