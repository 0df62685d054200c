//! Compensated running sums over a sliding span of a window: the sum (for `AVERAGE`) and the
//! first two moments about a shift (for the z-score's mean and variance).
//!
//! Each is updated in O(1) per value (one value enters, one leaves) and recomputed from the ring
//! every `period` values, so that rounding from values long gone (or of a very different
//! magnitude) cannot pile up. Each also keeps the largest magnitude it has taken since that
//! recomputation: the scale of every error bound in [`super::watch`].

use super::ring::Ring;

/// Values between two exact recomputations of a span of `len` values: at least the span (so the
/// recomputation costs O(1) a value, amortised), and not less than a small floor so that short
/// windows do not recompute all the time.
pub fn period(len: usize) -> u32 {
    len.max(32).min(u32::MAX as usize) as u32
}

/// A compensated sum: the running sum and the rounding it has lost so far, each addition's
/// error recovered exactly by Knuth's TwoSum (branch-free, unlike Compensated's test of which
/// operand is larger, which mispredicts on values that change sign). The result is within
/// 2u|sum| plus a second-order term in the number of operations, where plain summation loses u
/// per operation times the running magnitude.
#[derive(Debug, Clone, Copy, Default)]
pub struct Compensated {
    sum: f64,
    comp: f64,
}

impl Compensated {
    #[inline]
    pub fn add(&mut self, x: f64) {
        let t = self.sum + x;
        let xp = t - self.sum;
        self.comp += (self.sum - (t - xp)) + (x - xp);
        self.sum = t;
    }

    #[inline]
    pub fn value(&self) -> f64 {
        self.sum + self.comp
    }
}

/// The values of the span `lag .. lag + len` back from the newest, oldest first, clipped to what
/// the ring holds.
pub fn span(ring: &Ring, lag: usize, len: usize) -> &[f64] {
    let s = ring.last(lag + len);
    &s[..s.len().saturating_sub(lag)]
}

/// The running sum of a span.
#[derive(Debug, Clone, Default)]
pub struct SlidingSum {
    sum: Compensated,
    /// The largest |x| taken since the last recomputation (of the span then, or entered since).
    pub max_abs: f64,
    since: u32,
}

impl SlidingSum {
    pub fn recompute(&mut self, values: &[f64]) {
        let mut sum = Compensated::default();
        let mut max_abs = 0.0f64;
        for &x in values {
            sum.add(x);
            max_abs = max_abs.max(x.abs());
        }
        *self = SlidingSum { sum, max_abs, since: 0 };
    }

    /// One value enters the span and perhaps one leaves it. True when a recomputation is due.
    #[inline]
    pub fn step(&mut self, enter: Option<f64>, leave: Option<f64>, period: u32) -> bool {
        if let Some(x) = enter {
            self.sum.add(x);
            self.max_abs = self.max_abs.max(x.abs());
        }
        if let Some(x) = leave {
            self.sum.add(-x);
        }
        self.since += 1;
        self.since >= period
    }

    /// Is a recomputation due?
    #[inline]
    pub fn due(&self, period: u32) -> bool {
        self.since >= period
    }

    #[inline]
    pub fn sum(&self) -> f64 {
        self.sum.value()
    }
}

/// The sums of `x - shift` and of `(x - shift)^2` over a span. With the shift near the values
/// (the span's mean at the last recomputation) the variance `s2/n - (s1/n)^2` does not cancel
/// catastrophically the way raw sums of squares do.
#[derive(Debug, Clone, Default)]
pub struct SlidingMoments {
    pub shift: f64,
    s1: Compensated,
    s2: Compensated,
    /// The largest |x| taken since the last recomputation.
    pub max_abs: f64,
    /// The largest |x - shift| taken since the last recomputation.
    pub max_dev: f64,
    since: u32,
}

impl SlidingMoments {
    pub fn recompute(&mut self, values: &[f64]) {
        let shift = if values.is_empty() { 0.0 } else { values.iter().sum::<f64>() / values.len() as f64 };
        // An overflowing mean would poison every deviation: shift by a value of the span instead.
        let shift = if shift.is_finite() { shift } else { values[values.len() - 1] };
        let mut m = SlidingMoments { shift, ..SlidingMoments::default() };
        for &x in values {
            m.take(x);
        }
        *self = m;
    }

    #[inline]
    fn take(&mut self, x: f64) {
        let d = x - self.shift;
        self.s1.add(d);
        self.s2.add(d * d);
        self.max_abs = self.max_abs.max(x.abs());
        self.max_dev = self.max_dev.max(d.abs());
    }

    /// One value enters the span and perhaps one leaves it. True when a recomputation is due.
    #[inline]
    pub fn step(&mut self, enter: Option<f64>, leave: Option<f64>, period: u32) -> bool {
        if let Some(x) = enter {
            self.take(x);
        }
        if let Some(x) = leave {
            let d = x - self.shift;
            self.s1.add(-d);
            self.s2.add(-(d * d));
        }
        self.since += 1;
        self.since >= period
    }

    /// Is a recomputation due?
    #[inline]
    pub fn due(&self, period: u32) -> bool {
        self.since >= period
    }

    /// Sum of deviations from the shift.
    #[inline]
    pub fn s1(&self) -> f64 {
        self.s1.value()
    }

    /// Sum of squared deviations from the shift.
    #[inline]
    pub fn s2(&self) -> f64 {
        self.s2.value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neumaier_keeps_what_plain_summation_loses() {
        let mut n = Compensated::default();
        for x in [1e16, 1.0, -1e16, 1.0] {
            n.add(x);
        }
        assert_eq!(n.value(), 2.0);
    }

    #[test]
    fn sliding_sums_follow_the_span() {
        let mut ring = Ring::with_capacity(4);
        let mut s = SlidingSum::default();
        let mut m = SlidingMoments::default();
        m.recompute(&[]);
        for i in 0..20 {
            let x = f64::from(i) * 0.5;
            // Span lag 0, length 3: x enters, the value 3 back leaves once there is one.
            let leave = (ring.len() >= 3).then(|| ring.at(2));
            s.step(Some(x), leave, u32::MAX);
            m.step(Some(x), leave, u32::MAX);
            ring.push(x);
            let want: f64 = span(&ring, 0, 3).iter().sum();
            assert_eq!(s.sum(), want);
            assert!((m.s1() + m.shift * span(&ring, 0, 3).len() as f64 - want).abs() < 1e-12);
        }
        assert_eq!(span(&ring, 1, 3), &[8.0, 8.5, 9.0]);
        assert_eq!(span(&ring, 2, 5), &[8.0, 8.5]);
    }
}
