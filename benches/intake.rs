//! `POST /v1/events` on `automations serve`, over loopback, with 100 automations configured:
//! values accepted per second, and the latency of each request (p50, p99).
//!
//! A Rust load generator: `CONNECTIONS` keep-alive connections, each on its own thread, send
//! batches back to back (a JSON array of `ENVELOPES` metrics envelopes, one per run, each with
//! `ROWS` rows of the workload's 10 metrics), for a fixed time. Every value is new (steps keep
//! increasing per run), so each is taken into its run's windows and every watching automation is
//! checked after it. The server and the generator share the machine's cores.
//!
//! `cargo bench --bench intake` runs the full size (20 s); `cargo test` a smoke size.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../shared/core/benches/workload.rs"]
mod workload;

#[path = "../tests/server/mod.rs"]
mod server;

use serde_json::{Value, json};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

const ENVELOPES: usize = 20;
const ROWS: usize = 10;
const RUNS_PER_CONNECTION: usize = 200;

struct Size {
    connections: usize,
    /// How long each phase lasts.
    duration: Duration,
    /// The offered load of the paced phase, in values per second.
    paced_rate: f64,
}

fn size() -> Size {
    if std::env::args().any(|a| a == "--bench") {
        Size { connections: 4, duration: Duration::from_secs(20), paced_rate: 250_000.0 }
    } else {
        Size { connections: 2, duration: Duration::from_millis(400), paced_rate: 20_000.0 }
    }
}

/// 100 automations: the workload's 30 (threshold, change, z-score per metric), 60 more of the
/// same kinds with other windows and aggregations, and 10 on artifact and run-state events.
fn automations() -> Vec<Value> {
    let mut out = workload::automations();
    let aggs = ["AVERAGE", "MAX", "MIN"];
    for set in 0..2 {
        for (m, name) in workload::METRICS.iter().enumerate() {
            let w = 3 + (m * 7 + set * 11) % 40;
            out.push(json!({
                "name": format!("threshold-{set}-{name}"),
                "scope": {"type": "project", "entity": "bench", "project": "p"},
                "event": {"type": "RUN_METRIC_THRESHOLD", "run_filter": {"display_name": {"$regex": "^train-"}},
                          "metric": {"name": name, "agg": aggs[(m + set) % 3], "window": w, "cmp": "$lt", "threshold": -1e6}},
                "action": {"type": "none"}
            }));
            out.push(json!({
                "name": format!("change-{set}-{name}"),
                "scope": {"type": "project", "entity": "bench", "project": "p"},
                "event": {"type": "RUN_METRIC_CHANGE",
                          "metric": {"name": name, "agg": aggs[(m + set + 1) % 3], "current_window": w, "prior_window": w + 5,
                                     "change_type": "ABSOLUTE", "change_dir": "INCREASE", "amount": 1e6}},
                "action": {"type": "none"}
            }));
            out.push(json!({
                "name": format!("zscore-{set}-{name}"),
                "scope": {"type": "entity", "entity": "bench"},
                "event": {"type": "RUN_METRIC_ZSCORE", "metric": {"name": name, "window": w + 10, "threshold": 8.0}},
                "action": {"type": "none"}
            }));
        }
    }
    for i in 0..10 {
        out.push(if i % 2 == 0 {
            json!({"name": format!("alias-{i}"), "scope": {"type": "entity", "entity": "bench"},
                   "event": {"type": "ADD_ARTIFACT_ALIAS", "filter": {"alias": {"$regex": "^prod"}}}, "action": {"type": "none"}})
        } else {
            json!({"name": format!("state-{i}"), "scope": {"type": "project", "entity": "bench", "project": "p"},
                   "event": {"type": "RUN_STATE", "states": ["failed", "crashed"]}, "action": {"type": "none"}})
        });
    }
    assert_eq!(out.len(), 100);
    out
}

/// One request body: `ENVELOPES` envelopes, one per run, of rows `[first_step, first_step + ROWS)`.
fn batch(connection: usize, request: usize) -> String {
    let runs_per_request = RUNS_PER_CONNECTION / ENVELOPES;
    let first_run = (request % runs_per_request) * ENVELOPES;
    let first_step = (request / runs_per_request) * ROWS;
    let mut body = String::with_capacity(ENVELOPES * ROWS * 300);
    body.push('[');
    for e in 0..ENVELOPES {
        let run = connection * RUNS_PER_CONNECTION + first_run + e;
        if e > 0 {
            body.push(',');
        }
        write!(
            body,
            r#"{{"specversion":"1.0","id":"c{connection}-q{request}-e{e}","source":"bench","type":"run.metrics.logged","time":"2026-11-01T12:00:00Z","data":{{"entity":"bench","project":"p","run_id":"r{run}","run_name":"train-{run}","rows":["#
        )
        .unwrap();
        for r in 0..ROWS {
            let step = first_step + r;
            if r > 0 {
                body.push(',');
            }
            write!(body, r#"{{"step":{step},"values":{{"#).unwrap();
            for (m, name) in workload::METRICS.iter().enumerate() {
                if m > 0 {
                    body.push(',');
                }
                write!(body, r#""{name}":{}"#, workload::value(run, m, step)).unwrap();
            }
            body.push_str("}}");
        }
        body.push_str("]}}");
    }
    body.push(']');
    body
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// What one phase measured.
struct Phase {
    values: usize,
    elapsed: f64,
    latencies: Vec<Duration>,
}

impl Phase {
    fn report(&mut self, name: &str) {
        self.latencies.sort();
        let n = self.latencies.len();
        assert!(n > 0, "{name}: no request completed");
        println!(
            "intake {name}: {n} requests, {:.0} values/s accepted; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            self.values as f64 / self.elapsed,
            percentile(&self.latencies, 0.50).as_secs_f64() * 1e3,
            percentile(&self.latencies, 0.99).as_secs_f64() * 1e3,
            self.latencies[n - 1].as_secs_f64() * 1e3,
        );
    }
}

/// Run `connections` connections for `duration`. With `interval`, each connection sends one
/// request per interval and a request's latency counts from when it was due (so a slow answer
/// also charges the requests it delayed); without, each sends back to back (saturation).
fn phase(port: u16, auth: &str, size: &Size, first_request: usize, interval: Option<Duration>) -> Phase {
    let start = Instant::now();
    let until = start + size.duration;
    let threads: Vec<_> = (0..size.connections)
        .map(|c| {
            let auth = auth.to_string();
            std::thread::spawn(move || {
                let mut client = server::Client::connect(port);
                let mut latencies = Vec::new();
                let mut accepted = 0usize;
                // Stagger the paced connections over one interval.
                let mut due = start + interval.map_or(Duration::ZERO, |i| i * c as u32 / 4);
                for request in first_request.. {
                    let now = Instant::now();
                    if now >= until {
                        break;
                    }
                    let body = batch(c, request);
                    match interval {
                        Some(_) if due > now => std::thread::sleep(due - now),
                        Some(_) => {}
                        None => due = Instant::now(),
                    }
                    let res = client.send("POST", "/v1/events", &[("authorization", &auth)], body.as_bytes());
                    latencies.push(due.elapsed());
                    assert_eq!(res.status, 202, "{}", res.text());
                    let n = res.json()["accepted"].as_u64().unwrap() as usize;
                    assert_eq!(n, ENVELOPES, "{}", res.text());
                    accepted += n * ROWS * workload::METRICS.len();
                    if let Some(i) = interval {
                        due += i;
                    }
                }
                (accepted, latencies)
            })
        })
        .collect();
    let mut out = Phase { values: 0, elapsed: 0.0, latencies: Vec::new() };
    for t in threads {
        let (v, l) = t.join().expect("a load thread panicked");
        out.values += v;
        out.latencies.extend(l);
    }
    out.elapsed = start.elapsed().as_secs_f64();
    out
}

fn main() {
    let size = size();
    let s = server::Served::start();
    // The server's own key grants `acme`; the workload's entity is `bench`.
    let key = server::create_key(&s.db, "bench");
    let auth = format!("Bearer {key}");
    let mut setup = s.client();
    for doc in automations() {
        let res = setup.send("POST", "/v1/automations", &[("authorization", &auth)], doc.to_string().as_bytes());
        assert_eq!(res.status, 201, "{}", res.text());
    }
    let values_per_request = ENVELOPES * ROWS * workload::METRICS.len();
    println!(
        "intake: {} connections, requests of {values_per_request} values ({ENVELOPES} envelopes x {ROWS} rows x {} metrics), 100 automations, {:.1} s per phase",
        size.connections,
        workload::METRICS.len(),
        size.duration.as_secs_f64()
    );
    let mut saturated = phase(s.port, &auth, &size, 0, None);
    saturated.report("saturated (back to back)");
    // Request numbers past every connection's last (plus one round of runs) carry later steps,
    // so every value of the paced phase is new too.
    let next = saturated.latencies.len() + RUNS_PER_CONNECTION / ENVELOPES;
    let per_connection = size.paced_rate / size.connections as f64 / values_per_request as f64;
    let interval = Duration::from_secs_f64(1.0 / per_connection);
    let mut paced = phase(s.port, &auth, &size, next, Some(interval));
    paced.report(&format!("paced at {:.0} values/s", size.paced_rate));
    let bytes = |suffix: &str| std::fs::metadata(format!("{}{suffix}", s.db.display())).map_or(0, |m| m.len());
    println!("intake: database {:.1} MB, WAL {:.1} MB", bytes("") as f64 / 1e6, bytes("-wal") as f64 / 1e6);
    assert!(!s.output().contains("panicked"), "{}", s.output());
}
