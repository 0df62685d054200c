//! Fires: an automation matched an event. Deterministic ids make recording a fire idempotent.

use crate::event::{Envelope, LinkSource, RunInfo};
use crate::id::{AutomationId, EntityId, FireId};
use crate::model::{Action, Location, MetricCondition, RunState, TriggerKind};
use crate::time::Timestamp;
use crate::window::Observed;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// A fire's id: derived from the automation and the envelope's (`source`, `id`), and for metric
/// fires the metric and step, so a redelivered or concurrently processed event gives the same id.
/// It is the delivery's `webhook-id`, so receivers can deduplicate too.
pub fn fire_id(automation_id: &AutomationId, source: &str, event_id: &str, metric: Option<(&str, i64)>) -> FireId {
    let mut h = Sha256::new();
    // Length-prefixed parts: no two different tuples hash the same bytes.
    for part in [automation_id.as_str(), source, event_id] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    if let Some((name, step)) = metric {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update(step.to_le_bytes());
    }
    let digest = h.finalize();
    let mut id = String::with_capacity(37);
    id.push_str("fire_");
    for b in &digest[..16] {
        id.push_str(&format!("{b:02x}"));
    }
    FireId::new(id)
}

/// What fired: the artifact, the run state change, or the metric and the values read.
#[derive(Debug, Clone, PartialEq)]
pub enum Subject {
    Artifact {
        location: Location,
        collection: String,
        collection_type: String,
        version: Option<u64>,
        alias: Option<String>,
        tag: Option<String>,
        aliases: Vec<String>,
        tags: Vec<String>,
        author: Option<String>,
        metadata: Map<String, Value>,
        source: Option<LinkSource>,
    },
    RunState {
        run: RunInfo,
        state: RunState,
        previous: Option<RunState>,
    },
    Metric {
        run: RunInfo,
        metric: String,
        step: i64,
        /// Every value the condition read, oldest first: the window; for change the prior
        /// window then the current one; for z-score the window then the new value.
        values: Vec<f64>,
        observed: Observed,
        /// The automation's condition at fire time (what `${metric_filter}` describes).
        condition: MetricCondition,
    },
}

/// How long fire records (and so executions) are kept.
pub const FIRE_TTL: i64 = 30 * crate::time::DAY;

/// An automation fired.
#[derive(Debug, Clone, PartialEq)]
pub struct Fire {
    pub id: FireId,
    pub automation_id: AutomationId,
    /// The automation's name at fire time.
    pub automation_name: String,
    pub trigger: TriggerKind,
    pub entity: EntityId,
    pub event_id: String,
    pub event_source: String,
    /// The CloudEvents type of the envelope.
    pub event_type: &'static str,
    /// The time of the row (or envelope) that made the automation fire.
    pub time: Timestamp,
    pub subject: Subject,
    /// The automation's action at fire time: what delivering this fire means.
    pub action: Action,
}

impl Fire {
    pub(crate) fn base(
        automation: &crate::model::Automation,
        env: &Envelope,
        metric: Option<(&str, i64)>,
        time: Timestamp,
        subject: Subject,
    ) -> Fire {
        Fire {
            id: fire_id(&automation.id, &env.source, &env.id, metric),
            automation_id: automation.id.clone(),
            automation_name: automation.name.clone(),
            trigger: automation.trigger.kind(),
            entity: match &subject {
                Subject::RunState { run, .. } | Subject::Metric { run, .. } => run.key.entity.clone().into(),
                Subject::Artifact { .. } => match &env.data {
                    crate::event::EventData::Artifact(a) => a.entity.clone().into(),
                    _ => EntityId::default(),
                },
            },
            event_id: env.id.clone(),
            event_source: env.source.clone(),
            event_type: env.event_type(),
            time,
            subject,
            action: automation.action.clone(),
        }
    }

    /// The run this fire is about, for run events.
    pub fn run(&self) -> Option<&RunInfo> {
        match &self.subject {
            Subject::RunState { run, .. } | Subject::Metric { run, .. } => Some(run),
            Subject::Artifact { .. } => None,
        }
    }

    /// The fire as one JSON object: what `automations replay` prints and executions record.
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("automation".into(), self.automation_name.clone().into());
        o.insert("automation_id".into(), self.automation_id.clone().into());
        o.insert("fire_id".into(), self.id.clone().into());
        o.insert("event_id".into(), self.event_id.clone().into());
        o.insert("event_source".into(), self.event_source.clone().into());
        o.insert("event_type".into(), self.trigger.as_str().into());
        o.insert("cloudevent_type".into(), self.event_type.into());
        o.insert("time".into(), self.time.to_string().into());
        o.insert("entity".into(), self.entity.clone().into());
        match &self.subject {
            Subject::Artifact {
                location,
                collection,
                collection_type,
                version,
                alias,
                tag,
                aliases,
                tags,
                author,
                metadata,
                source,
            } => {
                match location {
                    Location::Project(p) => o.insert("project".into(), p.clone().into()),
                    Location::Registry(r) => o.insert("registry".into(), r.clone().into()),
                };
                o.insert("collection".into(), collection.clone().into());
                o.insert("collection_type".into(), collection_type.clone().into());
                if let Some(v) = version {
                    o.insert("version".into(), (*v).into());
                }
                if let Some(a) = alias {
                    o.insert("alias".into(), a.clone().into());
                }
                if let Some(t) = tag {
                    o.insert("tag".into(), t.clone().into());
                }
                o.insert("aliases".into(), json!(aliases));
                o.insert("tags".into(), json!(tags));
                if let Some(a) = author {
                    o.insert("author".into(), a.clone().into());
                }
                if !metadata.is_empty() {
                    o.insert("metadata".into(), Value::Object(metadata.clone()));
                }
                if let Some(s) = source {
                    o.insert(
                        "source".into(),
                        json!({"project": s.project, "collection": s.collection, "version": s.version}),
                    );
                }
            }
            Subject::RunState { run, state, previous } => {
                insert_run(&mut o, run);
                o.insert("state".into(), state.as_str().into());
                if let Some(p) = previous {
                    o.insert("previous_state".into(), p.as_str().into());
                }
            }
            Subject::Metric { run, metric, step, values, observed, .. } => {
                insert_run(&mut o, run);
                o.insert("metric_name".into(), metric.clone().into());
                o.insert("step".into(), (*step).into());
                o.insert("metric_values".into(), json!(values));
                match *observed {
                    Observed::Threshold { value } => {
                        o.insert("value".into(), json!(value));
                    }
                    Observed::Change { prior, current, delta } => {
                        o.insert("prior".into(), json!(prior));
                        o.insert("current".into(), json!(current));
                        o.insert("change".into(), json!(delta));
                    }
                    Observed::ZScore { value, mean, stddev, z } => {
                        o.insert("value".into(), json!(value));
                        o.insert("mean".into(), json!(mean));
                        o.insert("stddev".into(), json!(stddev));
                        o.insert("zscore".into(), json!(z));
                    }
                }
            }
        }
        Value::Object(o)
    }
}

fn insert_run(o: &mut Map<String, Value>, run: &RunInfo) {
    o.insert("project".into(), run.key.project.clone().into());
    o.insert("run_id".into(), run.key.run_id.clone().into());
    if let Some(n) = &run.run_name {
        o.insert("run_name".into(), n.clone().into());
    }
    if let Some(u) = &run.user {
        o.insert("user".into(), u.clone().into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_deterministic_and_distinct() {
        let a = fire_id(&AutomationId::new("auto"), "src", "evt-1", None);
        assert_eq!(a, fire_id(&AutomationId::new("auto"), "src", "evt-1", None));
        assert_eq!(a.as_str().len(), 37);
        assert!(a.as_str().starts_with("fire_"));
        assert_ne!(a, fire_id(&AutomationId::new("auto"), "src", "evt-2", None));
        assert_ne!(a, fire_id(&AutomationId::new("auto"), "other", "evt-1", None));
        assert_ne!(a, fire_id(&AutomationId::new("auto2"), "src", "evt-1", None));
        assert_ne!(
            fire_id(&AutomationId::new("a"), "bc", "d", None),
            fire_id(&AutomationId::new("ab"), "c", "d", None),
            "parts cannot bleed into each other"
        );
        let m = fire_id(&AutomationId::new("auto"), "src", "evt-1", Some(("loss", 10)));
        assert_ne!(m, a);
        assert_ne!(m, fire_id(&AutomationId::new("auto"), "src", "evt-1", Some(("loss", 11))));
        assert_ne!(m, fire_id(&AutomationId::new("auto"), "src", "evt-1", Some(("acc", 10))));
    }
}
