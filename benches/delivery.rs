//! `automations serve` end to end: events posted to `/v1/events`, webhooks received by a
//! loopback receiver.
//!
//! - Throughput: batches of alias events (each fires one webhook automation) posted as fast as
//!   the API takes them; deliveries per second from the first post to the last webhook received.
//! - Latency: single events posted one at a time, a few milliseconds apart; for each, the time
//!   from sending the POST to its webhook arriving (p50, p99, max).
//!
//! `cargo bench --bench delivery` runs the full size (20,000 deliveries, 2,000 latency samples) on
//! the release build; `cargo test` a smoke size.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Size {
    deliveries: usize,
    batch: usize,
    samples: usize,
}

fn size() -> Size {
    if std::env::args().any(|a| a == "--bench") {
        Size { deliveries: 20_000, batch: 100, samples: 2_000 }
    } else {
        Size { deliveries: 400, batch: 50, samples: 40 }
    }
}

/// Arrival time of each webhook, by the event id in its body.
type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

async fn receive(State(arrivals): State<Arrivals>, body: String) -> StatusCode {
    let at = Instant::now();
    let v: Value = serde_json::from_str(&body).expect("the default payload is JSON");
    let id = v["event"]["id"].as_str().expect("event.id").to_string();
    arrivals.lock().unwrap().insert(id, at);
    StatusCode::NO_CONTENT
}

/// Start the receiver on its own runtime thread; returns its port.
fn start_receiver(arrivals: Arrivals) -> u16 {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap().port()).unwrap();
            let app = axum::Router::new().fallback(receive).with_state(arrivals);
            axum::serve(listener, app).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

fn http(port: u16, method: &str, path: &str, key: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the server");
    s.set_nodelay(true).ok();
    let req = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read the answer");
    let status = out.split(' ').nth(1).and_then(|x| x.parse().ok()).unwrap_or(0);
    (status, out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

fn event(id: &str) -> Value {
    json!({"specversion": "1.0", "id": id, "source": "bench", "type": "artifact.alias.added", "time": "2026-11-01T12:00:00Z",
           "data": {"entity": "acme", "project": "mnist", "collection": "classifier", "collection_type": "model",
                    "version": 7, "alias": "production"}})
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

fn wait_for(arrivals: &Arrivals, n: usize, limit: Duration) -> Instant {
    let start = Instant::now();
    loop {
        let got = arrivals.lock().unwrap();
        if got.len() >= n {
            return got.values().copied().max().unwrap();
        }
        drop(got);
        assert!(start.elapsed() < limit, "only some webhooks arrived within {limit:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let size = size();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("automations.db");
    let bin = env!("CARGO_BIN_EXE_automations");
    let out = Command::new(bin).args(["keys", "create", "--entity", "acme", "--db"]).arg(&db).output().unwrap();
    assert!(out.status.success());
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let _server = Server(
        Command::new(bin)
            .args(["serve", "--addr", &format!("127.0.0.1:{port}"), "--db"])
            .arg(&db)
            .stderr(Stdio::null())
            .spawn()
            .expect("start automations serve"),
    );
    let ready = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(ready.elapsed() < Duration::from_secs(30), "the server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let arrivals: Arrivals = Arc::default();
    let rx = start_receiver(arrivals.clone());
    let integration = json!({"name": "hook", "type": "webhook", "url": format!("http://127.0.0.1:{rx}/hook"), "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"});
    assert_eq!(http(port, "POST", "/v1/integrations", &key, &integration.to_string()).0, 201);
    let automation = json!({"name": "deploy", "scope": {"type": "project", "entity": "acme", "project": "mnist"},
        "event": {"type": "ADD_ARTIFACT_ALIAS"}, "action": {"type": "webhook", "integration": "hook"}});
    assert_eq!(http(port, "POST", "/v1/automations", &key, &automation.to_string()).0, 201);

    // Throughput.
    let start = Instant::now();
    for b in 0..size.deliveries.div_ceil(size.batch) {
        let batch: Vec<Value> = (0..size.batch).map(|i| event(&format!("t-{b}-{i}"))).collect();
        let (status, body) = http(port, "POST", "/v1/events", &key, &Value::Array(batch).to_string());
        assert_eq!(status, 202, "{body}");
    }
    let posted = start.elapsed().as_secs_f64();
    let last = wait_for(&arrivals, size.deliveries, Duration::from_secs(300));
    let elapsed = (last - start).as_secs_f64();
    println!(
        "delivery throughput: {} webhooks in {elapsed:.2} s: {:.0} deliveries/s end to end (events posted in {posted:.2} s, {} per request)",
        size.deliveries,
        size.deliveries as f64 / elapsed,
        size.batch
    );

    // Latency: one event per request, sent every 5 ms.
    let mut sent = Vec::with_capacity(size.samples);
    for i in 0..size.samples {
        let id = format!("l-{i}");
        let at = Instant::now();
        let (status, _) = http(port, "POST", "/v1/events", &key, &Value::Array(vec![event(&id)]).to_string());
        assert_eq!(status, 202);
        sent.push((id, at));
        std::thread::sleep(Duration::from_millis(5));
    }
    wait_for(&arrivals, size.deliveries + size.samples, Duration::from_secs(60));
    let got = arrivals.lock().unwrap();
    let mut ms: Vec<f64> = sent.iter().map(|(id, at)| (got[id].duration_since(*at)).as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    println!(
        "delivery latency (POST /v1/events sent -> webhook received), {} events: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms.len(),
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        ms[ms.len() - 1]
    );
}
