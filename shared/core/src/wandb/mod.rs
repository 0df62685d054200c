//! Import of W&B automations (SPEC section 10).
//!
//! The input is what the W&B client library (`wandb.automations`, version 0.31.0) sends to
//! W&B's `createFilterTrigger`, wrapped in an import document that says where the automation
//! lands here and what W&B's integration ids are called here, since W&B's ids mean nothing in
//! this system:
//!
//! ```json
//! {"scope": {"type": "project", "entity": "acme", "project": "mnist"},
//!  "integrations": {"SW50ZWdyYXRpb246MQ==": "deploy-hook"},
//!  "input": {"name": "...", "triggeringEventType": "RUN_METRIC", "eventFilter": "...", "...": "..."}}
//! ```
//!
//! The output is this product's automation document (docs/automation.md), which the caller then
//! validates like any other. Everything the library can produce either imports with the same
//! meaning or is refused with the path of the W&B field and the reason; the fixtures under
//! `tests/fixtures/wandb` (made with the real library) hold one case of each.

mod action;
mod event;
mod export;
mod filter;
mod metric;
mod read;

use crate::error::{Errors, Invalid, join_path};
use serde_json::{Map, Value};

pub use export::{Export, ExportAction, Unrepresentable, action_input, export, without_match_all};

use read::{deny_unknown, field, kind, object, opt_str, req_str};

/// How W&B integration ids are resolved to this system's integration names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Integrations {
    /// Every id must be mapped by the import's `integrations` (the API's import route).
    Strict,
    /// An unmapped id imports as an integration named after the W&B id (replay delivers
    /// nothing, so it needs none).
    Lenient,
}

/// The fields of W&B's `CreateFilterTriggerInput`.
const INPUT_FIELDS: &[&str] = &[
    "name",
    "description",
    "enabled",
    "triggeringEventType",
    "eventFilter",
    "triggeredActionType",
    "triggeredActionConfig",
    // W&B's scope and its request id: the import's `scope` says where the automation lands.
    "scopeType",
    "scopeID",
    "clientMutationId",
];

/// Convert one import document (`{"scope", "integrations", "input"}`) to the native automation
/// document (docs/automation.md) as JSON. Errors name the field path within the import, e.g.
/// `input.eventFilter.run_metric_filter.threshold_filter.window_size`, and say why something
/// cannot be taken.
pub fn import(doc: &Value, integrations: Integrations) -> Result<Value, Invalid> {
    let mut errors = Errors::default();
    let out = document(doc, integrations, &mut errors);
    match (errors.finish(()), out) {
        (Ok(()), Some(out)) => Ok(out),
        (Err(e), _) => Err(e),
        // Every path that gives up records why; this keeps a missed one from passing as valid.
        (Ok(()), None) => Err(Invalid::one("", "the import could not be read")),
    }
}

fn document(doc: &Value, policy: Integrations, errors: &mut Errors) -> Option<Value> {
    let Value::Object(top) = doc else {
        errors.push("", format!("an import must be an object, not {}", kind(doc)));
        return None;
    };
    deny_unknown(top, &["scope", "integrations", "input"], "", "an import", errors);
    let scope = match field(top, "scope") {
        // Copied as it is: the automation's own validation reads it.
        Some(s) => object(s, "scope", errors).map(|_| s.clone()),
        None => {
            errors.push(
                "scope",
                "is required: it says where the automation lands here (W&B's scopeType and \
                 scopeID mean nothing in this system)",
            );
            None
        }
    };
    let names = integration_names(top, errors);
    let input = object(
        field(top, "input").or_else(|| {
            errors.push("input", "is required: the W&B library's createFilterTrigger input");
            None
        })?,
        "input",
        errors,
    )?;
    deny_unknown(input, INPUT_FIELDS, "input", "W&B's createFilterTrigger input", errors);

    let name = req_str(input, "name", "input", errors);
    let description = opt_str(input, "description", "input", errors);
    let enabled = match field(input, "enabled") {
        None => Some(true),
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => {
            errors.push("input.enabled", format!("must be true or false, not {}", kind(other)));
            None
        }
    };
    let event = event::event(input, errors);
    let map = action::IntegrationMap { names, policy };
    let action = action::action(input, &map, errors);

    let mut out = Map::new();
    out.insert("name".into(), name?.into());
    if let Some(d) = description {
        out.insert("description".into(), d.into());
    }
    out.insert("enabled".into(), enabled?.into());
    out.insert("scope".into(), scope?);
    out.insert("event".into(), event?);
    out.insert("action".into(), action?);
    Some(Value::Object(out))
}

/// The `integrations` map: W&B integration id to this system's integration name.
fn integration_names<'a>(top: &'a Map<String, Value>, errors: &mut Errors) -> Option<&'a Map<String, Value>> {
    let m = object(field(top, "integrations")?, "integrations", errors)?;
    for (id, name) in m {
        if !name.is_string() {
            errors.push(
                join_path("integrations", id),
                format!("must be the name of an integration here (a string), not {}", kind(name)),
            );
        }
    }
    Some(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn import_of(input: Value) -> Value {
        json!({
            "scope": {"type": "project", "entity": "acme", "project": "mnist"},
            "integrations": {"SW50ZWdyYXRpb246MQ==": "deploy-hook"},
            "input": input
        })
    }

    fn paths(e: &Invalid) -> Vec<&str> {
        e.errors.iter().map(|e| e.path.as_str()).collect()
    }

    /// The reference's `metric-threshold` automation, byte for byte as the library sends it.
    fn reference_metric_threshold() -> Value {
        json!({
            "description": "demo",
            "enabled": true,
            "eventFilter": "{\"run_filter\":\"{\\\"$and\\\":[]}\",\"run_metric_filter\":{\"threshold_filter\":{\"name\":\"loss\",\"agg_op\":\"AVERAGE\",\"window_size\":5,\"cmp_op\":\"$gt\",\"threshold\":0.5}},\"metric_filter\":null}",
            "name": "metric-threshold",
            "scopeID": "UHJvamVjdDoxMjM=",
            "scopeType": "PROJECT",
            "triggeredActionConfig": {"genericWebhookActionInput": {"integrationID": "SW50ZWdyYXRpb246MQ==", "requestPayload": "{\"v\":\"${metric_values}\"}"}},
            "triggeredActionType": "GENERIC_WEBHOOK",
            "triggeringEventType": "RUN_METRIC"
        })
    }

    #[test]
    fn a_whole_import_becomes_a_native_document() {
        let out = import(&import_of(reference_metric_threshold()), Integrations::Strict).unwrap();
        assert_eq!(
            out,
            json!({
                "name": "metric-threshold",
                "description": "demo",
                "enabled": true,
                "scope": {"type": "project", "entity": "acme", "project": "mnist"},
                "event": {
                    "type": "RUN_METRIC_THRESHOLD",
                    "run_filter": {"$and": []},
                    "metric": {"name": "loss", "agg": "AVERAGE", "window": 5, "cmp": "$gt", "threshold": 0.5}
                },
                "action": {"type": "webhook", "integration": "deploy-hook", "payload": "{\"v\":\"${metric_values}\"}"}
            })
        );
    }

    #[test]
    fn enabled_defaults_to_true_and_description_is_optional() {
        let mut input = reference_metric_threshold();
        let m = input.as_object_mut().unwrap();
        m.remove("enabled");
        m.insert("description".into(), Value::Null);
        let out = import(&import_of(input), Integrations::Strict).unwrap();
        assert_eq!(out["enabled"], true);
        assert!(out.get("description").is_none());
        let mut input = reference_metric_threshold();
        input["enabled"] = json!(false);
        assert_eq!(import(&import_of(input), Integrations::Strict).unwrap()["enabled"], false);
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let mut doc = import_of(reference_metric_threshold());
        doc["extra"] = json!(1);
        doc["integrations"] = json!({"SW50ZWdyYXRpb246MQ==": 7});
        doc.as_object_mut().unwrap().remove("scope");
        doc["input"]["enabled"] = json!("yes");
        doc["input"]["clientMutationID"] = json!("typo");
        doc["input"]["eventFilter"] = json!(
            "{\"run_filter\":\"{}\",\"run_metric_filter\":{\"threshold_filter\":{\"name\":\"loss\",\"window_size\":0,\"cmp_op\":\"$gt\",\"threshold\":1}}}"
        );
        let e = import(&doc, Integrations::Strict).unwrap_err();
        assert_eq!(
            paths(&e),
            [
                "extra",
                "scope",
                "integrations.SW50ZWdyYXRpb246MQ==",
                "input.clientMutationID",
                "input.enabled",
                "input.eventFilter.run_metric_filter.threshold_filter.window_size",
                "input.triggeredActionConfig.genericWebhookActionInput.integrationID",
            ]
        );
    }

    #[test]
    fn lenient_imports_name_integrations_after_their_wandb_id() {
        let mut doc = import_of(reference_metric_threshold());
        doc.as_object_mut().unwrap().remove("integrations");
        assert!(import(&doc, Integrations::Strict).is_err());
        let out = import(&doc, Integrations::Lenient).unwrap();
        assert_eq!(out["action"]["integration"], "SW50ZWdyYXRpb246MQ==");
    }

    #[test]
    fn the_document_itself_must_be_an_import() {
        let e = import(&json!([]), Integrations::Strict).unwrap_err();
        assert_eq!(paths(&e), [""]);
        let e = import(&json!({"scope": {"type": "entity", "entity": "a"}}), Integrations::Strict).unwrap_err();
        assert_eq!(paths(&e), ["input"]);
        let e = import(&json!({"scope": "acme", "input": {}}), Integrations::Strict).unwrap_err();
        assert_eq!(paths(&e), ["scope", "input.name", "input.triggeringEventType", "input.triggeredActionType"]);
    }
}
