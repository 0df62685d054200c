//! Executions: every fire, with what it sent and how that went.
//!
//! An execution is created with its fire, in the same write ([`Execution::for_fire`]): `PENDING`
//! and due at once for a webhook or Slack action, `FINISHED` with no request for the `none`
//! action. Each attempt then rewrites it: the request sent (secrets masked), the attempt count,
//! the last response, and the next state. `SKIPPED` is an execution that sent nothing because
//! its integration had been disabled (a receiver answered 410 Gone). Executions expire with their
//! fire, 30 days after it ([`crate::store::FIRE_TTL`]).

use super::payload;
use super::retry::Verdict;
use crate::fire::FIRE_TTL;
use crate::fire::Fire;
use crate::id::{AutomationId, EntityId, FireId, IntegrationName};
use crate::model::Action;
use crate::time::Timestamp;
use serde::Deserialize;
use serde_json::Value;

mod read;
mod view;
pub use view::{ExecutionView, StoredExecution};

/// How much of a response body an execution keeps.
pub const RESPONSE_BODY_MAX: usize = 4096;

/// Where an execution stands; written `PENDING`, `FINISHED`, `FAILED`, `SKIPPED` in storage and the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExecutionState {
    /// Not delivered yet: waiting for its first attempt or a retry.
    Pending,
    /// Delivered (a 2xx answer), or nothing to deliver (the `none` action).
    Finished,
    /// Given up: a final error, or retries ran out.
    Failed,
    /// Not sent: the integration is disabled.
    Skipped,
}

impl ExecutionState {
    /// The state as stored and shown: `PENDING`, `FINISHED`, `FAILED` or `SKIPPED`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionState::Pending => "PENDING",
            ExecutionState::Finished => "FINISHED",
            ExecutionState::Failed => "FAILED",
            ExecutionState::Skipped => "SKIPPED",
        }
    }

    /// Read back [`ExecutionState::as_str`]; `None` for any other text.
    pub fn parse(s: &str) -> Option<ExecutionState> {
        [ExecutionState::Pending, ExecutionState::Finished, ExecutionState::Failed, ExecutionState::Skipped]
            .into_iter()
            .find(|x| x.as_str() == s)
    }
}

/// The request an execution sends, as recorded: the body from the start, the URL and headers
/// from the first attempt on (secrets masked).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// The integration's name.
    pub integration: IntegrationName,
    /// The URL the request goes to; `None` until the first attempt.
    pub url: Option<String>,
    /// The headers sent (secrets masked); empty until the first attempt.
    pub headers: Vec<(String, String)>,
    /// The request body, fixed when the execution is created.
    pub body: String,
}

/// The last attempt's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct LastResponse {
    /// When the attempt ended (or when the execution was skipped).
    pub at: Timestamp,
    /// The HTTP status, when the receiver answered.
    pub status: Option<u16>,
    /// The first [`RESPONSE_BODY_MAX`] bytes of the answer (cut at a character boundary).
    pub body: String,
    /// What went wrong, when something did.
    pub error: Option<String>,
    /// How long the attempt took.
    pub duration_ms: i64,
}

/// One fire's delivery record.
#[derive(Debug, Clone, PartialEq)]
pub struct Execution {
    /// The fire's id: the `webhook-id` of every attempt.
    pub fire_id: FireId,
    /// The automation that fired.
    pub automation_id: AutomationId,
    /// The automation's name at fire time.
    pub automation_name: String,
    /// The entity the automation belongs to.
    pub entity: EntityId,
    /// The trigger, e.g. `ADD_ARTIFACT_ALIAS`.
    pub event_type: String,
    /// The fire as [`Fire::line`] writes it.
    pub event: Value,
    /// The action as the automation had it at fire time.
    pub action: Action,
    /// Where the execution stands.
    pub state: ExecutionState,
    /// Attempts made (requests sent or tried).
    pub attempts: u32,
    /// `None` for the `none` action.
    pub request: Option<RecordedRequest>,
    /// The outcome of the latest attempt (or why it was skipped); `None` before any.
    pub last_response: Option<LastResponse>,
    /// When the fire was recorded, and with it the execution.
    pub created_at: Timestamp,
    /// When the execution last changed (an attempt or a skip).
    pub updated_at: Timestamp,
    /// When the next attempt is due (pending executions only). While an attempt is under way,
    /// the end of its lease: past it, another worker may take the execution over.
    pub next_attempt_at: Option<Timestamp>,
    /// When the execution is forgotten: [`FIRE_TTL`] after its creation, with its fire.
    pub expires_at: Timestamp,
    /// Bumped by every claim and save: a worker saves only the version it claimed.
    pub version: u64,
}

/// The execution state machine: `PENDING` at birth (or `FINISHED` for the `none` action), then
/// one transition per attempt. Every deployment's deliverer moves executions only through these.
impl Execution {
    /// The outcome of an attempt that ended at `now` with `response`, as the retry policy judged
    /// it: `FINISHED`, `PENDING` again (due at the retry time) or `FAILED` (the reason kept with
    /// the response's own error).
    pub fn attempted(&mut self, verdict: &Verdict, mut response: LastResponse, now: Timestamp) {
        self.updated_at = now;
        match verdict {
            Verdict::Delivered => {
                self.state = ExecutionState::Finished;
                self.next_attempt_at = None;
            }
            Verdict::RetryAt(at) => {
                self.state = ExecutionState::Pending;
                self.next_attempt_at = Some(*at);
            }
            Verdict::Failed { reason, .. } => {
                self.state = ExecutionState::Failed;
                self.next_attempt_at = None;
                response.error = Some(match response.error.take() {
                    Some(e) if !reason.contains(&e) => format!("{reason} ({e})"),
                    _ => reason.clone(),
                });
            }
        }
        self.last_response = Some(response);
    }

    /// Nothing to send (the `none` action): finished.
    pub fn nothing_to_send(&mut self) {
        self.state = ExecutionState::Finished;
        self.next_attempt_at = None;
    }

    /// Not sent, and never will be: its integration is disabled.
    pub fn skipped(&mut self, integration: &str, reason: &str, now: Timestamp) {
        self.skipped_because(format!("not sent: the integration {integration:?} is disabled ({reason})"), now);
    }

    /// Not sent, and never will be, for the reason given (its integration is disabled, its
    /// automation was deleted).
    pub fn skipped_because(&mut self, why: String, now: Timestamp) {
        self.state = ExecutionState::Skipped;
        self.next_attempt_at = None;
        self.updated_at = now;
        self.last_response =
            Some(LastResponse { at: now, status: None, body: String::new(), error: Some(why), duration_ms: 0 });
    }

    /// The execution of a fire recorded at `now`.
    pub fn for_fire(fire: &Fire, now: Timestamp) -> Execution {
        let request = payload::body(fire).zip(fire.action.integration()).map(|(body, integration)| RecordedRequest {
            integration: integration.clone(),
            url: None,
            headers: Vec::new(),
            body,
        });
        let (state, next) = match request {
            Some(_) => (ExecutionState::Pending, Some(now)),
            None => (ExecutionState::Finished, None),
        };
        Execution {
            fire_id: fire.id.clone(),
            automation_id: fire.automation_id.clone(),
            automation_name: fire.automation_name.clone(),
            entity: fire.entity.clone(),
            event_type: fire.trigger.as_str().to_string(),
            event: fire.to_value(),
            action: fire.action.clone(),
            state,
            attempts: 0,
            request,
            last_response: None,
            created_at: now,
            updated_at: now,
            next_attempt_at: next,
            expires_at: now.plus(FIRE_TTL),
            version: 0,
        }
    }

    /// The integration this execution delivers through.
    pub fn integration(&self) -> Option<&str> {
        self.request.as_ref().map(|r| r.integration.as_str())
    }

    /// Whether an attempt may be made at `now`.
    pub fn is_due(&self, now: Timestamp) -> bool {
        self.state == ExecutionState::Pending && self.next_attempt_at.is_some_and(|t| t <= now)
    }

    /// The execution as the stores keep it: [`Execution::view`] and the claim version.
    pub fn to_json(&self) -> Value {
        // A view of strings, numbers and JSON values always serializes.
        serde_json::to_value(StoredExecution::of(self)).unwrap_or(Value::Null)
    }

    /// The execution as the API shows it (no claim version: that is the store's bookkeeping).
    pub fn view(&self) -> ExecutionView<'_> {
        ExecutionView::of(self)
    }

    /// Read back [`Execution::to_json`]. Errors name the field.
    pub fn from_json(v: &Value) -> Result<Execution, String> {
        read::ExecutionDoc::deserialize(v).map_err(|e| format!("stored execution: {e}"))?.into_execution()
    }
}

/// The first [`RESPONSE_BODY_MAX`] bytes of a response body, cut at a character boundary, with
/// bytes that are not UTF-8 replaced.
pub fn response_excerpt(body: &[u8]) -> String {
    let head = &body[..body.len().min(RESPONSE_BODY_MAX)];
    let text = String::from_utf8_lossy(head);
    if body.len() <= RESPONSE_BODY_MAX {
        return text.into_owned();
    }
    // A multi-byte character cut by the limit reads as a replacement character: drop it.
    text.trim_end_matches('\u{FFFD}').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::payload::tests::{artifact_fire, metric_fire};

    fn answered(status: u16, error: Option<&str>) -> LastResponse {
        LastResponse {
            at: Timestamp(9),
            status: Some(status),
            body: "b".into(),
            error: error.map(str::to_string),
            duration_ms: 3,
        }
    }

    #[test]
    fn each_verdict_moves_the_execution_to_its_state() {
        let mut e = Execution::for_fire(&artifact_fire(), Timestamp(1));
        assert_eq!(e.state, ExecutionState::Pending);
        e.attempted(&Verdict::RetryAt(Timestamp(500)), answered(503, None), Timestamp(10));
        assert_eq!(
            (e.state, e.next_attempt_at, e.updated_at),
            (ExecutionState::Pending, Some(Timestamp(500)), Timestamp(10))
        );
        e.attempted(&Verdict::Delivered, answered(200, None), Timestamp(20));
        assert_eq!((e.state, e.next_attempt_at), (ExecutionState::Finished, None));

        let mut e = Execution::for_fire(&artifact_fire(), Timestamp(1));
        let failed = Verdict::Failed { reason: "the receiver refused it (400)".into(), disable_integration: false };
        e.attempted(&failed, answered(400, Some("bad body")), Timestamp(30));
        assert_eq!(e.state, ExecutionState::Failed);
        let error = e.last_response.as_ref().and_then(|r| r.error.clone());
        assert_eq!(
            error.as_deref(),
            Some("the receiver refused it (400) (bad body)"),
            "the reason, with the response's own error"
        );

        let mut e = Execution::for_fire(&artifact_fire(), Timestamp(1));
        e.skipped("hook", "410 Gone", Timestamp(40));
        assert_eq!((e.state, e.next_attempt_at), (ExecutionState::Skipped, None));
        assert!(e.last_response.unwrap().error.unwrap().contains("\"hook\" is disabled (410 Gone)"));
    }

    #[test]
    fn a_webhook_fire_is_pending_and_due_now() {
        let now = Timestamp(1_000);
        let e = Execution::for_fire(&artifact_fire(), now);
        assert_eq!(e.state, ExecutionState::Pending);
        assert!(e.is_due(now));
        assert_eq!(e.integration(), Some("hook"));
        assert_eq!(e.expires_at, now.plus(FIRE_TTL));
        let body: Value = serde_json::from_str(&e.request.as_ref().unwrap().body).unwrap();
        assert_eq!(body["fire_id"], "fire_0123");
    }

    #[test]
    fn a_none_fire_is_finished_with_no_request() {
        let mut f = artifact_fire();
        f.action = Action::None;
        let e = Execution::for_fire(&f, Timestamp(5));
        assert_eq!(e.state, ExecutionState::Finished);
        assert!(e.request.is_none() && e.next_attempt_at.is_none());
        assert!(!e.is_due(Timestamp(10)));
        assert_eq!(e.to_json()["request"], Value::Null);
    }

    #[test]
    fn round_trips_through_json() {
        let mut e = Execution::for_fire(&metric_fire(), Timestamp(1_000));
        e.attempts = 2;
        e.version = 3;
        e.request.as_mut().unwrap().url = Some("https://hooks.slack.com/services/****".into());
        e.request.as_mut().unwrap().headers = vec![("content-type".into(), "application/json".into())];
        e.last_response = Some(LastResponse {
            at: Timestamp(2_000),
            status: Some(503),
            body: "busy".into(),
            error: Some("the receiver answered 503".into()),
            duration_ms: 12,
        });
        e.next_attempt_at = Some(Timestamp(9_000));
        assert_eq!(Execution::from_json(&e.to_json()).unwrap(), e);
        let mut doc = e.to_json();
        doc["state"] = "LOST".into();
        assert!(Execution::from_json(&doc).unwrap_err().contains("state"));
    }

    #[test]
    fn keeps_the_first_4_kib_of_a_response() {
        assert_eq!(response_excerpt(b"ok"), "ok");
        let long = "é".repeat(3000);
        let cut = response_excerpt(long.as_bytes());
        assert!(cut.len() <= RESPONSE_BODY_MAX && cut.len() >= RESPONSE_BODY_MAX - 1, "{}", cut.len());
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
