//! Automations, stored as their create documents and validated again when read.

use crate::error::{Result, SqliteError};
use automations_core::EntityId;
use automations_core::model::Automation;
use automations_core::store::StoreError;
use automations_core::time::Timestamp;
use rusqlite::{Connection, ErrorCode, params};

/// Every stored automation, in the order they were first put. A document that no longer reads
/// or validates fails the whole listing: dropping it silently would stop it firing unnoticed.
pub fn list(conn: &Connection) -> Result<Vec<Automation>> {
    let mut stmt = conn.prepare_cached("SELECT id, document FROM automations ORDER BY rowid")?;
    read(stmt.query([])?)
}

/// One entity's automations, in the order of [`list`].
pub fn list_entity(conn: &Connection, entity: &EntityId) -> Result<Vec<Automation>> {
    let mut stmt = conn.prepare_cached("SELECT id, document FROM automations WHERE entity = ?1 ORDER BY rowid")?;
    read(stmt.query([entity.as_str()])?)
}

fn read(mut rows: rusqlite::Rows<'_>) -> Result<Vec<Automation>> {
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        let text: String = row.get(1)?;
        let corrupt = |why: String| SqliteError::Corrupt(format!("automation {id:?}: {why}"));
        let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        let automation = Automation::from_create(id.as_str(), &doc).map_err(|e| corrupt(e.to_string()))?;
        out.push(automation);
    }
    Ok(out)
}

/// Insert or replace an automation by id; `created_at` is kept on replace.
pub fn put(conn: &Connection, a: &Automation, now: Timestamp) -> Result<()> {
    let doc = a.to_document().to_string();
    let result = conn
        .prepare_cached(
            "INSERT INTO automations (id, entity, name, document, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)
             ON CONFLICT (id) DO UPDATE
                SET entity = excluded.entity, name = excluded.name, document = excluded.document,
                    updated_at = excluded.updated_at",
        )?
        .execute(params![a.id.as_str(), a.entity().as_str(), a.name.as_str(), doc, now.0]);
    match result {
        Ok(_) => Ok(()),
        // Only UNIQUE (entity, name) can fail here: the id conflict is the upsert's target.
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == ErrorCode::ConstraintViolation
                && e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
        {
            Err(SqliteError::NameTaken(StoreError::automation_name_taken(a.entity(), &a.name)))
        }
        Err(e) => Err(e.into()),
    }
}
