//! An execution's two documents: what the API shows (openapi.yaml `Execution`) and what a store
//! keeps (the same, plus the claim version, which is the store's bookkeeping and not the
//! user's). Derived, so the two cannot drift apart; the stored one is the view with one field
//! more, written last.

use super::{Execution, ExecutionState, LastResponse, RecordedRequest};
use crate::model::Action;
use crate::time::{Timestamp, rfc3339, rfc3339_opt};
use crate::{AutomationId, EntityId, FireId};
use serde::{Serialize, Serializer};
use serde_json::Value;

/// `GET /v1/automations/{id}/executions` items.
#[derive(Debug, Serialize)]
pub struct ExecutionView<'a> {
    fire_id: &'a FireId,
    automation_id: &'a AutomationId,
    automation_name: &'a str,
    entity: &'a EntityId,
    event_type: &'a str,
    state: &'static str,
    attempts: u32,
    #[serde(serialize_with = "rfc3339")]
    created_at: Timestamp,
    #[serde(serialize_with = "rfc3339")]
    updated_at: Timestamp,
    /// Pending executions only (a finished one has no next attempt to show).
    #[serde(serialize_with = "rfc3339_opt", skip_serializing_if = "Option::is_none")]
    next_attempt_at: Option<Timestamp>,
    #[serde(serialize_with = "rfc3339")]
    expires_at: Timestamp,
    event: &'a Value,
    action: &'a Action,
    request: Option<RequestView<'a>>,
    last_response: Option<ResponseView<'a>>,
}

/// The stored execution document: [`ExecutionView`] and the claim version.
#[derive(Debug, Serialize)]
pub struct StoredExecution<'a> {
    #[serde(flatten)]
    view: ExecutionView<'a>,
    version: u64,
}

#[derive(Debug, Serialize)]
struct RequestView<'a> {
    integration: &'a str,
    /// Every delivery is a POST.
    method: &'static str,
    url: Option<&'a str>,
    #[serde(serialize_with = "pairs")]
    headers: &'a [(String, String)],
    body: &'a str,
}

#[derive(Debug, Serialize)]
struct ResponseView<'a> {
    #[serde(serialize_with = "rfc3339")]
    at: Timestamp,
    status: Option<u16>,
    body: &'a str,
    error: Option<&'a str>,
    duration_ms: i64,
}

/// Headers as an object, in the order they were sent.
fn pairs<S: Serializer>(headers: &&[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(headers.iter().map(|(k, v)| (k, v)))
}

impl<'a> ExecutionView<'a> {
    /// The API's view of `e`: its next attempt time shown only while it is pending.
    pub fn of(e: &'a Execution) -> ExecutionView<'a> {
        ExecutionView {
            fire_id: &e.fire_id,
            automation_id: &e.automation_id,
            automation_name: &e.automation_name,
            entity: &e.entity,
            event_type: &e.event_type,
            state: e.state.as_str(),
            attempts: e.attempts,
            created_at: e.created_at,
            updated_at: e.updated_at,
            next_attempt_at: e.next_attempt_at.filter(|_| e.state == ExecutionState::Pending),
            expires_at: e.expires_at,
            event: &e.event,
            action: &e.action,
            request: e.request.as_ref().map(RequestView::of),
            last_response: e.last_response.as_ref().map(ResponseView::of),
        }
    }
}

impl<'a> StoredExecution<'a> {
    /// What a store keeps of `e`: its [`ExecutionView`] and its claim version.
    pub fn of(e: &'a Execution) -> StoredExecution<'a> {
        StoredExecution { view: ExecutionView::of(e), version: e.version }
    }
}

impl<'a> RequestView<'a> {
    fn of(r: &'a RecordedRequest) -> RequestView<'a> {
        RequestView {
            integration: r.integration.as_str(),
            method: "POST",
            url: r.url.as_deref(),
            headers: &r.headers,
            body: &r.body,
        }
    }
}

impl<'a> ResponseView<'a> {
    fn of(r: &'a LastResponse) -> ResponseView<'a> {
        ResponseView {
            at: r.at,
            status: r.status,
            body: &r.body,
            error: r.error.as_deref(),
            duration_ms: r.duration_ms,
        }
    }
}
