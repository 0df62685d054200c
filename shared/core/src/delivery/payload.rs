//! The body a fire sends: the webhook's payload template rendered, the default payload when the
//! webhook has no template, or a Slack Block Kit message. `docs/delivery.md` documents the
//! default payload and the Slack message.

use super::{describe, template};
use crate::event::RunInfo;
use crate::fire::{Fire, Subject};
use crate::model::{Action, Location, Severity};
use serde_json::{Value, json};

mod document;
pub use document::{DEFAULT_PAYLOAD_SCHEMA, FirePayloadV1};

/// The body of `fire`'s delivery, rendered from the action it fired with; `None` for the `none`
/// action, which sends nothing.
pub fn body(fire: &Fire) -> Option<String> {
    match &fire.action {
        Action::Webhook { payload: Some(t), .. } => Some(template::render(t, fire)),
        Action::Webhook { payload: None, .. } => Some(default_payload(fire).to_string()),
        Action::Slack { title, message, severity, .. } => {
            Some(slack_message(fire, title, message, *severity).to_string())
        }
        Action::None => None,
    }
}

/// The default webhook payload: the whole fire as one documented JSON object ([`FirePayloadV1`]).
pub fn default_payload(fire: &Fire) -> Value {
    // A document of strings, numbers and JSON values always serializes.
    serde_json::to_value(FirePayloadV1::of(fire)).unwrap_or(Value::Null)
}

/// Slack's limits: a header's text, a section's text, a field's text (in characters).
const HEADER_MAX: usize = 150;
const SECTION_MAX: usize = 3000;
const FIELD_MAX: usize = 2000;

/// The Slack Block Kit message of a fire: the title as a header, the message, then severity,
/// entity/project, author and automation as fields, what fired, and the ids as context. `text`
/// is the plain-text fallback Slack shows in notifications.
pub fn slack_message(fire: &Fire, title: &str, message: &str, severity: Severity) -> Value {
    let title = if title.trim().is_empty() { fire.automation_name.as_str() } else { title };
    let icon = match severity {
        Severity::Info => ":information_source:",
        Severity::Warn => ":warning:",
        Severity::Error => ":rotating_light:",
    };
    let place = match (&fire.subject, fire.run()) {
        (Subject::Artifact { location: Location::Registry(r), .. }, _) => format!("{} / registry {r}", fire.entity),
        (Subject::Artifact { location: Location::Project(p), .. }, _) => format!("{}/{p}", fire.entity),
        (_, Some(run)) => format!("{}/{}", fire.entity, run.key.project),
        _ => fire.entity.clone().into(),
    };
    let mut fields = vec![
        field("Severity", severity.as_str()),
        field("Entity/project", &place),
        field("Author", describe::author(fire).unwrap_or("unknown")),
        field("Automation", &fire.automation_name),
    ];
    fields.truncate(10);
    let mut blocks =
        vec![json!({"type": "header", "text": {"type": "plain_text", "text": cut(title, HEADER_MAX), "emoji": true}})];
    if !message.trim().is_empty() {
        blocks.push(section(&escape(message)));
    }
    blocks.push(json!({"type": "section", "fields": fields}));
    blocks.push(section(&what_fired(fire)));
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(&format!(
        "{} · event {} from {} · {}", fire.trigger.as_str(), fire.event_id, fire.event_source, fire.id
    ))}]}));
    let fallback = format!("{icon} [{}] {title}: {}", severity.as_str(), plain_what_fired(fire));
    json!({"text": cut(&fallback, SECTION_MAX), "blocks": blocks})
}

fn field(label: &str, value: &str) -> Value {
    json!({"type": "mrkdwn", "text": cut(&format!("*{label}*\n{}", escape(value)), FIELD_MAX)})
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(text, SECTION_MAX)}})
}

/// What fired, in Slack mrkdwn (values escaped).
fn what_fired(fire: &Fire) -> String {
    match &fire.subject {
        Subject::Artifact { location, collection, version, alias, tag, .. } => {
            let what = match version {
                Some(v) => {
                    format!("`{}`", escape(&describe::version_string(fire.entity.as_str(), location, collection, *v)))
                }
                None => format!("collection `{}`", escape(collection)),
            };
            let mut s = format!("*{}*: {what}", fire.trigger.as_str());
            if let Some(a) = alias {
                s.push_str(&format!(", alias `{}`", escape(a)));
            }
            if let Some(t) = tag {
                s.push_str(&format!(", tag `{}`", escape(t)));
            }
            s
        }
        Subject::RunState { run, state, previous } => {
            let from = previous.map(|p| format!(" (was {})", p.as_str())).unwrap_or_default();
            format!("*Run* {} is now *{}*{from}", run_label(run), state.as_str())
        }
        Subject::Metric { run, metric, step, values, observed, condition } => format!(
            "*Run* {} at step {step}: {}\n*Condition*: {}\n*Values*: `{}`",
            run_label(run),
            escape(&describe::observed(metric, condition, observed)),
            escape(&describe::condition(condition)),
            Value::from(values.clone())
        ),
    }
}

fn plain_what_fired(fire: &Fire) -> String {
    match &fire.subject {
        Subject::Artifact { location, collection, version, .. } => match version {
            Some(v) => format!(
                "{} {}",
                fire.trigger.as_str(),
                describe::version_string(fire.entity.as_str(), location, collection, *v)
            ),
            None => format!("{} {collection}", fire.trigger.as_str()),
        },
        Subject::RunState { run, state, .. } => format!("run {} is {}", run.key.run_id, state.as_str()),
        Subject::Metric { metric, condition, observed, run, .. } => {
            format!("run {}: {}", run.key.run_id, describe::observed(metric, condition, observed))
        }
    }
}

fn run_label(run: &RunInfo) -> String {
    match &run.run_name {
        Some(n) => format!("`{}` ({})", escape(&run.key.run_id), escape(n)),
        None => format!("`{}`", escape(&run.key.run_id)),
    }
}

/// Slack mrkdwn's three control characters.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Cut to at most `max` characters, marking the cut.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::event::RunKey;
    use crate::model::condition::{Agg, Cmp, MetricCondition, Threshold};
    use crate::model::{RunState, TriggerKind};
    use crate::time::Timestamp;
    use crate::window::Observed;
    use serde_json::Map;

    pub(crate) fn artifact_fire() -> Fire {
        let mut metadata = Map::new();
        metadata.insert("accuracy".into(), json!(0.93));
        metadata.insert("name".into(), json!("resnet"));
        Fire {
            id: "fire_0123".into(),
            automation_id: "auto-1".into(),
            automation_name: "deploy".into(),
            trigger: TriggerKind::AddArtifactAlias,
            entity: "acme".into(),
            event_id: "evt-2".into(),
            event_source: "tracker".into(),
            event_type: "artifact.alias.added",
            time: Timestamp(1_793_534_400_000),
            subject: Subject::Artifact {
                location: Location::Project("mnist".into()),
                collection: "classifier".into(),
                collection_type: "model".into(),
                version: Some(7),
                alias: Some("production".into()),
                tag: Some("<b>&".into()),
                aliases: vec!["production".into(), "latest".into()],
                tags: vec![],
                author: Some("ana".into()),
                metadata,
                source: None,
            },
            action: Action::Webhook { integration: "hook".into(), payload: None },
        }
    }

    pub(crate) fn metric_fire() -> Fire {
        let run = RunInfo {
            key: RunKey { entity: "acme".into(), project: "mnist".into(), run_id: "r1".into() },
            run_name: Some("train-lr3".into()),
            user: Some("ana".into()),
            tags: vec!["sweep".into()],
            config: serde_json::from_str(r#"{"lr": 0.001}"#).unwrap(),
            author: None,
        };
        Fire {
            id: "fire_4567".into(),
            automation_id: "auto-2".into(),
            automation_name: "loss-too-high".into(),
            trigger: TriggerKind::RunMetricThreshold,
            entity: "acme".into(),
            event_id: "evt-5".into(),
            event_source: "tracker".into(),
            event_type: "run.metrics.logged",
            time: Timestamp(1_793_534_405_000),
            subject: Subject::Metric {
                run,
                metric: "loss".into(),
                step: 8,
                values: vec![0.9, 1.4, 1.6],
                observed: Observed::Threshold { value: 1.3 },
                condition: MetricCondition::Threshold(Threshold {
                    name: "loss".into(),
                    agg: Some(Agg::Average),
                    window: 3,
                    cmp: Cmp::Gt,
                    threshold: 1.0,
                }),
            },
            action: Action::Slack {
                integration: "alerts".into(),
                title: "Loss too high".into(),
                message: "Check <the> run".into(),
                severity: Severity::Warn,
            },
        }
    }

    #[test]
    fn default_payload_holds_the_whole_fire() {
        let p = default_payload(&artifact_fire());
        assert_eq!(p["schema"], DEFAULT_PAYLOAD_SCHEMA);
        assert_eq!(p["fire_id"], "fire_0123");
        assert_eq!(p["automation"]["name"], "deploy");
        assert_eq!(p["event_type"], "ADD_ARTIFACT_ALIAS");
        assert_eq!(p["event"]["type"], "artifact.alias.added");
        assert_eq!(p["artifact"]["version_string"], "acme/mnist/classifier:v7");
        assert_eq!(p["artifact"]["metadata"]["accuracy"], 0.93);
        assert_eq!(p["author"], "ana");
        let m = default_payload(&metric_fire());
        assert_eq!(m["run"]["run_name"], "train-lr3");
        assert_eq!(m["run"]["config"]["lr"], 0.001);
        assert_eq!(m["metric"]["values"], json!([0.9, 1.4, 1.6]));
        assert_eq!(m["metric"]["condition"]["agg"], "AVERAGE");
        assert_eq!(m["metric"]["observed"]["value"], 1.3);
        assert!(m.get("artifact").is_none());
    }

    #[test]
    fn bodies_follow_the_action() {
        let mut f = artifact_fire();
        assert_eq!(serde_json::from_str::<Value>(&body(&f).unwrap()).unwrap(), default_payload(&f));
        f.action = Action::Webhook { integration: "hook".into(), payload: Some(r#"{"a":"${alias}"}"#.into()) };
        assert_eq!(body(&f).unwrap(), r#"{"a":"production"}"#);
        f.action = Action::None;
        assert_eq!(body(&f), None);
    }

    #[test]
    fn slack_message_is_block_kit_with_escaped_values() {
        let f = metric_fire();
        let m: Value = serde_json::from_str(&body(&f).unwrap()).unwrap();
        let blocks = m["blocks"].as_array().unwrap();
        assert_eq!(blocks[0]["type"], "header");
        assert_eq!(blocks[0]["text"]["text"], "Loss too high");
        assert_eq!(blocks[1]["text"]["text"], "Check &lt;the&gt; run");
        let fields: Vec<&str> =
            blocks[2]["fields"].as_array().unwrap().iter().map(|x| x["text"].as_str().unwrap()).collect();
        assert_eq!(
            fields,
            ["*Severity*\nWARN", "*Entity/project*\nacme/mnist", "*Author*\nana", "*Automation*\nloss-too-high"]
        );
        let what = blocks[3]["text"]["text"].as_str().unwrap();
        assert!(what.contains("`r1` (train-lr3) at step 8") && what.contains("average of loss = 1.3"), "{what}");
        assert!(what.contains("[0.9,1.4,1.6]"), "{what}");
        assert!(m["text"].as_str().unwrap().starts_with(":warning: [WARN] Loss too high"), "{}", m["text"]);

        let mut a = artifact_fire();
        a.action = Action::Slack {
            integration: "c".into(),
            title: String::new(),
            message: String::new(),
            severity: Severity::Info,
        };
        let m: Value = serde_json::from_str(&body(&a).unwrap()).unwrap();
        assert_eq!(m["blocks"][0]["text"]["text"], "deploy", "an empty title falls back to the automation's name");
        let what = m["blocks"][2]["text"]["text"].as_str().unwrap();
        assert!(what.contains("`acme/mnist/classifier:v7`") && what.contains("tag `&lt;b&gt;&amp;`"), "{what}");
    }

    #[test]
    fn long_titles_are_cut_to_slack_limits() {
        let mut f = metric_fire();
        f.action = Action::Slack {
            integration: "c".into(),
            title: "t".repeat(400),
            message: "m".repeat(5000),
            severity: Severity::Error,
        };
        let m: Value = serde_json::from_str(&body(&f).unwrap()).unwrap();
        assert_eq!(m["blocks"][0]["text"]["text"].as_str().unwrap().chars().count(), HEADER_MAX);
        assert_eq!(m["blocks"][1]["text"]["text"].as_str().unwrap().chars().count(), SECTION_MAX);
    }

    #[test]
    fn a_run_state_fire_reads_well() {
        let mut f = metric_fire();
        let Subject::Metric { run, .. } = f.subject.clone() else { unreachable!() };
        f.subject = Subject::RunState { run, state: RunState::Crashed, previous: Some(RunState::Running) };
        f.trigger = TriggerKind::RunState;
        let p = default_payload(&f);
        assert_eq!(p["run"]["state"], "crashed");
        assert_eq!(p["run"]["previous_state"], "running");
        let m = slack_message(&f, "t", "", Severity::Error);
        let what = m["blocks"][2]["text"]["text"].as_str().unwrap();
        assert_eq!(what, "*Run* `r1` (train-lr3) is now *crashed* (was running)");
    }
}
