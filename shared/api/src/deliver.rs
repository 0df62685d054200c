//! The seam to delivery: executions and test deliveries.
//!
//! The configuration API serves `GET /v1/automations/{id}/executions` and
//! `POST /v1/automations/{id}/test` through a [`Deliverer`]. The router has already checked
//! that the automation exists and belongs to the caller's entity. `NoDelivery` (feature `testing`)
//! answers both with 501, for tests of the API alone.

use crate::error::ApiError;
use automations_core::BoxFuture;
use automations_core::model::{Automation, Integration};
use automations_core::store::Page;
use automations_core::time::Timestamp;
use automations_core::{AutomationId, EntityId};
use serde_json::Value;

/// Executions and test deliveries, as the API serves them.
pub trait Deliverer: Send + Sync + 'static {
    /// One page of the executions of automation `automation_id` of `entity`, newest first, each
    /// a JSON object (its shape is the delivery's; see openapi.yaml `Execution`). `cursor` is a
    /// `next` of a previous page; `limit` is at least 1 and bounded by the API.
    fn executions<'a>(
        &'a self,
        entity: &'a EntityId,
        automation_id: &'a AutomationId,
        cursor: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Page<Value>, ApiError>>;

    /// Send a test delivery of `automation` now through `integration` (`None` for an action
    /// without one) and describe it as JSON: the request sent (credentials left out) and the
    /// response received.
    fn test<'a>(
        &'a self,
        automation: &'a Automation,
        integration: Option<&'a Integration>,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Value, ApiError>>;
}

/// No delivery: both routes answer 501 Not Implemented (tests of the API alone).
#[cfg(feature = "testing")]
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDelivery;

#[cfg(feature = "testing")]
impl Deliverer for NoDelivery {
    fn executions<'a>(
        &'a self,
        _entity: &'a EntityId,
        _automation_id: &'a AutomationId,
        _cursor: Option<&'a str>,
        _limit: usize,
    ) -> BoxFuture<'a, Result<Page<Value>, ApiError>> {
        Box::pin(async move {
            Err(ApiError::NotImplemented("executions are not available: this deployment has no delivery".into()))
        })
    }

    fn test<'a>(
        &'a self,
        _automation: &'a Automation,
        _integration: Option<&'a Integration>,
        _now: Timestamp,
    ) -> BoxFuture<'a, Result<Value, ApiError>> {
        Box::pin(async move {
            Err(ApiError::NotImplemented("test deliveries are not available: this deployment has no delivery".into()))
        })
    }
}
