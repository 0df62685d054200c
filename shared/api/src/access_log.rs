//! One log line and one metric sample per request: method, route template, status, latency and,
//! when the key was accepted, the entity it grants.
//!
//! Never the path, the query or a header: a path holds ids (unbounded as a metric label) and an
//! MLflow route's entity before it is authenticated; headers hold the API key and signatures.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// Where [`crate::auth::Caller`] leaves the authenticated entity for the access log: the
/// middleware inserts an empty one into the request, and reads it once the handler answered.
#[derive(Clone, Default)]
pub(crate) struct EntitySlot(Arc<OnceLock<String>>);

impl EntitySlot {
    pub(crate) fn set(&self, entity: &str) {
        // A second extraction in one request grants the same entity; the first one stays.
        self.0.get_or_init(|| entity.to_string());
    }
}

pub(crate) async fn log_request(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
    let slot = EntitySlot::default();
    request.extensions_mut().insert(slot.clone());
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    // An unmatched path is a 404 of the fallback: one label for all of them.
    let route = route.as_deref().unwrap_or("unmatched");
    automations_telemetry::metrics().request(method.as_str(), route, status, elapsed.as_secs_f64());
    // Microsecond precision is plenty, and keeps the line short.
    let latency_ms = (elapsed.as_secs_f64() * 1e6).round() / 1e3;
    let entity = slot.0.get().map(String::as_str);
    if status >= 500 {
        tracing::error!(method = %method, route, status, latency_ms, entity, "request");
    } else {
        tracing::info!(method = %method, route, status, latency_ms, entity, "request");
    }
    response
}
