//! Reading JSON as training code writes it.
//!
//! Python's `json` module writes non-finite floats as bare `NaN`, `Infinity` and `-Infinity`,
//! which strict JSON parsers refuse. [`sanitize_non_finite`] rewrites those tokens (outside
//! strings) as the strings `"NaN"`, `"Infinity"`, `"-Infinity"`, which intake accepts as metric
//! values. [`split_batch`] cuts a batch (a JSON array, or JSON Lines) into its items without
//! parsing them, so one malformed item cannot take its neighbours down with it.

mod stream;

pub use stream::{ItemStream, Items, MAX_ITEM_BYTES, StreamItem};

use std::borrow::Cow;

/// The JSON type of a value, for messages such as "must be a string, got a number".
pub fn type_name(v: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Rewrite bare `NaN`, `Infinity`, `-Infinity` outside strings as JSON strings.
/// Borrows the input when there is nothing to rewrite (the common case).
pub fn sanitize_non_finite(text: &str) -> Cow<'_, str> {
    rewrite_non_finite(text, |token, out| {
        out.push('"');
        out.push_str(token);
        out.push('"');
    })
}

/// Replace each bare `NaN`, `Infinity`, `-Infinity` token outside strings by what `write` puts
/// in its place (given the token). Borrows the input when there is none.
pub(crate) fn rewrite_non_finite(text: &str, mut write: impl FnMut(&str, &mut String)) -> Cow<'_, str> {
    let b = text.as_bytes();
    if !b.iter().any(|&c| c == b'N' || c == b'I') {
        return Cow::Borrowed(text);
    }
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut in_string = false;
    let mut escape = false;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if in_string {
            if escape {
                escape = false;
            } else if c == b'\\' {
                escape = true;
            } else if c == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        if c == b'"' {
            in_string = true;
            i += 1;
            continue;
        }
        let token = ["NaN", "Infinity", "-Infinity"].into_iter().find(|t| b[i..].starts_with(t.as_bytes()));
        match token {
            Some(t) if !continues_identifier(b.get(i + t.len())) => {
                let o = out.get_or_insert_with(|| String::with_capacity(text.len() + 64));
                o.push_str(&text[copied..i]);
                write(t, o);
                i += t.len();
                copied = i;
            }
            _ => i += 1,
        }
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut o) => {
            o.push_str(&text[copied..]);
            Cow::Owned(o)
        }
    }
}

/// Newlines before the first non-blank character: the line an item starts on, less one.
fn leading_newlines(text: &str) -> usize {
    text[..text.len() - text.trim_start().len()].matches('\n').count()
}

fn continues_identifier(c: Option<&u8>) -> bool {
    matches!(c, Some(c) if c.is_ascii_alphanumeric() || *c == b'_')
}

/// Where an item of a batch came from, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// The n-th element (from 0) of a JSON array.
    Item(usize),
    /// A line (from 1) of a JSON Lines text.
    Line(usize),
    /// The n-th element of an array written on one line of a JSON Lines text.
    LineItem(usize, usize),
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Position::Item(i) => write!(f, "item {i}"),
            Position::Line(l) => write!(f, "line {l}"),
            Position::LineItem(l, i) => write!(f, "line {l} item {i}"),
        }
    }
}

/// One item of a batch: its raw text, or why it could not be cut out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawItem<'a> {
    /// Where the item is in the batch.
    pub position: Position,
    /// The item's raw text, or why it could not be cut out.
    pub text: Result<&'a str, String>,
}

/// Cut a batch into items. A text whose first non-blank character is `[` is one JSON array;
/// anything else is JSON Lines, where a line may itself hold an array of items. Blank lines are
/// skipped. Items are not parsed here.
pub fn split_batch(text: &str) -> Vec<RawItem<'_>> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        return split_array(trimmed)
            .into_iter()
            .map(|(i, t)| RawItem { position: Position::Item(i), text: t })
            .collect();
    }
    // One envelope written over several lines (pretty-printed) is one item, not JSON Lines.
    if trimmed.starts_with('{') && trimmed.trim_end().contains('\n') {
        let clean = sanitize_non_finite(trimmed);
        if serde_json::from_str::<serde::de::IgnoredAny>(&clean).is_ok() {
            return vec![RawItem {
                position: Position::Line(1 + leading_newlines(text)),
                text: Ok(trimmed.trim_end()),
            }];
        }
    }
    let mut items = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            for (i, t) in split_array(line) {
                items.push(RawItem { position: Position::LineItem(n + 1, i), text: t });
            }
        } else {
            items.push(RawItem { position: Position::Line(n + 1), text: Ok(line) });
        }
    }
    items
}

type Cut<'a> = (usize, Result<&'a str, String>);

/// Split a JSON array into the raw text of its elements by tracking nesting and strings only.
/// Elements keep their own syntax errors (parsed later, one by one); a structural error (an
/// unterminated array) ends the split with an error item after the good ones.
fn split_array(text: &str) -> Vec<Cut<'_>> {
    let b = text.as_bytes();
    debug_assert_eq!(b.first(), Some(&b'['));
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escape = false;
    let mut start = 1;
    let mut index = 0;
    let mut i = 1;
    while i < b.len() {
        let c = b[i];
        if in_string {
            if escape {
                escape = false;
            } else if c == b'\\' {
                escape = true;
            } else if c == b'"' {
                in_string = false;
            }
        } else {
            match c {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' if depth > 0 => depth -= 1,
                b',' if depth == 0 => {
                    push_piece(&mut out, &mut index, &text[start..i], false);
                    start = i + 1;
                }
                b']' => {
                    push_piece(&mut out, &mut index, &text[start..i], true);
                    let rest = text[i + 1..].trim();
                    if !rest.is_empty() {
                        out.push((index, Err(format!("unexpected text after the closing ]: {}", preview(rest)))));
                    }
                    return out;
                }
                b'}' => {
                    out.push((index, Err("unbalanced } in the array".to_string())));
                    return out;
                }
                _ => {}
            }
        }
        i += 1;
    }
    out.push((index, Err("the array is not terminated (missing ] or an unclosed element)".to_string())));
    out
}

fn push_piece<'a>(out: &mut Vec<Cut<'a>>, index: &mut usize, piece: &'a str, end_of_array: bool) {
    let t = piece.trim();
    if t.is_empty() {
        // `[]` is an empty batch; an empty element elsewhere (`[a,,b]`, `[a,]`) is an error.
        if !(end_of_array && *index == 0) {
            out.push((*index, Err("empty array element".to_string())));
            *index += 1;
        }
    } else {
        out.push((*index, Ok(t)));
        *index += 1;
    }
}

fn preview(s: &str) -> String {
    let mut p: String = s.chars().take(40).collect();
    if p.len() < s.len() {
        p.push('…');
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_bare_non_finite_outside_strings() {
        let s = r#"{"a":NaN,"b":-Infinity,"c":[Infinity],"d":"NaN Infinity","e":"say \"NaN\""}"#;
        let v: serde_json::Value = serde_json::from_str(&sanitize_non_finite(s)).unwrap();
        assert_eq!(v["a"], "NaN");
        assert_eq!(v["b"], "-Infinity");
        assert_eq!(v["c"][0], "Infinity");
        assert_eq!(v["d"], "NaN Infinity");
        assert_eq!(v["e"], "say \"NaN\"");
    }

    #[test]
    fn leaves_clean_text_borrowed() {
        assert!(matches!(sanitize_non_finite(r#"{"a":1}"#), Cow::Borrowed(_)));
        assert!(matches!(sanitize_non_finite(r#"{"Name":"Ian"}"#), Cow::Borrowed(_)));
    }

    #[test]
    fn does_not_rewrite_identifier_prefixes() {
        // `NaNx` is not a token Python writes; leave it for the parser to refuse.
        assert_eq!(sanitize_non_finite("[NaNx]"), "[NaNx]");
    }

    #[test]
    fn splits_arrays_keeping_bad_elements_separate() {
        let items = split_array(r#"[{"a":[1,2]}, {"b":"],}"} , {oops} ,{"c":3}]"#);
        let texts: Vec<_> = items.iter().map(|(_, t)| t.clone()).collect();
        assert_eq!(texts, vec![Ok(r#"{"a":[1,2]}"#), Ok(r#"{"b":"],}"}"#), Ok("{oops}"), Ok(r#"{"c":3}"#)]);
    }

    #[test]
    fn reports_structural_errors_after_good_items() {
        let items = split_array(r#"[{"a":1}, {"b":2"#);
        assert_eq!(items[0], (0, Ok(r#"{"a":1}"#)));
        assert!(items[1].1.is_err());
        assert!(split_array("[]").is_empty());
        assert!(split_array("[1,,2]")[1].1.is_err());
        assert!(split_array("[1] x").last().unwrap().1.is_err());
    }

    #[test]
    fn json_lines_with_blank_lines_and_array_lines() {
        let items = split_batch("{\"a\":1}\n\n[{\"b\":1},{\"c\":1}]\nnot json\n");
        let pos: Vec<_> = items.iter().map(|i| i.position).collect();
        assert_eq!(pos, vec![Position::Line(1), Position::LineItem(3, 0), Position::LineItem(3, 1), Position::Line(4)]);
        assert_eq!(items[3].text, Ok("not json"));
    }

    #[test]
    fn a_pretty_printed_single_envelope_is_one_item() {
        let items = split_batch("\n{\n  \"a\": NaN,\n  \"b\": [1,\n 2]\n}\n");
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].position, Position::Line(2));
        assert!(items[0].text.as_ref().unwrap().ends_with('}'));
    }
}
