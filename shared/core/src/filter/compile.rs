//! From a JSON expression to a [`Node`], naming every problem with its path in the expression.
//!
//! Compilation goes on past the first problem so that one answer lists them all; the tree built
//! alongside is thrown away when there was any.

use regex::RegexBuilder;
use serde_json::{Map, Value};

use super::node::{Cmp, Node, Test};
use super::path::Path;
use super::value::kind;
use crate::error::{Errors, Invalid, join_path};

/// Operators that test a field and so belong inside `{"field": {...}}`.
const FIELD_OPERATORS: &[&str] =
    &["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$regex", "$options", "$contains", "$not"];

/// Compile a whole filter expression.
pub(super) fn compile(expr: &Value) -> Result<Node, Invalid> {
    let mut errors = Errors::default();
    let node = expression(expr, "", &mut errors);
    errors.finish(node)
}

/// An expression object: logical operators and field conditions, all of which must hold.
fn expression(expr: &Value, at: &str, errors: &mut Errors) -> Node {
    let Value::Object(keys) = expr else {
        errors.push(at, format!("a filter must be a JSON object, not {}", kind(expr)));
        return Node::Nothing;
    };
    let mut parts = Vec::with_capacity(keys.len());
    for (key, operand) in keys {
        let here = join_path(at, key);
        let part = match key.as_str() {
            "$and" => Node::and(expressions(key, operand, &here, errors)),
            "$or" => Node::or(expressions(key, operand, &here, errors)),
            "$nor" => Node::not(Node::or(expressions(key, operand, &here, errors))),
            "$not" => Node::not(expression(operand, &here, errors)),
            op if FIELD_OPERATORS.contains(&op) => {
                errors.push(&here, format!("{op} tests a field: write {{\"FIELD\": {{\"{op}\": ...}}}}"));
                continue;
            }
            op if op.starts_with('$') => {
                errors.push(&here, format!("unknown operator {op}"));
                continue;
            }
            field => condition(field, operand, &here, errors),
        };
        parts.push(part);
    }
    Node::and(parts)
}

/// The operand of `$and`, `$or` or `$nor`: an array of expressions, possibly empty.
fn expressions(op: &str, operand: &Value, at: &str, errors: &mut Errors) -> Vec<Node> {
    let Value::Array(items) = operand else {
        errors.push(at, format!("{op} needs an array of filters, not {}", kind(operand)));
        return Vec::new();
    };
    items.iter().enumerate().map(|(i, item)| expression(item, &join_path(at, &format!("[{i}]")), errors)).collect()
}

/// `{"field": operand}`: an operator object, or a value the field must equal.
fn condition(field: &str, operand: &Value, at: &str, errors: &mut Errors) -> Node {
    let Some(path) = Path::parse(field) else {
        errors.push(at, format!("field path {field:?} has an empty segment"));
        return Node::Nothing;
    };
    match operand {
        Value::Object(ops) if ops.keys().any(|k| k.starts_with('$')) => {
            if let Some(plain) = ops.keys().find(|k| !k.starts_with('$')) {
                let op = ops.keys().find(|k| k.starts_with('$')).map_or("", String::as_str);
                errors.push(
                    at,
                    format!(
                        "mixes operators ({op}) with plain keys ({plain}): use operators only, \
                         or {{\"$eq\": {{...}}}} to compare with an object"
                    ),
                );
                return Node::Nothing;
            }
            operators(&path, ops, at, errors)
        }
        value => Node::field(&path, Test::Eq(value.clone())),
    }
}

/// An operator object on a field; all of its operators must hold.
fn operators(path: &Path, ops: &Map<String, Value>, at: &str, errors: &mut Errors) -> Node {
    let mut parts = Vec::with_capacity(ops.len());
    for (op, operand) in ops {
        let here = join_path(at, op);
        let eq = || Node::field(path, Test::Eq(operand.clone()));
        let part = match op.as_str() {
            "$eq" => Ok(eq()),
            "$ne" => Ok(Node::not(eq())),
            "$gt" => ordered(path, Cmp::Gt, op, operand),
            "$gte" => ordered(path, Cmp::Gte, op, operand),
            "$lt" => ordered(path, Cmp::Lt, op, operand),
            "$lte" => ordered(path, Cmp::Lte, op, operand),
            "$in" => membership(path, op, operand),
            "$nin" => membership(path, op, operand).map(Node::not),
            "$exists" => exists(operand).map(|exists| {
                let test = Node::field(path, Test::Exists);
                if exists { test } else { Node::not(test) }
            }),
            "$regex" => regex(path, operand, ops.get("$options")),
            // Only checked here: `$regex` reads it. `All` leaves the conjunction unchanged.
            "$options" if ops.contains_key("$regex") => regex_flags(operand).map(|_| Node::All),
            "$options" => Err("$options needs a $regex beside it".to_owned()),
            "$contains" => match operand {
                Value::String(part) => Ok(Node::field(path, Test::Contains(part.clone()))),
                other => Err(format!("$contains needs a string, not {}", kind(other))),
            },
            "$not" => match operand {
                Value::Object(inner) if is_operator_object(inner) => {
                    Ok(Node::not(operators(path, inner, &here, errors)))
                }
                other => Err(format!(
                    "$not needs an object of operators such as {{\"$regex\": \"...\"}}, not {}",
                    describe(other)
                )),
            },
            "$and" | "$or" | "$nor" => {
                Err(format!("{op} does not apply to a field: write {{\"{op}\": [{{\"FIELD\": ...}}, ...]}}"))
            }
            _ => Err(format!("unknown operator {op}")),
        };
        match part {
            Ok(part) => parts.push(part),
            Err(message) => errors.push(here, message),
        }
    }
    Node::and(parts)
}

fn is_operator_object(ops: &Map<String, Value>) -> bool {
    !ops.is_empty() && ops.keys().all(|k| k.starts_with('$'))
}

/// `$gt` and its kin: only numbers and strings have an order, so any other operand could never
/// match and is refused rather than silently false.
fn ordered(path: &Path, cmp: Cmp, op: &str, operand: &Value) -> Result<Node, String> {
    if operand.is_number() || operand.is_string() {
        Ok(Node::field(path, Test::Cmp(cmp, operand.clone())))
    } else {
        Err(format!("{op} needs a number or a string, not {}", kind(operand)))
    }
}

fn membership(path: &Path, op: &str, operand: &Value) -> Result<Node, String> {
    match operand {
        Value::Array(values) => Ok(Node::field(path, Test::In(values.clone()))),
        other => Err(format!("{op} needs an array, not {}", kind(other))),
    }
}

/// `true`/`false`, or MongoDB's `1`/`0`.
fn exists(operand: &Value) -> Result<bool, String> {
    match operand {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_u64() == Some(1) => Ok(true),
        Value::Number(n) if n.as_u64() == Some(0) => Ok(false),
        other => Err(format!("$exists needs true or false, not {}", kind(other))),
    }
}

fn regex(path: &Path, pattern: &Value, options: Option<&Value>) -> Result<Node, String> {
    let Value::String(pattern) = pattern else {
        return Err(format!("$regex needs a string, not {}", kind(pattern)));
    };
    // A bad `$options` is reported at its own path; the pattern is still worth checking.
    let flags = options.and_then(|o| regex_flags(o).ok()).unwrap_or_default();
    let built = RegexBuilder::new(pattern)
        .case_insensitive(flags.case_insensitive)
        .multi_line(flags.multi_line)
        .dot_matches_new_line(flags.dot_matches_new_line)
        .ignore_whitespace(flags.ignore_whitespace)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build();
    match built {
        Ok(re) => Ok(Node::field(path, Test::Regex(re))),
        Err(regex::Error::CompiledTooBig(_)) => Err(too_big(pattern)),
        Err(e) => Err(format!("invalid regular expression {pattern:?}: {}", regex_reason(&e))),
    }
}

/// The most memory one compiled `$regex` may take (its program, and its lazy DFA's cache).
/// Filters on aliases, tags and names need a few KiB; `\w{200}` (Unicode classes repeated)
/// would take about 28 MB, kept for as long as the automation exists.
pub const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// The refusal of a pattern over [`REGEX_SIZE_LIMIT`].
pub(crate) fn too_big(pattern: &str) -> String {
    let shown: String = pattern.chars().take(60).collect();
    format!(
        "regular expression {shown:?} compiles to more than the limit of {} KiB; filters need far \
         less: use ASCII classes ([a-z0-9_] rather than \\w, or the (?-u) flag) and small repetition counts",
        REGEX_SIZE_LIMIT / 1024
    )
}

/// MongoDB's `$options` flags that the `regex` crate has.
#[derive(Default)]
struct Flags {
    case_insensitive: bool,
    multi_line: bool,
    dot_matches_new_line: bool,
    ignore_whitespace: bool,
}

fn regex_flags(options: &Value) -> Result<Flags, String> {
    let Value::String(letters) = options else {
        return Err(format!("$options needs a string, not {}", kind(options)));
    };
    let mut flags = Flags::default();
    for letter in letters.chars() {
        let flag = match letter {
            'i' => &mut flags.case_insensitive,
            'm' => &mut flags.multi_line,
            's' => &mut flags.dot_matches_new_line,
            'x' => &mut flags.ignore_whitespace,
            other => {
                return Err(format!("unknown $options flag {other:?}: the flags are i, m, s and x"));
            }
        };
        *flag = true;
    }
    Ok(flags)
}

/// The one line of a regex error that says what is wrong; the full text spans several lines
/// with a caret drawing, which a one-line field error cannot show.
fn regex_reason(e: &regex::Error) -> String {
    let text = e.to_string();
    match text.lines().find_map(|line| line.strip_prefix("error: ")) {
        Some(reason) => reason.to_owned(),
        None => text.split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

/// An operand named in a message: its type, and for an object that it has plain keys.
fn describe(v: &Value) -> String {
    match v {
        Value::Object(m) if m.is_empty() => "an empty object".to_owned(),
        Value::Object(_) => "an object with plain keys".to_owned(),
        other => kind(other).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The errors of an expression that must not compile, as (path, message), sorted by path.
    fn errors(expr: Value) -> Vec<(String, String)> {
        let Err(invalid) = compile(&expr) else { panic!("{expr} should not compile") };
        let mut found: Vec<_> = invalid.errors.into_iter().map(|e| (e.path, e.message)).collect();
        found.sort();
        found
    }

    /// The single error of an expression: its path, and its message, which must contain `says`.
    #[track_caller]
    fn assert_error(expr: Value, path: &str, says: &str) {
        let found = errors(expr.clone());
        assert_eq!(found.len(), 1, "{expr}: {found:?}");
        assert_eq!(found[0].0, path, "{expr}");
        assert!(found[0].1.contains(says), "{expr}: {:?} should say {says:?}", found[0].1);
    }

    /// Issue 16, item 2: `\\w{200}` compiled to about 28 MB, held for the automation's life;
    /// a pattern over the size limit is refused when saved, saying the limit.
    #[test]
    fn regexes_over_the_size_limit_are_refused() {
        assert_error(json!({"alias": {"$regex": "\\w{200}"}}), "alias.$regex", "256 KiB");
        for fine in ["^prod", "^(staging|production|v[0-9]+)$", "(?i)^[a-z0-9_-]{1,64}$", "(?-u:\\w){40}"] {
            assert!(compile(&json!({"alias": {"$regex": fine}})).is_ok(), "{fine}");
        }
    }

    #[test]
    fn the_root_must_be_an_object() {
        assert_error(json!(null), "", "must be a JSON object, not null");
        assert_error(json!([{"a": 1}]), "", "not an array");
        assert_error(json!("alias = prod"), "", "not a string");
    }

    #[test]
    fn logical_operators_need_arrays_of_objects() {
        assert_error(json!({"$and": {"a": 1}}), "$and", "$and needs an array of filters, not an object");
        assert_error(json!({"$or": "x"}), "$or", "$or needs an array");
        assert_error(json!({"$nor": null}), "$nor", "$nor needs an array");
        assert_error(json!({"$or": [{"a": 1}, 3]}), "$or[1]", "must be a JSON object, not a number");
        assert_error(json!({"$not": [{"a": 1}]}), "$not", "must be a JSON object, not an array");
    }

    #[test]
    fn unknown_operators_are_refused_wherever_they_are() {
        assert_error(json!({"$foo": 1}), "$foo", "unknown operator $foo");
        assert_error(json!({"alias": {"$foo": 1}}), "alias.$foo", "unknown operator $foo");
        assert_error(
            json!({"$and": [{"a": {"$elemMatch": {}}}]}),
            "$and[0].a.$elemMatch",
            "unknown operator $elemMatch",
        );
    }

    #[test]
    fn field_operators_need_a_field() {
        assert_error(json!({"$eq": "prod"}), "$eq", "$eq tests a field");
        assert_error(json!({"$or": [{"$regex": "x"}]}), "$or[0].$regex", "$regex tests a field");
        assert_error(json!({"$not": {"$regex": "x"}}), "$not.$regex", "$regex tests a field");
    }

    #[test]
    fn logical_operators_do_not_apply_to_a_field() {
        assert_error(json!({"alias": {"$or": [{"$eq": "a"}]}}), "alias.$or", "$or does not apply to a field");
    }

    #[test]
    fn operators_and_plain_keys_do_not_mix() {
        assert_error(
            json!({"alias": {"$eq": "a", "name": "b"}}),
            "alias",
            "mixes operators ($eq) with plain keys (name)",
        );
        assert_error(json!({"$and": [{"cfg": {"lr": 1, "$gt": 0}}]}), "$and[0].cfg", "mixes operators");
    }

    #[test]
    fn regex_must_be_a_valid_string() {
        assert_error(
            json!({"$and": [{"alias": {"$regex": "prod("}}]}),
            "$and[0].alias.$regex",
            "invalid regular expression \"prod(\": unclosed group",
        );
        assert_error(json!({"alias": {"$regex": 5}}), "alias.$regex", "$regex needs a string, not a number");
        // Look-around is not in the linear-time `regex` syntax.
        assert_error(json!({"a": {"$regex": "(?=x)"}}), "a.$regex", "invalid regular expression");
    }

    #[test]
    fn regex_errors_are_one_line() {
        let found = errors(json!({"a": {"$regex": "[z-a]"}}));
        assert!(!found[0].1.contains('\n'), "{:?}", found[0].1);
        assert!(found[0].1.starts_with("invalid regular expression \"[z-a]\": "), "{:?}", found[0].1);
    }

    #[test]
    fn options_are_checked() {
        assert_error(json!({"a": {"$regex": "x", "$options": "iq"}}), "a.$options", "unknown $options flag 'q'");
        assert_error(json!({"a": {"$regex": "x", "$options": 1}}), "a.$options", "$options needs a string");
        assert_error(json!({"a": {"$options": "i"}}), "a.$options", "$options needs a $regex beside it");
        assert_error(json!({"a": {"$not": {"$options": "i"}}}), "a.$not.$options", "needs a $regex");
    }

    #[test]
    fn membership_needs_an_array() {
        assert_error(json!({"s": {"$in": "failed"}}), "s.$in", "$in needs an array, not a string");
        assert_error(json!({"s": {"$nin": {"a": 1}}}), "s.$nin", "$nin needs an array, not an object");
    }

    #[test]
    fn exists_needs_a_boolean() {
        assert_error(json!({"a": {"$exists": "yes"}}), "a.$exists", "$exists needs true or false, not a string");
        assert_error(json!({"a": {"$exists": 2}}), "a.$exists", "$exists needs true or false");
        assert_error(json!({"a": {"$exists": null}}), "a.$exists", "not null");
    }

    #[test]
    fn ordering_needs_a_number_or_a_string() {
        for op in ["$gt", "$gte", "$lt", "$lte"] {
            for operand in [json!(true), json!(null), json!([1]), json!({"a": 1})] {
                assert_error(
                    json!({"n": {op: operand}}),
                    &format!("n.{op}"),
                    &format!("{op} needs a number or a string"),
                );
            }
        }
    }

    #[test]
    fn contains_needs_a_string() {
        assert_error(json!({"n": {"$contains": 1}}), "n.$contains", "$contains needs a string, not a number");
        assert_error(json!({"n": {"$contains": ["a"]}}), "n.$contains", "not an array");
    }

    #[test]
    fn field_not_needs_an_operator_object() {
        assert_error(json!({"a": {"$not": "x"}}), "a.$not", "$not needs an object of operators");
        assert_error(json!({"a": {"$not": {}}}), "a.$not", "not an empty object");
        assert_error(json!({"a": {"$not": {"b": 1}}}), "a.$not", "not an object with plain keys");
        assert_error(json!({"a": {"$not": {"$in": 1}}}), "a.$not.$in", "$in needs an array");
    }

    #[test]
    fn field_paths_need_every_segment() {
        assert_error(json!({"a..b": 1}), "a..b", "has an empty segment");
        assert_error(json!({"$or": [{"": 1}]}), "$or[0]", "has an empty segment");
        assert_error(json!({"a.": {"$eq": 1}}), "a.", "has an empty segment");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let found = errors(json!({
            "$or": [{"a": {"$in": 1}}, {"b": {"$regex": "("}}],
            "$bad": 1,
            "c": {"$exists": "no", "$gt": null}
        }));
        let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["$bad", "$or[0].a.$in", "$or[1].b.$regex", "c.$exists", "c.$gt"]);
    }
}
