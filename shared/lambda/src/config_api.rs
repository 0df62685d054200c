//! The configuration API on AWS: the same router as `automations serve`, over DynamoDB, with an
//! intake that queues envelopes (artifact events to the standard queue, run events to the FIFO
//! queue by run) instead of evaluating them, and executions and test deliveries from the
//! DynamoDB outbox.

use automations_api::{Accepted, Api, ApiError, Deliverer, EventSink, router};
use automations_core::error::{FieldError, Invalid};
use automations_core::model::{Automation, Integration};
use automations_core::store::{ExecutionStore, Page, parse_execution_cursor};
use automations_core::time::Timestamp;
use automations_delivery::Delivery;
use automations_dynamo::{DynamoApi, DynamoStore};
use automations_sqs::{InputQueue, Sqs, envelope_message};
use serde_json::Value;
use std::sync::Arc;

/// The intake on AWS: accepted envelopes go to the input queues.
pub struct QueueSink {
    pub sqs: Sqs,
    pub artifact_queue: String,
    pub run_queue: String,
}

impl EventSink for QueueSink {
    async fn accept(&self, batch: Vec<Accepted>, _now: Timestamp) -> Result<(), ApiError> {
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
    }
}

/// Executions and test deliveries over the DynamoDB outbox.
pub struct OutboxDeliverer<D> {
    pub delivery: Arc<Delivery<DynamoStore<D>>>,
}

impl<D: DynamoApi + 'static> Deliverer for OutboxDeliverer<D> {
    async fn executions(
        &self,
        _entity: &str,
        automation_id: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Value>, ApiError> {
        if let Some(c) = cursor
            && parse_execution_cursor(c).is_none()
        {
            return Err(ApiError::Invalid(Invalid::from(FieldError::new(
                "cursor",
                "is not a cursor this listing returned (pass the `next` of the previous page)",
            ))));
        }
        let now = self.delivery.clock.now();
        let page = self.delivery.store.list_executions(automation_id, cursor, limit, now).await?;
        let items = page
            .items
            .iter()
            .map(|e| {
                let mut doc = e.to_json();
                // The claim version is the store's bookkeeping, not the user's.
                if let Some(o) = doc.as_object_mut() {
                    o.remove("version");
                }
                doc
            })
            .collect();
        Ok(Page { items, next: page.next })
    }

    async fn test(
        &self,
        automation: &Automation,
        integration: Option<&Integration>,
        now: Timestamp,
    ) -> Result<Value, ApiError> {
        Ok(self.delivery.test(automation, integration, now).await)
    }
}

/// The API's router over these parts.
pub fn app<D: DynamoApi + 'static>(
    store: Arc<DynamoStore<D>>,
    sink: QueueSink,
    delivery: Arc<Delivery<DynamoStore<D>>>,
) -> axum::Router {
    router(Api::new(store, Arc::new(sink), Arc::new(OutboxDeliverer { delivery })))
}
