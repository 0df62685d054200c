//! Filter expressions: W&B's MongoDB-like language over an event's fields (SPEC section 4).
//!
//! An expression is compiled once, when an automation is configured, so that every mistake in it
//! is a refusal then and never an error at event time; the compiled [`Filter`] is then matched
//! against each event's document:
//!
//! ```
//! use automations_core::filter::Filter;
//! use serde_json::json;
//!
//! let f = Filter::compile(&json!({"$or": [{"$and": [{"alias": {"$regex": "^prod"}}]}]})).unwrap();
//! assert!(f.matches(&json!({"alias": ["latest", "production"]})));
//! assert!(!f.matches(&json!({"alias": "staging"})));
//! ```
//!
//! Semantics are MongoDB's: an array field matches when an element does, comparisons never
//! convert between types, and a missing field matches only `$ne`, `$nin`, `$exists: false`,
//! equality with `null`, and negations.

pub(crate) mod compile;
pub use compile::REGEX_SIZE_LIMIT;
mod eval;
mod node;
mod path;
mod value;

use serde_json::Value;

use crate::error::Invalid;
use node::Node;

/// A compiled filter expression.
#[derive(Debug, Clone)]
pub struct Filter {
    root: Node,
}

impl Filter {
    /// Compile an expression. Errors are `crate::error::Invalid` whose FieldError paths are
    /// relative to the expression root, e.g. `$and[0].alias.$regex` or `alias` or `$or`, and
    /// messages say what is wrong. Every problem in the expression is reported, not just the first.
    pub fn compile(expr: &Value) -> Result<Filter, Invalid> {
        compile::compile(expr).map(|root| Filter { root })
    }

    /// The filter that matches everything (an absent filter).
    pub fn match_all() -> Filter {
        Filter { root: Node::All }
    }

    /// True when this filter matches every document: `match_all()`, `{}`, and expressions that
    /// reduce to it such as `{"$and": []}` or W&B's `{"$or": [{"$and": []}]}`.
    pub fn is_match_all(&self) -> bool {
        matches!(self.root, Node::All)
    }

    /// Evaluate against a document: a JSON object whose fields are looked up by dotted path
    /// (`metadata.framework`, `config.optimizer.name`).
    pub fn matches(&self, doc: &Value) -> bool {
        self.root.eval(doc)
    }
}

#[cfg(test)]
mod tests;
