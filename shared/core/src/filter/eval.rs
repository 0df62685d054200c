//! Matching a compiled filter against a document.

use std::cmp::Ordering;

use serde_json::Value;

use super::node::{Cmp, Node, Test};
use super::value::{json_eq, order};

impl Node {
    pub(super) fn eval(&self, doc: &Value) -> bool {
        match self {
            Node::All => true,
            Node::Nothing => false,
            Node::And(children) => children.iter().all(|c| c.eval(doc)),
            Node::Or(children) => children.iter().any(|c| c.eval(doc)),
            Node::Not(child) => !child.eval(doc),
            Node::Field(path, test) => path.any(doc, &mut |value| test.passes(value)),
        }
    }
}

impl Test {
    /// Whether one value reached by a field path (`None`: the field is missing there) passes.
    /// An array passes when an element does; `Eq` also lets the whole array equal the operand.
    fn passes(&self, value: Option<&Value>) -> bool {
        let Some(value) = value else {
            // MongoDB's exception: `null` stands for a missing field too.
            return match self {
                Test::Eq(operand) => operand.is_null(),
                Test::In(operands) => operands.iter().any(Value::is_null),
                _ => false,
            };
        };
        match self {
            Test::Eq(operand) => equals(value, operand),
            Test::In(operands) => operands.iter().any(|operand| equals(value, operand)),
            Test::Exists => true,
            Test::Cmp(cmp, operand) => some_element(value, |v| cmp.holds(order(v, operand))),
            Test::Regex(re) => some_element(value, |v| v.as_str().is_some_and(|s| re.is_match(s))),
            Test::Contains(part) => some_element(value, |v| v.as_str().is_some_and(|s| s.contains(part.as_str()))),
        }
    }
}

impl Cmp {
    fn holds(self, ordering: Option<Ordering>) -> bool {
        let Some(ordering) = ordering else {
            return false;
        };
        match self {
            Cmp::Gt => ordering.is_gt(),
            Cmp::Gte => ordering.is_ge(),
            Cmp::Lt => ordering.is_lt(),
            Cmp::Lte => ordering.is_le(),
        }
    }
}

/// MongoDB's equality on a field: the value equals the operand, or the value is an array and
/// one of its elements does.
fn equals(value: &Value, operand: &Value) -> bool {
    json_eq(value, operand) || matches!(value, Value::Array(items) if items.iter().any(|item| json_eq(item, operand)))
}

/// `test` holds for the value, or for an element when the value is an array.
fn some_element(value: &Value, test: impl Fn(&Value) -> bool) -> bool {
    match value {
        Value::Array(items) => items.iter().any(test),
        other => test(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn eq_matches_an_element_or_the_whole_array() {
        let tags = json!(["a", "b"]);
        assert!(Test::Eq(json!("a")).passes(Some(&tags)));
        assert!(Test::Eq(json!(["a", "b"])).passes(Some(&tags)));
        assert!(!Test::Eq(json!(["b", "a"])).passes(Some(&tags)));
        assert!(!Test::Eq(json!("c")).passes(Some(&tags)));
    }

    #[test]
    fn only_null_equality_passes_a_missing_value() {
        assert!(Test::Eq(json!(null)).passes(None));
        assert!(Test::In(vec![json!(1), json!(null)]).passes(None));
        assert!(!Test::Eq(json!(0)).passes(None));
        assert!(!Test::In(vec![json!(1)]).passes(None));
        assert!(!Test::Exists.passes(None));
        assert!(!Test::Cmp(Cmp::Gte, json!(0)).passes(None));
        assert!(!Test::Contains(String::new()).passes(None));
        assert!(!Test::Regex(regex::Regex::new("").unwrap()).passes(None));
    }

    #[test]
    fn comparisons_hold_exactly_where_they_should() {
        let one = json!(1);
        let cases = [(Cmp::Gt, false), (Cmp::Gte, true), (Cmp::Lt, false), (Cmp::Lte, true)];
        for (cmp, expected) in cases {
            assert_eq!(Test::Cmp(cmp, json!(1.0)).passes(Some(&one)), expected, "{cmp:?}");
        }
        assert!(Test::Cmp(Cmp::Gt, json!(0.5)).passes(Some(&one)));
        assert!(Test::Cmp(Cmp::Lt, json!(2)).passes(Some(&one)));
        assert!(!Test::Cmp(Cmp::Gt, json!(2)).passes(Some(&one)));
    }

    #[test]
    fn regex_and_contains_look_at_strings_only() {
        let re = Test::Regex(regex::Regex::new("^1").unwrap());
        assert!(re.passes(Some(&json!("12"))));
        assert!(!re.passes(Some(&json!(12))));
        assert!(re.passes(Some(&json!([3, "10"]))));
        let contains = Test::Contains("1".into());
        assert!(!contains.passes(Some(&json!(12))));
        assert!(contains.passes(Some(&json!(["x", "a1b"]))));
    }
}
