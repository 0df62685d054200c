//! The [`Deliverer`] of both deployments: executions listed from the outbox and test deliveries
//! sent by [`automations_delivery::Delivery`], over whichever store holds the outbox (SQLite
//! locally, DynamoDB on AWS).

use crate::{ApiError, Deliverer};
use automations_core::BoxFuture;
use automations_core::error::{FieldError, Invalid};
use automations_core::model::{Automation, Integration};
use automations_core::store::{Page, parse_execution_cursor};
use automations_core::time::Timestamp;
use automations_core::{AutomationId, EntityId};
use automations_delivery::Delivery;
use serde_json::Value;
use std::sync::Arc;

/// Executions and test deliveries over an outbox store.
pub struct OutboxDeliverer {
    /// The delivery service that reads the outbox and sends.
    pub delivery: Arc<Delivery>,
}

impl Deliverer for OutboxDeliverer {
    fn executions<'a>(
        &'a self,
        _entity: &'a EntityId,
        automation_id: &'a AutomationId,
        cursor: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Page<Value>, ApiError>> {
        Box::pin(async move {
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
                // A view of strings, numbers and JSON values always serializes.
                .map(|e| serde_json::to_value(e.view()).unwrap_or(Value::Null))
                .collect();
            Ok(Page { items, next: page.next })
        })
    }

    fn test<'a>(
        &'a self,
        automation: &'a Automation,
        integration: Option<&'a Integration>,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Value, ApiError>> {
        Box::pin(async move { Ok(self.delivery.test(automation, integration, now).await) })
    }
}
