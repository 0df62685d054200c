//! An in-memory store: what `automations replay` runs on, and the reference the adapters'
//! conformance tests compare against.

use super::*;
use std::collections::HashMap;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

#[derive(Debug, Default)]
pub(super) struct Inner {
    pub(super) runs: HashMap<RunKey, (Versioned<RunRecord>, Timestamp)>,
    pub(super) fires: HashMap<String, (Fire, Timestamp)>,
    pub(super) fire_order: Vec<String>,
    rejects: Vec<RejectRecord>,
    pub(super) automations: Vec<Automation>,
    /// What only the configuration port keeps (see `memory_config`).
    pub(super) config: super::memory_config::ConfigData,
    /// Executions and run activity (see `memory_outbox`).
    pub(super) outbox: super::memory_outbox::OutboxData,
}

/// Everything in one mutex-guarded map set; expiry is checked on read.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fires recorded so far, oldest first.
    pub fn fires(&self) -> Vec<Fire> {
        let inner = self.lock();
        inner.fire_order.iter().filter_map(|id| inner.fires.get(id).map(|(f, _)| f.clone())).collect()
    }

    pub fn rejects(&self) -> Vec<RejectRecord> {
        self.lock().rejects.clone()
    }

    /// Bytes held by run records' windows (for the memory report).
    pub fn window_bytes(&self) -> usize {
        self.lock().runs.values().map(|(r, _)| r.value.heap_bytes()).sum()
    }
}

impl RunStore for MemoryStore {
    async fn load_runs(
        &self,
        keys: &[RunKey],
        now: Timestamp,
    ) -> Result<Vec<Option<Versioned<RunRecord>>>, StoreError> {
        let inner = self.lock();
        Ok(keys.iter().map(|k| inner.runs.get(k).filter(|(_, exp)| *exp > now).map(|(v, _)| v.clone())).collect())
    }

    async fn save_runs(&self, saves: &[RunSave], now: Timestamp) -> Result<Vec<bool>, StoreError> {
        let mut inner = self.lock();
        Ok(saves
            .iter()
            .map(|s| {
                let current = inner.runs.get(&s.key).filter(|(_, exp)| *exp > now).map(|(v, _)| v.version);
                if current != s.expected {
                    return false;
                }
                // Versions carry on past an expired record (as every adapter's do), so a writer
                // holding a load from before the expiry can never match the new record.
                let version = inner.runs.get(&s.key).map_or(1, |(v, _)| v.version + 1);
                inner.runs.insert(s.key.clone(), (Versioned { version, value: s.record.clone() }, s.expires_at));
                true
            })
            .collect())
    }
}

impl FireStore for MemoryStore {
    async fn record_fires(&self, fires: &[Fire], now: Timestamp) -> Result<Vec<bool>, StoreError> {
        let mut inner = self.lock();
        Ok(fires
            .iter()
            .map(|f| {
                if inner.fires.get(&f.id).is_some_and(|(_, exp)| *exp > now) {
                    return false;
                }
                inner.fires.insert(f.id.clone(), (f.clone(), now.plus(FIRE_TTL)));
                inner.fire_order.push(f.id.clone());
                // The outbox: the fire's execution is written under the same lock.
                inner.outbox.insert(crate::delivery::Execution::for_fire(f, now));
                true
            })
            .collect())
    }
}

impl RejectStore for MemoryStore {
    async fn record_reject(&self, reject: &RejectRecord) -> Result<(), StoreError> {
        self.lock().rejects.push(reject.clone());
        Ok(())
    }
}

impl AutomationStore for MemoryStore {
    async fn list_automations(&self) -> Result<Vec<Automation>, StoreError> {
        Ok(self.lock().automations.clone())
    }

    async fn put_automation(&self, automation: &Automation, _now: Timestamp) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner
            .automations
            .iter()
            .any(|a| a.id != automation.id && a.entity() == automation.entity() && a.name == automation.name)
        {
            return Err(StoreError::Conflict(format!(
                "entity {:?} already has an automation named {:?}",
                automation.entity(),
                automation.name
            )));
        }
        match inner.automations.iter_mut().find(|a| a.id == automation.id) {
            Some(a) => *a = automation.clone(),
            None => inner.automations.push(automation.clone()),
        }
        Ok(())
    }
}

/// Run a future to completion on this thread. For futures that never wait on I/O (the memory
/// store's), so replay and tests need no async runtime.
pub fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}
