//! Errors that name the offending field.
//!
//! Every refusal in the product (a bad automation, a bad envelope, a bad import) is a list of
//! [`FieldError`]s, each carrying the dotted path of the field it is about, so an API can answer
//! with `application/problem+json` and a command line can print `file: item: path: message`.

use std::fmt;

/// One problem with one field of an input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct FieldError {
    /// Dotted path of the field, e.g. `event.metric.window` or `data.rows[3].values.loss`.
    /// Empty when the problem is with the document as a whole.
    pub path: String,
    /// What is wrong, said so that the user knows what to change.
    pub message: String,
}

impl FieldError {
    /// An error about the field at dotted `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError { path: path.into(), message: message.into() }
    }
}

/// A refused input: one or more field errors. Never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Invalid {
    /// The problems found, in the order they were found.
    pub errors: Vec<FieldError>,
}

impl Invalid {
    /// A refusal with a single error, about the field at `path`.
    pub fn one(path: impl Into<String>, message: impl Into<String>) -> Self {
        Invalid { errors: vec![FieldError::new(path, message)] }
    }

    /// Prefix every path with `prefix` (joined with `.`), for errors of a nested document.
    pub fn within(mut self, prefix: &str) -> Self {
        for e in &mut self.errors {
            e.path = join_path(prefix, &e.path);
        }
        self
    }
}

impl From<FieldError> for Invalid {
    fn from(e: FieldError) -> Self {
        Invalid { errors: vec![e] }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            if e.path.is_empty() {
                f.write_str(&e.message)?;
            } else {
                write!(f, "{e}")?;
            }
        }
        Ok(())
    }
}

/// Join two path fragments: `join_path("event", "filter.$and[0]")` is `event.filter.$and[0]`,
/// and an index fragment (`[3]`) attaches without a dot.
pub fn join_path(prefix: &str, rest: &str) -> String {
    if prefix.is_empty() {
        rest.to_string()
    } else if rest.is_empty() {
        prefix.to_string()
    } else if rest.starts_with('[') {
        format!("{prefix}{rest}")
    } else {
        format!("{prefix}.{rest}")
    }
}

/// Collects field errors while a document is checked, so one answer names every problem.
#[derive(Debug, Default)]
pub struct Errors {
    errors: Vec<FieldError>,
}

impl Errors {
    /// Record an error about the field at `path`.
    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(path, message));
    }

    /// Record every error of `invalid`, with its paths unchanged.
    pub fn extend(&mut self, invalid: Invalid) {
        self.errors.extend(invalid.errors);
    }

    /// Keep the value of `r`, or record its errors and return `None`.
    pub fn take<T>(&mut self, r: Result<T, Invalid>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.extend(e);
                None
            }
        }
    }

    /// Whether no error was recorded so far.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// How many errors were recorded so far.
    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// The errors of a reader that could not build its value. Never empty: a reader that gave up
    /// without recording why is reported at the document's root rather than not at all.
    pub fn failed(mut self) -> Invalid {
        if self.errors.is_empty() {
            self.push("", "is invalid");
        }
        Invalid { errors: self.errors }
    }

    /// `Ok(v)` if nothing was recorded, else every recorded error.
    pub fn finish<T>(self, v: T) -> Result<T, Invalid> {
        if self.errors.is_empty() { Ok(v) } else { Err(Invalid { errors: self.errors }) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_with_dots_and_brackets() {
        assert_eq!(join_path("event", "filter"), "event.filter");
        assert_eq!(join_path("rows", "[3]"), "rows[3]");
        assert_eq!(join_path("", "x"), "x");
        assert_eq!(join_path("x", ""), "x");
    }

    #[test]
    fn invalid_displays_every_error() {
        let e = Invalid { errors: vec![FieldError::new("a", "bad"), FieldError::new("", "whole doc")] };
        assert_eq!(e.to_string(), "a: bad; whole doc");
        assert_eq!(e.within("p").errors[0].path, "p.a");
    }
}
