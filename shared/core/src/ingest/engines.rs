//! The engine a deployment evaluates with: rebuilt from the stored automations when they change
//! (locally, where the API is in the same process) or at most every so often (a warm Lambda
//! function, which cannot hear of changes made by another).

use crate::engine::Engine;
use crate::store::{AutomationStore, StoreError};
use crate::time::{Millis, Timestamp};
use std::sync::{Arc, Mutex};

/// When a cached engine is rebuilt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// Only after [`EngineCache::invalidate`]: the writer of the automations is in-process.
    OnChange,
    /// When older than this, or after [`EngineCache::invalidate`].
    Every(Millis),
}

#[derive(Default)]
struct Cached {
    engine: Option<(Arc<Engine>, Timestamp)>,
    /// Bumped by every invalidation; an engine is current when it was built at the current one.
    generation: u64,
    built_at_generation: u64,
}

/// The engine over the enabled automations, cached.
pub struct EngineCache {
    refresh: Refresh,
    cached: Mutex<Cached>,
}

impl EngineCache {
    pub fn new(refresh: Refresh) -> EngineCache {
        EngineCache { refresh, cached: Mutex::new(Cached::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cached> {
        self.cached.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The automations changed: the next [`EngineCache::engine`] reads them again.
    pub fn invalidate(&self) {
        self.lock().generation += 1;
    }

    /// The current engine, rebuilt from `store` when stale. A rebuild that an invalidation
    /// overtook is used by its caller but not kept, so an engine older than the latest change is
    /// never installed.
    pub async fn engine(&self, store: &impl AutomationStore, now: Timestamp) -> Result<Arc<Engine>, StoreError> {
        let generation = {
            let c = self.lock();
            if let Some((engine, at)) = &c.engine
                && c.built_at_generation == c.generation
                && self.fresh(*at, now)
            {
                return Ok(engine.clone());
            }
            c.generation
        };
        let engine = Arc::new(Engine::new(store.list_automations().await?));
        let mut c = self.lock();
        if c.generation == generation {
            c.engine = Some((engine.clone(), now));
            c.built_at_generation = generation;
        }
        Ok(engine)
    }

    fn fresh(&self, built: Timestamp, now: Timestamp) -> bool {
        match self.refresh {
            Refresh::OnChange => true,
            Refresh::Every(ttl) => now >= built && now.0 - built.0 < ttl,
        }
    }
}
