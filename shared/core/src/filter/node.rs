//! The compiled form of a filter: a tree of logic over tests of single fields.
//!
//! Every operator reduces to a few shapes: `$ne` is `Not(Eq)`, `$nin` is `Not(In)`, `$exists:
//! false` is `Not(Exists)`, `$nor` is `Not(Or)`, several keys are `And`. The constructors fold
//! constants as they build, so W&B's `{"$or":[{"$and":[]}]}` becomes `All` and its wrappers
//! around a single condition disappear.

use regex::Regex;
use serde_json::Value;

use super::path::Path;

/// A node of a compiled filter.
#[derive(Debug, Clone)]
pub(super) enum Node {
    /// Matches every document.
    All,
    /// Matches no document.
    Nothing,
    /// Every child matches; never empty nor a single child.
    And(Vec<Node>),
    /// Some child matches; never empty nor a single child.
    Or(Vec<Node>),
    Not(Box<Node>),
    /// Some value reached by the path (or its absence) passes the test.
    Field(Path, Test),
}

/// A test of one value of a field, `None` when the field is missing there.
#[derive(Debug, Clone)]
pub(super) enum Test {
    /// `$eq`, and the plain `{"field": value}`.
    Eq(Value),
    /// `$gt`, `$gte`, `$lt`, `$lte` against a number or a string.
    Cmp(Cmp, Value),
    In(Vec<Value>),
    Exists,
    Regex(Regex),
    Contains(String),
}

/// An ordering operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Node {
    pub(super) fn and(children: Vec<Node>) -> Node {
        let mut kept = Vec::with_capacity(children.len());
        for child in children {
            match child {
                Node::All => {}
                Node::Nothing => return Node::Nothing,
                Node::And(grandchildren) => kept.extend(grandchildren),
                other => kept.push(other),
            }
        }
        match kept.len() {
            0 => Node::All,
            1 => kept.pop().unwrap_or(Node::All),
            _ => Node::And(kept),
        }
    }

    pub(super) fn or(children: Vec<Node>) -> Node {
        let mut kept = Vec::with_capacity(children.len());
        for child in children {
            match child {
                Node::Nothing => {}
                Node::All => return Node::All,
                Node::Or(grandchildren) => kept.extend(grandchildren),
                other => kept.push(other),
            }
        }
        match kept.len() {
            0 => Node::Nothing,
            1 => kept.pop().unwrap_or(Node::Nothing),
            _ => Node::Or(kept),
        }
    }

    pub(super) fn not(child: Node) -> Node {
        match child {
            Node::All => Node::Nothing,
            Node::Nothing => Node::All,
            Node::Not(inner) => *inner,
            other => Node::Not(Box::new(other)),
        }
    }

    pub(super) fn field(path: &Path, test: Test) -> Node {
        Node::Field(path.clone(), test)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf() -> Node {
        Node::field(&Path::parse("a").unwrap(), Test::Exists)
    }

    #[test]
    fn empty_and_is_all_and_empty_or_is_nothing() {
        assert!(matches!(Node::and(vec![]), Node::All));
        assert!(matches!(Node::or(vec![]), Node::Nothing));
        assert!(matches!(Node::not(Node::or(vec![])), Node::All));
    }

    #[test]
    fn constants_absorb_or_vanish() {
        assert!(matches!(Node::and(vec![leaf(), Node::Nothing]), Node::Nothing));
        assert!(matches!(Node::or(vec![leaf(), Node::All]), Node::All));
        assert!(matches!(Node::and(vec![Node::All, leaf()]), Node::Field(..)));
        assert!(matches!(Node::or(vec![Node::Nothing, leaf()]), Node::Field(..)));
        assert!(matches!(Node::or(vec![Node::and(vec![])]), Node::All));
    }

    #[test]
    fn nested_same_operators_flatten() {
        let n = Node::and(vec![Node::and(vec![leaf(), leaf()]), leaf()]);
        assert!(matches!(n, Node::And(ref xs) if xs.len() == 3));
        let n = Node::or(vec![leaf(), Node::or(vec![leaf(), leaf()])]);
        assert!(matches!(n, Node::Or(ref xs) if xs.len() == 3));
    }

    #[test]
    fn double_negation_cancels() {
        assert!(matches!(Node::not(Node::not(leaf())), Node::Field(..)));
        assert!(matches!(Node::not(leaf()), Node::Not(_)));
        assert!(matches!(Node::not(Node::All), Node::Nothing));
    }
}
