//! Running aggregates of a metric window: derived state, never stored.
//!
//! A window is shared by every automation watching its (run, metric); each distinct
//! (kind, span) they read gets one running aggregate, updated in O(1) as values are pushed. They
//! are rebuilt from the ring (O(window), once) whenever they are not known to be in step with it:
//! after a record is loaded, after a resize, or when the plan of aggregates changes.

use super::extremum::Extremum;
use super::ring::Ring;
use super::sums::{SlidingMoments, SlidingSum, period, span};
use std::sync::Arc;

/// What a running aggregate computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggKind {
    Sum,
    Max,
    Min,
    /// Sums of deviations and squared deviations (z-score mean and variance).
    Moments,
}

/// One running aggregate: its kind over the `len` values that end `lag` values back from the
/// newest (lag 0 ends with the newest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AggSpec {
    pub kind: AggKind,
    pub lag: usize,
    pub len: usize,
}

#[derive(Debug, Clone)]
pub enum State {
    Sum(SlidingSum),
    Extremum(Extremum),
    Moments(SlidingMoments),
}

#[derive(Debug, Clone)]
struct Running {
    spec: AggSpec,
    period: u32,
    state: State,
}

impl Running {
    fn new(spec: AggSpec) -> Running {
        let state = match spec.kind {
            AggKind::Sum => State::Sum(SlidingSum::default()),
            AggKind::Max => State::Extremum(Extremum::new(false, spec.len)),
            AggKind::Min => State::Extremum(Extremum::new(true, spec.len)),
            AggKind::Moments => State::Moments(SlidingMoments::default()),
        };
        Running { spec, period: period(spec.len), state }
    }

    fn recompute(&mut self, ring: &Ring) {
        let AggSpec { lag, len, .. } = self.spec;
        let values = span(ring, lag, len);
        match &mut self.state {
            State::Sum(s) => s.recompute(values),
            State::Moments(m) => m.recompute(values),
            State::Extremum(e) => {
                // Blocks are aligned on the count of values that entered the span, as when
                // streaming, so a rebuild gives the state the stream would have.
                let entered = ring.pushes().saturating_sub(lag as u64);
                let in_block = if entered == 0 { 0 } else { ((entered - 1) % len as u64) as usize + 1 };
                e.recompute(values, in_block)
            }
        }
    }

    /// `v` is about to be pushed onto `ring`: take the value entering the span and drop the one
    /// leaving it. Returns whether a recomputation is due.
    #[inline]
    fn step(&mut self, ring: &Ring, v: f64) -> bool {
        let AggSpec { lag, len, .. } = self.spec;
        let old = ring.len();
        // After the push, lag k is what is now lag k - 1.
        let enter = if lag == 0 {
            Some(v)
        } else if old >= lag {
            Some(ring.at(lag - 1))
        } else {
            None
        };
        match &mut self.state {
            State::Sum(s) => s.step(enter, (old >= lag + len).then(|| ring.at(lag + len - 1)), self.period),
            State::Moments(m) => m.step(enter, (old >= lag + len).then(|| ring.at(lag + len - 1)), self.period),
            State::Extremum(e) => {
                if let Some(x) = enter {
                    // The block just completed is the span as it stands before the push.
                    e.enter(x, || span(ring, lag, len));
                }
                false
            }
        }
    }
}

/// The running aggregates of one window, and the length of its latest run of equal values.
#[derive(Debug, Clone, Default)]
pub struct Aggregates {
    specs: Option<Arc<[AggSpec]>>,
    running: Vec<Running>,
    /// `(ring capacity, ring pushes)` when the aggregates were last in step with the ring.
    synced: Option<(usize, u64)>,
    /// How many of the latest values are equal to the newest (an exact count, for the z-score's
    /// "all values equal" test, which must not be a floating-point residue).
    run: usize,
    /// The same count as it stood before the newest value: the run ending at the value before.
    prev_run: usize,
}

impl Aggregates {
    /// Are these aggregates, over `specs`, in step with `ring`?
    #[inline]
    pub fn in_step(&self, ring: &Ring) -> bool {
        self.synced == Some((ring.capacity(), ring.pushes()))
    }

    /// Make the aggregates those of `specs`, in step with `ring`: nothing to do when they are,
    /// else rebuilt from the ring.
    pub fn track(&mut self, ring: &Ring, specs: &Arc<[AggSpec]>) {
        let same = self.specs.as_ref().is_some_and(|s| Arc::ptr_eq(s, specs) || **s == **specs);
        if same && self.in_step(ring) {
            return;
        }
        self.specs = Some(specs.clone());
        self.running = specs.iter().map(|&s| Running::new(s)).collect();
        for r in &mut self.running {
            r.recompute(ring);
        }
        let values = ring.values();
        let trailing = |xs: &[f64]| match xs.last() {
            None => 0,
            Some(&last) => xs.iter().rev().take_while(|&&x| x == last).count(),
        };
        self.run = trailing(values);
        self.prev_run = trailing(&values[..values.len().saturating_sub(1)]);
        self.synced = Some((ring.capacity(), ring.pushes()));
    }

    /// Push `v` onto `ring`, keeping the aggregates in step if they were.
    #[inline]
    pub fn push(&mut self, ring: &mut Ring, v: f64) {
        if !self.in_step(ring) || ring.capacity() == 0 {
            ring.push(v);
            return;
        }
        let mut due = false;
        for r in &mut self.running {
            due |= r.step(ring, v);
        }
        self.prev_run = self.run;
        self.run = if !ring.is_empty() && ring.at(0) == v { self.run.saturating_add(1) } else { 1 };
        ring.push(v);
        self.synced = Some((ring.capacity(), ring.pushes()));
        if due {
            for r in &mut self.running {
                if match &r.state {
                    State::Sum(s) => s.due(r.period),
                    State::Moments(m) => m.due(r.period),
                    State::Extremum(_) => false,
                } {
                    r.recompute(ring);
                }
            }
        }
    }

    /// The state of aggregate `slot` (an index into the specs last tracked).
    #[inline]
    pub fn state(&self, slot: usize) -> &State {
        &self.running[slot].state
    }

    /// The length of the run of equal values ending just before the newest value.
    #[inline]
    pub fn equal_run_before_newest(&self) -> usize {
        self.prev_run
    }

    pub fn heap_bytes(&self) -> usize {
        self.running.capacity() * std::mem::size_of::<Running>()
            + self
                .running
                .iter()
                .map(|r| match &r.state {
                    State::Extremum(e) => e.heap_bytes(),
                    _ => 0,
                })
                .sum::<usize>()
    }
}
