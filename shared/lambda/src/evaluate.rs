//! Evaluating envelopes on DynamoDB: the core's one ingest service over the DynamoDB store
//! (every touched run read once, written at most once, with its activity), then the new fires'
//! deliveries onto the delivery queue.
//!
//! Recording a fire records its execution (the outbox), so sending the delivery message is not
//! what makes it happen: if the send fails, the batch fails and is delivered again, its fires
//! are duplicates then, and the sweeper relays their executions after its grace period.

use automations_core::BoxFuture;
use automations_core::event::Envelope;
use automations_core::ingest::{EngineCache, Ingest, IngestClock, IngestError};
use automations_core::store::StoreError;
use automations_core::time::Timestamp;
use automations_delivery::EnvelopeFeed;
use automations_dynamo::{DynamoApi, DynamoStore};
use automations_sqs::{DeliveryMessage, Sqs, SqsError};
use std::sync::Arc;

/// Why a batch could not be evaluated; the batch is then retried.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// DynamoDB failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The ingest service failed (its store, or a conflict it could not settle).
    #[error(transparent)]
    Ingest(#[from] IngestError),
    /// The fires were recorded but their delivery messages not sent (the sweeper relays them).
    #[error("queueing deliveries: {0}")]
    Queue(#[from] SqsError),
}

/// Where new fires' deliveries go.
pub struct DeliveryQueue {
    /// The SQS client.
    pub sqs: Sqs,
    /// The delivery queue (`DELIVERY_QUEUE_URL`).
    pub url: String,
}

/// What evaluating a batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Evaluated {
    /// New fires recorded.
    pub fires: usize,
    /// Fires decided again for envelopes already evaluated (redeliveries), not recorded twice.
    pub duplicates: usize,
    /// Delivery messages sent.
    pub queued: usize,
}

/// Envelopes through the engine on DynamoDB.
pub struct Evaluator<D> {
    /// The table.
    pub store: Arc<DynamoStore<D>>,
    /// The automations as of at most the settings' TTL ago (a warm function hears of no change).
    pub automations: EngineCache,
    /// `None`: fires are recorded and left to the sweeper's relay (tests, benchmarks).
    pub deliveries: Option<DeliveryQueue>,
}

impl<D: DynamoApi> Evaluator<D> {
    /// Evaluate a batch of valid envelopes (in order) that arrived at `now`, and queue the new
    /// fires' deliveries.
    pub async fn evaluate(&self, envelopes: &[Envelope], now: Timestamp) -> Result<Evaluated, EvalError> {
        let engine = self.automations.engine(&*self.store, now).await?;
        let started = std::time::Instant::now();
        let out = Ingest { engine: &engine, store: &*self.store }.process(envelopes, IngestClock::Arrival(now)).await?;
        automations_api::record_ingest(envelopes, &out.fires, out.duplicates, started.elapsed());
        let messages: Vec<_> =
            out.to_deliver.iter().map(|id| DeliveryMessage { fire_id: id.clone(), version: 0 }.to_message()).collect();
        let queued = messages.len();
        if let Some(q) = &self.deliveries
            && !messages.is_empty()
        {
            q.sqs.send(&q.url, messages).await?;
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
    type Error = EvalError;

    fn feed<'a>(&'a self, envelopes: Vec<Envelope>, now: Timestamp) -> BoxFuture<'a, Result<(), EvalError>> {
        Box::pin(async move { self.evaluate(&envelopes, now).await.map(drop) })
    }
}
