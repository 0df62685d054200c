//! Delivery through `automations serve`: the outbox survives `kill -9` between recording a fire
//! and delivering it (delivered once, under the same `webhook-id`), executions and test
//! deliveries over the API, stalled runs crashed by the sweeper, and the address guard.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{Process, free_port, http};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// `automations serve` on a given port and database (so it can be killed and started again).
struct Node {
    db: PathBuf,
    port: u16,
    key: String,
    args: Vec<String>,
    process: Option<Process>,
}

impl Node {
    fn new(dir: &Path, args: &[&str]) -> Node {
        let db = dir.join("automations.db");
        let out = Command::new(env!("CARGO_BIN_EXE_automations"))
            .args(["keys", "create", "--entity", "acme", "--db"])
            .arg(&db)
            .output()
            .expect("run automations keys create");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
        let mut node =
            Node { db, port: free_port(), key, args: args.iter().map(|s| s.to_string()).collect(), process: None };
        node.start();
        node
    }

    fn start(&mut self) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_automations"));
        cmd.args(["serve", "--addr", &format!("127.0.0.1:{}", self.port), "--db"]).arg(&self.db).args(&self.args);
        let mut p = Process::spawn("automations serve", cmd);
        let port = self.port;
        p.wait_until(Duration::from_secs(60), || {
            http(port, "GET", "/v1/health", &[], b"").is_some_and(|(s, _)| s == 200)
        });
        self.process = Some(p);
    }

    /// `kill -9`: no shutdown, no flush beyond what SQLite already committed.
    fn kill(&mut self) {
        self.process = None;
    }

    fn output(&self) -> String {
        self.process.as_ref().map(Process::output).unwrap_or_default()
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let auth = format!("Bearer {}", self.key);
        let text = body.map(Value::to_string).unwrap_or_default();
        let (status, answer) = http(
            self.port,
            method,
            path,
            &[("Authorization", &auth), ("Content-Type", "application/json")],
            text.as_bytes(),
        )
        .unwrap_or_else(|| panic!("{method} {path}: no answer; output:\n{}", self.output()));
        (status, if answer.trim().is_empty() { Value::Null } else { serde_json::from_str(&answer).unwrap() })
    }

    fn expect(&self, want: u16, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (status, answer) = self.call(method, path, body);
        assert_eq!(status, want, "{method} {path}: {answer}");
        answer
    }

    /// The automation's executions, newest first (every page).
    fn executions(&self, automation: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut path = format!("/v1/automations/{automation}/executions?limit=2");
        loop {
            let page = self.expect(200, "GET", &path, None);
            out.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => path = format!("/v1/automations/{automation}/executions?limit=2&cursor={next}"),
                None => return out,
            }
        }
    }

    fn wait_executions(&self, automation: &str, limit: Duration, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let got = self.executions(automation);
            if done(&got) {
                return got;
            }
            assert!(start.elapsed() < limit, "executions did not get there in {limit:?}: {got:#?}\n{}", self.output());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// One request received: its headers (names in lower case) and body.
type Delivered = (Vec<(String, String)>, String);

/// A receiver on a fixed port (started only when the test says so), answering 200.
#[derive(Clone, Default)]
struct Got(Arc<Mutex<Vec<Delivered>>>);

impl Got {
    fn listen(&self, port: u16) {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the receiver's port");
        let got = self.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let got = got.clone();
                std::thread::spawn(move || {
                    let mut r = BufReader::new(conn);
                    let mut line = String::new();
                    r.read_line(&mut line).ok();
                    let mut headers = Vec::new();
                    loop {
                        let mut h = String::new();
                        if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                            break;
                        }
                        if let Some((k, v)) = h.trim_end().split_once(':') {
                            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                        }
                    }
                    let len: usize = headers
                        .iter()
                        .find(|(k, _)| k == "content-length")
                        .and_then(|(_, v)| v.parse().ok())
                        .unwrap_or(0);
                    let mut body = vec![0; len];
                    r.read_exact(&mut body).ok();
                    got.0.lock().unwrap().push((headers, String::from_utf8_lossy(&body).into_owned()));
                    r.get_mut().write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok").ok();
                });
            }
        });
    }

    fn all(&self) -> Vec<Delivered> {
        self.0.lock().unwrap().clone()
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn setup(node: &Node, url: &str, event: Value) -> String {
    node.expect(
        201,
        "POST",
        "/v1/integrations",
        Some(&json!({"name": "hook", "type": "webhook", "url": url, "secret": SECRET})),
    );
    let a = node.expect(
        201,
        "POST",
        "/v1/automations",
        Some(&json!({
            "name": "deploy",
            "scope": {"type": "project", "entity": "acme", "project": "mnist"},
            "event": event,
            "action": {"type": "webhook", "integration": "hook"}
        })),
    );
    a["id"].as_str().unwrap().to_string()
}

fn alias_event(id: &str) -> Value {
    json!({"specversion": "1.0", "id": id, "source": "tracker", "type": "artifact.alias.added", "time": "2026-11-01T12:00:00Z",
           "data": {"entity": "acme", "project": "mnist", "collection": "classifier", "collection_type": "model",
                    "version": 7, "alias": "production"}})
}

#[test]
fn a_fire_recorded_before_a_kill_is_delivered_once_after_the_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::new(dir.path(), &["--retry-base", "300ms", "--retry-cap", "600ms"]);
    // The receiver is down: the first attempts fail to connect.
    let rx_port = free_port();
    let automation = setup(&node, &format!("http://127.0.0.1:{rx_port}/hook"), json!({"type": "ADD_ARTIFACT_ALIAS"}));
    node.expect(202, "POST", "/v1/events", Some(&json!([alias_event("evt-1")])));
    let before = node.wait_executions(&automation, Duration::from_secs(20), |e| {
        e.len() == 1 && e[0]["attempts"].as_u64() >= Some(1)
    });
    assert_eq!(before[0]["state"], "PENDING");
    let error = before[0]["last_response"]["error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains("could not connect"), "{error}");
    let fire_id = before[0]["fire_id"].as_str().unwrap().to_string();

    node.kill();
    let got = Got::default();
    got.listen(rx_port);
    std::thread::sleep(Duration::from_millis(700)); // past any retry scheduled before the kill
    assert!(got.all().is_empty(), "nothing can deliver while the server is down");

    node.start();
    let after = node.wait_executions(&automation, Duration::from_secs(20), |e| e[0]["state"] == "FINISHED");
    // Give a duplicate every chance to show up.
    std::thread::sleep(Duration::from_millis(1500));
    let deliveries = got.all();
    assert_eq!(deliveries.len(), 1, "delivered exactly once: {deliveries:#?}");
    let (headers, body) = &deliveries[0];
    assert_eq!(header(headers, "webhook-id"), Some(fire_id.as_str()), "the webhook-id is the fire id");
    assert!(header(headers, "webhook-signature").is_some_and(|s| s.starts_with("v1,")));
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["fire_id"], fire_id.as_str());
    assert_eq!(after[0]["fire_id"], fire_id.as_str());
    assert!(after[0]["attempts"].as_u64().unwrap() >= 2, "{:#}", after[0]);
    assert_eq!(after[0]["last_response"]["status"], 200);
    assert!(after[0].get("version").is_none(), "bookkeeping stays inside");

    // Executions page newest first across pages; a bad cursor is a 400 naming it.
    for i in 2..5 {
        node.expect(202, "POST", "/v1/events", Some(&json!([alias_event(&format!("evt-{i}"))])));
    }
    let all = node.wait_executions(&automation, Duration::from_secs(20), |e| {
        e.len() == 4 && e.iter().all(|x| x["state"] == "FINISHED")
    });
    let events: Vec<&str> = all.iter().map(|e| e["event"]["event_id"].as_str().unwrap()).collect();
    assert_eq!(events, ["evt-4", "evt-3", "evt-2", "evt-1"]);
    // "Z2FyYmFnZQ" is "garbage", encoded as the API encodes cursors.
    let (status, problem) =
        node.call("GET", &format!("/v1/automations/{automation}/executions?cursor=Z2FyYmFnZQ"), None);
    assert_eq!(status, 400, "{problem}");
    assert!(problem.to_string().contains("cursor"), "{problem}");
}

#[test]
fn test_deliveries_and_the_address_guard_over_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::new(dir.path(), &[]);
    let rx_port = free_port();
    let got = Got::default();
    got.listen(rx_port);
    let automation = setup(&node, &format!("http://127.0.0.1:{rx_port}/hook"), json!({"type": "ADD_ARTIFACT_ALIAS"}));
    let out = node.expect(200, "POST", &format!("/v1/automations/{automation}/test"), None);
    assert_eq!(out["delivered"], true, "{out:#}");
    assert_eq!(out["response"]["status"], 200);
    assert_eq!(out["response"]["body"], "ok");
    assert!(!out.to_string().contains(SECRET));
    let deliveries = got.all();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(header(&deliveries[0].0, "webhook-id"), out["fire_id"].as_str());
    assert!(node.executions(&automation).is_empty(), "a test delivery records no execution");

    // With private targets denied (the AWS setting), the same test is refused before connecting.
    let dir = tempfile::tempdir().unwrap();
    let guarded = Node::new(dir.path(), &["--deny-private-targets"]);
    let automation =
        setup(&guarded, &format!("http://localhost:{rx_port}/hook"), json!({"type": "ADD_ARTIFACT_ALIAS"}));
    let out = guarded.expect(200, "POST", &format!("/v1/automations/{automation}/test"), None);
    assert_eq!(out["delivered"], false, "{out:#}");
    let error = out["response"]["error"].as_str().unwrap();
    assert!(error.contains("refused") && error.contains("loopback"), "{error}");
    assert_eq!(got.all().len(), 1, "nothing more reached the receiver");
}

#[test]
fn the_sweeper_marks_a_silent_run_crashed_and_its_automation_delivers() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::new(dir.path(), &["--stall-period", "1s", "--sweep-every", "200ms"]);
    let rx_port = free_port();
    let got = Got::default();
    got.listen(rx_port);
    let automation = setup(
        &node,
        &format!("http://127.0.0.1:{rx_port}/hook"),
        json!({"type": "RUN_STATE", "states": ["crashed"], "run_filter": {"display_name": {"$regex": "^train"}}}),
    );
    let metrics = json!([{"specversion": "1.0", "id": "m1", "source": "tracker", "type": "run.metrics.logged",
        "time": "2026-11-01T12:00:00Z",
        "data": {"entity": "acme", "project": "mnist", "run_id": "r1", "run_name": "train-1", "user": "ana",
                 "tags": [], "config": {}, "rows": [{"step": 1, "values": {"loss": 0.5}}]}}]);
    node.expect(202, "POST", "/v1/events", Some(&metrics));
    let done =
        node.wait_executions(&automation, Duration::from_secs(20), |e| e.len() == 1 && e[0]["state"] == "FINISHED");
    assert_eq!(done[0]["event"]["state"], "crashed");
    assert_eq!(done[0]["event"]["event_source"], "automations/sweeper");
    std::thread::sleep(Duration::from_millis(800)); // several more sweeps
    assert_eq!(node.executions(&automation).len(), 1, "crashed once");
    let deliveries = got.all();
    assert_eq!(deliveries.len(), 1);
    let body: Value = serde_json::from_str(&deliveries[0].1).unwrap();
    assert_eq!(body["run"]["run_id"], "r1");
    assert_eq!(body["run"]["state"], "crashed");
}
