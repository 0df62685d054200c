//! This product's automations in W&B's shapes: the `createFilterTrigger` input the W&B library
//! would have sent for it, and the saved `Trigger` it expects back (issue 17).
//!
//! Only what W&B's model expresses exactly is exported. The test is the importer itself: an
//! automation is exported when importing its export gives the same automation back, and when
//! the W&B library can read every part of it (its filter operators, a payload that is a JSON
//! object). Anything else is [`Unrepresentable`]: the W&B library either fails on a whole page
//! that holds it or shows it with an empty filter, which its next update would save.

use super::{Integrations, import};
use crate::model::{Automation, TriggerKind};
use serde_json::{Map, Value, json};
use std::fmt;

/// The W&B parts of one automation.
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    /// W&B's wire name of the event (`LINK_MODEL`, `RUN_METRIC`, ...).
    pub event_type: &'static str,
    /// `eventFilter` as the W&B library sends it in a create.
    pub event_filter: String,
    /// `triggeringCondition.filter` as W&B answers it: artifact filters are wrapped once more,
    /// run-event filters are the input as it is.
    pub saved_filter: String,
    /// What the automation does, in W&B's terms.
    pub action: ExportAction,
}

/// W&B's action, with this product's integration names (the caller maps them to ids).
#[derive(Debug, Clone, PartialEq)]
pub enum ExportAction {
    /// `GENERIC_WEBHOOK`: a webhook action.
    Webhook {
        /// The webhook integration's name.
        integration: String,
        /// The payload template (a JSON object's text); `None` when the action has none.
        payload: Option<String>,
    },
    /// `NOTIFICATION`: a Slack action.
    Notification {
        /// The Slack integration's name.
        integration: String,
        /// The message's title.
        title: String,
        /// The message's text.
        message: String,
        /// `INFO`, `WARN` or `ERROR` (`WARN` unless the action says otherwise).
        severity: &'static str,
    },
    /// `NO_OP`: the `none` action.
    NoOp,
}

impl ExportAction {
    /// The integration the action goes through; `None` for [`ExportAction::NoOp`].
    pub fn integration(&self) -> Option<&str> {
        match self {
            ExportAction::Webhook { integration, .. } | ExportAction::Notification { integration, .. } => {
                Some(integration)
            }
            ExportAction::NoOp => None,
        }
    }
}

/// Why an automation has no W&B form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrepresentable(pub String);

impl fmt::Display for Unrepresentable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The operators W&B's filter model (`wandb._filters.operators`, 0.31.0) parses. `$options`
/// is not one: a case-insensitive `$regex` has no W&B form.
const WANDB_OPERATORS: &[&str] = &[
    "$and",
    "$or",
    "$nor",
    "$not",
    "$lt",
    "$gt",
    "$lte",
    "$gte",
    "$eq",
    "$ne",
    "$in",
    "$nin",
    "$exists",
    "$regex",
    "$contains",
];

/// What the W&B library sends for "no filter": an artifact event's, and a run event's run filter.
const NO_ARTIFACT_FILTER: &str = r#"{"$or":[{"$and":[]}]}"#;
const NO_RUN_FILTER: &str = r#"{"$and":[]}"#;

/// The W&B form of `a`, or why it has none.
pub fn export(a: &Automation) -> Result<Export, Unrepresentable> {
    let doc = a.to_document();
    let exported = export_document(&doc)?;
    // The importer is the definition of what each W&B shape means here: what it reads back
    // must be this automation, or the W&B view would show something else than what runs.
    let back = import(&import_document(&doc, &exported), Integrations::Lenient)
        .map_err(|e| Unrepresentable(format!("its W&B form does not import: {e}")))?;
    let back = Automation::from_create(a.id.as_str(), &back)
        .map_err(|e| Unrepresentable(format!("its W&B form is not valid here: {e}")))?;
    if comparable(back.to_document()) != comparable(doc) {
        return Err(Unrepresentable("W&B's model cannot express it exactly".into()));
    }
    Ok(exported)
}

/// The `createFilterTrigger` input for `exported`, with integration names for ids, under the
/// import document's `scope`; what [`export`] reads back.
fn import_document(doc: &Value, e: &Export) -> Value {
    let mut input = Map::new();
    input.insert("name".into(), doc["name"].clone());
    if let Some(d) = doc.get("description") {
        input.insert("description".into(), d.clone());
    }
    input.insert("enabled".into(), doc["enabled"].clone());
    input.insert("triggeringEventType".into(), e.event_type.into());
    input.insert("eventFilter".into(), e.event_filter.clone().into());
    let (ty, config) = action_input(&e.action, |name| name.to_string());
    input.insert("triggeredActionType".into(), ty.into());
    input.insert("triggeredActionConfig".into(), config);
    json!({"scope": doc["scope"], "input": input})
}

/// `triggeredActionType` and `triggeredActionConfig` for `action`, its integration named by
/// `id_of`.
pub fn action_input(action: &ExportAction, id_of: impl Fn(&str) -> String) -> (&'static str, Value) {
    match action {
        ExportAction::Webhook { integration, payload } => {
            let mut inner = Map::new();
            inner.insert("integrationID".into(), id_of(integration).into());
            if let Some(p) = payload {
                inner.insert("requestPayload".into(), p.clone().into());
            }
            ("GENERIC_WEBHOOK", json!({"genericWebhookActionInput": inner}))
        }
        ExportAction::Notification { integration, title, message, severity } => (
            "NOTIFICATION",
            json!({"notificationActionInput": {
                "integrationID": id_of(integration), "title": title, "message": message, "severity": severity,
            }}),
        ),
        ExportAction::NoOp => ("NO_OP", json!({"noOpActionInput": {"noOp": true}})),
    }
}

fn export_document(doc: &Value) -> Result<Export, Unrepresentable> {
    if doc["scope"]["type"] == "entity" {
        // W&B's team and organization scopes need a server feature this product does not
        // announce (the library then refuses ENTITY scopes itself).
        return Err(Unrepresentable("an entity scope has no W&B form served here".into()));
    }
    let event = &doc["event"];
    let ty = event["type"].as_str().unwrap_or_default();
    let (event_type, event_filter, saved_filter) = match ty {
        "RUN_STATE" | "RUN_METRIC_THRESHOLD" | "RUN_METRIC_CHANGE" | "RUN_METRIC_ZSCORE" => {
            let filter = run_event_filter(ty, event)?;
            (wire_name(ty), filter.clone(), filter)
        }
        _ => {
            let filter = match event.get("filter") {
                Some(f) => {
                    readable(f, "event.filter")?;
                    f.to_string()
                }
                None => NO_ARTIFACT_FILTER.to_string(),
            };
            let saved = json!({"filter": filter}).to_string();
            (wire_name(ty), filter, saved)
        }
    };
    Ok(Export { event_type, event_filter, saved_filter, action: action(&doc["action"])? })
}

/// W&B's wire name of an event type: this product's, but for two older names W&B keeps.
fn wire_name(ty: &str) -> &'static str {
    match TriggerKind::parse(ty) {
        Some(TriggerKind::LinkArtifact) => "LINK_MODEL",
        Some(TriggerKind::RunMetricThreshold) => "RUN_METRIC",
        Some(kind) => kind.as_str(),
        // `to_document` writes only known types.
        None => "UNKNOWN",
    }
}

/// W&B's `{"run_filter": "<JSON>", "run_metric_filter" | "run_state_filter": ...}`, as the W&B
/// library writes it (key order included, so its round trip is byte-identical).
fn run_event_filter(ty: &str, event: &Value) -> Result<String, Unrepresentable> {
    let run_filter = match event.get("run_filter") {
        Some(f) => {
            readable(f, "event.run_filter")?;
            wandb_run_fields(f).to_string()
        }
        None => NO_RUN_FILTER.to_string(),
    };
    let mut out = Map::new();
    out.insert("run_filter".into(), run_filter.into());
    if ty == "RUN_STATE" {
        let mut states = Vec::new();
        for s in event["states"].as_array().into_iter().flatten() {
            let wandb = match s.as_str() {
                Some("running") => "RUNNING",
                Some("finished") => "FINISHED",
                // W&B's FAILED is failed and crashed at once; one without the other fails the
                // round trip in `export`.
                Some("failed" | "crashed") => "FAILED",
                other => return Err(Unrepresentable(format!("W&B has no run state for {other:?}"))),
            };
            if !states.contains(&wandb) {
                states.push(wandb);
            }
        }
        // The W&B library sorts them.
        states.sort_unstable();
        out.insert("run_state_filter".into(), json!({"states": states}));
        return Ok(Value::Object(out).to_string());
    }
    let m = &event["metric"];
    let agg = m.get("agg").cloned().unwrap_or(Value::Null);
    let (key, filter) = match ty {
        "RUN_METRIC_THRESHOLD" => {
            let cmp = m["cmp"].as_str().unwrap_or_default();
            if !matches!(cmp, "$gt" | "$gte" | "$lt" | "$lte") {
                return Err(Unrepresentable(format!("W&B's threshold filter has no {cmp} comparison")));
            }
            let f = json!({"name": m["name"], "agg_op": agg, "window_size": m["window"], "cmp_op": cmp,
                           "threshold": number(&m["threshold"])});
            ("threshold_filter", f)
        }
        "RUN_METRIC_CHANGE" => {
            let f = json!({"name": m["name"], "agg_op": agg, "current_window_size": m["current_window"],
                           "change_amount": number(&m["amount"]), "prior_window_size": m["prior_window"],
                           "change_type": m["change_type"], "change_dir": m["change_dir"]});
            ("change_filter", f)
        }
        _ => {
            let f = json!({"name": m["name"], "window_size": m["window"], "threshold": number(&m["threshold"]),
                           "change_dir": m["change_dir"]});
            ("zscore_filter", f)
        }
    };
    out.insert("run_metric_filter".into(), json!({ key: filter }));
    out.insert("metric_filter".into(), Value::Null);
    Ok(Value::Object(out).to_string())
}

fn action(a: &Value) -> Result<ExportAction, Unrepresentable> {
    let integration = a["integration"].as_str().unwrap_or_default().to_string();
    Ok(match a["type"].as_str() {
        Some("webhook") => {
            let payload = a.get("payload").and_then(Value::as_str).map(str::to_string);
            if let Some(p) = &payload
                && !matches!(serde_json::from_str::<Value>(p), Ok(Value::Object(_)))
            {
                // W&B's requestPayload is a JSON object; the library fails its whole listing
                // on anything else (an unquoted `${metric_values}`, say).
                return Err(Unrepresentable("its payload template is not a JSON object".into()));
            }
            ExportAction::Webhook { integration, payload }
        }
        Some("slack") => ExportAction::Notification {
            integration,
            title: a["title"].as_str().unwrap_or_default().to_string(),
            message: a["message"].as_str().unwrap_or_default().to_string(),
            severity: match a["severity"].as_str() {
                Some("INFO") => "INFO",
                Some("ERROR") => "ERROR",
                _ => "WARN",
            },
        },
        _ => ExportAction::NoOp,
    })
}

/// Every operator of `filter` is one the W&B library parses, and every field condition is an
/// object of operators (W&B's model has no bare-value equality).
fn readable(filter: &Value, at: &str) -> Result<(), Unrepresentable> {
    fn expression(v: &Value, at: &str) -> Result<(), Unrepresentable> {
        let Value::Object(m) = v else { return Err(Unrepresentable(format!("{at} is not an object"))) };
        for (k, operand) in m {
            match k.as_str() {
                "$and" | "$or" | "$nor" => {
                    for item in operand.as_array().into_iter().flatten() {
                        expression(item, at)?;
                    }
                }
                "$not" => expression(operand, at)?,
                op if op.starts_with('$') => return Err(unknown(op, at)),
                _ => condition(operand, at)?,
            }
        }
        Ok(())
    }
    fn condition(v: &Value, at: &str) -> Result<(), Unrepresentable> {
        let Value::Object(ops) = v else {
            return Err(Unrepresentable(format!("{at} tests a field by value, which W&B writes as $eq")));
        };
        for (op, arg) in ops {
            if !WANDB_OPERATORS.contains(&op.as_str()) {
                return Err(unknown(op, at));
            }
            if op == "$not" {
                condition(arg, at)?;
            }
        }
        Ok(())
    }
    fn unknown(op: &str, at: &str) -> Unrepresentable {
        Unrepresentable(format!("{at} uses {op}, which W&B's filters do not have"))
    }
    expression(filter, at)
}

/// A run filter with W&B's field names. The library writes this product's names (`display_name`,
/// `config.KEY`) but for the run id, which is W&B's `name` (the importer's reading of both).
fn wandb_run_fields(expr: &Value) -> Value {
    let Value::Object(m) = expr else { return expr.clone() };
    let mut out = Map::new();
    for (k, v) in m {
        let value = match k.as_str() {
            "$and" | "$or" | "$nor" => Value::Array(v.as_array().into_iter().flatten().map(wandb_run_fields).collect()),
            "$not" => wandb_run_fields(v),
            _ => v.clone(),
        };
        out.insert(if k == "run_id" { "name".into() } else { k.clone() }, value);
    }
    Value::Object(out)
}

/// A number as the library writes one the user typed whole: `1`, not `1.0`.
fn number(v: &Value) -> Value {
    match v.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(f as i64),
        _ => v.clone(),
    }
}

/// `doc` as far as its meaning goes: no match-all filters, run states as a set.
fn comparable(doc: Value) -> Value {
    let mut doc = without_match_all(doc);
    if let Some(Value::Array(states)) = doc.pointer_mut("/event/states") {
        states.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        states.dedup();
    }
    doc
}

/// `doc` without filters that match everything, which the W&B library always writes out
/// (`{"$or":[{"$and":[]}]}`, `{"$and":[]}`) and this product leaves out.
pub fn without_match_all(mut doc: Value) -> Value {
    if let Some(Value::Object(event)) = doc.get_mut("event") {
        for key in ["filter", "run_filter"] {
            if event.get(key).is_some_and(matches_all) {
                event.remove(key);
            }
        }
    }
    doc
}

/// `{}`, `{"$and": []}`, or an `$and`/`$or` of exactly one filter that matches everything.
fn matches_all(v: &Value) -> bool {
    let Value::Object(m) = v else { return false };
    if m.is_empty() {
        return true;
    }
    if m.len() != 1 {
        return false;
    }
    match (m.get("$and"), m.get("$or")) {
        (Some(Value::Array(items)), _) => items.iter().all(matches_all),
        (_, Some(Value::Array(items))) => items.len() == 1 && matches_all(&items[0]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn automation(doc: Value) -> Automation {
        Automation::from_create("au_1", &doc).unwrap()
    }

    fn metric(metric: Value) -> Value {
        json!({"name": "m", "scope": {"type": "project", "entity": "acme", "project": "p"},
               "event": {"type": "RUN_METRIC_THRESHOLD", "metric": metric},
               "action": {"type": "none"}})
    }

    #[test]
    fn a_threshold_exports_as_the_library_writes_it() {
        let a =
            automation(metric(json!({"name": "loss", "agg": "AVERAGE", "window": 5, "cmp": "$gt", "threshold": 0.5})));
        let e = export(&a).unwrap();
        assert_eq!(e.event_type, "RUN_METRIC");
        // The reference's input, byte for byte.
        assert_eq!(
            e.event_filter,
            r#"{"run_filter":"{\"$and\":[]}","run_metric_filter":{"threshold_filter":{"name":"loss","agg_op":"AVERAGE","window_size":5,"cmp_op":"$gt","threshold":0.5}},"metric_filter":null}"#
        );
        assert_eq!(e.saved_filter, e.event_filter);
        assert_eq!(e.action, ExportAction::NoOp);
    }

    #[test]
    fn what_wandb_cannot_say_is_unrepresentable() {
        for cmp in ["$eq", "$ne"] {
            let a = automation(metric(json!({"name": "loss", "cmp": cmp, "threshold": 1})));
            assert!(export(&a).unwrap_err().0.contains(cmp));
        }
        let mut doc = metric(json!({"name": "loss", "cmp": "$gt", "threshold": 1}));
        doc["event"]["cooldown"] = json!(3600);
        assert!(export(&automation(doc)).is_err(), "a cooldown other than 24 h");
        let state = |states: Value| {
            json!({"name": "s", "scope": {"type": "project", "entity": "acme", "project": "p"},
                   "event": {"type": "RUN_STATE", "states": states}, "action": {"type": "none"}})
        };
        assert!(export(&automation(state(json!(["failed"])))).is_err(), "failed without crashed");
        assert!(export(&automation(state(json!(["pending"])))).is_err());
        let e = export(&automation(state(json!(["finished", "crashed", "failed"])))).unwrap();
        assert_eq!(
            e.event_filter,
            r#"{"run_filter":"{\"$and\":[]}","run_state_filter":{"states":["FAILED","FINISHED"]}}"#
        );
        let alias = |filter: Value, action: Value| {
            json!({"name": "a", "scope": {"type": "registry", "entity": "acme", "registry": "models"},
                   "event": {"type": "ADD_ARTIFACT_ALIAS", "filter": filter}, "action": action})
        };
        let none = json!({"type": "none"});
        assert!(export(&automation(alias(json!({"alias": "prod"}), none.clone()))).unwrap_err().0.contains("by value"));
        assert!(
            export(&automation(alias(json!({"alias": {"$regex": "^p", "$options": "i"}}), none.clone())))
                .unwrap_err()
                .0
                .contains("$options")
        );
        let hook = |payload: &str| json!({"type": "webhook", "integration": "h", "payload": payload});
        let regex = json!({"alias": {"$regex": "^prod$"}});
        assert!(export(&automation(alias(regex.clone(), hook(r#"{"v": ${metric_values}}"#)))).is_err());
        let e = export(&automation(alias(regex.clone(), hook(r#"{"v": "${artifact_version}"}"#)))).unwrap();
        assert_eq!(e.event_type, "ADD_ARTIFACT_ALIAS");
        assert_eq!(e.event_filter, r#"{"alias":{"$regex":"^prod$"}}"#);
        // Saved artifact filters are wrapped once more, as W&B answers them.
        assert_eq!(e.saved_filter, r#"{"filter":"{\"alias\":{\"$regex\":\"^prod$\"}}"}"#);
        let entity = json!({"name": "e", "scope": {"type": "entity", "entity": "acme"},
                            "event": {"type": "ADD_ARTIFACT_ALIAS"}, "action": none});
        assert!(export(&automation(entity)).is_err());
    }

    #[test]
    fn run_filters_name_the_run_id_as_wandb_does_and_absent_filters_its_empty_ones() {
        let mut doc = metric(json!({"name": "loss", "cmp": "$lt", "threshold": 1}));
        doc["event"]["run_filter"] = json!({"$and": [
            {"display_name": {"$regex": "^a"}}, {"run_id": {"$in": ["r1"]}},
            {"config.lr": {"$gt": 0.1}}, {"config.opt.name": {"$eq": "adam"}}, {"tags": {"$contains": "x"}}
        ]});
        let e = export(&automation(doc)).unwrap();
        let filter: Value = serde_json::from_str(&e.event_filter).unwrap();
        let run_filter: Value = serde_json::from_str(filter["run_filter"].as_str().unwrap()).unwrap();
        assert_eq!(
            run_filter,
            json!({"$and": [
                {"display_name": {"$regex": "^a"}}, {"name": {"$in": ["r1"]}},
                {"config.lr": {"$gt": 0.1}}, {"config.opt.name": {"$eq": "adam"}}, {"tags": {"$contains": "x"}}
            ]})
        );
        let link = json!({"name": "l", "scope": {"type": "registry", "entity": "acme", "registry": "models"},
                          "event": {"type": "LINK_ARTIFACT"}, "action": {"type": "none"}});
        let e = export(&automation(link)).unwrap();
        assert_eq!((e.event_type, e.event_filter.as_str()), ("LINK_MODEL", NO_ARTIFACT_FILTER));
    }

    #[test]
    fn match_all_filters_are_the_absent_filter() {
        for v in [json!({}), json!({"$and": []}), json!({"$or": [{"$and": []}]}), json!({"$and": [{}, {"$and": []}]})] {
            assert!(matches_all(&v), "{v}");
        }
        for v in [json!({"$or": []}), json!({"$or": [{}, {"a": 1}]}), json!({"a": {"$exists": true}}), json!([])] {
            assert!(!matches_all(&v), "{v}");
        }
    }
}
