//! W&B's `triggeredActionType` and `triggeredActionConfig` to this product's `action`.

use crate::error::{Errors, join_path};
use serde_json::{Map, Value};

use super::Integrations;
use super::read::{deny_unknown, field, kind, object, opt_enum, opt_str, req_str};

const SEVERITIES: &[&str] = &["INFO", "WARN", "ERROR"];

/// W&B's integration ids and the names they stand for here, with the import's policy.
pub(super) struct IntegrationMap<'a> {
    pub(super) names: Option<&'a Map<String, Value>>,
    pub(super) policy: Integrations,
}

impl IntegrationMap<'_> {
    /// This system's integration name for W&B's `id`, read at `path` (the `integrationID`).
    fn resolve(&self, id: &str, path: &str, errors: &mut Errors) -> Option<String> {
        // The map's values were checked to be strings when the import was read.
        if let Some(name) = self.names.and_then(|m| m.get(id)).and_then(Value::as_str) {
            return Some(name.to_string());
        }
        match self.policy {
            Integrations::Lenient => Some(id.to_string()),
            Integrations::Strict => {
                errors.push(
                    path,
                    format!(
                        "W&B integration {id} is not mapped: add it to `integrations` with the \
                         name of an integration here"
                    ),
                );
                None
            }
        }
    }
}

/// Convert the action of `input` (the W&B input object at path `input`).
pub(super) fn action(
    input: &Map<String, Value>,
    integrations: &IntegrationMap<'_>,
    errors: &mut Errors,
) -> Option<Value> {
    let ty = req_str(input, "triggeredActionType", "input", errors)?;
    let key = match ty {
        "GENERIC_WEBHOOK" => "genericWebhookActionInput",
        "NOTIFICATION" => "notificationActionInput",
        "NO_OP" => "noOpActionInput",
        _ => {
            errors.push("input.triggeredActionType", refusal(ty));
            return None;
        }
    };
    let config_path = "input.triggeredActionConfig";
    let config = match field(input, "triggeredActionConfig") {
        Some(c) => Some(object(c, config_path, errors)?),
        None => None,
    };
    // W&B's config holds one input per action type; any other non-null one is a contradiction.
    for (other, v) in config.into_iter().flatten() {
        if other != key && !v.is_null() {
            errors.push(
                join_path(config_path, other),
                format!("does not go with triggeredActionType {ty}, which reads {key}"),
            );
        }
    }
    let path = join_path(config_path, key);
    let inner = config.and_then(|c| field(c, key));
    if ty == "NO_OP" {
        // Nothing to read: W&B's `noOp: true` is a placeholder its schema needs.
        if let Some(v) = inner {
            object(v, &path, errors)?;
        }
        return Some(serde_json::json!({"type": "none"}));
    }
    let Some(inner) = inner else {
        errors.push(path, format!("is required for a {ty} action"));
        return None;
    };
    let m = object(inner, &path, errors)?;
    let mut out = Map::new();
    let id = req_str(m, "integrationID", &path, errors);
    let integration = id.and_then(|id| integrations.resolve(id, &join_path(&path, "integrationID"), errors));
    if ty == "GENERIC_WEBHOOK" {
        deny_unknown(m, &["integrationID", "requestPayload"], &path, "a W&B webhook action", errors);
        out.insert("type".into(), "webhook".into());
        out.insert("integration".into(), integration?.into());
        if let Some(payload) = payload(m, &path, errors) {
            out.insert("payload".into(), payload.into());
        }
    } else {
        deny_unknown(m, &["integrationID", "title", "message", "severity"], &path, "a W&B notification action", errors);
        out.insert("type".into(), "slack".into());
        out.insert("integration".into(), integration?.into());
        for key in ["title", "message"] {
            if let Some(s) = opt_str(m, key, &path, errors) {
                out.insert(key.into(), s.into());
            }
        }
        if let Some(s) = opt_enum(m, "severity", SEVERITIES, &path, errors) {
            out.insert("severity".into(), s.into());
        }
    }
    Some(Value::Object(out))
}

/// The webhook payload template: W&B sends it JSON-encoded in a string, which is what this
/// product's `payload` is too; an already-decoded object is encoded again.
fn payload(m: &Map<String, Value>, path: &str, errors: &mut Errors) -> Option<String> {
    match field(m, "requestPayload")? {
        Value::String(s) => Some(s.clone()),
        v @ Value::Object(_) => Some(v.to_string()),
        other => {
            errors.push(
                join_path(path, "requestPayload"),
                format!("must be a JSON text (a string) or an object, not {}", kind(other)),
            );
            None
        }
    }
}

/// Why a W&B action type cannot be imported.
fn refusal(ty: &str) -> String {
    let here = "actions here are a webhook (GENERIC_WEBHOOK), a Slack message (NOTIFICATION) or none (NO_OP)";
    match ty {
        "ARIA" => {
            format!("W&B's ARIA action sends a prompt to W&B's own assistant, which has no counterpart here; {here}")
        }
        "QUEUE_JOB" => format!(
            "W&B's QUEUE_JOB (a W&B Launch job, no longer offered by W&B either) has no counterpart here; {here}"
        ),
        "PUSH_NOTIFICATION" => {
            format!("W&B's PUSH_NOTIFICATION (to a W&B user's devices) has no counterpart here; {here}")
        }
        other => format!("unknown W&B action type {other:?}; {here}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conv(input: Value, names: Value, policy: Integrations) -> Result<Value, Vec<(String, String)>> {
        let mut errors = Errors::default();
        let map = IntegrationMap { names: names.as_object(), policy };
        let out = action(input.as_object().unwrap(), &map, &mut errors);
        match errors.finish(()) {
            Ok(()) => Ok(out.expect("no errors but no result")),
            Err(e) => Err(e.errors.into_iter().map(|e| (e.path, e.message)).collect()),
        }
    }

    fn webhook(payload: Value) -> Value {
        json!({"triggeredActionType": "GENERIC_WEBHOOK",
               "triggeredActionConfig": {"genericWebhookActionInput": {"integrationID": "W1", "requestPayload": payload}}})
    }

    #[test]
    fn webhook_takes_the_mapped_name_and_the_payload_text() {
        let out =
            conv(webhook(json!("{\"a\":\"${event_type}\"}")), json!({"W1": "hook"}), Integrations::Strict).unwrap();
        assert_eq!(out, json!({"type": "webhook", "integration": "hook", "payload": "{\"a\":\"${event_type}\"}"}));
        let out = conv(webhook(Value::Null), json!({"W1": "hook"}), Integrations::Strict).unwrap();
        assert_eq!(out, json!({"type": "webhook", "integration": "hook"}));
        let out = conv(webhook(json!({"a": 1})), json!({"W1": "hook"}), Integrations::Strict).unwrap();
        assert_eq!(out["payload"], "{\"a\":1}");
    }

    #[test]
    fn unmapped_ids_are_refused_when_strict_and_kept_when_lenient() {
        let e = conv(webhook(Value::Null), json!({}), Integrations::Strict).unwrap_err();
        assert_eq!(e[0].0, "input.triggeredActionConfig.genericWebhookActionInput.integrationID");
        assert!(e[0].1.contains("W1"));
        let out = conv(webhook(Value::Null), Value::Null, Integrations::Lenient).unwrap();
        assert_eq!(out["integration"], "W1");
        // A mapping still wins when lenient.
        let out = conv(webhook(Value::Null), json!({"W1": "hook"}), Integrations::Lenient).unwrap();
        assert_eq!(out["integration"], "hook");
    }

    #[test]
    fn notification_becomes_slack() {
        let input = json!({"triggeredActionType": "NOTIFICATION", "triggeredActionConfig": {"notificationActionInput":
            {"integrationID": "S1", "title": "T", "message": "M", "severity": "WARN"}}});
        let out = conv(input, json!({"S1": "alerts"}), Integrations::Strict).unwrap();
        assert_eq!(
            out,
            json!({"type": "slack", "integration": "alerts", "title": "T", "message": "M", "severity": "WARN"})
        );
        let bad = json!({"triggeredActionType": "NOTIFICATION", "triggeredActionConfig": {"notificationActionInput":
            {"integrationID": "S1", "severity": "LOUD"}}});
        let e = conv(bad, json!({"S1": "alerts"}), Integrations::Strict).unwrap_err();
        assert_eq!(e[0].0, "input.triggeredActionConfig.notificationActionInput.severity");
    }

    #[test]
    fn no_op_needs_no_integration() {
        let input =
            json!({"triggeredActionType": "NO_OP", "triggeredActionConfig": {"noOpActionInput": {"noOp": true}}});
        assert_eq!(conv(input, Value::Null, Integrations::Strict).unwrap(), json!({"type": "none"}));
    }

    #[test]
    fn other_actions_and_contradictions_are_refused() {
        for (ty, word) in
            [("ARIA", "assistant"), ("QUEUE_JOB", "Launch"), ("PUSH_NOTIFICATION", "devices"), ("EMAIL", "unknown")]
        {
            let e = conv(json!({"triggeredActionType": ty}), Value::Null, Integrations::Lenient).unwrap_err();
            assert_eq!(e[0].0, "input.triggeredActionType");
            assert!(e[0].1.contains(word), "{ty}: {}", e[0].1);
        }
        let input = json!({"triggeredActionType": "NO_OP", "triggeredActionConfig": {"noOpActionInput": {}, "ariaActionInput": {"prompt": "x"}}});
        let e = conv(input, Value::Null, Integrations::Lenient).unwrap_err();
        assert_eq!(e[0].0, "input.triggeredActionConfig.ariaActionInput");
        let e = conv(
            json!({"triggeredActionType": "GENERIC_WEBHOOK", "triggeredActionConfig": {}}),
            Value::Null,
            Integrations::Lenient,
        )
        .unwrap_err();
        assert_eq!(e[0].0, "input.triggeredActionConfig.genericWebhookActionInput");
    }
}
