//! DynamoDB adapter of the automations store port: the AWS deployment's state.
//!
//! One table holds everything; [`keys`] documents its key design. Every item that expires
//! carries the TTL attribute `expires_at` (epoch seconds), and every read treats
//! `expires_at <= now` as absent, because DynamoDB deletes expired items lazily (up to days
//! late). Writes that must not be lost or repeated are conditional: a fire is recorded only if
//! no live fire has its id; a run record is saved only if its version is still the one loaded.
//!
//! The store talks to DynamoDB through [`DynamoApi`], a narrow trait over the SDK calls it
//! makes, so the same store runs on the SDK ([`SdkDynamo`]), counted (`Metered`, for the cost
//! benchmark) or broken on purpose (`Faulty`, for the tests that show nothing is lost or fired
//! twice when DynamoDB throttles, times out or a concurrent writer wins).
//!
//! Requests are batched to DynamoDB's limits: BatchGetItem 100 keys, BatchWriteItem 25 items,
//! with unprocessed keys and items retried with exponential backoff and jitter ([`Backoff`]).

mod activity;
pub mod api;
mod automations;
mod batch;
mod batch_session;
mod config;
mod executions;
#[cfg(feature = "testing")]
pub mod fault;
pub mod keys;
#[cfg(feature = "testing")]
pub mod metrics;
mod record_codec;
mod rejects;
pub mod retry;
mod runs;
pub mod schema;
mod tracking;

pub use api::{DynamoApi, DynamoError, Item, Read, SdkDynamo};
pub use batch_session::{ACTIVITY_GRANULARITY, RunBatch};
#[cfg(feature = "testing")]
pub use fault::{Fault, Faulty, Op};
#[cfg(feature = "testing")]
pub use metrics::{Metered, Metrics};
pub use retry::Backoff;
pub use schema::create_table;

use automations_core::store::StoreError;
use std::sync::atomic::{AtomicU64, Ordering};

/// The store port over one DynamoDB table.
#[derive(Debug)]
pub struct DynamoStore<D = SdkDynamo> {
    api: D,
    table: String,
    backoff: Backoff,
    /// How many single-item writes (run saves, fires) are in flight at once.
    concurrency: usize,
    tokens: Tokens,
}

impl<D: DynamoApi> DynamoStore<D> {
    /// A store on `table` through `api`, with the default [`Backoff`].
    pub fn new(api: D, table: impl Into<String>) -> DynamoStore<D> {
        DynamoStore { api, table: table.into(), backoff: Backoff::default(), concurrency: 16, tokens: Tokens::new() }
    }

    /// Retry with this backoff instead.
    pub fn with_backoff(mut self, backoff: Backoff) -> DynamoStore<D> {
        self.backoff = backoff;
        self
    }

    /// The DynamoDB calls go through this (for tests and benchmarks: its faults or counts).
    pub fn api(&self) -> &D {
        &self.api
    }

    /// The name of the table this store uses.
    pub fn table(&self) -> &str {
        &self.table
    }
}

/// Write tokens: unique per logical write, the same across its retries. A conditional write
/// whose first attempt timed out but landed fails its retry's condition; finding its own token
/// in the item DynamoDB returns tells it the write is its own.
#[derive(Debug)]
struct Tokens {
    prefix: String,
    next: AtomicU64,
}

impl Tokens {
    fn new() -> Tokens {
        Tokens { prefix: format!("{:016x}", retry::random_u64()), next: AtomicU64::new(0) }
    }

    fn next(&self) -> String {
        format!("{}-{}", self.prefix, self.next.fetch_add(1, Ordering::Relaxed))
    }
}

fn unavailable(what: &str, e: DynamoError) -> StoreError {
    StoreError::Unavailable(format!("dynamodb {what}: {e}"))
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}

/// Did a conditional write that failed its condition find its own token (an earlier attempt of
/// the same write landed)?
fn own_write(e: &DynamoError, token: &str) -> bool {
    matches!(e, DynamoError::ConditionFailed(Some(old)) if keys::get_s(old, keys::TOKEN) == Some(token))
}
