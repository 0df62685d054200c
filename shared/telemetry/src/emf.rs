//! The same metrics as CloudWatch metrics, through the Embedded Metric Format: JSON log lines
//! that CloudWatch Logs turns into metrics of namespace [`NAMESPACE`], with the Prometheus names
//! and labels (as dimensions, with the function's name). The AWS functions print
//! [`flush`]'s lines after each invocation.
//!
//! Read from the registry's own text exposition (the registry offers no other way to iterate its
//! families), so every metric registered is also a CloudWatch metric without a second list.
//! CloudWatch adds up the values of a period, so counters (`_total`) and histograms (`_sum`,
//! `_count`) are sent as what they grew by since the last flush (nothing when they did not).
//! Gauges are left out: the two there are (the outbox's depth and oldest age) are read from the
//! database by `serve`'s scrape and never set in a function, where the queues' own CloudWatch
//! metrics (`ApproximateAgeOfOldestMessage`) stand for them; a 0 sent by every function would
//! only mislead.

use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "automations";

/// One sample of the exposition: its metric name, labels, value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The samples of OpenMetrics text, with each one's family type (`counter`, `gauge`,
/// `histogram`). Bucket and `_created` samples are left out.
fn samples(text: &str) -> Vec<(Sample, String)> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            if let (Some(name), Some(kind)) = (parts.next(), parts.next()) {
                types.insert(name.to_string(), kind.to_string());
            }
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let Some(sample) = parse_sample(line) else { continue };
        if sample.name.ends_with("_bucket") || sample.name.ends_with("_created") {
            continue;
        }
        let family = ["_total", "_sum", "_count"]
            .iter()
            .find_map(|suffix| sample.name.strip_suffix(suffix).filter(|f| types.contains_key(*f)))
            .unwrap_or(&sample.name);
        let kind = types.get(family).cloned().unwrap_or_else(|| "unknown".into());
        out.push((sample, kind));
    }
    out
}

/// `name{a="x",b="y"} value`, label values with `\"`, `\\` and `\n` escaped.
fn parse_sample(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_string();
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(inner) = rest.strip_prefix('{') {
        let mut chars = inner.char_indices();
        let mut key = String::new();
        loop {
            let (_, c) = chars.next()?;
            match c {
                '}' => break,
                ',' => {}
                '=' => {
                    chars.next().filter(|(_, q)| *q == '"')?;
                    let mut value = String::new();
                    loop {
                        let (_, c) = chars.next()?;
                        match c {
                            '"' => break,
                            '\\' => match chars.next()?.1 {
                                'n' => value.push('\n'),
                                other => value.push(other),
                            },
                            other => value.push(other),
                        }
                    }
                    labels.insert(std::mem::take(&mut key), value);
                }
                other => key.push(other),
            }
        }
        let consumed = chars.next().map_or(inner.len(), |(i, _)| i);
        rest = &inner[consumed..];
    }
    let value = rest.split_whitespace().next()?.parse::<f64>().ok()?;
    Some(Sample { name, labels, value })
}

fn unit(name: &str) -> &'static str {
    if name.ends_with("_seconds") || name.ends_with("_seconds_sum") {
        "Seconds"
    } else if name.ends_with("_total") || name.ends_with("_count") {
        "Count"
    } else {
        "None"
    }
}

/// The EMF lines for the samples of `text`, given what each cumulative sample was at the last
/// flush (`previous`, updated): one line per label set.
fn lines(text: &str, function: &str, timestamp_ms: i64, previous: &mut HashMap<String, f64>) -> Vec<String> {
    let mut groups: BTreeMap<BTreeMap<String, String>, Vec<(String, f64)>> = BTreeMap::new();
    for (s, kind) in samples(text) {
        if kind == "gauge" {
            continue;
        }
        let key = format!("{}{:?}", s.name, s.labels);
        let last = previous.insert(key, s.value).unwrap_or(0.0);
        let value = s.value - last;
        if value <= 0.0 {
            continue;
        }
        groups.entry(s.labels).or_default().push((s.name, value));
    }
    groups
        .into_iter()
        .map(|(labels, metrics)| {
            let mut dims = vec!["function".to_string()];
            dims.extend(labels.keys().cloned());
            let defs: Vec<Value> = metrics.iter().map(|(n, _)| json!({"Name": n, "Unit": unit(n)})).collect();
            let mut doc = Map::new();
            doc.insert(
                "_aws".into(),
                json!({"Timestamp": timestamp_ms,
                       "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [dims], "Metrics": defs}]}),
            );
            doc.insert("function".into(), json!(function));
            for (k, v) in labels {
                doc.insert(k, json!(v));
            }
            for (n, v) in metrics {
                doc.insert(n, json!(v));
            }
            Value::Object(doc).to_string()
        })
        .collect()
}

/// The EMF lines of what the process's metrics did since the last call, for `function` at
/// `timestamp_ms`.
pub fn flush(function: &str, timestamp_ms: i64) -> Vec<String> {
    static PREVIOUS: OnceLock<Mutex<HashMap<String, f64>>> = OnceLock::new();
    let text = crate::encode();
    let mut previous = PREVIOUS.get_or_init(Default::default).lock().unwrap_or_else(|p| p.into_inner());
    lines(&text, function, timestamp_ms, &mut previous)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP automations_fires Fires\n# TYPE automations_fires counter\n\
        automations_fires_total{trigger=\"RUN_STATE\"} 3\nautomations_fires_total{trigger=\"RUN_METRIC_THRESHOLD\"} 1\n\
        # TYPE automations_outbox_pending gauge\nautomations_outbox_pending 4\n\
        # TYPE automations_delivery_duration_seconds histogram\n\
        automations_delivery_duration_seconds_sum 0.5\nautomations_delivery_duration_seconds_count 2\n\
        automations_delivery_duration_seconds_bucket{le=\"0.001\"} 0\n\
        # TYPE automations_envelopes_rejected counter\n\
        automations_envelopes_rejected_total{event_type=\"unknown\",field=\"a \\\"b\\\",c\"} 2\n# EOF\n";

    fn parsed(lines: &[String]) -> Vec<Value> {
        lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    #[test]
    fn one_document_per_label_set_with_deltas_of_counters() {
        let mut previous = HashMap::new();
        let docs = parsed(&lines(TEXT, "dispatcher", 1_000, &mut previous));
        assert_eq!(docs.len(), 4, "{docs:?}");
        assert!(docs.iter().all(|d| d.get("automations_outbox_pending").is_none()), "no gauges");
        let plain = docs.iter().find(|d| d.get("automations_delivery_duration_seconds_sum").is_some()).unwrap();
        assert_eq!(plain["automations_delivery_duration_seconds_sum"], 0.5);
        assert_eq!(plain["automations_delivery_duration_seconds_count"], 2.0);
        let cw = &plain["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], NAMESPACE);
        assert_eq!(cw["Dimensions"], json!([["function"]]));
        assert!(
            cw["Metrics"]
                .as_array()
                .unwrap()
                .contains(&json!({"Name": "automations_delivery_duration_seconds_sum", "Unit": "Seconds"}))
        );
        let state = docs.iter().find(|d| d["trigger"] == "RUN_STATE").unwrap();
        assert_eq!(
            (state["automations_fires_total"].clone(), state["function"].clone()),
            (json!(3.0), json!("dispatcher"))
        );
        assert_eq!(state["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["function", "trigger"]]));
        let rejected = docs.iter().find(|d| d.get("automations_envelopes_rejected_total").is_some()).unwrap();
        assert_eq!(rejected["field"], "a \"b\",c", "escaped label values are read whole");

        // Nothing grew: nothing to send. One counter grew by 2: its delta.
        assert!(lines(TEXT, "dispatcher", 2_000, &mut previous).is_empty());
        let grown = TEXT.replace("trigger=\"RUN_STATE\"} 3", "trigger=\"RUN_STATE\"} 5");
        let third = parsed(&lines(&grown, "dispatcher", 3_000, &mut previous));
        let state = third.iter().find(|d| d["trigger"] == "RUN_STATE").unwrap();
        assert_eq!(state["automations_fires_total"], 2.0);
        assert_eq!(state["_aws"]["Timestamp"], 3_000);
    }

    #[test]
    fn the_registry_itself_flushes_as_emf() {
        crate::metrics().fired("RUN_METRIC_CHANGE");
        let docs = parsed(&flush("metric-ingest", 5));
        let fired = docs.iter().find(|d| d["trigger"] == "RUN_METRIC_CHANGE").expect("the fire's counter");
        assert!(fired["automations_fires_total"].as_f64().is_some_and(|n| n >= 1.0));
        assert!(crate::encode().contains("automations_fires_total{trigger=\"RUN_METRIC_CHANGE\"}"), "the same name");
    }
}
