//! The local deployment's sink: evaluate accepted envelopes at once, on the embedded store.
//!
//! Holds the engine built from every enabled automation and swaps in a new one whenever the API
//! changes an automation, so the next envelope sees the change. After a batch records new fires,
//! it calls the `on_fires` hook (the local deliverer's wake-up).

use crate::error::ApiError;
use crate::sink::{Accepted, EventSink};
use automations_core::engine::Engine;
use automations_core::fire::Fire;
use automations_core::pipeline::{Pipeline, PipelineError};
use automations_core::store::{AutomationStore, FireStore, RunStore, StoreError};
use automations_core::time::Timestamp;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

type FiresHook = Box<dyn Fn(&[Fire]) + Send + Sync>;

/// Evaluates envelopes inline through the [`Pipeline`] over store `S`.
pub struct LocalSink<S> {
    store: Arc<S>,
    engine: RwLock<Arc<Engine>>,
    /// Serialises rebuilds, so a slow rebuild cannot install an engine older than a later one.
    rebuild: tokio::sync::Mutex<()>,
    /// A rebuild failed: the engine may be older than the stored automations, so the next batch
    /// rebuilds first.
    stale: AtomicBool,
    on_fires: Option<FiresHook>,
}

impl<S> LocalSink<S>
where
    S: RunStore + FireStore + AutomationStore + 'static,
{
    /// A sink over `store`, with an engine of the automations stored now.
    pub async fn new(store: Arc<S>) -> Result<LocalSink<S>, StoreError> {
        let engine = Engine::new(store.list_automations().await?);
        Ok(LocalSink {
            store,
            engine: RwLock::new(Arc::new(engine)),
            rebuild: tokio::sync::Mutex::new(()),
            stale: AtomicBool::new(false),
            on_fires: None,
        })
    }

    /// Call `hook` with the new fires of every batch that recorded some (after they are recorded).
    pub fn on_fires(mut self, hook: impl Fn(&[Fire]) + Send + Sync + 'static) -> LocalSink<S> {
        self.on_fires = Some(Box::new(hook));
        self
    }

    /// The engine envelopes are evaluated with now.
    pub fn engine(&self) -> Arc<Engine> {
        self.engine.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Rebuild the engine from the stored automations and swap it in.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let _one_at_a_time = self.rebuild.lock().await;
        self.stale.store(true, Ordering::SeqCst);
        let engine = Arc::new(Engine::new(self.store.list_automations().await?));
        *self.engine.write().unwrap_or_else(|e| e.into_inner()) = engine;
        self.stale.store(false, Ordering::SeqCst);
        Ok(())
    }

    /// Evaluate envelopes and return the new fires.
    pub async fn process(
        &self,
        envelopes: &[automations_core::event::Envelope],
        now: Timestamp,
    ) -> Result<Vec<Fire>, ApiError> {
        if self.stale.load(Ordering::SeqCst) {
            self.reload().await?;
        }
        let engine = self.engine();
        let pipeline = Pipeline { engine: &engine, store: &*self.store };
        let outcome = pipeline.process(envelopes, now).await.map_err(|e| match e {
            PipelineError::Store(e) => ApiError::from(e),
            e @ PipelineError::Contention(_) => ApiError::Unavailable(e.to_string()),
        })?;
        if !outcome.fires.is_empty()
            && let Some(hook) = &self.on_fires
        {
            hook(&outcome.fires);
        }
        Ok(outcome.fires)
    }
}

impl<S> EventSink for LocalSink<S>
where
    S: RunStore + FireStore + AutomationStore + 'static,
{
    async fn accept(&self, batch: Vec<Accepted>, now: Timestamp) -> Result<(), ApiError> {
        let envelopes: Vec<_> = batch.into_iter().map(|a| a.envelope).collect();
        self.process(&envelopes, now).await.map(drop)
    }

    async fn automations_changed(&self) -> Result<(), ApiError> {
        Ok(self.reload().await?)
    }
}
