//! Per-(run, metric) windows of logged values and the conditions checked over them.

mod batch;
mod check;
mod extremum;
mod ring;
mod running;
mod sums;
mod watch;

pub use batch::Columns;
pub use check::{Observed, aggregate};
pub use ring::Ring;
pub use running::{AggKind, AggSpec};
pub use watch::Watch;

use running::Aggregates;
use std::sync::Arc;

/// The window of one metric of one run: the latest finite values and the last step taken.
///
/// The ring and the last step are the stored state. The running aggregates are derived from the
/// ring and rebuilt whenever they are not known to be in step with it, so change the ring
/// through [`MetricWindow::offer`] and [`MetricWindow::resize`] (a ring changed any other way is
/// detected and costs one rebuild, not a wrong answer).
#[derive(Debug, Clone, Default)]
pub struct MetricWindow {
    /// The last step whose value was taken; values at this step or earlier are duplicates.
    pub last_step: Option<i64>,
    /// The latest finite values taken, oldest first, up to its capacity.
    pub ring: Ring,
    aggs: Aggregates,
}

/// Why a value was not added to a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Its step is not greater than the last one taken: a redelivery or an older row.
    OldStep,
    /// NaN or an infinity.
    NonFinite,
}

impl MetricWindow {
    /// An empty window holding up to `cap` values.
    pub fn with_capacity(cap: usize) -> MetricWindow {
        MetricWindow::new(None, Ring::with_capacity(cap))
    }

    /// A window as stored: its last step and its ring.
    pub fn new(last_step: Option<i64>, ring: Ring) -> MetricWindow {
        MetricWindow { last_step, ring, aggs: Aggregates::default() }
    }

    /// Change the ring's capacity, keeping the latest values that fit.
    pub fn resize(&mut self, cap: usize) {
        self.ring.resize(cap);
    }

    /// Keep the running aggregates `specs` (those the watching automations read), rebuilding
    /// them from the ring unless they are already in step. Call before [`MetricWindow::might_hold`].
    pub fn track(&mut self, specs: &Arc<[AggSpec]>) {
        self.aggs.track(&self.ring, specs);
    }

    /// Might `watch`'s condition hold now? False only when [`crate::model::condition::MetricCondition::check`]
    /// over the latest values would return `None`; when true, that check decides.
    #[inline]
    pub fn might_hold(&self, watch: &Watch) -> bool {
        !self.aggs.in_step(&self.ring) || watch.might_hold(&self.aggs, &self.ring)
    }

    /// Are the running aggregates in step with the ring? When they are (as after
    /// [`MetricWindow::track`] and any number of offers), [`MetricWindow::might_hold_in_step`]
    /// answers as [`MetricWindow::might_hold`] without asking again for each watch.
    #[inline]
    pub fn in_step(&self) -> bool {
        self.aggs.in_step(&self.ring)
    }

    /// [`MetricWindow::might_hold`] for a window known to be [`MetricWindow::in_step`].
    #[inline]
    pub fn might_hold_in_step(&self, watch: &Watch) -> bool {
        debug_assert!(self.in_step());
        watch.might_hold(&self.aggs, &self.ring)
    }

    /// Bytes held on the heap by the ring and the running aggregates.
    pub fn heap_bytes(&self) -> usize {
        self.ring.heap_bytes() + self.aggs.heap_bytes()
    }

    /// Take a value logged at `step`, unless it is a duplicate or not finite.
    #[inline]
    pub fn offer(&mut self, step: i64, value: f64) -> Result<(), Skip> {
        self.admit(step, value)?;
        self.push(value);
        Ok(())
    }

    /// The first half of [`MetricWindow::offer`]: is a value logged at `step` one to take? If
    /// so, its step is now the last one taken, and the value must be [`MetricWindow::push`]ed
    /// (or taken in a batch) before the next is admitted.
    #[inline]
    pub fn admit(&mut self, step: i64, value: f64) -> Result<(), Skip> {
        if self.last_step.is_some_and(|last| step <= last) {
            return Err(Skip::OldStep);
        }
        if !value.is_finite() {
            return Err(Skip::NonFinite);
        }
        self.last_step = Some(step);
        Ok(())
    }

    /// The second half of [`MetricWindow::offer`], answering [`MetricWindow::in_step`] after it:
    /// the push knows, and asking again cost a comparison of the ring's state a value.
    #[inline]
    pub fn push(&mut self, value: f64) -> bool {
        debug_assert!(value.is_finite());
        self.aggs.push(&mut self.ring, value)
    }

    /// Can the window take a batch ([`MetricWindow::push_batch`])? When it is in step and full,
    /// the steady state of a run's windows.
    #[inline]
    pub fn batches(&self) -> bool {
        self.aggs.batches(&self.ring)
    }

    /// Push admitted `values` at once, as [`MetricWindow::push`] one by one, recording in
    /// `cols` what each watch needs to answer [`Columns::might_hold`] after each of
    /// them. Only when [`MetricWindow::batches`]; the window stays in step.
    pub fn push_batch(&mut self, values: &[f64], cols: &mut Columns) {
        assert!(self.batches(), "a batch is taken only by a full window in step");
        self.aggs.push_batch(&mut self.ring, values, cols);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_old_steps_and_non_finite_values() {
        let mut w = MetricWindow::with_capacity(3);
        assert_eq!(w.offer(5, 1.0), Ok(()));
        assert_eq!(w.offer(5, 2.0), Err(Skip::OldStep));
        assert_eq!(w.offer(4, 2.0), Err(Skip::OldStep));
        assert_eq!(w.offer(6, f64::NAN), Err(Skip::NonFinite));
        assert_eq!(w.offer(6, f64::INFINITY), Err(Skip::NonFinite));
        // A skipped NaN does not take its step: a finite value at that step is still new.
        assert_eq!(w.offer(6, 3.0), Ok(()));
        assert_eq!(w.ring.values(), &[1.0, 3.0]);
        assert_eq!(w.last_step, Some(6));
    }
}
