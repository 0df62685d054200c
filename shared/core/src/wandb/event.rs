//! W&B's `triggeringEventType` and `eventFilter` to this product's `event`.
//!
//! The event filter arrives as JSON in a string (or already decoded). For artifact events it is
//! a filter expression, possibly in the saved form `{"filter": "<expression as JSON>"}` that
//! W&B's API answers with; for run events it is an object holding the run filter (JSON in a
//! string again) and the metric or state condition.

use crate::error::{Errors, join_path};
use serde_json::{Map, Value, json};

use super::filter::{Fields, convert};
use super::metric::{self, Kind};
use super::read::{decoded, deny_unknown, field, kind, object, req_str};

const FILTER_PATH: &str = "input.eventFilter";

/// What a W&B event type is here.
enum Target {
    /// An artifact or collection event, by this product's name.
    Artifact(&'static str),
    Metric(Kind),
    State,
}

/// Convert the event of `input` (the W&B input object at path `input`).
pub(super) fn event(input: &Map<String, Value>, errors: &mut Errors) -> Option<Value> {
    let ty = req_str(input, "triggeringEventType", "input", errors)?;
    let Some(target) = target(ty) else {
        errors.push("input.triggeringEventType", refusal(ty));
        return None;
    };
    let filter = match field(input, "eventFilter") {
        Some(v) => Some(unwrap_saved(decoded(v, FILTER_PATH, errors)?, errors)?),
        None => None,
    };
    match target {
        Target::Artifact(name) => {
            let mut out = Map::new();
            out.insert("type".into(), name.into());
            if let Some((expr, path)) = filter {
                out.insert("filter".into(), convert(&expr, Fields::Artifact, &path, errors));
            }
            Some(Value::Object(out))
        }
        Target::Metric(_) | Target::State => {
            let Some((doc, path)) = filter else {
                errors.push(FILTER_PATH, format!("is required for a {ty} event: it holds the condition"));
                return None;
            };
            run_event(ty, target, &doc, &path, errors)
        }
    }
}

fn target(ty: &str) -> Option<Target> {
    Some(match ty {
        "CREATE_ARTIFACT" => Target::Artifact("CREATE_ARTIFACT"),
        // The library's LINK_ARTIFACT goes on the wire as W&B's older name, LINK_MODEL.
        "LINK_MODEL" | "LINK_ARTIFACT" => Target::Artifact("LINK_ARTIFACT"),
        "UNLINK_ARTIFACT" => Target::Artifact("UNLINK_ARTIFACT"),
        "ADD_ARTIFACT_ALIAS" => Target::Artifact("ADD_ARTIFACT_ALIAS"),
        "ADD_ARTIFACT_TAG" => Target::Artifact("ADD_ARTIFACT_TAG"),
        "REMOVE_ARTIFACT_TAG" => Target::Artifact("REMOVE_ARTIFACT_TAG"),
        "ADD_COLLECTION_TAG" => Target::Artifact("ADD_COLLECTION_TAG"),
        "REMOVE_COLLECTION_TAG" => Target::Artifact("REMOVE_COLLECTION_TAG"),
        // RUN_METRIC is W&B's wire name, RUN_METRIC_THRESHOLD the library's public one.
        "RUN_METRIC" | "RUN_METRIC_THRESHOLD" => Target::Metric(Kind::Threshold),
        "RUN_METRIC_CHANGE" => Target::Metric(Kind::Change),
        "RUN_METRIC_ZSCORE" => Target::Metric(Kind::ZScore),
        "RUN_STATE" => Target::State,
        _ => return None,
    })
}

fn refusal(ty: &str) -> String {
    match ty {
        "UPDATE_ARTIFACT_ALIAS" => "W&B's legacy UPDATE_ARTIFACT_ALIAS, which W&B no longer lets automations \
             use either, is not supported: use ADD_ARTIFACT_ALIAS"
            .into(),
        "WEAVE_METRIC_THRESHOLD" => "W&B's WEAVE_METRIC_THRESHOLD (a metric of a W&B Weave \
             application) has no counterpart here: this product watches artifact, collection and \
             run events"
            .into(),
        other => format!(
            "unknown W&B event type {other:?} (known: CREATE_ARTIFACT, LINK_MODEL, UNLINK_ARTIFACT, \
             ADD_ARTIFACT_ALIAS, ADD_ARTIFACT_TAG, REMOVE_ARTIFACT_TAG, ADD_COLLECTION_TAG, \
             REMOVE_COLLECTION_TAG, RUN_METRIC, RUN_METRIC_CHANGE, RUN_METRIC_ZSCORE, RUN_STATE)"
        ),
    }
}

/// Take the filter out of W&B's saved form `{"filter": ...}`, and say the path it now has.
///
/// No filter of either kind has a single key `filter` otherwise: it is not a field of any event
/// here, and run-event filters have their own keys.
fn unwrap_saved(doc: Value, errors: &mut Errors) -> Option<(Value, String)> {
    if let Value::Object(m) = &doc
        && m.len() == 1
        && let Some(inner @ (Value::String(_) | Value::Object(_))) = m.get("filter")
    {
        let path = join_path(FILTER_PATH, "filter");
        let inner = decoded(inner, &path, errors)?;
        return Some((inner, path));
    }
    Some((doc, FILTER_PATH.to_string()))
}

/// A run event: W&B's `{"run_filter", "run_metric_filter" | "metric_filter" | "run_state_filter"}`.
fn run_event(ty: &str, target: Target, doc: &Value, path: &str, errors: &mut Errors) -> Option<Value> {
    let m = object(doc, path, errors)?;
    deny_unknown(
        m,
        &["run_filter", "run_metric_filter", "metric_filter", "run_state_filter"],
        path,
        "a W&B run event filter",
        errors,
    );
    let mut out = Map::new();
    if let Some(v) = field(m, "run_filter") {
        let here = join_path(path, "run_filter");
        if let Some(expr) = decoded(v, &here, errors) {
            out.insert("run_filter".into(), convert(&expr, Fields::Run, &here, errors));
        }
    }
    match target {
        Target::State => {
            for key in ["run_metric_filter", "metric_filter"] {
                if field(m, key).is_some() {
                    errors.push(join_path(path, key), format!("does not go with a {ty} event"));
                }
            }
            out.insert("type".into(), "RUN_STATE".into());
            let states = states(m, path, errors)?;
            out.insert("states".into(), states);
        }
        Target::Metric(want) => {
            if field(m, "run_state_filter").is_some() {
                errors.push(join_path(path, "run_state_filter"), format!("does not go with a {ty} event"));
            }
            let metric = metric_condition(ty, want, m, path, errors)?;
            let native = match want {
                Kind::Threshold => "RUN_METRIC_THRESHOLD",
                Kind::Change => "RUN_METRIC_CHANGE",
                Kind::ZScore => "RUN_METRIC_ZSCORE",
            };
            out.insert("type".into(), native.into());
            out.insert("metric".into(), metric);
        }
        Target::Artifact(_) => unreachable!("artifact events have no run filter"),
    }
    Some(Value::Object(out))
}

/// The metric condition: `run_metric_filter`, or else the legacy `metric_filter` (a threshold
/// filter as JSON in a string), which W&B's older clients sent and the library still declares.
/// When both are there, `run_metric_filter` is the one W&B reads.
fn metric_condition(ty: &str, want: Kind, m: &Map<String, Value>, path: &str, errors: &mut Errors) -> Option<Value> {
    if let Some(v) = field(m, "run_metric_filter") {
        let (got, metric) = metric::run_metric_filter(v, &join_path(path, "run_metric_filter"), errors)?;
        if got != want {
            errors.push(
                join_path(&join_path(path, "run_metric_filter"), got.key()),
                format!("goes with a {} event, not {ty}", got.wandb_event()),
            );
            return None;
        }
        return Some(metric);
    }
    let Some(legacy) = field(m, "metric_filter") else {
        errors.push(join_path(path, "run_metric_filter"), format!("is required for a {ty} event"));
        return None;
    };
    let here = join_path(path, "metric_filter");
    if want != Kind::Threshold {
        errors.push(&here, format!("is a threshold filter, which goes with a RUN_METRIC event, not {ty}"));
        return None;
    }
    let legacy = decoded(legacy, &here, errors)?;
    metric::metric(Kind::Threshold, &legacy, &here, errors)
}

/// `run_state_filter.states`: W&B's coarse states to this product's run states.
fn states(m: &Map<String, Value>, path: &str, errors: &mut Errors) -> Option<Value> {
    let here = join_path(path, "run_state_filter");
    let Some(filter) = field(m, "run_state_filter") else {
        errors.push(&here, "is required for a RUN_STATE event");
        return None;
    };
    let filter = object(filter, &here, errors)?;
    deny_unknown(filter, &["states"], &here, "a W&B run state filter", errors);
    let here = join_path(&here, "states");
    let items = match field(filter, "states") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(Value::Array(_)) => {
            errors.push(&here, "must name at least one state: an automation on no state never fires");
            return None;
        }
        Some(other) => {
            errors.push(&here, format!("must be an array of run states, not {}", kind(other)));
            return None;
        }
        None => {
            errors.push(&here, "is required");
            return None;
        }
    };
    let mut out: Vec<&str> = Vec::new();
    for (i, s) in items.iter().enumerate() {
        // W&B's FAILED is its coarse state for runs that failed or crashed (SPEC section 3).
        let native: &[&str] = match s.as_str() {
            Some("RUNNING") => &["running"],
            Some("FINISHED") => &["finished"],
            Some("FAILED") => &["failed", "crashed"],
            _ => {
                errors
                    .push(join_path(&here, &format!("[{i}]")), format!("must be RUNNING, FINISHED or FAILED, not {s}"));
                continue;
            }
        };
        for n in native {
            if !out.contains(n) {
                out.push(n);
            }
        }
    }
    Some(json!(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(input: Value) -> Result<Value, Vec<(String, String)>> {
        let mut errors = Errors::default();
        let out = event(input.as_object().unwrap(), &mut errors);
        match errors.finish(()) {
            Ok(()) => Ok(out.expect("no errors but no result")),
            Err(e) => Err(e.errors.into_iter().map(|e| (e.path, e.message)).collect()),
        }
    }

    fn ev(ty: &str, filter: Value) -> Value {
        json!({"triggeringEventType": ty, "eventFilter": filter})
    }

    #[test]
    fn artifact_filters_are_kept_in_every_form() {
        let expr = json!({"$or": [{"$and": [{"alias": {"$eq": "prod"}}]}]});
        let want = json!({"type": "LINK_ARTIFACT", "filter": expr});
        assert_eq!(conv(ev("LINK_MODEL", json!(expr.to_string()))).unwrap(), want);
        assert_eq!(conv(ev("LINK_ARTIFACT", expr.clone())).unwrap(), want);
        // The saved form, with the expression as a string or decoded.
        let saved = json!({"filter": expr.to_string()});
        assert_eq!(conv(ev("LINK_MODEL", json!(saved.to_string()))).unwrap(), want);
        assert_eq!(conv(ev("LINK_MODEL", json!({"filter": expr}))).unwrap(), want);
        // No filter at all matches every event.
        assert_eq!(
            conv(json!({"triggeringEventType": "CREATE_ARTIFACT"})).unwrap(),
            json!({"type": "CREATE_ARTIFACT"})
        );
    }

    #[test]
    fn saved_form_errors_name_the_inner_path() {
        let saved = json!({"filter": json!({"$or": [{"tag": {"$size": 1}}]}).to_string()});
        let e = conv(ev("ADD_ARTIFACT_TAG", json!(saved.to_string()))).unwrap_err();
        assert_eq!(e[0].0, "input.eventFilter.filter.$or[0].tag.$size");
        let e = conv(ev("ADD_ARTIFACT_TAG", json!({"filter": "{"}))).unwrap_err();
        assert_eq!(e[0].0, "input.eventFilter.filter");
        let e = conv(ev("ADD_ARTIFACT_TAG", json!("not json"))).unwrap_err();
        assert_eq!(e[0].0, "input.eventFilter");
    }

    #[test]
    fn run_metric_events_read_the_run_filter_string_and_the_condition() {
        let filter = json!({
            "run_filter": "{\"$and\":[{\"displayName\":{\"$contains\":\"x\"}}]}",
            "run_metric_filter": {"threshold_filter": {"name": "loss", "agg_op": "AVERAGE", "window_size": 5, "cmp_op": "$gt", "threshold": 0.5}},
            "metric_filter": null
        });
        let out = conv(ev("RUN_METRIC", json!(filter.to_string()))).unwrap();
        assert_eq!(
            out,
            json!({"type": "RUN_METRIC_THRESHOLD",
                   "run_filter": {"$and": [{"display_name": {"$contains": "x"}}]},
                   "metric": {"name": "loss", "agg": "AVERAGE", "window": 5, "cmp": "$gt", "threshold": 0.5}})
        );
    }

    #[test]
    fn legacy_metric_filter_is_a_threshold_used_only_alone() {
        let legacy =
            json!({"name": "loss", "agg_op": null, "window_size": 1, "cmp_op": "$lt", "threshold": 2}).to_string();
        let out = conv(ev("RUN_METRIC", json!({"metric_filter": legacy}))).unwrap();
        assert_eq!(
            out,
            json!({"type": "RUN_METRIC_THRESHOLD", "metric": {"name": "loss", "window": 1, "cmp": "$lt", "threshold": 2}})
        );
        let both = json!({"metric_filter": legacy, "run_metric_filter": {"threshold_filter": {"name": "acc", "cmp_op": "$gt", "threshold": 1}}});
        assert_eq!(conv(ev("RUN_METRIC", both)).unwrap()["metric"]["name"], "acc");
        let e = conv(ev("RUN_METRIC_CHANGE", json!({"metric_filter": legacy}))).unwrap_err();
        assert_eq!(e[0].0, "input.eventFilter.metric_filter");
    }

    #[test]
    fn a_condition_of_another_kind_than_the_event_is_refused() {
        let filter = json!({"run_metric_filter": {"zscore_filter": {"name": "loss"}}});
        let e = conv(ev("RUN_METRIC", filter)).unwrap_err();
        assert_eq!(e[0].0, "input.eventFilter.run_metric_filter.zscore_filter");
        assert!(e[0].1.contains("RUN_METRIC_ZSCORE"));
        let e = conv(ev("RUN_METRIC_ZSCORE", json!({"run_state_filter": {"states": ["FAILED"]}}))).unwrap_err();
        assert_eq!(e[0].0, "input.eventFilter.run_state_filter");
        let e = conv(json!({"triggeringEventType": "RUN_STATE"})).unwrap_err();
        assert_eq!(e[0].0, "input.eventFilter");
    }

    #[test]
    fn run_states_map_failed_to_failed_and_crashed() {
        let filter =
            json!({"run_filter": "{\"$and\":[]}", "run_state_filter": {"states": ["FAILED", "RUNNING", "FAILED"]}});
        let out = conv(ev("RUN_STATE", json!(filter.to_string()))).unwrap();
        assert_eq!(
            out,
            json!({"type": "RUN_STATE", "run_filter": {"$and": []}, "states": ["failed", "crashed", "running"]})
        );
        let e = conv(ev("RUN_STATE", json!({"run_state_filter": {"states": []}}))).unwrap_err();
        assert_eq!(e[0].0, "input.eventFilter.run_state_filter.states");
        let e = conv(ev("RUN_STATE", json!({"run_state_filter": {"states": ["FINISHED", "killed"]}}))).unwrap_err();
        assert_eq!(e[0].0, "input.eventFilter.run_state_filter.states[1]");
    }

    #[test]
    fn unknown_and_legacy_event_types_are_refused() {
        for (ty, word) in [
            ("UPDATE_ARTIFACT_ALIAS", "ADD_ARTIFACT_ALIAS"),
            ("WEAVE_METRIC_THRESHOLD", "Weave"),
            ("RUN_DELETED", "unknown"),
        ] {
            let e = conv(json!({"triggeringEventType": ty})).unwrap_err();
            assert_eq!(e[0].0, "input.triggeringEventType");
            assert!(e[0].1.contains(word), "{ty}: {}", e[0].1);
        }
        let e = conv(ev("RUN_STATE", json!({"run_state_filter": {"states": ["FAILED"]}, "extra": 1}))).unwrap_err();
        assert_eq!(e[0].0, "input.eventFilter.extra");
    }
}
