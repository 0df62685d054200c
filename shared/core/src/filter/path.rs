//! Dotted field paths (`config.optimizer.name`), split once at compile time and walked without
//! allocating at match time.

use serde_json::Value;

/// A field path, split into its segments.
#[derive(Debug, Clone)]
pub(super) struct Path {
    segments: Box<[Segment]>,
}

#[derive(Debug, Clone)]
struct Segment {
    key: String,
    /// The key read as an array index, when it is all digits (`runs.0.name`).
    index: Option<usize>,
}

impl Path {
    /// Split a dotted path; `None` when a segment is empty (`""`, `a..b`, `a.`).
    pub(super) fn parse(dotted: &str) -> Option<Path> {
        let segments = dotted
            .split('.')
            .map(|key| {
                // `usize::from_str` would also take `+1`, which is a key, not an index.
                let digits = !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit());
                let index = if digits { key.parse().ok() } else { None };
                (!key.is_empty()).then(|| Segment { key: key.to_owned(), index })
            })
            .collect::<Option<Box<[Segment]>>>()?;
        Some(Path { segments })
    }

    /// Calls `test` with each value the path reaches in `doc`, or with `None` for each place where
    /// it reaches nothing, and says whether any call returned true (stopping at the first).
    ///
    /// A segment that meets an array is looked up in each object element of it, as MongoDB does,
    /// so `runs.name` over `{"runs": [{"name": "a"}, {"name": "b"}]}` reaches `"a"` and `"b"`;
    /// an all-digit segment instead indexes the array (`runs.1.name` reaches `"b"`). The value at
    /// the end of the path is passed whole, arrays included: what an array means is up to `test`.
    pub(super) fn any<F>(&self, doc: &Value, test: &mut F) -> bool
    where
        F: FnMut(Option<&Value>) -> bool,
    {
        walk(doc, &self.segments, test)
    }
}

fn walk<F>(value: &Value, segments: &[Segment], test: &mut F) -> bool
where
    F: FnMut(Option<&Value>) -> bool,
{
    let Some((segment, rest)) = segments.split_first() else {
        return test(Some(value));
    };
    match value {
        Value::Object(fields) => match fields.get(&segment.key) {
            Some(child) => walk(child, rest, test),
            None => test(None),
        },
        Value::Array(items) => {
            if let Some(i) = segment.index {
                return match items.get(i) {
                    Some(child) => walk(child, rest, test),
                    None => test(None),
                };
            }
            let mut objects = items.iter().filter(|item| item.is_object()).peekable();
            if objects.peek().is_none() {
                // Nothing in the array can have the field: it is missing.
                return test(None);
            }
            objects.any(|item| walk(item, segments, test))
        }
        _ => test(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Everything the path reaches, `None` for a miss.
    fn reached(path: &str, doc: &Value) -> Vec<Option<Value>> {
        let mut seen = Vec::new();
        Path::parse(path).unwrap().any(doc, &mut |v| {
            seen.push(v.cloned());
            false
        });
        seen
    }

    #[test]
    fn empty_segments_are_refused() {
        assert!(Path::parse("").is_none());
        assert!(Path::parse("a..b").is_none());
        assert!(Path::parse(".a").is_none());
        assert!(Path::parse("a.").is_none());
        assert!(Path::parse("a.b.c").is_some());
    }

    #[test]
    fn descends_into_nested_objects() {
        let doc = json!({"config": {"optimizer": {"name": "adam"}}, "x": 1});
        assert_eq!(reached("config.optimizer.name", &doc), vec![Some(json!("adam"))]);
        assert_eq!(reached("config.optimizer", &doc), vec![Some(json!({"name": "adam"}))]);
        assert_eq!(reached("x", &doc), vec![Some(json!(1))]);
    }

    #[test]
    fn a_missing_step_or_a_scalar_on_the_way_is_a_miss() {
        let doc = json!({"config": {"lr": 0.1}, "name": "run"});
        assert_eq!(reached("config.momentum", &doc), vec![None]);
        assert_eq!(reached("nope.deeper", &doc), vec![None]);
        assert_eq!(reached("name.length", &doc), vec![None]);
        assert_eq!(reached("config.lr.value", &doc), vec![None]);
    }

    #[test]
    fn the_final_array_is_passed_whole() {
        let doc = json!({"tags": ["a", "b"]});
        assert_eq!(reached("tags", &doc), vec![Some(json!(["a", "b"]))]);
    }

    #[test]
    fn arrays_on_the_way_are_looked_into_element_by_element() {
        let doc = json!({"runs": [{"name": "a"}, 7, {"other": 1}, {"name": "b"}]});
        assert_eq!(reached("runs.name", &doc), vec![Some(json!("a")), None, Some(json!("b"))]);
        assert_eq!(reached("runs.3.name", &doc), vec![Some(json!("b"))]);
        assert_eq!(reached("runs.9.name", &doc), vec![None]);
        assert_eq!(reached("runs.1.name", &doc), vec![None]);
    }

    #[test]
    fn an_array_without_objects_has_no_fields() {
        assert_eq!(reached("xs.name", &json!({"xs": [1, "a"]})), vec![None]);
        assert_eq!(reached("xs.name", &json!({"xs": []})), vec![None]);
    }

    #[test]
    fn stops_at_the_first_hit() {
        let doc = json!({"runs": [{"n": 1}, {"n": 2}, {"n": 3}]});
        let mut calls = 0;
        let hit = Path::parse("runs.n").unwrap().any(&doc, &mut |v| {
            calls += 1;
            v == Some(&json!(2))
        });
        assert!(hit);
        assert_eq!(calls, 2);
    }

    #[test]
    fn plus_signed_keys_are_keys_not_indexes() {
        let doc = json!({"xs": [{"+1": "key"}, {"n": 0}]});
        assert_eq!(reached("xs.+1", &doc), vec![Some(json!("key")), None]);
    }
}
