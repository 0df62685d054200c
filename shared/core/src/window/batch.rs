//! A window taking a run of values at once: each running aggregate steps through all of them in
//! its own loop and records its state after each value (its column), then each watch reads the
//! columns.
//!
//! Value by value, every value paid for a pass over every aggregate and every watch of its
//! window, with their bookkeeping, five to six hundred instructions a value. Aggregates of one
//! window share no state, so stepping one through the whole batch and then the next performs
//! exactly the same floating-point operations in the same order for each: the columns hold,
//! bit for bit, what the aggregates held value by value, and a watch reading them answers as it
//! would have then. Only the order of the loops changes.
//!
//! Taken only when the window is in the steady state: its aggregates in step with a full ring
//! whose capacity every span fits. Filling windows and rebuilt ones take values one at a time.

use super::ring::Ring;
use super::running::{Aggregates, Sliding, Tracked, span};
use super::sums::MomentsAt;
use super::watch::{View, Watch};

/// What a batch recorded: the values it saw and each aggregate's state after each value.
/// Reused from batch to batch (the engine keeps one per envelope), so its vectors grow once.
#[derive(Debug, Default)]
pub struct Columns {
    /// The batch's length.
    k: usize,
    /// The ring's values before the batch, then the batch's values: the window after value `i`
    /// of the batch is the `held` values ending at `held + i`.
    buf: Vec<f64>,
    /// How many values the ring held (its capacity: it was full).
    held: usize,
    /// The ring's push count before the batch.
    pushes: u64,
    /// Per sum (slot-major, `slot * k + i`): the running sum and its largest magnitude.
    sums: Vec<(f64, f64)>,
    /// Per extremum: its value.
    extrema: Vec<f64>,
    /// Per reach: the push number of the newest value that reached its bound.
    reaches: Vec<u64>,
    /// Per z-score's moments: what its check reads.
    moments: Vec<MomentsAt>,
    /// Per value: the run of equal values ending just before it.
    prev_run: Vec<usize>,
}

impl Columns {
    /// How many values the last batch took.
    pub fn len(&self) -> usize {
        self.k
    }

    /// Did the last batch take no value?
    pub fn is_empty(&self) -> bool {
        self.k == 0
    }

    /// `maybe(i)` for each value `i` of the batch after which
    /// [`super::MetricWindow::might_hold`] would have answered yes, in order, for a watch of the
    /// batch's window.
    #[inline]
    pub fn scan(&self, watch: &Watch, maybe: impl FnMut(usize)) {
        watch.scan(self.k, |i| self.at(i), maybe);
    }

    /// The window as it stood after value `i` of the batch (`i < len()`).
    #[inline]
    pub(super) fn at(&self, i: usize) -> At<'_> {
        debug_assert!(i < self.k);
        At { c: self, i }
    }

    /// The latest `n` values of the window (at most its capacity) as it stood after value `i`.
    #[inline]
    pub fn last(&self, i: usize, n: usize) -> &[f64] {
        let end = self.held + i + 1;
        &self.buf[end - n.min(self.held)..end]
    }
}

/// A [`Columns`] read at one value of its batch.
#[derive(Clone, Copy)]
pub(super) struct At<'a> {
    c: &'a Columns,
    i: usize,
}

impl View for At<'_> {
    #[inline(always)]
    fn len(&self) -> usize {
        self.c.held
    }
    #[inline(always)]
    fn pushes(&self) -> u64 {
        self.c.pushes + self.i as u64 + 1
    }
    #[inline(always)]
    fn value(&self, lag: usize) -> f64 {
        self.c.buf[self.c.held + self.i - lag]
    }
    #[inline(always)]
    fn sum(&self, slot: usize) -> (f64, f64) {
        self.c.sums[slot * self.c.k + self.i]
    }
    #[inline(always)]
    fn extremum(&self, slot: usize) -> f64 {
        self.c.extrema[slot * self.c.k + self.i]
    }
    #[inline(always)]
    fn reach_last(&self, slot: usize) -> u64 {
        self.c.reaches[slot * self.c.k + self.i]
    }
    #[inline(always)]
    fn moments(&self, slot: usize) -> MomentsAt {
        self.c.moments[slot * self.c.k + self.i]
    }
    #[inline(always)]
    fn equal_run_before_newest(&self) -> usize {
        self.c.prev_run[self.i]
    }
}

/// The first `n` slots of `v`, grown if it has fewer (each batch overwrites every slot it
/// reads, so nothing is cleared).
fn sized<T: Copy + Default>(v: &mut Vec<T>, n: usize) -> &mut [T] {
    if v.len() < n {
        v.resize(n, T::default());
    }
    &mut v[..n]
}

impl Aggregates {
    /// Can [`Aggregates::push_batch`] take values pushed onto `ring`?
    #[inline]
    pub(super) fn batches(&self, ring: &Ring) -> bool {
        self.fits && ring.capacity() > 0 && ring.len() == ring.capacity() && self.in_step(ring)
    }

    /// Push `values` onto `ring`, as [`Aggregates::push`] would one by one, recording each
    /// aggregate's state after each value in `cols`. Only when [`Aggregates::batches`].
    pub(super) fn push_batch(&mut self, ring: &mut Ring, values: &[f64], cols: &mut Columns) {
        debug_assert!(self.batches(ring));
        let k = values.len();
        cols.k = k;
        if k == 0 {
            return;
        }
        let old = ring.values();
        let n = old.len();
        cols.held = n;
        cols.pushes = ring.pushes();
        cols.buf.clear();
        cols.buf.extend_from_slice(old);
        cols.buf.extend_from_slice(values);
        let buf = &cols.buf[..];
        let p0 = ring.pushes();
        // Value `i` is `buf[n + i]`; before it, the ring holds `buf[i..n + i]`, so the value `j`
        // back from the newest before the push is `buf[n + i - 1 - j]`, and every span fits
        // (`lag + len <= n`): nothing here is out of the buffer.
        let sums = sized(&mut cols.sums, self.sums.len() * k);
        slide_batch(&mut self.sums, buf, n, p0, sums);
        let moments = sized(&mut cols.moments, self.moments.len() * k);
        slide_batch(&mut self.moments, buf, n, p0, moments);
        let extrema = sized(&mut cols.extrema, self.extrema.len() * k);
        for (t, col) in self.extrema.iter_mut().zip(extrema.chunks_exact_mut(k)) {
            let (lag, len) = (t.lag, t.len);
            for (i, (slot, &x)) in col.iter_mut().zip(&buf[n - lag..][..k]).enumerate() {
                // The block just completed is the span as it stands before the push.
                t.state.enter(x, || &buf[n + i - lag - len..n + i - lag]);
                *slot = t.state.value();
            }
        }
        let reaches = sized(&mut cols.reaches, self.reaches.len() * k);
        for (r, col) in self.reaches.iter_mut().zip(reaches.chunks_exact_mut(k)) {
            for (i, (slot, &v)) in col.iter_mut().zip(values).enumerate() {
                r.last = if r.reaches(v) { p0 + i as u64 + 1 } else { r.last };
                *slot = r.last;
            }
        }
        let prev_run = sized(&mut cols.prev_run, k);
        for (slot, pair) in prev_run.iter_mut().zip(buf[n - 1..].windows(2)) {
            self.prev_run = self.run;
            self.run = if pair[0] == pair[1] { self.run.saturating_add(1) } else { 1 };
            *slot = self.prev_run;
        }
        ring.extend(values);
        self.synced.1 = ring.pushes();
        self.next_due = self.earliest_due();
        debug_assert!(span(ring.values(), 0, n) == &buf[k..]);
    }
}

/// Step each sliding aggregate of `ts` through the batch in `buf` (the ring's `n` values, then
/// the batch's, pushed after push number `p0`), recording it after each value: `out` holds one
/// column of the batch's length per aggregate.
fn slide_batch<T: Sliding>(ts: &mut [Tracked<T>], buf: &[f64], n: usize, p0: u64, out: &mut [T::Record]) {
    let k = buf.len() - n;
    for (t, col) in ts.iter_mut().zip(out.chunks_exact_mut(k)) {
        // Every span fits the full ring (`lag + len <= n`): its entering values are
        // `buf[n - lag..][..k]`, its leaving ones `buf[n - lag - len..][..k]`.
        let ins = &buf[n - t.lag..][..k];
        let outs = &buf[n - t.lag - t.len..][..k];
        for (i, ((slot, &x), &out)) in col.iter_mut().zip(ins).zip(outs).enumerate() {
            t.state.shift(x, out);
            let pushes = p0 + i as u64 + 1;
            if pushes >= t.due_at {
                t.recompute(&buf[..n + i + 1], pushes);
            }
            *slot = t.state.record();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::condition::{Agg, Change, ChangeDir, ChangeType, Cmp, MetricCondition, Threshold, ZScore};
    use crate::window::watch::Now;
    use crate::window::{AggSpec, MetricWindow};
    use std::sync::Arc;

    /// Every aggregate a batch records reads, bit for bit, as the window taking the same values
    /// one by one reads after each: sums, extrema, reaches, moments, runs of equal values.
    #[test]
    fn columns_read_as_the_window_did_after_each_value() {
        let name = || "m".to_string();
        let conditions = [
            MetricCondition::Threshold(Threshold {
                name: name(),
                agg: Some(Agg::Average),
                window: 40,
                cmp: Cmp::Gt,
                threshold: 0.5,
            }),
            MetricCondition::Threshold(Threshold {
                name: name(),
                agg: Some(Agg::Max),
                window: 9,
                cmp: Cmp::Gte,
                threshold: 0.9,
            }),
            MetricCondition::Threshold(Threshold {
                name: name(),
                agg: Some(Agg::Min),
                window: 3,
                cmp: Cmp::Eq,
                threshold: 0.0,
            }),
            MetricCondition::Change(Change {
                name: name(),
                agg: Some(Agg::Max),
                current_window: 7,
                prior_window: 12,
                change_type: ChangeType::Relative,
                change_dir: ChangeDir::Any,
                amount: 0.3,
            }),
            MetricCondition::ZScore(ZScore { name: name(), window: 25, threshold: 3.0, change_dir: ChangeDir::Any }),
        ];
        let mut specs = Vec::new();
        for c in &conditions {
            Watch::new(c, &mut specs);
        }
        let specs: Arc<[AggSpec]> = specs.into();
        let count = |family: usize| specs.iter().filter(|s| s.kind.family() == family).count();
        let cap = conditions.iter().map(MetricCondition::needed).max().unwrap_or(1);
        // Noise with repeats (runs of equal values) and a jump in magnitude, over many periods.
        let xs: Vec<f64> = (0..2000)
            .map(|i: i32| {
                if i % 11 < 3 { 1.0 } else { f64::from((i * 7919) % 1009) / 1009.0 * if i > 1200 { 1e6 } else { 1.0 } }
            })
            .collect();
        let (mut one, mut many) = (MetricWindow::with_capacity(cap), MetricWindow::with_capacity(cap));
        one.track(&specs);
        many.track(&specs);
        let mut cols = Columns::default();
        let mut from = 0;
        for (b, size) in [1usize, 5, 100, 3, 250, 64, 1, 700].iter().cycle().enumerate() {
            let to = (from + size).min(xs.len());
            let mut next = from;
            while next < to && !many.batches() {
                many.offer(next as i64, xs[next]).unwrap();
                one.offer(next as i64, xs[next]).unwrap();
                next += 1;
            }
            if next == to {
                from = to;
                continue;
            }
            for (i, &x) in xs.iter().enumerate().take(to).skip(next) {
                many.admit(i as i64, x).unwrap();
            }
            many.push_batch(&xs[next..to], &mut cols);
            for (i, &x) in xs.iter().enumerate().take(to).skip(next) {
                one.offer(i as i64, x).unwrap();
                let (now, at) = (Now { aggs: &one.aggs, ring: &one.ring }, cols.at(i - next));
                let bits = |v: &dyn View| {
                    let mut out = vec![v.len() as u64, v.pushes(), v.equal_run_before_newest() as u64];
                    out.extend((0..cap).map(|lag| v.value(lag).to_bits()));
                    for slot in 0..count(0) {
                        let (sum, max_abs) = v.sum(slot);
                        out.extend([sum.to_bits(), max_abs.to_bits()]);
                    }
                    out.extend((0..count(1)).map(|slot| v.extremum(slot).to_bits()));
                    for slot in 0..count(2) {
                        let m = v.moments(slot);
                        out.extend([m.shift, m.s1, m.s2, m.terms.ev, m.terms.slack].map(f64::to_bits));
                    }
                    out.extend((0..count(3)).map(|slot| v.reach_last(slot)));
                    out
                };
                assert_eq!(bits(&at), bits(&now), "after value {i} (batch {b})");
                assert_eq!(cols.last(i - next, cap), one.ring.last(cap));
            }
            from = to;
            if from == xs.len() {
                break;
            }
        }
        assert!(count(0) > 0 && count(1) > 0 && count(2) > 0 && count(3) > 0, "every family is checked");
        assert_eq!(format!("{many:?}"), format!("{one:?}"));
    }
}
