//! The local deployment's sink: evaluate accepted envelopes at once, on the embedded store,
//! through the core's one ingest service (the same one the Lambda functions call).
//!
//! Holds the engine cache, invalidated whenever the API changes an automation, so the next
//! envelope sees the change. After a batch records new fires, it calls the `on_fires` hook (the
//! local deliverer's wake-up). The sweeper's `crashed` envelopes come in through the same door
//! ([`EnvelopeFeed`]). Every batch's metric values are kept as history too
//! ([`automations_core::history`]), for the console's run chart and backtests over a stored run.

use crate::error::ApiError;
use crate::sink::{Accepted, EventSink, TrackingHooks, check_tracking, tracking_status};
use automations_core::BoxFuture;
use automations_core::EntityId;
use automations_core::engine::Engine;
use automations_core::event::RunKey;
use automations_core::event::{Envelope, EventData};
use automations_core::fire::{Fire, Subject};
use automations_core::history::{Point, RunHistory};
use automations_core::ingest::{EngineCache, Ingest, IngestClock, IngestError, IngestStore, Refresh};
use automations_core::model::Integration;
use automations_core::store::{AutomationStore, HistoryStore, StoreError};
use automations_core::time::Timestamp;
use automations_delivery::EnvelopeFeed;
use serde_json::{Map, Value};
use std::sync::Arc;

type FiresHook = Box<dyn Fn(&[Fire]) + Send + Sync>;

/// Evaluates envelopes inline through [`Ingest`] over store `S`.
pub struct LocalSink<S> {
    store: Arc<S>,
    engines: EngineCache,
    on_fires: Option<FiresHook>,
    tracking: Option<Arc<dyn TrackingHooks>>,
    /// Keep each batch's metric values as history (the default).
    history: bool,
}

impl<S> LocalSink<S>
where
    S: IngestStore + AutomationStore + HistoryStore + 'static,
{
    /// A sink over `store`, with an engine of the automations stored now (so a store that
    /// cannot be read fails here, at start-up).
    pub async fn new(store: Arc<S>) -> Result<LocalSink<S>, StoreError> {
        let engines = EngineCache::new(Refresh::OnChange);
        engines.engine(&*store, Timestamp(0)).await?;
        Ok(LocalSink { store, engines, on_fires: None, tracking: None, history: true })
    }

    /// Call `hook` with the new fires of every batch that recorded some (after they are recorded).
    pub fn on_fires(mut self, hook: impl Fn(&[Fire]) + Send + Sync + 'static) -> LocalSink<S> {
        self.on_fires = Some(Box::new(hook));
        self
    }

    /// Check new MLflow tracking integrations and show their polls through `hooks`.
    pub fn tracking(mut self, hooks: Arc<dyn TrackingHooks>) -> LocalSink<S> {
        self.tracking = Some(hooks);
        self
    }

    /// Keep no metric history: `GET /v1/runs...` then answers 501, as on AWS.
    pub fn without_history(mut self) -> LocalSink<S> {
        self.history = false;
        self
    }

    /// The engine envelopes are evaluated with now.
    pub async fn engine(&self) -> Result<Arc<Engine>, StoreError> {
        self.engines.engine(&*self.store, Timestamp(0)).await
    }

    /// Evaluate envelopes that arrived at `now` and return the new fires.
    pub async fn process(&self, envelopes: &[Envelope], now: Timestamp) -> Result<Vec<Fire>, ApiError> {
        let engine = self.engine().await?;
        let started = std::time::Instant::now();
        let out = Ingest { engine: &engine, store: &*self.store }
            .process(envelopes, IngestClock::Arrival(now))
            .await
            .map_err(|e| {
            tracing::error!(envelopes = envelopes.len(), error = %e, "ingest failed");
            match e {
                IngestError::Store(e) => ApiError::from(e),
                e @ IngestError::Contention(_) => ApiError::Unavailable(e.to_string()),
            }
        })?;
        record_ingest(envelopes, &out.fires, out.duplicates, started.elapsed());
        // After the fires: a history that failed to store fails the request, and the client's
        // retry fires nothing twice and appends only what is missing.
        if self.history {
            let series = automations_core::history::points(envelopes);
            self.store.append_history(&series, now).await.map_err(|e| {
                tracing::error!(series = series.len(), error = %e, "cannot store metric history");
                ApiError::from(e)
            })?;
        }
        if !out.fires.is_empty()
            && let Some(hook) = &self.on_fires
        {
            hook(&out.fires);
        }
        Ok(out.fires)
    }
}

impl<S> EventSink for LocalSink<S>
where
    S: IngestStore + AutomationStore + HistoryStore + 'static,
{
    fn accept<'a>(&'a self, batch: Vec<Accepted>, now: Timestamp) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move {
            let envelopes: Vec<_> = batch.into_iter().map(|a| a.envelope).collect();
            self.process(&envelopes, now).await.map(drop)
        })
    }

    fn automations_changed<'a>(&'a self, entity: &'a EntityId) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move {
            self.engines.invalidate_entity(entity);
            Ok(self.engine().await.map(drop)?)
        })
    }

    fn check_integration<'a>(&'a self, integration: &'a Integration) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move { check_tracking(self.tracking.as_deref(), integration).await })
    }

    fn integration_status<'a>(
        &'a self,
        integration: &'a Integration,
    ) -> BoxFuture<'a, Result<Option<Map<String, Value>>, ApiError>> {
        Box::pin(async move { tracking_status(self.tracking.as_deref(), integration).await })
    }

    fn history_runs<'a>(
        &'a self,
        entity: &'a EntityId,
        project: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Option<Vec<RunHistory>>, ApiError>> {
        Box::pin(async move {
            if !self.history {
                return Ok(None);
            }
            Ok(Some(self.store.history_runs(entity, project, limit).await?))
        })
    }

    fn metric_history<'a>(
        &'a self,
        run: &'a RunKey,
        metric: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<Point>>, ApiError>> {
        Box::pin(async move {
            if !self.history {
                return Ok(None);
            }
            Ok(Some(self.store.metric_history(run, metric).await?))
        })
    }
}

/// Metrics and a log line per fire of one evaluated batch, on both deployments (the AWS
/// functions' evaluator calls it too). Here rather than in the core's `Ingest`, which does no
/// I/O (and has no logger).
pub fn record_ingest(envelopes: &[Envelope], fires: &[Fire], duplicates: usize, took: std::time::Duration) {
    let metrics = automations_telemetry::metrics();
    metrics.ingest_seconds.observe(took.as_secs_f64());
    let values: usize = envelopes
        .iter()
        .filter_map(|e| match &e.data {
            EventData::Metrics(m) => Some(m.values.iter().filter(|(_, v)| v.is_finite()).count()),
            _ => None,
        })
        .sum();
    metrics.metric_values.inc_by(u64::try_from(values).unwrap_or(u64::MAX));
    metrics.fire_duplicates.inc_by(u64::try_from(duplicates).unwrap_or(u64::MAX));
    for f in fires {
        metrics.fired(f.trigger.as_str());
        let run = match &f.subject {
            Subject::RunState { run, .. } | Subject::Metric { run, .. } => Some(run.key.run_id.as_str()),
            Subject::Artifact { .. } => None,
        };
        tracing::info!(
            fire_id = %f.id,
            automation = %f.automation_name,
            automation_id = %f.automation_id,
            entity = %f.entity,
            run,
            event_id = %f.event_id,
            trigger = f.trigger.as_str(),
            "fired"
        );
    }
}

/// The sweeper's envelopes are evaluated like any other.
impl<S> EnvelopeFeed for LocalSink<S>
where
    S: IngestStore + AutomationStore + HistoryStore + 'static,
{
    type Error = ApiError;

    fn feed<'a>(&'a self, envelopes: Vec<Envelope>, now: Timestamp) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move { self.process(&envelopes, now).await.map(drop) })
    }
}
