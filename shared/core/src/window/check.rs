//! Checking a metric condition against the latest values of a window (SPEC section 5).

use crate::model::condition::{Agg, Change, ChangeDir, ChangeType, Cmp, MetricCondition, Threshold, ZScore};

/// What a condition saw when it held. Serialized as the fields a fire shows (`value`; `prior`,
/// `current`, `change`; `value`, `mean`, `stddev`, `zscore`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum Observed {
    /// The aggregate of the window.
    Threshold {
        /// The aggregate (or the latest value, with no aggregation) compared with the threshold.
        value: f64,
    },
    /// The two aggregates and their difference (relative: a fraction of |prior|).
    Change {
        /// The aggregate of the earlier (prior) window.
        prior: f64,
        /// The aggregate of the current window, the latest values.
        current: f64,
        /// `current - prior`, or for a relative change that divided by |prior|; shown as `change`.
        #[serde(rename = "change")]
        delta: f64,
    },
    /// The new value against the window before it.
    ZScore {
        /// The new value.
        value: f64,
        /// The mean of the window before it.
        mean: f64,
        /// The population standard deviation of that window (never 0).
        stddev: f64,
        /// `(value - mean) / stddev`; shown as `zscore`.
        #[serde(rename = "zscore")]
        z: f64,
    },
}

/// Aggregate a non-empty slice. A plain left-to-right fold, so the result depends only on the
/// values and their order (the property tests recompute it the same way).
#[inline]
pub fn aggregate(agg: Option<Agg>, values: &[f64]) -> f64 {
    match agg {
        None => values[values.len() - 1],
        Some(Agg::Max) => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Some(Agg::Min) => values.iter().copied().fold(f64::INFINITY, f64::min),
        Some(Agg::Average) => values.iter().sum::<f64>() / values.len() as f64,
    }
}

fn compare(cmp: Cmp, a: f64, b: f64) -> bool {
    match cmp {
        Cmp::Gt => a > b,
        Cmp::Gte => a >= b,
        Cmp::Lt => a < b,
        Cmp::Lte => a <= b,
        Cmp::Eq => a == b,
        Cmp::Ne => a != b,
    }
}

fn directed(dir: ChangeDir, d: f64, amount: f64) -> bool {
    match dir {
        ChangeDir::Increase => d >= amount,
        ChangeDir::Decrease => -d >= amount,
        ChangeDir::Any => d.abs() >= amount,
    }
}

impl MetricCondition {
    /// Check the condition after a new value. `latest` holds the latest values, oldest first
    /// (at least `needed()` of them when available; fewer means the condition is not evaluated
    /// yet). Returns what was observed when the condition holds.
    #[inline]
    pub fn check(&self, latest: &[f64]) -> Option<Observed> {
        let n = self.needed();
        if latest.len() < n {
            return None;
        }
        let window = &latest[latest.len() - n..];
        match self {
            MetricCondition::Threshold(t) => check_threshold(t, window),
            MetricCondition::Change(c) => check_change(c, window),
            MetricCondition::ZScore(z) => check_zscore(z, window),
        }
    }
}

fn check_threshold(t: &Threshold, window: &[f64]) -> Option<Observed> {
    let value = aggregate(t.agg, window);
    compare(t.cmp, value, t.threshold).then_some(Observed::Threshold { value })
}

fn check_change(c: &Change, window: &[f64]) -> Option<Observed> {
    let (prior_w, current_w) = window.split_at(c.prior_window);
    let prior = aggregate(c.agg, prior_w);
    let current = aggregate(c.agg, current_w);
    let delta = match c.change_type {
        ChangeType::Absolute => current - prior,
        // A relative change from 0 has no meaning: not evaluated.
        ChangeType::Relative if prior == 0.0 => return None,
        ChangeType::Relative => (current - prior) / prior.abs(),
    };
    directed(c.change_dir, delta, c.amount).then_some(Observed::Change { prior, current, delta })
}

fn check_zscore(z: &ZScore, window: &[f64]) -> Option<Observed> {
    let (before, new) = window.split_at(z.window);
    let value = new[0];
    // Equality, not a tiny computed deviation: a constant learning rate must never fire.
    if before.iter().all(|&x| x == before[0]) {
        return None;
    }
    let n = before.len() as f64;
    let mean = before.iter().sum::<f64>() / n;
    let var = before.iter().map(|&x| (x - mean) * (x - mean)).sum::<f64>() / n;
    let stddev = var.sqrt();
    if stddev == 0.0 || !stddev.is_finite() {
        return None;
    }
    let score = (value - mean) / stddev;
    directed(z.change_dir, score, z.threshold).then_some(Observed::ZScore { value, mean, stddev, z: score })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn threshold(agg: Option<Agg>, window: usize, cmp: Cmp, threshold: f64) -> MetricCondition {
        MetricCondition::Threshold(Threshold {
            name: "m".into(),
            agg,
            window: if agg.is_none() { 1 } else { window },
            cmp,
            threshold,
        })
    }

    fn change(
        agg: Option<Agg>,
        cur: usize,
        prior: usize,
        ty: ChangeType,
        dir: ChangeDir,
        amount: f64,
    ) -> MetricCondition {
        MetricCondition::Change(Change {
            name: "m".into(),
            agg,
            current_window: cur,
            prior_window: prior,
            change_type: ty,
            change_dir: dir,
            amount,
        })
    }

    fn zscore(window: usize, threshold: f64, dir: ChangeDir) -> MetricCondition {
        MetricCondition::ZScore(ZScore { name: "m".into(), window, threshold, change_dir: dir })
    }

    #[test]
    fn threshold_waits_for_a_full_window_then_aggregates() {
        let c = threshold(Some(Agg::Average), 3, Cmp::Gt, 2.0);
        assert_eq!(c.check(&[9.0, 9.0]), None, "not evaluated before the window is full");
        assert_eq!(c.check(&[0.0, 2.0, 3.0, 4.0]), Some(Observed::Threshold { value: 3.0 }));
        assert_eq!(c.check(&[2.0, 2.0, 2.0]), None, "$gt is strict");
        let c = threshold(Some(Agg::Max), 2, Cmp::Lte, 1.0);
        assert_eq!(c.check(&[5.0, 1.0, 0.5]), Some(Observed::Threshold { value: 1.0 }));
        let c = threshold(Some(Agg::Min), 2, Cmp::Lt, 1.0);
        assert_eq!(c.check(&[0.0, 1.0, 2.0]), None);
    }

    #[test]
    fn threshold_without_agg_reads_the_last_value() {
        let c = threshold(None, 5, Cmp::Eq, 1.5);
        assert_eq!(c.check(&[1.5]), Some(Observed::Threshold { value: 1.5 }));
        assert_eq!(c.check(&[1.5, 2.0]), None);
        let c = threshold(None, 5, Cmp::Ne, 1.5);
        assert!(c.check(&[2.0]).is_some());
        let c = threshold(None, 5, Cmp::Gte, 1.5);
        assert!(c.check(&[1.5]).is_some());
    }

    #[test]
    fn change_compares_adjacent_windows() {
        // prior [1,1] avg 1, current [2] avg 2: +100%.
        let c = change(Some(Agg::Average), 1, 2, ChangeType::Relative, ChangeDir::Increase, 1.0);
        assert_eq!(c.check(&[1.0, 1.0, 2.0]), Some(Observed::Change { prior: 1.0, current: 2.0, delta: 1.0 }));
        assert_eq!(c.check(&[1.0, 2.0]), None, "both windows must be full");
        let c = change(Some(Agg::Average), 1, 2, ChangeType::Relative, ChangeDir::Increase, 1.01);
        assert_eq!(c.check(&[1.0, 1.0, 2.0]), None);
        // Relative to |prior|: from -2 to -1 is +50%.
        let c = change(None, 1, 1, ChangeType::Relative, ChangeDir::Increase, 0.5);
        assert!(c.check(&[-2.0, -1.0]).is_some());
        let c = change(None, 1, 1, ChangeType::Relative, ChangeDir::Any, 0.1);
        assert_eq!(c.check(&[0.0, 5.0]), None, "prior 0 is not evaluated");
        let c = change(None, 1, 1, ChangeType::Absolute, ChangeDir::Decrease, 1.5);
        assert!(c.check(&[3.0, 1.5]).is_some());
        assert!(c.check(&[3.0, 1.6]).is_none());
        assert!(c.check(&[1.5, 3.0]).is_none(), "an increase is not a decrease");
        let c = change(None, 1, 1, ChangeType::Absolute, ChangeDir::Any, 1.5);
        assert!(c.check(&[1.5, 3.0]).is_some());
        assert!(c.check(&[3.0, 1.5]).is_some());
    }

    #[test]
    fn change_windows_do_not_overlap() {
        // prior = MAX of [5, 1], current = MAX of [1, 1]: a decrease of 4.
        let c = change(Some(Agg::Max), 2, 2, ChangeType::Absolute, ChangeDir::Decrease, 4.0);
        assert_eq!(c.check(&[5.0, 1.0, 1.0, 1.0]), Some(Observed::Change { prior: 5.0, current: 1.0, delta: -4.0 }));
    }

    #[test]
    fn zscore_against_the_window_before_the_value() {
        let c = zscore(4, 3.0, ChangeDir::Increase);
        // window [1,3,1,3]: mean 2, population stddev 1.
        assert_eq!(
            c.check(&[1.0, 3.0, 1.0, 3.0, 5.0]),
            Some(Observed::ZScore { value: 5.0, mean: 2.0, stddev: 1.0, z: 3.0 })
        );
        assert_eq!(c.check(&[1.0, 3.0, 1.0, 3.0, 4.9]), None);
        assert_eq!(c.check(&[1.0, 3.0, 1.0, 3.0]), None, "needs window + 1 values");
        let c = zscore(4, 3.0, ChangeDir::Decrease);
        assert!(c.check(&[1.0, 3.0, 1.0, 3.0, -1.0]).is_some());
        assert!(c.check(&[1.0, 3.0, 1.0, 3.0, 5.0]).is_none());
        let c = zscore(4, 3.0, ChangeDir::Any);
        assert!(c.check(&[1.0, 3.0, 1.0, 3.0, -1.0]).is_some());
    }

    #[test]
    fn a_constant_window_never_fires() {
        let c = zscore(30, 0.001, ChangeDir::Any);
        let mut v = vec![0.1; 30];
        v.push(0.1);
        assert_eq!(c.check(&v), None);
        v[30] = 0.2;
        assert_eq!(c.check(&v), None, "stddev 0 is not evaluated, whatever the new value");
    }
}
