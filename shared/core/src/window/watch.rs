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
use super::running::{AggKind, AggSpec, Aggregates};
use super::sums::{MomentsAt, period};

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
    /// A running average: the slot of its sum, `1 / len`, and the scale of its error bound.
    Average { slot: usize, inv: f64, k: f64 },
    /// A running maximum or minimum (exact).
    Extremum { slot: usize },
}

/// The condition's test, one variant per kind of condition and of aggregate it reads, so a
/// check dispatches once (a nested match on the source cost a second dispatch per check). A tag
/// of its own: packed into the sources' (a niche), it took three more instructions to decode.
#[derive(Debug, Clone, PartialEq)]
#[repr(u8)]
enum Probe {
    /// Holds when `at_least <= value <= at_most` (every comparison but `$ne` is one of those,
    /// an infinity standing for no bound), so the check needs no branch on the operator.
    Threshold {
        value: Source,
        at_least: f64,
        at_most: f64,
    },
    /// [`Probe::Threshold`] over a running average.
    ThresholdAverage {
        slot: usize,
        inv: f64,
        k: f64,
        at_least: f64,
        at_most: f64,
    },
    /// A threshold on a maximum or minimum with one bound: it holds exactly when some value of
    /// the window reaches the bound (`holds_if_reached`), or when none does.
    ThresholdReach {
        slot: usize,
        len: usize,
        holds_if_reached: bool,
    },
    /// [`Probe::Threshold`] over a running maximum or minimum.
    ThresholdExtremum {
        slot: usize,
        at_least: f64,
        at_most: f64,
    },
    /// `$ne`.
    ThresholdNe {
        value: Source,
        threshold: f64,
    },
    Change {
        current: Source,
        prior: Source,
        change: ChangeTest,
    },
    /// [`Probe::Change`] over two running averages.
    ChangeAverage {
        current: usize,
        prior: usize,
        inv_current: f64,
        k_current: f64,
        inv_prior: f64,
        k_prior: f64,
        change: ChangeTest,
    },
    /// [`Probe::Change`] over two running maxima or minima.
    ChangeExtremum {
        current: usize,
        prior: usize,
        change: ChangeTest,
    },
    ZScore {
        slot: usize,
        window: usize,
        sides: Sides,
        bounds: ZBounds,
    },
}

/// What a change condition asks of the difference of its two aggregates.
#[derive(Debug, Clone, Copy, PartialEq)]
struct ChangeTest {
    relative: bool,
    sides: Sides,
    amount: f64,
}

/// Which sides of a change count, as factors of the bound: 1 where it counts, infinity (a bound
/// never met) where it does not. Branch-free on the direction.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Sides {
    up: f64,
    down: f64,
}

impl Sides {
    fn of(dir: ChangeDir) -> Sides {
        let (up, down) = match dir {
            ChangeDir::Increase => (1.0, f64::INFINITY),
            ChangeDir::Decrease => (f64::INFINITY, 1.0),
            ChangeDir::Any => (1.0, 1.0),
        };
        Sides { up, down }
    }
}

/// A condition compiled against the running aggregates of its metric's window.
#[derive(Debug, Clone, PartialEq)]
pub struct Watch {
    needed: usize,
    probe: Probe,
}

/// The slot of `spec`, added to `specs` if new (automations reading the same aggregate share
/// it): its index among the specs of its family, as the window numbers them.
fn slot(specs: &mut Vec<AggSpec>, spec: AggSpec) -> usize {
    let at = specs.iter().position(|s| *s == spec).unwrap_or_else(|| {
        specs.push(spec);
        specs.len() - 1
    });
    specs[..at].iter().filter(|s| s.kind.family() == spec.kind.family()).count()
}

fn source(specs: &mut Vec<AggSpec>, agg: Option<Agg>, lag: usize, len: usize) -> Source {
    let kind = match agg {
        // The fold of no aggregation is the window's last value.
        None => return Source::Value(lag),
        Some(Agg::Average) => AggKind::Sum,
        Some(Agg::Max) => AggKind::Max,
        Some(Agg::Min) => AggKind::Min,
    };
    let slot = slot(specs, AggSpec { kind, lag, len });
    if kind != AggKind::Sum {
        return Source::Extremum { slot };
    }
    // The reference's fold is within (n-1)u sum|x| <= (n-1)u n max|x| of the true sum. The
    // running sum was a fold as well when last recomputed (as much again), and has taken at most
    // `period` updates since, each rounding twice, by at most u (n+2) max|x|. Divided by n, and
    // 4 times over: 2 eps (2(n-1) + period (n+2)/n) max|x|.
    let (n, p) = (len as f64, f64::from(period(len)));
    Source::Average { slot, inv: 1.0 / n, k: 2.0 * EPS * (2.0 * (n - 1.0) + p * (n + 2.0) / n + 4.0) }
}

impl Watch {
    /// Compile `condition`, adding the aggregates it reads to `specs` (the window's).
    pub fn new(condition: &MetricCondition, specs: &mut Vec<AggSpec>) -> Watch {
        let probe = match condition {
            MetricCondition::Threshold(Threshold {
                agg: Some(agg @ (Agg::Max | Agg::Min)),
                window,
                cmp,
                threshold,
                ..
            }) if !matches!(cmp, Cmp::Eq | Cmp::Ne) => {
                // max >= a: some value >= a. max <= b: no value >= next_up(b) (windows hold no
                // NaN, and the fold of max is one of the values). Mirrored for min.
                let t = *threshold;
                let min = *agg == Agg::Min;
                let (bound, holds_if_reached) = match (min, cmp) {
                    (false, Cmp::Gt) => (t.next_up(), true),
                    (false, Cmp::Gte) => (t, true),
                    (false, _) if *cmp == Cmp::Lt => (t, false),
                    (false, _) => (t.next_up(), false),
                    (true, Cmp::Lt) => (t.next_down(), true),
                    (true, Cmp::Lte) => (t, true),
                    (true, _) if *cmp == Cmp::Gt => (t, false),
                    (true, _) => (t.next_down(), false),
                };
                let kind = AggKind::Reach { min, bound: bound.to_bits() };
                let slot = slot(specs, AggSpec { kind, lag: 0, len: *window });
                Probe::ThresholdReach { slot, len: *window, holds_if_reached }
            }
            MetricCondition::Threshold(Threshold { agg, window, cmp, threshold, .. }) => {
                let value = source(specs, *agg, 0, *window);
                let (t, inf) = (*threshold, f64::INFINITY);
                let (at_least, at_most) = match cmp {
                    Cmp::Gt => (t.next_up(), inf),
                    Cmp::Gte => (t, inf),
                    Cmp::Lt => (-inf, t.next_down()),
                    Cmp::Lte => (-inf, t),
                    Cmp::Eq => (t, t),
                    Cmp::Ne => {
                        return Watch { needed: condition.needed(), probe: Probe::ThresholdNe { value, threshold: t } };
                    }
                };
                match value {
                    Source::Average { slot, inv, k } => Probe::ThresholdAverage { slot, inv, k, at_least, at_most },
                    Source::Extremum { slot } => Probe::ThresholdExtremum { slot, at_least, at_most },
                    Source::Value(_) => Probe::Threshold { value, at_least, at_most },
                }
            }
            MetricCondition::Change(c @ Change { agg, current_window, prior_window, .. }) => {
                let current = source(specs, *agg, 0, *current_window);
                let prior = source(specs, *agg, *current_window, *prior_window);
                let change = ChangeTest {
                    relative: c.change_type == ChangeType::Relative,
                    sides: Sides::of(c.change_dir),
                    amount: c.amount,
                };
                match (current, prior) {
                    (
                        Source::Average { slot: current, inv: inv_current, k: k_current },
                        Source::Average { slot: prior, inv: inv_prior, k: k_prior },
                    ) => Probe::ChangeAverage { current, prior, inv_current, k_current, inv_prior, k_prior, change },
                    (Source::Extremum { slot: current }, Source::Extremum { slot: prior }) => {
                        Probe::ChangeExtremum { current, prior, change }
                    }
                    _ => Probe::Change { current, prior, change },
                }
            }
            MetricCondition::ZScore(ZScore { window, threshold, change_dir, .. }) => Probe::ZScore {
                slot: slot(specs, AggSpec { kind: AggKind::Moments, lag: 1, len: *window }),
                window: *window,
                sides: Sides::of(*change_dir),
                bounds: ZBounds::new(*window, *threshold),
            },
        };
        Watch { needed: condition.needed(), probe }
    }

    /// Might the condition hold over the window now? False only when the reference check would
    /// say no. `aggs` must be in step with `ring`, over the specs this watch was compiled with.
    #[inline]
    pub fn might_hold(&self, aggs: &Aggregates, ring: &Ring) -> bool {
        let mut maybe = false;
        self.scan(1, |_| Now { aggs, ring }, |_| maybe = true);
        maybe
    }

    /// [`Watch::might_hold`] at each of `k` points of a window's stream, `at(i)` reading point
    /// `i`: `maybe(i)` for those where the condition might hold, in order. One dispatch on the
    /// kind of condition for all `k`: each kind's loop is then a few instructions a point.
    #[inline(always)]
    pub(super) fn scan<V: View>(&self, k: usize, at: impl Fn(usize) -> V, mut maybe: impl FnMut(usize)) {
        // Every point of a scan holds as many values (a batch's window is full).
        if k == 0 || at(0).len() < self.needed {
            return;
        }
        macro_rules! each {
            (|$v:ident| $test:expr) => {
                for i in 0..k {
                    let $v = at(i);
                    if $test {
                        maybe(i);
                    }
                }
            };
        }
        match self.probe {
            Probe::Threshold { value, at_least, at_most } => each!(|v| {
                let (x, err) = estimate(value, &v);
                may_be_within(x, err, at_least, at_most)
            }),
            Probe::ThresholdAverage { slot, inv, k: scale, at_least, at_most } => each!(|v| {
                let (x, err) = average(&v, slot, inv, scale);
                may_be_within(x, err, at_least, at_most)
            }),
            Probe::ThresholdReach { slot, len, holds_if_reached } => {
                each!(|v| reached_within(v.reach_last(slot), v.pushes(), len) == holds_if_reached)
            }
            Probe::ThresholdExtremum { slot, at_least, at_most } => {
                each!(|v| may_be_within(v.extremum(slot), 0.0, at_least, at_most))
            }
            Probe::ThresholdNe { value, threshold } => each!(|v| {
                let (x, err) = estimate(value, &v);
                x - err != threshold || x + err != threshold
            }),
            Probe::Change { current, prior, change } => each!(|v| {
                let (c, ec) = estimate(current, &v);
                let (p, ep) = estimate(prior, &v);
                change.may_hold(c, ec, p, ep)
            }),
            Probe::ChangeAverage { current, prior, inv_current, k_current, inv_prior, k_prior, change } => {
                each!(|v| {
                    let (c, ec) = average(&v, current, inv_current, k_current);
                    let (p, ep) = average(&v, prior, inv_prior, k_prior);
                    change.may_hold(c, ec, p, ep)
                })
            }
            Probe::ChangeExtremum { current, prior, change } => {
                each!(|v| change.may_hold(v.extremum(current), 0.0, v.extremum(prior), 0.0))
            }
            Probe::ZScore { slot, window, sides, ref bounds } => each!(|v| {
                // Exact, as the reference: a window of equal values is not evaluated.
                v.equal_run_before_newest() < window
                    && match bounds.of(v.moments(slot), v.value(0)) {
                        // z = num / sd meets the threshold only if num meets it times the
                        // smallest sd; compared squared, which spares a square root.
                        Some((num, slack, var_lo)) => {
                            let bound2 = bounds.threshold2 * var_lo;
                            may_exceed(num + slack, bound2 * sides.up) | may_exceed(slack - num, bound2 * sides.down)
                        }
                        None => true,
                    }
            }),
        }
    }
}

/// What a probe reads of a window at one point of its stream: the running aggregates as they
/// stand after the newest value ([`Now`]), or as a batch recorded them after each of its values
/// (the batch's columns).
pub(super) trait View {
    /// How many values the window holds.
    fn len(&self) -> usize;
    /// How many values the window has taken in all.
    fn pushes(&self) -> u64;
    /// The value `lag` back from the newest.
    fn value(&self, lag: usize) -> f64;
    /// A running sum and the largest magnitude it took since its last recomputation.
    fn sum(&self, slot: usize) -> (f64, f64);
    /// A running maximum or minimum.
    fn extremum(&self, slot: usize) -> f64;
    /// When a value last reached a bound ([`super::running::Reach`]).
    fn reach_last(&self, slot: usize) -> u64;
    /// A z-score's running moments.
    fn moments(&self, slot: usize) -> MomentsAt;
    /// The length of the run of equal values ending just before the newest value.
    fn equal_run_before_newest(&self) -> usize;
}

/// The window as it stands now.
pub(super) struct Now<'a> {
    pub(super) aggs: &'a Aggregates,
    pub(super) ring: &'a Ring,
}

impl View for Now<'_> {
    #[inline(always)]
    fn len(&self) -> usize {
        self.ring.len()
    }
    #[inline(always)]
    fn pushes(&self) -> u64 {
        self.ring.pushes()
    }
    #[inline(always)]
    fn value(&self, lag: usize) -> f64 {
        self.ring.at(lag)
    }
    #[inline(always)]
    fn sum(&self, slot: usize) -> (f64, f64) {
        let s = self.aggs.sum(slot);
        (s.sum(), s.max_abs)
    }
    #[inline(always)]
    fn extremum(&self, slot: usize) -> f64 {
        self.aggs.extremum(slot).value()
    }
    #[inline(always)]
    fn reach_last(&self, slot: usize) -> u64 {
        self.aggs.reach(slot).last
    }
    #[inline(always)]
    fn moments(&self, slot: usize) -> MomentsAt {
        self.aggs.moments(slot).at()
    }
    #[inline(always)]
    fn equal_run_before_newest(&self) -> usize {
        self.aggs.equal_run_before_newest()
    }
}

/// Did one of the latest `len` values of a window that has taken `pushes` reach a bound, the
/// newest that did being push number `last` (0: none)?
#[inline(always)]
fn reached_within(last: u64, pushes: u64, len: usize) -> bool {
    last != 0 && last + len as u64 > pushes
}

/// Might `v` (within `err` of the reference's value) be in `[at_least, at_most]`? Written so
/// that a NaN answers "maybe".
#[inline(always)]
fn may_be_within(v: f64, err: f64, at_least: f64, at_most: f64) -> bool {
    let below = v + err < at_least;
    let above = v - err > at_most;
    !(below | above)
}

impl ChangeTest {
    /// Might the change from `p` (within `ep` of the reference's) to `c` (within `ec`) hold?
    #[inline(always)]
    fn may_hold(self, c: f64, ec: f64, p: f64, ep: f64) -> bool {
        let ChangeTest { relative, sides, amount } = self;
        let d = c - p;
        // Both roundings of d (here and the reference's), and those of the reference's
        // division, within 8 eps (|c| + |p|); |c| and |p| are known before d, which keeps
        // the chain of dependent operations short.
        let ed = ec + ep + 8.0 * EPS * (c.abs() + p.abs()) + 2.0 * TINY;
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
        may_be_directed(sides, d - ed, d + ed, amount * scale)
    }
}

/// A running average and a bound on its distance to the reference fold's value.
#[inline(always)]
fn average<V: View>(at: &V, slot: usize, inv: f64, k: f64) -> (f64, f64) {
    let (sum, max_abs) = at.sum(slot);
    // `k` covers the reference's division (u) and the product by 1/n here (2u) too,
    // as |avg| <= max|x|; the bound then does not wait for the average.
    (sum * inv, k * max_abs + TINY)
}

/// An aggregate's running value and a bound on its distance to the reference fold's value.
#[inline(always)]
fn estimate<V: View>(source: Source, at: &V) -> (f64, f64) {
    match source {
        Source::Value(lag) => (at.value(lag), 0.0),
        Source::Extremum { slot } => (at.extremum(slot), 0.0),
        Source::Average { slot, inv, k } => average(at, slot, inv, k),
    }
}

/// The constants of a z-score's bounds, computed once per automation.
///
/// With n values, shift K, deviations d = x - K bounded by D (the span's at the last
/// recomputation, or entered since), |x| by M, and P = period(n) updates at most since:
/// - the running s1 = sum d is within u D (n^2 + P (n+2)) of the exact sum, s2 = sum d^2 within
///   u D^2 (n^2 + 2n + P (n+4)) (a fold of n, then P updates each rounding a few times);
/// - so b = s1/n is within u (c1 D + 2|b|), a = s2/n within u (c2 D^2 + 2a), c1 = n + P(n+2)/n,
///   c2 = n + 2 + P(n+4)/n; the mean K + b within that and u|mean|;
/// - the reference's mean is within (n-1)u M + u|mean| of the true mean (its error dm); its
///   variance is (var + dm^2)(1 +- (n+3)u), var <= a;
/// - the running variance a - b^2 within u (c2 D^2 + 2 c1 |b| D + 7 (a + b^2)) + (error of b)^2.
///
/// Each bound is taken 4 times over (u = eps / 2).
///
/// |b| and |mean| are at most D and M (up to rounding), and a and b^2 at most D^2: the bounds
/// are taken in D and M alone, so they do not wait for the sums (a short chain of dependent
/// operations per check), at the price of a looser band when the deviations are far from
/// uniform.
#[derive(Debug, Clone, PartialEq)]
struct ZBounds {
    /// 1 / n.
    inv: f64,
    /// threshold^2, lowered for the rounding of the squared comparison.
    threshold2: f64,
}

/// The scales of a z-score's error terms over a span of n values ([`ZBounds`]), which depend on
/// n alone: the span's moments keep the terms ([`ErrTerms`]) up to date with D and M.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ErrScales {
    /// Mean error: `k_d D + k_m M`.
    k_d: f64,
    k_m: f64,
    /// Variance error: `k_v D^2 + 2 em^2`.
    k_v: f64,
}

/// A z-score's error terms at given D and M ([`ZBounds`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ErrTerms {
    /// Bound on the distance of the running variance to the reference's.
    pub(super) ev: f64,
    /// The part of the numerator's slack that does not depend on the new value.
    pub(super) slack: f64,
}

impl ErrScales {
    /// The scales for a span of `window` values.
    pub fn of(window: usize) -> ErrScales {
        let n = window as f64;
        let p = f64::from(period(window));
        let c1 = n + p * (n + 2.0) / n;
        let c2 = n + 2.0 + p * (n + 4.0) / n;
        // With |b| <= 2D, |mean| <= 2M (generous for rounding): 4 eps (|b| + |mean|) below.
        let (k_d, k_m) = (2.0 * EPS * c1 + 8.0 * EPS, 2.0 * EPS * (n - 1.0) + 8.0 * EPS);
        // k_dd D^2 + k_bd |b| D + k_a (a + b^2) with k_dd = 2 eps c2, k_bd = 4 eps c1,
        // k_a = 2 eps (n + 10), |b| D <= 2 D^2, a + b^2 <= 4 D^2.
        let k_v = 2.0 * EPS * c2 + 8.0 * EPS * c1 + 8.0 * EPS * (n + 10.0);
        ErrScales { k_d, k_m, k_v }
    }

    /// The error terms with deviations bounded by `d` and magnitudes by `big`.
    #[inline]
    pub fn terms(&self, d: f64, big: f64) -> ErrTerms {
        let em = self.k_d * d + self.k_m * big + TINY;
        let ev = self.k_v * d * d + 2.0 * em * em + TINY;
        // With the roundings of v - mean (here and in the reference) and of the reference's
        // z = num / sd, within 8 eps (|v| + M): the |v| part is added per check.
        ErrTerms { ev, slack: em + 8.0 * EPS * big + 2.0 * TINY }
    }
}

impl ZBounds {
    fn new(window: usize, threshold: f64) -> ZBounds {
        ZBounds { inv: 1.0 / window as f64, threshold2: threshold * threshold * (1.0 - 16.0 * EPS) }
    }

    /// For `v` against the values of `m`'s span: the running `v - mean`, a slack that bounds its
    /// distance to the reference's (widened for the reference's division), and a lower bound on
    /// the reference's variance; `None` when the deviation may be 0.
    #[inline(always)]
    fn of(&self, m: MomentsAt, v: f64) -> Option<(f64, f64, f64)> {
        let ErrTerms { ev, slack } = m.terms;
        // Rounding the sum once more than the bound's derivation assumed is covered by its
        // factor of 4.
        let slack = slack + 8.0 * EPS * v.abs();
        let b = m.s1 * self.inv;
        let a = m.s2 * self.inv;
        let var_lo = (a - b * b) - ev;
        if var_lo <= 0.0 || var_lo.is_nan() {
            // The standard deviation may be 0 (not evaluated) or tiny: the reference settles it.
            return None;
        }
        // The reference's sd is at least sqrt(var_lo) (1 - u).
        Some((v - (m.shift + b), slack, var_lo))
    }
}

/// `x >= t`, or unknown (NaN): maybe.
#[inline]
fn may_ge(x: f64, t: f64) -> bool {
    x.partial_cmp(&t).is_none_or(Ordering::is_ge)
}

/// Might `x >= sqrt(bound2)` (`x` not NaN-free, `bound2 > 0`)? Squared: `x > 0` and
/// `x^2 >= bound2`, or unknown.
#[inline]
fn may_exceed(x: f64, bound2: f64) -> bool {
    // `|`, not `||`: the sign of `x` is the sign of the new value's deviation, a coin toss on
    // noisy data, and a branch on it would be mispredicted half the time.
    let surely_not = (x <= 0.0) | (x * x < bound2);
    !surely_not
}

/// Might a change in `[lo, hi]` meet `bound` (> 0) on one of `sides`? (`bound` is `amount`
/// times a divisor: lowered for the rounding of that product.)
#[inline]
fn may_be_directed(sides: Sides, lo: f64, hi: f64, bound: f64) -> bool {
    let bound = bound * (1.0 - 4.0 * EPS);
    may_ge(hi, bound * sides.up) | may_ge(-lo, bound * sides.down)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::MetricWindow;
    use std::sync::Arc;

    /// A stream that drifts over magnitudes and levels (values around 1e6 with noise 1e-3,
    /// around 0 with noise 1, a jump to 1e12 and back), longer than many recomputation periods.
    fn stream() -> Vec<f64> {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..20_000)
            .map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let u = (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
                match (i / 2500) % 4 {
                    0 => 1e6 + 1e-3 * u,
                    1 => u,
                    2 => 1e12 * (1.0 + u),
                    _ => -3.0 + 1e-9 * u + (i as f64 * 1e-3).sin(),
                }
            })
            .collect()
    }

    /// The running estimates stay within their stated bounds of the reference's folds, and the
    /// bounds are tight: the largest error relative to the scale they are written in is tiny.
    #[test]
    fn running_estimates_are_within_their_bounds_of_the_folds() {
        for window in [1, 5, 50, 500] {
            let mut specs = Vec::new();
            let avg = source(&mut specs, Some(Agg::Average), 0, window);
            let z = slot(&mut specs, AggSpec { kind: AggKind::Moments, lag: 1, len: window });
            let zb = ZBounds::new(window, 3.0);
            let specs: Arc<[AggSpec]> = specs.into();
            let mut w = MetricWindow::with_capacity(window + 1);
            w.track(&specs);
            let (mut worst_avg, mut worst_mean, mut worst_var) = (0.0f64, 0.0f64, 0.0f64);
            for (i, &x) in stream().iter().enumerate() {
                w.offer(i as i64, x).unwrap();
                if w.ring.len() <= window {
                    continue;
                }
                let (a, err) = estimate(avg, &Now { aggs: &w.aggs, ring: &w.ring });
                let fold = crate::window::aggregate(Some(Agg::Average), w.ring.last(window));
                assert!((a - fold).abs() <= err, "window {window} at {i}: average {a} vs {fold}, bound {err}");
                worst_avg = worst_avg.max((a - fold).abs() / w.aggs.sum(0).max_abs);
                let before = &w.ring.last(window + 1)[..window];
                let n = window as f64;
                let mean = before.iter().sum::<f64>() / n;
                let var = before.iter().map(|&x| (x - mean) * (x - mean)).sum::<f64>() / n;
                let m = w.aggs.moments(z);
                let run_mean = m.shift + m.s1() * zb.inv;
                let run_var = m.s2() * zb.inv - (m.s1() * zb.inv).powi(2);
                worst_mean = worst_mean.max((run_mean - mean).abs() / m.max_abs.max(f64::MIN_POSITIVE));
                if let Some((num, slack, var_lo)) = zb.of(m.at(), x) {
                    let v = w.ring.at(0);
                    assert!(((v - mean) - num).abs() <= slack, "window {window} at {i}: numerator");
                    assert!(var_lo <= var, "window {window} at {i}: variance {var} below {var_lo}");
                    worst_var = worst_var.max((run_var - var).abs() / var);
                }
            }
            // Relative to max|x| for means, to the variance itself for variances.
            assert!(worst_avg < 1e-12 && worst_mean < 1e-12, "window {window}: {worst_avg:e} {worst_mean:e}");
            assert!(worst_var < 1e-6, "window {window}: {worst_var:e}");
        }
    }
}
