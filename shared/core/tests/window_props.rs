//! Property tests of the O(1) window pre-check: over streams of values of any magnitude (not
//! the exact quarters of `engine_props`), with conditions whose boundaries sit on or next to the
//! values the window actually takes, `MetricWindow::might_hold` never says no where the
//! reference fold over the window (`MetricCondition::check`) holds, including right after the
//! running aggregates are rebuilt from a stored ring, and it says yes rarely where it does not.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_core::engine::{PlainValues, RunRecord, StoredRecord};
use automations_core::model::condition::{Agg, Change, ChangeDir, ChangeType, Cmp, MetricCondition, Threshold, ZScore};
use automations_core::window::{AggSpec, Columns, MetricWindow, Watch, aggregate};
use proptest::prelude::*;
use std::sync::Arc;

/// A stream regime: values of one magnitude around one level, or exact repeats.
#[derive(Debug, Clone)]
enum Regime {
    /// `level + noise * u`, u uniform in [-1, 1).
    Noisy { level: f64, noise: f64 },
    /// The same value again and again (a constant learning rate).
    Constant(f64),
    /// Two values alternating (a window that is not all equal, stddev exact).
    Alternate(f64, f64),
}

fn magnitude() -> impl Strategy<Value = f64> {
    prop_oneof![Just(1.0), Just(1e-9), Just(1e6), Just(1e15), Just(1e-300), Just(1e300), Just(0.1)]
}

fn regime_s() -> impl Strategy<Value = Regime> {
    prop_oneof![
        6 => (magnitude(), -2.0f64..2.0, magnitude(), 0.0f64..1.0)
            .prop_map(|(m, l, n, f)| Regime::Noisy { level: m * l, noise: n * f * m.min(1.0).max(n) }),
        1 => (magnitude(), -2.0f64..2.0).prop_map(|(m, l)| Regime::Constant(m * l)),
        1 => (magnitude(), -2.0f64..2.0, -2.0f64..2.0).prop_map(|(m, a, b)| Regime::Alternate(m * a, m * b)),
    ]
}

/// A stream: runs of regimes, each some values long.
fn stream_s() -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec((regime_s(), 1usize..120, any::<u64>()), 1..6).prop_map(|parts| {
        let mut out = Vec::new();
        for (regime, n, seed) in parts {
            let mut x = seed | 1;
            for i in 0..n {
                // xorshift: cheap deterministic noise.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let u = (x >> 11) as f64 / (1u64 << 52) as f64 - 1.0;
                let v = match regime {
                    Regime::Noisy { level, noise } => level + noise * u,
                    Regime::Constant(c) => c,
                    Regime::Alternate(a, b) => {
                        if i % 2 == 0 {
                            a
                        } else {
                            b
                        }
                    }
                };
                if v.is_finite() {
                    out.push(v);
                }
            }
        }
        out
    })
}

fn agg_s() -> impl Strategy<Value = Option<Agg>> {
    prop_oneof![Just(None), Just(Some(Agg::Max)), Just(Some(Agg::Min)), Just(Some(Agg::Average))]
}

fn dir_s() -> impl Strategy<Value = ChangeDir> {
    prop_oneof![Just(ChangeDir::Increase), Just(ChangeDir::Decrease), Just(ChangeDir::Any)]
}

fn cmp_s() -> impl Strategy<Value = Cmp> {
    prop_oneof![Just(Cmp::Gt), Just(Cmp::Gte), Just(Cmp::Lt), Just(Cmp::Lte), Just(Cmp::Eq), Just(Cmp::Ne)]
}

fn window_s() -> impl Strategy<Value = usize> {
    prop_oneof![1usize..=8, 9usize..=70]
}

/// A condition shape; its boundary (threshold or amount) is picked from the stream below.
#[derive(Debug, Clone)]
enum Shape {
    Threshold { agg: Option<Agg>, window: usize, cmp: Cmp },
    Change { agg: Option<Agg>, current: usize, prior: usize, relative: bool, dir: ChangeDir },
    ZScore { window: usize, dir: ChangeDir },
}

fn shape_s() -> impl Strategy<Value = Shape> {
    prop_oneof![
        (agg_s(), window_s(), cmp_s()).prop_map(|(agg, window, cmp)| Shape::Threshold { agg, window, cmp }),
        (agg_s(), window_s(), window_s(), any::<bool>(), dir_s())
            .prop_map(|(agg, current, prior, relative, dir)| Shape::Change { agg, current, prior, relative, dir }),
        (window_s(), dir_s()).prop_map(|(window, dir)| Shape::ZScore { window, dir }),
    ]
}

/// Nudge a boundary by a few ulps (or not), to land exactly on, or just beside, a value taken.
fn nudge(x: f64, ulps: i64) -> f64 {
    if x == 0.0 || ulps == 0 {
        return x;
    }
    let bits = x.to_bits() as i64 + ulps;
    f64::from_bits(bits as u64)
}

/// What the reference sees at the end of `xs` for `shape`: the aggregate (threshold), the
/// change (change) or the z-score (z-score), when defined.
fn reference_quantity(shape: &Shape, xs: &[f64]) -> Option<f64> {
    match *shape {
        Shape::Threshold { agg, window, .. } => {
            let n = if agg.is_none() { 1 } else { window };
            (xs.len() >= n).then(|| aggregate(agg, &xs[xs.len() - n..]))
        }
        Shape::Change { agg, current, prior, relative, .. } => {
            let (c, p) = if agg.is_none() { (1, 1) } else { (current, prior) };
            if xs.len() < c + p {
                return None;
            }
            let cur = aggregate(agg, &xs[xs.len() - c..]);
            let pri = aggregate(agg, &xs[xs.len() - c - p..xs.len() - c]);
            let d = if relative { (cur - pri) / pri.abs() } else { cur - pri };
            (d.is_finite() && d != 0.0).then_some(d.abs())
        }
        Shape::ZScore { window, .. } => {
            if xs.len() < window + 1 {
                return None;
            }
            let before = &xs[xs.len() - 1 - window..xs.len() - 1];
            let n = window as f64;
            let mean = before.iter().sum::<f64>() / n;
            let sd = (before.iter().map(|&x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt();
            let z = (xs[xs.len() - 1] - mean) / sd;
            (z.is_finite() && z != 0.0).then_some(z.abs())
        }
    }
}

fn condition(shape: &Shape, boundary: f64) -> MetricCondition {
    let name = "m".to_string();
    match *shape {
        Shape::Threshold { agg, window, cmp } => MetricCondition::Threshold(Threshold {
            name,
            agg,
            window: if agg.is_none() { 1 } else { window },
            cmp,
            threshold: boundary,
        }),
        Shape::Change { agg, current, prior, relative, dir } => {
            let (current_window, prior_window) = if agg.is_none() { (1, 1) } else { (current, prior) };
            MetricCondition::Change(Change {
                name,
                agg,
                current_window,
                prior_window,
                change_type: if relative { ChangeType::Relative } else { ChangeType::Absolute },
                change_dir: dir,
                amount: boundary.abs().max(f64::MIN_POSITIVE),
            })
        }
        Shape::ZScore { window, dir } => MetricCondition::ZScore(ZScore {
            name,
            window,
            threshold: boundary.abs().max(f64::MIN_POSITIVE),
            change_dir: dir,
        }),
    }
}

#[derive(Debug, Default)]
struct Tally {
    checks: usize,
    holds: usize,
    maybes: usize,
}

/// As a store would: the stored form, read back, aggregates rebuilt from the ring.
fn reload(w: &MetricWindow, specs: &Arc<[AggSpec]>) -> MetricWindow {
    let mut r = RunRecord::default();
    r.windows.insert("m".into(), w.clone());
    let text = serde_json::to_string(&StoredRecord::<PlainValues>::of(&r)).expect("writes");
    let stored: StoredRecord<PlainValues> = serde_json::from_str(&text).expect("parses");
    let mut back = stored.into_record().expect("reads back");
    let mut w = back.windows.remove("m").expect("window");
    w.track(specs);
    w
}

/// Push `xs` through a window watched by `conditions`, rebuilding its aggregates from a stored
/// copy at the positions in `reloads`; assert no false "no" and count the "maybe"s.
fn run(conditions: &[MetricCondition], xs: &[f64], reloads: &[usize]) -> Result<Tally, TestCaseError> {
    let mut specs: Vec<AggSpec> = Vec::new();
    let watches: Vec<Watch> = conditions.iter().map(|c| Watch::new(c, &mut specs)).collect();
    let specs: Arc<[AggSpec]> = specs.into();
    let cap = conditions.iter().map(MetricCondition::needed).max().unwrap_or(1);
    let mut w = MetricWindow::with_capacity(cap);
    w.track(&specs);
    let mut tally = Tally::default();
    for (i, &x) in xs.iter().enumerate() {
        if reloads.contains(&i) {
            w = reload(&w, &specs);
        }
        w.offer(i as i64, x).expect("a new step and a finite value");
        for (c, watch) in conditions.iter().zip(&watches) {
            let latest = w.ring.last(c.needed());
            let holds = c.check(latest).is_some();
            let maybe = w.might_hold(watch);
            prop_assert!(maybe || !holds, "{c:?} holds over {latest:?} but the pre-check said no");
            tally.checks += 1;
            tally.holds += usize::from(holds);
            tally.maybes += usize::from(maybe);
        }
    }
    Ok(tally)
}

/// Conditions of `shapes` whose boundaries are quantities the reference computes at points of
/// `xs`, on them or a few ulps beside.
fn conditions_on(xs: &[f64], shapes: &[(Shape, prop::sample::Index, i64)]) -> Vec<MetricCondition> {
    shapes
        .iter()
        .map(|(shape, at, ulps)| {
            let candidates: Vec<f64> = (1..=xs.len()).filter_map(|k| reference_quantity(shape, &xs[..k])).collect();
            let boundary = if candidates.is_empty() { 1.0 } else { candidates[at.index(candidates.len())] };
            condition(shape, nudge(boundary, *ulps))
        })
        .collect()
}

/// Take `xs` value by value into one window and in batches cut at `cuts` into another (one at a
/// time while the window fills, as the engine does), both reloaded from their stored form at
/// the batches in `reloads`: after every value, every watch answers the same and the window
/// holds the same values.
fn batched(
    conditions: &[MetricCondition],
    xs: &[f64],
    cuts: &[usize],
    reloads: &[usize],
) -> Result<usize, TestCaseError> {
    let mut specs: Vec<AggSpec> = Vec::new();
    let watches: Vec<Watch> = conditions.iter().map(|c| Watch::new(c, &mut specs)).collect();
    let specs: Arc<[AggSpec]> = specs.into();
    let cap = conditions.iter().map(MetricCondition::needed).max().unwrap_or(1);
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (xs.len() + 1)).chain([0, xs.len()]).collect();
    bounds.sort_unstable();
    bounds.dedup();
    let (mut one, mut many) = (MetricWindow::with_capacity(cap), MetricWindow::with_capacity(cap));
    one.track(&specs);
    many.track(&specs);
    let mut cols = Columns::default();
    let mut in_batches = 0;
    for (b, part) in bounds.windows(2).enumerate() {
        let (from, to) = (part[0], part[1]);
        if reloads.contains(&b) {
            one = reload(&one, &specs);
            many = reload(&many, &specs);
        }
        // Value by value: the answers and the window after each.
        let mut answers = Vec::new();
        for (i, &x) in xs.iter().enumerate().take(to).skip(from) {
            one.offer(i as i64, x).expect("a new step and a finite value");
            let maybes: Vec<bool> = watches.iter().map(|watch| one.might_hold(watch)).collect();
            answers.push((maybes, one.ring.last(cap).to_vec()));
        }
        for (i, &x) in xs.iter().enumerate().take(to).skip(from) {
            many.admit(i as i64, x).expect("a new step and a finite value");
        }
        let mut next = from;
        while next < to && !many.batches() {
            many.push(xs[next]);
            let maybes: Vec<bool> = watches.iter().map(|watch| many.might_hold(watch)).collect();
            prop_assert_eq!(&maybes, &answers[next - from].0, "value {} taken alone", next);
            next += 1;
        }
        if next == to {
            continue;
        }
        many.push_batch(&xs[next..to], &mut cols);
        prop_assert_eq!(cols.len(), to - next);
        for (j, watch) in watches.iter().enumerate() {
            let mut said = vec![false; to - next];
            cols.scan(watch, |i| said[i] = true);
            for (i, &maybe) in said.iter().enumerate() {
                let (want, window) = &answers[next + i - from];
                prop_assert_eq!(
                    maybe,
                    want[j],
                    "{:?} after value {} of a batch from {}",
                    conditions[j],
                    next + i,
                    next
                );
                prop_assert_eq!(cols.last(i, cap), window.as_slice(), "window after value {}", next + i);
            }
        }
        in_batches += to - next;
        // The running state itself, bit for bit (`Debug` prints every float exactly).
        prop_assert_eq!(format!("{many:?}"), format!("{one:?}"), "after the batch from {}", next);
    }
    prop_assert_eq!(many.ring.values(), one.ring.values());
    Ok(in_batches)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    /// Boundaries drawn from the stream itself, on the value or a few ulps either side.
    #[test]
    fn the_pre_check_never_misses_a_hold(
        xs in stream_s(),
        shapes in prop::collection::vec((shape_s(), any::<prop::sample::Index>(), -3i64..=3), 1..5),
        reloads in prop::collection::vec(0usize..400, 0..3),
    ) {
        run(&conditions_on(&xs, &shapes), &xs, &reloads)?;
    }

    /// A batch answers as value by value, bit for bit: the same "maybe"s after every value.
    #[test]
    fn a_batch_answers_as_value_by_value(
        xs in stream_s(),
        shapes in prop::collection::vec((shape_s(), any::<prop::sample::Index>(), -3i64..=3), 1..5),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
        reloads in prop::collection::vec(0usize..12, 0..3),
    ) {
        batched(&conditions_on(&xs, &shapes), &xs, &cuts, &reloads)?;
    }
}

/// Most values of long streams cut into a few batches are taken in batches: the property
/// above is about the batch path, not the one-at-a-time path it falls back on.
#[test]
fn long_batches_take_most_values() {
    let xs: Vec<f64> = (0..3000).map(|i| ((i * 7919) % 1000) as f64 * 1e-3 + (i as f64 * 1e-2).sin()).collect();
    let conditions: Vec<MetricCondition> = [
        Shape::Threshold { agg: Some(Agg::Average), window: 50, cmp: Cmp::Gt },
        Shape::Threshold { agg: Some(Agg::Max), window: 7, cmp: Cmp::Lte },
        Shape::ZScore { window: 30, dir: ChangeDir::Any },
        Shape::Change { agg: Some(Agg::Min), current: 5, prior: 9, relative: true, dir: ChangeDir::Decrease },
    ]
    .iter()
    .map(|shape| condition(shape, 0.5))
    .collect();
    let cuts: Vec<usize> = (1..30).map(|c| c * 100 + c % 7).collect();
    let in_batches = batched(&conditions, &xs, &cuts, &[3, 17]).unwrap();
    assert!(in_batches > 2500, "{in_batches} of 3000 values in batches");
}

/// The "all values equal" test is exact: a constant 0.1 never fires, whatever the threshold, and
/// the pre-check itself already says no (no floating-point residue reaches the reference).
#[test]
fn a_constant_never_fires_and_is_never_a_maybe() {
    for window in [1, 2, 5, 30, 500] {
        let c = MetricCondition::ZScore(ZScore {
            name: "m".into(),
            window,
            threshold: f64::MIN_POSITIVE,
            change_dir: ChangeDir::Any,
        });
        let xs = vec![0.1; 3 * window + 40];
        let t = run(std::slice::from_ref(&c), &xs, &[window, 2 * window + 1]).unwrap();
        assert_eq!((t.holds, t.maybes), (0, 0), "window {window}");
    }
}

/// On ordinary noisy data the reference runs only where the condition holds.
#[test]
fn far_from_the_boundary_the_reference_is_not_consulted() {
    let xs: Vec<f64> = (0..5000).map(|i| 2.3 + ((i * 7919) % 1000) as f64 * 1e-4 + (i as f64 * 1e-3).sin()).collect();
    let mut conditions = Vec::new();
    for window in [5, 50, 500] {
        conditions.push(condition(&Shape::Threshold { agg: Some(Agg::Average), window, cmp: Cmp::Gt }, 10.0));
        conditions.push(condition(&Shape::ZScore { window, dir: ChangeDir::Any }, 6.0));
        conditions.push(condition(
            &Shape::Change {
                agg: Some(Agg::Max),
                current: window / 2 + 1,
                prior: window / 2 + 1,
                relative: true,
                dir: ChangeDir::Any,
            },
            5.0,
        ));
    }
    let t = run(&conditions, &xs, &[1234]).unwrap();
    assert_eq!(t.maybes, t.holds, "{t:?}");
}
