//! An in-memory store: what `automations replay` runs on, and the reference the adapters'
//! conformance tests compare against.

mod config;
mod outbox;

use super::*;
use crate::BoxFuture;
use crate::activity::ActivityUpdate;
use crate::ingest::{Committed, IngestSession, IngestStore, NewFire, UnitOfWork};
use crate::{EntityId, FireId};
use std::collections::HashMap;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

#[derive(Debug, Default)]
pub(super) struct Inner {
    pub(super) runs: HashMap<RunKey, (Versioned<RunRecord>, Timestamp)>,
    pub(super) fires: HashMap<FireId, (Fire, Timestamp)>,
    pub(super) fire_order: Vec<FireId>,
    /// Keep only fire ids and their expiry (see [`MemoryStore::ids_only`]).
    ids_only: bool,
    pub(super) fire_ids: HashMap<FireId, Timestamp>,
    rejects: Vec<RejectRecord>,
    pub(super) automations: Vec<Automation>,
    /// What only the configuration port keeps (see `memory_config`).
    pub(super) config: config::ConfigData,
    /// Executions and run activity (see `memory_outbox`).
    pub(super) outbox: outbox::OutboxData,
    /// Stored metric history per (run, metric).
    history: std::collections::BTreeMap<(RunKey, String), StoredSeries>,
}

/// One (run, metric)'s stored history.
#[derive(Debug)]
struct StoredSeries {
    run_name: Option<String>,
    updated_at: Timestamp,
    points: Vec<crate::history::Point>,
}

/// Everything in one mutex-guarded map set; expiry is checked on read.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    /// An empty store that keeps whole fires (see [`MemoryStore::ids_only`] for one that keeps only ids).
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    /// A store that remembers of each fire only its id and expiry, with no execution: what
    /// replay needs to refuse a fire twice, in memory that does not grow with the fires.
    pub fn ids_only() -> MemoryStore {
        let store = MemoryStore::default();
        store.lock().ids_only = true;
        store
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fires recorded so far, oldest first.
    pub fn fires(&self) -> Vec<Fire> {
        let inner = self.lock();
        inner.fire_order.iter().filter_map(|id| inner.fires.get(id).map(|(f, _)| f.clone())).collect()
    }

    /// Envelopes refused so far, in the order they were recorded.
    pub fn rejects(&self) -> Vec<RejectRecord> {
        self.lock().rejects.clone()
    }

    /// Bytes held by run records' windows (for the memory report).
    pub fn window_bytes(&self) -> usize {
        self.lock().runs.values().map(|(r, _)| r.value.heap_bytes()).sum()
    }
}

impl RunStore for MemoryStore {
    fn load_runs<'a>(
        &'a self,
        keys: &'a [RunKey],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Option<Versioned<RunRecord>>>, StoreError>> {
        Box::pin(async move {
            let inner = self.lock();
            Ok(keys.iter().map(|k| inner.runs.get(k).filter(|(_, exp)| *exp > now).map(|(v, _)| v.clone())).collect())
        })
    }

    fn save_runs<'a>(&'a self, saves: &'a [RunSave], now: Timestamp) -> BoxFuture<'a, Result<Vec<bool>, StoreError>> {
        Box::pin(async move { Ok(self.lock().save_runs(saves.to_vec(), now)) })
    }
}

impl Inner {
    /// Saves by value: replay's records move in as they are (a record is tens of KB).
    fn save_runs(&mut self, saves: Vec<RunSave>, now: Timestamp) -> Vec<bool> {
        saves
            .into_iter()
            .map(|s| {
                let current = self.runs.get(&s.key).filter(|(_, exp)| *exp > now).map(|(v, _)| v.version);
                if current != s.expected {
                    return false;
                }
                // Versions carry on past an expired record (as every adapter's do), so a writer
                // holding a load from before the expiry can never match the new record.
                let version = self.runs.get(&s.key).map_or(1, |(v, _)| v.version + 1);
                let stored = Versioned { version, value: s.record, expires_at: s.expires_at };
                self.runs.insert(s.key, (stored, s.expires_at));
                true
            })
            .collect()
    }

    /// Record each fire with its execution unless a live fire with its id exists at its clock.
    fn record_fires(&mut self, fires: &[NewFire]) -> Vec<bool> {
        fires
            .iter()
            .map(|new| {
                let f = &new.fire;
                if self.ids_only {
                    if self.fire_ids.get(&f.id).is_some_and(|exp| *exp > new.at) {
                        return false;
                    }
                    self.fire_ids.insert(f.id.clone(), new.at.plus(FIRE_TTL));
                    return true;
                }
                if self.fires.get(&f.id).is_some_and(|(_, exp)| *exp > new.at) {
                    return false;
                }
                self.fires.insert(f.id.clone(), (f.clone(), new.at.plus(FIRE_TTL)));
                self.fire_order.push(f.id.clone());
                // The outbox: the fire's execution is written under the same lock.
                self.outbox.insert(new.execution.clone());
                true
            })
            .collect()
    }
}

impl FireStore for MemoryStore {
    fn record_fires<'a>(&'a self, fires: &'a [Fire], now: Timestamp) -> BoxFuture<'a, Result<Vec<bool>, StoreError>> {
        Box::pin(async move {
            let fires: Vec<NewFire> = fires.iter().map(|f| NewFire::new(f.clone(), now)).collect();
            Ok(self.lock().record_fires(&fires))
        })
    }
}

impl IngestStore for MemoryStore {
    fn session(&self) -> Box<dyn IngestSession + '_> {
        Box::new(self)
    }
}

/// A batch on the memory store: the unit of work commits under one lock.
impl IngestSession for &MemoryStore {
    fn load_runs<'a>(
        &'a self,
        keys: &'a [RunKey],
        _activity: &'a [ActivityUpdate],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Option<Versioned<RunRecord>>>, StoreError>> {
        Box::pin(async move { RunStore::load_runs(*self, keys, now).await })
    }

    fn commit(&self, work: UnitOfWork) -> BoxFuture<'_, Result<Committed, StoreError>> {
        Box::pin(async move {
            let mut inner = self.lock();
            let fresh = inner.record_fires(&work.fires);
            let saved = inner.save_runs(work.runs, work.now);
            inner.record_activity(&work.activity, work.now);
            Ok(Committed { fresh, saved })
        })
    }
}

impl RejectStore for MemoryStore {
    fn record_reject<'a>(&'a self, reject: &'a RejectRecord) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.lock().rejects.push(reject.clone());
            Ok(())
        })
    }
}

impl AutomationStore for MemoryStore {
    fn list_automations<'a>(&'a self) -> BoxFuture<'a, Result<Vec<Automation>, StoreError>> {
        Box::pin(async move { Ok(self.lock().automations.clone()) })
    }

    fn list_entity_automations<'a>(
        &'a self,
        entity: &'a EntityId,
    ) -> BoxFuture<'a, Result<Vec<Automation>, StoreError>> {
        Box::pin(async move { Ok(self.lock().automations.iter().filter(|a| a.entity() == entity).cloned().collect()) })
    }
}

impl SeedAutomations for MemoryStore {
    fn put_automation<'a>(
        &'a self,
        automation: &'a Automation,
        _now: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut inner = self.lock();
            if inner
                .automations
                .iter()
                .any(|a| a.id != automation.id && a.entity() == automation.entity() && a.name == automation.name)
            {
                return Err(StoreError::automation_name_taken(automation.entity(), &automation.name));
            }
            match inner.automations.iter_mut().find(|a| a.id == automation.id) {
                Some(a) => *a = automation.clone(),
                None => inner.automations.push(automation.clone()),
            }
            Ok(())
        })
    }
}

/// The output of a future that completes without waiting, read on this thread. The in-process
/// stores (memory, SQLite) do all their work when first polled: they hold nothing they could wait
/// on. So callers with no async runtime (replay, backtest, the CLI's checks, tests) read their
/// futures directly. One that would wait is a bug in such a store, not a slow one: it panics,
/// saying so, rather than spinning.
pub fn ready_now<F: Future>(f: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match std::pin::pin!(f).poll(&mut cx) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!(
            "ready_now: a future of an in-process store waited; only futures that never wait may be read this way"
        ),
    }
}

impl super::HistoryStore for MemoryStore {
    fn append_history<'a>(
        &'a self,
        series: &'a [crate::history::Series],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut inner = self.lock();
            for s in series {
                let entry = inner.history.entry((s.run.clone(), s.metric.clone())).or_insert(StoredSeries {
                    run_name: None,
                    updated_at: now,
                    points: Vec::new(),
                });
                if crate::history::append(&mut entry.points, &s.points, crate::history::MAX_POINTS) > 0 {
                    entry.updated_at = now;
                }
                if s.run_name.is_some() {
                    entry.run_name.clone_from(&s.run_name);
                }
            }
            Ok(())
        })
    }

    fn history_runs<'a>(
        &'a self,
        entity: &'a EntityId,
        project: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<crate::history::RunHistory>, StoreError>> {
        Box::pin(async move {
            let inner = self.lock();
            let mut runs: Vec<crate::history::RunHistory> = Vec::new();
            for ((run, metric), StoredSeries { run_name: name, updated_at: at, .. }) in &inner.history {
                if run.entity != entity || run.project != project {
                    continue;
                }
                match runs.iter_mut().find(|r| r.run == *run) {
                    Some(r) => {
                        r.metrics.push(metric.clone());
                        r.updated_at = r.updated_at.max(*at);
                        if name.is_some() {
                            r.run_name.clone_from(name);
                        }
                    }
                    None => runs.push(crate::history::RunHistory {
                        run: run.clone(),
                        run_name: name.clone(),
                        metrics: vec![metric.clone()],
                        updated_at: *at,
                    }),
                }
            }
            runs.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then_with(|| a.run.cmp(&b.run)));
            runs.truncate(limit);
            Ok(runs)
        })
    }

    fn metric_history<'a>(
        &'a self,
        run: &'a RunKey,
        metric: &'a str,
    ) -> BoxFuture<'a, Result<Vec<crate::history::Point>, StoreError>> {
        Box::pin(async move {
            Ok(self
                .lock()
                .history
                .get(&(run.clone(), metric.to_string()))
                .map(|e| e.points.clone())
                .unwrap_or_default())
        })
    }
}
