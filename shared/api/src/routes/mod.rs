//! The routes of the API and the router that serves them.

mod automations;
mod backtest;
mod events;
mod graphql;
mod integrations;
mod mlflow;
mod runs;
mod view;

use crate::Api;
use crate::error::ApiError;
use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use std::sync::Arc;

/// Every (method, path) the router serves, paths in OpenAPI template form. Tests hold the
/// router and `openapi.yaml` to this list, both ways.
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/v1/health"),
    ("POST", "/v1/automations"),
    ("GET", "/v1/automations"),
    ("POST", "/v1/automations/preview"),
    ("GET", "/v1/automations/{id}"),
    ("PATCH", "/v1/automations/{id}"),
    ("DELETE", "/v1/automations/{id}"),
    ("POST", "/v1/automations/{id}/enable"),
    ("POST", "/v1/automations/{id}/disable"),
    ("GET", "/v1/automations/{id}/executions"),
    ("POST", "/v1/automations/{id}/test"),
    ("POST", "/v1/automations/{id}/backtest"),
    ("POST", "/v1/integrations"),
    ("GET", "/v1/integrations"),
    ("GET", "/v1/integrations/{name}"),
    ("PATCH", "/v1/integrations/{name}"),
    ("DELETE", "/v1/integrations/{name}"),
    ("POST", "/v1/integrations/{name}/enable"),
    ("POST", "/v1/import/wandb"),
    ("POST", "/v1/events"),
    ("POST", "/v1/mlflow/{entity}/{integration}/events"),
    ("POST", "/graphql"),
    ("GET", "/v1/runs"),
    ("GET", "/v1/runs/{entity}/{project}/{run_id}/metrics/{name}"),
];

pub fn router(api: Arc<Api>) -> Router {
    use automations as a;
    use integrations as i;
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/automations", post(a::create).get(a::list))
        .route("/v1/automations/preview", post(a::preview))
        .route("/v1/automations/{id}", get(a::get_one).patch(a::patch).delete(a::delete))
        .route("/v1/automations/{id}/enable", post(a::enable))
        .route("/v1/automations/{id}/disable", post(a::disable))
        .route("/v1/automations/{id}/executions", get(a::executions))
        .route("/v1/automations/{id}/test", post(a::test))
        .route("/v1/automations/{id}/backtest", post(backtest::backtest))
        .route("/v1/integrations", post(i::create).get(i::list))
        .route("/v1/integrations/{name}", get(i::get_one).patch(i::patch).delete(i::delete))
        .route("/v1/integrations/{name}/enable", post(i::enable))
        .route("/v1/import/wandb", post(a::import_wandb))
        .route("/v1/events", post(events::intake))
        .route("/v1/mlflow/{entity}/{integration}/events", post(mlflow::intake))
        .route("/graphql", post(graphql::graphql))
        .route("/v1/runs", get(runs::list))
        .route("/v1/runs/{entity}/{project}/{run_id}/metrics/{name}", get(runs::metric))
        .merge(crate::console::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(api)
        // Outermost, so that it sees every answer, the fallbacks' included.
        .layer(axum::middleware::from_fn(crate::access_log::log_request))
}

/// Liveness, without authentication (for load balancers and `automations serve` readiness).
async fn health() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
