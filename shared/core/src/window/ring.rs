//! A ring buffer of the latest values in which any suffix is one contiguous slice.
//!
//! Every value is written twice, at `i` and `i + cap`, so the last `n` values are always
//! `buf[end - n .. end]`: conditions aggregate over a plain `&[f64]` in step order, with no
//! wrap-around split and no copying. That costs 16 bytes per retained value, which is the
//! budget the engine is held to.

/// The latest `capacity()` finite values of one (run, metric), oldest first.
#[derive(Debug, Clone, Default)]
pub struct Ring {
    buf: Box<[f64]>,
    /// `buf.len() / 2`, kept: every read and push needs it, and a division there was a tenth of
    /// the ring's cost.
    cap: usize,
    /// One past the newest value's mirror, in `cap + 1 ..= 2 cap` (or 0 while `cap` is 0): the
    /// last `n` values are `buf[end - n .. end]` with no branch on the wrap. The next value is
    /// written at `end - cap` (and its mirror at `end`, unless that is past the buffer).
    end: usize,
    len: usize,
    /// Values pushed since the ring was made. Not stored: it numbers values for the running
    /// aggregates (which hold positions, not copies) and tells them whether they are in step.
    pushes: u64,
}

impl Ring {
    /// An empty ring keeping the latest `cap` values (none at all when `cap` is 0).
    pub fn with_capacity(cap: usize) -> Ring {
        Ring { buf: vec![0.0; 2 * cap].into_boxed_slice(), cap, end: 2 * cap, len: 0, pushes: 0 }
    }

    /// How many values the ring keeps at most.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// How many values it holds now (at most its capacity).
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no value.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many values were pushed since the ring was made (counting those that fell out).
    #[inline]
    pub fn pushes(&self) -> u64 {
        self.pushes
    }

    /// Add `v` as the newest value, dropping the oldest when full; a ring of capacity 0 ignores it.
    #[inline]
    pub fn push(&mut self, v: f64) {
        let cap = self.cap;
        if cap == 0 {
            return;
        }
        self.pushes += 1;
        // The slot after the newest, as `end` wraps from `2 cap` back to `cap + 1`.
        let head = if self.end == 2 * cap { 0 } else { self.end - cap };
        self.buf[head] = v;
        self.buf[head + cap] = v;
        self.end = head + cap + 1;
        self.len += usize::from(self.len < cap);
    }

    /// Push `values` in order, as [`Ring::push`] one by one: two copies per wrap of the
    /// buffer instead of two stores and a wrap test a value.
    pub fn extend(&mut self, values: &[f64]) {
        let cap = self.cap;
        if cap == 0 || values.is_empty() {
            return;
        }
        self.pushes += values.len() as u64;
        self.len = (self.len + values.len()).min(cap);
        // Values that the later ones push out are never written, but they take their slots.
        let skip = values.len().saturating_sub(cap);
        let mut head = (if self.end == 2 * cap { 0 } else { self.end - cap } + skip) % cap;
        let mut rest = &values[skip..];
        while !rest.is_empty() {
            let m = rest.len().min(cap - head);
            let (now, later) = rest.split_at(m);
            self.buf[head..head + m].copy_from_slice(now);
            self.buf[head + cap..head + cap + m].copy_from_slice(now);
            head = (head + m) % cap;
            rest = later;
        }
        self.end = if head == 0 { 2 * cap } else { head + cap };
    }

    /// The last `n` values, oldest first. `n` is clamped to `len()`.
    #[inline]
    pub fn last(&self, n: usize) -> &[f64] {
        let n = n.min(self.len);
        &self.buf[self.end - n..self.end]
    }

    /// The value `k` places back from the newest (0 is the newest). `k` must be below `len()`.
    #[inline]
    pub fn at(&self, k: usize) -> f64 {
        debug_assert!(k < self.len);
        self.buf[self.end - 1 - k]
    }

    /// Every retained value, oldest first.
    pub fn values(&self) -> &[f64] {
        self.last(self.len)
    }

    /// A ring of capacity `cap` holding the latest of `values` (given oldest first).
    pub fn from_values(cap: usize, values: &[f64]) -> Ring {
        let mut r = Ring::with_capacity(cap);
        let skip = values.len().saturating_sub(cap);
        for &v in &values[skip..] {
            r.push(v);
        }
        r
    }

    /// Change the capacity, keeping the latest values that fit.
    pub fn resize(&mut self, cap: usize) {
        if cap != self.capacity() {
            *self = Ring::from_values(cap, self.values());
        }
    }

    /// Bytes held on the heap by this ring.
    pub fn heap_bytes(&self) -> usize {
        self.buf.len() * std::mem::size_of::<f64>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_are_contiguous_and_ordered_across_wraps() {
        let mut r = Ring::with_capacity(4);
        let mut all = Vec::new();
        for i in 0..11 {
            r.push(i as f64);
            all.push(i as f64);
            for n in 0..=4 {
                let want: Vec<f64> = all.iter().rev().take(n.min(all.len())).rev().copied().collect();
                assert_eq!(r.last(n), want.as_slice(), "after {i}, last {n}");
            }
        }
        assert_eq!(r.len(), 4);
        assert_eq!(r.values(), &[7.0, 8.0, 9.0, 10.0]);
        assert_eq!((r.at(0), r.at(3)), (10.0, 7.0));
        assert_eq!(r.pushes(), 11);
    }

    #[test]
    fn extending_is_pushing_one_by_one() {
        for cap in [1, 3, 7] {
            for start in 0..12 {
                for take in 0..20 {
                    let (mut a, mut b) = (Ring::with_capacity(cap), Ring::with_capacity(cap));
                    let first: Vec<f64> = (0..start).map(f64::from).collect();
                    let more: Vec<f64> = (100..100 + take).map(f64::from).collect();
                    for &v in first.iter().chain(&more) {
                        a.push(v);
                    }
                    b.extend(&first);
                    b.extend(&more);
                    assert_eq!(
                        (a.values(), a.pushes(), a.len()),
                        (b.values(), b.pushes(), b.len()),
                        "{cap} {start} {take}"
                    );
                    a.push(-1.0);
                    b.push(-1.0);
                    assert_eq!(a.values(), b.values(), "then a push: {cap} {start} {take}");
                }
            }
        }
        Ring::default().extend(&[1.0]);
    }

    #[test]
    fn resize_keeps_the_latest() {
        let mut r = Ring::from_values(3, &[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(r.values(), &[2.0, 3.0, 4.0]);
        r.resize(5);
        r.push(5.0);
        assert_eq!(r.values(), &[2.0, 3.0, 4.0, 5.0]);
        r.resize(2);
        assert_eq!(r.values(), &[4.0, 5.0]);
        assert_eq!(r.heap_bytes(), 32);
    }
}
