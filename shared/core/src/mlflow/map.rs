//! An authenticated MLflow payload to this product's envelopes (the table in the module docs).

use super::{Delivery, MlflowError, Target};
use crate::error::{Errors, Invalid};
use crate::event::{Envelope, MAX_ENVELOPE_BYTES, parse_value};
use crate::model::reader::{ObjReader, describe, type_name};
use serde_json::{Map, Value, json};

/// Tag keys MLflow uses for its own bookkeeping (e.g. `_mlflow_experiment_ids`).
const INTERNAL_TAG_PREFIX: &str = "_mlflow_";

/// What a delivery amounts to here.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Envelopes for the pipeline, in order (one or two).
    Events(Vec<Mapped>),
    /// An MLflow event with no counterpart here (or about an internal tag): acknowledged, and
    /// nothing is evaluated. The text says why, for the response and the log.
    Ignored(&'static str),
    /// MLflow's synthetic test delivery (its fixed `example_model` payloads): acknowledged,
    /// never evaluated.
    Test,
}

/// One envelope a delivery maps to.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    /// The envelope, for the pipeline.
    pub envelope: Envelope,
    /// Its CloudEvents JSON text, for sinks that forward envelopes rather than evaluate them.
    pub text: String,
}

/// MLflow 3.17's fixed example payloads (`get_example_payload_for_event`), by event: a delivery
/// whose `data` is exactly one of these is MLflow's "test webhook", not a registry change.
const TEST_PAYLOADS: &[(&str, &str)] = &[
    (
        "registered_model.created",
        r#"{"name": "example_model", "tags": {"example_key": "example_value"}, "description": "An example registered model"}"#,
    ),
    (
        "model_version.created",
        r#"{"name": "example_model", "version": "1", "source": "models:/123", "run_id": "abcd1234abcd5678", "tags": {"example_key": "example_value"}, "description": "An example model version"}"#,
    ),
    (
        "model_version_tag.set",
        r#"{"name": "example_model", "version": "1", "key": "example_key", "value": "example_value"}"#,
    ),
    ("model_version_tag.deleted", r#"{"name": "example_model", "version": "1", "key": "example_key"}"#),
    ("model_version_alias.created", r#"{"name": "example_model", "alias": "example_alias", "version": "1"}"#),
    ("model_version_alias.deleted", r#"{"name": "example_model", "alias": "example_alias"}"#),
    (
        "prompt.created",
        r#"{"name": "example_prompt", "tags": {"example_key": "example_value"}, "description": "An example prompt"}"#,
    ),
    (
        "prompt_version.created",
        r#"{"name": "example_prompt", "version": "1", "template": "Hello {{name}}!", "tags": {"example_key": "example_value"}, "description": "An example prompt version"}"#,
    ),
    ("prompt_tag.set", r#"{"name": "example_prompt", "key": "example_key", "value": "example_value"}"#),
    ("prompt_tag.deleted", r#"{"name": "example_prompt", "key": "example_key"}"#),
    (
        "prompt_version_tag.set",
        r#"{"name": "example_prompt", "version": "1", "key": "example_key", "value": "example_value"}"#,
    ),
    ("prompt_version_tag.deleted", r#"{"name": "example_prompt", "version": "1", "key": "example_key"}"#),
    ("prompt_alias.created", r#"{"name": "example_prompt", "alias": "example_alias", "version": "1"}"#),
    ("prompt_alias.deleted", r#"{"name": "example_prompt", "alias": "example_alias"}"#),
];

fn is_test_payload(event: &str, data: &Value) -> bool {
    TEST_PAYLOADS
        .iter()
        .filter(|(e, _)| *e == event)
        .any(|(_, example)| serde_json::from_str::<Value>(example).is_ok_and(|ex| ex == *data))
}

/// Map an authenticated delivery's body. `delivery_id` is `X-MLflow-Delivery-Id`, already
/// checked by [`super::verify`].
pub fn map_delivery(target: &Target<'_>, delivery_id: &str, body: &[u8]) -> Result<Delivery, MlflowError> {
    let malformed = |path: &str, msg: String| MlflowError::Malformed(Invalid::one(path, msg));
    if body.len() > MAX_ENVELOPE_BYTES {
        return Err(malformed("", format!("the body is {} bytes, over the limit of 256 KiB", body.len())));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| malformed("", format!("malformed JSON: {e}")))?;
    let mut errors = Errors::default();
    let Some(mut r) = ObjReader::new(&v, "", &mut errors) else {
        return Err(refused(errors));
    };
    let entity = r.str("entity", &mut errors);
    let action = r.str("action", &mut errors);
    let timestamp = r.str("timestamp", &mut errors);
    let data = r.required("data", &mut errors);
    let (Some(entity), Some(action), Some(timestamp), Some(data)) = (entity, action, timestamp, data) else {
        return Err(refused(errors));
    };
    let event = format!("{entity}.{action}");
    let delivery = |outcome| Delivery { delivery_id: delivery_id.to_string(), event: event.clone(), outcome };
    if !data.is_object() {
        return Err(malformed("data", format!("must be an object, got {}", type_name(data))));
    }
    if is_test_payload(&event, data) {
        return Ok(delivery(Outcome::Test));
    }
    let mapped = match event.as_str() {
        "model_version.created" => version_created(data, &mut errors),
        "model_version_alias.created" => alias_created(data, &mut errors),
        "model_version_tag.set" => tag_changed(data, true, &mut errors),
        "model_version_tag.deleted" => tag_changed(data, false, &mut errors),
        "registered_model.created" => {
            return Ok(delivery(Outcome::Ignored(
                "a registered model is a collection, which exists here once it has a version; nothing to evaluate",
            )));
        }
        "model_version_alias.deleted" => {
            return Ok(delivery(Outcome::Ignored("alias removal has no automation event; nothing to evaluate")));
        }
        e if e.starts_with("prompt") => {
            return Ok(delivery(Outcome::Ignored("prompt events have no counterpart here; nothing to evaluate")));
        }
        _ => {
            return Ok(delivery(Outcome::Ignored("this MLflow event has no counterpart here; nothing to evaluate")));
        }
    };
    let Some(mapped) = mapped.filter(|_| errors.is_empty()) else {
        return Err(refused(errors));
    };
    let Parts::Events(events) = mapped else {
        return Ok(delivery(Outcome::Ignored("tags whose key starts with _mlflow_ are MLflow's own; ignored")));
    };
    let source = target.source();
    let mut envelopes = Vec::with_capacity(events.len());
    for (suffix, ty, extra) in events {
        let mut d = Map::new();
        d.insert("entity".into(), target.entity.into());
        d.insert("registry".into(), target.registry.into());
        d.insert("collection_type".into(), "model".into());
        d.extend(extra);
        let id = format!("{delivery_id}{suffix}");
        let json_env =
            json!({"specversion": "1.0", "id": id, "source": source, "type": ty, "time": timestamp, "data": d});
        // The fields were checked above, under MLflow's names; a refusal here is about the
        // integration's entity or registry, or the timestamp.
        let env = parse_value(&json_env).map_err(|rej| {
            MlflowError::Malformed(Invalid {
                errors: rej
                    .errors
                    .errors
                    .into_iter()
                    .map(|mut e| {
                        if e.path == "time" {
                            e.path = "timestamp".into();
                        }
                        e
                    })
                    .collect(),
            })
        })?;
        envelopes.push(Mapped { envelope: env, text: json_env.to_string() });
    }
    Ok(delivery(Outcome::Events(envelopes)))
}

fn refused(errors: Errors) -> MlflowError {
    MlflowError::Malformed(errors.finish(()).err().unwrap_or_else(|| Invalid::one("", "not an MLflow webhook payload")))
}

/// Per envelope: the id suffix, the CloudEvents type, and `data` fields beyond the location.
type EventParts = Vec<(&'static str, &'static str, Map<String, Value>)>;

enum Parts {
    Events(EventParts),
    InternalTag,
}

fn version_created(data: &Value, errors: &mut Errors) -> Option<Parts> {
    let mut r = ObjReader::new(data, "data", errors)?;
    let name = r.str("name", errors);
    let version = version(&mut r, errors);
    let source = r.opt_str("source", errors);
    let run_id = r.opt_str("run_id", errors);
    let description = r.opt_str("description", errors);
    let tags = version_tags(r.get("tags"), errors);
    let (name, version, tags) = (name?, version?, tags?);
    let mut metadata = Map::new();
    for (k, v) in [("run_id", run_id), ("source", source), ("description", description)] {
        if let Some(v) = v {
            metadata.insert(k.into(), v.into());
        }
    }
    let mut created = Map::new();
    created.insert("collection".into(), name.into());
    created.insert("version".into(), version.into());
    created.insert("tags".into(), tags.into());
    created.insert("metadata".into(), Value::Object(metadata));
    let mut linked = created.clone();
    // MLflow versions come from runs, not from a project's collection; the run and model URI
    // are in `metadata`.
    linked.insert("source".into(), json!({}));
    Some(Parts::Events(vec![
        ("", "artifact.version.linked", linked),
        (":created", "artifact.version.created", created),
    ]))
}

fn alias_created(data: &Value, errors: &mut Errors) -> Option<Parts> {
    let mut r = ObjReader::new(data, "data", errors)?;
    let name = r.str("name", errors);
    let alias = r.str("alias", errors);
    let version = version(&mut r, errors);
    let mut d = Map::new();
    d.insert("collection".into(), name?.into());
    d.insert("version".into(), version?.into());
    d.insert("alias".into(), alias?.into());
    Some(Parts::Events(vec![("", "artifact.alias.added", d)]))
}

fn tag_changed(data: &Value, set: bool, errors: &mut Errors) -> Option<Parts> {
    let mut r = ObjReader::new(data, "data", errors)?;
    let name = r.str("name", errors);
    let version = version(&mut r, errors);
    let key = r.str("key", errors);
    let value = if set {
        match r.get("value") {
            Some(Value::String(s)) => Some(s.as_str()),
            // MLflow sends the value on every set; a null one is an empty tag value.
            None => Some(""),
            Some(other) => {
                errors.push("data.value", format!("must be a string, got {}", type_name(other)));
                None
            }
        }
    } else {
        Some("")
    };
    let (name, version, key, value) = (name?, version?, key?, value?);
    if key.starts_with(INTERNAL_TAG_PREFIX) {
        return Some(Parts::InternalTag);
    }
    let mut d = Map::new();
    d.insert("collection".into(), name.into());
    d.insert("version".into(), version.into());
    d.insert("tag".into(), format!("{key}={value}").into());
    let ty = if set { "artifact.tag.added" } else { "artifact.tag.removed" };
    Some(Parts::Events(vec![("", ty, d)]))
}

/// MLflow's `version` is a string of the version number (`"3"`); an integer is taken as well.
fn version(r: &mut ObjReader<'_>, errors: &mut Errors) -> Option<u64> {
    let v = r.required("version", errors)?;
    let n = match v {
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    };
    if n.is_none() {
        errors.push("data.version", format!("must be a version number such as \"3\", got {}", describe(v)));
    }
    n
}

/// A version's tags (`{"key": "value"}`) as tag strings `key=value`, without MLflow's own.
fn version_tags(v: Option<&Value>, errors: &mut Errors) -> Option<Vec<String>> {
    let Some(v) = v else { return Some(Vec::new()) };
    let Value::Object(m) = v else {
        errors.push("data.tags", format!("must be an object of tag values, got {}", type_name(v)));
        return None;
    };
    let mut out = Vec::with_capacity(m.len());
    let mut ok = true;
    for (k, val) in m {
        let val = match val {
            Value::String(s) => s.as_str(),
            Value::Null => "",
            other => {
                errors.push(format!("data.tags.{k}"), format!("must be a string, got {}", type_name(other)));
                ok = false;
                continue;
            }
        };
        if !k.starts_with(INTERNAL_TAG_PREFIX) {
            out.push(format!("{k}={val}"));
        }
    }
    ok.then_some(out)
}
