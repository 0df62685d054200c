//! W&B's run metric filters (`threshold_filter`, `change_filter`, `zscore_filter`) to this
//! product's `metric` object.
//!
//! Only names change: W&B's `agg_op` is `agg`, `window_size` is `window`, and so on. A W&B field
//! that is absent or `null` is left out so the native default applies, except `agg_op: null`,
//! which W&B sends to mean "no aggregation", and which is also what an absent `agg` means here.

use crate::error::{Errors, join_path};
use serde_json::{Map, Value};

use super::read::{deny_unknown, field, kind, object, opt_enum, req_str, required};

/// The largest window this product keeps (docs/automation.md); W&B takes any positive size.
pub(super) const MAX_WINDOW: u64 = 1000;

const AGGS: &[&str] = &["MAX", "MIN", "AVERAGE"];
const CMPS: &[&str] = &["$gt", "$gte", "$lt", "$lte", "$eq", "$ne"];
const CHANGE_TYPES: &[&str] = &["ABSOLUTE", "RELATIVE"];
const CHANGE_DIRS: &[&str] = &["INCREASE", "DECREASE", "ANY"];

/// The kinds of metric condition, by their W&B filter key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Threshold,
    Change,
    ZScore,
}

impl Kind {
    /// The key of this kind inside W&B's `run_metric_filter`.
    pub(super) fn key(self) -> &'static str {
        match self {
            Kind::Threshold => "threshold_filter",
            Kind::Change => "change_filter",
            Kind::ZScore => "zscore_filter",
        }
    }

    /// W&B's `triggeringEventType` for this kind.
    pub(super) fn wandb_event(self) -> &'static str {
        match self {
            Kind::Threshold => "RUN_METRIC",
            Kind::Change => "RUN_METRIC_CHANGE",
            Kind::ZScore => "RUN_METRIC_ZSCORE",
        }
    }

    fn from_key(key: &str) -> Option<Kind> {
        [Kind::Threshold, Kind::Change, Kind::ZScore].into_iter().find(|k| k.key() == key)
    }
}

/// Read W&B's `run_metric_filter` (`{"threshold_filter": {...}}` or a sibling kind): which kind
/// it is, and the native metric object.
pub(super) fn run_metric_filter(v: &Value, path: &str, errors: &mut Errors) -> Option<(Kind, Value)> {
    let m = object(v, path, errors)?;
    let present: Vec<(&String, &Value)> = m.iter().filter(|(_, v)| !v.is_null()).collect();
    let [(key, inner)] = present.as_slice() else {
        let msg = if present.is_empty() {
            "must hold one of threshold_filter, change_filter, zscore_filter".to_string()
        } else {
            let keys: Vec<&str> = present.iter().map(|(k, _)| k.as_str()).collect();
            format!("must hold exactly one metric filter, not {}", keys.join(" and "))
        };
        errors.push(path, msg);
        return None;
    };
    let here = join_path(path, key);
    let Some(kind) = Kind::from_key(key) else {
        errors.push(
            here,
            "is a kind of W&B metric filter this product does not have (it has threshold_filter, \
             change_filter and zscore_filter)",
        );
        return None;
    };
    Some((kind, metric(kind, inner, &here, errors)?))
}

/// Convert one W&B metric filter of a known kind.
pub(super) fn metric(kind: Kind, v: &Value, path: &str, errors: &mut Errors) -> Option<Value> {
    // Its own error list, so that any problem in it (and only in it) withholds the result.
    let mut local = Errors::default();
    let out = convert(kind, v, path, &mut local);
    errors.take(local.finish(out)).flatten()
}

fn convert(kind: Kind, v: &Value, path: &str, errors: &mut Errors) -> Option<Value> {
    let m = object(v, path, errors)?;
    let mut out = Map::new();
    let name = req_str(m, "name", path, errors);
    if let Some(name) = name {
        out.insert("name".into(), name.into());
    }
    match kind {
        Kind::Threshold => {
            deny_unknown(
                m,
                &["name", "agg_op", "window_size", "cmp_op", "threshold"],
                path,
                "a W&B threshold filter",
                errors,
            );
            copy_enum(m, "agg_op", "agg", AGGS, path, &mut out, errors);
            copy_window(m, "window_size", "window", path, &mut out, errors);
            if required(m, "cmp_op", path, errors).is_some() {
                copy_enum(m, "cmp_op", "cmp", CMPS, path, &mut out, errors);
            }
            copy_number(m, "threshold", "threshold", true, path, &mut out, errors);
        }
        Kind::Change => {
            deny_unknown(
                m,
                &[
                    "name",
                    "agg_op",
                    "current_window_size",
                    "prior_window_size",
                    "change_amount",
                    "change_type",
                    "change_dir",
                ],
                path,
                "a W&B change filter",
                errors,
            );
            copy_enum(m, "agg_op", "agg", AGGS, path, &mut out, errors);
            copy_window(m, "current_window_size", "current_window", path, &mut out, errors);
            copy_window(m, "prior_window_size", "prior_window", path, &mut out, errors);
            copy_number(m, "change_amount", "amount", true, path, &mut out, errors);
            copy_enum(m, "change_type", "change_type", CHANGE_TYPES, path, &mut out, errors);
            if required(m, "change_dir", path, errors).is_some() {
                copy_enum(m, "change_dir", "change_dir", CHANGE_DIRS, path, &mut out, errors);
            }
        }
        Kind::ZScore => {
            deny_unknown(m, &["name", "window_size", "threshold", "change_dir"], path, "a W&B z-score filter", errors);
            copy_window(m, "window_size", "window", path, &mut out, errors);
            copy_number(m, "threshold", "threshold", false, path, &mut out, errors);
            copy_enum(m, "change_dir", "change_dir", CHANGE_DIRS, path, &mut out, errors);
        }
    }
    Some(Value::Object(out))
}

fn copy_enum(
    m: &Map<String, Value>,
    from: &str,
    to: &str,
    allowed: &[&str],
    path: &str,
    out: &mut Map<String, Value>,
    errors: &mut Errors,
) {
    if let Some(s) = opt_enum(m, from, allowed, path, errors) {
        out.insert(to.into(), s.into());
    }
}

/// A window size: a whole number of values, 1 to [`MAX_WINDOW`].
fn copy_window(
    m: &Map<String, Value>,
    from: &str,
    to: &str,
    path: &str,
    out: &mut Map<String, Value>,
    errors: &mut Errors,
) {
    let Some(v) = field(m, from) else { return };
    match v.as_u64() {
        Some(n @ 1..=MAX_WINDOW) => {
            out.insert(to.into(), n.into());
        }
        Some(n) if n > MAX_WINDOW => {
            errors.push(join_path(path, from), format!("is {n}, but windows here hold at most {MAX_WINDOW} values"))
        }
        _ => errors.push(
            join_path(path, from),
            format!("must be a whole number of values from 1 to {MAX_WINDOW}, not {}", describe(v)),
        ),
    }
}

/// A number, copied as written (an integer stays an integer).
fn copy_number(
    m: &Map<String, Value>,
    from: &str,
    to: &str,
    needed: bool,
    path: &str,
    out: &mut Map<String, Value>,
    errors: &mut Errors,
) {
    let v = if needed { required(m, from, path, errors) } else { field(m, from) };
    match v {
        None => {}
        Some(n @ Value::Number(_)) => {
            out.insert(to.into(), n.clone());
        }
        Some(other) => errors.push(join_path(path, from), format!("must be a number, not {}", kind(other))),
    }
}

fn describe(v: &Value) -> String {
    match v {
        Value::Number(n) => n.to_string(),
        other => kind(other).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conv(v: Value) -> Result<(Kind, Value), Vec<(String, String)>> {
        let mut errors = Errors::default();
        let out = run_metric_filter(&v, "f", &mut errors);
        match errors.finish(()) {
            Ok(()) => Ok(out.expect("no errors but no result")),
            Err(e) => Err(e.errors.into_iter().map(|e| (e.path, e.message)).collect()),
        }
    }

    #[test]
    fn threshold_names_change_and_null_agg_is_left_out() {
        let (k, m) = conv(json!({"threshold_filter": {"name": "loss", "agg_op": null, "window_size": 1, "cmp_op": "$gt", "threshold": 1}})).unwrap();
        assert_eq!(k, Kind::Threshold);
        assert_eq!(m, json!({"name": "loss", "window": 1, "cmp": "$gt", "threshold": 1}));
        let (_, m) = conv(json!({"threshold_filter": {"name": "acc", "agg_op": "MAX", "window_size": 10, "cmp_op": "$lte", "threshold": 0.3}})).unwrap();
        assert_eq!(m, json!({"name": "acc", "agg": "MAX", "window": 10, "cmp": "$lte", "threshold": 0.3}));
    }

    #[test]
    fn change_and_zscore_names_change() {
        let (k, m) = conv(json!({"change_filter": {"name": "loss", "agg_op": "AVERAGE", "current_window_size": 10, "change_amount": 0.25, "prior_window_size": 20, "change_type": "RELATIVE", "change_dir": "INCREASE"}})).unwrap();
        assert_eq!(k, Kind::Change);
        assert_eq!(
            m,
            json!({"name": "loss", "agg": "AVERAGE", "current_window": 10, "prior_window": 20, "amount": 0.25, "change_type": "RELATIVE", "change_dir": "INCREASE"})
        );
        let (k, m) = conv(json!({"zscore_filter": {"name": "loss", "window_size": 30, "threshold": 3.0, "change_dir": "ANY"}, "threshold_filter": null})).unwrap();
        assert_eq!(k, Kind::ZScore);
        assert_eq!(m, json!({"name": "loss", "window": 30, "threshold": 3.0, "change_dir": "ANY"}));
        // Absent fields take the native defaults.
        let (_, m) = conv(json!({"zscore_filter": {"name": "loss"}})).unwrap();
        assert_eq!(m, json!({"name": "loss"}));
    }

    #[test]
    fn windows_are_whole_and_at_most_1000() {
        let e = conv(json!({"threshold_filter": {"name": "l", "window_size": 5000, "cmp_op": "$gt", "threshold": 1}}))
            .unwrap_err();
        assert_eq!(e[0].0, "f.threshold_filter.window_size");
        assert!(e[0].1.contains("at most 1000"));
        for bad in [json!(0), json!(2.5), json!(-1), json!("5")] {
            let e = conv(json!({"change_filter": {"name": "l", "current_window_size": bad, "change_amount": 1, "change_dir": "ANY"}})).unwrap_err();
            assert_eq!(e[0].0, "f.change_filter.current_window_size");
        }
    }

    #[test]
    fn unknown_kinds_fields_and_values_are_refused() {
        let e = conv(json!({"forecast_filter": {"name": "l"}})).unwrap_err();
        assert_eq!(e[0].0, "f.forecast_filter");
        assert!(e[0].1.contains("does not have"));
        assert!(conv(json!({})).unwrap_err()[0].1.contains("one of threshold_filter"));
        let both = conv(json!({"threshold_filter": {}, "zscore_filter": {}})).unwrap_err();
        assert!(both[0].1.contains("exactly one"));
        let e = conv(
            json!({"threshold_filter": {"name": "l", "agg_op": "MEDIAN", "cmp_op": ">", "threshold": "1", "extra": 1}}),
        )
        .unwrap_err();
        let paths: Vec<&str> = e.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "f.threshold_filter.extra",
                "f.threshold_filter.agg_op",
                "f.threshold_filter.cmp_op",
                "f.threshold_filter.threshold"
            ]
        );
        let e = conv(json!({"change_filter": {"name": "l", "change_amount": 1}})).unwrap_err();
        assert_eq!(e[0].0, "f.change_filter.change_dir");
        assert_eq!(e[0].1, "is required");
    }
}
