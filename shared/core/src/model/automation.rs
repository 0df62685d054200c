//! An automation: scope, trigger (event and filters), action. Built only through validation,
//! so an `Automation` value can always be evaluated: nothing can fail at event time for a reason
//! that was knowable when it was saved.

use super::action::Action;
use super::condition::MetricCondition;
use super::reader::{ObjReader, one_of};
use super::run::RunState;
use super::scope::Scope;
use super::trigger::TriggerKind;
use crate::error::{Errors, Invalid};
use crate::filter::Filter;
use crate::id::{AutomationId, EntityId};
use crate::time::{DAY, MINUTE, Millis};
use serde::Serialize;
use serde_json::Value;

/// The default cooldown of a run metric automation: at most one fire per run in 24 hours.
pub const DEFAULT_COOLDOWN: Millis = DAY;
/// The shortest cooldown an automation may set.
pub const MIN_COOLDOWN: Millis = MINUTE;
/// The longest cooldown an automation may set.
pub const MAX_COOLDOWN: Millis = 30 * DAY;
/// The longest automation name accepted, in characters.
pub const MAX_NAME_LEN: usize = 128;

/// A filter together with the expression it was compiled from (kept for display and storage).
#[derive(Debug, Clone)]
pub struct CompiledFilter {
    /// The compiled filter; matches everything when no expression was given.
    pub filter: Filter,
    /// The expression as written; `None` when none was given.
    pub source: Option<Value>,
}

impl CompiledFilter {
    fn read(v: Option<&Value>, path: &str, errors: &mut Errors) -> CompiledFilter {
        match v {
            None => CompiledFilter { filter: Filter::match_all(), source: None },
            Some(expr) => match Filter::compile(expr) {
                Ok(filter) => CompiledFilter { filter, source: Some(expr.clone()) },
                Err(e) => {
                    errors.extend(e.within(path));
                    CompiledFilter { filter: Filter::match_all(), source: None }
                }
            },
        }
    }
}

/// What an automation reacts to, with its filters compiled.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// One of the artifact or collection events, with a filter over the event's fields.
    Artifact {
        /// Which artifact or collection event.
        kind: TriggerKind,
        /// The filter over the event's fields (`event.filter`).
        filter: CompiledFilter,
    },
    /// A run changing to one of `states`.
    RunState {
        /// The filter over the run (`event.run_filter`).
        run_filter: CompiledFilter,
        /// The states that fire when the run changes to one of them (`event.states`; never empty).
        states: Vec<RunState>,
    },
    /// A run metric condition, checked after every logged value.
    Metric {
        /// The filter over the run (`event.run_filter`).
        run_filter: CompiledFilter,
        /// The condition on the metric (`event.metric`).
        condition: MetricCondition,
        /// The least time between two fires for one run, in milliseconds ([`DEFAULT_COOLDOWN`] unless set).
        cooldown: Millis,
    },
}

impl Trigger {
    /// The trigger kind (for a metric trigger, its condition's).
    pub fn kind(&self) -> TriggerKind {
        match self {
            Trigger::Artifact { kind, .. } => *kind,
            Trigger::RunState { .. } => TriggerKind::RunState,
            Trigger::Metric { condition, .. } => condition.kind(),
        }
    }
}

/// A validated automation.
#[derive(Debug, Clone)]
pub struct Automation {
    /// The automation's id, given when it was created.
    pub id: AutomationId,
    /// The automation's name: non-empty, at most [`MAX_NAME_LEN`] characters, no control characters.
    pub name: String,
    /// Free text for people; `None` when not given.
    pub description: Option<String>,
    /// Whether the engine evaluates it (`true` unless the document says otherwise).
    pub enabled: bool,
    /// Which events it sees: an entity, project, registry or collection.
    pub scope: Scope,
    /// What it reacts to, with its filters compiled.
    pub trigger: Trigger,
    /// What happens when it fires.
    pub action: Action,
}

impl Automation {
    /// Validate a create document (docs/automation.md) and give it `id`. Every problem is
    /// reported, each with the path of its field.
    pub fn from_create(id: impl Into<AutomationId>, doc: &Value) -> Result<Automation, Invalid> {
        let mut errors = Errors::default();
        let Some(mut r) = ObjReader::new(doc, "", &mut errors) else {
            return Err(errors.failed());
        };
        let name = r.str("name", &mut errors).map(str::to_string);
        if let Some(n) = &name
            && n.chars().count() > MAX_NAME_LEN
        {
            errors.push("name", format!("must be at most {MAX_NAME_LEN} characters"));
        }
        if let Some(n) = &name
            && n.chars().any(char::is_control)
        {
            errors.push("name", "must not contain control characters (such as NUL or a newline)");
        }
        let description = r.opt_str("description", &mut errors).map(str::to_string);
        let enabled = r.opt_bool("enabled", &mut errors).unwrap_or(true);
        let scope = r.required("scope", &mut errors).and_then(|s| errors.take(Scope::parse(s, "scope")));
        let trigger = r.required("event", &mut errors).and_then(|e| read_trigger(e, &mut errors));
        let action = r.required("action", &mut errors).and_then(|a| Action::parse(a, "action", &mut errors));
        r.deny_unknown(&mut errors);
        if let (Some(scope), Some(trigger)) = (&scope, &trigger)
            && !trigger.kind().allowed_on(scope.kind())
        {
            errors.push(
                "event.type",
                format!(
                    "{} is not allowed on a {} scope (scope.type); {}",
                    trigger.kind(),
                    scope.kind().as_str(),
                    allowed_scopes(trigger.kind())
                ),
            );
        }
        match (name, scope, trigger, action) {
            (Some(name), Some(scope), Some(trigger), Some(action)) if errors.is_empty() => {
                Ok(Automation { id: id.into(), name, description, enabled, scope, trigger, action })
            }
            _ => Err(errors.failed()),
        }
    }

    /// The entity the automation belongs to (its scope's).
    pub fn entity(&self) -> &EntityId {
        self.scope.entity()
    }

    /// The automation as a create document with every default filled in; reading it back with
    /// [`Automation::from_create`] gives the same automation.
    pub fn document(&self) -> AutomationDocument<'_> {
        let mut event = EventDocument {
            kind: self.trigger.kind().as_str(),
            filter: None,
            run_filter: None,
            states: None,
            metric: None,
            cooldown: None,
        };
        match &self.trigger {
            Trigger::Artifact { filter, .. } => event.filter = filter.source.as_ref(),
            Trigger::RunState { run_filter, states } => {
                event.run_filter = run_filter.source.as_ref();
                event.states = Some(states.iter().map(|s| s.as_str()).collect());
            }
            Trigger::Metric { run_filter, condition, cooldown } => {
                event.run_filter = run_filter.source.as_ref();
                event.metric = Some(condition);
                event.cooldown = Some(cooldown / 1000);
            }
        }
        AutomationDocument {
            name: &self.name,
            description: self.description.as_deref(),
            enabled: self.enabled,
            scope: &self.scope,
            event,
            action: &self.action,
        }
    }

    /// [`Automation::document`] as a JSON value.
    pub fn to_document(&self) -> Value {
        // Strings, numbers, booleans and JSON values under string keys: cannot fail.
        serde_json::to_value(self.document()).unwrap_or(Value::Null)
    }
}

/// An automation's create document: what the API answers and the stores keep.
#[derive(Debug, Serialize)]
pub struct AutomationDocument<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    enabled: bool,
    scope: &'a Scope,
    event: EventDocument<'a>,
    action: &'a Action,
}

/// `event`: its type, and the filters and settings that type has.
#[derive(Debug, Serialize)]
struct EventDocument<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    filter: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    run_filter: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    states: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metric: Option<&'a MetricCondition>,
    /// Seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    cooldown: Option<Millis>,
}

fn allowed_scopes(kind: TriggerKind) -> &'static str {
    if kind.is_run_event() {
        "run events are allowed on project and entity scopes only"
    } else if kind == TriggerKind::CreateArtifact {
        "CREATE_ARTIFACT is allowed on project and collection scopes"
    } else {
        "it is allowed on every scope"
    }
}

fn read_trigger(v: &Value, errors: &mut Errors) -> Option<Trigger> {
    let mut r = ObjReader::new(v, "event", errors)?;
    let names: Vec<&str> = TriggerKind::ALL.iter().map(|k| k.as_str()).collect();
    let kind = r
        .required("type", errors)
        .and_then(|t| one_of(t, "event.type", &names, errors))
        .and_then(TriggerKind::parse)?;
    let trigger = if !kind.is_run_event() {
        let filter = CompiledFilter::read(r.get("filter"), "event.filter", errors);
        Trigger::Artifact { kind, filter }
    } else if kind == TriggerKind::RunState {
        let run_filter = CompiledFilter::read(r.get("run_filter"), "event.run_filter", errors);
        let states = read_states(r.required("states", errors), errors);
        Trigger::RunState { run_filter, states: states? }
    } else {
        let run_filter = CompiledFilter::read(r.get("run_filter"), "event.run_filter", errors);
        let condition =
            r.required("metric", errors).and_then(|m| MetricCondition::parse(kind, m, "event.metric", errors));
        let cooldown = read_cooldown(r.get("cooldown"), errors);
        Trigger::Metric { run_filter, condition: condition?, cooldown: cooldown? }
    };
    r.deny_unknown(errors);
    Some(trigger)
}

fn read_states(v: Option<&Value>, errors: &mut Errors) -> Option<Vec<RunState>> {
    let items = match v? {
        Value::Array(items) if !items.is_empty() => items,
        Value::Array(_) => {
            errors.push("event.states", "must name at least one state");
            return None;
        }
        _ => {
            errors.push("event.states", "must be an array of run states");
            return None;
        }
    };
    let mut states = Vec::new();
    for (i, s) in items.iter().enumerate() {
        let path = format!("event.states[{i}]");
        match s.as_str().and_then(RunState::parse) {
            Some(RunState::Killed) => errors.push(path, "a change to killed never triggers an automation"),
            Some(st) => {
                if !states.contains(&st) {
                    states.push(st)
                }
            }
            None => errors.push(path, "must be one of pending, running, finished, failed, crashed"),
        }
    }
    Some(states)
}

/// Cooldown: integer seconds, or a string with a unit (`90s`, `30m`, `6h`, `7d`).
fn read_cooldown(v: Option<&Value>, errors: &mut Errors) -> Option<Millis> {
    const PATH: &str = "event.cooldown";
    let Some(v) = v else { return Some(DEFAULT_COOLDOWN) };
    let ms = match v {
        Value::Number(n) => n.as_i64().map(|s| s.saturating_mul(1000)),
        Value::String(s) => parse_duration(s),
        _ => None,
    };
    match ms {
        Some(ms) if (MIN_COOLDOWN..=MAX_COOLDOWN).contains(&ms) => Some(ms),
        Some(_) => {
            errors.push(PATH, "must be between 1 minute and 30 days");
            None
        }
        None => {
            errors.push(PATH, "must be whole seconds or a duration such as \"90s\", \"30m\", \"6h\", \"7d\"");
            None
        }
    }
}

fn parse_duration(s: &str) -> Option<Millis> {
    let s = s.trim();
    let unit = match s.chars().last()? {
        's' => 1000,
        'm' => MINUTE,
        'h' => crate::time::HOUR,
        'd' => DAY,
        _ => return None,
    };
    let n: i64 = s[..s.len() - 1].trim().parse().ok()?;
    n.checked_mul(unit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn alias_doc() -> Value {
        json!({
            "name": "deploy",
            "scope": {"type": "project", "entity": "acme", "project": "mnist"},
            "event": {"type": "ADD_ARTIFACT_ALIAS", "filter": {"alias": {"$regex": "^prod"}}},
            "action": {"type": "webhook", "integration": "hook"}
        })
    }

    fn metric_doc(metric: Value) -> Value {
        json!({
            "name": "loss-up",
            "scope": {"type": "project", "entity": "acme", "project": "mnist"},
            "event": {"type": "RUN_METRIC_THRESHOLD", "metric": metric},
            "action": {"type": "none"}
        })
    }

    #[test]
    fn valid_documents_round_trip_with_defaults_filled() {
        let a = Automation::from_create("a1", &alias_doc()).unwrap();
        assert!(a.enabled);
        let doc = a.to_document();
        assert_eq!(doc["enabled"], true);
        let b = Automation::from_create("a1", &doc).unwrap();
        assert_eq!(b.to_document(), doc);

        let m = Automation::from_create(
            "m",
            &metric_doc(json!({"name": "loss", "agg": "MAX", "cmp": "$gt", "threshold": 1})),
        )
        .unwrap();
        let doc = m.to_document();
        assert_eq!(doc["event"]["cooldown"], 86400);
        assert_eq!(doc["event"]["metric"]["window"], 5);
    }

    fn first_error(doc: &Value) -> (String, String) {
        let e = Automation::from_create("x", doc).unwrap_err();
        (e.errors[0].path.clone(), e.errors[0].message.clone())
    }

    #[test]
    fn run_event_on_a_collection_scope_names_both() {
        let mut doc = metric_doc(json!({"name": "loss", "cmp": "$gt", "threshold": 1}));
        doc["scope"] = json!({"type": "collection", "entity": "acme", "project": "mnist", "collection": "c"});
        let (path, msg) = first_error(&doc);
        assert_eq!(path, "event.type");
        assert!(msg.contains("RUN_METRIC_THRESHOLD") && msg.contains("collection"), "{msg}");
    }

    #[test]
    fn create_artifact_on_a_registry_is_refused() {
        let mut doc = alias_doc();
        doc["event"] = json!({"type": "CREATE_ARTIFACT"});
        doc["scope"] = json!({"type": "registry", "entity": "acme", "registry": "model"});
        assert_eq!(first_error(&doc).0, "event.type");
    }

    #[test]
    fn a_bad_regex_is_refused_at_configuration_time() {
        let mut doc = alias_doc();
        doc["event"]["filter"] = json!({"alias": {"$regex": "(unclosed"}});
        let (path, _) = first_error(&doc);
        assert_eq!(path, "event.filter.alias.$regex");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let doc = json!({"scope": {"type": "project", "entity": "acme"}, "event": {"type": "NOPE"}, "action": {"type": "none"}, "extra": 1});
        let e = Automation::from_create("x", &doc).unwrap_err();
        let paths: Vec<_> = e.errors.iter().map(|e| e.path.as_str()).collect();
        assert!(paths.contains(&"name"), "{paths:?}");
        assert!(paths.contains(&"scope.project"), "{paths:?}");
        assert!(paths.contains(&"event.type"), "{paths:?}");
        assert!(paths.contains(&"extra"), "{paths:?}");
    }

    #[test]
    fn states_and_cooldowns() {
        let mut doc = metric_doc(json!({"name": "loss", "cmp": "$gt", "threshold": 1}));
        doc["event"]["cooldown"] = json!("30s");
        assert_eq!(first_error(&doc).0, "event.cooldown");
        doc["event"]["cooldown"] = json!("6h");
        let a = Automation::from_create("x", &doc).unwrap();
        assert!(matches!(a.trigger, Trigger::Metric { cooldown, .. } if cooldown == 6 * crate::time::HOUR));
        doc["event"]["cooldown"] = json!("31d");
        assert_eq!(first_error(&doc).0, "event.cooldown");

        let mut doc = alias_doc();
        doc["event"] = json!({"type": "RUN_STATE", "states": ["failed", "killed"]});
        assert_eq!(first_error(&doc).0, "event.states[1]");
        doc["event"] = json!({"type": "RUN_STATE", "states": []});
        assert_eq!(first_error(&doc).0, "event.states");
    }
}
