//! Reading a stored execution back: the document [`super::StoredExecution`] writes, derived
//! the other way. Fields a store wrote before they existed read as their defaults.

use super::{Execution, ExecutionState, LastResponse, RecordedRequest};
use crate::error::Errors;
use crate::id::{AutomationId, EntityId, FireId, IntegrationName};
use crate::model::Action;
use crate::time::Timestamp;
use serde::Deserialize;
use serde::de::{Deserializer, Error as _};
use serde_json::{Map, Value};

#[derive(Deserialize)]
pub(super) struct ExecutionDoc {
    fire_id: FireId,
    automation_id: AutomationId,
    automation_name: String,
    entity: EntityId,
    event_type: String,
    #[serde(deserialize_with = "state")]
    state: ExecutionState,
    attempts: u32,
    #[serde(deserialize_with = "time")]
    created_at: Timestamp,
    #[serde(deserialize_with = "time")]
    updated_at: Timestamp,
    #[serde(default, deserialize_with = "time_opt")]
    next_attempt_at: Option<Timestamp>,
    #[serde(deserialize_with = "time")]
    expires_at: Timestamp,
    event: Value,
    #[serde(deserialize_with = "action")]
    action: Action,
    #[serde(default)]
    request: Option<RequestDoc>,
    #[serde(default)]
    last_response: Option<ResponseDoc>,
    #[serde(default)]
    version: u64,
}

#[derive(Deserialize)]
struct RequestDoc {
    integration: IntegrationName,
    #[serde(default)]
    url: Option<String>,
    /// An object, in the order the headers were sent (serde_json keeps the order).
    headers: Map<String, Value>,
    body: String,
}

#[derive(Deserialize)]
struct ResponseDoc {
    #[serde(deserialize_with = "time")]
    at: Timestamp,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default)]
    body: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    duration_ms: i64,
}

impl ExecutionDoc {
    pub(super) fn into_execution(self) -> Result<Execution, String> {
        let request = match self.request {
            None => None,
            Some(r) => Some(RecordedRequest {
                integration: r.integration,
                url: r.url,
                headers: r
                    .headers
                    .into_iter()
                    .map(|(k, v)| match v {
                        Value::String(v) => Ok((k, v)),
                        _ => Err(format!("stored execution: header {k:?} is not a string")),
                    })
                    .collect::<Result<_, String>>()?,
                body: r.body,
            }),
        };
        Ok(Execution {
            fire_id: self.fire_id,
            automation_id: self.automation_id,
            automation_name: self.automation_name,
            entity: self.entity,
            event_type: self.event_type,
            event: self.event,
            action: self.action,
            state: self.state,
            attempts: self.attempts,
            request,
            last_response: self.last_response.map(|r| LastResponse {
                at: r.at,
                status: r.status,
                body: r.body,
                error: r.error,
                duration_ms: r.duration_ms,
            }),
            created_at: self.created_at,
            updated_at: self.updated_at,
            next_attempt_at: self.next_attempt_at,
            expires_at: self.expires_at,
            version: self.version,
        })
    }
}

fn state<'de, D: Deserializer<'de>>(d: D) -> Result<ExecutionState, D::Error> {
    let s = String::deserialize(d)?;
    ExecutionState::parse(&s).ok_or_else(|| D::Error::custom(format!("bad state {s:?}")))
}

fn time<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
    Timestamp::parse_rfc3339(&String::deserialize(d)?).map_err(D::Error::custom)
}

fn time_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(s) => Timestamp::parse_rfc3339(&s).map(Some).map_err(D::Error::custom),
    }
}

/// The action as the API reads it (it was written by [`Action::to_json`]).
fn action<'de, D: Deserializer<'de>>(d: D) -> Result<Action, D::Error> {
    let v = Value::deserialize(d)?;
    let mut errors = Errors::default();
    let action = Action::parse(&v, "action", &mut errors);
    match errors.finish(action) {
        Ok(Some(a)) => Ok(a),
        Ok(None) => Err(D::Error::custom("bad action")),
        Err(e) => Err(D::Error::custom(e)),
    }
}
