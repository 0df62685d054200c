//! Envelopes refused at intake, kept for an operator to look at.

use crate::error::Result;
use automations_core::store::RejectRecord;
use automations_core::time::Timestamp;
use rusqlite::{Connection, params};

/// Append one reject.
pub fn record(conn: &Connection, r: &RejectRecord) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO rejects (received_at, event_id, source, event_type, reason, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![r.received_at.0, r.id, r.source, r.event_type, r.reason, r.body])?;
    Ok(())
}

/// Every reject, oldest first.
pub fn list(conn: &Connection) -> Result<Vec<RejectRecord>> {
    let mut stmt = conn
        .prepare_cached("SELECT received_at, event_id, source, event_type, reason, body FROM rejects ORDER BY rowid")?;
    let rows = stmt.query_map([], |row| {
        Ok(RejectRecord {
            received_at: Timestamp(row.get(0)?),
            id: row.get(1)?,
            source: row.get(2)?,
            event_type: row.get(3)?,
            reason: row.get(4)?,
            body: row.get(5)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// How long a reject is kept: as the AWS dead-letter queues and reject items (30 days).
pub const RETENTION: automations_core::time::Millis = 30 * automations_core::time::DAY;

fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, RejectRecord)> {
    Ok((
        row.get(0)?,
        RejectRecord {
            received_at: Timestamp(row.get(1)?),
            id: row.get(2)?,
            source: row.get(3)?,
            event_type: row.get(4)?,
            reason: row.get(5)?,
            body: row.get(6)?,
        },
    ))
}

/// The newest `limit` rejects with their row ids, newest first.
pub fn newest(conn: &Connection, limit: usize) -> Result<Vec<(i64, RejectRecord)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT rowid, received_at, event_id, source, event_type, reason, body FROM rejects ORDER BY rowid DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([i64::try_from(limit).unwrap_or(i64::MAX)], read)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// One reject by its row id.
pub fn get(conn: &Connection, rowid: i64) -> Result<Option<RejectRecord>> {
    use rusqlite::OptionalExtension;
    let found = conn
        .prepare_cached(
            "SELECT rowid, received_at, event_id, source, event_type, reason, body FROM rejects WHERE rowid = ?1",
        )?
        .query_row([rowid], read)
        .optional()?;
    Ok(found.map(|(_, r)| r))
}

/// Delete rejects received more than [`RETENTION`] before `now`. Rows are appended in arrival
/// order, so the oldest row says whether there is anything to do: the table (which has no index
/// on `received_at`) is scanned only when something has expired.
pub(crate) fn delete_expired(conn: &Connection, now: Timestamp) -> rusqlite::Result<usize> {
    use rusqlite::OptionalExtension;
    let cutoff = now.minus(RETENTION).0;
    let oldest: Option<i64> = conn
        .prepare_cached("SELECT received_at FROM rejects ORDER BY rowid LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()?;
    match oldest {
        Some(t) if t <= cutoff => conn.prepare_cached("DELETE FROM rejects WHERE received_at <= ?1")?.execute([cutoff]),
        _ => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use crate::SqliteStore;
    use automations_core::store::{RejectRecord, RejectStore, ready_now};
    use automations_core::time::{DAY, Timestamp};

    fn reject(at: i64, id: &str) -> RejectRecord {
        RejectRecord {
            received_at: Timestamp(at),
            id: Some(id.into()),
            source: Some("s".into()),
            event_type: None,
            reason: "type: unknown".into(),
            body: "{}".into(),
        }
    }

    #[test]
    fn rejects_are_listed_newest_first_and_kept_30_days() {
        let store = SqliteStore::in_memory().unwrap();
        ready_now(store.record_reject(&reject(0, "old"))).unwrap();
        ready_now(store.record_reject(&reject(20 * DAY, "new"))).unwrap();
        let listed = store.newest_rejects(10).unwrap();
        assert_eq!(listed.iter().map(|(_, r)| r.id.clone().unwrap()).collect::<Vec<_>>(), ["new", "old"]);
        assert_eq!(store.get_reject(listed[1].0).unwrap().unwrap().id.as_deref(), Some("old"));
        assert_eq!(store.newest_rejects(1).unwrap().len(), 1);
        // Day 29: nothing is 30 days old yet.
        assert_eq!(store.delete_expired(Timestamp(29 * DAY)).unwrap(), 0);
        assert_eq!(store.delete_expired(Timestamp(30 * DAY)).unwrap(), 1);
        assert_eq!(store.newest_rejects(10).unwrap().len(), 1);
        assert!(store.get_reject(listed[1].0).unwrap().is_none());
    }
}
