//! W&B filter expressions to this product's: field names mapped, operators checked.
//!
//! Both speak the same MongoDB-like language, so an expression is copied as it is except where
//! the two differ: W&B's run-table field names (`displayName`, `name` for the run id,
//! `config.KEY.value`), fields that have no counterpart here, the library's `$size` and `$all`,
//! and regular expressions this product's linear-time engine cannot run. Each of those is either
//! rewritten to mean the same here or refused with the path where it was found; copying it
//! silently would import an automation that never fires, or always does.

use crate::error::{Errors, join_path};
use regex::RegexBuilder;
use serde_json::{Map, Value};

use super::read::kind;

/// Which event's fields a filter reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fields {
    /// Artifact and collection events: `alias`, `tag`, `collection`, ...
    Artifact,
    /// Run events: `display_name`, `run_id`, `username`, `state`, `tags`, `config.KEY`.
    Run,
}

/// Logical operators, which combine whole expressions.
const LOGICAL: &[&str] = &["$and", "$or", "$nor", "$not"];

/// Operators on a field that this product's expression language has (SPEC section 4).
const FIELD_OPERATORS: &[&str] =
    &["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$regex", "$options", "$contains", "$not"];

const ARTIFACT_FIELDS: &str =
    "artifact filters here read alias, tag, collection, collection_type, author, version and metadata.KEY";
const RUN_FIELDS: &str = "run filters here read display_name (W&B's displayName), run_id (W&B's name), \
     username, state, tags and config.KEY (W&B's config.KEY.value)";

/// Convert one W&B filter expression; problems are recorded with their path below `path`.
pub(super) fn convert(expr: &Value, fields: Fields, path: &str, errors: &mut Errors) -> Value {
    expression(expr, fields, path, errors)
}

/// An expression object: logical operators and field conditions.
fn expression(expr: &Value, fields: Fields, at: &str, errors: &mut Errors) -> Value {
    let Value::Object(keys) = expr else {
        errors.push(at, format!("a filter must be an object, not {}", kind(expr)));
        return expr.clone();
    };
    let mut out = Map::new();
    for (key, operand) in keys {
        let here = join_path(at, key);
        let (name, converted) = match key.as_str() {
            "$and" | "$or" | "$nor" => (key.clone(), expressions(key, operand, fields, &here, errors)),
            "$not" => (key.clone(), expression(operand, fields, &here, errors)),
            op if op.starts_with('$') => {
                errors.push(&here, unsupported_operator(op, false));
                continue;
            }
            field => {
                let Some(name) = map_field(field, fields, &here, errors) else { continue };
                (name, condition(operand, &here, errors))
            }
        };
        // Two W&B names for one field here (`displayName` and `display_name`) would otherwise
        // overwrite each other, and the import would lose a condition.
        if out.contains_key(&name) {
            errors.push(&here, format!("names {name} a second time in one object; put the conditions in an $and"));
            continue;
        }
        out.insert(name, converted);
    }
    Value::Object(out)
}

/// The array operand of `$and`, `$or`, `$nor`.
fn expressions(op: &str, operand: &Value, fields: Fields, at: &str, errors: &mut Errors) -> Value {
    let Value::Array(items) = operand else {
        errors.push(at, format!("{op} needs an array of filters, not {}", kind(operand)));
        return operand.clone();
    };
    let items = items
        .iter()
        .enumerate()
        .map(|(i, item)| expression(item, fields, &join_path(at, &format!("[{i}]")), errors))
        .collect();
    Value::Array(items)
}

/// What a field is tested with: an object of operators, or a value it must equal.
fn condition(operand: &Value, at: &str, errors: &mut Errors) -> Value {
    if let Value::Object(ops) = operand
        && ops.keys().any(|k| k.starts_with('$'))
    {
        for (op, arg) in ops {
            operator(op, arg, ops, &join_path(at, op), errors);
        }
    }
    // Field conditions keep their shape: only field names ever change.
    operand.clone()
}

/// Check one field operator's argument.
fn operator(op: &str, arg: &Value, ops: &Map<String, Value>, at: &str, errors: &mut Errors) {
    let want = match op {
        "$in" | "$nin" if !arg.is_array() => "an array",
        "$exists" if !arg.is_boolean() => "true or false",
        "$contains" | "$options" if !arg.is_string() => "a string",
        "$regex" => match arg {
            Value::String(pattern) => {
                let options = ops.get("$options").and_then(Value::as_str).unwrap_or("");
                if let Err(e) = compile_regex(pattern, options) {
                    errors.push(at, e);
                }
                return;
            }
            _ => "a string",
        },
        "$not" => {
            match arg {
                Value::Object(inner) if !inner.is_empty() => {
                    for (op, arg) in inner {
                        operator(op, arg, inner, &join_path(at, op), errors);
                    }
                }
                other => errors.push(at, format!("$not on a field needs an object of operators, not {}", kind(other))),
            }
            return;
        }
        _ if FIELD_OPERATORS.contains(&op) => return,
        _ => {
            errors.push(at, unsupported_operator(op, true));
            return;
        }
    };
    errors.push(at, format!("{op} needs {want}, not {}", kind(arg)));
}

/// Compile a `$regex` as this product will, so a pattern it cannot run is refused at import.
fn compile_regex(pattern: &str, options: &str) -> Result<(), String> {
    let mut b = RegexBuilder::new(pattern);
    for o in options.chars() {
        match o {
            'i' => b.case_insensitive(true),
            'm' => b.multi_line(true),
            's' => b.dot_matches_new_line(true),
            'x' => b.ignore_whitespace(true),
            _ => &mut b,
        };
    }
    b.size_limit(crate::filter::compile::REGEX_SIZE_LIMIT).dfa_size_limit(crate::filter::compile::REGEX_SIZE_LIMIT);
    b.build().map(drop).map_err(|e| {
        if let regex::Error::CompiledTooBig(_) = e {
            return crate::filter::compile::too_big(pattern);
        }
        format!(
            "this $regex cannot run here: patterns are Rust regex syntax, which runs in linear \
             time and so has no look-around or backreferences ({e})"
        )
    })
}

fn unsupported_operator(op: &str, on_field: bool) -> String {
    let known = if on_field { FIELD_OPERATORS.join(" ") } else { LOGICAL.join(" ") };
    match op {
        "$size" | "$all" => format!(
            "W&B's {op} is not in this product's expression language, so this filter cannot be \
             imported with the same meaning (operators here: {} {})",
            LOGICAL.join(" "),
            FIELD_OPERATORS.join(" ")
        ),
        _ => format!("unknown operator {op} here (operators here: {known})"),
    }
}

/// This product's name for a W&B filter field, or `None` (with an error) when it has none.
fn map_field(field: &str, fields: Fields, at: &str, errors: &mut Errors) -> Option<String> {
    let mapped = match fields {
        Fields::Artifact => artifact_field(field),
        Fields::Run => run_field(field),
    };
    if mapped.is_none() {
        let reason = match fields {
            Fields::Artifact => ARTIFACT_FIELDS,
            Fields::Run if field.starts_with("summary_metrics") => {
                "a run's summary metrics are not part of run events here (a run metric \
                 automation can watch the metric itself); run filters here read display_name, \
                 run_id, username, state, tags and config.KEY"
            }
            Fields::Run => RUN_FIELDS,
        };
        errors.push(at, format!("W&B field {field} has no counterpart here: {reason}"));
    }
    mapped
}

fn artifact_field(field: &str) -> Option<String> {
    match field {
        "alias" | "tag" | "collection" | "collection_type" | "author" | "version" => Some(field.to_string()),
        _ => keyed("metadata", field).map(|_| field.to_string()),
    }
}

fn run_field(field: &str) -> Option<String> {
    match field {
        "display_name" | "displayName" => Some("display_name".into()),
        // In W&B's run table `name` is the run's id; its display name is `displayName`.
        "name" | "run_id" => Some("run_id".into()),
        "username" | "state" | "tags" => Some(field.to_string()),
        _ => {
            let rest = keyed("config", field)?;
            // W&B stores each config key as {"value": ..., "desc": ...} and filters on
            // `config.KEY.value`; this product's run events carry the plain config.
            let (key, tail) = rest.split_once('.').unwrap_or((rest, ""));
            let tail = match tail.strip_prefix("value") {
                Some(after) if after.is_empty() || after.starts_with('.') => after.to_string(),
                _ if tail.is_empty() => String::new(),
                _ => format!(".{tail}"),
            };
            Some(format!("config.{key}{tail}"))
        }
    }
}

/// The part after `prefix.` when `field` is `prefix.KEY...` with a non-empty key.
fn keyed<'a>(prefix: &str, field: &'a str) -> Option<&'a str> {
    field.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')).filter(|r| !r.is_empty() && !r.starts_with('.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(expr: Value) -> Result<Value, Vec<(String, String)>> {
        conv(expr, Fields::Run)
    }

    fn conv(expr: Value, fields: Fields) -> Result<Value, Vec<(String, String)>> {
        let mut errors = Errors::default();
        let out = convert(&expr, fields, "f", &mut errors);
        errors.finish(out).map_err(|e| e.errors.into_iter().map(|e| (e.path, e.message)).collect())
    }

    #[test]
    fn run_fields_take_this_products_names_at_any_depth() {
        let out = run(json!({"$and": [
            {"$or": [{"displayName": {"$regex": "^a"}}, {"name": "r1"}]},
            {"$not": {"config.lr.value": {"$gt": 0.1}}},
            {"$nor": [{"config.opt.value.name": "adam"}, {"config.plain": 1}, {"config.value": 2}]},
            {"username": {"$not": {"$in": ["x"]}}, "tags": "t", "state": "failed"}
        ]}))
        .unwrap();
        assert_eq!(
            out,
            json!({"$and": [
                {"$or": [{"display_name": {"$regex": "^a"}}, {"run_id": "r1"}]},
                {"$not": {"config.lr": {"$gt": 0.1}}},
                {"$nor": [{"config.opt.name": "adam"}, {"config.plain": 1}, {"config.value": 2}]},
                {"username": {"$not": {"$in": ["x"]}}, "tags": "t", "state": "failed"}
            ]})
        );
    }

    #[test]
    fn config_value_is_stripped_only_right_after_the_key() {
        assert_eq!(run_field("config.a.value").as_deref(), Some("config.a"));
        assert_eq!(run_field("config.a.value.b").as_deref(), Some("config.a.b"));
        assert_eq!(run_field("config.a.valueless").as_deref(), Some("config.a.valueless"));
        assert_eq!(run_field("config.a.b.value").as_deref(), Some("config.a.b.value"));
        assert_eq!(run_field("config"), None);
        assert_eq!(run_field("config."), None);
        assert_eq!(run_field("configs.a"), None);
    }

    #[test]
    fn fields_without_a_counterpart_are_refused_with_their_path() {
        let e = run(json!({"$and": [{"summary_metrics.acc": {"$gt": 1}}, {"group": "g"}]})).unwrap_err();
        assert_eq!(e[0].0, "f.$and[0].summary_metrics.acc");
        assert!(e[0].1.contains("summary metrics"), "{}", e[0].1);
        assert_eq!(e[1].0, "f.$and[1].group");
        assert!(e[1].1.contains("W&B field group"));
        // Artifact fields are not run fields, and the reverse.
        assert_eq!(run(json!({"alias": "a"})).unwrap_err()[0].0, "f.alias");
        let e = conv(json!({"display_name": "a"}), Fields::Artifact).unwrap_err();
        assert!(e[0].1.contains("artifact filters here read alias"));
        let ok = json!({"alias": "a", "metadata.team": "x", "collection_type": "model", "version": 3});
        assert_eq!(conv(ok.clone(), Fields::Artifact).unwrap(), ok);
        assert!(conv(json!({"metadata": {"$exists": true}}), Fields::Artifact).is_err());
    }

    #[test]
    fn two_names_for_one_field_are_not_merged() {
        let e = run(json!({"displayName": "a", "display_name": "b"})).unwrap_err();
        assert_eq!(e.len(), 1);
        assert!(e[0].1.contains("second time"));
    }

    #[test]
    fn operators_outside_the_language_are_refused() {
        let e = conv(json!({"tag": {"$size": 2}}), Fields::Artifact).unwrap_err();
        assert_eq!(e[0].0, "f.tag.$size");
        assert!(e[0].1.contains("W&B's $size"));
        let e = conv(json!({"$or": [{"tag": {"$not": {"$all": ["a"]}}}]}), Fields::Artifact).unwrap_err();
        assert_eq!(e[0].0, "f.$or[0].tag.$not.$all");
        let e = conv(json!({"$where": "1"}), Fields::Artifact).unwrap_err();
        assert!(e[0].1.contains("unknown operator $where"));
    }

    #[test]
    fn operator_arguments_of_the_wrong_type_are_refused() {
        let e = conv(
            json!({"alias": {"$in": "prod", "$exists": 1, "$contains": 2, "$regex": 3}, "$and": {}}),
            Fields::Artifact,
        )
        .unwrap_err();
        let mut paths: Vec<&str> = e.iter().map(|(p, _)| p.as_str()).collect();
        paths.sort();
        assert_eq!(paths, ["f.$and", "f.alias.$contains", "f.alias.$exists", "f.alias.$in", "f.alias.$regex"]);
        assert!(conv(json!("alias"), Fields::Artifact).unwrap_err()[0].1.contains("must be an object"));
        assert!(conv(json!({"tag": {"$not": "x"}}), Fields::Artifact).is_err());
    }

    #[test]
    fn regexes_must_compile_as_this_product_compiles_them() {
        let e = conv(json!({"alias": {"$regex": "^(?!tmp)"}}), Fields::Artifact).unwrap_err();
        assert_eq!(e[0].0, "f.alias.$regex");
        assert!(e[0].1.contains("look-around"), "{}", e[0].1);
        assert!(conv(json!({"alias": {"$regex": "(a)\\1"}}), Fields::Artifact).is_err());
        assert!(conv(json!({"alias": {"$regex": "^Prod", "$options": "i"}}), Fields::Artifact).is_ok());
        // With `x`, whitespace and `#` comments are not part of the pattern.
        assert!(conv(json!({"alias": {"$regex": "a # (", "$options": "x"}}), Fields::Artifact).is_ok());
        assert!(conv(json!({"alias": {"$regex": "a # ("}}), Fields::Artifact).is_err());
    }

    #[test]
    fn wandb_wrappers_and_plain_values_pass_unchanged() {
        let e = json!({"$or": [{"$and": []}]});
        assert_eq!(conv(e.clone(), Fields::Artifact).unwrap(), e);
        let e = json!({"$or": [{"$and": [{"alias": {"$eq": ["a", "b"]}}, {"tag": {"k": 1}}]}]});
        assert_eq!(conv(e.clone(), Fields::Artifact).unwrap(), e);
    }
}
