//! Run metric conditions (SPEC section 5) and the run-state set of `RUN_STATE` automations.

use super::reader::{ObjReader, one_of};
use super::trigger::TriggerKind;
use crate::error::Errors;
use serde::Serialize;
use serde_json::Value;

/// Largest window accepted, in values. Bounds the memory a run's window may hold.
pub const MAX_WINDOW: i64 = 1000;

/// How a window's values are reduced to one (`agg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Agg {
    /// `MAX`: the largest value of the window.
    Max,
    /// `MIN`: the smallest value of the window.
    Min,
    /// `AVERAGE`: the mean of the window's values.
    Average,
}

/// How a threshold condition compares the aggregate with its threshold (`cmp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Cmp {
    /// `$gt`: greater than.
    #[serde(rename = "$gt")]
    Gt,
    /// `$gte`: greater than or equal.
    #[serde(rename = "$gte")]
    Gte,
    /// `$lt`: less than.
    #[serde(rename = "$lt")]
    Lt,
    /// `$lte`: less than or equal.
    #[serde(rename = "$lte")]
    Lte,
    /// `$eq`: equal.
    #[serde(rename = "$eq")]
    Eq,
    /// `$ne`: not equal.
    #[serde(rename = "$ne")]
    Ne,
}

/// How a change condition measures the change (`change_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChangeType {
    /// `ABSOLUTE`: the difference, current minus prior.
    Absolute,
    /// `RELATIVE`: the difference divided by the prior's magnitude (not evaluated when prior is 0).
    Relative,
}

/// Which way a change or z-score must go to hold (`change_dir`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChangeDir {
    /// `INCREASE`: up by at least the amount (or z at least the threshold).
    Increase,
    /// `DECREASE`: down by at least the amount (or z at most minus the threshold).
    Decrease,
    /// `ANY`: either way, by magnitude.
    Any,
}

/// `agg(last window values) cmp threshold`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Threshold {
    /// The metric's name, e.g. `loss` or `system/cpu`.
    pub name: String,
    /// How the window is aggregated; `None`: the last value alone.
    pub agg: Option<Agg>,
    /// 1 when `agg` is none: the last value alone.
    pub window: usize,
    /// How the aggregate is compared with `threshold`.
    pub cmp: Cmp,
    /// The value the aggregate is compared with.
    pub threshold: f64,
}

/// The change between two adjacent, non-overlapping windows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// The metric's name.
    pub name: String,
    /// How each window is aggregated; `None`: both windows are the last value alone.
    pub agg: Option<Agg>,
    /// How many of the latest values the current window holds (1 when `agg` is none).
    pub current_window: usize,
    /// How many values just before the current window the prior window holds (1 when `agg` is none).
    pub prior_window: usize,
    /// Whether the change is a difference or a fraction of the prior.
    pub change_type: ChangeType,
    /// Which way the change must go.
    pub change_dir: ChangeDir,
    /// Strictly positive; for relative changes a fraction (0.25 is 25%).
    pub amount: f64,
}

/// How many standard deviations a new value lies from the window before it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZScore {
    /// The metric's name.
    pub name: String,
    /// How many values before the new one the mean and (population) stddev are taken over.
    pub window: usize,
    /// Strictly positive.
    pub threshold: f64,
    /// Which way the new value must lie from the mean.
    pub change_dir: ChangeDir,
}

/// A run metric condition: what a `RUN_METRIC_*` automation checks after every value.
/// Serialized as the create document's `event.metric`, every default filled in.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MetricCondition {
    /// `RUN_METRIC_THRESHOLD`.
    Threshold(Threshold),
    /// `RUN_METRIC_CHANGE`.
    Change(Change),
    /// `RUN_METRIC_ZSCORE`.
    ZScore(ZScore),
}

impl MetricCondition {
    /// The metric this condition reads.
    pub fn metric(&self) -> &str {
        match self {
            MetricCondition::Threshold(t) => &t.name,
            MetricCondition::Change(c) => &c.name,
            MetricCondition::ZScore(z) => &z.name,
        }
    }

    /// How many of the latest values the condition reads: the window a run must retain for it.
    pub fn needed(&self) -> usize {
        match self {
            MetricCondition::Threshold(t) => t.window,
            MetricCondition::Change(c) => c.current_window + c.prior_window,
            MetricCondition::ZScore(z) => z.window + 1,
        }
    }

    /// The trigger kind of automations with this condition.
    pub fn kind(&self) -> TriggerKind {
        match self {
            MetricCondition::Threshold(_) => TriggerKind::RunMetricThreshold,
            MetricCondition::Change(_) => TriggerKind::RunMetricChange,
            MetricCondition::ZScore(_) => TriggerKind::RunMetricZscore,
        }
    }

    /// Read the `metric` object of a `RUN_METRIC_*` automation.
    pub fn parse(kind: TriggerKind, v: &Value, path: &str, errors: &mut Errors) -> Option<MetricCondition> {
        let mut r = ObjReader::new(v, path, errors)?;
        let name = r.str("name", errors).map(str::to_string);
        let cond = match kind {
            TriggerKind::RunMetricThreshold => {
                let agg = read_agg(&mut r, errors);
                let window = read_window(&mut r, "window", 5, errors);
                let cmp = r
                    .required("cmp", errors)
                    .and_then(|c| one_of(c, &r.path_of("cmp"), &["$gt", "$gte", "$lt", "$lte", "$eq", "$ne"], errors));
                let threshold = r.required("threshold", errors).and_then(|_| r.opt_f64("threshold", errors));
                let (name, agg, window, cmp, threshold) = (name?, agg?, window?, cmp?, threshold?);
                let cmp = match cmp {
                    "$gt" => Cmp::Gt,
                    "$gte" => Cmp::Gte,
                    "$lt" => Cmp::Lt,
                    "$lte" => Cmp::Lte,
                    "$eq" => Cmp::Eq,
                    _ => Cmp::Ne,
                };
                let window = if agg.is_none() { 1 } else { window };
                MetricCondition::Threshold(Threshold { name, agg, window, cmp, threshold })
            }
            TriggerKind::RunMetricChange => {
                let agg = read_agg(&mut r, errors);
                let current = read_window(&mut r, "current_window", 10, errors);
                let prior = read_window(&mut r, "prior_window", 50, errors);
                let change_type = match r.get("change_type") {
                    None => Some(ChangeType::Relative),
                    Some(v) => one_of(v, &r.path_of("change_type"), &["ABSOLUTE", "RELATIVE"], errors)
                        .map(|s| if s == "ABSOLUTE" { ChangeType::Absolute } else { ChangeType::Relative }),
                };
                let dir = r.required("change_dir", errors).and_then(|v| read_dir(v, &r.path_of("change_dir"), errors));
                let amount = r.required("amount", errors).and_then(|_| r.opt_f64("amount", errors));
                if let Some(a) = amount
                    && a <= 0.0
                {
                    errors.push(r.path_of("amount"), format!("must be greater than 0, got {a}"));
                }
                let (name, agg, current, prior, change_type, change_dir, amount) =
                    (name?, agg?, current?, prior?, change_type?, dir?, amount.filter(|a| *a > 0.0)?);
                let (current_window, prior_window) = if agg.is_none() { (1, 1) } else { (current, prior) };
                MetricCondition::Change(Change {
                    name,
                    agg,
                    current_window,
                    prior_window,
                    change_type,
                    change_dir,
                    amount,
                })
            }
            TriggerKind::RunMetricZscore => {
                let window = read_window(&mut r, "window", 30, errors);
                let threshold = match r.get("threshold") {
                    None => Some(3.0),
                    Some(_) => r.opt_f64("threshold", errors),
                };
                if let Some(t) = threshold
                    && t <= 0.0
                {
                    errors.push(r.path_of("threshold"), format!("must be greater than 0, got {t}"));
                }
                let dir = match r.get("change_dir") {
                    None => Some(ChangeDir::Any),
                    Some(v) => read_dir(v, &r.path_of("change_dir"), errors),
                };
                let (name, window, threshold, change_dir) = (name?, window?, threshold.filter(|t| *t > 0.0)?, dir?);
                MetricCondition::ZScore(ZScore { name, window, threshold, change_dir })
            }
            _ => unreachable!("parse is only called for metric triggers"),
        };
        r.deny_unknown(errors);
        Some(cond)
    }
}

/// The name of `a` in documents: `MAX`, `MIN` or `AVERAGE`.
pub fn agg_str(a: Agg) -> &'static str {
    match a {
        Agg::Max => "MAX",
        Agg::Min => "MIN",
        Agg::Average => "AVERAGE",
    }
}

/// The name of `c` in documents, e.g. `$gte`.
pub fn cmp_str(c: Cmp) -> &'static str {
    match c {
        Cmp::Gt => "$gt",
        Cmp::Gte => "$gte",
        Cmp::Lt => "$lt",
        Cmp::Lte => "$lte",
        Cmp::Eq => "$eq",
        Cmp::Ne => "$ne",
    }
}

/// The name of `d` in documents: `INCREASE`, `DECREASE` or `ANY`.
pub fn dir_str(d: ChangeDir) -> &'static str {
    match d {
        ChangeDir::Increase => "INCREASE",
        ChangeDir::Decrease => "DECREASE",
        ChangeDir::Any => "ANY",
    }
}

/// `agg`: absent or null means none (`Some(None)`); `None` means an error was recorded.
fn read_agg(r: &mut ObjReader<'_>, errors: &mut Errors) -> Option<Option<Agg>> {
    match r.get("agg") {
        None => Some(None),
        Some(v) => one_of(v, &r.path_of("agg"), &["MAX", "MIN", "AVERAGE"], errors).map(|s| {
            Some(match s {
                "MAX" => Agg::Max,
                "MIN" => Agg::Min,
                _ => Agg::Average,
            })
        }),
    }
}

fn read_window(r: &mut ObjReader<'_>, field: &'static str, default: usize, errors: &mut Errors) -> Option<usize> {
    match r.get(field) {
        None => Some(default),
        Some(_) => r.opt_int(field, 1..=MAX_WINDOW, errors).map(|n| n as usize),
    }
}

fn read_dir(v: &Value, path: &str, errors: &mut Errors) -> Option<ChangeDir> {
    one_of(v, path, &["INCREASE", "DECREASE", "ANY"], errors).map(|s| match s {
        "INCREASE" => ChangeDir::Increase,
        "DECREASE" => ChangeDir::Decrease,
        _ => ChangeDir::Any,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(kind: TriggerKind, v: Value) -> Result<MetricCondition, crate::error::Invalid> {
        let mut errors = Errors::default();
        let c = MetricCondition::parse(kind, &v, "event.metric", &mut errors);
        errors.finish(c).map(Option::unwrap)
    }

    #[test]
    fn threshold_defaults_and_agg_none() {
        let c = parse(
            TriggerKind::RunMetricThreshold,
            json!({"name": "loss", "agg": "AVERAGE", "cmp": "$gt", "threshold": 0.5}),
        )
        .unwrap();
        assert_eq!(c.needed(), 5);
        let c = parse(
            TriggerKind::RunMetricThreshold,
            json!({"name": "loss", "window": 9, "cmp": "$gt", "threshold": 0.5}),
        )
        .unwrap();
        assert_eq!(c.needed(), 1, "no aggregation reads the last value alone");
    }

    #[test]
    fn change_defaults() {
        let c = parse(
            TriggerKind::RunMetricChange,
            json!({"name": "loss", "agg": "MIN", "change_dir": "DECREASE", "amount": 0.25}),
        )
        .unwrap();
        let MetricCondition::Change(ch) = &c else { panic!() };
        assert_eq!((ch.current_window, ch.prior_window, ch.change_type), (10, 50, ChangeType::Relative));
        assert_eq!(c.needed(), 60);
    }

    #[test]
    fn zscore_defaults() {
        let c = parse(TriggerKind::RunMetricZscore, json!({"name": "loss"})).unwrap();
        assert_eq!(
            c,
            MetricCondition::ZScore(ZScore {
                name: "loss".into(),
                window: 30,
                threshold: 3.0,
                change_dir: ChangeDir::Any
            })
        );
        assert_eq!(c.needed(), 31);
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (
                TriggerKind::RunMetricThreshold,
                json!({"name": "l", "agg": "MAX", "window": 0, "cmp": "$gt", "threshold": 1}),
                "event.metric.window",
            ),
            (TriggerKind::RunMetricThreshold, json!({"name": "l", "cmp": "$gt"}), "event.metric.threshold"),
            (TriggerKind::RunMetricThreshold, json!({"name": "l", "cmp": ">", "threshold": 1}), "event.metric.cmp"),
            (TriggerKind::RunMetricThreshold, json!({"cmp": "$gt", "threshold": 1}), "event.metric.name"),
            (
                TriggerKind::RunMetricChange,
                json!({"name": "l", "change_dir": "ANY", "amount": -0.1}),
                "event.metric.amount",
            ),
            (
                TriggerKind::RunMetricChange,
                json!({"name": "l", "change_dir": "UP", "amount": 1}),
                "event.metric.change_dir",
            ),
            (
                TriggerKind::RunMetricChange,
                json!({"name": "l", "agg": "MAX", "prior_window": 1.5, "change_dir": "ANY", "amount": 1}),
                "event.metric.prior_window",
            ),
            (TriggerKind::RunMetricZscore, json!({"name": "l", "threshold": 0}), "event.metric.threshold"),
            (TriggerKind::RunMetricZscore, json!({"name": "l", "window": 1001}), "event.metric.window"),
            (TriggerKind::RunMetricZscore, json!({"name": "l", "windw": 10}), "event.metric.windw"),
        ];
        for (kind, doc, path) in cases {
            let e = parse(kind, doc.clone()).unwrap_err();
            assert_eq!(e.errors[0].path, path, "{doc}: {e}");
        }
    }
}
