//! The default webhook payload, `automations.fire.v1` (documented in `docs/delivery.md`), as one
//! derived type: the fields serialize in declaration order, which is the documented order.
//! Optional fields the document leaves out when absent are `skip_serializing_if`; the others are
//! `null` when absent. A new version is a new type beside this one, with its own `schema`.

use super::super::describe;
use crate::event::{LinkSource, RunInfo};
use crate::fire::{Fire, Subject};
use crate::model::{Location, MetricCondition};
use crate::time::{Timestamp, rfc3339};
use crate::window::Observed;
use crate::{AutomationId, EntityId, FireId};
use serde::Serialize;
use serde_json::{Map, Value};

/// What the default payload says it is, so a receiver can tell versions apart.
pub const DEFAULT_PAYLOAD_SCHEMA: &str = "automations.fire.v1";

/// `automations.fire.v1`.
#[derive(Debug, Serialize)]
pub struct FirePayloadV1<'a> {
    schema: &'static str,
    fire_id: &'a FireId,
    automation: AutomationRef<'a>,
    event_type: &'static str,
    #[serde(serialize_with = "rfc3339")]
    time: Timestamp,
    entity: &'a EntityId,
    event: EventRef<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    author: Option<&'a str>,
    #[serde(flatten)]
    subject: SubjectDoc<'a>,
}

#[derive(Debug, Serialize)]
struct AutomationRef<'a> {
    id: &'a AutomationId,
    name: &'a str,
}

#[derive(Debug, Serialize)]
struct EventRef<'a> {
    id: &'a str,
    source: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum SubjectDoc<'a> {
    Artifact { artifact: ArtifactDoc<'a> },
    Run { run: RunDoc<'a> },
    Metric { run: RunDoc<'a>, metric: MetricDoc<'a> },
}

#[derive(Debug, Serialize)]
struct ArtifactDoc<'a> {
    /// One of `project` and `registry`: where the collection lives.
    #[serde(skip_serializing_if = "Option::is_none")]
    project: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    registry: Option<&'a str>,
    collection: &'a str,
    collection_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_string: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    alias: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tag: Option<&'a str>,
    aliases: &'a [String],
    tags: &'a [String],
    metadata: &'a Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a LinkSource>,
}

#[derive(Debug, Serialize)]
struct RunDoc<'a> {
    project: &'a str,
    run_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    run_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    tags: &'a [String],
    config: &'a Map<String, Value>,
    /// Run state events only.
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_state: Option<&'static str>,
}

#[derive(Debug, Serialize)]
struct MetricDoc<'a> {
    name: &'a str,
    step: i64,
    values: &'a [f64],
    condition: &'a MetricCondition,
    observed: Observed,
    description: String,
    status: String,
}

impl<'a> RunDoc<'a> {
    fn of(run: &'a RunInfo) -> RunDoc<'a> {
        RunDoc {
            project: &run.key.project,
            run_id: &run.key.run_id,
            run_name: run.run_name.as_deref(),
            user: run.user.as_deref(),
            tags: &run.tags,
            config: &run.config,
            state: None,
            previous_state: None,
        }
    }
}

fn metric_doc<'a>(
    metric: &'a str,
    step: i64,
    values: &'a [f64],
    observed: &Observed,
    condition: &'a MetricCondition,
) -> MetricDoc<'a> {
    MetricDoc {
        name: metric,
        step,
        values,
        condition,
        observed: *observed,
        description: describe::condition(condition),
        status: describe::observed(metric, condition, observed),
    }
}

impl<'a> FirePayloadV1<'a> {
    /// The default (`automations.fire.v1`) payload of `fire`, borrowing from it.
    pub fn of(fire: &'a Fire) -> FirePayloadV1<'a> {
        let subject = match &fire.subject {
            Subject::Artifact {
                location,
                collection,
                collection_type,
                version,
                alias,
                tag,
                aliases,
                tags,
                author: _,
                metadata,
                source,
            } => {
                let (project, registry) = match location {
                    Location::Project(p) => (Some(p.as_str()), None),
                    Location::Registry(r) => (None, Some(r.as_str())),
                };
                SubjectDoc::Artifact {
                    artifact: ArtifactDoc {
                        project,
                        registry,
                        collection,
                        collection_type,
                        version: *version,
                        version_string: version
                            .map(|v| describe::version_string(fire.entity.as_str(), location, collection, v)),
                        alias: alias.as_deref(),
                        tag: tag.as_deref(),
                        aliases,
                        tags,
                        metadata,
                        source: source.as_ref(),
                    },
                }
            }
            Subject::RunState { run, state, previous } => SubjectDoc::Run {
                run: RunDoc {
                    state: Some(state.as_str()),
                    previous_state: previous.map(|p| p.as_str()),
                    ..RunDoc::of(run)
                },
            },
            Subject::Metric { run, metric, step, values, observed, condition } => SubjectDoc::Metric {
                run: RunDoc::of(run),
                metric: metric_doc(metric, *step, values, observed, condition),
            },
        };
        FirePayloadV1 {
            schema: DEFAULT_PAYLOAD_SCHEMA,
            fire_id: &fire.id,
            automation: AutomationRef { id: &fire.automation_id, name: &fire.automation_name },
            event_type: fire.trigger.as_str(),
            time: fire.time,
            entity: &fire.entity,
            event: EventRef { id: &fire.event_id, source: &fire.event_source, kind: fire.event_type },
            author: describe::author(fire),
            subject,
        }
    }
}
