//! Fires: one row per fire id, recorded at most once while it lives, each with its execution
//! (the outbox, `executions.rs`) in the same transaction.

use crate::error::{Result, SqliteError};
use automations_core::AutomationId;
use automations_core::ingest::NewFire;
use automations_core::store::FIRE_TTL;
use automations_core::time::Timestamp;
use rusqlite::{Connection, Transaction, params};
use serde_json::Value;

/// Record each fire with its execution unless a live fire with its id exists at the fire's
/// clock, inside the caller's transaction (the fire and its execution, the outbox, commit
/// together or not at all). Returns, per fire, whether it was new. An expired fire with the same
/// id is replaced: past its expiry it reads as absent, whether or not the sweeper deleted it.
pub fn record(tx: &Transaction<'_>, fires: &[NewFire]) -> Result<Vec<bool>> {
    let mut new = Vec::with_capacity(fires.len());
    let mut insert = tx.prepare_cached(
        "INSERT INTO fires (id, automation_id, entity, fire, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (id) DO UPDATE
            SET automation_id = excluded.automation_id, entity = excluded.entity, fire = excluded.fire,
                created_at = excluded.created_at, expires_at = excluded.expires_at
            WHERE fires.expires_at <= ?5",
    )?;
    for NewFire { fire: f, execution, at } in fires {
        let doc = serde_json::to_string(&f.line()).map_err(|e| SqliteError::Corrupt(format!("fire {}: {e}", f.id)))?;
        let changed = insert.execute(params![
            f.id.as_str(),
            f.automation_id.as_str(),
            f.entity.as_str(),
            doc,
            at.0,
            at.plus(FIRE_TTL).0
        ])?;
        if changed == 1 {
            crate::executions::insert(tx, execution)?;
        }
        new.push(changed == 1);
    }
    Ok(new)
}

/// The stored fires of one automation (as [`Fire::line`] wrote them), oldest first. Rows
/// past their expiry that the sweeper has not deleted yet are included.
pub fn for_automation(conn: &Connection, automation_id: &AutomationId) -> Result<Vec<Value>> {
    let mut stmt =
        conn.prepare_cached("SELECT id, fire FROM fires WHERE automation_id = ?1 ORDER BY created_at, rowid")?;
    let mut rows = stmt.query([automation_id.as_str()])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        let text: String = row.get(1)?;
        let doc = serde_json::from_str(&text).map_err(|e| SqliteError::Corrupt(format!("fire {id}: {e}")))?;
        out.push(doc);
    }
    Ok(out)
}

/// Delete fire rows that expired; returns how many.
pub fn delete_expired(conn: &Connection, now: Timestamp) -> Result<usize> {
    Ok(conn.prepare_cached("DELETE FROM fires WHERE expires_at <= ?1")?.execute([now.0])?)
}
