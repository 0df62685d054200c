//! What happens when an automation fires.

use super::reader::{ObjReader, one_of};
use crate::error::Errors;
use crate::id::IntegrationName;
use serde::Serialize;
use serde_json::Value;

/// How urgent a Slack message says it is (`severity`; `INFO` when not given).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    /// `INFO`: for information.
    Info,
    /// `WARN`: worth a look.
    Warn,
    /// `ERROR`: something went wrong.
    Error,
}

impl Severity {
    /// The name as written in documents and messages: `INFO`, `WARN` or `ERROR`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "INFO",
            Severity::Warn => "WARN",
            Severity::Error => "ERROR",
        }
    }
}

/// The action of an automation. Integrations are referred to by name (unique per entity).
/// Serialized as the create document's `action` (`{"type": "webhook", ...}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Action {
    /// POST to a webhook integration; `payload` is a JSON template with `${variable}`s.
    Webhook {
        /// The webhook integration to POST to, by name.
        integration: IntegrationName,
        /// The body template; `None` sends the default payload.
        #[serde(skip_serializing_if = "Option::is_none")]
        payload: Option<String>,
    },
    /// A Block Kit message to a Slack integration.
    Slack {
        /// The Slack integration to post to, by name.
        integration: IntegrationName,
        /// The message's title (`title`; empty when not given).
        title: String,
        /// The message's text (`message`; empty when not given).
        message: String,
        /// How urgent the message says it is.
        severity: Severity,
    },
    /// Record the execution and do nothing else (for testing).
    None,
}

/// The variables a payload template may use (SPEC section 7), besides `artifact_metadata.KEY`.
pub const TEMPLATE_VARIABLES: [&str; 18] = [
    "automation_name",
    "event_type",
    "event_author",
    "entity_name",
    "project_name",
    "artifact_collection_name",
    "artifact_version",
    "artifact_version_string",
    "artifact_version_index",
    "alias",
    "tag",
    "run_id",
    "run_name",
    "run_status",
    "metric_name",
    "metric_values",
    "metric_filter",
    "metric_current_status",
];

/// The `${name}` placeholders of a template, in order.
pub fn template_variables(template: &str) -> impl Iterator<Item = &str> {
    let mut rest = template;
    std::iter::from_fn(move || {
        let start = rest.find("${")?;
        let after = &rest[start + 2..];
        let end = after.find('}')?;
        rest = &after[end + 1..];
        Some(&after[..end])
    })
}

fn check_template(template: &str, path: &str, errors: &mut Errors) {
    if let Some(e) = crate::delivery::template::json_error(template) {
        errors.push(
            path,
            format!(
                "must be a JSON template: rendered (variables inside quotes empty, outside them null) it is not JSON: {e}"
            ),
        );
    }
    for var in template_variables(template) {
        let known =
            TEMPLATE_VARIABLES.contains(&var) || var.strip_prefix("artifact_metadata.").is_some_and(|k| !k.is_empty());
        if !known {
            errors.push(
                path,
                format!(
                    "unknown template variable ${{{var}}}; known: {}, artifact_metadata.KEY",
                    TEMPLATE_VARIABLES.join(", ")
                ),
            );
        }
    }
}

impl Action {
    /// Read the `action` document at `path`, recording every problem in `errors`.
    pub fn parse(v: &Value, path: &str, errors: &mut Errors) -> Option<Action> {
        let mut r = ObjReader::new(v, path, errors)?;
        let ty = r
            .required("type", errors)
            .and_then(|t| one_of(t, &r.path_of("type"), &["webhook", "slack", "none"], errors));
        let action = match ty? {
            "webhook" => {
                let integration = r.str("integration", errors);
                let payload = r.opt_str("payload", errors);
                if let Some(p) = payload {
                    check_template(p, &r.path_of("payload"), errors);
                }
                Action::Webhook { integration: integration?.into(), payload: payload.map(str::to_string) }
            }
            "slack" => {
                let integration = r.str("integration", errors);
                let title = r.opt_str("title", errors).unwrap_or_default();
                let message = r.opt_str("message", errors).unwrap_or_default();
                let severity = match r.get("severity") {
                    None => Some(Severity::Info),
                    Some(s) => one_of(s, &r.path_of("severity"), &["INFO", "WARN", "ERROR"], errors).map(|s| match s {
                        "WARN" => Severity::Warn,
                        "ERROR" => Severity::Error,
                        _ => Severity::Info,
                    }),
                };
                Action::Slack {
                    integration: integration?.into(),
                    title: title.to_string(),
                    message: message.to_string(),
                    severity: severity?,
                }
            }
            _ => Action::None,
        };
        r.deny_unknown(errors);
        Some(action)
    }

    /// The integration this action delivers through, if any.
    pub fn integration(&self) -> Option<&IntegrationName> {
        match self {
            Action::Webhook { integration, .. } | Action::Slack { integration, .. } => Some(integration),
            Action::None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<Action, crate::error::Invalid> {
        let mut errors = Errors::default();
        let a = Action::parse(&v, "action", &mut errors);
        errors.finish(a).map(Option::unwrap)
    }

    #[test]
    fn parses_and_round_trips() {
        for doc in [
            json!({"type": "webhook", "integration": "hook", "payload": "{\"v\":\"${artifact_metadata.acc}\"}"}),
            json!({"type": "webhook", "integration": "hook"}),
            json!({"type": "slack", "integration": "chan", "title": "t", "message": "m", "severity": "WARN"}),
            json!({"type": "none"}),
        ] {
            assert_eq!(serde_json::to_value(parse(doc.clone()).unwrap()).unwrap(), doc);
        }
    }

    #[test]
    fn refuses_unknown_template_variables_and_types() {
        let e = parse(json!({"type": "webhook", "integration": "h", "payload": "{\"x\":\"${nope}\"}"})).unwrap_err();
        assert_eq!(e.errors[0].path, "action.payload");
        // Issue 16, item 6: a template that cannot render to JSON is refused when saved.
        for bad in ["{not json", "{\"acc\": ${x}", "{\"acc\": ${artifact_metadata.acc},}"] {
            let e = parse(json!({"type": "webhook", "integration": "h", "payload": bad})).unwrap_err();
            assert_eq!(e.errors[0].path, "action.payload", "{bad}");
            assert!(e.to_string().contains("JSON"), "{bad}: {e}");
        }
        assert!(
            parse(json!({"type": "webhook", "integration": "h", "payload": "{\"acc\": ${artifact_metadata.acc}}"}))
                .is_ok()
        );
        assert!(e.errors[0].message.contains("${nope}"));
        let e = parse(json!({"type": "email"})).unwrap_err();
        assert_eq!(e.errors[0].path, "action.type");
        let e = parse(json!({"type": "slack", "integration": "c", "severity": "LOUD"})).unwrap_err();
        assert_eq!(e.errors[0].path, "action.severity");
        let e = parse(json!({"type": "webhook"})).unwrap_err();
        assert_eq!(e.errors[0].path, "action.integration");
    }

    #[test]
    fn finds_template_variables() {
        let vars: Vec<_> = template_variables("a ${x} b ${y.z} ${").collect();
        assert_eq!(vars, vec!["x", "y.z"]);
    }
}
