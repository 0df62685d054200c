//! Fires: an automation matched an event. Deterministic ids make recording a fire idempotent.

use crate::event::{Envelope, LinkSource, RunInfo};
use crate::id::{AutomationId, EntityId, FireId};
use crate::model::{Action, Location, MetricCondition, RunState, TriggerKind};
use crate::time::Timestamp;
use crate::window::Observed;
use serde::Serialize;
use serde_json::{Map, Value};
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
    /// An artifact or collection event fired the automation.
    Artifact {
        /// The project or registry the event happened in (for a link, the registry linked into).
        location: Location,
        /// The artifact collection's name.
        collection: String,
        /// The collection's type, e.g. `model` or `dataset`.
        collection_type: String,
        /// The version's index in the collection; `None` on collection tag events.
        version: Option<u64>,
        /// The alias added, on `artifact.alias.added`.
        alias: Option<String>,
        /// The tag added or removed, on tag events.
        tag: Option<String>,
        /// The version's aliases as the event sent them.
        aliases: Vec<String>,
        /// The version's tags as the event sent them.
        tags: Vec<String>,
        /// The user who caused the event, if the event named one.
        author: Option<String>,
        /// The version's metadata as the event sent it (empty when it sent none).
        metadata: Map<String, Value>,
        /// Where a linked or unlinked version came from.
        source: Option<LinkSource>,
    },
    /// A run state change fired the automation.
    RunState {
        /// The run, as the event described it.
        run: RunInfo,
        /// The state the run changed to.
        state: RunState,
        /// The state it changed from, when the event said.
        previous: Option<RunState>,
    },
    /// A metric condition held on a run's logged values.
    Metric {
        /// The run, as the event described it.
        run: RunInfo,
        /// The name of the metric the condition is on.
        metric: String,
        /// The step of the row that made the condition hold.
        step: i64,
        /// Every value the condition read, oldest first: the window; for change the prior
        /// window then the current one; for z-score the window then the new value.
        values: Vec<f64>,
        /// What the condition computed from `values` (the value, the change, or the z-score).
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
    /// Deterministic id of this fire (see [`fire_id`]); also the delivery's `webhook-id`.
    pub id: FireId,
    /// The automation that fired.
    pub automation_id: AutomationId,
    /// The automation's name at fire time.
    pub automation_name: String,
    /// The automation's trigger kind.
    pub trigger: TriggerKind,
    /// The entity the event belongs to.
    pub entity: EntityId,
    /// The envelope's `id`.
    pub event_id: String,
    /// The envelope's `source`.
    pub event_source: String,
    /// The CloudEvents type of the envelope.
    pub event_type: &'static str,
    /// The time of the row (or envelope) that made the automation fire.
    pub time: Timestamp,
    /// What fired, with the values of the event (and for metric fires the values read).
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
    pub fn line(&self) -> FireLine<'_> {
        let subject = match &self.subject {
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
            } => SubjectLine::Artifact {
                location,
                collection,
                collection_type,
                version: *version,
                alias: alias.as_deref(),
                tag: tag.as_deref(),
                aliases,
                tags,
                author: author.as_deref(),
                metadata,
                source: source.as_ref(),
            },
            Subject::RunState { run, state, previous } => SubjectLine::RunState {
                run: RunLine::of(run),
                state: state.as_str(),
                previous_state: previous.map(RunState::as_str),
            },
            Subject::Metric { run, metric, step, values, observed, .. } => SubjectLine::Metric {
                run: RunLine::of(run),
                metric_name: metric,
                step: *step,
                metric_values: values,
                observed: *observed,
            },
        };
        FireLine {
            automation: &self.automation_name,
            automation_id: self.automation_id.as_str(),
            fire_id: self.id.as_str(),
            event_id: &self.event_id,
            event_source: &self.event_source,
            event_type: self.trigger.as_str(),
            cloudevent_type: self.event_type,
            time: self.time.to_string(),
            entity: self.entity.as_str(),
            subject,
        }
    }

    /// [`Fire::line`] as a JSON value.
    pub fn to_value(&self) -> Value {
        // Strings, numbers and JSON maps under string keys: serializing cannot fail.
        serde_json::to_value(self.line()).unwrap_or(Value::Null)
    }
}

/// A fire as one JSON object, keys in this order: `automation`, `automation_id`, `fire_id`,
/// `event_id`, `event_source`, `event_type` (the trigger), `cloudevent_type`, `time`, `entity`,
/// then the subject's fields. The replay's output line and an execution's `event`.
#[derive(Debug, Serialize)]
pub struct FireLine<'a> {
    /// The automation's name at fire time.
    pub automation: &'a str,
    /// The automation's id.
    pub automation_id: &'a str,
    /// The fire's id.
    pub fire_id: &'a str,
    /// The envelope's `id`.
    pub event_id: &'a str,
    /// The envelope's `source`.
    pub event_source: &'a str,
    /// The automation's trigger, e.g. `RUN_METRIC_THRESHOLD` (not the CloudEvents type).
    pub event_type: &'static str,
    /// The envelope's CloudEvents type, e.g. `run.metrics.logged`.
    pub cloudevent_type: &'static str,
    /// The fire's time, formatted as RFC 3339.
    pub time: String,
    /// The entity the event belongs to.
    pub entity: &'a str,
    /// The subject's fields, written inline after the fields above.
    #[serde(flatten)]
    pub subject: SubjectLine<'a>,
}

/// The subject's fields of a [`FireLine`]; absent options are left out.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum SubjectLine<'a> {
    /// The fields of an artifact or collection event's fire.
    Artifact {
        /// `"project": name` or `"registry": name`.
        #[serde(flatten)]
        location: &'a Location,
        /// The artifact collection's name.
        collection: &'a str,
        /// The collection's type, e.g. `model`.
        collection_type: &'a str,
        /// The version's index; left out on collection tag events.
        #[serde(skip_serializing_if = "Option::is_none")]
        version: Option<u64>,
        /// The alias added, on `artifact.alias.added`.
        #[serde(skip_serializing_if = "Option::is_none")]
        alias: Option<&'a str>,
        /// The tag added or removed, on tag events.
        #[serde(skip_serializing_if = "Option::is_none")]
        tag: Option<&'a str>,
        /// The version's aliases.
        aliases: &'a [String],
        /// The version's tags.
        tags: &'a [String],
        /// The user who caused the event.
        #[serde(skip_serializing_if = "Option::is_none")]
        author: Option<&'a str>,
        /// The version's metadata; left out when empty.
        #[serde(skip_serializing_if = "Map::is_empty")]
        metadata: &'a Map<String, Value>,
        /// Where a linked version came from; its parts are `null` when unknown.
        #[serde(skip_serializing_if = "Option::is_none")]
        source: Option<&'a LinkSource>,
    },
    /// The fields of a run state change's fire.
    RunState {
        /// The run's `project`, `run_id`, `run_name` and `user`, written inline.
        #[serde(flatten)]
        run: RunLine<'a>,
        /// The state the run changed to, e.g. `failed`.
        state: &'static str,
        /// The state it changed from, when the event said.
        #[serde(skip_serializing_if = "Option::is_none")]
        previous_state: Option<&'static str>,
    },
    /// The fields of a metric condition's fire.
    Metric {
        /// The run's `project`, `run_id`, `run_name` and `user`, written inline.
        #[serde(flatten)]
        run: RunLine<'a>,
        /// The name of the metric.
        metric_name: &'a str,
        /// The step of the row that made the condition hold.
        step: i64,
        /// Every value the condition read, oldest first.
        metric_values: &'a [f64],
        /// `value`; or `prior`, `current`, `change`; or `value`, `mean`, `stddev`, `zscore`.
        #[serde(flatten)]
        observed: Observed,
    },
}

/// The run of a run event's fire: `project`, `run_id`, and `run_name`, `user` when known.
#[derive(Debug, Serialize)]
pub struct RunLine<'a> {
    /// The run's project.
    pub project: &'a str,
    /// The run's id within its project.
    pub run_id: &'a str,
    /// The run's display name, when the event gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_name: Option<&'a str>,
    /// The user who owns the run, when the event gave one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<&'a str>,
}

impl RunLine<'_> {
    fn of(run: &RunInfo) -> RunLine<'_> {
        RunLine {
            project: &run.key.project,
            run_id: &run.key.run_id,
            run_name: run.run_name.as_deref(),
            user: run.user.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn sample_fires() -> Vec<Fire> {
        use crate::delivery::payload::tests::{artifact_fire, metric_fire};
        use crate::event::LinkSource;
        use crate::model::{Location, RunState};
        use crate::window::Observed;
        let mut out = vec![artifact_fire(), metric_fire()];
        let mut linked = artifact_fire();
        if let Subject::Artifact { location, source, metadata, alias, author, version, tags, .. } = &mut linked.subject
        {
            *location = Location::Registry("models".into());
            *source = Some(LinkSource { project: Some("mnist".into()), collection: None, version: Some(3) });
            metadata.clear();
            *alias = None;
            *author = None;
            *version = None;
            tags.push("t\"1".into());
        }
        out.push(linked);
        let mut change = metric_fire();
        if let Subject::Metric { observed, values, run, .. } = &mut change.subject {
            *observed = Observed::Change { prior: 1.5, current: -0.25, delta: -1.1666666666666667 };
            values.push(1e-300);
            run.run_name = None;
        }
        out.push(change);
        let mut z = metric_fire();
        if let Subject::Metric { observed, run, .. } = &mut z.subject {
            *observed = Observed::ZScore { value: 9.0, mean: 1.0, stddev: 0.5, z: 16.0 };
            run.user = None;
        }
        out.push(z);
        let mut state = metric_fire();
        if let Subject::Metric { run, .. } = &state.subject {
            state.subject =
                Subject::RunState { run: run.clone(), state: RunState::Failed, previous: Some(RunState::Running) };
        }
        out.push(state.clone());
        if let Subject::RunState { previous, .. } = &mut state.subject {
            *previous = None;
        }
        out.push(state);
        out
    }

    /// The lines `automations replay` printed before they were derived, byte for byte: a fire
    /// line is an output format users parse.
    #[test]
    fn fire_lines_keep_their_bytes() {
        let expected = [
            r#"{"automation":"deploy","automation_id":"auto-1","fire_id":"fire_0123","event_id":"evt-2","event_source":"tracker","event_type":"ADD_ARTIFACT_ALIAS","cloudevent_type":"artifact.alias.added","time":"2026-11-01T12:00:00Z","entity":"acme","project":"mnist","collection":"classifier","collection_type":"model","version":7,"alias":"production","tag":"<b>&","aliases":["production","latest"],"tags":[],"author":"ana","metadata":{"accuracy":0.93,"name":"resnet"}}"#,
            r#"{"automation":"loss-too-high","automation_id":"auto-2","fire_id":"fire_4567","event_id":"evt-5","event_source":"tracker","event_type":"RUN_METRIC_THRESHOLD","cloudevent_type":"run.metrics.logged","time":"2026-11-01T12:00:05Z","entity":"acme","project":"mnist","run_id":"r1","run_name":"train-lr3","user":"ana","metric_name":"loss","step":8,"metric_values":[0.9,1.4,1.6],"value":1.3}"#,
            r#"{"automation":"deploy","automation_id":"auto-1","fire_id":"fire_0123","event_id":"evt-2","event_source":"tracker","event_type":"ADD_ARTIFACT_ALIAS","cloudevent_type":"artifact.alias.added","time":"2026-11-01T12:00:00Z","entity":"acme","registry":"models","collection":"classifier","collection_type":"model","tag":"<b>&","aliases":["production","latest"],"tags":["t\"1"],"source":{"project":"mnist","collection":null,"version":3}}"#,
            r#"{"automation":"loss-too-high","automation_id":"auto-2","fire_id":"fire_4567","event_id":"evt-5","event_source":"tracker","event_type":"RUN_METRIC_THRESHOLD","cloudevent_type":"run.metrics.logged","time":"2026-11-01T12:00:05Z","entity":"acme","project":"mnist","run_id":"r1","user":"ana","metric_name":"loss","step":8,"metric_values":[0.9,1.4,1.6,1e-300],"prior":1.5,"current":-0.25,"change":-1.1666666666666667}"#,
            r#"{"automation":"loss-too-high","automation_id":"auto-2","fire_id":"fire_4567","event_id":"evt-5","event_source":"tracker","event_type":"RUN_METRIC_THRESHOLD","cloudevent_type":"run.metrics.logged","time":"2026-11-01T12:00:05Z","entity":"acme","project":"mnist","run_id":"r1","run_name":"train-lr3","metric_name":"loss","step":8,"metric_values":[0.9,1.4,1.6],"value":9.0,"mean":1.0,"stddev":0.5,"zscore":16.0}"#,
            r#"{"automation":"loss-too-high","automation_id":"auto-2","fire_id":"fire_4567","event_id":"evt-5","event_source":"tracker","event_type":"RUN_METRIC_THRESHOLD","cloudevent_type":"run.metrics.logged","time":"2026-11-01T12:00:05Z","entity":"acme","project":"mnist","run_id":"r1","run_name":"train-lr3","user":"ana","state":"failed","previous_state":"running"}"#,
            r#"{"automation":"loss-too-high","automation_id":"auto-2","fire_id":"fire_4567","event_id":"evt-5","event_source":"tracker","event_type":"RUN_METRIC_THRESHOLD","cloudevent_type":"run.metrics.logged","time":"2026-11-01T12:00:05Z","entity":"acme","project":"mnist","run_id":"r1","run_name":"train-lr3","user":"ana","state":"failed"}"#,
        ];
        let got: Vec<String> = sample_fires().iter().map(|f| serde_json::to_string(&f.line()).unwrap()).collect();
        assert_eq!(got, expected);
        assert_eq!(sample_fires()[1].to_value().to_string(), expected[1]);
    }

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
