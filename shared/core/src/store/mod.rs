//! The store port: what the engine needs kept between batches, in domain terms.
//!
//! Operations are shaped by what the pipeline does (load the records of these runs; save them
//! if unchanged since loaded; record this fire if absent), not a generic key-value API, so each
//! adapter (SQLite, DynamoDB, memory) can do each in the fewest requests its backend allows.
//! Every method takes `now`: items past their expiry read as absent whether or not the backend
//! has deleted them yet.

mod activity;
mod config;
mod history;
mod memory;
mod outbox;
mod seed;
mod tracking;

pub use activity::{PurgeExpired, RunActivityStore};
pub use config::*;
pub use history::HistoryStore;
pub use memory::{MemoryStore, ready_now};
pub use outbox::{ExecutionStore, execution_cursor, parse_execution_cursor};
pub use seed::{ReadExecution, SeedAutomations};
pub use tracking::{PollRecord, PollView, TrackingStore};

use crate::BoxFuture;
use crate::EntityId;
use crate::engine::RunRecord;
use crate::event::RunKey;
use crate::fire::Fire;
use crate::model::Automation;
use crate::time::Timestamp;

pub use crate::fire::FIRE_TTL;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend could not be reached or refused the request; the caller may retry.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The entity already has an automation or integration of that name.
    #[error("entity {entity:?} already has an {kind} named {name:?}")]
    NameTaken {
        /// Whether an automation's or an integration's name is taken.
        kind: Named,
        /// The entity that already has the name.
        entity: EntityId,
        /// The name taken.
        name: String,
    },
    /// The write would break another uniqueness rule (an id already taken).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Stored data could not be read back.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// What a [`StoreError::NameTaken`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Named {
    /// An automation's name.
    Automation,
    /// An integration's name.
    Integration,
}

impl std::fmt::Display for Named {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Named::Automation => "automation",
            Named::Integration => "integration",
        })
    }
}

impl StoreError {
    /// `entity`'s automation `name` is taken.
    pub fn automation_name_taken(entity: &EntityId, name: &str) -> StoreError {
        StoreError::NameTaken { kind: Named::Automation, entity: entity.clone(), name: name.to_string() }
    }

    /// `entity`'s integration `name` is taken.
    pub fn integration_name_taken(entity: &EntityId, name: &str) -> StoreError {
        StoreError::NameTaken { kind: Named::Integration, entity: entity.clone(), name: name.to_string() }
    }
}

/// A value with the version it was stored under, for optimistic concurrency, and when it
/// expires (ingest forgets a run whose record expires part-way through a batch).
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    /// The version the value was stored under; a save succeeds only if it is still the stored one.
    pub version: u64,
    /// The stored value.
    pub value: T,
    /// When the value expires; from then on it reads as absent.
    pub expires_at: Timestamp,
}

/// A run record to save if nobody saved it since it was loaded.
#[derive(Debug, Clone)]
pub struct RunSave {
    /// The run the record is of.
    pub key: RunKey,
    /// The version loaded (`None`: the run had no record, and must still have none).
    pub expected: Option<u64>,
    /// The record to store.
    pub record: RunRecord,
    /// When the stored record expires (reads as absent from then on).
    pub expires_at: Timestamp,
}

/// Run records: windows and cooldowns, one per run.
pub trait RunStore: Send + Sync {
    /// The records of these runs, in the order of `keys` (`None`: no record, or expired).
    fn load_runs<'a>(
        &'a self,
        keys: &'a [RunKey],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Option<Versioned<RunRecord>>>, StoreError>>;

    /// Save each record if its stored version is still the expected one. Returns, per save,
    /// whether it was written (`false`: someone else saved first; reload and evaluate again).
    fn save_runs<'a>(&'a self, saves: &'a [RunSave], now: Timestamp) -> BoxFuture<'a, Result<Vec<bool>, StoreError>>;
}

/// Fires, recorded at most once each.
pub trait FireStore: Send + Sync {
    /// Record each fire unless a fire with its id is already recorded. Returns, per fire,
    /// whether it was new. Recording is what makes a redelivered event fire nothing new.
    fn record_fires<'a>(&'a self, fires: &'a [Fire], now: Timestamp) -> BoxFuture<'a, Result<Vec<bool>, StoreError>>;
}

/// An envelope refused at intake, kept where an operator can see it.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectRecord {
    /// When the envelope was refused.
    pub received_at: Timestamp,
    /// The envelope's `id`, if it had a readable one.
    pub id: Option<String>,
    /// The envelope's `source`, if it had a readable one.
    pub source: Option<String>,
    /// The envelope's `type`, if it had a readable one.
    pub event_type: Option<String>,
    /// Why it was refused: the validation errors, as text.
    pub reason: String,
    /// The envelope's text, cut to a bounded length.
    pub body: String,
}

/// Refused envelopes (a rejects table locally; a dead-letter queue on AWS).
pub trait RejectStore: Send + Sync {
    /// Keep one refused envelope.
    fn record_reject<'a>(&'a self, reject: &'a RejectRecord) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// The configured automations.
pub trait AutomationStore: Send + Sync {
    /// All configured automations, of every entity.
    fn list_automations<'a>(&'a self) -> BoxFuture<'a, Result<Vec<Automation>, StoreError>>;
    /// One entity's automations, in the order [`AutomationStore::list_automations`] gives them:
    /// what an engine reloads after that entity changed (an adapter that can read one entity
    /// alone says so; the default reads them all).
    fn list_entity_automations<'a>(
        &'a self,
        entity: &'a EntityId,
    ) -> BoxFuture<'a, Result<Vec<Automation>, StoreError>> {
        Box::pin(
            async move { Ok(self.list_automations().await?.into_iter().filter(|a| a.entity() == entity).collect()) },
        )
    }
}
