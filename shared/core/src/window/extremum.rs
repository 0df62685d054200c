//! The maximum (or minimum) of a sliding span in O(1) per value, branch-free on the data: the
//! van Herk / Gil-Werman scheme. Values entering the span are cut into blocks of `len`; the span
//! is always the tail of the previous block plus the head of the current one, so its extremum is
//! that of the previous block's suffix (computed once per block, O(1) a value amortised) and the
//! current block's running prefix. A monotonic deque would do the same with a data-dependent
//! number of pops per value, which costs branch mispredictions on noisy metrics.
//!
//! Exact: the result is one of the span's values, never a computed one. A minimum is kept as
//! the maximum of the negated values (negation is exact), so there is one code path.

use super::sums::fmax;

#[derive(Debug, Clone)]
pub struct Extremum {
    len: usize,
    /// 1 for a maximum, -1 for a minimum: values are kept multiplied by it.
    sign: f64,
    /// `suffix[i]`: maximum of the previous block's (signed) values `i..len`; `suffix[len]` is
    /// -infinity (no values), so the lookup below needs no branch.
    suffix: Box<[f64]>,
    /// Maximum of the current block's (signed) values so far.
    prefix: f64,
    /// How many values of the current block have entered (1..=len once one has).
    in_block: usize,
}

impl Extremum {
    pub fn new(min: bool, len: usize) -> Extremum {
        let sign = if min { -1.0 } else { 1.0 };
        Extremum {
            len,
            sign,
            suffix: vec![f64::NEG_INFINITY; len + 1].into_boxed_slice(),
            prefix: f64::NEG_INFINITY,
            in_block: len,
        }
    }

    /// `x` enters the span. When it starts a new block, `block` gives the values of the block
    /// just completed, oldest first (they are still in the ring).
    #[inline]
    pub fn enter<'a>(&mut self, x: f64, block: impl FnOnce() -> &'a [f64]) {
        if self.in_block == self.len {
            self.complete(block());
            self.prefix = self.sign * x;
            self.in_block = 1;
        } else {
            self.prefix = fmax(self.prefix, self.sign * x);
            self.in_block += 1;
        }
    }

    /// The previous block is now `values` (its last `values.len()` values; fewer than `len`
    /// while the span fills, or after a rebuild that only needs the tail).
    fn complete(&mut self, values: &[f64]) {
        let n = values.len().min(self.len);
        let values = &values[values.len() - n..];
        let skip = self.len - n;
        let (empty, suffix) = self.suffix[..self.len].split_at_mut(skip);
        // One pass from the newest back, zipped so there is no index to check: this runs once
        // per block, a value's worth of work per value, and was a tenth of the evaluator's time
        // with a branch and two bounds checks per element.
        let mut acc = f64::NEG_INFINITY;
        let sign = self.sign;
        for (slot, &x) in suffix.iter_mut().zip(values).rev() {
            acc = fmax(acc, sign * x);
            *slot = acc;
        }
        // Slots before the values the block has (while the span fills): the suffix from them
        // on is all of its values.
        empty.fill(acc);
    }

    /// Rebuild from the span's values, oldest first (at most `len`), of which the newest
    /// `in_block` belong to the current block (the position of the newest value decides it).
    pub fn recompute(&mut self, values: &[f64], in_block: usize) {
        let in_block = in_block.min(values.len());
        let (previous, current) = values.split_at(values.len() - in_block);
        self.complete(previous);
        self.prefix = current.iter().fold(f64::NEG_INFINITY, |a, &x| fmax(a, self.sign * x));
        self.in_block = if in_block == 0 { self.len } else { in_block };
    }

    /// The extremum of the span (an infinity while it is empty).
    #[inline]
    pub fn value(&self) -> f64 {
        self.sign * fmax(self.suffix[self.in_block], self.prefix)
    }

    pub fn heap_bytes(&self) -> usize {
        self.suffix.len() * std::mem::size_of::<f64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_span_and_rebuilds_anywhere() {
        let xs = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0, 0.0, 0.0, -1.0, 7.0, 7.0];
        for len in 1..6 {
            let (mut max, mut min) = (Extremum::new(false, len), Extremum::new(true, len));
            for (i, &x) in xs.iter().enumerate() {
                // The block just completed: the `len` values before x (fewer at the start).
                let before = &xs[i.saturating_sub(len)..i];
                max.enter(x, || before);
                min.enter(x, || before);
                let span = &xs[(i + 1).saturating_sub(len)..=i];
                assert_eq!(max.value(), span.iter().copied().fold(f64::NEG_INFINITY, f64::max), "max {len} {i}");
                assert_eq!(min.value(), span.iter().copied().fold(f64::INFINITY, f64::min), "min {len} {i}");
                // A rebuild at this point gives the same state.
                let mut again = Extremum::new(false, len);
                again.recompute(span, i % len + 1);
                assert_eq!(again.value(), max.value());
                let next = xs.get(i + 1).copied().unwrap_or(0.0);
                let (mut a, mut b) = (again.clone(), max.clone());
                let block = &xs[(i + 1).saturating_sub(len)..=i];
                a.enter(next, || block);
                b.enter(next, || block);
                assert_eq!(a.value(), b.value(), "after a rebuild, {len} {i}");
            }
        }
    }
}
