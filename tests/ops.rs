//! Operating `automations serve` (issue 13): its log and its metrics, over a realistic session:
//! an integration with a secret and an access token, an automation, events that fire (and one
//! that is rejected), a delivery that fails once and is retried to a local receiver, and a
//! stalled run the sweeper marks crashed.
//!
//! The log must carry one line per request, rejection, fire, delivery attempt and sweep, and
//! none of the credentials of the session (the API key, the integration's secret and token, the
//! signatures and `Authorization` header the receiver saw). The metrics are scraped and read by
//! the Prometheus project's own parser (`prometheus_client` from the test venv).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::receiver::Receiver;
use support::serve::Served;
use support::{free_port, http, tool};

const SECRET: &str = "whsec-ops-test-Zq8v3RkP2mW9";
const TOKEN: &str = "tok-ops-test-Hx4nB7cL1sD6";

/// One sample: its name, labels and value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: HashMap<String, String>,
    value: f64,
}

/// Scrape `GET /metrics` and parse it with `prometheus_client.parser`; the families' types by
/// name, and every sample. Panics when the parser refuses the text.
fn scrape(port: u16) -> (HashMap<String, String>, Vec<Sample>) {
    let (status, text) = http(port, "GET", "/metrics", &[], b"").expect("the metrics listener answers");
    assert_eq!(status, 200, "{text}");
    let program = "import sys, json\n\
        from prometheus_client.parser import text_string_to_metric_families\n\
        out = [{'name': f.name, 'type': f.type, 'samples': [[s.name, s.labels, s.value] for s in f.samples]}\n\
               for f in text_string_to_metric_families(sys.stdin.read())]\n\
        print(json.dumps(out))\n";
    let mut child = Command::new(tool("python"))
        .args(["-c", program])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the venv's python");
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("write the metrics to the parser");
    let out = child.wait_with_output().expect("the parser's output");
    assert!(
        out.status.success(),
        "the Prometheus parser refused the metrics:\n{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let families: Vec<Value> = serde_json::from_slice(&out.stdout).expect("the parser's JSON");
    let mut types = HashMap::new();
    let mut samples = Vec::new();
    for f in families {
        types.insert(f["name"].as_str().unwrap().to_string(), f["type"].as_str().unwrap().to_string());
        for s in f["samples"].as_array().unwrap() {
            let labels =
                s[1].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string())).collect();
            samples.push(Sample { name: s[0].as_str().unwrap().to_string(), labels, value: s[2].as_f64().unwrap() });
        }
    }
    (types, samples)
}

/// The value of the sample `name` whose labels include `labels` (0 when there is none).
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
        .map(|s| s.value)
        .sum()
}

fn wait_for(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < limit, "{what}: not after {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn metrics_envelope(id: &str, run: &str, loss: f64) -> Value {
    json!({"specversion": "1.0", "id": id, "source": "trainer", "type": "run.metrics.logged",
           "time": "2026-11-01T12:00:05Z",
           "data": {"entity": "acme", "project": "mnist", "run_id": run, "run_name": "train",
                    "rows": [{"step": 1, "values": {"loss": loss, "acc": 0.5}}]}})
}

#[test]
fn a_session_is_logged_and_measured_without_a_secret() {
    let receiver = Receiver::start();
    // The first delivery fails: the log must show the retry and when it is due.
    receiver.fail_next(1, 503);
    let metrics_port = free_port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let served = Served::start_with(
        "acme",
        &["--log-format", "json", "--metrics-addr", &metrics_addr, "--sweep-every", "300ms", "--stall-period", "1s"],
    );

    served.expect(
        201,
        "POST",
        "/v1/integrations",
        Some(&json!({"name": "hook", "type": "webhook", "url": receiver.url("/deploy"),
                      "secret": SECRET, "access_token": TOKEN})),
    );
    let automation = served.expect(
        201,
        "POST",
        "/v1/automations",
        Some(&json!({"name": "loss-too-high", "scope": {"type": "project", "project": "mnist"},
                      "event": {"type": "RUN_METRIC_THRESHOLD",
                                "metric": {"name": "loss", "cmp": "$gt", "threshold": 1.0}},
                      "action": {"type": "webhook", "integration": "hook"}})),
    );
    let id = automation["id"].as_str().unwrap().to_string();
    let batch = json!([
        metrics_envelope("e1", "r1", 1.5),
        {"specversion": "1.0", "id": "bad-1", "source": "trainer", "type": "run.metrics.lost"},
        {"specversion": "1.0", "id": "e2", "source": "trainer", "type": "run.state.changed",
         "time": "2026-11-01T12:00:06Z",
         "data": {"entity": "acme", "project": "mnist", "run_id": "r2", "state": "running"}},
    ]);
    let answer = served.expect(202, "POST", "/v1/events", Some(&batch));
    assert_eq!(answer["accepted"], 2, "{answer}");

    // Delivered on the second attempt; r2, silent for its 1 s stall period, is marked crashed.
    let requests = receiver.wait_for(2, Duration::from_secs(30));
    let mut samples = Vec::new();
    let mut types = HashMap::new();
    wait_for("the delivery and the crash in the metrics", Duration::from_secs(30), || {
        (types, samples) = scrape(metrics_port);
        value(&samples, "automations_deliveries_total", &[("outcome", "delivered")]) >= 1.0
            && value(&samples, "automations_runs_marked_crashed_total", &[]) >= 1.0
    });

    // The metrics, as the parser read them.
    for (family, kind) in [
        ("automations_envelopes_accepted", "counter"),
        ("automations_envelopes_rejected", "counter"),
        ("automations_metric_values_evaluated", "counter"),
        ("automations_fires", "counter"),
        ("automations_deliveries", "counter"),
        ("automations_delivery_duration_seconds", "histogram"),
        ("automations_outbox_pending", "gauge"),
        ("automations_outbox_oldest_pending_age_seconds", "gauge"),
        ("automations_sweeps", "counter"),
        ("automations_runs_marked_crashed", "counter"),
        ("automations_ingest_batch_duration_seconds", "histogram"),
        ("automations_http_requests", "counter"),
        ("automations_http_request_duration_seconds", "histogram"),
    ] {
        assert_eq!(types.get(family).map(String::as_str), Some(kind), "{family} in {types:?}");
    }
    let v = |name: &str, labels: &[(&str, &str)]| value(&samples, name, labels);
    assert_eq!(v("automations_envelopes_accepted_total", &[("event_type", "run.metrics.logged")]), 1.0);
    assert_eq!(v("automations_envelopes_accepted_total", &[("event_type", "run.state.changed")]), 1.0);
    assert_eq!(v("automations_envelopes_rejected_total", &[("event_type", "unknown")]), 1.0);
    // loss and acc of e1: both evaluated (whether watched or not is the engine's business).
    assert_eq!(v("automations_metric_values_evaluated_total", &[]), 2.0);
    assert_eq!(v("automations_fires_total", &[("trigger", "RUN_METRIC_THRESHOLD")]), 1.0);
    assert_eq!(v("automations_deliveries_total", &[("outcome", "retry")]), 1.0);
    assert_eq!(v("automations_deliveries_total", &[("outcome", "delivered")]), 1.0);
    assert_eq!(v("automations_delivery_duration_seconds_count", &[]), 2.0);
    assert_eq!(v("automations_outbox_pending", &[]), 0.0);
    assert_eq!(v("automations_outbox_oldest_pending_age_seconds", &[]), 0.0);
    assert!(v("automations_sweeps_total", &[("result", "ok")]) >= 1.0);
    assert_eq!(v("automations_http_requests_total", &[("route", "/v1/events"), ("status", "202")]), 1.0);
    assert!(v("automations_http_requests_total", &[("route", "/v1/automations"), ("method", "POST")]) >= 1.0);
    assert!(v("automations_ingest_batch_duration_seconds_count", &[]) >= 1.0);

    // A request to a route with an id, for its template in the log.
    served.expect(200, "GET", &format!("/v1/automations/{id}/executions"), None);

    let output = served.output_with("/v1/automations/{id}/executions");
    let lines: Vec<Value> = output.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(lines.len() > 5, "the log is JSON lines:\n{output}");
    let find = |what: &str, pred: &dyn Fn(&Value) -> bool| {
        lines.iter().find(|l| pred(l)).cloned().unwrap_or_else(|| panic!("no log line for {what} in:\n{output}"))
    };
    let request = find("POST /v1/events", &|l| l["message"] == "request" && l["route"] == "/v1/events");
    assert_eq!(request["method"], "POST");
    assert_eq!(request["status"], 202);
    assert_eq!(request["entity"], "acme");
    assert!(request["latency_ms"].as_f64().is_some(), "{request}");
    assert_eq!(request["level"], "INFO");
    find("a route template", &|l| l["message"] == "request" && l["route"] == "/v1/automations/{id}/executions");
    let rejected = find("the rejected envelope", &|l| l["message"] == "envelope rejected");
    assert_eq!(rejected["envelope_id"], "bad-1");
    assert!(rejected["reason"].as_str().unwrap().contains("type: unknown event type"), "{rejected}");
    let fired = find("the fire", &|l| l["message"] == "fired" && l["automation"] == "loss-too-high");
    assert_eq!(fired["run"], "r1");
    let fire_id = fired["fire_id"].as_str().unwrap().to_string();
    assert!(fire_id.starts_with("fire_"), "{fired}");
    assert_eq!(requests[1].header("webhook-id"), Some(fire_id.as_str()));
    let retry = find("the failed attempt", &|l| l["message"] == "delivery attempt" && l["outcome"] == "retry");
    assert_eq!(retry["fire_id"], fire_id.as_str());
    assert_eq!(retry["status"], 503);
    assert!(retry["next_attempt_at"].as_str().is_some_and(|t| t.starts_with("20")), "{retry}");
    assert!(retry["latency_ms"].as_i64().is_some(), "{retry}");
    let delivered = find("the delivery", &|l| l["message"] == "delivery attempt" && l["outcome"] == "delivered");
    assert_eq!(delivered["fire_id"], fire_id.as_str());
    assert_eq!(delivered["attempt"], 2);
    find("a sweep that crashed r2", &|l| l["message"] == "swept" && l["crashed"] == 1);

    // The rejected envelope, from the command line.
    let bin = env!("CARGO_BIN_EXE_automations");
    let out = Command::new(bin).args(["rejects", "list", "--db"]).arg(&served.db).output().expect("run rejects list");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let listed: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["event_id"], "bad-1");
    assert!(listed[0]["reason"].as_str().unwrap().contains("type: unknown event type"), "{listed:?}");
    let reject_id = listed[0]["id"].to_string();
    let out = Command::new(bin).args(["rejects", "show", &reject_id, "--db"]).arg(&served.db).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shown: Value = serde_json::from_slice(&out.stdout).expect("a JSON document");
    assert!(shown["body"].as_str().unwrap().contains("run.metrics.lost"), "{shown}");
    let out = Command::new(bin).args(["rejects", "show", "999", "--db"]).arg(&served.db).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no reject with id 999"));
    let out = Command::new(bin).args(["rejects", "list", "--db", "/nonexistent/automations.db"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such database"));

    // No credential of the session, in any form the receiver saw it, is in the log.
    let mut credentials = vec![served.key.clone(), SECRET.to_string(), TOKEN.to_string()];
    for r in &requests {
        for header in ["authorization", "webhook-signature", "x-wandb-signature"] {
            let value = r.header(header).unwrap_or_else(|| panic!("the delivery has no {header} header"));
            credentials.push(value.to_string());
            // The signatures without their `v1,` prefix, and the token without `Bearer `.
            for part in value.split([' ', ',']).filter(|p| p.len() >= 16) {
                credentials.push(part.to_string());
            }
        }
    }
    for c in &credentials {
        assert!(!output.contains(c.as_str()), "the log holds a credential ({} characters):\n{output}", c.len());
    }
}

#[test]
fn metrics_are_off_unless_asked_for_and_the_log_is_text_by_default() {
    let served = Served::start("acme");
    served.expect(200, "GET", "/v1/automations", None);
    let output = served.output_with("route=\"/v1/automations\"");
    let line = output
        .lines()
        .find(|l| l.contains("request") && l.contains("route=\"/v1/automations\""))
        .unwrap_or_else(|| panic!("no text request line in:\n{output}"));
    assert!(line.contains(" INFO ") && line.contains("status=200") && line.contains("entity=\"acme\""), "{line}");
    assert!(serde_json::from_str::<Value>(line).is_err(), "text, not JSON: {line}");
    assert!(!output.contains(&served.key), "the key is not logged");
    assert!(!output.contains("/metrics"), "no metrics listener was started:\n{output}");
    // The main address has no metrics route.
    let (status, _) = http(served.port, "GET", "/metrics", &[], b"").expect("an answer");
    assert_eq!(status, 404);
}

/// `automations doctor` checks the database, the key, each integration's host (connecting, never
/// delivering) and the clock, and says what to fix.
#[test]
fn doctor_says_what_to_fix_without_sending_a_delivery() {
    let receiver = Receiver::start();
    let served = Served::start("acme");
    let closed = free_port();
    let slack = format!("http://127.0.0.1:{closed}/services/T000/B000/slack-credential-Qw3");
    for body in [
        json!({"name": "up", "type": "webhook", "url": receiver.url("/hook"), "secret": SECRET}),
        json!({"name": "down", "type": "webhook", "url": format!("http://127.0.0.1:{closed}/hook")}),
        json!({"name": "alerts", "type": "slack", "url": slack, "channel": "#ml"}),
    ] {
        served.expect(201, "POST", "/v1/integrations", Some(&body));
    }
    let doctor = |key: Option<&str>, db: &std::path::Path| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_automations"));
        cmd.args(["doctor", "--db"]).arg(db).env_remove("AUTOMATIONS_API_KEY");
        if let Some(key) = key {
            cmd.env("AUTOMATIONS_API_KEY", key);
        }
        let out = cmd.output().expect("run automations doctor");
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };

    let (code, text) = doctor(Some(&served.key), &served.db);
    assert_eq!(code, Some(1), "an integration is down:\n{text}");
    assert!(text.contains("ok    database"), "{text}");
    assert!(text.contains("ok    clock"), "{text}");
    assert!(text.contains("ok    API key: grants entity \"acme\""), "{text}");
    assert!(text.contains("ok    integration \"up\""), "{text}");
    assert!(text.contains("FAIL  integration \"down\""), "{text}");
    assert!(text.contains("FAIL  integration \"alerts\""), "{text}");
    assert!(text.contains("fix: "), "{text}");
    assert!(!text.contains("slack-credential") && !text.contains(&served.key), "no credential printed:\n{text}");
    assert!(receiver.requests().is_empty(), "doctor sent nothing to the receiver");

    let (code, text) = doctor(Some("ak_not-a-key"), &served.db);
    assert_eq!(code, Some(1));
    assert!(text.contains("FAIL  API key: this database does not know it"), "{text}");
    let (code, text) = doctor(None, &served.db);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("skip  API key"), "{text}");
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = doctor(None, &dir.path().join("missing.db"));
    assert_eq!(code, Some(1));
    assert!(text.contains("FAIL  database") && text.contains("does not exist"), "{text}");
    assert!(!dir.path().join("missing.db").exists(), "doctor creates no database");
}
