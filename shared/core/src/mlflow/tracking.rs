//! MLflow tracking in: the pure half of the poller (the HTTP half is the `automations-mlflow`
//! adapter). It reads MLflow REST answers (`experiments/search`, `runs/search`,
//! `metrics/get-history`) into [`Experiment`]s, [`MlflowRun`]s and [`Point`]s, decides what to
//! fetch next ([`moved_metrics`], [`ended_since`]) and maps what changed since the stored
//! [`RunCursor`] to envelopes ([`run_envelopes`]).
//!
//! The mapping (README "MLflow tracking"): an experiment is a project (its name) of the
//! integration's entity; an MLflow run is a run (`run_id`, `run_name`, `user_id` as `user`, its
//! tags other than `mlflow.*` as `key=value`, its params as `config`, a param that reads as a
//! finite number being that number); a metric's history becomes `run.metrics.logged` rows
//! (MLflow's step, the metric's own timestamp as the row time); a status change becomes
//! `run.state.changed` (`RUNNING` running, `FINISHED` finished, `FAILED` failed, `KILLED`
//! killed, `SCHEDULED` pending).
//!
//! Envelope ids are deterministic: `{run_id}/{metric}/{first step}-{last step}` and
//! `{run_id}/state/{status}/{time}`, source `mlflow:{integration}`. A poll repeated after a crash
//! (before its cursors were saved) maps to the same ids and the same steps, so it fires nothing
//! new; fire ids derive from them.

use crate::event::{Envelope, EventData, MetricsEvent, RunInfo, RunKey, RunStateEvent};
use crate::model::RunState;
use crate::time::Timestamp;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Rows per `run.metrics.logged` envelope at most; a longer history is several envelopes.
pub const MAX_ROWS_PER_ENVELOPE: usize = 1000;
/// How far before the last poll's start the next poll looks for ended runs: room for the
/// tracking server's clock being behind ours, and for a run that ended while a poll ran.
pub const ENDED_MARGIN_MS: i64 = 5 * 60 * 1000;
/// Page sizes asked of MLflow (its limits: 1000 runs per search page by default, up to 50000;
/// metric history pages of up to 25000 points).
pub const RUNS_PAGE: usize = 1000;
/// Points asked per `metrics/get-history` page (MLflow's maximum).
pub const HISTORY_PAGE: usize = 25_000;
/// Experiments asked per `experiments/search` page.
pub const EXPERIMENTS_PAGE: usize = 1000;

/// An answer of the tracking server that is not what its REST API documents.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("unexpected MLflow answer: {0}")]
pub struct BadAnswer(pub String);

fn bad(what: impl Into<String>) -> BadAnswer {
    BadAnswer(what.into())
}

/// An active experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    /// MLflow's experiment id (a number, kept as text).
    pub id: String,
    /// The experiment's name: the project its runs land in.
    pub name: String,
}

/// What `runs/search` says about one run.
#[derive(Debug, Clone, PartialEq)]
pub struct MlflowRun {
    /// MLflow's run id; the run key's `run_id`.
    pub run_id: String,
    /// The run's `run_name`; `None` when MLflow has none or it is empty.
    pub run_name: Option<String>,
    /// MLflow's `user_id`; `None` when absent or empty.
    pub user: Option<String>,
    /// The experiment the run belongs to.
    pub experiment_id: String,
    /// MLflow's status: `RUNNING`, `SCHEDULED`, `FINISHED`, `FAILED`, `KILLED`.
    pub status: String,
    /// When the run started, in ms since the epoch; stamps a state change of a run not ended.
    pub start_time: Option<i64>,
    /// When the run ended, in ms since the epoch; stamps the change to an ended status.
    pub end_time: Option<i64>,
    /// `key=value`, without MLflow's own `mlflow.*` tags.
    pub tags: Vec<String>,
    /// The run's params as its `config`, a param that reads as a finite number being that number.
    pub config: Map<String, Value>,
    /// Each metric's latest (step, timestamp), as MLflow keeps them.
    pub latest: BTreeMap<String, MetricCursor>,
}

/// One logged value of a metric's history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// MLflow's step of the value; the row's step.
    pub step: i64,
    /// When the value was logged, in ms since the epoch; the row's time.
    pub timestamp: i64,
    /// The logged value (may be NaN or infinite, as MLflow writes them).
    pub value: f64,
}

/// How far one metric of one run was forwarded: the largest (step, timestamp) taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct MetricCursor {
    /// The largest step taken; only points past it are forwarded later.
    pub step: i64,
    /// The timestamp (ms since the epoch) of that step's point; [`moved_metrics`] compares (step, timestamp).
    pub timestamp: i64,
}

/// What was forwarded of one run: its last status (with the time it was stamped with) and a
/// cursor per metric. Stored per (integration, run).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunCursor {
    /// The MLflow status last forwarded as a `run.state.changed`.
    pub status: Option<String>,
    /// Per metric key, how far its history was forwarded.
    pub metrics: BTreeMap<String, MetricCursor>,
}

/// Where a tracking integration's envelopes land, and what names their source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackingTarget<'a> {
    /// The integration's name: names the envelopes' source, `mlflow:{integration}`.
    pub integration: &'a str,
    /// The entity the integration's experiments (projects) belong to.
    pub entity: &'a str,
}

impl TrackingTarget<'_> {
    /// The envelopes' source: `mlflow:{integration}`.
    pub fn source(&self) -> String {
        format!("mlflow:{}", self.integration)
    }
}

/// MLflow's run status as a run state; `None` for a status this product does not know.
pub fn run_state(status: &str) -> Option<RunState> {
    Some(match status {
        "RUNNING" => RunState::Running,
        "FINISHED" => RunState::Finished,
        "FAILED" => RunState::Failed,
        "KILLED" => RunState::Killed,
        "SCHEDULED" => RunState::Pending,
        _ => return None,
    })
}

/// Whether MLflow counts the run as ended (it has an end time and will not log more).
pub fn is_ended(status: &str) -> bool {
    matches!(status, "FINISHED" | "FAILED" | "KILLED")
}

/// The `end_time` from which a poll searches for ended runs: a margin before the start of the
/// last successful poll, or the integration's creation (runs that ended before it are history,
/// not news).
pub fn ended_since(last_success: Option<Timestamp>, created_at: Timestamp) -> i64 {
    last_success.unwrap_or(created_at).minus(ENDED_MARGIN_MS).0
}

/// The `runs/search` filters of a poll: the active runs, and the runs that ended since
/// `ended_since` (MLflow's filter has no `OR`, so two searches).
pub fn run_filters(ended_since: i64) -> [String; 2] {
    ["attributes.status = 'RUNNING'".to_string(), format!("attributes.end_time >= {ended_since}")]
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        // Protobuf's JSON writes int64 as a string.
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn float(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" | "inf" => Some(f64::INFINITY),
            "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
            s => s.parse().ok(),
        },
        _ => None,
    }
}

fn page_token(v: &Value) -> Option<String> {
    v.get("next_page_token").and_then(Value::as_str).filter(|t| !t.is_empty()).map(str::to_string)
}

fn list<'v>(v: &'v Value, field: &str) -> Result<&'v [Value], BadAnswer> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(bad(format!("{field} is not a list"))),
    }
}

fn str_field<'v>(v: &'v Value, field: &str, what: &str) -> Result<&'v str, BadAnswer> {
    v.get(field).and_then(Value::as_str).ok_or_else(|| bad(format!("{what} has no {field}")))
}

/// An `experiments/search` page: the experiments and the next page's token.
pub fn parse_experiments(v: &Value) -> Result<(Vec<Experiment>, Option<String>), BadAnswer> {
    let mut out = Vec::new();
    for e in list(v, "experiments")? {
        if e.get("lifecycle_stage").and_then(Value::as_str).is_some_and(|s| s != "active") {
            continue;
        }
        let id = match e.get("experiment_id") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(bad("an experiment has no experiment_id")),
        };
        out.push(Experiment { id, name: str_field(e, "name", "an experiment")?.to_string() });
    }
    Ok((out, page_token(v)))
}

fn key_values(v: &Value, field: &str) -> Result<Vec<(String, Value)>, BadAnswer> {
    list(v, field)?
        .iter()
        .map(|kv| {
            let key = str_field(kv, "key", field)?.to_string();
            Ok((key, kv.get("value").cloned().unwrap_or(Value::Null)))
        })
        .collect()
}

/// A param's value for `config`: a finite number when it reads as one, else the string.
fn param_value(v: Value) -> Value {
    if let Value::String(s) = &v
        && let Ok(n) = s.trim().parse::<f64>()
        && n.is_finite()
        && !s.trim().is_empty()
    {
        let as_int = s.trim().parse::<i64>().ok();
        return as_int.map(Value::from).or_else(|| serde_json::Number::from_f64(n).map(Value::Number)).unwrap_or(v);
    }
    v
}

/// A `runs/search` page: the runs (deleted ones left out) and the next page's token.
pub fn parse_runs(v: &Value) -> Result<(Vec<MlflowRun>, Option<String>), BadAnswer> {
    let mut out = Vec::new();
    for r in list(v, "runs")? {
        let info = r.get("info").ok_or_else(|| bad("a run has no info"))?;
        if info.get("lifecycle_stage").and_then(Value::as_str).is_some_and(|s| s != "active") {
            continue;
        }
        let run_id = info
            .get("run_id")
            .or_else(|| info.get("run_uuid"))
            .and_then(Value::as_str)
            .ok_or_else(|| bad("a run has no run_id"))?
            .to_string();
        let empty = Value::Null;
        let data = r.get("data").unwrap_or(&empty);
        let mut latest = BTreeMap::new();
        for m in list(data, "metrics")? {
            let key = str_field(m, "key", "a metric")?.to_string();
            let step = m.get("step").and_then(int).unwrap_or(0);
            let timestamp = m.get("timestamp").and_then(int).unwrap_or(0);
            latest.insert(key, MetricCursor { step, timestamp });
        }
        let mut tags = Vec::new();
        for (k, v) in key_values(data, "tags")? {
            if !k.starts_with("mlflow.") {
                tags.push(format!("{k}={}", v.as_str().unwrap_or_default()));
            }
        }
        let config: Map<String, Value> =
            key_values(data, "params")?.into_iter().map(|(k, v)| (k, param_value(v))).collect();
        let text = |f: &str| info.get(f).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
        out.push(MlflowRun {
            run_name: text("run_name"),
            user: text("user_id"),
            experiment_id: match info.get("experiment_id") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => return Err(bad(format!("run {run_id} has no experiment_id"))),
            },
            status: text("status").unwrap_or_else(|| "RUNNING".into()),
            start_time: info.get("start_time").and_then(int),
            end_time: info.get("end_time").and_then(int),
            run_id,
            tags,
            config,
            latest,
        });
    }
    Ok((out, page_token(v)))
}

/// A `metrics/get-history` page: the points and the next page's token.
pub fn parse_history(v: &Value) -> Result<(Vec<Point>, Option<String>), BadAnswer> {
    let mut out = Vec::new();
    for m in list(v, "metrics")? {
        let value = m.get("value").and_then(float).ok_or_else(|| bad("a metric point has no value"))?;
        out.push(Point {
            step: m.get("step").and_then(int).unwrap_or(0),
            timestamp: m.get("timestamp").and_then(int).unwrap_or(0),
            value,
        });
    }
    Ok((out, page_token(v)))
}

/// The metrics of `run` whose latest (step, timestamp) moved past the cursor: the only ones a
/// poll fetches the history of.
pub fn moved_metrics<'r>(run: &'r MlflowRun, cursor: &RunCursor) -> Vec<&'r str> {
    run.latest
        .iter()
        .filter(|(k, latest)| cursor.metrics.get(*k).is_none_or(|c| *latest > c))
        .map(|(k, _)| k.as_str())
        .collect()
}

/// What one poll forwards of one run: the envelopes, in order, and the cursor to store once
/// they are ingested.
#[derive(Debug, Clone, PartialEq)]
pub struct RunUpdate {
    /// The envelopes to ingest, in order.
    pub envelopes: Vec<Envelope>,
    /// The run's cursor once they are ingested: store it only after ingesting them all.
    pub cursor: RunCursor,
}

/// Map what changed of `run` since `cursor`: a state change, and for each metric in `histories`
/// (the full histories of the moved metrics) the points past the cursor. A run that starts has
/// its state first; a run that ended has it last, after its final values. `project` is the
/// experiment's name; `now` stamps a state change MLflow gives no time for.
pub fn run_envelopes(
    target: &TrackingTarget<'_>,
    project: &str,
    run: &MlflowRun,
    cursor: &RunCursor,
    histories: &BTreeMap<String, Vec<Point>>,
    now: Timestamp,
) -> RunUpdate {
    let source = target.source();
    let info = RunInfo {
        key: RunKey { entity: target.entity.to_string(), project: project.to_string(), run_id: run.run_id.clone() },
        run_name: run.run_name.clone(),
        user: run.user.clone(),
        tags: run.tags.clone(),
        config: run.config.clone(),
        author: run.user.clone(),
    };
    let mut next = cursor.clone();
    let state = (cursor.status.as_deref() != Some(run.status.as_str())).then(|| run_state(&run.status)).flatten().map(
        |state| {
            let at = if is_ended(&run.status) { run.end_time } else { run.start_time };
            let at = at.unwrap_or(now.0);
            Envelope {
                id: format!("{}/state/{}/{at}", run.run_id, run.status),
                source: source.clone(),
                time: Timestamp(at),
                data: EventData::RunState(RunStateEvent {
                    run: info.clone(),
                    state,
                    previous: cursor.status.as_deref().and_then(run_state),
                }),
            }
        },
    );
    if state.is_some() || run_state(&run.status).is_none() {
        next.status = Some(run.status.clone());
    }
    let mut envelopes = Vec::new();
    let ended = is_ended(&run.status);
    if !ended {
        envelopes.extend(state.clone());
    }
    for (key, points) in histories {
        let from = cursor.metrics.get(key).copied();
        let mut fresh: Vec<Point> = points.iter().copied().filter(|p| from.is_none_or(|c| p.step > c.step)).collect();
        // Step order; a step logged twice keeps its first value (the engine would skip the
        // second as a duplicate anyway, SPEC section 5).
        fresh.sort_by_key(|p| (p.step, p.timestamp));
        fresh.dedup_by_key(|p| p.step);
        let seen = points.iter().map(|p| MetricCursor { step: p.step, timestamp: p.timestamp }).max();
        let moved = [from, seen, run.latest.get(key).copied()].into_iter().flatten().max();
        if let Some(c) = moved {
            next.metrics.insert(key.clone(), c);
        }
        for chunk in fresh.chunks(MAX_ROWS_PER_ENVELOPE) {
            let (first, last) = (chunk[0], chunk[chunk.len() - 1]);
            envelopes.push(Envelope {
                id: format!("{}/{key}/{}-{}", run.run_id, first.step, last.step),
                source: source.clone(),
                time: Timestamp(last.timestamp),
                data: EventData::Metrics(MetricsEvent::from_rows(
                    info.clone(),
                    vec![key.clone()],
                    chunk.iter().map(|p| (p.step, Some(Timestamp(p.timestamp)), vec![(0, p.value)])),
                )),
            });
        }
    }
    if ended {
        envelopes.extend(state);
    }
    RunUpdate { envelopes, cursor: next }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TARGET: TrackingTarget<'static> = TrackingTarget { integration: "mlflow-local", entity: "acme" };

    fn search_page() -> Value {
        json!({"runs": [{
            "info": {"run_id": "r1", "run_uuid": "r1", "run_name": "bright-fox", "experiment_id": "3",
                     "user_id": "ana", "status": "RUNNING", "start_time": 1000, "lifecycle_stage": "active"},
            "data": {
                "metrics": [{"key": "loss", "value": 0.5, "timestamp": 2000, "step": 2},
                            {"key": "system/cpu", "value": 10.0, "timestamp": 2100, "step": 1}],
                "params": [{"key": "lr", "value": "0.001"}, {"key": "opt", "value": "adam"}, {"key": "epochs", "value": "3"}],
                "tags": [{"key": "mlflow.user", "value": "ana"}, {"key": "team", "value": "ml"}]
            }
        }, {
            "info": {"run_id": "gone", "experiment_id": "3", "status": "FINISHED", "lifecycle_stage": "deleted"}
        }], "next_page_token": "tok"})
    }

    #[test]
    fn reads_a_search_page() {
        let (runs, next) = parse_runs(&search_page()).unwrap();
        assert_eq!(next.as_deref(), Some("tok"));
        assert_eq!(runs.len(), 1, "a deleted run is forgotten");
        let r = &runs[0];
        assert_eq!(
            (r.run_id.as_str(), r.run_name.as_deref(), r.user.as_deref()),
            ("r1", Some("bright-fox"), Some("ana"))
        );
        assert_eq!(r.tags, vec!["team=ml"]);
        assert_eq!(Value::Object(r.config.clone()), json!({"lr": 0.001, "opt": "adam", "epochs": 3}));
        assert_eq!(r.latest["loss"], MetricCursor { step: 2, timestamp: 2000 });
        assert!(parse_runs(&json!({"runs": [{"data": {}}]})).is_err());
        assert_eq!(parse_runs(&json!({})).unwrap().0, vec![]);
    }

    #[test]
    fn reads_history_with_non_finite_values() {
        let (points, next) = parse_history(&json!({"metrics": [
            {"key": "loss", "value": 1.5, "timestamp": "10", "step": "1"},
            {"key": "loss", "value": "NaN", "timestamp": 11, "step": 2}
        ]}))
        .unwrap();
        assert_eq!(next, None);
        assert_eq!((points[0].step, points[0].timestamp, points[0].value), (1, 10, 1.5));
        assert!(points[1].value.is_nan());
    }

    #[test]
    fn statuses_map_to_states() {
        assert_eq!(run_state("RUNNING"), Some(RunState::Running));
        assert_eq!(run_state("FINISHED"), Some(RunState::Finished));
        assert_eq!(run_state("FAILED"), Some(RunState::Failed));
        assert_eq!(run_state("KILLED"), Some(RunState::Killed));
        assert_eq!(run_state("SCHEDULED"), Some(RunState::Pending));
        assert_eq!(run_state("LATER"), None);
    }

    fn history(points: &[(i64, f64)]) -> Vec<Point> {
        points.iter().map(|&(step, value)| Point { step, timestamp: 1000 + step, value }).collect()
    }

    #[test]
    fn forwards_what_is_past_the_cursor_once() {
        let (runs, _) = parse_runs(&search_page()).unwrap();
        let run = &runs[0];
        let fresh = RunCursor::default();
        assert_eq!(moved_metrics(run, &fresh), vec!["loss", "system/cpu"]);
        let hist = BTreeMap::from([("loss".to_string(), history(&[(0, 1.0), (1, 0.8), (2, 0.5)]))]);
        let u = run_envelopes(&TARGET, "mnist", run, &fresh, &hist, Timestamp(5000));
        let ids: Vec<_> = u.envelopes.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, vec!["r1/state/RUNNING/1000", "r1/loss/0-2"]);
        assert!(u.envelopes.iter().all(|e| e.source == "mlflow:mlflow-local"));
        let EventData::Metrics(m) = &u.envelopes[1].data else { panic!() };
        assert_eq!(m.run.key.project, "mnist");
        assert_eq!(m.rows[2].time, Some(Timestamp(1002)));
        assert_eq!(u.envelopes[1].time, Timestamp(1002));
        // The cursor takes the latest MLflow reported even when the history lagged behind it.
        assert_eq!(u.cursor.metrics["loss"], MetricCursor { step: 2, timestamp: 2000 });
        assert_eq!(u.cursor.status.as_deref(), Some("RUNNING"));
        // The same answer again: nothing moved, nothing fetched, nothing forwarded.
        assert_eq!(moved_metrics(run, &u.cursor), vec!["system/cpu"]);
        let again = run_envelopes(&TARGET, "mnist", run, &u.cursor, &BTreeMap::new(), Timestamp(6000));
        assert!(again.envelopes.is_empty());
        // A repeated poll from the old cursor (a crash before it was saved) makes the same ids.
        let repeat = run_envelopes(&TARGET, "mnist", run, &fresh, &hist, Timestamp(7000));
        assert_eq!(repeat.envelopes, u.envelopes);
    }

    #[test]
    fn an_ended_run_sends_its_last_values_then_its_state() {
        let (mut runs, _) = parse_runs(&search_page()).unwrap();
        let mut run = runs.remove(0);
        let cursor = RunCursor {
            status: Some("RUNNING".into()),
            metrics: BTreeMap::from([("loss".into(), MetricCursor { step: 1, timestamp: 1001 })]),
        };
        run.status = "FAILED".into();
        run.end_time = Some(9000);
        let hist = BTreeMap::from([("loss".to_string(), history(&[(0, 1.0), (1, 0.8), (2, 0.5), (2, 0.7)]))]);
        let u = run_envelopes(&TARGET, "mnist", &run, &cursor, &hist, Timestamp(5000));
        let ids: Vec<_> = u.envelopes.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, vec!["r1/loss/2-2", "r1/state/FAILED/9000"]);
        let EventData::RunState(s) = &u.envelopes[1].data else { panic!() };
        assert_eq!((s.state, s.previous), (RunState::Failed, Some(RunState::Running)));
        let EventData::Metrics(m) = &u.envelopes[0].data else { panic!() };
        assert_eq!(m.rows.len(), 1, "a step logged twice is taken once");
        assert_eq!(m.row_values(&m.rows[0]), &[(0, 0.5)]);
    }

    #[test]
    fn long_histories_are_split() {
        let (runs, _) = parse_runs(&search_page()).unwrap();
        let points: Vec<(i64, f64)> = (0..2500).map(|s| (s, s as f64)).collect();
        let hist = BTreeMap::from([("loss".to_string(), history(&points))]);
        let u = run_envelopes(&TARGET, "p", &runs[0], &RunCursor::default(), &hist, Timestamp(0));
        let ids: Vec<_> = u.envelopes.iter().skip(1).map(|e| e.id.as_str()).collect();
        assert_eq!(ids, vec!["r1/loss/0-999", "r1/loss/1000-1999", "r1/loss/2000-2499"]);
        assert_eq!(u.cursor.metrics["loss"].step, 2499);
    }

    #[test]
    fn ended_search_starts_before_the_last_poll() {
        assert_eq!(ended_since(None, Timestamp(1_000_000)), 1_000_000 - ENDED_MARGIN_MS);
        assert_eq!(ended_since(Some(Timestamp(2_000_000)), Timestamp(1)), 2_000_000 - ENDED_MARGIN_MS);
        assert_eq!(run_filters(5)[1], "attributes.end_time >= 5");
    }
}
