//! Running sums over a sliding span of a window: the sum (for `AVERAGE`) and the first two
//! moments about a shift (for the z-score's mean and variance).
//!
//! Each is updated in O(1) per value (one value enters, one leaves) and recomputed exactly from
//! the ring every `period` values, so that rounding from values long gone (or of a very
//! different magnitude) cannot pile up. Each keeps the largest magnitude it has taken since that
//! recomputation: with the period, the scale of the error bounds in [`super::watch`], which are
//! rigorous for plain floating-point sums. Compensated (TwoSum) sums were tried first: they cost
//! three times the instructions, and since every condition that may hold is settled by the
//! reference fold anyway, a tighter bound would only spare a reference check on values within
//! about 1e-12 of a boundary.

use super::watch::{ErrScales, ErrTerms};

/// Values between two exact recomputations of a span of `len` values: twice the span (so the
/// recomputation costs O(1) a value, amortised: half a pass over the span per value), and not
/// less than a floor so that short windows do not recompute all the time.
pub fn period(len: usize) -> u32 {
    (2 * len).max(64).min(u32::MAX as usize) as u32
}

/// The larger of two values that are not NaN (window values never are): one instruction,
/// where `f64::max` spends three on NaN semantics.
#[inline(always)]
pub fn fmax(a: f64, b: f64) -> f64 {
    if a > b { a } else { b }
}

/// The running sum of a span.
#[derive(Debug, Clone, Default)]
pub struct SlidingSum {
    sum: f64,
    /// The largest |x| taken since the last recomputation (of the span then, or entered since).
    pub max_abs: f64,
}

impl SlidingSum {
    pub fn recompute(&mut self, values: &[f64]) {
        let mut sum = 0.0;
        let mut max_abs = 0.0f64;
        for &x in values {
            sum += x;
            max_abs = fmax(max_abs, x.abs());
        }
        *self = SlidingSum { sum, max_abs };
    }

    /// `x` enters the span (while it fills).
    #[inline]
    pub fn enter(&mut self, x: f64) {
        self.sum += x;
        self.max_abs = fmax(self.max_abs, x.abs());
    }

    /// `x` enters the span and `out` leaves it.
    #[inline]
    pub fn shift(&mut self, x: f64, out: f64) {
        self.sum += x - out;
        self.max_abs = fmax(self.max_abs, x.abs());
    }

    #[inline]
    pub fn sum(&self) -> f64 {
        self.sum
    }
}

/// The sums of `x - shift` and of `(x - shift)^2` over a span. With the shift near the values
/// (the span's mean at the last recomputation) the variance `s2/n - (s1/n)^2` does not cancel
/// catastrophically the way raw sums of squares do.
/// What a z-score's check reads of its moments at one point of the stream.
#[derive(Debug, Clone, Copy, Default)]
pub struct MomentsAt {
    pub shift: f64,
    pub s1: f64,
    pub s2: f64,
    pub terms: ErrTerms,
}

#[derive(Debug, Clone, Default)]
pub struct SlidingMoments {
    pub shift: f64,
    s1: f64,
    s2: f64,
    /// The largest |x| taken since the last recomputation.
    pub max_abs: f64,
    /// The largest |x - shift| taken since the last recomputation.
    pub max_dev: f64,
    scales: ErrScales,
    /// The z-score's error terms at `max_dev` and `max_abs` ([`ErrScales::terms`]). They change
    /// only when one of those grows, which is rare once a span is full: kept here, they cost a
    /// check two loads instead of a dozen dependent operations.
    pub terms: ErrTerms,
}

impl SlidingMoments {
    /// Empty moments of a span whose z-score error terms are scaled by `scales`.
    pub fn new(scales: ErrScales) -> SlidingMoments {
        let mut m = SlidingMoments { scales, ..SlidingMoments::default() };
        m.refresh();
        m
    }

    #[inline]
    fn refresh(&mut self) {
        self.terms = self.scales.terms(self.max_dev, self.max_abs);
    }

    /// Recompute from the span's values, shifted by `mean` when it is known (the running mean,
    /// close enough to keep deviations small), else by their mean, computed here.
    pub fn recompute(&mut self, values: &[f64], mean: Option<f64>) {
        let shift = match mean {
            Some(m) => m,
            None if values.is_empty() => 0.0,
            None => values.iter().sum::<f64>() / values.len() as f64,
        };
        // An overflowing mean would poison every deviation: shift by a value of the span instead.
        let shift = if shift.is_finite() || values.is_empty() { shift } else { values[values.len() - 1] };
        let shift = if shift.is_finite() { shift } else { 0.0 };
        let mut m = SlidingMoments { shift, scales: self.scales, ..SlidingMoments::default() };
        for &x in values {
            m.add(x);
        }
        m.refresh();
        *self = m;
    }

    #[inline]
    fn add(&mut self, x: f64) {
        let d = x - self.shift;
        self.s1 += d;
        self.s2 += d * d;
        self.max_abs = fmax(self.max_abs, x.abs());
        self.max_dev = fmax(self.max_dev, d.abs());
    }

    /// `x` enters the span (while it fills).
    #[inline]
    pub fn enter(&mut self, x: f64) {
        self.add(x);
        self.refresh();
    }

    /// `x` enters the span and `out` leaves it.
    #[inline]
    pub fn shift(&mut self, x: f64, out: f64) {
        let d = x - self.shift;
        let e = out - self.shift;
        self.s1 += d - e;
        self.s2 += d * d - e * e;
        let (ax, ad) = (x.abs(), d.abs());
        if ax > self.max_abs || ad > self.max_dev {
            self.max_abs = fmax(self.max_abs, ax);
            self.max_dev = fmax(self.max_dev, ad);
            self.refresh();
        }
    }

    /// Sum of deviations from the shift.
    #[inline]
    pub fn s1(&self) -> f64 {
        self.s1
    }

    #[inline]
    pub fn at(&self) -> MomentsAt {
        MomentsAt { shift: self.shift, s1: self.s1, s2: self.s2, terms: self.terms }
    }

    /// Sum of squared deviations from the shift.
    #[inline]
    pub fn s2(&self) -> f64 {
        self.s2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_sums_follow_the_span() {
        let mut xs: Vec<f64> = Vec::new();
        let mut s = SlidingSum::default();
        let mut m = SlidingMoments::default();
        m.recompute(&[], None);
        for i in 0..20 {
            let x = f64::from(i) * 0.5;
            // A span of the latest 3: x enters, the value 3 back leaves once there is one.
            if xs.len() >= 3 {
                s.shift(x, xs[xs.len() - 3]);
                m.shift(x, xs[xs.len() - 3]);
            } else {
                s.enter(x);
                m.enter(x);
            }
            xs.push(x);
            let last3 = &xs[xs.len().saturating_sub(3)..];
            let want: f64 = last3.iter().sum();
            assert_eq!(s.sum(), want);
            assert_eq!(m.s1() + m.shift * last3.len() as f64, want);
            let mut again = SlidingMoments::default();
            again.recompute(last3, Some(1.25));
            assert_eq!(again.s1() + 1.25 * last3.len() as f64, want);
            assert_eq!(again.s2(), last3.iter().map(|x| (x - 1.25) * (x - 1.25)).sum::<f64>());
        }
    }
}
