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
