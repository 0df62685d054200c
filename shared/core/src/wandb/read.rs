//! Small readers for the W&B input: typed fields with paths, JSON-in-a-string, unknown keys.
//!
//! W&B's input nests JSON documents inside strings (the event filter, the run filter inside it,
//! the legacy metric filter, the webhook payload), so decoding one is a step that can fail and
//! must say where.

use crate::error::{Errors, join_path};
use serde_json::{Map, Value};

pub(super) use crate::json::type_name as kind;

/// `v` as an object, or an error at `path`.
pub(super) fn object<'a>(v: &'a Value, path: &str, errors: &mut Errors) -> Option<&'a Map<String, Value>> {
    match v {
        Value::Object(m) => Some(m),
        other => {
            errors.push(path, format!("must be an object, not {}", kind(other)));
            None
        }
    }
}

/// A field of `m`; W&B writes absent optional fields as `null`, so `null` reads as absent.
pub(super) fn field<'a>(m: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    m.get(key).filter(|v| !v.is_null())
}

/// A required field, or an error at its path.
pub(super) fn required<'a>(m: &'a Map<String, Value>, key: &str, path: &str, errors: &mut Errors) -> Option<&'a Value> {
    let v = field(m, key);
    if v.is_none() {
        errors.push(join_path(path, key), "is required");
    }
    v
}

/// An optional string field.
pub(super) fn opt_str<'a>(m: &'a Map<String, Value>, key: &str, path: &str, errors: &mut Errors) -> Option<&'a str> {
    match field(m, key)? {
        Value::String(s) => Some(s),
        other => {
            errors.push(join_path(path, key), format!("must be a string, not {}", kind(other)));
            None
        }
    }
}

/// A required string field.
pub(super) fn req_str<'a>(m: &'a Map<String, Value>, key: &str, path: &str, errors: &mut Errors) -> Option<&'a str> {
    required(m, key, path, errors)?;
    opt_str(m, key, path, errors)
}

/// An optional field that must be one of `allowed` (W&B enum values are upper-case words).
pub(super) fn opt_enum<'a>(
    m: &'a Map<String, Value>,
    key: &str,
    allowed: &[&str],
    path: &str,
    errors: &mut Errors,
) -> Option<&'a str> {
    let s = opt_str(m, key, path, errors)?;
    if allowed.contains(&s) {
        Some(s)
    } else {
        errors.push(join_path(path, key), format!("must be one of {}, not {s:?}", allowed.join(", ")));
        None
    }
}

/// Refuse keys of `m` not in `known`, so that a misspelt or unknown W&B field is not silently
/// dropped (dropping it could change what the automation means).
pub(super) fn deny_unknown(m: &Map<String, Value>, known: &[&str], path: &str, what: &str, errors: &mut Errors) {
    for key in m.keys() {
        if !known.contains(&key.as_str()) {
            errors.push(join_path(path, key), format!("is not a field of {what} (known: {})", known.join(", ")));
        }
    }
}

/// A JSON document that W&B may send encoded in a string or already decoded: the string is
/// parsed, anything else is taken as it is.
pub(super) fn decoded(v: &Value, path: &str, errors: &mut Errors) -> Option<Value> {
    match v {
        Value::String(text) => match serde_json::from_str(text) {
            Ok(doc) => Some(doc),
            Err(e) => {
                errors.push(path, format!("must hold a JSON document, and does not parse: {e}"));
                None
            }
        },
        other => Some(other.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn null_reads_as_absent_and_wrong_types_name_the_field() {
        let m = json!({"a": null, "b": 3, "c": "x"});
        let m = m.as_object().unwrap();
        let mut errors = Errors::default();
        assert_eq!(field(m, "a"), None);
        assert_eq!(opt_str(m, "c", "input", &mut errors), Some("x"));
        assert_eq!(opt_str(m, "b", "input", &mut errors), None);
        assert_eq!(req_str(m, "a", "input", &mut errors), None);
        let e = errors.finish(()).unwrap_err();
        assert_eq!(e.errors[0].path, "input.b");
        assert!(e.errors[0].message.contains("not a number"));
        assert_eq!(e.errors[1].path, "input.a");
        assert_eq!(e.errors[1].message, "is required");
    }

    #[test]
    fn decoded_parses_strings_and_keeps_objects() {
        let mut errors = Errors::default();
        assert_eq!(decoded(&json!("{\"a\":1}"), "p", &mut errors), Some(json!({"a": 1})));
        assert_eq!(decoded(&json!({"a": 1}), "p", &mut errors), Some(json!({"a": 1})));
        assert!(errors.is_empty());
        assert_eq!(decoded(&json!("{nope"), "p", &mut errors), None);
        let e = errors.finish(()).unwrap_err();
        assert_eq!(e.errors[0].path, "p");
        assert!(e.errors[0].message.contains("does not parse"));
    }

    #[test]
    fn enums_and_unknown_keys_are_refused() {
        let m = json!({"agg_op": "MEDIAN", "extra": 1});
        let m = m.as_object().unwrap();
        let mut errors = Errors::default();
        assert_eq!(opt_enum(m, "agg_op", &["MAX", "MIN"], "f", &mut errors), None);
        deny_unknown(m, &["agg_op"], "f", "a filter", &mut errors);
        let e = errors.finish(()).unwrap_err();
        assert_eq!(e.errors[0].path, "f.agg_op");
        assert!(e.errors[0].message.contains("MAX, MIN"));
        assert_eq!(e.errors[1].path, "f.extra");
    }
}
