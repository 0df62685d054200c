//! The seam to delivery: executions and test deliveries.
//!
//! The configuration API serves `GET /v1/automations/{id}/executions` and
//! `POST /v1/automations/{id}/test` through a [`Deliverer`]. The router has already checked
//! that the automation exists and belongs to the caller's entity. [`NoDelivery`] answers both
//! with 501 until a deployment provides delivery.

use crate::error::ApiError;
use automations_core::model::{Automation, Integration};
use automations_core::store::Page;
use automations_core::time::Timestamp;
use serde_json::Value;
use std::future::Future;

/// Executions and test deliveries, as the API serves them.
pub trait Deliverer: Send + Sync + 'static {
    /// One page of the executions of automation `automation_id` of `entity`, newest first, each
    /// a JSON object (its shape is the delivery's; see openapi.yaml `Execution`). `cursor` is a
    /// `next` of a previous page; `limit` is at least 1 and bounded by the API.
    fn executions(
        &self,
        entity: &str,
        automation_id: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<Page<Value>, ApiError>> + Send;

    /// Send a test delivery of `automation` now through `integration` (`None` for an action
    /// without one) and describe it as JSON: the request sent (credentials left out) and the
    /// response received.
    fn test(
        &self,
        automation: &Automation,
        integration: Option<&Integration>,
        now: Timestamp,
    ) -> impl Future<Output = Result<Value, ApiError>> + Send;
}

/// No delivery in this deployment: both routes answer 501 Not Implemented.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDelivery;

impl Deliverer for NoDelivery {
    async fn executions(
        &self,
        _entity: &str,
        _automation_id: &str,
        _cursor: Option<&str>,
        _limit: usize,
    ) -> Result<Page<Value>, ApiError> {
        Err(ApiError::NotImplemented("executions are not available: this deployment has no delivery".into()))
    }

    async fn test(
        &self,
        _automation: &Automation,
        _integration: Option<&Integration>,
        _now: Timestamp,
    ) -> Result<Value, ApiError> {
        Err(ApiError::NotImplemented("test deliveries are not available: this deployment has no delivery".into()))
    }
}
