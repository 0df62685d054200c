//! The evaluator on parsed rows: values per second through `Engine::metric_fires`, no store, and
//! bytes held per retained window value.
//!
//! `cargo bench -p automations-core --bench evaluator` runs the full size (1,000 runs x 10 metrics
//! x 1,000 steps against 30 automations); `cargo test` runs it once at a smoke size.

mod workload;

use automations_core::engine::{Engine, RunRecord};
use automations_core::event::{EventData, parse_envelope};
use automations_core::model::Automation;
use std::time::Instant;

fn main() {
    let size = workload::size();
    let automations: Vec<Automation> = workload::automations()
        .iter()
        .enumerate()
        .map(|(i, doc)| Automation::from_create(format!("a{i}"), doc).expect("bench automations are valid"))
        .collect();
    let engine = Engine::new(automations);
    let chunks = size.steps.div_ceil(workload::ROWS_PER_ENVELOPE);

    // Parse everything first: this benchmark measures evaluation, not parsing. Envelopes are
    // laid out in the order a tracker interleaves runs: chunk by chunk, run by run.
    let mut envelopes = Vec::with_capacity(size.runs * chunks);
    for chunk in 0..chunks {
        for run in 0..size.runs {
            envelopes.push(parse_envelope(&workload::envelope_json(run, chunk, size.steps)).expect("valid envelope"));
        }
    }
    let values: usize = envelopes
        .iter()
        .map(|e| match &e.data {
            EventData::Metrics(m) => m.rows.iter().map(|r| r.values.len()).sum::<usize>(),
            _ => 0,
        })
        .sum();

    let mut best = f64::INFINITY;
    let rounds = if size.runs > 100 { 3 } else { 1 };
    let mut fires = 0;
    let mut records: Vec<RunRecord> = Vec::new();
    for _ in 0..rounds {
        records = (0..size.runs).map(|_| RunRecord::default()).collect();
        fires = 0;
        let start = Instant::now();
        for (i, env) in envelopes.iter().enumerate() {
            let EventData::Metrics(m) = &env.data else { unreachable!() };
            let out = engine.metric_fires(env, m, &mut records[i % size.runs]);
            fires += out.fires.len();
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    let retained: usize = records.iter().flat_map(|r| r.windows.values()).map(|w| w.ring.len()).sum();
    let bytes: usize = records.iter().map(RunRecord::heap_bytes).sum();
    let windows: usize = records.iter().map(|r| r.windows.len()).sum();
    println!("evaluator: {values} values, {} runs x {} metrics x {} steps, 30 automations", size.runs, 10, size.steps);
    println!(
        "evaluator: best of {rounds}: {:.3} s, {:.1} million values/s on one core, {fires} fires",
        best,
        values as f64 / best / 1e6
    );
    println!(
        "evaluator: {windows} windows hold {retained} values in {bytes} bytes: {:.1} bytes per retained value \
         (16 for the values, the rest per-(run, metric) overhead: {} bytes each)",
        bytes as f64 / retained as f64,
        (bytes - retained * 16) / windows.max(1)
    );
    assert!(fires < values / 1000, "the workload is meant to evaluate, not to sit in cooldown");
}
