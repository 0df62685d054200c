//! Type-strict comparison of JSON values, as MongoDB compares BSON values.
//!
//! `serde_json`'s own `==` tells the integer `1` from the float `1.0`; a filter must not, so
//! equality and ordering are defined here.

use std::cmp::Ordering;

use serde_json::{Number, Value};

/// Structural equality in which numbers compare by value (`1 == 1.0`) and nothing else converts:
/// a string never equals a number, `null` equals only `null`. Objects are equal when they have the
/// same keys with equal values, whatever the order of the keys.
pub(super) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => number_cmp(x, y) == Some(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => false,
    }
}

/// The order of two values that `$gt`, `$gte`, `$lt` and `$lte` may compare: numbers with numbers
/// and strings with strings (by bytes). Any other pair has no order, so those operators are false.
pub(super) fn order(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => number_cmp(x, y),
        (Value::String(x), Value::String(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        _ => None,
    }
}

/// Integers compare exactly (an `i64` against a `u64` included); as soon as a float is involved
/// both sides compare as `f64`, as MongoDB compares a long with a double.
fn number_cmp(a: &Number, b: &Number) -> Option<Ordering> {
    match (integer(a), integer(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

fn integer(n: &Number) -> Option<i128> {
    n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from))
}

pub(super) use crate::json::type_name as kind;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn integers_and_floats_of_the_same_value_are_equal() {
        assert!(json_eq(&json!(1), &json!(1.0)));
        assert!(json_eq(&json!(-3), &json!(-3.0)));
        assert!(!json_eq(&json!(1), &json!(1.5)));
        // serde_json alone says otherwise, which is why this module exists.
        assert_ne!(json!(1), json!(1.0));
    }

    #[test]
    fn large_integers_compare_exactly() {
        let big = json!(u64::MAX);
        let below = json!(u64::MAX - 1);
        assert!(!json_eq(&big, &below));
        assert_eq!(order(&big, &below), Some(Ordering::Greater));
        assert_eq!(order(&json!(-1), &json!(u64::MAX)), Some(Ordering::Less));
    }

    #[test]
    fn different_types_are_never_equal() {
        assert!(!json_eq(&json!("1"), &json!(1)));
        assert!(!json_eq(&json!(true), &json!(1)));
        assert!(!json_eq(&json!(null), &json!(false)));
        assert!(!json_eq(&json!(null), &json!(0)));
        assert!(!json_eq(&json!([]), &json!({})));
        assert!(!json_eq(&json!(""), &json!(null)));
    }

    #[test]
    fn containers_compare_structurally() {
        assert!(json_eq(&json!([1, "a", [2.0]]), &json!([1.0, "a", [2]])));
        assert!(!json_eq(&json!([1, 2]), &json!([2, 1])));
        assert!(!json_eq(&json!([1, 2]), &json!([1, 2, 3])));
        assert!(json_eq(&json!({"a": 1, "b": {"c": 2}}), &json!({"b": {"c": 2.0}, "a": 1})));
        assert!(!json_eq(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(!json_eq(&json!({"a": 1, "c": 2}), &json!({"a": 1, "b": 2})));
    }

    #[test]
    fn only_numbers_and_strings_are_ordered() {
        assert_eq!(order(&json!(2), &json!(1.5)), Some(Ordering::Greater));
        assert_eq!(order(&json!(0.1), &json!(0.2)), Some(Ordering::Less));
        assert_eq!(order(&json!("b"), &json!("a")), Some(Ordering::Greater));
        // Byte order: upper case sorts before lower case.
        assert_eq!(order(&json!("Z"), &json!("a")), Some(Ordering::Less));
        assert_eq!(order(&json!("10"), &json!(9)), None);
        assert_eq!(order(&json!(true), &json!(false)), None);
        assert_eq!(order(&json!(null), &json!(null)), None);
        assert_eq!(order(&json!([1]), &json!([0])), None);
    }
}
