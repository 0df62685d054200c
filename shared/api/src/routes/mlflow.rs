//! `POST /v1/mlflow/{entity}/{integration}/events`: MLflow model-registry webhooks in.
//!
//! MLflow cannot send this API's Bearer key, so the route is authenticated by the delivery's
//! signature alone, with the secret of the `mlflow` integration the path names
//! ([`automations_core::mlflow`] checks it, the timestamp, and maps the payload). The envelopes
//! go to the same [`EventSink`](crate::EventSink) as `POST /v1/events`. Answers:
//!
//! - 202: mapped and taken (`outcome: "accepted"`, with the envelope ids); a replayed delivery
//!   maps to the same ids, so its fires are already recorded and nothing new happens;
//! - 200: acknowledged without evaluation (`outcome: "ignored"` with the reason, or `"test"` for
//!   MLflow's test delivery);
//! - 401: no such `mlflow` integration (or one disabled), a missing or wrong signature, or a
//!   stale timestamp: one answer for all, the reason only in the server's log;
//! - 400: a signed body that is not an MLflow payload;
//! - 503: the store or sink is unavailable (MLflow retries 5xx three times).
//!
//! Refusals change nothing. None of them quotes the secret.

use crate::Api;
use crate::error::{ApiError, PROBLEM_JSON, json_response};
use crate::input::RawBody;
use crate::sink::Accepted;
use automations_core::mlflow::{self, Headers, MlflowError, Outcome};
use automations_core::{EntityId, IntegrationName};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

pub async fn intake(
    State(api): State<Arc<Api>>,
    Path((entity, name)): Path<(EntityId, IntegrationName)>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let now = api.now();
    let integration = match api.store.get_integration(&entity, &name).await? {
        Some(i) => i,
        None => {
            return Ok(unauthorized(
                &entity,
                &name,
                format!(
                    "entity {entity:?} has no integration named {name:?}; create one of type \"mlflow\" with POST /v1/integrations"
                ),
            ));
        }
    };
    let Some((target, secret)) = mlflow::integration_target(&integration) else {
        return Ok(unauthorized(
            &entity,
            &name,
            match integration.kind.type_name() {
                "mlflow" => format!(
                    "integration {name:?} has no secret and registry: it polls a tracking server, it takes no webhooks"
                ),
                other => format!("integration {name:?} is a {other} integration, not an mlflow one"),
            },
        ));
    };
    if let Some(why) = &integration.disabled {
        return Ok(unauthorized(&entity, &name, format!("integration {name:?} is disabled: {why}")));
    }
    let mut texts = Vec::with_capacity(3);
    for header in [mlflow::HEADER_DELIVERY_ID, mlflow::HEADER_TIMESTAMP, mlflow::HEADER_SIGNATURE] {
        match headers.get(header).map(|v| v.to_str()) {
            None => texts.push(None),
            Some(Ok(v)) => texts.push(Some(v)),
            Some(Err(_)) => {
                return Ok(unauthorized(&entity, &name, format!("header {header} is not ASCII text")));
            }
        }
    }
    let received = Headers { delivery_id: texts[0], timestamp: texts[1], signature: texts[2] };
    let delivery = match mlflow::receive(&target, secret.expose().as_bytes(), &received, &body, now) {
        Ok(d) => d,
        Err(MlflowError::Malformed(invalid)) => {
            tracing::warn!(integration = %name, entity = %entity, reason = %invalid, "MLflow delivery refused: malformed");
            return Err(ApiError::Invalid(invalid));
        }
        Err(e) => return Ok(unauthorized(&entity, &name, e.to_string())),
    };
    let mut answer = json!({"delivery_id": delivery.delivery_id, "event": delivery.event});
    match delivery.outcome {
        Outcome::Events(mapped) => {
            answer["outcome"] = "accepted".into();
            answer["envelopes"] = mapped
                .iter()
                .map(|m| json!({"id": m.envelope.id, "type": m.envelope.event_type()}))
                .collect::<Vec<Value>>()
                .into();
            let batch = mapped.into_iter().map(|m| Accepted { envelope: m.envelope, text: m.text }).collect();
            api.sink.accept(batch, now).await?;
            Ok((StatusCode::ACCEPTED, axum::Json(answer)).into_response())
        }
        Outcome::Ignored(reason) => {
            tracing::info!(
                integration = %name, entity = %entity, delivery_id = %delivery.delivery_id, event = %delivery.event,
                reason, "MLflow delivery acknowledged without evaluation"
            );
            answer["outcome"] = "ignored".into();
            answer["reason"] = reason.into();
            Ok((StatusCode::OK, axum::Json(answer)).into_response())
        }
        Outcome::Test => {
            tracing::info!(
                integration = %name, entity = %entity, delivery_id = %delivery.delivery_id, event = %delivery.event,
                "MLflow test delivery verified"
            );
            answer["outcome"] = "test".into();
            answer["reason"] = "MLflow's test delivery: the signature verified; test payloads are not evaluated".into();
            Ok((StatusCode::OK, axum::Json(answer)).into_response())
        }
    }
}

/// What every 401 of this route says, whatever the reason: the route is unauthenticated, so
/// telling a missing integration from a disabled one, one of another type or a bad signature
/// would tell a caller which entities and integrations exist.
pub(crate) const GENERIC_401: &str = "the delivery could not be authenticated; check the webhook's URL \
    (entity and mlflow integration), its secret, and the sender's clock (the server's log says why)";

/// 401, the same for every reason; the reason goes to the server's log only. Not
/// [`ApiError::Unauthorized`]: that one is about the Bearer key (and says so in
/// `WWW-Authenticate`), this one about the delivery's signature.
fn unauthorized(entity: &EntityId, name: &IntegrationName, reason: String) -> Response {
    tracing::warn!(integration = %name, entity = %entity, reason = %reason, "MLflow delivery refused");
    let status = StatusCode::UNAUTHORIZED;
    let problem = json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Unauthorized"),
        "status": status.as_u16(),
        "detail": GENERIC_401,
    });
    json_response(status, PROBLEM_JSON, &problem)
}
