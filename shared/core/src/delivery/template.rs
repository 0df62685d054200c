//! Payload templates: JSON text in which `${variable}` is replaced by the fire's value.
//!
//! Inside a JSON string each value is inserted JSON-escaped, so a run name holding a quote or a
//! newline cannot break the document or inject fields; outside quotes a JSON value is inserted as
//! is and anything else as a JSON string (see [`render_with`]). A variable that does not apply
//! to the fire (`${alias}` on a metric fire) renders as an empty string inside quotes and `null`
//! outside, and so does an unknown one (automations are checked against [`TEMPLATE_VARIABLES`] when saved, so that only happens to
//! a template stored by an older build). `${` with no closing `}` is kept as it is.
//!
//! [`TEMPLATE_VARIABLES`]: crate::model::action::TEMPLATE_VARIABLES

use super::describe;
use crate::fire::{Fire, Subject};
use serde_json::Value;

/// Render `template` for `fire`.
pub fn render(template: &str, fire: &Fire) -> String {
    render_with(template, |name| variable(fire, name))
}

/// Render `template` with each variable's value from `value`. Inside a JSON string a value is
/// inserted JSON-escaped (one that does not apply: empty). Outside quotes a value that is JSON
/// text (a number, `true`, an array such as `metric_values`) is inserted as is, any other value
/// as a JSON string, and one that does not apply as `null`: a template that is JSON with its
/// variables taken out stays JSON whatever it is rendered with.
pub fn render_with(template: &str, mut value: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    let mut in_string = false;
    let mut escape = false;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let literal = &rest[..start];
        for c in literal.chars() {
            if escape {
                escape = false;
            } else if in_string && c == '\\' {
                escape = true;
            } else if c == '"' {
                in_string = !in_string;
            }
        }
        out.push_str(literal);
        match (in_string, value(&after[..end])) {
            (true, Some(v)) => push_escaped(&mut out, &v),
            (true, None) => {}
            (false, None) => out.push_str("null"),
            (false, Some(v)) if !v.trim().is_empty() && serde_json::from_str::<Value>(&v).is_ok() => out.push_str(&v),
            (false, Some(v)) => out.push_str(&Value::String(v).to_string()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Why `template` cannot render to JSON, if it cannot: it is rendered with every variable not
/// applying (the case that used to give `{"acc": }`), which, by [`render_with`]'s rules, renders
/// to JSON exactly when every rendering does.
pub fn json_error(template: &str) -> Option<String> {
    serde_json::from_str::<serde::de::IgnoredAny>(&render_with(template, |_| None)).err().map(|e| e.to_string())
}

/// The value of one variable for `fire`, unescaped; `None` when it does not apply.
pub fn variable(fire: &Fire, name: &str) -> Option<String> {
    if let Some(key) = name.strip_prefix("artifact_metadata.") {
        let Subject::Artifact { metadata, .. } = &fire.subject else { return None };
        return metadata.get(key).map(|v| match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        });
    }
    let artifact = match &fire.subject {
        Subject::Artifact { location, collection, version, alias, tag, .. } => {
            Some((location, collection, *version, alias, tag))
        }
        _ => None,
    };
    let run = fire.run();
    match name {
        "automation_name" => Some(fire.automation_name.clone()),
        "event_type" => Some(fire.trigger.as_str().to_string()),
        "event_author" => describe::author(fire).map(str::to_string),
        "entity_name" => Some(fire.entity.clone().into()),
        "project_name" => match (artifact, run) {
            (Some((location, ..)), _) => Some(describe::project_name(location)),
            (None, Some(run)) => Some(run.key.project.clone()),
            (None, None) => None,
        },
        "artifact_collection_name" => artifact.map(|(_, c, ..)| c.clone()),
        "artifact_version" => artifact.and_then(|(_, _, v, ..)| v).map(describe::version_name),
        "artifact_version_index" => artifact.and_then(|(_, _, v, ..)| v).map(|v| v.to_string()),
        "artifact_version_string" => artifact.and_then(|(location, collection, version, ..)| {
            version.map(|v| describe::version_string(fire.entity.as_str(), location, collection, v))
        }),
        "alias" => artifact.and_then(|(.., alias, _)| alias.clone()),
        "tag" => artifact.and_then(|(.., tag)| tag.clone()),
        "run_id" => run.map(|r| r.key.run_id.clone()),
        "run_name" => run.and_then(|r| r.run_name.clone()),
        "run_status" => describe::run_status(fire).map(|s| s.as_str().to_string()),
        _ => metric_variable(fire, name),
    }
}

fn metric_variable(fire: &Fire, name: &str) -> Option<String> {
    let Subject::Metric { metric, values, observed, condition, .. } = &fire.subject else { return None };
    match name {
        "metric_name" => Some(metric.clone()),
        "metric_values" => Some(Value::from(values.clone()).to_string()),
        "metric_filter" => Some(describe::condition(condition)),
        "metric_current_status" => Some(describe::observed(metric, condition, observed)),
        _ => None,
    }
}

/// Append `s` escaped as the inside of a JSON string.
fn push_escaped(out: &mut String, s: &str) {
    let quoted = Value::String(s.to_string()).to_string();
    out.push_str(&quoted[1..quoted.len() - 1]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::payload::tests::{artifact_fire, metric_fire};
    use crate::model::action::TEMPLATE_VARIABLES;

    #[test]
    fn substitutes_escaped_values() {
        let mut f = artifact_fire();
        f.automation_name = "say \"hi\"\n".into();
        let out = render(r#"{"a":"${automation_name}","v":"${artifact_version_string}","x":"${nope}"}"#, &f);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["a"], "say \"hi\"\n");
        assert_eq!(v["v"], "acme/mnist/classifier:v7");
        assert_eq!(v["x"], "");
    }

    #[test]
    fn metadata_and_inapplicable_variables() {
        let f = artifact_fire();
        let out = render(
            r#"{"acc":"${artifact_metadata.accuracy}","n":"${artifact_metadata.name}","m":"${artifact_metadata.missing}","r":"${run_id}","i":${artifact_version_index}}"#,
            &f,
        );
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["acc"], "0.93");
        assert_eq!(v["n"], "resnet");
        assert_eq!(v["m"], "");
        assert_eq!(v["r"], "");
        assert_eq!(v["i"], 7, "outside quotes a number renders as a number");
        assert_eq!(render("keep ${ this", &f), "keep ${ this");
    }

    /// Issue 16, item 6: a variable outside quotes that does not apply rendered as nothing
    /// (`{"acc": }`, delivered as application/json); it is `null`, a string value is quoted, and
    /// templates that cannot render to JSON are found (they are refused when saved).
    #[test]
    fn outside_quotes_every_rendering_is_json() {
        let f = metric_fire();
        let out = render(
            r#"{"acc": ${artifact_metadata.acc}, "run": ${run_name}, "v": ${metric_values}, "s": "a\"${run_name}"}"#,
            &f,
        );
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{out}: {e}"));
        assert_eq!(v["acc"], Value::Null);
        assert!(v["run"].is_string(), "{out}");
        assert_eq!(v["v"], serde_json::json!([0.9, 1.4, 1.6]));
        assert!(json_error(r#"{"acc": ${artifact_metadata.acc}}"#).is_none());
        assert!(json_error("{not json").is_some());
        assert!(json_error(r#"{"a": "${run_name}"#).is_some());
        assert!(json_error(r#"{"a": "${run_name}", "b": [${metric_values}]}"#).is_none());
    }

    #[test]
    fn every_known_variable_renders_something_for_some_fire() {
        let fires = [artifact_fire(), metric_fire()];
        for name in TEMPLATE_VARIABLES {
            let any = fires.iter().any(|f| variable(f, name).is_some_and(|v| !v.is_empty()));
            // `tag` needs a tag event and `run_status` a run: covered by the two fires above.
            assert!(any, "${{{name}}} renders empty for every test fire");
        }
        let m = metric_fire();
        assert_eq!(variable(&m, "metric_values").unwrap(), "[0.9,1.4,1.6]");
        assert_eq!(variable(&m, "metric_filter").unwrap(), "average of the last 3 values of loss > 1");
        assert_eq!(variable(&m, "metric_current_status").unwrap(), "average of loss = 1.3");
        assert_eq!(variable(&m, "run_status").unwrap(), "running");
        assert_eq!(variable(&m, "event_author").unwrap(), "ana", "the run's user when no author");
    }
}
