//! Events in: CloudEvents 1.0 envelopes (SPEC section 3), parsed at the edge into typed events.

mod fast;
pub(crate) mod nonfinite;
mod parse;
mod scan;

pub use parse::{MAX_ENVELOPE_BYTES, Rejected, parse_envelope, parse_envelope_at, parse_value};

use crate::model::{Location, RunState, TriggerKind};
use crate::time::Timestamp;
use serde_json::{Map, Value};

/// The envelope types this product takes, by their CloudEvents `type`.
pub const EVENT_TYPES: [&str; 11] = [
    "artifact.version.created",
    "artifact.version.linked",
    "artifact.version.unlinked",
    "artifact.alias.added",
    "artifact.tag.added",
    "artifact.tag.removed",
    "collection.tag.added",
    "collection.tag.removed",
    "run.state.changed",
    "run.metrics.logged",
    "run.heartbeat",
];

/// A parsed, valid envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// With `source`, the idempotency key.
    pub id: String,
    /// The envelope's `source`: with `id`, the idempotency key.
    pub source: String,
    /// The envelope's `time` (the event time, which windows and state ordering follow).
    pub time: Timestamp,
    /// The typed `data`, by the envelope's `type`.
    pub data: EventData,
}

impl Envelope {
    /// The CloudEvents `type` this envelope came with.
    pub fn event_type(&self) -> &'static str {
        match &self.data {
            EventData::Artifact(a) => match a.trigger {
                TriggerKind::CreateArtifact => "artifact.version.created",
                TriggerKind::LinkArtifact => "artifact.version.linked",
                TriggerKind::UnlinkArtifact => "artifact.version.unlinked",
                TriggerKind::AddArtifactAlias => "artifact.alias.added",
                TriggerKind::AddArtifactTag => "artifact.tag.added",
                TriggerKind::RemoveArtifactTag => "artifact.tag.removed",
                TriggerKind::AddCollectionTag => "collection.tag.added",
                _ => "collection.tag.removed",
            },
            EventData::RunState(_) => "run.state.changed",
            EventData::Metrics(_) => "run.metrics.logged",
            EventData::Heartbeat(_) => "run.heartbeat",
        }
    }

    /// The run this envelope is about, for run events.
    pub fn run_key(&self) -> Option<&RunKey> {
        match &self.data {
            EventData::RunState(e) => Some(&e.run.key),
            EventData::Metrics(e) => Some(&e.run.key),
            EventData::Heartbeat(k) => Some(k),
            EventData::Artifact(_) => None,
        }
    }
}

/// What an envelope says, by its type.
#[derive(Debug, Clone, PartialEq)]
pub enum EventData {
    /// One of the `artifact.*` and `collection.*` types.
    Artifact(ArtifactEvent),
    /// `run.state.changed`.
    RunState(RunStateEvent),
    /// `run.metrics.logged`.
    Metrics(MetricsEvent),
    /// `run.heartbeat`: the run is alive, and nothing more.
    Heartbeat(RunKey),
}

/// Where a link came from (`data.source` of link and unlink events).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct LinkSource {
    /// The project the linked version came from, if sent.
    pub project: Option<String>,
    /// The collection the linked version came from, if sent.
    pub collection: Option<String>,
    /// The linked version's index in its source collection, if sent.
    pub version: Option<u64>,
}

/// An artifact or collection event.
#[derive(Debug, Clone, PartialEq)]
pub struct ArtifactEvent {
    /// The trigger this event is for (`artifact.alias.added` is `ADD_ARTIFACT_ALIAS`).
    pub trigger: TriggerKind,
    /// The entity the event belongs to (`data.entity`).
    pub entity: String,
    /// For a link or unlink, the registry linked into.
    pub location: Location,
    /// The artifact collection's name.
    pub collection: String,
    /// The collection's type, e.g. `model` or `dataset`.
    pub collection_type: String,
    /// The version's index; absent on collection tag events.
    pub version: Option<u64>,
    /// The version's aliases (`data.aliases`; empty when absent).
    pub aliases: Vec<String>,
    /// The version's tags (`data.tags`; empty when absent).
    pub tags: Vec<String>,
    /// The version's metadata (`data.metadata`; empty when absent).
    pub metadata: Map<String, Value>,
    /// The user who caused the event (`data.author`), if sent.
    pub author: Option<String>,
    /// The alias added (`artifact.alias.added`).
    pub alias: Option<String>,
    /// The tag added or removed (tag events).
    pub tag: Option<String>,
    /// Where the linked version came from (`data.source`): link and unlink events only.
    pub source: Option<LinkSource>,
}

impl ArtifactEvent {
    /// The document artifact filters are evaluated against (SPEC section 4): `alias` is the
    /// alias added on `artifact.alias.added` and the version's aliases otherwise, likewise `tag`.
    pub fn filter_doc(&self) -> Value {
        let mut doc = Map::new();
        let strings = |v: &[String]| Value::Array(v.iter().map(|s| Value::String(s.clone())).collect());
        doc.insert("alias".into(), self.alias.clone().map_or_else(|| strings(&self.aliases), Value::String));
        doc.insert("tag".into(), self.tag.clone().map_or_else(|| strings(&self.tags), Value::String));
        doc.insert("collection".into(), self.collection.clone().into());
        doc.insert("collection_type".into(), self.collection_type.clone().into());
        if let Some(a) = &self.author {
            doc.insert("author".into(), a.clone().into());
        }
        if let Some(v) = self.version {
            doc.insert("version".into(), v.into());
        }
        doc.insert("metadata".into(), Value::Object(self.metadata.clone()));
        Value::Object(doc)
    }
}

/// A run: (entity, project, run_id). Its windows, steps and cooldowns are its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunKey {
    /// The entity (`data.entity`).
    pub entity: String,
    /// The project within the entity.
    pub project: String,
    /// The run's id within the project.
    pub run_id: String,
}

/// What a run event says about its run, for run filters and deliveries.
#[derive(Debug, Clone, PartialEq)]
pub struct RunInfo {
    /// Which run.
    pub key: RunKey,
    /// The run's display name (`data.run_name`), if sent.
    pub run_name: Option<String>,
    /// The user who owns the run (`data.user`), if sent.
    pub user: Option<String>,
    /// The run's tags (empty when absent).
    pub tags: Vec<String>,
    /// The run's config (empty when absent); run filters read it as `config.KEY`.
    pub config: Map<String, Value>,
    /// The user who caused the event (`data.author`), if sent.
    pub author: Option<String>,
}

impl RunInfo {
    /// The document run filters are evaluated against: `display_name`, `run_id`, `username`,
    /// `state`, `tags`, `config.KEY`.
    pub fn filter_doc(&self, state: RunState) -> Value {
        let mut doc = Map::new();
        if let Some(n) = &self.run_name {
            doc.insert("display_name".into(), n.clone().into());
        }
        doc.insert("run_id".into(), self.key.run_id.clone().into());
        if let Some(u) = &self.user {
            doc.insert("username".into(), u.clone().into());
        }
        doc.insert("state".into(), state.as_str().into());
        doc.insert("tags".into(), Value::Array(self.tags.iter().map(|t| Value::String(t.clone())).collect()));
        doc.insert("config".into(), Value::Object(self.config.clone()));
        Value::Object(doc)
    }
}

/// `run.state.changed`: a run entered a new state.
#[derive(Debug, Clone, PartialEq)]
pub struct RunStateEvent {
    /// The run whose state changed.
    pub run: RunInfo,
    /// The new state (`data.state`).
    pub state: RunState,
    /// The state before (`data.previous_state`), if sent.
    pub previous: Option<RunState>,
}

/// `run.metrics.logged`: rows of values, in the order they were sent.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsEvent {
    /// The run that logged the rows.
    pub run: RunInfo,
    /// The metric names used by the rows, each once; rows refer to them by index.
    pub names: Vec<String>,
    /// The rows, in the order sent.
    pub rows: Vec<Row>,
    /// Every row's values, row after row: (index into `names`, value). One vector for the
    /// envelope rather than one per row: an allocation per row was a tenth of reading one, and
    /// the evaluator reads them in this order.
    pub values: Vec<(u32, f64)>,
}

/// One logged row. Metrics that were `null` (not logged at this step) are left out; non-finite
/// values are kept and skipped by the windows.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The step the row was logged at.
    pub step: i64,
    /// The row's own `time`, if it had one; else the envelope's time applies.
    pub time: Option<Timestamp>,
    /// Where the row's values are in [`MetricsEvent::values`]: see [`MetricsEvent::row_values`].
    pub values: std::ops::Range<usize>,
}

impl MetricsEvent {
    /// An event of `rows`, each given with its values.
    pub fn from_rows(
        run: RunInfo,
        names: Vec<String>,
        rows: impl IntoIterator<Item = (i64, Option<Timestamp>, Vec<(u32, f64)>)>,
    ) -> MetricsEvent {
        let mut event = MetricsEvent { run, names, rows: Vec::new(), values: Vec::new() };
        for (step, time, values) in rows {
            event.push_row(step, time, values);
        }
        event
    }

    /// Add a row at the end.
    pub fn push_row(&mut self, step: i64, time: Option<Timestamp>, values: impl IntoIterator<Item = (u32, f64)>) {
        let start = self.values.len();
        self.values.extend(values);
        self.rows.push(Row { step, time, values: start..self.values.len() });
    }

    /// The values of `row`, one of this event's: (index into `names`, value).
    #[inline]
    pub fn row_values(&self, row: &Row) -> &[(u32, f64)] {
        &self.values[row.values.clone()]
    }

    /// Each row with its values.
    pub fn rows_with_values(&self) -> impl Iterator<Item = (&Row, &[(u32, f64)])> {
        self.rows.iter().map(|r| (r, self.row_values(r)))
    }

    /// The same run's rows `range`, as an event of their own.
    pub fn slice(&self, range: std::ops::Range<usize>) -> MetricsEvent {
        let rows = &self.rows[range];
        MetricsEvent::from_rows(
            self.run.clone(),
            self.names.clone(),
            rows.iter().map(|r| (r.step, r.time, self.row_values(r).to_vec())),
        )
    }
}
