//! The benchmark workload shared by the evaluator and replay benchmarks: runs x metrics x steps
//! of deterministic values against 30 automations of mixed kinds with windows from 5 to 60.
//!
//! Conditions are set so that they rarely hold: a fire puts its (automation, run) in cooldown,
//! which skips evaluation, and a benchmark that mostly measured cooldown skips would flatter us.

#![allow(dead_code)]

use serde_json::{Value, json};

/// This thread's CPU time so far, in seconds. Benchmarks time with it rather than the wall
/// clock: on a machine shared with other work, waiting for a core is not the code's cost.
pub fn thread_cpu_seconds() -> f64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime only writes the struct it is given.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

pub const METRICS: [&str; 10] =
    ["loss", "acc", "val_loss", "val_acc", "lr", "grad_norm", "system/cpu", "system/gpu", "throughput", "epoch_time"];

/// Rows per envelope.
pub const ROWS_PER_ENVELOPE: usize = 100;

pub struct Size {
    pub runs: usize,
    pub steps: usize,
}

/// The full size of the issue's target (10 million values), or a smoke size for `cargo test`.
pub fn size() -> Size {
    if std::env::args().any(|a| a == "--bench") {
        Size { runs: 1000, steps: 1000 }
    } else {
        Size { runs: 4, steps: 200 }
    }
}

/// The sizes of the window sweep: the same 10 million values as [`size`], in longer runs so that
/// filling a window of 500 is a small part of each run.
pub fn sweep_size() -> Size {
    if std::env::args().any(|a| a == "--bench") {
        Size { runs: 100, steps: 10_000 }
    } else {
        Size { runs: 2, steps: 600 }
    }
}

/// The windows of the sweep: cost per value should not depend on them.
pub const SWEEP: [usize; 3] = [5, 50, 500];

/// 30 automations as [`automations`], all reading `w` values: threshold windows of `w`, change
/// windows splitting `w`, z-scores over `w` values before the new one.
pub fn automations_with_window(w: usize) -> Vec<Value> {
    let aggs = ["AVERAGE", "MAX", "MIN"];
    let mut out = Vec::new();
    for (m, name) in METRICS.iter().enumerate() {
        let prior = (w / 2).max(1);
        out.push(threshold(name, aggs[m % 3], w));
        out.push(change(name, aggs[(m + 1) % 3], w.saturating_sub(prior).max(1), prior));
        // A z-score of 6 over 5 values is not rare on this noise, and a fire puts the
        // automation in cooldown for the rest of the run: the sweep's z-scores ask for 100.
        out.push(zscore(name, w, 100.0));
    }
    out
}

fn threshold(name: &str, agg: &str, w: usize) -> Value {
    json!({
        "name": format!("threshold-{name}"),
        "scope": {"type": "project", "entity": "bench", "project": "p"},
        "event": {"type": "RUN_METRIC_THRESHOLD",
                  "metric": {"name": name, "agg": agg, "window": w, "cmp": "$gt", "threshold": 1e6}},
        "action": {"type": "none"}
    })
}

fn change(name: &str, agg: &str, current: usize, prior: usize) -> Value {
    json!({
        "name": format!("change-{name}"),
        "scope": {"type": "entity", "entity": "bench"},
        "event": {"type": "RUN_METRIC_CHANGE",
                  "metric": {"name": name, "agg": agg, "current_window": current, "prior_window": prior,
                             "change_type": "RELATIVE", "change_dir": "ANY", "amount": 50.0}},
        "action": {"type": "none"}
    })
}

fn zscore(name: &str, w: usize, threshold: f64) -> Value {
    json!({
        "name": format!("zscore-{name}"),
        "scope": {"type": "project", "entity": "bench", "project": "p"},
        "event": {"type": "RUN_METRIC_ZSCORE",
                  "metric": {"name": name, "window": w, "threshold": threshold, "change_dir": "ANY"}},
        "action": {"type": "none"}
    })
}

/// 30 automations: per metric one threshold, one change and one z-score, windows 5 to 60.
pub fn automations() -> Vec<Value> {
    let aggs = ["AVERAGE", "MAX", "MIN"];
    let mut out = Vec::new();
    for (m, name) in METRICS.iter().enumerate() {
        let w = 5 + (m * 55) / 9; // 5 ..= 60
        let prior = w.max(2) / 2;
        out.push(threshold(name, aggs[m % 3], w));
        out.push(change(name, aggs[(m + 1) % 3], w - prior, prior));
        out.push(zscore(name, 65 - w, 6.0));
    }
    out
}

/// A deterministic value of (run, metric, step): a slow trend plus hashed noise.
pub fn value(run: usize, metric: usize, step: usize) -> f64 {
    let mut x = (run as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (metric as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
        ^ (step as u64).wrapping_mul(0x1656_67B1_9E37_79F9);
    x ^= x >> 33;
    x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    x ^= x >> 33;
    let noise = (x >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
    1.0 + metric as f64 + (step as f64 / 97.0).sin() * 0.1 + noise * 0.05
}

/// The envelope of rows `[chunk * ROWS_PER_ENVELOPE, ...)` of one run, as JSON text.
pub fn envelope_json(run: usize, chunk: usize, steps: usize) -> String {
    let first = chunk * ROWS_PER_ENVELOPE;
    let last = (first + ROWS_PER_ENVELOPE).min(steps);
    let mut rows = String::with_capacity(ROWS_PER_ENVELOPE * 260);
    for step in first..last {
        if step > first {
            rows.push(',');
        }
        rows.push_str(&format!(r#"{{"step":{step},"time":"{}","values":{{"#, time(step)));
        for (m, name) in METRICS.iter().enumerate() {
            if m > 0 {
                rows.push(',');
            }
            rows.push_str(&format!(r#""{name}":{}"#, value(run, m, step)));
        }
        rows.push_str("}}");
    }
    format!(
        r#"{{"specversion":"1.0","id":"r{run}-c{chunk}","source":"bench","type":"run.metrics.logged","time":"{}","data":{{"entity":"bench","project":"p","run_id":"run-{run}","run_name":"train-{run}","user":"bench","rows":[{rows}]}}}}"#,
        time(last)
    )
}

fn time(step: usize) -> String {
    let s = 1_000_000 + step; // seconds since 2026-11-01T00:00:00Z, well inside one day
    format!("2026-11-{:02}T{:02}:{:02}:{:02}Z", 1 + s / 86_400, (s / 3600) % 24, (s / 60) % 60, s % 60)
}
