//! Where accepted envelopes go: the seam between event intake and evaluation.
//!
//! The router parses and checks each envelope of `POST /v1/events`, records the rejected ones
//! through the store's [`automations_core::store::RejectStore`], and hands the valid ones to an
//! [`EventSink`]. The local server's sink ([`crate::LocalSink`]) evaluates them at once on the
//! embedded store; the AWS `config-api` function's sink sends them to the input queue instead.

use crate::error::ApiError;
pub use automations_core::BoxFuture;
use automations_core::EntityId;
use automations_core::event::{Envelope, RunKey};
use automations_core::history::{Point, RunHistory};
use automations_core::model::Integration;
use automations_core::time::Timestamp;

/// An envelope accepted at intake.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The parsed envelope. Its entity is the caller's (the router refused any other).
    pub envelope: Envelope,
    /// The envelope's JSON text as received (it may hold bare `NaN`/`Infinity`, which
    /// [`automations_core::event::parse_envelope`] accepts), for sinks that forward it.
    pub text: String,
}

/// Takes the valid envelopes of one intake request.
pub trait EventSink: Send + Sync + 'static {
    /// Take one request's valid envelopes, in request order. `Ok` means they are durably taken
    /// (evaluated and their fires recorded, or queued): the API then answers 202. An error
    /// fails the whole request, so the client sends it again (evaluation is idempotent).
    fn accept<'a>(&'a self, batch: Vec<Accepted>, now: Timestamp) -> BoxFuture<'a, Result<(), ApiError>>;

    /// `entity`'s automations changed (created, updated, enabled, disabled or deleted). A sink
    /// that evaluates must make the next envelope see the change; a sink that only forwards has
    /// nothing to do.
    fn automations_changed<'a>(&'a self, _entity: &'a EntityId) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async { Ok(()) })
    }

    /// A new integration is about to be stored: a deployment that polls its source (an MLflow
    /// tracking server) checks that it answers, and refuses it with the reason when not.
    fn check_integration<'a>(&'a self, _integration: &'a Integration) -> BoxFuture<'a, Result<(), ApiError>> {
        Box::pin(async { Ok(()) })
    }

    /// What the deployment knows of an integration beyond its document (the last poll of an
    /// MLflow tracking server), as fields to add to `GET /v1/integrations/{name}`.
    fn integration_status<'a>(
        &'a self,
        _integration: &'a Integration,
    ) -> BoxFuture<'a, Result<Option<serde_json::Map<String, serde_json::Value>>, ApiError>> {
        Box::pin(async { Ok(None) })
    }

    /// Up to `limit` runs of (entity, project) with stored metric history, most recent first;
    /// `None`: this deployment keeps no history.
    fn history_runs<'a>(
        &'a self,
        _entity: &'a EntityId,
        _project: &'a str,
        _limit: usize,
    ) -> BoxFuture<'a, Result<Option<Vec<RunHistory>>, ApiError>> {
        Box::pin(async { Ok(None) })
    }

    /// The stored values of one (run, metric) in step order; `None`: this deployment keeps no
    /// history.
    fn metric_history<'a>(
        &'a self,
        _run: &'a RunKey,
        _metric: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<Point>>, ApiError>> {
        Box::pin(async { Ok(None) })
    }
}

/// What a deployment that keeps no metric history answers `GET /v1/runs...` with.
pub const NO_HISTORY: &str =
    "this deployment keeps no metric history (automations serve does unless --no-metric-history; on AWS it is off)";

/// What [`crate::LocalSink`] asks of the deployment's MLflow tracking poller (the binary
/// provides it: the HTTP client lives there, not in the API).
pub trait TrackingHooks: Send + Sync {
    /// `Err(reason)`: the integration's tracking server does not answer as it should (the
    /// reason's text is what the API answers, under `tracking_uri`; it never holds a credential).
    fn check<'a>(&'a self, integration: &'a Integration) -> BoxFuture<'a, Result<(), HookError>>;
    /// The fields to show, e.g. `last_poll`.
    fn status<'a>(
        &'a self,
        integration: &'a Integration,
    ) -> BoxFuture<'a, Result<Option<serde_json::Map<String, serde_json::Value>>, HookError>>;
}

/// What a [`TrackingHooks`] call failed with: the deployment's own error (the API cannot name
/// its type, the poller lives downstream of it), with its cause chain.
pub type HookError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// [`EventSink::check_integration`] for a sink whose deployment polls tracking servers through
/// `hooks`: a tracking integration's server must answer, or the request fails naming
/// `tracking_uri`. (Every sink that polls calls this, so the refusal reads the same everywhere.)
pub async fn check_tracking(hooks: Option<&dyn TrackingHooks>, integration: &Integration) -> Result<(), ApiError> {
    match (hooks, integration.tracking()) {
        (Some(hooks), Some(_)) => hooks.check(integration).await.map_err(|why| {
            ApiError::Invalid(automations_core::Invalid {
                errors: vec![automations_core::FieldError::new("tracking_uri", why.to_string())],
            })
        }),
        _ => Ok(()),
    }
}

/// [`EventSink::integration_status`] through `hooks` (the last poll of a tracking integration).
pub async fn tracking_status(
    hooks: Option<&dyn TrackingHooks>,
    integration: &Integration,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, ApiError> {
    match (hooks, integration.tracking()) {
        (Some(hooks), Some(_)) => hooks.status(integration).await.map_err(|e| ApiError::Unavailable(e.to_string())),
        _ => Ok(None),
    }
}
