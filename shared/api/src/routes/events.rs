//! `POST /v1/events`: event intake.
//!
//! The body is one envelope, a JSON array of envelopes, or JSON Lines (CloudEvents' structured
//! and batched content modes); bare `NaN`/`Infinity` are accepted in metric values as Python
//! writes them. A request with `ce-*` headers is one envelope in the binary content mode (the
//! attributes in headers, the body its data). An envelope without `time` takes the arrival time. Each envelope is parsed on its own, so a bad one is rejected
//! (with every bad field named, and recorded through the store's reject port) while the rest go
//! to the sink. An envelope of an entity the key does not grant is rejected the same way.
//! The answer is 202 with the count accepted and one rejection per bad envelope; when nothing at
//! all was accepted it is 400, with the same rejections.

use crate::Api;
use crate::auth::Caller;
use crate::error::{ApiError, field_errors, json_response};
use crate::input::RawBody;
use crate::sink::Accepted;
use automations_core::EntityId;
use automations_core::error::{FieldError, Invalid};
use automations_core::event::{EVENT_TYPES, Envelope, EventData, parse_envelope_at};
use automations_core::json::{Position, RawItem, sanitize_non_finite, split_batch};
use automations_core::store::RejectRecord;
use automations_core::time::Timestamp;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
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

/// A [`Rejection`] as the intake answer lists it, under `rejected`.
#[derive(serde::Serialize)]
struct RejectionView<'a> {
    index: usize,
    position: String,
    id: Option<&'a str>,
    errors: Value,
}

impl Rejection {
    fn view(&self) -> RejectionView<'_> {
        RejectionView {
            index: self.index,
            position: self.position.to_string(),
            id: self.id.as_deref(),
            errors: field_errors(&self.errors.errors),
        }
    }
}

pub async fn intake(
    State(api): State<Arc<Api>>,
    caller: Caller,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let now = api.now();
    let binary = binary_envelope(&headers, &body)?;
    let (accepted, rejected) = if let Some(one) = binary {
        parse_items(vec![RawItem { position: Position::Item(0), text: Ok(&one) }], &caller.entity, now)
    } else if body.len() <= PARSE_INLINE_MAX {
        parse_batch(&body, &caller.entity, now)?
    } else {
        let entity = caller.entity.clone();
        tokio::task::spawn_blocking(move || parse_batch(&body, &entity, now))
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
    let rejections: Vec<RejectionView> = rejected.iter().map(Rejection::view).collect();
    if count == 0 && !rejections.is_empty() {
        let problem = ApiError::Invalid(Invalid::one("", "every envelope was rejected")).to_problem();
        let mut problem = problem;
        problem["detail"] = format!("all {} envelopes were rejected; see rejected", rejections.len()).into();
        problem["rejected"] = json!(rejections);
        return Ok(json_response(StatusCode::BAD_REQUEST, crate::error::PROBLEM_JSON, &problem));
    }
    let body = json!({"accepted": count, "rejected": rejections});
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

/// Split and parse a request body. A body that is not a batch at all is an error for the
/// whole request; a bad envelope is only its own rejection.
fn parse_batch(body: &Bytes, entity: &EntityId, now: Timestamp) -> Result<(Vec<Accepted>, Vec<Rejection>), ApiError> {
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
    Ok(parse_items(items, entity, now))
}

/// Parse the items of a request; an envelope without `time` takes the arrival time `now`, and
/// its forwarded text says so (queued envelopes are parsed again, with `time` required).
fn parse_items(items: Vec<RawItem<'_>>, entity: &EntityId, now: Timestamp) -> (Vec<Accepted>, Vec<Rejection>) {
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
            Ok(t) => match parse_envelope_at(t, now) {
                Ok((envelope, defaulted)) => match check_entity(&envelope, entity) {
                    Ok(()) => {
                        let text = if defaulted { with_time(t, now) } else { t.to_string() };
                        accepted.push(Accepted { envelope, text })
                    }
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
    (accepted, rejected)
}

/// An envelope's text with `time` set (appended: the last of duplicate members wins, so this
/// also replaces a `"time": null`).
fn with_time(text: &str, time: Timestamp) -> String {
    let body = text.trim_end();
    let body = body.strip_suffix('}').unwrap_or(body);
    format!("{body},\"time\":\"{time}\"}}")
}

/// The CloudEvents HTTP binding's binary content mode: the attributes are `ce-*` headers (their
/// values percent-encoded), `Content-Type` is `datacontenttype`, and the body is `data`. Such a
/// request is one envelope, returned as its structured-mode JSON text; `None` for a structured
/// request (no `ce-specversion` header).
fn binary_envelope(headers: &HeaderMap, body: &Bytes) -> Result<Option<String>, ApiError> {
    if !headers.contains_key("ce-specversion") {
        return Ok(None);
    }
    let mut attributes = serde_json::Map::new();
    for (name, value) in headers {
        let Some(attribute) = name.as_str().strip_prefix("ce-") else { continue };
        if attribute == "data" || attribute == "data_base64" {
            return Err(ApiError::field(
                format!("header {name}"),
                "is not a CloudEvents attribute: in binary mode the data is the body",
            ));
        }
        let raw = value
            .to_str()
            .map_err(|_| ApiError::field(attribute.to_string(), format!("header {name} is not visible ASCII")))?;
        let decoded = percent_encoding::percent_decode_str(raw).decode_utf8().map_err(|_| {
            ApiError::field(attribute.to_string(), format!("header {name} is not UTF-8 once percent-decoded"))
        })?;
        attributes.insert(attribute.to_string(), Value::String(decoded.into_owned()));
    }
    // The data of every event type here is a JSON object: the body is read as JSON whatever the
    // `Content-Type` says (HTTP clients add `application/x-www-form-urlencoded` by themselves).
    let content_type = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
    let text = std::str::from_utf8(body).map_err(|e| ApiError::field("data", format!("the body is not UTF-8: {e}")))?;
    let data = text.trim();
    if data.is_empty() {
        return Err(ApiError::field("data", "is required: in binary mode the body is the event's data"));
    }
    if !is_one_json_value(data) {
        return Err(ApiError::field(
            "data",
            format!("the body (the event's data in binary mode; Content-Type {content_type:?}) is not one JSON value"),
        ));
    }
    let head = Value::Object(attributes).to_string();
    let head = head.strip_suffix('}').unwrap_or(&head);
    Ok(Some(format!("{head},\"data\":{data}}}")))
}

/// Is the text one JSON value (a single envelope, possibly over several lines) rather than JSON
/// Lines? Non-finite tokens are rewritten first, as the envelope parser will.
fn is_one_json_value(text: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(&sanitize_non_finite(text)).is_ok()
}

fn check_entity(envelope: &Envelope, entity: &EntityId) -> Result<(), FieldError> {
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
