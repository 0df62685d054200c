//! `POST /v1/events`: event intake.
//!
//! The body is one envelope, a JSON array of envelopes, or JSON Lines; bare `NaN`/`Infinity` are
//! accepted as Python writes them. Each envelope is parsed on its own, so a bad one is rejected
//! (with every bad field named, and recorded through the store's reject port) while the rest go
//! to the sink. An envelope of an entity the key does not grant is rejected the same way.
//! The answer is 202 with the count accepted and one rejection per bad envelope; when nothing at
//! all was accepted it is 400, with the same rejections.

use crate::auth::Caller;
use crate::error::{ApiError, field_errors, json_response};
use crate::input::RawBody;
use crate::sink::Accepted;
use crate::{Api, ApiStore, Deliverer, EventSink};
use automations_core::error::{FieldError, Invalid};
use automations_core::event::{EVENT_TYPES, Envelope, EventData, parse_envelope};
use automations_core::json::{Position, RawItem, sanitize_non_finite, split_batch};
use automations_core::store::RejectRecord;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;

/// Bodies larger than this are parsed on the blocking pool, off the async executor.
const PARSE_INLINE_MAX: usize = 32 * 1024;
/// How much of a rejected envelope's text is kept with its reject record.
const REJECT_BODY_MAX: usize = 4096;

/// One refused envelope of a request.
struct Rejection {
    index: usize,
    position: Position,
    id: Option<String>,
    source: Option<String>,
    event_type: Option<String>,
    errors: Invalid,
    text: String,
}

impl Rejection {
    fn to_json(&self) -> Value {
        json!({
            "index": self.index,
            "position": self.position.to_string(),
            "id": self.id,
            "errors": field_errors(&self.errors.errors),
        })
    }
}

pub async fn intake<S: ApiStore, K: EventSink, D: Deliverer>(
    State(api): State<Arc<Api<S, K, D>>>,
    caller: Caller,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let now = api.now();
    let (accepted, rejected) = if body.len() <= PARSE_INLINE_MAX {
        parse_batch(&body, &caller.entity)?
    } else {
        let entity = caller.entity.clone();
        tokio::task::spawn_blocking(move || parse_batch(&body, &entity))
            .await
            .map_err(|e| ApiError::Internal(format!("intake parsing stopped: {e}")))??
    };
    let metrics = automations_telemetry::metrics();
    for r in &rejected {
        let first = r.errors.errors.first();
        let field = first.map_or("", |e| e.path.as_str());
        metrics.rejected(r.event_type.as_deref(), &EVENT_TYPES, field);
        // The reason names fields and says what is wrong with them; it quotes no header, and a
        // value it quotes is the envelope's own (never a credential of ours).
        tracing::warn!(
            entity = %caller.entity,
            index = r.index,
            envelope_id = r.id.as_deref().unwrap_or(""),
            event_type = r.event_type.as_deref().unwrap_or(""),
            reason = %r.errors,
            "envelope rejected"
        );
        let record = RejectRecord {
            received_at: now,
            id: r.id.clone(),
            source: r.source.clone(),
            event_type: r.event_type.clone(),
            reason: r.errors.to_string(),
            body: r.text.clone(),
        };
        api.store.record_reject(&record).await?;
    }
    let count = accepted.len();
    for a in &accepted {
        metrics.accepted(a.envelope.event_type());
    }
    if count > 0 {
        api.sink.accept(accepted, now).await?;
    }
    let rejections: Vec<Value> = rejected.iter().map(Rejection::to_json).collect();
    if count == 0 && !rejections.is_empty() {
        let problem = ApiError::Invalid(Invalid::one("", "every envelope was rejected")).to_problem();
        let mut problem = problem;
        problem["detail"] = format!("all {} envelopes were rejected; see rejected", rejections.len()).into();
        problem["rejected"] = rejections.into();
        return Ok(json_response(StatusCode::BAD_REQUEST, crate::error::PROBLEM_JSON, &problem));
    }
    let body = json!({"accepted": count, "rejected": rejections});
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

/// Split and parse a request body. A body that is not a batch at all is an error for the
/// whole request; a bad envelope is only its own rejection.
fn parse_batch(body: &Bytes, entity: &str) -> Result<(Vec<Accepted>, Vec<Rejection>), ApiError> {
    let text = std::str::from_utf8(body).map_err(|e| ApiError::field("", format!("the body is not UTF-8: {e}")))?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(ApiError::field(
            "",
            "the body is empty; send an envelope, a JSON array of envelopes, or JSON Lines",
        ));
    }
    let items: Vec<RawItem<'_>> = if trimmed.starts_with('{') && is_one_json_value(trimmed) {
        vec![RawItem { position: Position::Item(0), text: Ok(trimmed) }]
    } else {
        split_batch(text)
    };
    let mut accepted = Vec::with_capacity(items.len());
    let mut rejected = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        let reject = |errors: Invalid, id, source, event_type, text: &str| Rejection {
            index,
            position: item.position,
            id,
            source,
            event_type,
            errors,
            text: cut(text, REJECT_BODY_MAX),
        };
        match item.text {
            Err(why) => rejected.push(reject(Invalid::one("", why), None, None, None, "")),
            Ok(t) => match parse_envelope(t) {
                Ok(envelope) => match check_entity(&envelope, entity) {
                    Ok(()) => accepted.push(Accepted { envelope, text: t.to_string() }),
                    Err(e) => rejected.push(reject(
                        e.into(),
                        Some(envelope.id.clone()),
                        Some(envelope.source.clone()),
                        Some(envelope.event_type().to_string()),
                        t,
                    )),
                },
                Err(r) => rejected.push(reject(r.errors, r.id, r.event_source, r.event_type, t)),
            },
        }
    }
    Ok((accepted, rejected))
}

/// Is the text one JSON value (a single envelope, possibly over several lines) rather than JSON
/// Lines? Non-finite tokens are rewritten first, as the envelope parser will.
fn is_one_json_value(text: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(&sanitize_non_finite(text)).is_ok()
}

fn check_entity(envelope: &Envelope, entity: &str) -> Result<(), FieldError> {
    let of = match &envelope.data {
        EventData::Artifact(a) => &a.entity,
        EventData::RunState(s) => &s.run.key.entity,
        EventData::Metrics(m) => &m.run.key.entity,
        EventData::Heartbeat(k) => &k.entity,
    };
    if of == entity {
        Ok(())
    } else {
        Err(FieldError::new("data.entity", format!("the API key grants entity {entity:?}, not {of:?}")))
    }
}

fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}
