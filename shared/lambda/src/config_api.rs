//! The configuration API on AWS: the same router as `automations serve`, over DynamoDB, with an
//! intake that queues envelopes (artifact events to the standard queue, run events to the FIFO
//! queue by run) instead of evaluating them, and executions and test deliveries from the
//! DynamoDB outbox.

use automations_api::outbox::OutboxDeliverer;
use automations_api::{Accepted, Api, ApiError, EventSink, TrackingHooks, check_tracking, router, tracking_status};
use automations_core::BoxFuture;
use automations_core::model::Integration;
use automations_core::time::Timestamp;
use automations_delivery::Delivery;
use automations_dynamo::{DynamoApi, DynamoStore};
use automations_sqs::{InputQueue, Sqs, envelope_message};
use std::sync::Arc;

/// The intake on AWS: accepted envelopes go to the input queues. MLflow tracking integrations
/// are checked and shown through `tracking` (the `mlflow-poller` function polls them).
pub struct QueueSink {
    /// The SQS client.
    pub sqs: Sqs,
    /// The artifact events' standard queue (`ARTIFACT_QUEUE_URL`).
    pub artifact_queue: String,
    /// The run events' FIFO queue, grouped by run (`RUN_QUEUE_URL`).
    pub run_queue: String,
    /// MLflow tracking integrations' checks and status; `None` answers that there are none.
    pub tracking: Option<Arc<dyn TrackingHooks>>,
}

impl EventSink for QueueSink {
    fn accept<'a>(&'a self, batch: Vec<Accepted>, _now: Timestamp) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move {
            let (mut artifacts, mut runs) = (Vec::new(), Vec::new());
            for a in &batch {
                match envelope_message(&a.envelope, &a.text) {
                    (InputQueue::Artifacts, m) => artifacts.push(m),
                    (InputQueue::Runs, m) => runs.push(m),
                }
            }
            for (url, messages) in [(&self.artifact_queue, artifacts), (&self.run_queue, runs)] {
                if !messages.is_empty() {
                    self.sqs.send(url, messages).await.map_err(|e| ApiError::Unavailable(e.to_string()))?;
                }
            }
            Ok(())
        })
    }

    fn check_integration<'a>(&'a self, integration: &'a Integration) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async move { check_tracking(self.tracking.as_deref(), integration).await })
    }

    fn integration_status<'a>(
        &'a self,
        integration: &'a Integration,
    ) -> BoxFuture<'a, Result<Option<serde_json::Map<String, serde_json::Value>>, ApiError>> {
        Box::pin(async move { tracking_status(self.tracking.as_deref(), integration).await })
    }
}

/// The API's router over these parts.
pub fn app<D: DynamoApi + 'static>(
    store: Arc<DynamoStore<D>>,
    sink: QueueSink,
    delivery: Arc<Delivery>,
    max_automations: usize,
) -> axum::Router {
    let mut api = Api::new(store, Arc::new(sink), Arc::new(OutboxDeliverer { delivery }));
    api.limits.max_automations = max_automations;
    router(api)
}
