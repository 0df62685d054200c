//! Evaluating envelopes on DynamoDB: the engine's pipeline over a [`RunBatch`] (every touched run
//! read once, written at most once, with its activity), then the new fires' deliveries onto the
//! delivery queue.
//!
//! Recording a fire records its execution (the outbox), so sending the delivery message is not
//! what makes it happen: if the send fails, the batch fails and is delivered again, its fires
//! are duplicates then, and the sweeper relays their executions after its grace period.

use automations_core::activity::{self, ActivityUpdate};
use automations_core::delivery::{Execution, ExecutionState};
use automations_core::engine::Engine;
use automations_core::event::{Envelope, RunKey};
use automations_core::model::{RunState, Trigger};
use automations_core::pipeline::{Pipeline, PipelineError};
use automations_core::store::{AutomationStore, StoreError};
use automations_core::time::{Millis, Timestamp};
use automations_delivery::EnvelopeFeed;
use automations_dynamo::{DynamoApi, DynamoStore, RunBatch};
use automations_sqs::{DeliveryMessage, Sqs, SqsError};
use std::sync::{Arc, Mutex};

/// Why a batch could not be evaluated; the batch is then retried.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error("queueing deliveries: {0}")]
    Queue(#[from] SqsError),
}

/// The enabled automations, read at most every `ttl` by a warm function.
pub struct AutomationCache {
    ttl: Millis,
    cached: Mutex<Option<(Timestamp, Arc<Engine>)>>,
}

impl AutomationCache {
    pub fn new(ttl: Millis) -> AutomationCache {
        AutomationCache { ttl, cached: Mutex::new(None) }
    }

    /// The engine over the automations as of at most `ttl` ago.
    pub async fn engine(&self, store: &impl AutomationStore, now: Timestamp) -> Result<Arc<Engine>, StoreError> {
        if let Some((at, engine)) = self.cached.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
            && now.0 - at.0 < self.ttl
            && now >= *at
        {
            return Ok(engine.clone());
        }
        let engine = Arc::new(Engine::new(store.list_automations().await?));
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some((now, engine.clone()));
        Ok(engine)
    }
}

/// Where new fires' deliveries go.
pub struct DeliveryQueue {
    pub sqs: Sqs,
    pub url: String,
}

/// What evaluating a batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Evaluated {
    pub fires: usize,
    pub duplicates: usize,
    /// Delivery messages sent.
    pub queued: usize,
}

/// Envelopes through the engine on DynamoDB.
pub struct Evaluator<D> {
    pub store: Arc<DynamoStore<D>>,
    pub automations: AutomationCache,
    /// `None`: fires are recorded and left to the sweeper's relay (tests, benchmarks).
    pub deliveries: Option<DeliveryQueue>,
}

/// Does some enabled automation fire on a `crashed` run of this project? Only then is it worth
/// keeping the project's runs' liveness: a stalled run's crash changes nothing else.
pub fn tracks_liveness(engine: &Engine, key: &RunKey) -> bool {
    engine.automations().iter().any(|a| {
        matches!(&a.trigger, Trigger::RunState { states, .. } if states.contains(&RunState::Crashed))
            && a.scope.covers_run(&key.entity, &key.project)
    })
}

/// The activity updates of a batch worth recording: every state change (so a run that ends
/// leaves the stalled set even if its automation went away), and liveness where it is tracked.
pub fn activity_updates(engine: &Engine, envelopes: &[Envelope], now: Timestamp) -> Vec<ActivityUpdate> {
    activity::updates(envelopes, now)
        .into_iter()
        .filter(|u| u.state.is_some() || tracks_liveness(engine, &u.key))
        .collect()
}

impl<D: DynamoApi> Evaluator<D> {
    /// Evaluate a batch of valid envelopes (in order) and queue the new fires' deliveries.
    pub async fn evaluate(&self, envelopes: &[Envelope], now: Timestamp) -> Result<Evaluated, EvalError> {
        let engine = self.automations.engine(&*self.store, now).await?;
        let batch = RunBatch::new(&self.store, activity_updates(&engine, envelopes, now));
        let out = Pipeline { engine: &engine, store: &batch }.process(envelopes, now).await?;
        batch.finish(now).await?;
        let messages: Vec<_> = out
            .fires
            .iter()
            .filter(|f| Execution::for_fire(f, now).state == ExecutionState::Pending)
            .map(|f| DeliveryMessage { fire_id: f.id.clone(), version: 0 }.to_message())
            .collect();
        let queued = messages.len();
        if let Some(q) = &self.deliveries
            && !messages.is_empty()
        {
            q.sqs.send(&q.url, messages).await?;
        }
        for f in &out.fires {
            tracing::info!(fire_id = %f.id, automation = %f.automation_name, event_id = %f.event_id, trigger = f.trigger.as_str(), "fired");
        }
        Ok(Evaluated {
            fires: out.fires.len(),
            duplicates: out.duplicates,
            queued: if self.deliveries.is_some() { queued } else { 0 },
        })
    }
}

/// The sweeper's `crashed` envelopes are evaluated like any other.
impl<D: DynamoApi> EnvelopeFeed for Evaluator<D> {
    async fn feed(&self, envelopes: Vec<Envelope>, now: Timestamp) -> Result<(), String> {
        self.evaluate(&envelopes, now).await.map(|_| ()).map_err(|e| e.to_string())
    }
}
