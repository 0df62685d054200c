//! Behaviour of [`Filter`] through its public API: every operator, MongoDB's rules for missing
//! fields, types and arrays, and the shapes W&B sends.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::Filter;

fn filter(expr: Value) -> Filter {
    Filter::compile(&expr).unwrap_or_else(|e| panic!("{expr} should compile: {e}"))
}

fn matches(expr: Value, doc: Value) -> bool {
    filter(expr).matches(&doc)
}

/// Asserts which of `docs` the expression matches, by index.
#[track_caller]
fn assert_selects(expr: Value, docs: &[Value], expected: &[usize]) {
    let f = filter(expr.clone());
    let got: Vec<usize> = (0..docs.len()).filter(|&i| f.matches(&docs[i])).collect();
    assert_eq!(got, expected, "{expr} over {docs:?}");
}

mod match_all {
    use super::*;

    #[test]
    fn absent_and_empty_filters_match_everything() {
        for expr in [
            json!({}),
            json!({"$and": []}),
            json!({"$or": [{"$and": []}]}),
            json!({"$nor": []}),
            json!({"$and": [{}, {"$or": [{}]}]}),
            json!({"$not": {"$or": []}}),
        ] {
            let f = filter(expr.clone());
            assert!(f.is_match_all(), "{expr}");
            assert!(f.matches(&json!({})), "{expr}");
            assert!(f.matches(&json!({"alias": "x"})), "{expr}");
        }
        let all = Filter::match_all();
        assert!(all.is_match_all());
        assert!(all.matches(&json!({})));
        assert!(all.matches(&json!({"state": "running"})));
    }

    #[test]
    fn real_conditions_are_not_match_all() {
        for expr in [
            json!({"alias": "prod"}),
            json!({"$or": []}),
            json!({"$or": [{"$and": [{"a": {"$exists": true}}]}]}),
            json!({"$not": {}}),
        ] {
            assert!(!filter(expr.clone()).is_match_all(), "{expr}");
        }
    }

    #[test]
    fn empty_or_matches_nothing_and_empty_nor_everything() {
        assert!(!matches(json!({"$or": []}), json!({})));
        assert!(!matches(json!({"$or": []}), json!({"a": 1})));
        assert!(matches(json!({"$nor": []}), json!({"a": 1})));
        assert!(!matches(json!({"$not": {}}), json!({"a": 1})));
    }
}

mod wandb_shapes {
    use super::*;

    #[test]
    fn alias_regex() {
        let f = filter(json!({"$or":[{"$and":[{"alias":{"$regex":"^prod.*"}}]}]}));
        assert!(f.matches(&json!({"alias": "prod"})));
        assert!(f.matches(&json!({"alias": "production"})));
        assert!(f.matches(&json!({"alias": ["latest", "prod-v2"]})));
        assert!(!f.matches(&json!({"alias": "preprod"})));
        assert!(!f.matches(&json!({"alias": ["latest", "v3"]})));
        assert!(!f.matches(&json!({"tag": "prod"})));
    }

    #[test]
    fn display_name_contains() {
        let f = filter(json!({"$and":[{"display_name":{"$contains":"sweep"}}]}));
        assert!(f.matches(&json!({"display_name": "sweep-12"})));
        assert!(f.matches(&json!({"display_name": "my-sweep-run"})));
        assert!(!f.matches(&json!({"display_name": "Sweep-12"})));
        assert!(!f.matches(&json!({"display_name": "train"})));
        assert!(!f.matches(&json!({"run_id": "sweep"})));
    }

    #[test]
    fn alias_one_of_two() {
        let f = filter(json!(
            {"$or":[{"$and":[{"$or":[{"alias":{"$eq":"prod"}},{"alias":{"$eq":"staging"}}]}]}]}
        ));
        assert!(f.matches(&json!({"alias": "prod"})));
        assert!(f.matches(&json!({"alias": "staging"})));
        assert!(f.matches(&json!({"alias": ["v4", "staging"]})));
        assert!(!f.matches(&json!({"alias": "production"})));
        assert!(!f.matches(&json!({"alias": ["v4", "latest"]})));
        assert!(!f.matches(&json!({})));
    }

    #[test]
    fn tag_equality_and_run_name_regex() {
        let f = filter(json!({"$or": [{"$and": [{"tag": {"$eq": "approved"}}]}]}));
        assert!(f.matches(&json!({"tag": "approved", "alias": "x"})));
        assert!(!f.matches(&json!({"tag": "approved-later"})));
        let f = filter(json!({"$and":[{"display_name":{"$regex":"^train-"}}]}));
        assert!(f.matches(&json!({"display_name": "train-7"})));
        assert!(!f.matches(&json!({"display_name": "pretrain-7"})));
    }
}

mod equality {
    use super::*;

    #[test]
    fn plain_value_is_implicit_eq() {
        let docs = [json!({"a": "x"}), json!({"a": "y"}), json!({"b": "x"})];
        assert_selects(json!({"a": "x"}), &docs, &[0]);
        assert_selects(json!({"a": {"$eq": "x"}}), &docs, &[0]);
    }

    #[test]
    fn numbers_compare_by_value_across_int_and_float() {
        assert!(matches(json!({"n": 1}), json!({"n": 1.0})));
        assert!(matches(json!({"n": {"$eq": 1.0}}), json!({"n": 1})));
        assert!(!matches(json!({"n": 1}), json!({"n": 1.5})));
        assert!(matches(json!({"n": -2}), json!({"n": -2})));
    }

    #[test]
    fn types_never_convert() {
        assert!(!matches(json!({"n": "1"}), json!({"n": 1})));
        assert!(!matches(json!({"n": 1}), json!({"n": "1"})));
        assert!(!matches(json!({"b": true}), json!({"b": 1})));
        assert!(!matches(json!({"b": 0}), json!({"b": false})));
        assert!(!matches(json!({"s": ""}), json!({"s": null})));
        assert!(matches(json!({"b": false}), json!({"b": false})));
        assert!(!matches(json!({"b": false}), json!({"b": true})));
    }

    #[test]
    fn objects_and_arrays_compare_structurally() {
        let doc = json!({"cfg": {"lr": 0.1, "opt": {"name": "adam"}}, "shape": [2, 3]});
        assert!(matches(json!({"cfg": {"opt": {"name": "adam"}, "lr": 0.1}}), doc.clone()));
        assert!(!matches(json!({"cfg": {"lr": 0.1}}), doc.clone()));
        assert!(matches(json!({"cfg.opt": {"$eq": {"name": "adam"}}}), doc.clone()));
        assert!(matches(json!({"shape": [2, 3.0]}), doc.clone()));
        assert!(!matches(json!({"shape": [3, 2]}), doc.clone()));
        assert!(matches(json!({"cfg": {"$eq": {"lr": 0.1, "opt": {"name": "adam"}}}}), doc));
    }

    #[test]
    fn null_matches_missing_and_null_only() {
        let docs = [json!({"a": null}), json!({}), json!({"a": 0}), json!({"a": ""}), json!({"a": [1, null]})];
        assert_selects(json!({"a": null}), &docs, &[0, 1, 4]);
        assert_selects(json!({"a": {"$eq": null}}), &docs, &[0, 1, 4]);
        assert_selects(json!({"a": {"$ne": null}}), &docs, &[2, 3]);
    }

    #[test]
    fn ne_is_the_negation_of_eq() {
        let docs = [json!({"a": "x"}), json!({"a": "y"}), json!({}), json!({"a": 1})];
        assert_selects(json!({"a": {"$ne": "x"}}), &docs, &[1, 2, 3]);
    }
}

mod ordering {
    use super::*;

    #[test]
    fn numbers() {
        let docs = [json!({"n": 1}), json!({"n": 2.5}), json!({"n": 3}), json!({})];
        assert_selects(json!({"n": {"$gt": 2.5}}), &docs, &[2]);
        assert_selects(json!({"n": {"$gte": 2.5}}), &docs, &[1, 2]);
        assert_selects(json!({"n": {"$lt": 2.5}}), &docs, &[0]);
        assert_selects(json!({"n": {"$lte": 2.5}}), &docs, &[0, 1]);
        assert_selects(json!({"n": {"$gte": 1.0, "$lt": 3}}), &docs, &[0, 1]);
    }

    #[test]
    fn strings_by_bytes() {
        let docs = [json!({"s": "apple"}), json!({"s": "banana"}), json!({"s": "Cherry"})];
        assert_selects(json!({"s": {"$gt": "apple"}}), &docs, &[1]);
        assert_selects(json!({"s": {"$lt": "b"}}), &docs, &[0, 2]);
        assert_selects(json!({"s": {"$gte": "banana"}}), &docs, &[1]);
    }

    #[test]
    fn different_types_never_compare() {
        for op in ["$gt", "$gte", "$lt", "$lte"] {
            assert!(!matches(json!({"n": {op: 1}}), json!({"n": "5"})), "{op}");
            assert!(!matches(json!({"n": {op: 1}}), json!({"n": "0"})), "{op}");
            assert!(!matches(json!({"n": {op: "1"}}), json!({"n": 5})), "{op}");
            assert!(!matches(json!({"n": {op: 1}}), json!({"n": true})), "{op}");
            assert!(!matches(json!({"n": {op: 1}}), json!({"n": null})), "{op}");
            assert!(!matches(json!({"n": {op: 1}}), json!({"n": {"v": 1}})), "{op}");
            assert!(!matches(json!({"n": {op: 1}}), json!({})), "{op}");
        }
    }

    #[test]
    fn arrays_match_when_some_element_does() {
        let doc = json!({"scores": [0.1, 0.9]});
        assert!(matches(json!({"scores": {"$gt": 0.5}}), doc.clone()));
        assert!(matches(json!({"scores": {"$lt": 0.5}}), doc.clone()));
        assert!(!matches(json!({"scores": {"$gt": 0.95}}), doc.clone()));
        // As in MongoDB without $elemMatch, each operator may be met by a different element.
        assert!(matches(json!({"scores": {"$gt": 0.5, "$lt": 0.5}}), doc));
    }
}

mod membership {
    use super::*;

    #[test]
    fn in_and_nin() {
        let docs = [json!({"s": "running"}), json!({"s": "failed"}), json!({"s": "crashed"}), json!({})];
        assert_selects(json!({"s": {"$in": ["failed", "crashed"]}}), &docs, &[1, 2]);
        assert_selects(json!({"s": {"$nin": ["failed", "crashed"]}}), &docs, &[0, 3]);
        assert_selects(json!({"s": {"$in": []}}), &docs, &[]);
        assert_selects(json!({"s": {"$nin": []}}), &docs, &[0, 1, 2, 3]);
    }

    #[test]
    fn in_is_type_strict_and_numeric() {
        assert!(matches(json!({"n": {"$in": [1, 2]}}), json!({"n": 2.0})));
        assert!(!matches(json!({"n": {"$in": ["2"]}}), json!({"n": 2})));
        assert!(matches(json!({"n": {"$in": [{"a": 1}]}}), json!({"n": {"a": 1.0}})));
    }

    #[test]
    fn null_in_the_list_matches_a_missing_field() {
        assert!(matches(json!({"a": {"$in": [null, "x"]}}), json!({})));
        assert!(!matches(json!({"a": {"$nin": [null, "x"]}}), json!({})));
        assert!(!matches(json!({"a": {"$in": ["x"]}}), json!({})));
    }

    #[test]
    fn array_fields() {
        let docs = [json!({"tags": ["a", "b"]}), json!({"tags": ["c"]}), json!({"tags": []})];
        assert_selects(json!({"tags": {"$in": ["b", "z"]}}), &docs, &[0]);
        assert_selects(json!({"tags": {"$nin": ["b", "z"]}}), &docs, &[1, 2]);
    }
}

mod existence {
    use super::*;

    #[test]
    fn exists_true_and_false() {
        let docs = [json!({"a": 1}), json!({"a": null}), json!({"b": 1}), json!({"a": false})];
        assert_selects(json!({"a": {"$exists": true}}), &docs, &[0, 1, 3]);
        assert_selects(json!({"a": {"$exists": false}}), &docs, &[2]);
        assert_selects(json!({"a": {"$exists": 1}}), &docs, &[0, 1, 3]);
        assert_selects(json!({"a": {"$exists": 0}}), &docs, &[2]);
    }

    #[test]
    fn nested_existence() {
        let docs = [json!({"metadata": {"fw": "torch"}}), json!({"metadata": {}}), json!({"metadata": 3})];
        assert_selects(json!({"metadata.fw": {"$exists": true}}), &docs, &[0]);
        assert_selects(json!({"metadata.fw": {"$exists": false}}), &docs, &[1, 2]);
    }
}

mod regex {
    use super::*;

    #[test]
    fn unanchored_search_unless_anchored() {
        let docs = [json!({"a": "europe-west"}), json!({"a": "west-europe"}), json!({"a": "asia"})];
        assert_selects(json!({"a": {"$regex": "europe"}}), &docs, &[0, 1]);
        assert_selects(json!({"a": {"$regex": "^europe.*"}}), &docs, &[0]);
        assert_selects(json!({"a": {"$regex": "europe$"}}), &docs, &[1]);
        assert_selects(json!({"a": {"$regex": ""}}), &docs, &[0, 1, 2]);
    }

    #[test]
    fn options_set_flags() {
        assert!(!matches(json!({"a": {"$regex": "^prod"}}), json!({"a": "PROD"})));
        assert!(matches(json!({"a": {"$regex": "^prod", "$options": "i"}}), json!({"a": "PROD"})));
        assert!(matches(json!({"a": {"$options": "i", "$regex": "^prod"}}), json!({"a": "Prod"})));
        assert!(matches(json!({"a": {"$regex": "(?i)^prod"}}), json!({"a": "PROD"})));

        let two_lines = json!({"a": "first\nsecond"});
        assert!(!matches(json!({"a": {"$regex": "^second"}}), two_lines.clone()));
        assert!(matches(json!({"a": {"$regex": "^second", "$options": "m"}}), two_lines.clone()));
        assert!(!matches(json!({"a": {"$regex": "first.second"}}), two_lines.clone()));
        assert!(matches(json!({"a": {"$regex": "first.second", "$options": "s"}}), two_lines));

        assert!(matches(json!({"a": {"$regex": "a b # comment", "$options": "x"}}), json!({"a": "ab"})));
        assert!(matches(json!({"a": {"$regex": "^A B$", "$options": "ix"}}), json!({"a": "ab"})));
        assert!(matches(json!({"a": {"$regex": "x", "$options": ""}}), json!({"a": "x"})));
    }

    #[test]
    fn only_strings_match() {
        assert!(!matches(json!({"n": {"$regex": "1"}}), json!({"n": 1})));
        assert!(!matches(json!({"n": {"$regex": "true"}}), json!({"n": true})));
        assert!(!matches(json!({"n": {"$regex": ""}}), json!({"n": null})));
        assert!(!matches(json!({"n": {"$regex": ""}}), json!({})));
        assert!(matches(json!({"n": {"$regex": "^1"}}), json!({"n": [1, "10"]})));
    }

    #[test]
    fn not_regex() {
        let docs = [json!({"a": "prod"}), json!({"a": "dev"}), json!({}), json!({"a": ["dev", "prod"]})];
        assert_selects(json!({"a": {"$not": {"$regex": "^prod"}}}), &docs, &[1, 2]);
        assert_selects(json!({"a": {"$not": {"$regex": "^PROD", "$options": "i"}}}), &docs, &[1, 2]);
    }
}

mod contains {
    use super::*;

    #[test]
    fn substring_of_a_string() {
        let docs = [json!({"n": "my-sweep-1"}), json!({"n": "SWEEP"}), json!({"n": "run"}), json!({})];
        assert_selects(json!({"n": {"$contains": "sweep"}}), &docs, &[0]);
        assert_selects(json!({"n": {"$contains": ""}}), &docs, &[0, 1, 2]);
    }

    #[test]
    fn some_string_element_of_an_array() {
        let docs = [json!({"tags": ["baseline", "sweep-a"]}), json!({"tags": ["x"]}), json!({"tags": []})];
        assert_selects(json!({"tags": {"$contains": "sweep"}}), &docs, &[0]);
    }

    #[test]
    fn non_strings_never_contain() {
        assert!(!matches(json!({"n": {"$contains": "1"}}), json!({"n": 12})));
        assert!(!matches(json!({"n": {"$contains": "a"}}), json!({"n": {"a": "a"}})));
        assert!(!matches(json!({"n": {"$contains": "1"}}), json!({"n": [12, [["1"]]]})));
    }
}

mod logic {
    use super::*;

    #[test]
    fn several_keys_are_an_implicit_and() {
        let docs = [json!({"a": 1, "b": "x"}), json!({"a": 1, "b": "y"}), json!({"a": 2, "b": "x"})];
        assert_selects(json!({"a": 1, "b": "x"}), &docs, &[0]);
        assert_selects(json!({"a": 1, "$or": [{"b": "y"}, {"b": "z"}]}), &docs, &[1]);
    }

    #[test]
    fn and_or_nor() {
        let docs = [json!({"a": 1, "b": 1}), json!({"a": 1, "b": 2}), json!({"a": 2, "b": 2})];
        assert_selects(json!({"$and": [{"a": 1}, {"b": 2}]}), &docs, &[1]);
        assert_selects(json!({"$or": [{"a": 2}, {"b": 1}]}), &docs, &[0, 2]);
        assert_selects(json!({"$nor": [{"a": 2}, {"b": 1}]}), &docs, &[1]);
        assert_selects(json!({"$and": [{"a": 1}]}), &docs, &[0, 1]);
    }

    #[test]
    fn deep_nesting() {
        let expr = json!({"$and": [
            {"$or": [{"state": "finished"}, {"state": {"$in": ["failed", "crashed"]}}]},
            {"$nor": [{"tags": "ignore"}]},
            {"$or": [{"config.lr": {"$lte": 0.01}}, {"$and": [{"username": {"$regex": "^ci-"}}]}]}
        ]});
        let docs = [
            json!({"state": "finished", "tags": [], "config": {"lr": 0.001}}),
            json!({"state": "crashed", "tags": ["x"], "username": "ci-bot", "config": {"lr": 1}}),
            json!({"state": "crashed", "tags": ["ignore"], "username": "ci-bot"}),
            json!({"state": "running", "config": {"lr": 0.001}}),
            json!({"state": "failed", "username": "alice", "config": {"lr": 0.1}}),
        ];
        assert_selects(expr, &docs, &[0, 1]);
    }

    #[test]
    fn top_level_not() {
        let docs = [json!({"a": 1}), json!({"a": 2}), json!({})];
        assert_selects(json!({"$not": {"a": 1}}), &docs, &[1, 2]);
        assert_selects(json!({"$not": {"$not": {"a": 1}}}), &docs, &[0]);
        assert_selects(json!({"$not": {"$or": [{"a": 1}, {"a": 2}]}}), &docs, &[2]);
    }

    #[test]
    fn field_not_negates_all_its_operators_together() {
        let docs = [json!({"n": 1}), json!({"n": 3}), json!({"n": 5}), json!({}), json!({"n": "3"})];
        assert_selects(json!({"n": {"$not": {"$gt": 2, "$lt": 4}}}), &docs, &[0, 2, 3, 4]);
        assert_selects(json!({"n": {"$not": {"$not": {"$gt": 2}}}}), &docs, &[1, 2]);
        assert_selects(json!({"n": {"$not": {"$gt": 2}, "$exists": true}}), &docs, &[0, 4]);
    }
}

mod missing_fields {
    use super::*;

    /// Every operator against a document without the field: only the negative ones match.
    #[test]
    fn only_negative_operators_match_a_missing_field() {
        let cases = [
            (json!({"$eq": "x"}), false),
            (json!({"$eq": null}), true),
            (json!({"$ne": "x"}), true),
            (json!({"$ne": null}), false),
            (json!({"$gt": 0}), false),
            (json!({"$gte": 0}), false),
            (json!({"$lt": 0}), false),
            (json!({"$lte": 0}), false),
            (json!({"$in": ["x"]}), false),
            (json!({"$nin": ["x"]}), true),
            (json!({"$exists": true}), false),
            (json!({"$exists": false}), true),
            (json!({"$regex": ""}), false),
            (json!({"$contains": ""}), false),
            (json!({"$not": {"$regex": "x"}}), true),
            (json!({"$not": {"$eq": "x"}}), true),
            (json!({"$not": {"$exists": false}}), false),
        ];
        for doc in [json!({}), json!({"other": "x"}), json!({"f": {"g": 1}})] {
            for (ops, expected) in &cases {
                assert_eq!(matches(json!({"f.h": ops}), doc.clone()), *expected, "{ops} on {doc}");
                if doc.get("f").is_none() {
                    assert_eq!(matches(json!({"f": ops}), doc.clone()), *expected, "{ops} on {doc}");
                }
            }
        }
        assert!(matches(json!({"$nor": [{"f": "x"}]}), json!({})));
    }

    #[test]
    fn a_document_that_is_not_an_object_has_no_fields() {
        assert!(!matches(json!({"a": 1}), json!(1)));
        assert!(matches(json!({"a": {"$exists": false}}), json!("a")));
        assert!(matches(json!({"a": null}), json!(null)));
    }
}

mod paths {
    use super::*;

    #[test]
    fn dotted_paths_reach_nested_fields() {
        let doc = json!({
            "metadata": {"framework": "torch", "size": {"params": 7_000_000}},
            "config": {"optimizer": {"name": "adam", "betas": [0.9, 0.999]}}
        });
        assert!(matches(json!({"metadata.framework": "torch"}), doc.clone()));
        assert!(matches(json!({"metadata.size.params": {"$gt": 1e6}}), doc.clone()));
        assert!(matches(json!({"config.optimizer.name": {"$in": ["adam", "sgd"]}}), doc.clone()));
        assert!(matches(json!({"config.optimizer.betas": 0.9}), doc.clone()));
        assert!(matches(json!({"config.optimizer.betas.1": {"$gt": 0.99}}), doc.clone()));
        assert!(!matches(json!({"config.optimizer.betas.0": {"$gt": 0.99}}), doc.clone()));
        assert!(!matches(json!({"metadata.framework.name": {"$exists": true}}), doc.clone()));
        assert!(!matches(json!({"framework": "torch"}), doc));
    }

    #[test]
    fn paths_through_arrays_of_objects_look_in_each() {
        let doc = json!({"runs": [{"name": "a", "loss": 0.5}, {"name": "b", "loss": 0.1}]});
        assert!(matches(json!({"runs.name": "b"}), doc.clone()));
        assert!(matches(json!({"runs.loss": {"$lt": 0.2}}), doc.clone()));
        assert!(!matches(json!({"runs.name": "c"}), doc.clone()));
        assert!(!matches(json!({"runs.name": {"$ne": "a"}}), doc.clone()));
        assert!(matches(json!({"runs.name": {"$nin": ["c"]}}), doc.clone()));
        assert!(matches(json!({"runs.1.name": "b"}), doc.clone()));
        assert!(!matches(json!({"runs.0.name": "b"}), doc));
    }

    #[test]
    fn keys_are_case_sensitive_and_exact() {
        assert!(!matches(json!({"Alias": "prod"}), json!({"alias": "prod"})));
        assert!(!matches(json!({"alias": "prod"}), json!({"alias ": "prod"})));
    }
}

mod arrays {
    use super::*;

    #[test]
    fn ne_holds_only_when_no_element_equals() {
        let docs = [json!({"tags": ["x", "y"]}), json!({"tags": ["y"]}), json!({"tags": []}), json!({"tags": "x"})];
        assert_selects(json!({"tags": {"$ne": "x"}}), &docs, &[1, 2]);
        assert_selects(json!({"tags": "x"}), &docs, &[0, 3]);
    }

    #[test]
    fn eq_matches_the_whole_array_too() {
        let docs = [json!({"t": ["x", "y"]}), json!({"t": [["x", "y"], "z"]}), json!({"t": ["y", "x"]})];
        assert_selects(json!({"t": ["x", "y"]}), &docs, &[0, 1]);
        assert_selects(json!({"t": {"$ne": ["x", "y"]}}), &docs, &[2]);
        assert_selects(json!({"t": []}), &[json!({"t": []}), json!({"t": [[]]}), json!({"t": [1]})], &[0, 1]);
    }
}

#[test]
fn filters_are_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<Filter>();
    let f = filter(json!({"a": {"$regex": "^x"}}));
    let copy = f.clone();
    assert!(copy.matches(&json!({"a": "xy"})));
    assert!(!copy.matches(&json!({"a": "yx"})));
}

// Laws that must hold whatever the document: the negative operators are exactly the negations of
// the positive ones, and nothing that compiles or matches ever panics.

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-3i64..4).prop_map(Value::from),
        (-3i64..4).prop_map(|n| Value::from(n as f64 / 2.0)),
        prop::sample::select(vec!["", "a", "b", "ab", "B", "1"]).prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map(prop::sample::select(vec!["a", "b", "$eq", "$in"]), inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

fn document() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(prop::sample::select(vec!["a", "b"]), json_value(), 0..3)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()))
}

/// `yes` matches exactly the documents that `no` does not.
fn assert_opposite(yes: Value, no: Value, doc: &Value) -> Result<(), TestCaseError> {
    let (y, n) = (filter(yes.clone()).matches(doc), filter(no.clone()).matches(doc));
    prop_assert_ne!(y, n, "{} and {} on {}", yes, no, doc);
    Ok(())
}

fn scalars() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(scalar(), 0..3)
}

proptest! {
    #[test]
    fn negative_operators_negate_positive_ones(doc in document(), x in scalar(), xs in scalars()) {
        let ab = json!([{"a": x}, {"b": x}]);
        assert_opposite(json!({"a": {"$ne": x}}), json!({"a": {"$eq": x}}), &doc)?;
        assert_opposite(json!({"a": {"$nin": xs}}), json!({"a": {"$in": xs}}), &doc)?;
        assert_opposite(json!({"a": {"$exists": 0}}), json!({"a": {"$exists": true}}), &doc)?;
        assert_opposite(json!({"a": {"$not": {"$eq": x}}}), json!({"a": x}), &doc)?;
        assert_opposite(json!({"$nor": ab}), json!({"$or": ab}), &doc)?;
        assert_opposite(json!({"$not": {"a": x, "b": x}}), json!({"$and": ab}), &doc)?;
    }

    #[test]
    fn in_is_a_disjunction_of_equalities(doc in document(), xs in scalars()) {
        let ors: Vec<Value> = xs.iter().map(|x| json!({"a": {"$eq": x}})).collect();
        let any_of = matches(json!({"a": {"$in": xs}}), doc.clone());
        prop_assert_eq!(any_of, matches(json!({"$or": ors}), doc));
    }

    #[test]
    fn compiling_and_matching_never_panic(expr in json_value(), doc in document()) {
        let wrapped = json!({"a": expr.clone()});
        for e in [expr, wrapped] {
            if let Ok(f) = Filter::compile(&e) {
                f.matches(&doc);
            }
        }
    }
}
