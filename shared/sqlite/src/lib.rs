//! SQLite adapter of the automations store port: the embedded default of the local binary.
//!
//! One file (or an in-memory database) holds the automations, the run records, the fires and
//! the rejected envelopes. Every port operation is one short synchronous transaction behind a
//! mutex: SQLite serialises writers anyway, and the statements take microseconds, so the async
//! methods do their work inline rather than hopping to a blocking pool.
//!
//! Expiry is checked on every read and conditional write (`expires_at <= now` is absent), so
//! rows the sweeper has not yet deleted ([`SqliteStore::delete_expired`]) never come back.

mod activity;
mod automations;
mod checkpoint;
mod config;
mod error;
mod executions;
mod fires;
mod history;
mod rejects;
mod runs;
mod schema;
pub mod secrets;
mod tracking;

pub use checkpoint::Checkpointer;
pub use error::{Result, SqliteError};
pub use schema::SCHEMA_VERSION;

use automations_core::BoxFuture;
use automations_core::activity::ActivityUpdate;
use automations_core::engine::RunRecord;
use automations_core::event::RunKey;
use automations_core::fire::Fire;
use automations_core::ingest::{Committed, IngestSession, IngestStore, NewFire, UnitOfWork};
use automations_core::model::Automation;
use automations_core::store::SeedAutomations;
use automations_core::store::{
    AutomationStore, FireStore, RejectRecord, RejectStore, RunSave, RunStore, StoreError, Versioned,
};
use automations_core::time::Timestamp;
use automations_core::{AutomationId, EntityId};
use rusqlite::{Connection, TransactionBehavior};
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

/// The store port over one SQLite connection.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
    /// Seals integration documents at rest (`serve` always sets one; without, they are plain).
    secrets: Option<secrets::SecretKeys>,
}

impl SqliteStore {
    /// Open (creating if needed) the database at `path`, in WAL mode, with the schema brought
    /// up to date.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        SqliteStore::prepare(Connection::open(path)?)
    }

    /// A private in-memory database, gone when the store is dropped.
    pub fn in_memory() -> Result<SqliteStore> {
        SqliteStore::prepare(Connection::open_in_memory()?)
    }

    fn prepare(mut conn: Connection) -> Result<SqliteStore> {
        schema::prepare(&mut conn)?;
        Ok(SqliteStore { conn: Mutex::new(conn), secrets: None })
    }

    /// Seal integration documents with `keys` from now on, and seal again under the current key
    /// every document that is not (plain ones from before, and those under an older key: this
    /// is the rotation). Returns how many were sealed again.
    pub fn with_secret_keys(
        mut self,
        keys: secrets::SecretKeys,
    ) -> std::result::Result<(SqliteStore, usize), automations_core::store::StoreError> {
        let resealed = config::reseal(&mut self.lock(), &keys)?;
        self.secrets = Some(keys);
        Ok((self, resealed))
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock dropped any open transaction, which rolled it back, so
        // the connection is still consistent and can be used.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Delete run records, fires, executions, run activity and metric history that expired at `now`; returns how
    /// many rows went. The sweeper's cleanup: reads already treat these rows as absent, this only
    /// reclaims space (metric history has no expiry to read, and is shown until removed here).
    pub fn delete_expired(&self, now: Timestamp) -> Result<usize> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let n = runs::delete_expired(&tx, now)?
            + fires::delete_expired(&tx, now)?
            + executions::delete_expired(&tx, now)?
            + activity::delete_expired(&tx, now)?
            + history::delete_expired(&tx, now)?
            + rejects::delete_expired(&tx, now)?;
        tx.commit()?;
        Ok(n)
    }

    /// The stored fires of one automation as JSON ([`Fire::line`]), oldest first. Includes
    /// expired fires not yet removed by [`SqliteStore::delete_expired`].
    pub fn fires_for(&self, automation_id: &AutomationId) -> Result<Vec<serde_json::Value>> {
        fires::for_automation(&self.lock(), automation_id)
    }

    /// How many executions are pending delivery, and when the oldest of them was created.
    pub fn pending_executions(&self, now: Timestamp) -> Result<(u64, Option<Timestamp>), StoreError> {
        executions::pending(&self.lock(), now)
    }

    /// The newest `limit` rejected envelopes with their ids (for `automations rejects`), newest
    /// first.
    pub fn newest_rejects(&self, limit: usize) -> Result<Vec<(i64, RejectRecord)>> {
        rejects::newest(&self.lock(), limit)
    }

    /// One rejected envelope by its id.
    pub fn get_reject(&self, id: i64) -> Result<Option<RejectRecord>> {
        rejects::get(&self.lock(), id)
    }

    /// Every rejected envelope, oldest first.
    pub fn rejects(&self) -> Result<Vec<RejectRecord>> {
        rejects::list(&self.lock())
    }
}

impl RunStore for SqliteStore {
    fn load_runs<'a>(
        &'a self,
        keys: &'a [RunKey],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Option<Versioned<RunRecord>>>, StoreError>> {
        Box::pin(async move { Ok(runs::load(&self.lock(), keys, now)?) })
    }

    fn save_runs<'a>(&'a self, saves: &'a [RunSave], now: Timestamp) -> BoxFuture<'a, Result<Vec<bool>, StoreError>> {
        Box::pin(async move {
            let work = UnitOfWork { runs: saves.to_vec(), now, ..UnitOfWork::default() };
            Ok(self.commit(&work)?.saved)
        })
    }
}

impl FireStore for SqliteStore {
    fn record_fires<'a>(&'a self, fires: &'a [Fire], now: Timestamp) -> BoxFuture<'a, Result<Vec<bool>, StoreError>> {
        Box::pin(async move {
            let fires = fires.iter().map(|f| NewFire::new(f.clone(), now)).collect();
            let work = UnitOfWork { fires, now, ..UnitOfWork::default() };
            Ok(self.commit(&work)?.fresh)
        })
    }
}

impl SqliteStore {
    /// A unit of work in one transaction: fires with their executions, run records, activity.
    fn commit(&self, work: &UnitOfWork) -> std::result::Result<Committed, StoreError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(SqliteError::from)?;
        let fresh = fires::record(&tx, &work.fires)?;
        let saved = runs::save(&tx, &work.runs, work.now)?;
        activity::record(&tx, &work.activity, work.now)?;
        tx.commit().map_err(SqliteError::from)?;
        Ok(Committed { fresh, saved })
    }
}

impl IngestStore for SqliteStore {
    fn session(&self) -> Box<dyn IngestSession + '_> {
        Box::new(self)
    }
}

/// A batch on SQLite: its unit of work is one transaction.
impl IngestSession for &SqliteStore {
    fn load_runs<'a>(
        &'a self,
        keys: &'a [RunKey],
        _activity: &'a [ActivityUpdate],
        now: Timestamp,
    ) -> BoxFuture<'a, std::result::Result<Vec<Option<Versioned<RunRecord>>>, StoreError>> {
        Box::pin(async move { Ok(runs::load(&self.lock(), keys, now)?) })
    }

    fn commit(&self, work: UnitOfWork) -> BoxFuture<'_, std::result::Result<Committed, StoreError>> {
        Box::pin(async move { SqliteStore::commit(self, &work) })
    }
}

impl RejectStore for SqliteStore {
    fn record_reject<'a>(&'a self, reject: &'a RejectRecord) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move { Ok(rejects::record(&self.lock(), reject)?) })
    }
}

impl AutomationStore for SqliteStore {
    fn list_automations<'a>(&'a self) -> BoxFuture<'a, Result<Vec<Automation>, StoreError>> {
        Box::pin(async move { Ok(automations::list(&self.lock())?) })
    }

    fn list_entity_automations<'a>(
        &'a self,
        entity: &'a EntityId,
    ) -> BoxFuture<'a, Result<Vec<Automation>, StoreError>> {
        Box::pin(async move { Ok(automations::list_entity(&self.lock(), entity)?) })
    }
}

impl SeedAutomations for SqliteStore {
    fn put_automation<'a>(
        &'a self,
        automation: &'a Automation,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move { Ok(automations::put(&self.lock(), automation, now)?) })
    }
}
