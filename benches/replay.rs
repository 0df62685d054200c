//! `automations replay` end to end: a JSON Lines file of the evaluator benchmark's workload
//! through the release binary, timed from process start to exit.
//!
//! `cargo bench --bench replay` runs the full size (10 million values); `cargo test` a smoke size.

#[path = "../shared/core/benches/workload.rs"]
mod workload;

use std::io::{BufWriter, Write};
use std::process::{Command, Stdio};
use std::time::Instant;

fn main() {
    let size = workload::size();
    let dir = std::env::temp_dir().join(format!("automations-replay-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let automations = dir.join("automations.json");
    let events = dir.join("events.jsonl");
    std::fs::write(&automations, serde_json::to_vec(&workload::automations()).unwrap()).expect("write automations");
    let chunks = size.steps.div_ceil(workload::ROWS_PER_ENVELOPE);
    let mut out = BufWriter::new(std::fs::File::create(&events).expect("create events"));
    for chunk in 0..chunks {
        for run in 0..size.runs {
            writeln!(out, "{}", workload::envelope_json(run, chunk, size.steps)).expect("write events");
        }
    }
    out.flush().expect("flush events");
    drop(out);
    let bytes = std::fs::metadata(&events).unwrap().len();
    let values = size.runs * size.steps * workload::METRICS.len();

    let start = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_automations"))
        .args(["replay", "--automations"])
        .arg(&automations)
        .arg("--events")
        .arg(&events)
        .stderr(Stdio::inherit())
        .output()
        .expect("run automations replay");
    let elapsed = start.elapsed().as_secs_f64();
    assert!(output.status.success(), "replay failed: {:?}", output.status);
    let fires = output.stdout.iter().filter(|&&b| b == b'\n').count();
    println!(
        "replay: {values} values ({:.0} MB of JSON Lines) in {elapsed:.2} s: {:.2} million values/s end to end, {fires} fires",
        bytes as f64 / 1e6,
        values as f64 / elapsed / 1e6
    );
    std::fs::remove_dir_all(&dir).expect("clean up");
}
