//! Bare `NaN`, `Infinity` and `-Infinity` in an envelope, as Python's `json` writes them.
//!
//! They are welcome as metric values and nowhere else: `"alias": NaN` is a wrong JSON type, not
//! the string `"NaN"`. So before the envelope is parsed, each bare token outside strings is
//! rewritten as a marker object (`{"\u0000non-finite": "NaN"}`) that only the metric-value
//! reader takes; any other reader sees "a bare NaN" where it wanted its type, and names the
//! field. (A quoted `"NaN"` stays a string, which metric values also accept.)

use serde_json::Value;
use std::borrow::Cow;

/// The key of the marker object a bare non-finite token becomes.
pub(crate) const MARKER: &str = "\u{0}non-finite";

/// Rewrite bare `NaN`, `Infinity`, `-Infinity` outside strings as marker objects. Borrows the
/// input when there is nothing to rewrite (the common case).
pub(crate) fn mark_non_finite(text: &str) -> Cow<'_, str> {
    crate::json::rewrite_non_finite(text, |token, out| {
        out.push_str("{\"\\u0000non-finite\":\"");
        out.push_str(token);
        out.push_str("\"}");
    })
}

/// The token a marker object stands for (`"NaN"`, `"Infinity"`, `"-Infinity"`).
pub(crate) fn marker_token(v: &Value) -> Option<&str> {
    match v {
        Value::Object(m) if m.len() == 1 => m.get(MARKER).and_then(Value::as_str),
        _ => None,
    }
}

/// The value a marker object stands for.
pub(crate) fn marker_value(v: &Value) -> Option<f64> {
    match marker_token(v)? {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => None,
    }
}

/// The path of the first bare non-finite token inside `v` (a free-form object such as
/// `metadata` or `config`, where no marker may remain).
pub(crate) fn find_marker(v: &Value, path: &str) -> Option<String> {
    if marker_token(v).is_some() {
        return Some(path.to_string());
    }
    match v {
        Value::Object(m) => m.iter().find_map(|(k, v)| find_marker(v, &crate::error::join_path(path, k))),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| find_marker(v, &format!("{path}[{i}]"))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_tokens_become_markers_and_strings_stay() {
        let text = mark_non_finite(r#"{"a":NaN,"b":[Infinity,-Infinity],"c":"NaN","d":NaNx}"#);
        assert_eq!(
            text,
            r#"{"a":{"\u0000non-finite":"NaN"},"b":[{"\u0000non-finite":"Infinity"},{"\u0000non-finite":"-Infinity"}],"c":"NaN","d":NaNx}"#
        );
        let v: Value = serde_json::from_str(&mark_non_finite(r#"{"a":NaN,"b":[1,-Infinity]}"#)).unwrap();
        assert!(marker_value(&v["a"]).unwrap().is_nan());
        assert_eq!(marker_value(&v["b"][1]), Some(f64::NEG_INFINITY));
        assert_eq!(find_marker(&v, "data.metadata").as_deref(), Some("data.metadata.a"));
        assert!(matches!(mark_non_finite(r#"{"Name":"Ian"}"#), Cow::Borrowed(_)));
    }
}
