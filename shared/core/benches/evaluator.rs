//! The evaluator on parsed rows: values per second through `Engine::metric_fires`, no store, and
//! bytes held per retained window value; then the same measure with every automation reading
//! windows of 5, 50 and 500 values, to show that the cost per value does not grow with windows.
//!
//! `cargo bench -p automations-core --bench evaluator` runs the full size (1,000 runs x 10 metrics
//! x 1,000 steps against 30 automations; the sweep: 100 runs x 10 metrics x 10,000 steps);
//! `cargo test` runs it once at a smoke size.
//!
//! For comparing builds: `EVALUATOR_ROUNDS=n` sets the rounds per measure (at least 1; the best
//! of them is reported, and the sweep's rounds interleave its windows),
//! `EVALUATOR_PARTS=main,5,50,500` picks the measures to run, and `EVALUATOR_RUNS_DIV=d` divides
//! the runs (fewer values: quicker under `valgrind --tool=callgrind
//! --toggle-collect=evaluator::measure`, whose count divided by the values and rounds is the
//! instructions per value).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod workload;

use automations_core::engine::{Engine, RunRecord};
use automations_core::event::{Envelope, EventData, parse_envelope};
use automations_core::model::Automation;
use serde_json::Value;

fn engine(docs: &[Value]) -> Engine {
    Engine::new(
        docs.iter()
            .enumerate()
            .map(|(i, doc)| Automation::from_create(format!("a{i}"), doc).expect("bench automations are valid")),
    )
}

/// Parse everything first: this benchmark measures evaluation, not parsing. Envelopes are laid
/// out in the order a tracker interleaves runs: chunk by chunk, run by run.
fn parse_workload(size: &workload::Size) -> (Vec<Envelope>, usize) {
    let chunks = size.steps.div_ceil(workload::ROWS_PER_ENVELOPE);
    let mut envelopes = Vec::with_capacity(size.runs * chunks);
    for chunk in 0..chunks {
        for run in 0..size.runs {
            envelopes.push(parse_envelope(&workload::envelope_json(run, chunk, size.steps)).expect("valid envelope"));
        }
    }
    let values: usize = envelopes
        .iter()
        .map(|e| match &e.data {
            EventData::Metrics(m) => m.values.len(),
            _ => 0,
        })
        .sum();
    (envelopes, values)
}

struct Measure {
    best: f64,
    fires: usize,
    records: Vec<RunRecord>,
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn part(name: &str) -> bool {
    std::env::var("EVALUATOR_PARTS").map_or(true, |p| p.split(',').any(|x| x == name))
}

/// Rounds per measure: a measure of no round would report nothing.
fn rounds() -> usize {
    env_or("EVALUATOR_ROUNDS", if std::env::args().any(|a| a == "--bench") { 3 } else { 1 }).max(1)
}

/// The best of `rounds` rounds of evaluating every envelope into fresh run records.
#[inline(never)]
fn measure(engine: &Engine, envelopes: &[Envelope], runs: usize, rounds: usize) -> Measure {
    let mut m = Measure { best: f64::INFINITY, fires: 0, records: Vec::new() };
    for _ in 0..rounds {
        m.records = (0..runs).map(|_| RunRecord::default()).collect();
        m.fires = 0;
        let start = workload::thread_cpu_seconds();
        for (i, env) in envelopes.iter().enumerate() {
            let EventData::Metrics(ev) = &env.data else { unreachable!() };
            m.fires += engine.metric_fires(env, ev, &mut m.records[i % runs]).fires.len();
        }
        m.best = m.best.min(workload::thread_cpu_seconds() - start);
    }
    m
}

fn main() {
    let div = env_or("EVALUATOR_RUNS_DIV", 1).max(1);
    let mut size = workload::size();
    size.runs = (size.runs / div).max(1);
    if part("main") {
        let (envelopes, values) = parse_workload(&size);
        let m = measure(&engine(&workload::automations()), &envelopes, size.runs, rounds());
        let retained: usize = m.records.iter().flat_map(|r| r.windows.values()).map(|w| w.ring.len()).sum();
        let bytes: usize = m.records.iter().map(RunRecord::heap_bytes).sum();
        let windows: usize = m.records.iter().map(|r| r.windows.len()).sum();
        println!(
            "evaluator: {values} values, {} runs x {} metrics x {} steps, 30 automations",
            size.runs, 10, size.steps
        );
        println!(
            "evaluator: best: {:.3} s of CPU, {:.1} million values/s on one core, {} fires",
            m.best,
            values as f64 / m.best / 1e6,
            m.fires
        );
        println!(
            "evaluator: {windows} windows hold {retained} values in {bytes} bytes: {:.1} bytes per retained value \
             (16 for the values, the rest per-(run, metric) overhead: {} bytes each)",
            bytes as f64 / retained as f64,
            bytes.saturating_sub(retained * 16) / windows.max(1)
        );
        assert!(m.fires < values / 1000, "the workload is meant to evaluate, not to sit in cooldown");
    }

    // The sweep: every automation reads the same window length, on the same values.
    let mut size = workload::sweep_size();
    size.runs = (size.runs / div).max(1);
    let sweep: Vec<usize> = workload::SWEEP.into_iter().filter(|w| part(&w.to_string())).collect();
    if sweep.is_empty() {
        return;
    }
    let (envelopes, values) = parse_workload(&size);
    // Rounds interleave the windows (5, 50, 500, 5, 50, ...) and each keeps its best: this
    // machine's speed drifts by a third from one second to the next, and measuring one window's
    // rounds after another's put that drift into their ratio.
    let engines: Vec<Engine> = sweep.iter().map(|&w| engine(&workload::automations_with_window(w))).collect();
    let mut best: Vec<Option<Measure>> = sweep.iter().map(|_| None).collect();
    for _ in 0..rounds() {
        for (engine, best) in engines.iter().zip(&mut best) {
            let m = measure(engine, &envelopes, size.runs, 1);
            if best.as_ref().is_none_or(|b| m.best < b.best) {
                *best = Some(m);
            }
        }
    }
    let mut rates = Vec::new();
    for (&w, m) in sweep.iter().zip(best.into_iter().flatten()) {
        let rate = values as f64 / m.best;
        rates.push(rate);
        println!(
            "evaluator: windows of {w:>3}: {values} values ({} runs x 10 metrics x {} steps): {:.3} s, \
             {:.1} million values/s, {} fires",
            size.runs,
            size.steps,
            m.best,
            rate / 1e6,
            m.fires
        );
        assert!(m.fires < values / 1000, "the sweep is meant to evaluate, not to sit in cooldown");
    }
    let ratio = rates[0] / rates[rates.len() - 1];
    println!(
        "evaluator: cost per value at windows of {} over windows of {}: {ratio:.2}x",
        sweep[sweep.len() - 1],
        sweep[0]
    );
}
