//! An O(1) pre-check of a condition over the running aggregates: "can it hold now?"
//!
//! The running aggregates are not bit-identical to the left-to-right folds of [`super::check`]
//! (the reference, which the naive model in the property tests mirrors). So the pre-check
//! computes an interval that contains both the running value and the value the fold would give,
//! from rigorous bounds on the rounding of each (scaled by the largest magnitude involved), and
//! answers "no" only when the condition fails over the whole interval. Every "maybe" is settled
//! by the reference check over the window's slice. The decisions and the reported values are
//! therefore exactly the reference's; the pre-check only decides how often the reference runs,
//! which is rarely: when a condition holds (and then it fires, which copies the window anyway)
//! or when it is within rounding of its boundary.
//!
//! Every comparison is written so that a NaN (an overflow somewhere) answers "maybe".

use super::ring::Ring;
use super::running::{AggKind, AggSpec, Aggregates, State};
use super::sums::SlidingMoments;
use crate::model::condition::{Agg, Change, ChangeDir, ChangeType, Cmp, MetricCondition, Threshold, ZScore};
use std::cmp::Ordering;

/// The unit roundoff doubled (one ulp of 1.0); bounds below are written in it.
const EPS: f64 = f64::EPSILON;
/// Absolute slack for results in the subnormal range, where rounding is not relative.
const TINY: f64 = 4.0 * f64::MIN_POSITIVE;

/// Where a condition reads one aggregate.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Source {
    /// No aggregation: the value `lag` back from the newest, exactly.
    Value(usize),
    /// A running aggregate (its slot among the window's specs) over `len` values.
    Slot { slot: usize, len: usize },
}

#[derive(Debug, Clone, PartialEq)]
enum Probe {
    Threshold { value: Source, cmp: Cmp, threshold: f64 },
    Change { current: Source, prior: Source, relative: bool, dir: ChangeDir, amount: f64 },
    ZScore { slot: usize, window: usize, dir: ChangeDir, threshold: f64 },
}

/// A condition compiled against the running aggregates of its metric's window.
#[derive(Debug, Clone, PartialEq)]
pub struct Watch {
    needed: usize,
    probe: Probe,
}

/// The slot of `spec` in `specs`, added if new: automations reading the same aggregate share it.
fn slot(specs: &mut Vec<AggSpec>, spec: AggSpec) -> usize {
    specs.iter().position(|s| *s == spec).unwrap_or_else(|| {
        specs.push(spec);
        specs.len() - 1
    })
}

fn source(specs: &mut Vec<AggSpec>, agg: Option<Agg>, lag: usize, len: usize) -> Source {
    let kind = match agg {
        // The fold of no aggregation is the window's last value.
        None => return Source::Value(lag),
        Some(Agg::Average) => AggKind::Sum,
        Some(Agg::Max) => AggKind::Max,
        Some(Agg::Min) => AggKind::Min,
    };
    Source::Slot { slot: slot(specs, AggSpec { kind, lag, len }), len }
}

impl Watch {
    /// Compile `condition`, adding the aggregates it reads to `specs` (the window's).
    pub fn new(condition: &MetricCondition, specs: &mut Vec<AggSpec>) -> Watch {
        let probe = match condition {
            MetricCondition::Threshold(Threshold { agg, window, cmp, threshold, .. }) => {
                Probe::Threshold { value: source(specs, *agg, 0, *window), cmp: *cmp, threshold: *threshold }
            }
            MetricCondition::Change(c @ Change { agg, current_window, prior_window, .. }) => Probe::Change {
                current: source(specs, *agg, 0, *current_window),
                prior: source(specs, *agg, *current_window, *prior_window),
                relative: c.change_type == ChangeType::Relative,
                dir: c.change_dir,
                amount: c.amount,
            },
            MetricCondition::ZScore(ZScore { window, threshold, change_dir, .. }) => Probe::ZScore {
                slot: slot(specs, AggSpec { kind: AggKind::Moments, lag: 1, len: *window }),
                window: *window,
                dir: *change_dir,
                threshold: *threshold,
            },
        };
        Watch { needed: condition.needed(), probe }
    }

    /// Might the condition hold over the window now? False only when the reference check would
    /// say no. `aggs` must be in step with `ring`, over the specs this watch was compiled with.
    #[inline]
    pub fn might_hold(&self, aggs: &Aggregates, ring: &Ring) -> bool {
        if ring.len() < self.needed {
            return false;
        }
        match self.probe {
            Probe::Threshold { value, cmp, threshold } => {
                let (v, err) = estimate(value, aggs, ring);
                may_compare(cmp, v - err, v + err, threshold)
            }
            Probe::Change { current, prior, relative, dir, amount } => {
                let (c, ec) = estimate(current, aggs, ring);
                let (p, ep) = estimate(prior, aggs, ring);
                let d = c - p;
                let ed = ec + ep + EPS * d.abs() + TINY;
                // Relative: delta = d / |prior| meets `amount` only if d meets `amount` times the
                // smallest |prior| the reference may divide by (comparing products, no division).
                let scale = if relative {
                    let (plo, phi) = (p - ep, p + ep);
                    // A prior that may be 0 (or NaN) is the reference's to settle.
                    let signed = plo > 0.0 || phi < 0.0;
                    if !signed {
                        return true;
                    }
                    plo.abs().min(phi.abs())
                } else {
                    1.0
                };
                may_be_directed(dir, d - ed, d + ed, amount * scale)
            }
            Probe::ZScore { slot, window, dir, threshold } => {
                // Exact, as the reference: a window of equal values is not evaluated.
                if aggs.equal_run_before_newest() >= window {
                    return false;
                }
                let State::Moments(m) = aggs.state(slot) else { unreachable!("a z-score reads moments") };
                match zscore_bounds(m, window, ring.at(0)) {
                    // z = num / sd meets the threshold only if num meets it times the smallest sd.
                    Some((lo, hi, sd_lo)) => may_be_directed(dir, lo, hi, threshold * sd_lo),
                    None => true,
                }
            }
        }
    }
}

/// An aggregate's running value and a bound on its distance to the reference fold's value.
#[inline]
fn estimate(source: Source, aggs: &Aggregates, ring: &Ring) -> (f64, f64) {
    match source {
        Source::Value(lag) => (ring.at(lag), 0.0),
        Source::Slot { slot, len } => match aggs.state(slot) {
            State::Extremum(e) => (e.value(), 0.0),
            State::Sum(s) => {
                let n = len as f64;
                let avg = s.sum() / n;
                // The fold's sum is within (n-1)u of the sum of |x| <= n max|x|; the running
                // sum within 2u|sum| plus a negligible second-order term; each division u.
                // Bounded here with a factor of 8 to spare.
                (avg, 4.0 * (n + 8.0) * EPS * s.max_abs + 4.0 * EPS * avg.abs() + TINY)
            }
            State::Moments(_) => unreachable!("moments are read by z-scores only"),
        },
    }
}

/// Bounds on the reference's numerator `v - mean` and a lower bound on its standard deviation,
/// for `v` against the `window` values of `m`'s span; `None` when the deviation may be 0.
#[inline]
fn zscore_bounds(m: &SlidingMoments, window: usize, v: f64) -> Option<(f64, f64, f64)> {
    let n = window as f64;
    let b = m.s1() / n;
    let a = m.s2() / n;
    let mean = m.shift + b;
    let var = a - b * b;
    // Mean: the fold is within (n-1)u max|x| (+u|mean|) of the true mean, the running mean
    // within about 3u max|x - shift| (+u|mean|).
    let em = 4.0 * (n + 8.0) * EPS * m.max_abs + 4.0 * EPS * (m.max_dev + mean.abs()) + TINY;
    // Variance: the fold's is (var + dm^2)(1 +- (n+3)u), dm its mean's error; the running one
    // within about 7u a + 2|b| (u max_dev + 3u|b|) + 2u b^2, a = s2/n >= var. Second-order terms
    // of the compensated sums, over at most 3n + 64 operations, are covered by the last term.
    let d = m.max_dev;
    let ops = 3.0 * n + 64.0;
    let ev = 4.0 * (n + 16.0) * EPS * (a + b.abs() * d + b * b) + 2.0 * em * em + (8.0 * ops * EPS * d).powi(2) + TINY;
    let var_lo = var - ev;
    if var_lo <= 0.0 || var_lo.is_nan() {
        // The standard deviation may be 0 (not evaluated) or tiny: the reference settles it.
        return None;
    }
    let sd_lo = var_lo.sqrt() * (1.0 - 2.0 * EPS);
    let num_lo = v - (mean + em);
    let num_hi = v - (mean - em);
    Some((num_lo - EPS * num_lo.abs() - TINY, num_hi + EPS * num_hi.abs() + TINY, sd_lo))
}

/// `x > t`, or unknown (NaN): maybe.
#[inline]
fn may_gt(x: f64, t: f64) -> bool {
    x.partial_cmp(&t).is_none_or(Ordering::is_gt)
}

/// `x >= t`, or unknown (NaN): maybe.
#[inline]
fn may_ge(x: f64, t: f64) -> bool {
    x.partial_cmp(&t).is_none_or(Ordering::is_ge)
}

/// Might `x cmp threshold` hold for some `x` in `[lo, hi]`? NaN bounds answer yes.
#[inline]
fn may_compare(cmp: Cmp, lo: f64, hi: f64, threshold: f64) -> bool {
    match cmp {
        Cmp::Gt => may_gt(hi, threshold),
        Cmp::Gte => may_ge(hi, threshold),
        Cmp::Lt => may_gt(threshold, lo),
        Cmp::Lte => may_ge(threshold, lo),
        Cmp::Eq => may_ge(hi, threshold) && may_ge(threshold, lo),
        Cmp::Ne => lo != threshold || hi != threshold,
    }
}

/// Might a change in `[lo, hi]` meet `bound` (> 0) in direction `dir`? Widened for the
/// rounding of the reference's own division (`bound` being `amount` times a divisor).
#[inline]
fn may_be_directed(dir: ChangeDir, lo: f64, hi: f64, bound: f64) -> bool {
    let bound = bound * (1.0 - 4.0 * EPS);
    let up = may_ge(hi + 4.0 * EPS * hi.abs() + TINY, bound);
    let down = may_ge(-lo + 4.0 * EPS * lo.abs() + TINY, bound);
    match dir {
        ChangeDir::Increase => up,
        ChangeDir::Decrease => down,
        ChangeDir::Any => up | down,
    }
}
