//! Reading a JSON object field by field, collecting an error per bad field.
//!
//! Used by every parser of user input (automation documents, envelopes), so that each refusal
//! names the field by its full path and one answer lists every problem at once.

use crate::error::{Errors, join_path};
use serde_json::{Map, Value};

/// A JSON object being read. Fields not asked for are reported by [`ObjReader::deny_unknown`].
pub struct ObjReader<'a> {
    map: &'a Map<String, Value>,
    path: String,
    asked: Vec<&'static str>,
}

/// The JSON type of a value, for messages such as "must be a string, got a number"; a bare
/// `NaN`/`Infinity` of an envelope (see `event::nonfinite`) is named as such.
pub fn type_name(v: &Value) -> &'static str {
    match crate::event::nonfinite::marker_token(v) {
        Some("NaN") => "a bare NaN (allowed only as a metric value)",
        Some("Infinity") => "a bare Infinity (allowed only as a metric value)",
        Some(_) => "a bare -Infinity (allowed only as a metric value)",
        None => crate::json::type_name(v),
    }
}

impl<'a> ObjReader<'a> {
    /// Start reading `v` as an object at `path`; records an error and returns `None` if it is not one.
    pub fn new(v: &'a Value, path: &str, errors: &mut Errors) -> Option<Self> {
        match v {
            Value::Object(map) if crate::event::nonfinite::marker_token(v).is_none() => {
                Some(ObjReader { map, path: path.to_string(), asked: Vec::new() })
            }
            other => {
                let what = if path.is_empty() { "the document" } else { path };
                errors.push(path, format!("{what} must be an object, got {}", type_name(other)));
                None
            }
        }
    }

    /// Path of a field of this object.
    pub fn path_of(&self, field: &str) -> String {
        join_path(&self.path, field)
    }

    /// The raw value of a field; `null` reads as absent.
    pub fn get(&mut self, field: &'static str) -> Option<&'a Value> {
        self.asked.push(field);
        self.map.get(field).filter(|v| !v.is_null())
    }

    /// A field that must be present.
    pub fn required(&mut self, field: &'static str, errors: &mut Errors) -> Option<&'a Value> {
        let v = self.get(field);
        if v.is_none() {
            errors.push(self.path_of(field), "is required");
        }
        v
    }

    /// An optional string field: `None` when absent or `null`, an error when not a string.
    pub fn opt_str(&mut self, field: &'static str, errors: &mut Errors) -> Option<&'a str> {
        match self.get(field)? {
            Value::String(s) => Some(s),
            other => {
                errors.push(self.path_of(field), format!("must be a string, got {}", type_name(other)));
                None
            }
        }
    }

    /// A required, non-empty string.
    pub fn str(&mut self, field: &'static str, errors: &mut Errors) -> Option<&'a str> {
        match self.required(field, errors)? {
            Value::String(s) if s.trim().is_empty() => {
                errors.push(self.path_of(field), "must not be empty");
                None
            }
            Value::String(s) => Some(s),
            other => {
                errors.push(self.path_of(field), format!("must be a string, got {}", type_name(other)));
                None
            }
        }
    }

    /// An optional boolean field: `None` when absent or `null`, an error when not a boolean.
    pub fn opt_bool(&mut self, field: &'static str, errors: &mut Errors) -> Option<bool> {
        match self.get(field)? {
            Value::Bool(b) => Some(*b),
            other => {
                errors.push(self.path_of(field), format!("must be true or false, got {}", type_name(other)));
                None
            }
        }
    }

    /// An optional finite number.
    pub fn opt_f64(&mut self, field: &'static str, errors: &mut Errors) -> Option<f64> {
        match self.get(field)? {
            Value::Number(n) => n.as_f64().filter(|f| f.is_finite()).or_else(|| {
                errors.push(self.path_of(field), "must be a finite number");
                None
            }),
            other => {
                errors.push(self.path_of(field), format!("must be a number, got {}", type_name(other)));
                None
            }
        }
    }

    /// An optional integer within `range`.
    pub fn opt_int(
        &mut self,
        field: &'static str,
        range: std::ops::RangeInclusive<i64>,
        errors: &mut Errors,
    ) -> Option<i64> {
        let v = self.get(field)?;
        let n = match v {
            Value::Number(n) => {
                n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 9e15).map(|f| f as i64))
            }
            _ => None,
        };
        match n {
            Some(n) if range.contains(&n) => Some(n),
            Some(n) => {
                errors.push(
                    self.path_of(field),
                    format!("must be between {} and {}, got {n}", range.start(), range.end()),
                );
                None
            }
            None => {
                errors.push(self.path_of(field), format!("must be an integer, got {}", describe(v)));
                None
            }
        }
    }

    /// Record an error for every field of the object that was never asked for.
    pub fn deny_unknown(&self, errors: &mut Errors) {
        for key in self.map.keys() {
            if !self.asked.contains(&key.as_str()) {
                errors.push(self.path_of(key), "is not a known field");
            }
        }
    }
}

/// A short description of a value for error messages: its type, and the value if it is short.
pub fn describe(v: &Value) -> String {
    match v {
        Value::Number(n) => format!("{n}"),
        Value::String(s) if s.len() <= 40 => format!("{s:?}"),
        other => type_name(other).to_string(),
    }
}

/// Read an enum-like string field: one of `allowed`, compared exactly.
pub fn one_of<'v>(v: &'v Value, path: &str, allowed: &[&str], errors: &mut Errors) -> Option<&'v str> {
    match v {
        Value::String(s) if allowed.contains(&s.as_str()) => Some(s),
        other => {
            errors.push(path, format!("must be one of {}, got {}", allowed.join(", "), describe(other)));
            None
        }
    }
}
