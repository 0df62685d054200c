//! The engine a deployment evaluates with: rebuilt from the stored automations when they change
//! (locally, where the API is in the same process) or at most every so often (a warm Lambda
//! function, which cannot hear of changes made by another).
//!
//! A change is per entity: only that entity's automations are read again (and their filters
//! compiled again); every other entity's are kept as they were read, so one tenant's writes
//! cost what its own automations cost (issue 16: a regex-heavy tenant made every create of
//! every tenant take 1.7 s).

use crate::EntityId;
use crate::engine::Engine;
use crate::model::Automation;
use crate::store::{AutomationStore, StoreError};
use crate::time::{Millis, Timestamp};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// When a cached engine is rebuilt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// Only after an invalidation: the writer of the automations is in-process.
    OnChange,
    /// When older than this (everything is read again), or after an invalidation.
    Every(Millis),
}

/// What must be read again before the next engine.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stale {
    Nothing,
    Entities(BTreeSet<EntityId>),
    Everything,
}

impl Stale {
    fn add(&mut self, entity: &EntityId) {
        match self {
            Stale::Nothing => *self = Stale::Entities(BTreeSet::from([entity.clone()])),
            Stale::Entities(set) => {
                set.insert(entity.clone());
            }
            Stale::Everything => {}
        }
    }
}

struct Cached {
    engine: Option<(Arc<Engine>, Timestamp)>,
    /// The automations the engine was built from, by entity.
    by_entity: BTreeMap<EntityId, Vec<Automation>>,
    stale: Stale,
    /// Bumped by every invalidation; a rebuild that an invalidation overtook is not kept.
    generation: u64,
}

impl Default for Cached {
    fn default() -> Cached {
        Cached { engine: None, by_entity: BTreeMap::new(), stale: Stale::Everything, generation: 0 }
    }
}

/// The engine over the enabled automations, cached.
pub struct EngineCache {
    refresh: Refresh,
    cached: Mutex<Cached>,
}

impl EngineCache {
    /// An empty cache: the first [`EngineCache::engine`] reads every automation.
    pub fn new(refresh: Refresh) -> EngineCache {
        EngineCache { refresh, cached: Mutex::new(Cached::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cached> {
        self.cached.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Any automations may have changed: the next [`EngineCache::engine`] reads them all.
    pub fn invalidate(&self) {
        let mut c = self.lock();
        c.stale = Stale::Everything;
        c.generation += 1;
    }

    /// `entity`'s automations changed: the next [`EngineCache::engine`] reads that entity's.
    pub fn invalidate_entity(&self, entity: &EntityId) {
        let mut c = self.lock();
        c.stale.add(entity);
        c.generation += 1;
    }

    /// The current engine, rebuilt from `store` when stale. A rebuild that an invalidation
    /// overtook is used by its caller but not kept, so an engine older than the latest change is
    /// never installed.
    pub async fn engine(&self, store: &impl AutomationStore, now: Timestamp) -> Result<Arc<Engine>, StoreError> {
        let (generation, stale) = {
            let mut c = self.lock();
            if let Some((_, at)) = &c.engine
                && !self.fresh(*at, now)
            {
                c.stale = Stale::Everything;
            }
            match (&c.engine, &c.stale) {
                (Some((engine, _)), Stale::Nothing) => return Ok(engine.clone()),
                _ => (c.generation, c.stale.clone()),
            }
        };
        let read = match &stale {
            Stale::Nothing => unreachable!("answered from the cache above"),
            Stale::Everything => {
                let mut all: BTreeMap<EntityId, Vec<Automation>> = BTreeMap::new();
                for a in store.list_automations().await? {
                    all.entry(a.entity().clone()).or_default().push(a);
                }
                Read::All(all)
            }
            Stale::Entities(entities) => {
                let mut some = Vec::with_capacity(entities.len());
                for e in entities {
                    some.push((e.clone(), store.list_entity_automations(e).await?));
                }
                Read::Some(some)
            }
        };
        let mut c = self.lock();
        let mut by_entity =
            if c.generation == generation { std::mem::take(&mut c.by_entity) } else { c.by_entity.clone() };
        match read {
            Read::All(all) => by_entity = all,
            Read::Some(some) => {
                for (entity, automations) in some {
                    if automations.is_empty() {
                        by_entity.remove(&entity);
                    } else {
                        by_entity.insert(entity, automations);
                    }
                }
            }
        }
        let engine = Arc::new(Engine::new(by_entity.values().flatten().cloned()));
        if c.generation == generation {
            c.engine = Some((engine.clone(), now));
            c.by_entity = by_entity;
            c.stale = Stale::Nothing;
        }
        Ok(engine)
    }

    fn fresh(&self, built: Timestamp, now: Timestamp) -> bool {
        match self.refresh {
            Refresh::OnChange => true,
            Refresh::Every(ttl) => now >= built && now.since(built) < ttl,
        }
    }
}

enum Read {
    All(BTreeMap<EntityId, Vec<Automation>>),
    Some(Vec<(EntityId, Vec<Automation>)>),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BoxFuture;
    use crate::store::SeedAutomations;
    use crate::store::{MemoryStore, ready_now};
    use serde_json::json;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A store that counts what it is asked to read.
    struct Counting {
        inner: MemoryStore,
        all: AtomicUsize,
        entities: Mutex<Vec<String>>,
    }

    impl AutomationStore for Counting {
        fn list_automations<'a>(&'a self) -> BoxFuture<'a, Result<Vec<Automation>, StoreError>> {
            Box::pin(async move {
                self.all.fetch_add(1, Ordering::Relaxed);
                self.inner.list_automations().await
            })
        }
        fn list_entity_automations<'a>(
            &'a self,
            entity: &'a EntityId,
        ) -> BoxFuture<'a, Result<Vec<Automation>, StoreError>> {
            Box::pin(async move {
                self.entities.lock().unwrap().push(entity.to_string());
                self.inner.list_entity_automations(entity).await
            })
        }
    }

    impl SeedAutomations for Counting {
        fn put_automation<'a>(&'a self, a: &'a Automation, now: Timestamp) -> BoxFuture<'a, Result<(), StoreError>> {
            Box::pin(async move { self.inner.put_automation(a, now).await })
        }
    }

    fn automation(id: &str, entity: &str, enabled: bool) -> Automation {
        let doc = json!({"name": id, "enabled": enabled, "scope": {"type": "entity", "entity": entity},
                         "event": {"type": "ADD_ARTIFACT_ALIAS"}, "action": {"type": "none"}});
        Automation::from_create(id, &doc).unwrap()
    }

    fn ids(engine: &Engine) -> Vec<&str> {
        let mut ids: Vec<&str> = engine.automations().iter().map(|a| a.id.as_str()).collect();
        ids.sort();
        ids
    }

    #[test]
    fn a_change_rereads_only_its_entity() {
        ready_now(async {
            let store = Counting { inner: MemoryStore::new(), all: AtomicUsize::new(0), entities: Mutex::default() };
            for (id, e) in [("a1", "acme"), ("z1", "zeta"), ("z2", "zeta")] {
                store.put_automation(&automation(id, e, true), Timestamp(0)).await.unwrap();
            }
            let cache = EngineCache::new(Refresh::OnChange);
            assert_eq!(ids(&cache.engine(&store, Timestamp(0)).await.unwrap()), ["a1", "z1", "z2"]);
            assert_eq!(store.all.load(Ordering::Relaxed), 1);
            // Cached until a change.
            cache.engine(&store, Timestamp(0)).await.unwrap();
            assert_eq!(store.all.load(Ordering::Relaxed), 1);

            store.put_automation(&automation("a2", "acme", true), Timestamp(0)).await.unwrap();
            store.put_automation(&automation("z1", "zeta", false), Timestamp(0)).await.unwrap();
            cache.invalidate_entity(&EntityId::new("acme"));
            // Only acme was read again: zeta's disabled z1 is not seen until zeta changes.
            assert_eq!(ids(&cache.engine(&store, Timestamp(0)).await.unwrap()), ["a1", "a2", "z1", "z2"]);
            assert_eq!(*store.entities.lock().unwrap(), ["acme"]);
            assert_eq!(store.all.load(Ordering::Relaxed), 1);
            cache.invalidate_entity(&EntityId::new("zeta"));
            assert_eq!(ids(&cache.engine(&store, Timestamp(0)).await.unwrap()), ["a1", "a2", "z2"]);
            // An entity whose automations are all gone is gone.
            store.put_automation(&automation("z2", "zeta", false), Timestamp(0)).await.unwrap();
            cache.invalidate_entity(&EntityId::new("zeta"));
            assert_eq!(ids(&cache.engine(&store, Timestamp(0)).await.unwrap()), ["a1", "a2"]);
            cache.invalidate();
            cache.engine(&store, Timestamp(0)).await.unwrap();
            assert_eq!(store.all.load(Ordering::Relaxed), 2);
        });
    }

    #[test]
    fn an_expired_engine_rereads_everything() {
        ready_now(async {
            let store = Counting { inner: MemoryStore::new(), all: AtomicUsize::new(0), entities: Mutex::default() };
            let cache = EngineCache::new(Refresh::Every(1000));
            cache.engine(&store, Timestamp(0)).await.unwrap();
            cache.engine(&store, Timestamp(999)).await.unwrap();
            assert_eq!(store.all.load(Ordering::Relaxed), 1);
            cache.invalidate_entity(&EntityId::new("acme"));
            cache.engine(&store, Timestamp(1000)).await.unwrap();
            assert_eq!(store.all.load(Ordering::Relaxed), 2, "expired: everything, not only acme");
            assert!(store.entities.lock().unwrap().is_empty());
        });
    }
}
