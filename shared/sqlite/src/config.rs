//! The configuration port on SQLite: automations per entity, integrations, API keys.
//!
//! Automations share the `automations` table with the engine's port (stored as their create
//! documents, validated again when read); listing filters on the document with `json_extract`
//! and pages by id (the cursor is the last id of the previous page). Integrations keep their
//! credentials in `document` ([`Integration::to_stored_json`]); API keys only their hash.

use crate::SqliteStore;
use crate::error::SqliteError;
use crate::secrets::{SecretKeys, context};
use automations_core::BoxFuture;
use automations_core::model::{Automation, Integration};
use automations_core::store::AutomationLookup;
use automations_core::store::{
    ApiKeyRecord, ApiKeyStore, AutomationCatalog, AutomationQuery, AutomationRecord, IntegrationLookup,
    IntegrationStore, Page, StoreError,
};
use automations_core::time::Timestamp;
use automations_core::{AutomationId, EntityId, IntegrationName};
use rusqlite::{Connection, ErrorCode, OptionalExtension, Row, params};

type Result<T> = std::result::Result<T, StoreError>;

fn db(e: rusqlite::Error) -> StoreError {
    SqliteError::from(e).into()
}

/// A uniqueness rule a write broke.
enum Taken {
    /// The primary key: the id.
    Id,
    /// Another unique index: the name within the entity.
    Name,
}

fn taken(e: &rusqlite::Error) -> Option<Taken> {
    match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation => match f.extended_code {
            rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY => Some(Taken::Id),
            rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE => Some(Taken::Name),
            _ => None,
        },
        _ => None,
    }
}

fn corrupt(what: &str, id: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what} {id:?}: {why}"))
}

fn automation_row(row: &Row<'_>) -> rusqlite::Result<(String, String, i64, i64)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
}

fn automation_record((id, text, created, updated): (String, String, i64, i64)) -> Result<AutomationRecord> {
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| corrupt("automation", &id, e))?;
    let automation = Automation::from_create(id.as_str(), &doc).map_err(|e| corrupt("automation", &id, e))?;
    Ok(AutomationRecord { automation, created_at: Timestamp(created), updated_at: Timestamp(updated) })
}

pub(crate) fn integration_row(row: &Row<'_>) -> rusqlite::Result<(String, String, String, Option<String>, i64)> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
}

pub(crate) fn integration(
    secrets: Option<&SecretKeys>,
    (id, entity, text, disabled, created): (String, String, String, Option<String>, i64),
) -> Result<Integration> {
    let text = match secrets {
        Some(keys) => keys.open(&text, &context(&entity, &id)).map_err(|e| corrupt("integration", &id, e))?,
        None => text,
    };
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| corrupt("integration", &id, e))?;
    // The message of a failed read never quotes the document: it holds credentials.
    Integration::from_stored(id.as_str(), entity, &doc, disabled, Timestamp(created)).map_err(|e| {
        corrupt("integration", &id, e.errors.iter().map(|e| e.path.as_str()).collect::<Vec<_>>().join(", "))
    })
}

fn create_automation(conn: &Connection, a: &Automation, now: Timestamp) -> Result<()> {
    let doc = a.to_document().to_string();
    let inserted = conn
        .prepare_cached(
            "INSERT INTO automations (id, entity, name, document, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        )
        .and_then(|mut s| s.execute(params![a.id.as_str(), a.entity().as_str(), a.name.as_str(), doc, now.0]));
    match inserted {
        Ok(_) => Ok(()),
        Err(e) => match taken(&e) {
            Some(Taken::Id) => Err(StoreError::Conflict(format!("an automation with id {:?} exists", a.id))),
            Some(Taken::Name) => Err(StoreError::automation_name_taken(a.entity(), &a.name)),
            None => Err(db(e)),
        },
    }
}

fn get_automation(conn: &Connection, entity: &EntityId, id: &AutomationId) -> Result<Option<AutomationRecord>> {
    conn.prepare_cached("SELECT id, document, created_at, updated_at FROM automations WHERE entity = ?1 AND id = ?2")
        .and_then(|mut s| s.query_row(params![entity.as_str(), id.as_str()], automation_row).optional())
        .map_err(db)?
        .map(automation_record)
        .transpose()
}

fn find_automations(conn: &Connection, q: &AutomationQuery) -> Result<Page<AutomationRecord>> {
    let limit = q.limit.max(1);
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, document, created_at, updated_at FROM automations
             WHERE entity = ?1 AND id > ?2
               AND (?3 IS NULL OR json_extract(document, '$.scope.type') = ?3)
               AND (?4 IS NULL OR json_extract(document, '$.event.type') = ?4)
               AND (?5 IS NULL OR json_extract(document, '$.enabled') = ?5)
             ORDER BY id LIMIT ?6",
        )
        .map_err(db)?;
    let rows = stmt
        .query_map(
            params![
                q.entity.as_str(),
                q.cursor.as_deref().unwrap_or(""),
                q.scope.map(|s| s.as_str()),
                q.event_type.map(|t| t.as_str()),
                q.enabled,
                i64::try_from(limit + 1).unwrap_or(i64::MAX),
            ],
            automation_row,
        )
        .map_err(db)?;
    let mut items = Vec::new();
    for row in rows {
        items.push(automation_record(row.map_err(db)?)?);
    }
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|r| r.automation.id.to_string())
    } else {
        None
    };
    Ok(Page { items, next })
}

fn update_automation(conn: &Connection, a: &Automation, now: Timestamp) -> Result<bool> {
    let doc = a.to_document().to_string();
    let updated = conn
        .prepare_cached(
            "UPDATE automations SET name = ?3, document = ?4, updated_at = ?5 WHERE id = ?1 AND entity = ?2",
        )
        .and_then(|mut s| s.execute(params![a.id.as_str(), a.entity().as_str(), a.name.as_str(), doc, now.0]));
    match updated {
        Ok(n) => Ok(n > 0),
        // Updated by id: only the name can clash.
        Err(e) if taken(&e).is_some() => Err(StoreError::automation_name_taken(a.entity(), &a.name)),
        Err(e) => Err(db(e)),
    }
}

/// The document as stored: sealed when the store has keys.
fn stored_document(secrets: Option<&SecretKeys>, i: &Integration) -> Result<String> {
    let doc = i.to_stored_json().to_string();
    match secrets {
        Some(keys) => keys
            .seal(&doc, &context(i.entity.as_str(), &i.id))
            .map_err(|e| StoreError::Unavailable(format!("cannot seal integration {:?}: {e}", i.id))),
        None => Ok(doc),
    }
}

/// Seal again, under the current key, every integration document that is not.
pub(crate) fn reseal(conn: &mut Connection, keys: &SecretKeys) -> Result<usize> {
    let tx = conn.transaction().map_err(db)?;
    let rows: Vec<(String, String, String)> = {
        let mut stmt = tx.prepare("SELECT id, entity, document FROM integrations").map_err(db)?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(db)?;
        rows.collect::<rusqlite::Result<_>>().map_err(db)?
    };
    let mut resealed = 0;
    for (id, entity, stored) in rows {
        if keys.is_current(&stored) {
            continue;
        }
        let plain = keys.open(&stored, &context(&entity, &id)).map_err(|e| corrupt("integration", &id, e))?;
        let sealed = keys
            .seal(&plain, &context(&entity, &id))
            .map_err(|e| StoreError::Unavailable(format!("cannot seal integration {id:?}: {e}")))?;
        let changed = tx
            .execute("UPDATE integrations SET document = ?2 WHERE id = ?1", params![id.as_str(), sealed])
            .map_err(db)?;
        resealed += changed;
    }
    tx.commit().map_err(db)?;
    Ok(resealed)
}

fn create_integration(conn: &Connection, secrets: Option<&SecretKeys>, i: &Integration) -> Result<()> {
    let doc = stored_document(secrets, i)?;
    let inserted = conn
        .prepare_cached(
            "INSERT INTO integrations (id, entity, name, document, disabled, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .and_then(|mut s| {
            s.execute(params![i.id.as_str(), i.entity.as_str(), i.name.as_str(), doc, i.disabled, i.created_at.0])
        });
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if matches!(taken(&e), Some(Taken::Id)) => {
            Err(StoreError::Conflict(format!("an integration with id {:?} exists", i.id)))
        }
        Err(e) if taken(&e).is_some() => Err(StoreError::integration_name_taken(&i.entity, i.name.as_str())),
        Err(e) => Err(db(e)),
    }
}

fn get_integration(
    conn: &Connection,
    secrets: Option<&SecretKeys>,
    entity: &EntityId,
    name: &IntegrationName,
) -> Result<Option<Integration>> {
    conn.prepare_cached(
        "SELECT id, entity, document, disabled, created_at FROM integrations WHERE entity = ?1 AND name = ?2",
    )
    .and_then(|mut s| s.query_row(params![entity.as_str(), name.as_str()], integration_row).optional())
    .map_err(db)?
    .map(|row| integration(secrets, row))
    .transpose()
}

fn list_integrations(
    conn: &Connection,
    secrets: Option<&SecretKeys>,
    entity: &EntityId,
    cursor: Option<&str>,
    limit: usize,
) -> Result<Page<Integration>> {
    let limit = limit.max(1);
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, entity, document, disabled, created_at FROM integrations
             WHERE entity = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
        )
        .map_err(db)?;
    let rows = stmt
        .query_map(
            params![entity.as_str(), cursor.unwrap_or(""), i64::try_from(limit + 1).unwrap_or(i64::MAX)],
            integration_row,
        )
        .map_err(db)?;
    let mut items = Vec::new();
    for row in rows {
        items.push(integration(secrets, row.map_err(db)?)?);
    }
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|i| i.id.clone())
    } else {
        None
    };
    Ok(Page { items, next })
}

fn execute(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<usize> {
    conn.prepare_cached(sql).and_then(|mut s| s.execute(params)).map_err(db)
}

impl AutomationLookup for SqliteStore {
    fn get_automation<'a>(
        &'a self,
        entity: &'a EntityId,
        id: &'a AutomationId,
    ) -> BoxFuture<'a, Result<Option<AutomationRecord>>> {
        Box::pin(async move { get_automation(&self.lock(), entity, id) })
    }
}

impl AutomationCatalog for SqliteStore {
    fn create_automation<'a>(&'a self, automation: &'a Automation, now: Timestamp) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { create_automation(&self.lock(), automation, now) })
    }

    fn find_automations<'a>(&'a self, query: &'a AutomationQuery) -> BoxFuture<'a, Result<Page<AutomationRecord>>> {
        Box::pin(async move { find_automations(&self.lock(), query) })
    }

    fn update_automation<'a>(&'a self, automation: &'a Automation, now: Timestamp) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move { update_automation(&self.lock(), automation, now) })
    }

    fn delete_automation<'a>(&'a self, entity: &'a EntityId, id: &'a AutomationId) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            Ok(execute(
                &self.lock(),
                "DELETE FROM automations WHERE id = ?1 AND entity = ?2",
                params![id.as_str(), entity.as_str()],
            )? > 0)
        })
    }
}

impl IntegrationLookup for SqliteStore {
    fn get_integration<'a>(
        &'a self,
        entity: &'a EntityId,
        name: &'a IntegrationName,
    ) -> BoxFuture<'a, Result<Option<Integration>>> {
        Box::pin(async move { get_integration(&self.lock(), self.secrets.as_ref(), entity, name) })
    }

    fn set_integration_disabled<'a>(
        &'a self,
        entity: &'a EntityId,
        name: &'a IntegrationName,
        reason: Option<&'a str>,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let sql = "UPDATE integrations SET disabled = ?3 WHERE entity = ?1 AND name = ?2";
            Ok(execute(&self.lock(), sql, params![entity.as_str(), name.as_str(), reason])? > 0)
        })
    }
}

impl IntegrationStore for SqliteStore {
    fn create_integration<'a>(&'a self, integration: &'a Integration) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move { create_integration(&self.lock(), self.secrets.as_ref(), integration) })
    }

    fn list_integrations<'a>(
        &'a self,
        entity: &'a EntityId,
        cursor: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Page<Integration>>> {
        Box::pin(async move { list_integrations(&self.lock(), self.secrets.as_ref(), entity, cursor, limit) })
    }

    fn update_integration<'a>(&'a self, i: &'a Integration) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let conn = self.lock();
            // Sealed under the stored row's id (the one it keeps), not the caller's copy's.
            let id: Option<String> = conn
                .prepare_cached("SELECT id FROM integrations WHERE entity = ?1 AND name = ?2")
                .and_then(|mut s| s.query_row(params![i.entity.as_str(), i.name.as_str()], |r| r.get(0)).optional())
                .map_err(db)?;
            let Some(id) = id else { return Ok(false) };
            let doc = stored_document(self.secrets.as_ref(), &Integration { id, ..i.clone() })?;
            let sql = "UPDATE integrations SET document = ?3, disabled = ?4 WHERE entity = ?1 AND name = ?2";
            Ok(execute(&conn, sql, params![i.entity.as_str(), i.name.as_str(), doc, i.disabled])? > 0)
        })
    }

    fn delete_integration<'a>(
        &'a self,
        entity: &'a EntityId,
        name: &'a IntegrationName,
    ) -> BoxFuture<'a, Result<bool>> {
        Box::pin(async move {
            let mut conn = self.lock();
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db)?;
            let id: Option<String> = tx
                .prepare_cached("SELECT id FROM integrations WHERE entity = ?1 AND name = ?2")
                .and_then(|mut s| s.query_row(params![entity.as_str(), name.as_str()], |r| r.get(0)).optional())
                .map_err(db)?;
            let Some(id) = id else { return Ok(false) };
            // A deleted tracking integration forgets its cursors and polls.
            for sql in [
                "DELETE FROM mlflow_metric_cursors WHERE integration_id = ?1",
                "DELETE FROM mlflow_run_cursors WHERE integration_id = ?1",
                "DELETE FROM mlflow_polls WHERE integration_id = ?1",
                "DELETE FROM integrations WHERE id = ?1",
            ] {
                execute(&tx, sql, params![id])?;
            }
            tx.commit().map_err(db)?;
            Ok(true)
        })
    }
}

impl ApiKeyStore for SqliteStore {
    fn put_api_key<'a>(&'a self, key: &'a ApiKeyRecord) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let sql = "INSERT INTO api_keys (hash, entity, created_at) VALUES (?1, ?2, ?3)
                   ON CONFLICT (hash) DO UPDATE SET entity = excluded.entity, created_at = excluded.created_at";
            execute(&self.lock(), sql, params![key.hash, key.entity.as_str(), key.created_at.0]).map(drop)
        })
    }

    fn find_api_key<'a>(&'a self, hash: &'a str) -> BoxFuture<'a, Result<Option<ApiKeyRecord>>> {
        Box::pin(async move {
            self.lock()
                .prepare_cached("SELECT hash, entity, created_at FROM api_keys WHERE hash = ?1")
                .and_then(|mut s| {
                    s.query_row(params![hash], |row| {
                        Ok(ApiKeyRecord {
                            hash: row.get(0)?,
                            entity: EntityId::new(row.get::<_, String>(1)?),
                            created_at: Timestamp(row.get(2)?),
                        })
                    })
                    .optional()
                })
                .map_err(db)
        })
    }
}
