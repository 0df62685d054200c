//! The maximum (or minimum) of a sliding span in O(1) amortised per value: a monotonic deque of
//! the values that may still become the extremum, each with its position in the ring's push
//! order. Exact: it returns one of the span's values, never a computed one.

use std::collections::VecDeque;

#[derive(Debug, Clone, Default)]
pub struct Extremum {
    /// Candidates, oldest first; values strictly decreasing (for a maximum) from the front.
    /// Grown on demand: on noisy data it holds a handful of values, not the whole span.
    deque: VecDeque<(u64, f64)>,
    /// Track the minimum rather than the maximum.
    min: bool,
}

impl Extremum {
    pub fn new(min: bool) -> Extremum {
        Extremum { deque: VecDeque::new(), min }
    }

    /// `x`, pushed as value number `pos`, enters a span of `len` values.
    #[inline]
    pub fn enter(&mut self, pos: u64, x: f64, len: usize) {
        // A value no better than the newcomer can never be the extremum again.
        while let Some(&(_, back)) = self.deque.back() {
            if if self.min { back >= x } else { back <= x } {
                self.deque.pop_back();
            } else {
                break;
            }
        }
        self.deque.push_back((pos, x));
        while let Some(&(front, _)) = self.deque.front() {
            if front + len as u64 <= pos {
                self.deque.pop_front();
            } else {
                break;
            }
        }
    }

    /// Refill from the span's values, oldest first; the newest of them is number `newest`.
    pub fn recompute(&mut self, values: &[f64], newest: u64, len: usize) {
        self.deque.clear();
        let first = (newest + 1).saturating_sub(values.len() as u64);
        for (i, &x) in values.iter().enumerate() {
            self.enter(first + i as u64, x, len);
        }
    }

    /// The extremum of the span; `None` while it is empty.
    #[inline]
    pub fn value(&self) -> Option<f64> {
        self.deque.front().map(|&(_, x)| x)
    }

    pub fn heap_bytes(&self) -> usize {
        self.deque.capacity() * std::mem::size_of::<(u64, f64)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_span() {
        let xs = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0, 0.0, 0.0, -1.0];
        for len in 1..5 {
            let (mut max, mut min) = (Extremum::new(false), Extremum::new(true));
            for (i, &x) in xs.iter().enumerate() {
                max.enter(i as u64, x, len);
                min.enter(i as u64, x, len);
                let span = &xs[(i + 1).saturating_sub(len)..=i];
                assert_eq!(max.value(), Some(span.iter().copied().fold(f64::NEG_INFINITY, f64::max)));
                assert_eq!(min.value(), Some(span.iter().copied().fold(f64::INFINITY, f64::min)));
            }
            let mut again = Extremum::new(false);
            again.recompute(&xs[xs.len() - len..], xs.len() as u64 - 1, len);
            assert_eq!(again.value(), max.value());
        }
    }
}
