//! MLflow tracking in, end to end: a real MLflow tracking server (from the test venv), a script
//! that logs with MLflow's fluent API, `automations serve` polling it, webhooks out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use std::time::{Duration, Instant};
use support::Process;
use support::mlflow::MlflowServer;
use support::receiver::{Receiver, Request};
use support::serve::Served;

/// The poll interval of these tests (`--mlflow-poll-every`; an integration's own
/// `poll_seconds` is at least 5).
const POLL: Duration = Duration::from_secs(1);

fn serve() -> Served {
    Served::start_with("acme", &["--mlflow-poll-every", "1s"])
}

/// The webhook integration `hook` and the tracking integration `mlflow-local` of `server`.
fn integrations(served: &Served, receiver: &Receiver, server: &MlflowServer) {
    served.expect(
        201,
        "POST",
        "/v1/integrations",
        Some(&json!({"name": "hook", "type": "webhook", "url": receiver.url("/hook")})),
    );
    served.expect(
        201,
        "POST",
        "/v1/integrations",
        Some(&json!({"name": "mlflow-local", "type": "mlflow", "tracking_uri": server.uri(), "experiments": ["mnist"], "poll_seconds": 5})),
    );
}

fn automation(served: &Served, name: &str, event: Value) {
    let payload = r#"{"automation": "${automation_name}", "event": "${event_type}", "run": "${run_id}"}"#;
    served.expect(
        201,
        "POST",
        "/v1/automations",
        Some(&json!({"name": name, "scope": {"type": "project", "project": "mnist"}, "event": event,
                     "action": {"type": "webhook", "integration": "hook", "payload": payload}})),
    );
}

fn names(requests: &[Request]) -> Vec<String> {
    let mut out: Vec<String> =
        requests.iter().map(|r| r.json()["automation"].as_str().unwrap_or("?").to_string()).collect();
    out.sort();
    out
}

fn wait_file(path: &std::path::Path, process: &Process, limit: Duration) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < limit,
            "{} never appeared; the script's output:\n{}",
            path.display(),
            process.output()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A run whose loss turns up fires a change automation on the experiment's project exactly
/// once, within two poll intervals; the run ending FAILED fires a RUN_STATE automation. A
/// tracking server that does not answer is refused at create, naming tracking_uri; the last
/// poll shows on the integration.
#[test]
fn loss_turning_up_and_a_failed_run_fire_once_each() {
    let receiver = Receiver::start();
    let served = serve();
    let server = MlflowServer::start();

    let (status, refused) = served.call(
        "POST",
        "/v1/integrations",
        Some(&json!({"name": "nowhere", "type": "mlflow", "tracking_uri": format!("http://127.0.0.1:{}", support::free_port())})),
    );
    assert_eq!(status, 400, "{refused}");
    assert!(refused.to_string().contains("tracking_uri") && refused.to_string().contains("cannot reach"), "{refused}");

    integrations(&served, &receiver, &server);
    automation(
        &served,
        "loss-up",
        json!({"type": "RUN_METRIC_CHANGE", "metric": {"name": "loss", "agg": "AVERAGE", "current_window": 3,
               "prior_window": 3, "change_type": "ABSOLUTE", "change_dir": "INCREASE", "amount": 0.5}}),
    );
    automation(&served, "run-failed", json!({"type": "RUN_STATE", "states": ["failed"]}));

    let out = server.log("mnist", &automations_testkit::mlflow::loss_turning_up());
    let logged = Instant::now();
    let run_id = out[0]["run_id"].as_str().expect("run id").to_string();
    let fired = receiver.wait_for(1, POLL * 2 + Duration::from_secs(3));
    let latency = logged.elapsed();
    assert_eq!(names(&fired), ["loss-up"]);
    assert!(latency <= POLL * 2 + Duration::from_secs(3), "{latency:?}");
    assert_eq!(fired[0].json()["run"], run_id.as_str());

    server.log("mnist", &json!([{"op": "start"}, {"op": "log", "key": "loss", "values": [1.0], "first_step": 0}, {"op": "end", "status": "FAILED"}]));
    let fired = receiver.wait_for(2, POLL * 2 + Duration::from_secs(3));
    assert_eq!(names(&fired), ["loss-up", "run-failed"]);
    // Two more polls: nothing new fires.
    std::thread::sleep(POLL * 3);
    assert_eq!(names(&receiver.requests()), ["loss-up", "run-failed"], "{}", served.output());

    let shown = served.expect(200, "GET", "/v1/integrations/mlflow-local", None);
    assert_eq!(shown["last_poll"]["outcome"], "ok", "{shown}");
    assert_eq!(shown["tracking_uri"], server.uri().as_str());
    assert!(shown["last_poll"]["requests"].as_u64().is_some_and(|n| n >= 3), "{shown}");
}

/// `automations serve` killed mid-run and started again: the value logged while it was down
/// fires, the fire from before does not repeat, and the run's end fires once.
#[test]
fn serve_killed_mid_run_neither_repeats_nor_misses() {
    let receiver = Receiver::start();
    let mut served = serve();
    let server = MlflowServer::start();
    integrations(&served, &receiver, &server);
    let threshold = |metric: &str| json!({"type": "RUN_METRIC_THRESHOLD", "metric": {"name": metric, "cmp": "$gt", "threshold": 4}});
    automation(&served, "loss-spike", threshold("loss"));
    automation(&served, "val-spike", threshold("val_loss"));
    automation(&served, "run-finished", json!({"type": "RUN_STATE", "states": ["finished"]}));

    let marks = tempfile::tempdir().unwrap();
    let (p1, go, p2) = (marks.path().join("p1"), marks.path().join("go"), marks.path().join("p2"));
    let steps = json!([
        {"op": "start", "run_name": "restart"},
        {"op": "log", "key": "loss", "values": [1.0, 1.0, 1.0, 5.0], "first_step": 0},
        {"op": "mark", "path": p1},
        {"op": "wait", "path": go},
        {"op": "log", "key": "val_loss", "values": [1.0, 1.0, 5.0], "first_step": 0},
        {"op": "log", "key": "loss", "values": [1.0, 1.0], "first_step": 4},
        {"op": "end", "status": "FINISHED"},
        {"op": "mark", "path": p2},
    ]);
    let script = Process::spawn("mlflow_tracking.py", server.log_command("mnist", &steps));
    wait_file(&p1, &script, Duration::from_secs(60));
    let fired = receiver.wait_for(1, POLL * 2 + Duration::from_secs(3));
    assert_eq!(names(&fired), ["loss-spike"]);

    served.kill();
    std::fs::write(&go, b"").unwrap();
    wait_file(&p2, &script, Duration::from_secs(60));
    served.restart();

    let fired = receiver.wait_for(3, POLL * 2 + Duration::from_secs(5));
    std::thread::sleep(POLL * 3);
    let all = receiver.requests();
    assert_eq!(names(&all), ["loss-spike", "run-finished", "val-spike"], "{fired:?}\n{}", served.output());
}

fn last_poll(served: &Served) -> Value {
    served.expect(200, "GET", "/v1/integrations/mlflow-local", None)["last_poll"].clone()
}

fn wait_poll(served: &Served, limit: Duration, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let p = last_poll(served);
        if ok(&p) {
            return p;
        }
        assert!(start.elapsed() < limit, "no poll {what} after {limit:?}: {p}\n{}", served.output());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The MLflow server stopped mid-run: the integration shows the failing polls, and once the
/// server is back the poller catches up: the spike and the run's end fire, once each.
#[test]
fn mlflow_server_down_mid_run_delays_fires_but_loses_none() {
    let receiver = Receiver::start();
    let served = serve();
    let mut server = MlflowServer::start();
    integrations(&served, &receiver, &server);
    automation(
        &served,
        "loss-spike",
        json!({"type": "RUN_METRIC_THRESHOLD", "metric": {"name": "loss", "cmp": "$gt", "threshold": 4}}),
    );
    automation(&served, "run-finished", json!({"type": "RUN_STATE", "states": ["finished"]}));
    let marks = tempfile::tempdir().unwrap();
    let (p1, go, p2) = (marks.path().join("p1"), marks.path().join("go"), marks.path().join("p2"));
    let steps = json!([
        {"op": "start", "run_name": "outage"},
        {"op": "log", "key": "loss", "values": [1.0, 1.0], "first_step": 0},
        {"op": "mark", "path": p1},
        {"op": "wait", "path": go},
        {"op": "log", "key": "loss", "values": [5.0, 1.0], "first_step": 2},
        {"op": "end", "status": "FINISHED"},
        {"op": "mark", "path": p2},
    ]);
    let script = Process::spawn("mlflow_tracking.py", server.log_command("mnist", &steps));
    wait_file(&p1, &script, Duration::from_secs(60));
    wait_poll(&served, Duration::from_secs(10), "forwarding the first values", |p| {
        p["outcome"] == "ok" && p["envelopes"].as_u64().is_some_and(|n| n > 0)
    });

    server.stop();
    let failed = wait_poll(&served, Duration::from_secs(10), "failing", |p| p["outcome"] == "error");
    let error = failed["error"].as_str().unwrap_or_default();
    assert!(error.contains("cannot reach the MLflow tracking server"), "{failed}");
    assert!(failed["consecutive_failures"].as_u64().is_some_and(|n| n >= 1), "{failed}");
    server.restart();
    std::fs::write(&go, b"").unwrap();
    wait_file(&p2, &script, Duration::from_secs(60));

    receiver.wait_for(2, Duration::from_secs(30));
    std::thread::sleep(POLL * 3);
    assert_eq!(names(&receiver.requests()), ["loss-spike", "run-finished"], "{}", served.output());
    assert_eq!(last_poll(&served)["outcome"], "ok");
}
