//! Envelope parsing with an error per bad field.

use super::nonfinite::{find_marker, mark_non_finite, marker_value};
use super::*;
use crate::error::{Errors, Invalid};
use crate::model::reader::{ObjReader, describe, type_name};
use std::collections::HashMap;

/// Envelopes larger than this are refused whole (SPEC section 3).
pub const MAX_ENVELOPE_BYTES: usize = 256 * 1024;

/// An envelope that was refused: every problem found, and what could be read of its identity so
/// an operator can find it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}{errors}", id_prefix(.id))]
pub struct Rejected {
    /// The envelope's `id`, if it could be read.
    pub id: Option<String>,
    /// The envelope's `source`, if it could be read.
    pub event_source: Option<String>,
    /// The envelope's `type`, if it could be read.
    pub event_type: Option<String>,
    /// Every problem found, each naming its field.
    pub errors: Invalid,
}

fn id_prefix(id: &Option<String>) -> String {
    match id {
        Some(id) => format!("envelope {id:?}: "),
        None => String::new(),
    }
}

/// Parse one envelope from its JSON text (bare `NaN`/`Infinity` accepted in metric values).
/// `time` is required: this is the parser of replay and of the queues, whose envelopes carry
/// their time (live intake fills in a missing one, see [`parse_envelope_at`]).
pub fn parse_envelope(text: &str) -> Result<Envelope, Rejected> {
    if let Some(env) = fast(text) {
        return Ok(env);
    }
    parse_text(text, None).map(|(e, _)| e)
}

/// The fast paths, for an envelope in its plain shape: scanned when its strings have no
/// escapes (see [`super::scan`]), else typed (see [`super::fast`]); `None` leaves it to the
/// reader below, which is what defines valid.
fn fast(text: &str) -> Option<Envelope> {
    if text.len() > MAX_ENVELOPE_BYTES {
        return None;
    }
    super::scan::parse(text).or_else(|| super::fast::parse(text))
}

/// The reader that names every error, for envelopes that carry their time.
#[cfg(test)]
pub(super) fn read_envelope_text(text: &str) -> Result<Envelope, Rejected> {
    parse_text(text, None).map(|(e, _)| e)
}

/// Parse one envelope received live at `arrival`: `time`, optional in CloudEvents 1.0, is then
/// the arrival time when absent (or `null`). The flag says whether it was.
pub fn parse_envelope_at(text: &str, arrival: Timestamp) -> Result<(Envelope, bool), Rejected> {
    // The fast path takes only envelopes with a `time` of their own.
    if let Some(env) = fast(text) {
        return Ok((env, false));
    }
    parse_text(text, Some(arrival))
}

fn parse_text(text: &str, arrival: Option<Timestamp>) -> Result<(Envelope, bool), Rejected> {
    let reject = |errors: Invalid| Rejected { id: None, event_source: None, event_type: None, errors };
    if text.len() > MAX_ENVELOPE_BYTES {
        return Err(reject(Invalid::one(
            "",
            format!("the envelope is {} bytes, over the limit of {} (256 KiB)", text.len(), MAX_ENVELOPE_BYTES),
        )));
    }
    let clean = mark_non_finite(text);
    let v: Value =
        serde_json::from_str(&clean).map_err(|e| reject(Invalid::one("", format!("malformed JSON: {e}"))))?;
    let absent = arrival.is_some() && v.get("time").is_none_or(Value::is_null);
    parse_value_at(&v, arrival).map(|e| (e, absent))
}

/// Parse one envelope from a JSON value.
pub fn parse_value(v: &Value) -> Result<Envelope, Rejected> {
    parse_value_at(v, None)
}

fn parse_value_at(v: &Value, arrival: Option<Timestamp>) -> Result<Envelope, Rejected> {
    let mut errors = Errors::default();
    let (id, source, event_type) = match v {
        Value::Object(m) => (
            m.get("id").and_then(Value::as_str).map(str::to_string),
            m.get("source").and_then(Value::as_str).map(str::to_string),
            m.get("type").and_then(Value::as_str).map(str::to_string),
        ),
        _ => (None, None, None),
    };
    let env = read_envelope(v, arrival, &mut errors);
    match env {
        Some(env) if errors.is_empty() => Ok(env),
        _ => Err(Rejected { id, event_source: source, event_type, errors: errors.failed() }),
    }
}

fn read_envelope(v: &Value, arrival: Option<Timestamp>, errors: &mut Errors) -> Option<Envelope> {
    let Value::Object(map) = v else {
        errors.push("", format!("an envelope must be a JSON object, got {}", type_name(v)));
        return None;
    };
    match map.get("specversion") {
        Some(Value::String(s)) if s == "1.0" => {}
        None | Some(Value::Null) => errors.push("specversion", "is required (\"1.0\")"),
        Some(other) => errors.push("specversion", format!("must be \"1.0\", got {}", describe(other))),
    }
    let id = nonempty_str(map.get("id"), "id", errors);
    let source = nonempty_str(map.get("source"), "source", errors);
    let time = read_time(map.get("time"), "time", arrival.is_none(), errors).map(|t| t.or(arrival));
    let ty = match map.get("type") {
        Some(Value::String(t)) if EVENT_TYPES.contains(&t.as_str()) => Some(t.as_str()),
        Some(Value::String(t)) => {
            errors.push("type", format!("unknown event type {t:?}; known: {}", EVENT_TYPES.join(", ")));
            None
        }
        None | Some(Value::Null) => {
            errors.push("type", "is required");
            None
        }
        Some(other) => {
            errors.push("type", format!("must be a string, got {}", type_name(other)));
            None
        }
    };
    let data = match map.get("data") {
        None | Some(Value::Null) => {
            errors.push("data", "is required");
            None
        }
        Some(d) => ty.and_then(|ty| read_data(ty, d, errors)),
    };
    Some(Envelope { id: id?, source: source?, time: time??, data: data? })
}

fn nonempty_str(v: Option<&Value>, path: &str, errors: &mut Errors) -> Option<String> {
    match v {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::String(_)) => {
            errors.push(path, "must not be empty");
            None
        }
        None | Some(Value::Null) => {
            errors.push(path, "is required");
            None
        }
        Some(other) => {
            errors.push(path, format!("must be a string, got {}", type_name(other)));
            None
        }
    }
}

/// `Some(None)`: absent and optional; `None`: an error was recorded.
fn read_time(v: Option<&Value>, path: &str, required: bool, errors: &mut Errors) -> Option<Option<Timestamp>> {
    match v {
        None | Some(Value::Null) if !required => Some(None),
        None | Some(Value::Null) => {
            errors.push(path, "is required (an RFC 3339 date-time)");
            None
        }
        Some(Value::String(s)) => match Timestamp::parse_rfc3339(s) {
            Ok(t) => Some(Some(t)),
            Err(e) => {
                errors.push(path, e);
                None
            }
        },
        Some(other) => {
            errors.push(path, format!("must be an RFC 3339 date-time string, got {}", type_name(other)));
            None
        }
    }
}

fn read_data(ty: &str, d: &Value, errors: &mut Errors) -> Option<EventData> {
    let trigger = match ty {
        "artifact.version.created" => TriggerKind::CreateArtifact,
        "artifact.version.linked" => TriggerKind::LinkArtifact,
        "artifact.version.unlinked" => TriggerKind::UnlinkArtifact,
        "artifact.alias.added" => TriggerKind::AddArtifactAlias,
        "artifact.tag.added" => TriggerKind::AddArtifactTag,
        "artifact.tag.removed" => TriggerKind::RemoveArtifactTag,
        "collection.tag.added" => TriggerKind::AddCollectionTag,
        "collection.tag.removed" => TriggerKind::RemoveCollectionTag,
        "run.state.changed" => return read_run_state(d, errors).map(EventData::RunState),
        "run.metrics.logged" => return read_metrics(d, errors).map(EventData::Metrics),
        _ => return read_run_key(d, errors).map(|(k, _)| EventData::Heartbeat(k)),
    };
    read_artifact(trigger, d, errors).map(EventData::Artifact)
}

fn read_artifact(trigger: TriggerKind, d: &Value, errors: &mut Errors) -> Option<ArtifactEvent> {
    let mut r = ObjReader::new(d, "data", errors)?;
    let entity = r.str("entity", errors);
    let project = r.opt_str("project", errors);
    let registry = r.opt_str("registry", errors);
    let location = match (project, registry) {
        (Some(p), None) if !p.is_empty() => Some(Location::Project(p.to_string())),
        (None, Some(g)) if !g.is_empty() => Some(Location::Registry(g.to_string())),
        (Some(_), Some(_)) => {
            errors.push("data.registry", "an artifact event has a project or a registry, not both");
            None
        }
        _ => {
            errors.push("data.project", "an artifact event needs a project or a registry (non-empty)");
            None
        }
    };
    let collection = r.str("collection", errors);
    let collection_type = r.str("collection_type", errors);
    let is_collection_event = matches!(trigger, TriggerKind::AddCollectionTag | TriggerKind::RemoveCollectionTag);
    let version = if is_collection_event {
        r.get("version").and_then(|v| read_version(v, "data.version", errors))
    } else {
        match r.required("version", errors) {
            Some(v) => Some(read_version(v, "data.version", errors)?),
            None => return None,
        }
    };
    let aliases = read_strings(r.get("aliases"), "data.aliases", errors);
    let tags = read_strings(r.get("tags"), "data.tags", errors);
    let metadata = read_object(r.get("metadata"), "data.metadata", errors);
    let author = r.opt_str("author", errors).map(str::to_string);
    let alias = if trigger == TriggerKind::AddArtifactAlias { Some(r.str("alias", errors)?.to_string()) } else { None };
    let tag = if matches!(
        trigger,
        TriggerKind::AddArtifactTag
            | TriggerKind::RemoveArtifactTag
            | TriggerKind::AddCollectionTag
            | TriggerKind::RemoveCollectionTag
    ) {
        Some(r.str("tag", errors)?.to_string())
    } else {
        None
    };
    let source = if matches!(trigger, TriggerKind::LinkArtifact | TriggerKind::UnlinkArtifact) {
        Some(read_link_source(r.required("source", errors)?, errors)?)
    } else {
        None
    };
    Some(ArtifactEvent {
        trigger,
        entity: entity?.to_string(),
        location: location?,
        collection: collection?.to_string(),
        collection_type: collection_type?.to_string(),
        version,
        aliases: aliases?,
        tags: tags?,
        metadata: metadata?,
        author,
        alias,
        tag,
        source,
    })
}

fn read_link_source(v: &Value, errors: &mut Errors) -> Option<LinkSource> {
    let mut r = ObjReader::new(v, "data.source", errors)?;
    let project = r.opt_str("project", errors).map(str::to_string);
    let collection = r.opt_str("collection", errors).map(str::to_string);
    let version = r.get("version").and_then(|v| read_version(v, "data.source.version", errors));
    Some(LinkSource { project, collection, version })
}

/// A version index: a non-negative integer, W&B's `"v7"` form, or MLflow's `"7"`.
fn read_version(v: &Value, path: &str, errors: &mut Errors) -> Option<u64> {
    let n = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.strip_prefix('v').unwrap_or(s).parse().ok(),
        _ => None,
    };
    if n.is_none() {
        errors.push(path, format!("must be a non-negative integer (the version's index), got {}", describe(v)));
    }
    n
}

fn read_strings(v: Option<&Value>, path: &str, errors: &mut Errors) -> Option<Vec<String>> {
    match v {
        None => Some(Vec::new()),
        Some(Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            let mut ok = true;
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(s) => out.push(s.clone()),
                    other => {
                        errors.push(format!("{path}[{i}]"), format!("must be a string, got {}", type_name(other)));
                        ok = false;
                    }
                }
            }
            ok.then_some(out)
        }
        Some(other) => {
            errors.push(path, format!("must be an array of strings, got {}", type_name(other)));
            None
        }
    }
}

fn read_object(v: Option<&Value>, path: &str, errors: &mut Errors) -> Option<Map<String, Value>> {
    match v {
        None => Some(Map::new()),
        Some(v @ Value::Object(m)) => match find_marker(v, path) {
            None => Some(m.clone()),
            Some(at) => {
                errors.push(at, "must not be a bare NaN, Infinity or -Infinity (allowed only as a metric value)");
                None
            }
        },
        Some(other) => {
            errors.push(path, format!("must be an object, got {}", type_name(other)));
            None
        }
    }
}

fn read_run_key<'a>(d: &'a Value, errors: &mut Errors) -> Option<(RunKey, ObjReader<'a>)> {
    let mut r = ObjReader::new(d, "data", errors)?;
    let entity = r.str("entity", errors);
    let project = r.str("project", errors);
    let run_id = r.str("run_id", errors);
    let key = RunKey { entity: entity?.to_string(), project: project?.to_string(), run_id: run_id?.to_string() };
    Some((key, r))
}

fn read_run_info<'a>(d: &'a Value, errors: &mut Errors) -> Option<(RunInfo, ObjReader<'a>)> {
    let (key, mut r) = read_run_key(d, errors)?;
    let run_name = r.opt_str("run_name", errors).map(str::to_string);
    let user = r.opt_str("user", errors).map(str::to_string);
    let author = r.opt_str("author", errors).map(str::to_string);
    let tags = read_strings(r.get("tags"), "data.tags", errors);
    let config = read_object(r.get("config"), "data.config", errors);
    Some((RunInfo { key, run_name, user, tags: tags?, config: config?, author }, r))
}

fn read_state(v: &Value, path: &str, errors: &mut Errors) -> Option<RunState> {
    let s = v.as_str().and_then(RunState::parse);
    if s.is_none() {
        errors.push(
            path,
            format!("must be one of pending, running, finished, failed, crashed, killed, got {}", describe(v)),
        );
    }
    s
}

fn read_run_state(d: &Value, errors: &mut Errors) -> Option<RunStateEvent> {
    let (run, mut r) = read_run_info(d, errors)?;
    let state = r.required("state", errors).and_then(|v| read_state(v, "data.state", errors));
    let previous = match r.get("previous_state") {
        None => Some(None),
        Some(v) => read_state(v, "data.previous_state", errors).map(Some),
    };
    Some(RunStateEvent { run, state: state?, previous: previous? })
}

fn read_metrics(d: &Value, errors: &mut Errors) -> Option<MetricsEvent> {
    let (run, mut r) = read_run_info(d, errors)?;
    let rows = match r.required("rows", errors)? {
        Value::Array(rows) => rows,
        other => {
            errors.push("data.rows", format!("must be an array of rows, got {}", type_name(other)));
            return None;
        }
    };
    let mut names: Vec<String> = Vec::new();
    let mut index: HashMap<&str, u32> = HashMap::new();
    let mut out = MetricsEvent { run, names: Vec::new(), rows: Vec::with_capacity(rows.len()), values: Vec::new() };
    for (i, row) in rows.iter().enumerate() {
        let path = format!("data.rows[{i}]");
        let Some(mut rr) = ObjReader::new(row, &path, errors) else { continue };
        let step = rr.required("step", errors).and_then(|_| rr.opt_int("step", 0..=i64::MAX, errors));
        let time = read_time(rr.get("time"), &rr.path_of("time"), false, errors);
        let values = match rr.required("values", errors) {
            Some(Value::Object(m)) => {
                let mut vals = Vec::with_capacity(m.len());
                for (name, v) in m {
                    let Some(x) = metric_value(v, || format!("{path}.values.{name}"), errors) else { continue };
                    let Some(x) = x else { continue };
                    let idx = *index.entry(name.as_str()).or_insert_with(|| {
                        names.push(name.clone());
                        (names.len() - 1) as u32
                    });
                    vals.push((idx, x));
                }
                Some(vals)
            }
            Some(other) => {
                errors.push(
                    format!("{path}.values"),
                    format!("must be an object of metric values, got {}", type_name(other)),
                );
                None
            }
            None => None,
        };
        if let (Some(step), Some(time), Some(values)) = (step, time, values) {
            out.push_row(step, time, values);
        }
    }
    out.names = names;
    Some(out)
}

/// A metric value: a number, `null` (not logged: `Some(None)`), or a non-finite value written
/// as Python writes it. `None` means an error was recorded.
fn metric_value(v: &Value, path: impl FnOnce() -> String, errors: &mut Errors) -> Option<Option<f64>> {
    match v {
        Value::Number(n) => n.as_f64().map(Some),
        Value::Null => Some(None),
        Value::Object(_) if marker_value(v).is_some() => Some(marker_value(v)),
        Value::String(s) => match s.as_str() {
            "NaN" | "nan" => Some(Some(f64::NAN)),
            "Infinity" | "inf" => Some(Some(f64::INFINITY)),
            "-Infinity" | "-inf" => Some(Some(f64::NEG_INFINITY)),
            _ => {
                errors.push(path(), format!("must be a number, null, NaN, Infinity or -Infinity, got {}", describe(v)));
                None
            }
        },
        other => {
            errors.push(path(), format!("must be a number or null, got {}", type_name(other)));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALIAS: &str = r#"{"specversion":"1.0","id":"evt-1","source":"tracker","type":"artifact.alias.added","time":"2026-11-01T12:00:00Z",
 "data":{"entity":"acme","project":"mnist","collection":"classifier","collection_type":"model","version":7,
         "alias":"production","author":"ana"}}"#;
    const METRICS: &str = r#"{"specversion":"1.0","id":"evt-2","source":"tracker","type":"run.metrics.logged","time":"2026-11-01T12:00:05Z",
 "data":{"entity":"acme","project":"mnist","run_id":"r1","run_name":"train-lr3","user":"ana","tags":["sweep"],
         "config":{"lr":0.001},"rows":[{"step":10,"time":"2026-11-01T12:00:04Z","values":{"loss":0.71,"acc":0.52}},
                                       {"step":11,"values":{"loss":0.69}}]}}"#;

    fn first_path(text: &str) -> String {
        parse_envelope(text).unwrap_err().errors.errors[0].path.clone()
    }

    #[test]
    fn parses_the_spec_examples() {
        let e = parse_envelope(ALIAS).unwrap();
        let EventData::Artifact(a) = &e.data else { panic!() };
        assert_eq!(a.trigger, TriggerKind::AddArtifactAlias);
        assert_eq!(a.location, Location::Project("mnist".into()));
        assert_eq!(a.version, Some(7));
        assert_eq!(a.filter_doc()["alias"], "production");

        let e = parse_envelope(METRICS).unwrap();
        let EventData::Metrics(m) = &e.data else { panic!() };
        assert_eq!(m.names, vec!["loss", "acc"]);
        assert_eq!(m.rows.len(), 2);
        assert_eq!(m.row_values(&m.rows[0]), &[(0, 0.71), (1, 0.52)]);
        assert_eq!(m.rows[1].time, None);
        assert_eq!(m.run.filter_doc(RunState::Running)["display_name"], "train-lr3");
    }

    #[test]
    fn accepts_python_non_finite_values_and_nulls() {
        let text = METRICS.replace("0.69", "NaN").replace("0.52", "null").replace("0.71", "\"-Infinity\"");
        let e = parse_envelope(&text).unwrap();
        let EventData::Metrics(m) = &e.data else { panic!() };
        assert_eq!(m.row_values(&m.rows[0]).len(), 1, "null is not logged");
        assert_eq!(m.row_values(&m.rows[0])[0].1, f64::NEG_INFINITY);
        assert!(m.row_values(&m.rows[1])[0].1.is_nan());
    }

    #[test]
    fn every_bad_field_is_named() {
        assert_eq!(first_path(&ALIAS.replace("\"1.0\"", "\"0.3\"")), "specversion");
        assert_eq!(first_path(&ALIAS.replace("\"evt-1\"", "12")), "id");
        assert_eq!(first_path(&ALIAS.replace("artifact.alias.added", "artifact.exploded")), "type");
        assert_eq!(first_path(&ALIAS.replace("2026-11-01T12:00:00Z", "noon")), "time");
        assert_eq!(first_path(&ALIAS.replace("\"version\":7", "\"version\":-7")), "data.version");
        assert_eq!(first_path(&ALIAS.replace("\"alias\":\"production\",", "")), "data.alias");
        assert_eq!(
            first_path(&ALIAS.replace("\"project\":\"mnist\"", "\"registry\":\"model\",\"project\":\"m\"")),
            "data.registry"
        );
        assert_eq!(first_path(&METRICS.replace("\"step\":11", "\"step\":\"eleven\"")), "data.rows[1].step");
        assert_eq!(first_path(&METRICS.replace("0.52", "\"high\"")), "data.rows[0].values.acc");
        assert_eq!(first_path(&METRICS.replace("0.52", "true")), "data.rows[0].values.acc");
        assert_eq!(first_path(&METRICS.replace("[\"sweep\"]", "\"sweep\"")), "data.tags");
        assert_eq!(first_path(&METRICS.replace("\"run_id\":\"r1\",", "")), "data.run_id");
        assert_eq!(first_path("[1,2]"), "");
        assert!(parse_envelope("{not json").unwrap_err().to_string().contains("malformed JSON"));
    }

    #[test]
    fn a_rejection_keeps_the_identity_it_could_read() {
        let r = parse_envelope(&ALIAS.replace("\"version\":7", "\"version\":null")).unwrap_err();
        assert_eq!(r.id.as_deref(), Some("evt-1"));
        assert_eq!(r.event_source.as_deref(), Some("tracker"));
        assert!(r.to_string().starts_with("envelope \"evt-1\": data.version"), "{r}");
    }

    #[test]
    fn oversized_envelopes_are_refused() {
        let big = METRICS.replace("\"sweep\"", &format!("\"{}\"", "x".repeat(MAX_ENVELOPE_BYTES)));
        let r = parse_envelope(&big).unwrap_err();
        assert!(r.errors.errors[0].message.contains("256 KiB"));
    }

    #[test]
    fn run_events_and_versions() {
        let text = r#"{"specversion":"1.0","id":"s1","source":"t","type":"run.state.changed","time":"2026-11-01T12:00:00Z",
            "data":{"entity":"acme","project":"mnist","run_id":"r1","state":"failed","previous_state":"running"}}"#;
        let e = parse_envelope(text).unwrap();
        assert!(
            matches!(&e.data, EventData::RunState(s) if s.state == RunState::Failed && s.previous == Some(RunState::Running))
        );
        assert_eq!(first_path(&text.replace("\"failed\"", "\"exploded\"")), "data.state");
        let link = ALIAS
            .replace("artifact.alias.added", "artifact.version.linked")
            .replace("\"project\":\"mnist\"", "\"registry\":\"model\"")
            .replace(
                "\"version\":7",
                "\"version\":\"v3\",\"source\":{\"project\":\"mnist\",\"collection\":\"c\",\"version\":7}",
            );
        let e = parse_envelope(&link).unwrap();
        let EventData::Artifact(a) = &e.data else { panic!() };
        assert_eq!((a.version, a.location.clone()), (Some(3), Location::Registry("model".into())));
        assert!(parse_envelope(&link.replace("\"v3\"", "\"3\"")).is_ok(), "a plain numeric string is a version too");
        assert_eq!(first_path(&link.replace("\"v3\"", "\"v3.1\"")), "data.version");
        assert_eq!(a.source.as_ref().unwrap().version, Some(7));
    }

    /// Issue 16, item 3: bare non-finite tokens are metric values only; anywhere else they are a
    /// wrong JSON type named by its path (they used to become the strings "NaN"...).
    #[test]
    fn bare_non_finite_outside_metric_values_is_refused_by_path() {
        let cases: [(&str, &str, &str); 8] = [
            (r#""id":"evt-1""#, r#""id":NaN"#, "id"),
            (r#""alias":"production""#, r#""alias":NaN"#, "data.alias"),
            (r#""author":"ana""#, r#""author":-Infinity"#, "data.author"),
            (r#""version":7"#, r#""version":7,"tags":[NaN]"#, "data.tags[0]"),
            (r#""version":7"#, r#""version":7,"metadata":{"a":{"b":[Infinity]}}"#, "data.metadata.a.b[0]"),
            (r#""version":7"#, r#""version":Infinity"#, "data.version"),
            (r#""source":"tracker""#, r#""source":NaN"#, "source"),
            (r#""specversion":"1.0""#, r#""specversion":NaN"#, "specversion"),
        ];
        for (from, to, path) in cases {
            let text = ALIAS.replace(from, to);
            assert_ne!(text, ALIAS, "{from}");
            let r = parse_envelope(&text).unwrap_err();
            assert_eq!(r.errors.errors[0].path, path, "{text}: {r}");
            assert!(r.to_string().contains("bare"), "{r}");
        }
        let data = ALIAS.replace(r#""data":{"entity":"acme","project":"mnist","collection":"classifier","collection_type":"model","version":7,
         "alias":"production","author":"ana"}"#, r#""data":NaN"#);
        assert_eq!(first_path(&data), "data");
        let run = METRICS.replace(r#""run_name":"train-lr3""#, r#""run_name":NaN"#);
        assert_eq!(first_path(&run), "data.run_name");
        let config = METRICS.replace(r#""lr":0.001"#, r#""lr":NaN"#);
        assert_eq!(first_path(&config), "data.config.lr");
        // Metric values keep taking them, bare or quoted.
        let ok = METRICS.replace("0.71", "NaN").replace("0.52", "-Infinity").replace("0.69", "\"Infinity\"");
        let EventData::Metrics(m) = parse_envelope(&ok).unwrap().data else { panic!() };
        assert!(m.row_values(&m.rows[0]).iter().all(|(_, x)| !x.is_finite()));
        assert_eq!(m.row_values(&m.rows[1])[0].1, f64::INFINITY);
    }
}
