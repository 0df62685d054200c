//! Running aggregates of a metric window: derived state, never stored.
//!
//! A window is shared by every automation watching its (run, metric); each distinct
//! (kind, span) they read gets one running aggregate, updated in O(1) as values are pushed. They
//! are rebuilt from the ring (O(window), once) whenever they are not known to be in step with it:
//! after a record is loaded, after a resize, or when the plan of aggregates changes.
//!
//! Aggregates are kept in one vector per kind, so the per-value update is three tight loops
//! with no dispatch; a spec's slot is its index among the specs of its kind.

use super::extremum::Extremum;
use super::ring::Ring;
use super::sums::{MomentsAt, SlidingMoments, SlidingSum, period};
use super::watch::ErrScales;
use std::sync::Arc;

/// What a running aggregate computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggKind {
    /// The sum of the span's values (for averages).
    Sum,
    /// The largest value of the span.
    Max,
    /// The smallest value of the span.
    Min,
    /// Sums of deviations and squared deviations (z-score mean and variance).
    Moments,
    /// When a value last reached a bound (`>=` the bound, or `<=` it for `min`; the bound's
    /// bits, so that specs stay `Eq`): a threshold on a maximum or minimum asks only whether
    /// some value of its window reaches it, which is exact and costs a comparison a value,
    /// where the extremum itself costs a block scan and a prefix.
    Reach {
        /// `true`: a value reaches the bound when `<=` it (a minimum's threshold); `false`: when `>=` it.
        min: bool,
        /// The bound, as its `f64::to_bits`.
        bound: u64,
    },
}

impl AggKind {
    /// Aggregates of the same family share a vector (and a numbering of slots).
    pub(super) fn family(self) -> usize {
        match self {
            AggKind::Sum => 0,
            AggKind::Max | AggKind::Min => 1,
            AggKind::Moments => 2,
            AggKind::Reach { .. } => 3,
        }
    }
}

/// One running aggregate: its kind over the `len` values that end `lag` values back from the
/// newest (lag 0 ends with the newest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AggSpec {
    /// What is computed.
    pub kind: AggKind,
    /// How many of the newest values the span ends before (0: it ends with the newest).
    pub lag: usize,
    /// How many values the span covers.
    pub len: usize,
}

/// The values of the span `lag .. lag + len` back from the newest of `values` (oldest first),
/// clipped to what there is.
#[inline]
pub fn span(values: &[f64], lag: usize, len: usize) -> &[f64] {
    let end = values.len().saturating_sub(lag);
    &values[end.saturating_sub(len)..end]
}

/// Value `k` back from the newest of `values`, if there is one.
#[inline]
fn back(values: &[f64], k: usize) -> Option<f64> {
    values.len().checked_sub(k + 1).map(|i| values[i])
}

#[derive(Debug, Clone)]
pub(super) struct Tracked<T> {
    pub(super) lag: usize,
    pub(super) len: usize,
    period: u32,
    /// The ring's push count at which a sliding sum is next recomputed (unused by extrema).
    pub(super) due_at: u64,
    pub(super) state: T,
}

impl<T> Tracked<T> {
    fn new(spec: AggSpec, state: T, pushes: u64) -> Tracked<T> {
        let period = period(spec.len);
        Tracked { lag: spec.lag, len: spec.len, period, due_at: pushes + u64::from(period), state }
    }

    /// Before `v` is pushed onto a ring holding `old`: the value entering the span (after the
    /// push, lag k is what is now lag k - 1), if any.
    #[inline]
    fn entering(&self, old: &[f64], v: f64) -> Option<f64> {
        if self.lag == 0 { Some(v) } else { back(old, self.lag - 1) }
    }

    /// The value leaving the span as `v` is pushed, if the span was full.
    #[inline]
    fn leaving(&self, old: &[f64]) -> Option<f64> {
        back(old, self.lag + self.len - 1)
    }
}

impl<T: Sliding> Tracked<T> {
    /// Recompute from `values`, the ring after push number `pushes`.
    #[cold]
    pub(super) fn recompute(&mut self, values: &[f64], pushes: u64) {
        self.state.recompute_from(span(values, self.lag, self.len));
        self.due_at = pushes + u64::from(self.period);
    }
}

/// A running sum or moments: one value enters and one may leave, and now and then the whole
/// span is summed again exactly.
pub(super) trait Sliding {
    /// What a batch records of it after each value: what a check reads.
    type Record: Copy + Default;
    fn enter(&mut self, x: f64);
    fn shift(&mut self, x: f64, out: f64);
    /// Recompute exactly from the span's values.
    fn recompute_from(&mut self, span: &[f64]);
    fn record(&self) -> Self::Record;
}

impl Sliding for SlidingSum {
    /// The sum and its largest magnitude.
    type Record = (f64, f64);
    #[inline]
    fn enter(&mut self, x: f64) {
        SlidingSum::enter(self, x)
    }
    #[inline]
    fn shift(&mut self, x: f64, out: f64) {
        SlidingSum::shift(self, x, out)
    }
    fn recompute_from(&mut self, span: &[f64]) {
        self.recompute(span);
    }
    #[inline]
    fn record(&self) -> (f64, f64) {
        (self.sum(), self.max_abs)
    }
}

impl Sliding for SlidingMoments {
    type Record = MomentsAt;
    #[inline]
    fn enter(&mut self, x: f64) {
        SlidingMoments::enter(self, x)
    }
    #[inline]
    fn shift(&mut self, x: f64, out: f64) {
        SlidingMoments::shift(self, x, out)
    }
    fn recompute_from(&mut self, span: &[f64]) {
        // Shift by the running mean: one pass, and the deviations stay small.
        let mean = (!span.is_empty()).then(|| self.shift + self.s1() / span.len() as f64);
        self.recompute(span, mean);
    }
    #[inline]
    fn record(&self) -> MomentsAt {
        self.at()
    }
}

/// Recompute those of `ts` whose period is up at push number `pushes` (`values`: the ring).
fn recompute_due<T: Sliding>(ts: &mut [Tracked<T>], values: &[f64], pushes: u64) {
    for t in ts.iter_mut().filter(|t| pushes >= t.due_at) {
        t.recompute(values, pushes);
    }
}

/// Step every sliding aggregate of `ts` as `v` is pushed onto a full ring holding `old` (so
/// every span is full: one value in, one out).
#[inline]
fn slide_full<T: Sliding>(ts: &mut [Tracked<T>], old: &[f64], v: f64) {
    let n = old.len();
    for t in ts {
        let x = if t.lag == 0 { v } else { old[n - t.lag] };
        t.state.shift(x, old[n - t.lag - t.len]);
    }
}

/// Step every sliding aggregate of `ts` as `v` is pushed onto a ring holding `old` that is
/// still filling (or whose spans may not fit it).
fn slide_filling<T: Sliding>(ts: &mut [Tracked<T>], old: &[f64], v: f64) {
    for t in ts {
        match (t.entering(old, v), t.leaving(old)) {
            (Some(x), Some(out)) => t.state.shift(x, out),
            (Some(x), None) => t.state.enter(x),
            _ => {}
        }
    }
}

/// The push number of the newest value that reached a bound (0: none the ring holds).
#[derive(Debug, Clone, Copy)]
pub struct Reach {
    /// 1, or -1 for a minimum: a value reaches the bound when `sign * x >= sign * bound`.
    sign: f64,
    bound: f64,
    pub last: u64,
}

impl Reach {
    pub(super) fn new(min: bool, bound: f64) -> Reach {
        let sign = if min { -1.0 } else { 1.0 };
        Reach { sign, bound: sign * bound, last: 0 }
    }

    #[inline]
    pub(super) fn reaches(&self, x: f64) -> bool {
        self.sign * x >= self.bound
    }
}

/// A `synced` no ring matches: a ring's buffer holds twice its capacity, so none has this one.
const NEVER: (usize, u64) = (usize::MAX, 0);

/// The running aggregates of one window, and the length of its latest run of equal values.
#[derive(Debug, Clone)]
pub struct Aggregates {
    specs: Option<Arc<[AggSpec]>>,
    pub(super) sums: Vec<Tracked<SlidingSum>>,
    pub(super) extrema: Vec<Tracked<Extremum>>,
    pub(super) moments: Vec<Tracked<SlidingMoments>>,
    pub(super) reaches: Vec<Reach>,
    /// `(ring capacity, ring pushes)` when the aggregates were last in step with the ring;
    /// [`NEVER`] until they were. Not an `Option`: a push then stores one field, not three.
    pub(super) synced: (usize, u64),
    /// The earliest `due_at` of the sliding sums: one comparison a push instead of a counter
    /// per sum.
    pub(super) next_due: u64,
    /// Every span fits in the ring's capacity (the engine sizes rings so): once the ring is
    /// full, every span is, and the update takes its fast path.
    pub(super) fits: bool,
    /// How many of the latest values are equal to the newest (an exact count, for the z-score's
    /// "all values equal" test, which must not be a floating-point residue).
    pub(super) run: usize,
    /// The same count as it stood before the newest value: the run ending at the value before.
    pub(super) prev_run: usize,
}

impl Default for Aggregates {
    fn default() -> Aggregates {
        Aggregates {
            specs: None,
            sums: Vec::new(),
            extrema: Vec::new(),
            moments: Vec::new(),
            reaches: Vec::new(),
            synced: NEVER,
            next_due: 0,
            fits: false,
            run: 0,
            prev_run: 0,
        }
    }
}

impl Aggregates {
    /// Are these aggregates in step with `ring`?
    #[inline]
    pub fn in_step(&self, ring: &Ring) -> bool {
        self.synced == (ring.capacity(), ring.pushes())
    }

    /// Make the aggregates those of `specs`, in step with `ring`: nothing to do when they are,
    /// else rebuilt from the ring.
    pub fn track(&mut self, ring: &Ring, specs: &Arc<[AggSpec]>) {
        let same = self.specs.as_ref().is_some_and(|s| Arc::ptr_eq(s, specs) || **s == **specs);
        if same && self.in_step(ring) {
            return;
        }
        self.specs = Some(specs.clone());
        let values = ring.values();
        // Sized exactly: a window holds these for as long as it lives, and a vector grown by
        // pushes keeps room for four.
        let count = |family: usize| specs.iter().filter(|s| s.kind.family() == family).count();
        let mut fresh = Aggregates {
            specs: Some(specs.clone()),
            sums: Vec::with_capacity(count(0)),
            extrema: Vec::with_capacity(count(1)),
            moments: Vec::with_capacity(count(2)),
            reaches: Vec::with_capacity(count(3)),
            ..Aggregates::default()
        };
        for &spec in specs.iter() {
            let AggSpec { lag, len, .. } = spec;
            let part = span(values, lag, len);
            match spec.kind {
                AggKind::Sum => {
                    let mut s = SlidingSum::default();
                    s.recompute(part);
                    fresh.sums.push(Tracked::new(spec, s, ring.pushes()));
                }
                AggKind::Moments => {
                    let mut m = SlidingMoments::new(ErrScales::of(len));
                    m.recompute(part, None);
                    fresh.moments.push(Tracked::new(spec, m, ring.pushes()));
                }
                AggKind::Reach { min, bound } => {
                    let r = Reach::new(min, f64::from_bits(bound));
                    // The newest value of the ring that reaches the bound (its push number), if
                    // any: older values are out of every span the ring covers.
                    let back = values.iter().rev().position(|&x| r.reaches(x));
                    let last = back.map_or(0, |k| ring.pushes() - k as u64);
                    fresh.reaches.push(Reach { last, ..r });
                }
                AggKind::Max | AggKind::Min => {
                    let mut e = Extremum::new(spec.kind == AggKind::Min, len);
                    // Blocks are aligned on the count of values that entered the span, as when
                    // streaming, so a rebuild gives the state the stream would have.
                    let entered = ring.pushes().saturating_sub(lag as u64);
                    let in_block = if entered == 0 { 0 } else { ((entered - 1) % len as u64) as usize + 1 };
                    e.recompute(part, in_block);
                    fresh.extrema.push(Tracked::new(spec, e, ring.pushes()));
                }
            }
        }
        let trailing = |xs: &[f64]| match xs.last() {
            None => 0,
            Some(&last) => xs.iter().rev().take_while(|&&x| x == last).count(),
        };
        fresh.run = trailing(values);
        fresh.prev_run = trailing(&values[..values.len().saturating_sub(1)]);
        fresh.synced = (ring.capacity(), ring.pushes());
        fresh.next_due = fresh.earliest_due();
        fresh.fits = specs.iter().all(|s| s.lag + s.len <= ring.capacity());
        *self = fresh;
    }

    /// Push `v` onto `ring`, keeping the aggregates in step if they were; whether they are.
    #[inline]
    pub fn push(&mut self, ring: &mut Ring, v: f64) -> bool {
        if !self.in_step(ring) || ring.capacity() == 0 {
            ring.push(v);
            return self.in_step(ring);
        }
        let old = ring.values();
        if self.fits && old.len() == ring.capacity() {
            slide_full(&mut self.sums, old, v);
            slide_full(&mut self.moments, old, v);
            let n = old.len();
            for t in &mut self.extrema {
                let (lag, len) = (t.lag, t.len);
                let x = if lag == 0 { v } else { old[n - lag] };
                // The block just completed is the span as it stands before the push.
                t.state.enter(x, || &old[n - lag - len..n - lag]);
            }
        } else {
            self.push_filling(old, v);
        }
        let pushed = ring.pushes() + 1;
        for r in &mut self.reaches {
            r.last = if r.reaches(v) { pushed } else { r.last };
        }
        self.prev_run = self.run;
        self.run = if old.last() == Some(&v) { self.run.saturating_add(1) } else { 1 };
        ring.push(v);
        let pushes = ring.pushes();
        self.synced.1 = pushes;
        if pushes >= self.next_due {
            self.recompute_due(ring);
        }
        true
    }

    fn push_filling(&mut self, old: &[f64], v: f64) {
        slide_filling(&mut self.sums, old, v);
        slide_filling(&mut self.moments, old, v);
        for t in &mut self.extrema {
            if let Some(x) = t.entering(old, v) {
                let (lag, len) = (t.lag, t.len);
                t.state.enter(x, || span(old, lag, len));
            }
        }
    }

    pub(super) fn earliest_due(&self) -> u64 {
        let sums = self.sums.iter().map(|t| t.due_at);
        sums.chain(self.moments.iter().map(|t| t.due_at)).min().unwrap_or(u64::MAX)
    }

    /// Recompute the sums whose period is up, from the ring (O(span), once per period).
    #[cold]
    fn recompute_due(&mut self, ring: &Ring) {
        let values = ring.values();
        let pushes = ring.pushes();
        recompute_due(&mut self.sums, values, pushes);
        recompute_due(&mut self.moments, values, pushes);
        self.next_due = self.earliest_due();
    }

    #[inline]
    pub fn sum(&self, slot: usize) -> &SlidingSum {
        &self.sums[slot].state
    }

    #[inline]
    pub fn extremum(&self, slot: usize) -> &Extremum {
        &self.extrema[slot].state
    }

    #[inline]
    pub fn reach(&self, slot: usize) -> &Reach {
        &self.reaches[slot]
    }

    #[inline]
    pub fn moments(&self, slot: usize) -> &SlidingMoments {
        &self.moments[slot].state
    }

    /// The length of the run of equal values ending just before the newest value.
    #[inline]
    pub fn equal_run_before_newest(&self) -> usize {
        self.prev_run
    }

    pub fn heap_bytes(&self) -> usize {
        self.sums.capacity() * std::mem::size_of::<Tracked<SlidingSum>>()
            + self.moments.capacity() * std::mem::size_of::<Tracked<SlidingMoments>>()
            + self.extrema.capacity() * std::mem::size_of::<Tracked<Extremum>>()
            + self.reaches.capacity() * std::mem::size_of::<Reach>()
            + self.extrema.iter().map(|t| t.state.heap_bytes()).sum::<usize>()
    }
}
