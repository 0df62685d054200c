//! `POST /v1/automations/{id}/backtest`: when would this metric automation have fired on a run
//! that logged this history?
//!
//! The history is evaluated by the one ingest service, as replay runs it: a one-automation
//! [`Engine`] takes a synthetic `run.metrics.logged` envelope built from the request, on an
//! in-memory store of its own, exactly as intake would. Nothing is stored and nothing is
//! delivered.
//!
//! Body: `{"history": [{"step", "time"?, "values": {name: number|null|"NaN"}}], "run"?: {"project",
//! "run_id", "run_name", "user", "tags", "config"}, "cooldown"?: true}`. With `"cooldown": false`
//! every step at which the condition holds is listed, not only those outside the cooldown.
//! `"max_fires"` (default 100, at most 1000) bounds the fires listed (`fires_total` counts them
//! all, `fires_omitted` the rest), and `"metric_values": true` adds each fire's window: the
//! answer stays small whatever the history. Without `history`, a `run` with a `run_id` is
//! backtested over that run's stored history (`GET /v1/runs/...`); `"patch"` (a JSON merge patch
//! over the automation's document) backtests a changed condition without saving it. The evaluation runs on the blocking pool, a chunk of
//! rows at a time, so a large history neither stalls the async workers nor holds every fire.

use super::automations::find;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::RawBody;
use crate::{Api, EventSink};
use automations_core::AutomationId;
use automations_core::engine::Engine;
use automations_core::error::{Errors, FieldError, Invalid};
use automations_core::event::{Envelope, EventData, MetricsEvent, parse_value};
use automations_core::fire::{Fire, Subject};
use automations_core::ingest::{Ingest, IngestClock};
use automations_core::json::sanitize_non_finite;
use automations_core::model::reader::ObjReader;
use automations_core::model::{RunState, Scope, Trigger};
use automations_core::store::{MemoryStore, ready_now};
use automations_core::time::Timestamp;
use automations_core::window::Observed;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// Fires listed when the request names no `max_fires`, and the most it may ask for; the rest
/// are only counted (`fires_omitted`).
const DEFAULT_FIRES: usize = 100;
const MAX_FIRES: usize = 1000;
/// Rows evaluated at a time.
const BACKTEST_CHUNK_ROWS: usize = 256;

/// Fields of the request's `run` and where they go in the synthetic envelope's `data`.
const RUN_FIELDS: [&str; 6] = ["project", "run_id", "run_name", "user", "tags", "config"];

pub async fn backtest(
    State(api): State<Arc<Api>>,
    caller: Caller,
    Path(id): Path<AutomationId>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let text = std::str::from_utf8(&body).map_err(|e| ApiError::field("", format!("the body is not UTF-8: {e}")))?;
    let doc: Value = serde_json::from_str(&sanitize_non_finite(text))
        .map_err(|e| ApiError::field("", format!("malformed JSON: {e}")))?;
    let record = find(&api, &caller, &id).await?;
    let (doc, mut automation) = with_patch(doc, record.automation)?;
    let doc = with_stored_history(&*api.sink, &caller, &automation, doc).await?;
    let Trigger::Metric { run_filter, condition, cooldown } = &mut automation.trigger else {
        return Err(ApiError::field(
            "",
            format!(
                "backtest evaluates run metric conditions; this automation's event is {}",
                automation.trigger.kind()
            ),
        ));
    };
    let (mut data, Options { keep_cooldown, max_fires, with_values }) = read_request(&doc, &automation.scope)?;
    data.insert("entity".into(), caller.entity.clone().into());
    let envelope = json!({
        "specversion": "1.0", "id": "backtest", "source": "backtest", "type": "run.metrics.logged",
        "time": api.now().to_string(), "data": data,
    });
    let mut envelope = parse_value(&envelope).map_err(|r| ApiError::Invalid(to_request_paths(r.errors)))?;
    // The rows are taken out of the envelope: they are evaluated a chunk at a time.
    let EventData::Metrics(metrics) = &mut envelope.data else {
        return Err(ApiError::Internal("the backtest envelope is not a metrics envelope".into()));
    };
    let metrics = MetricsEvent {
        run: metrics.run.clone(),
        names: std::mem::take(&mut metrics.names),
        rows: std::mem::take(&mut metrics.rows),
        values: std::mem::take(&mut metrics.values),
    };
    let metric = condition.metric().to_string();
    let filter_matches =
        run_filter.filter.is_match_all() || run_filter.filter.matches(&metrics.run.filter_doc(RunState::Running));
    if !keep_cooldown {
        *cooldown = 0;
    }
    // A disabled automation is backtested as if it were enabled: that is what one asks before
    // enabling it.
    automation.enabled = true;
    let values = match metrics.names.iter().position(|n| *n == metric) {
        Some(i) => metrics.rows_with_values().filter(|(_, vs)| vs.iter().any(|(n, _)| *n as usize == i)).count(),
        None => 0,
    };
    // CPU-bound (a window of 1000 per step over a 1 MiB history): off the async workers.
    let evaluated = tokio::task::spawn_blocking(move || {
        // The one ingest service, as replay runs it: on an in-memory store of its own, on the
        // input's clock. Nothing is stored and nothing is delivered.
        let engine = Engine::new([automation]);
        let store = MemoryStore::ids_only();
        let ingest = Ingest { engine: &engine, store: &store };
        let mut clock = Timestamp::MIN;
        let (mut shown, mut total) = (Vec::new(), 0usize);
        // A chunk of rows at a time, as intake takes envelopes (the windows and cooldowns carry
        // over in the run's record): at most a chunk's fires are alive at once, and only
        // `max_fires` are kept for the answer.
        for start in (0..metrics.rows.len()).step_by(BACKTEST_CHUNK_ROWS) {
            let part = metrics.slice(start..(start + BACKTEST_CHUNK_ROWS).min(metrics.rows.len()));
            let chunk = [Envelope { data: EventData::Metrics(part), ..envelope.clone() }];
            let at = IngestClock::EventTime { floor: clock };
            let outcome = ready_now(ingest.process(&chunk, at)).map_err(|e| e.to_string())?;
            clock = at.after(&chunk);
            total += outcome.fires.len();
            let room = max_fires.saturating_sub(shown.len());
            shown.extend(outcome.fires.iter().take(room).map(|f| fire_view(f, with_values)));
        }
        Ok::<_, String>((shown, total))
    })
    .await
    .map_err(|e| ApiError::Internal(format!("the backtest stopped: {e}")))?;
    let (fires, total) = evaluated.map_err(|e| ApiError::Internal(format!("the backtest failed: {e}")))?;
    Ok(axum::Json(json!({
        "automation": id,
        "metric": metric,
        "values": values,
        "run_filter_matches": filter_matches,
        "cooldown_applied": keep_cooldown,
        "fires_total": total,
        "fires_omitted": total - fires.len(),
        "fires": fires,
    }))
    .into_response())
}

/// `"patch"`: a JSON merge patch over the automation's document, backtested in its place (and
/// not stored), so a condition can be tried before it is saved. Its errors are at `patch.PATH`.
fn with_patch(
    mut doc: Value,
    automation: automations_core::model::Automation,
) -> Result<(Value, automations_core::model::Automation), ApiError> {
    let Some(patch) = doc.as_object_mut().and_then(|o| o.remove("patch")) else { return Ok((doc, automation)) };
    if !patch.is_object() {
        return Err(ApiError::field("patch", "must be a JSON object (a JSON merge patch, RFC 7396)"));
    }
    let mut document = automation.to_document();
    super::automations::merge_patch(&mut document, &patch);
    let patched = automations_core::model::Automation::from_create(automation.id.as_str(), &document).map_err(|e| {
        let errors = e.errors.into_iter().map(|f| FieldError::new(format!("patch.{}", f.path), f.message)).collect();
        ApiError::Invalid(Invalid { errors })
    })?;
    Ok((doc, patched))
}

/// A request without `history` that names a run (`run.run_id`, and `run.project` unless the
/// automation watches one project) is backtested over that run's stored history of the
/// automation's metric.
async fn with_stored_history(
    sink: &dyn EventSink,
    caller: &Caller,
    automation: &automations_core::model::Automation,
    mut doc: Value,
) -> Result<Value, ApiError> {
    let Trigger::Metric { condition, .. } = &automation.trigger else { return Ok(doc) };
    let Some(obj) = doc.as_object() else { return Ok(doc) };
    if obj.contains_key("history") {
        return Ok(doc);
    }
    let Some(Value::String(run_id)) = obj.get("run").and_then(|r| r.get("run_id")) else { return Ok(doc) };
    let project = match (obj.get("run").and_then(|r| r.get("project")), &automation.scope) {
        (Some(Value::String(p)), _) => p.clone(),
        (None, Scope::Project { project, .. }) => project.clone(),
        _ => return Err(ApiError::field("run.project", "names the project of the stored run to backtest over")),
    };
    let run = automations_core::event::RunKey { entity: caller.entity.clone().into(), project, run_id: run_id.clone() };
    let metric = condition.metric();
    let points = super::runs::stored(sink, caller, &run, metric).await.map_err(|e| match e {
        ApiError::NotFound(why) => ApiError::field("run.run_id", why),
        e => e,
    })?;
    let rows: Vec<Value> = points
        .iter()
        .map(|p| json!({"step": p.step, "time": p.time.to_string(), "values": {metric: p.value}}))
        .collect();
    if let Some(o) = doc.as_object_mut() {
        o.insert("history".into(), rows.into());
    }
    Ok(doc)
}

/// What the answer shows of a fire: when and why; the values read only when asked.
#[derive(Serialize)]
struct FireView {
    time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    metric_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    step: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metric_values: Option<Vec<f64>>,
    #[serde(flatten)]
    observed: Option<Observed>,
}

fn fire_view(f: &Fire, with_values: bool) -> FireView {
    let mut view =
        FireView { time: f.time.to_string(), metric_name: None, step: None, metric_values: None, observed: None };
    if let Subject::Metric { metric, step, values, observed, .. } = &f.subject {
        view.metric_name = Some(metric.clone());
        view.step = Some(*step);
        view.metric_values = with_values.then(|| values.clone());
        view.observed = Some(*observed);
    }
    view
}

/// The request's options.
struct Options {
    keep_cooldown: bool,
    max_fires: usize,
    with_values: bool,
}

/// Check the request and build the synthetic envelope's `data` (without `entity`).
fn read_request(doc: &Value, scope: &Scope) -> Result<(Map<String, Value>, Options), ApiError> {
    let mut errors = Errors::default();
    let Some(mut r) = ObjReader::new(doc, "", &mut errors) else {
        return Err(errors.failed().into());
    };
    let history = r.required("history", &mut errors);
    if let Some(h) = history {
        match h {
            Value::Array(rows) if rows.is_empty() => errors.push("history", "must have at least one row"),
            Value::Array(_) => {}
            _ => errors.push("history", "must be an array of rows ({\"step\", \"time\", \"values\"})"),
        }
    }
    let keep_cooldown = r.opt_bool("cooldown", &mut errors).unwrap_or(true);
    let max_fires = r.opt_int("max_fires", 1..=MAX_FIRES as i64, &mut errors).map_or(DEFAULT_FIRES, |n| n as usize);
    let with_values = r.opt_bool("metric_values", &mut errors).unwrap_or(false);
    let mut data = Map::new();
    if let Some(run) = r.get("run")
        && let Some(mut rr) = ObjReader::new(run, "run", &mut errors)
    {
        for field in RUN_FIELDS {
            if let Some(v) = rr.get(field) {
                data.insert(field.into(), v.clone());
            }
        }
        rr.deny_unknown(&mut errors);
    }
    r.deny_unknown(&mut errors);
    let watched = match scope {
        Scope::Project { project, .. } => Some(project.as_str()),
        _ => None,
    };
    // A `project` of the wrong type is left in place for the envelope parser to refuse.
    match (watched, data.get("project")) {
        (Some(w), Some(Value::String(p))) if w != p => {
            errors.push("run.project", format!("the automation watches project {w:?}"))
        }
        (Some(w), None) => {
            data.insert("project".into(), w.into());
        }
        (None, None) => {
            data.insert("project".into(), "backtest".into());
        }
        _ => {}
    }
    data.entry("run_id").or_insert_with(|| "backtest".into());
    if let Some(h) = history {
        data.insert("rows".into(), h.clone());
    }
    errors.finish((data, Options { keep_cooldown, max_fires, with_values })).map_err(ApiError::from)
}

/// The envelope parser names `data.rows[3].values.loss`; the request calls it `history[3]...`.
fn to_request_paths(invalid: Invalid) -> Invalid {
    let errors = invalid
        .errors
        .into_iter()
        .map(|e| {
            let path = if let Some(rest) = e.path.strip_prefix("data.rows") {
                format!("history{rest}")
            } else if let Some(rest) = e.path.strip_prefix("data.") {
                format!("run.{rest}")
            } else {
                e.path
            };
            FieldError::new(path, e.message)
        })
        .collect();
    Invalid { errors }
}
