//! Per-(run, metric) windows of logged values and the conditions checked over them.

mod check;
mod ring;

pub use check::{Observed, aggregate};
pub use ring::Ring;

/// The window of one metric of one run: the latest finite values and the last step taken.
#[derive(Debug, Clone, Default)]
pub struct MetricWindow {
    /// The last step whose value was taken; values at this step or earlier are duplicates.
    pub last_step: Option<i64>,
    pub ring: Ring,
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
    pub fn with_capacity(cap: usize) -> MetricWindow {
        MetricWindow { last_step: None, ring: Ring::with_capacity(cap) }
    }

    /// Take a value logged at `step`, unless it is a duplicate or not finite.
    #[inline]
    pub fn offer(&mut self, step: i64, value: f64) -> Result<(), Skip> {
        if self.last_step.is_some_and(|last| step <= last) {
            return Err(Skip::OldStep);
        }
        if !value.is_finite() {
            return Err(Skip::NonFinite);
        }
        self.last_step = Some(step);
        self.ring.push(value);
        Ok(())
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
