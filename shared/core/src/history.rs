//! Stored metric history: each run's logged values per metric, kept for the console's run chart
//! and for backtests that name a run instead of sending its history.
//!
//! What is kept follows the engine's rules for windows (SPEC section 5), so a backtest over the
//! stored history decides what the engine decided: a value is appended only when its step is
//! greater than the last step stored for its (run, metric), and non-finite values are left out.
//! Each (run, metric) keeps at most [`MAX_POINTS`]; past that the older half is thinned (every
//! second point of it dropped, [`thin`]), so recent values stay at full resolution and old ones
//! grow sparser each time the bound is reached again. A (run, metric) that logs nothing for
//! [`HISTORY_TTL`] is removed by the sweeper.
//!
//! This module is pure: [`points`] reads them out of envelopes and [`thin`] chooses what to drop;
//! the [`crate::store::HistoryStore`] port keeps them.

use crate::event::{Envelope, EventData, RunKey};
use crate::time::Timestamp;
use serde::Serialize;
use std::collections::HashMap;

/// The most points kept per (run, metric).
pub const MAX_POINTS: usize = 10_000;

/// How long a (run, metric) that logs nothing more is kept (as executions are).
pub const HISTORY_TTL: i64 = 30 * crate::time::DAY;

/// One logged value (serialized as `GET /v1/runs/.../metrics/{name}` lists it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    /// The step the value was logged at.
    pub step: i64,
    /// The row's time, else its envelope's.
    #[serde(serialize_with = "crate::time::rfc3339")]
    pub time: Timestamp,
    /// The logged value (always finite: non-finite values are not stored).
    pub value: f64,
}

/// The points of one (run, metric) that one batch logged, in the order logged.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The run that logged the points.
    pub run: RunKey,
    /// The run's name as the batch sent it, if any.
    pub run_name: Option<String>,
    /// The metric's name.
    pub metric: String,
    /// The points, in the order logged (steps not yet checked against the stored ones).
    pub points: Vec<Point>,
}

/// A run with stored history, as `GET /v1/runs` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunHistory {
    /// The run.
    pub run: RunKey,
    /// The run's name as last stored, if any.
    pub run_name: Option<String>,
    /// Its metrics, by name.
    pub metrics: Vec<String>,
    /// When a value was last stored for it.
    pub updated_at: Timestamp,
}

impl RunHistory {
    /// As `GET /v1/runs` lists it.
    pub fn view(&self) -> RunHistoryView<'_> {
        RunHistoryView {
            entity: &self.run.entity,
            project: &self.run.project,
            run_id: &self.run.run_id,
            run_name: self.run_name.as_deref(),
            metrics: &self.metrics,
            updated_at: self.updated_at,
        }
    }
}

/// A [`RunHistory`] as `GET /v1/runs` lists it.
#[derive(Debug, Serialize)]
pub struct RunHistoryView<'a> {
    entity: &'a str,
    project: &'a str,
    run_id: &'a str,
    run_name: Option<&'a str>,
    metrics: &'a [String],
    #[serde(serialize_with = "crate::time::rfc3339")]
    updated_at: Timestamp,
}

/// The finite values of the metrics envelopes in `envelopes`, one [`Series`] per (run, metric)
/// in order of first appearance. Steps are not checked here: the store appends only those past
/// its last stored step.
pub fn points(envelopes: &[Envelope]) -> Vec<Series> {
    let mut out: Vec<Series> = Vec::new();
    // Where each (run, metric) is in `out`, borrowed from the envelopes.
    let mut at: HashMap<(&RunKey, &str), usize> = HashMap::new();
    for env in envelopes {
        let EventData::Metrics(m) = &env.data else { continue };
        for (row, values) in m.rows_with_values() {
            for &(i, value) in values {
                if !value.is_finite() {
                    continue;
                }
                let Some(name) = m.names.get(i as usize) else { continue };
                let point = Point { step: row.step, time: row.time.unwrap_or(env.time), value };
                let slot = *at.entry((&m.run.key, name.as_str())).or_insert_with(|| {
                    out.push(Series {
                        run: m.run.key.clone(),
                        run_name: m.run.run_name.clone(),
                        metric: name.clone(),
                        points: Vec::new(),
                    });
                    out.len() - 1
                });
                out[slot].points.push(point);
            }
        }
    }
    out
}

/// Append to `stored` (ascending steps) the points of `new` past its last step, then thin it
/// within `max`. Returns how many were appended. (The memory store's whole implementation; the
/// SQLite adapter does the same in SQL.)
pub fn append(stored: &mut Vec<Point>, new: &[Point], max: usize) -> usize {
    let mut appended = 0;
    for p in new {
        if stored.last().is_none_or(|last| p.step > last.step) {
            stored.push(*p);
            appended += 1;
        }
    }
    if stored.len() > max {
        let steps: Vec<i64> = stored.iter().map(|p| p.step).collect();
        let dropped = thin(&steps, max);
        stored.retain(|p| dropped.binary_search(&p.step).is_err());
    }
    appended
}

/// The steps to drop from a series of `steps` (ascending) to bring it within `max`: none while it
/// fits; else every second point of the older half, repeatedly, until it fits. The newest half
/// and the oldest point are always kept.
pub fn thin(steps: &[i64], max: usize) -> Vec<i64> {
    let mut kept: Vec<i64> = steps.to_vec();
    let mut dropped = Vec::new();
    while kept.len() > max.max(2) {
        let older = kept.len() / 2;
        let mut next = Vec::with_capacity(kept.len());
        for (i, &s) in kept.iter().enumerate() {
            if i < older && i % 2 == 1 {
                dropped.push(s);
            } else {
                next.push(s);
            }
        }
        if next.len() == kept.len() {
            break;
        }
        kept = next;
    }
    dropped.sort_unstable();
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::parse_value;
    use serde_json::json;

    #[test]
    fn points_keep_finite_values_with_the_row_time_or_the_envelope_time() {
        let env = parse_value(&json!({
            "specversion": "1.0", "id": "e1", "source": "t", "type": "run.metrics.logged",
            "time": "2026-11-01T12:00:05Z",
            "data": {"entity": "acme", "project": "p", "run_id": "r1", "run_name": "train",
                     "rows": [{"step": 1, "time": "2026-11-01T12:00:01Z", "values": {"loss": 0.5, "acc": "NaN"}},
                              {"step": 2, "values": {"loss": 0.4, "acc": 0.9}}]}
        }))
        .unwrap();
        let s = points(&[env]);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].metric.as_str(), s[0].run_name.as_deref()), ("loss", Some("train")));
        assert_eq!(s[0].points.iter().map(|p| (p.step, p.value)).collect::<Vec<_>>(), vec![(1, 0.5), (2, 0.4)]);
        assert_eq!(s[0].points[0].time, Timestamp::parse_rfc3339("2026-11-01T12:00:01Z").unwrap());
        assert_eq!(s[0].points[1].time, Timestamp::parse_rfc3339("2026-11-01T12:00:05Z").unwrap());
        // NaN at step 1 is not a point.
        assert_eq!(s[1].points.iter().map(|p| p.step).collect::<Vec<_>>(), vec![2]);
    }

    #[test]
    fn append_skips_steps_not_past_the_last_and_stays_bounded() {
        let p = |step, value| Point { step, time: Timestamp(step * 1000), value };
        let mut stored = vec![p(1, 1.0), p(2, 2.0)];
        // A redelivery (2) and a late step (1) are skipped, as the engine skips them.
        assert_eq!(append(&mut stored, &[p(2, 9.0), p(1, 9.0), p(3, 3.0)], 10), 1);
        assert_eq!(stored.iter().map(|p| (p.step, p.value)).collect::<Vec<_>>(), vec![(1, 1.0), (2, 2.0), (3, 3.0)]);
        let many: Vec<Point> = (4..100).map(|s| p(s, s as f64)).collect();
        append(&mut stored, &many, 20);
        assert!(stored.len() <= 20);
        assert_eq!(stored.last().map(|p| p.step), Some(99));
        assert!(stored.windows(2).all(|w| w[0].step < w[1].step));
    }

    #[test]
    fn thinning_drops_every_second_older_point_and_keeps_the_newest_half() {
        let steps: Vec<i64> = (0..10).collect();
        assert!(thin(&steps, 10).is_empty());
        // 11 points, bound 10: the older half is 0..5; 1 and 3 go.
        let steps: Vec<i64> = (0..11).collect();
        assert_eq!(thin(&steps, 10), vec![1, 3]);
        // Far over the bound: thinned again and again, never below the newest points.
        let steps: Vec<i64> = (0..1000).collect();
        let dropped = thin(&steps, 100);
        let kept: Vec<i64> = steps.iter().copied().filter(|s| !dropped.contains(s)).collect();
        assert!(kept.len() <= 100, "kept {}", kept.len());
        assert_eq!(kept.first(), Some(&0));
        assert!(kept.ends_with(&(950..1000).collect::<Vec<_>>()), "the newest 50 are all kept");
    }
}
