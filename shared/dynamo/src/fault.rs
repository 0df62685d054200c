//! A [`DynamoApi`] that fails on purpose, for tests: throttling, timeouts before and after a
//! write was applied, a concurrent writer winning a conditional write, batch calls that leave
//! work unprocessed. Faults are scripted per operation or drawn at random from a seed, so a
//! failing run can be replayed.

use crate::api::{
    BatchGot, Delete, DynamoApi, DynamoError, Item, Put, Query, QueryPage, Read, TransactItem, Update, Write,
};
use crate::keys::{TOKEN, TOKEN_VALUE};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// The operations of [`DynamoApi`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// [`DynamoApi::get_item`].
    GetItem,
    /// [`DynamoApi::put_item`].
    PutItem,
    /// [`DynamoApi::update_item`].
    UpdateItem,
    /// [`DynamoApi::delete_item`].
    DeleteItem,
    /// [`DynamoApi::query`].
    Query,
    /// [`DynamoApi::batch_get_item`].
    BatchGetItem,
    /// [`DynamoApi::batch_write_item`].
    BatchWriteItem,
    /// [`DynamoApi::transact_write_items`].
    TransactWriteItems,
}

/// One injected failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Refused as throttled; nothing applied.
    Throttle,
    /// Timed out before reaching DynamoDB; nothing applied.
    TimeoutBefore,
    /// Applied, but the answer was lost: the caller sees a timeout.
    TimeoutAfter,
    /// Another writer makes the same conditional write first (under its own write token), so
    /// the caller's condition fails as it would against a concurrent consumer.
    Race,
    /// A batch call gets through the first half of its keys or writes; the rest come back
    /// unprocessed, as DynamoDB does under load (moto never does).
    Partial,
}

/// The write token the racing writer of [`Fault::Race`] uses.
pub const INTERLOPER: &str = "interloper";

#[derive(Debug, Default)]
struct State {
    scripted: HashMap<Op, VecDeque<Fault>>,
    /// (random state, percent of calls that fail).
    chaos: Option<(u64, u64)>,
    injected: Vec<(Op, Fault)>,
}

/// Wraps a [`DynamoApi`] and injects [`Fault`]s.
#[derive(Debug, Default)]
pub struct Faulty<D> {
    inner: D,
    state: Mutex<State>,
}

impl<D> Faulty<D> {
    /// Calls pass through to `inner` untouched until faults are scripted or chaos is turned on.
    pub fn new(inner: D) -> Faulty<D> {
        Faulty { inner, state: Mutex::new(State::default()) }
    }

    /// The wrapped API, to read or set up state without injected faults.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next calls of `op` fail with these faults, in order, before any random ones.
    pub fn script(&self, op: Op, faults: impl IntoIterator<Item = Fault>) {
        self.lock().scripted.entry(op).or_default().extend(faults);
    }

    /// From now on, `percent` of calls fail with a fault that suits the call, drawn from `seed`.
    pub fn chaos(&self, seed: u64, percent: u64) {
        self.lock().chaos = Some((seed, percent.min(100)));
    }

    /// Stop injecting (scripted faults not yet used are dropped too).
    pub fn calm(&self) {
        let mut s = self.lock();
        s.chaos = None;
        s.scripted.clear();
    }

    /// Every fault injected so far, in order.
    pub fn injected(&self) -> Vec<(Op, Fault)> {
        self.lock().injected.clone()
    }

    /// The fault for this call of `op`, if any. `conditional` says whether a race can apply.
    fn next(&self, op: Op, conditional: bool) -> Option<Fault> {
        let mut s = self.lock();
        let scripted = s.scripted.get_mut(&op).and_then(VecDeque::pop_front);
        let fault = scripted.or_else(|| {
            let (rng, percent) = s.chaos.as_mut()?;
            if splitmix(rng) % 100 >= *percent {
                return None;
            }
            let mut menu = vec![Fault::Throttle, Fault::TimeoutBefore, Fault::TimeoutAfter];
            if conditional {
                menu.push(Fault::Race);
            }
            if matches!(op, Op::BatchGetItem | Op::BatchWriteItem) {
                menu.push(Fault::Partial);
            }
            Some(menu[(splitmix(rng) % menu.len() as u64) as usize])
        });
        if let Some(f) = fault {
            s.injected.push((op, f));
            tracing::debug!(?op, fault = ?f, "injecting a DynamoDB fault");
        }
        fault
    }
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn throttled(op: Op) -> DynamoError {
    DynamoError::Throttled(format!("{op:?}: injected ProvisionedThroughputExceededException"))
}

fn timeout(op: Op) -> DynamoError {
    DynamoError::Timeout(format!("{op:?}: injected timeout"))
}

fn as_interloper_item(item: &Item) -> Item {
    let mut item = item.clone();
    if item.contains_key(TOKEN) {
        item.insert(TOKEN.to_string(), AttributeValue::S(INTERLOPER.to_string()));
    }
    item
}

fn as_interloper_params(mut params: crate::api::Params) -> crate::api::Params {
    if params.values.contains_key(TOKEN_VALUE) {
        params.values.insert(TOKEN_VALUE.to_string(), AttributeValue::S(INTERLOPER.to_string()));
    }
    params
}

/// The faults every call can take: fail before the call, or make it and lose the answer.
macro_rules! simple_fault {
    ($op:expr, $fault:expr, $call:expr) => {
        match $fault {
            Some(Fault::Throttle) => return Err(throttled($op)),
            Some(Fault::TimeoutBefore) => return Err(timeout($op)),
            Some(Fault::TimeoutAfter) => {
                // The result is what is lost; the effect stays.
                $call.await.ok();
                return Err(timeout($op));
            }
            _ => {}
        }
    };
}

impl<D: DynamoApi> DynamoApi for Faulty<D> {
    async fn get_item(&self, table: &str, key: Item, read: Read) -> Result<Option<Item>, DynamoError> {
        let fault = self.next(Op::GetItem, false);
        simple_fault!(Op::GetItem, fault, self.inner.get_item(table, key.clone(), read));
        self.inner.get_item(table, key, read).await
    }

    async fn put_item(&self, table: &str, put: Put) -> Result<(), DynamoError> {
        let fault = self.next(Op::PutItem, put.condition.is_some());
        simple_fault!(Op::PutItem, fault, self.inner.put_item(table, put.clone()));
        if fault == Some(Fault::Race) {
            let theirs = Put { item: as_interloper_item(&put.item), ..put.clone() };
            // The other writer may itself lose; either way the caller's write comes second.
            self.inner.put_item(table, theirs).await.ok();
        }
        self.inner.put_item(table, put).await
    }

    async fn update_item(&self, table: &str, update: Update) -> Result<Option<Item>, DynamoError> {
        let fault = self.next(Op::UpdateItem, update.condition.is_some());
        simple_fault!(Op::UpdateItem, fault, self.inner.update_item(table, update.clone()));
        if fault == Some(Fault::Race) {
            let theirs = Update { params: as_interloper_params(update.params.clone()), ..update.clone() };
            self.inner.update_item(table, theirs).await.ok();
        }
        self.inner.update_item(table, update).await
    }

    async fn delete_item(&self, table: &str, delete: Delete) -> Result<(), DynamoError> {
        let fault = self.next(Op::DeleteItem, delete.condition.is_some());
        simple_fault!(Op::DeleteItem, fault, self.inner.delete_item(table, delete.clone()));
        if fault == Some(Fault::Race) {
            self.inner.delete_item(table, delete.clone()).await.ok();
        }
        self.inner.delete_item(table, delete).await
    }

    async fn query(&self, table: &str, query: Query) -> Result<QueryPage, DynamoError> {
        let fault = self.next(Op::Query, false);
        simple_fault!(Op::Query, fault, self.inner.query(table, query.clone()));
        self.inner.query(table, query).await
    }

    async fn batch_get_item(&self, table: &str, keys: Vec<Item>, read: Read) -> Result<BatchGot, DynamoError> {
        let fault = self.next(Op::BatchGetItem, false);
        simple_fault!(Op::BatchGetItem, fault, self.inner.batch_get_item(table, keys.clone(), read));
        if fault == Some(Fault::Partial) && keys.len() > 1 {
            let mut keys = keys;
            let rest = keys.split_off(keys.len().div_ceil(2));
            let mut got = self.inner.batch_get_item(table, keys, read).await?;
            got.unprocessed.extend(rest);
            return Ok(got);
        }
        self.inner.batch_get_item(table, keys, read).await
    }

    async fn batch_write_item(&self, table: &str, writes: Vec<Write>) -> Result<Vec<Write>, DynamoError> {
        let fault = self.next(Op::BatchWriteItem, false);
        simple_fault!(Op::BatchWriteItem, fault, self.inner.batch_write_item(table, writes.clone()));
        if fault == Some(Fault::Partial) && writes.len() > 1 {
            let mut writes = writes;
            let rest = writes.split_off(writes.len().div_ceil(2));
            let mut unprocessed = self.inner.batch_write_item(table, writes).await?;
            unprocessed.extend(rest);
            return Ok(unprocessed);
        }
        self.inner.batch_write_item(table, writes).await
    }

    async fn transact_write_items(&self, table: &str, items: Vec<TransactItem>) -> Result<(), DynamoError> {
        let fault = self.next(Op::TransactWriteItems, false);
        simple_fault!(Op::TransactWriteItems, fault, self.inner.transact_write_items(table, items.clone()));
        self.inner.transact_write_items(table, items).await
    }
}
