//! Deliveries to real HTTP receivers on loopback: signatures checked by the reference library and
//! by W&B's openssl recipe, retries and backoff, Retry-After, 410 Gone, timeouts, final failures,
//! Slack messages, test deliveries, and the address guard.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use automations_core::delivery::{ExecutionState, RetryPolicy};
use automations_core::model::Integration;
use automations_core::store::{AutomationCatalog, IntegrationLookup};
use automations_core::{AutomationId, EntityId, IntegrationName};
use automations_testkit::process::Server;
use automations_testkit::tools::{tool, workspace_root};
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;
use support::{Receiver, Reply, World, quick_policy};

const WAIT: Duration = Duration::from_secs(10);

fn webhook(url: &str, secret: Option<&str>) -> Value {
    let mut doc = json!({"name": "hook", "type": "webhook", "url": url, "access_token": "tok-123"});
    if let Some(s) = secret {
        doc["secret"] = s.into();
    }
    doc
}

fn hook_action() -> Value {
    json!({"type": "webhook", "integration": "hook"})
}

/// The Python receiver of `verify_receiver.py`, and the JSON lines it printed so far.
struct PyReceiver {
    server: Server,
    port: u16,
}

impl PyReceiver {
    fn start(secret: &str, mode: &str) -> PyReceiver {
        let script = workspace_root().join("shared/delivery/tests/verify_receiver.py");
        let mut cmd = Command::new(tool("python"));
        cmd.arg(script).arg(secret).arg(mode);
        let mut server = Server::spawn("verify_receiver.py", cmd);
        let mut port = 0;
        server.wait_until(Duration::from_secs(20), |s| {
            port = s.output().lines().find_map(|l| l.strip_prefix("listening ")?.trim().parse().ok()).unwrap_or(0);
            port != 0
        });
        PyReceiver { server, port }
    }

    fn records(&self) -> Vec<Value> {
        self.server.output().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }
}

async fn verified_by_reference_libraries(secret: &str, mode: &str) {
    let py = PyReceiver::start(secret, mode);
    let w = World::new(
        webhook(&format!("http://127.0.0.1:{}/in", py.port), Some(secret)),
        hook_action(),
        true,
        quick_policy(5_000),
    )
    .await;
    let _d = w.deliverer();
    let fire_id = w.fire("evt-1").await;
    let e = w.wait_for(&fire_id, WAIT, |e| e.state != ExecutionState::Pending).await;
    let records = py.records();
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(r["webhook_id"], fire_id.as_str());
    assert_eq!(r["standard_ok"], true, "standardwebhooks refused the signature: {r}");
    assert_eq!(r["wandb_ok"], true, "the openssl recipe disagrees with X-Wandb-Signature: {r}");
    assert_eq!(e.state, ExecutionState::Finished, "{:#}", e.to_json());
    assert_eq!(e.last_response.as_ref().unwrap().status, Some(204));
    let body: Value = serde_json::from_str(r["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["artifact"]["version_string"], "acme/mnist/classifier:v7", "the default payload");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_webhooks_and_wandb_signatures_verify_with_a_whsec_secret() {
    verified_by_reference_libraries("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standard_webhooks_and_wandb_signatures_verify_with_a_plain_secret() {
    verified_by_reference_libraries("my plain secret, with spaces", "raw").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_verifier_refuses_a_wrong_secret() {
    let py = PyReceiver::start("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec");
    let url = format!("http://127.0.0.1:{}/in", py.port);
    let w = World::new(
        webhook(&url, Some("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")),
        hook_action(),
        true,
        quick_policy(5_000),
    )
    .await;
    let _d = w.deliverer();
    let fire_id = w.fire("evt-1").await;
    let e = w.wait_for(&fire_id, WAIT, |e| e.state != ExecutionState::Pending).await;
    let r = &py.records()[0];
    assert_eq!((r["standard_ok"].as_bool(), r["wandb_ok"].as_bool()), (Some(false), Some(false)), "{r}");
    assert_eq!(e.state, ExecutionState::Failed, "401 fails at once");
    assert_eq!(e.last_response.unwrap().status, Some(401));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fails_twice_then_succeeds_with_backoff_and_one_webhook_id() {
    let rx = Receiver::start(vec![Reply::Status(503), Reply::Status(500)], Reply::Status(200)).await;
    let w = World::new(webhook(&rx.url, Some("s3cret")), hook_action(), true, quick_policy(2_000)).await;
    let _d = w.deliverer();
    let fire_id = w.fire("evt-1").await;
    let e = w.wait_for(&fire_id, WAIT, |e| e.state != ExecutionState::Pending).await;
    assert_eq!(e.state, ExecutionState::Finished);
    assert_eq!(e.attempts, 3);
    let got = rx.received();
    assert_eq!(got.len(), 3);
    for r in &got {
        assert_eq!(r.header("webhook-id"), Some(fire_id.as_str()), "the same webhook-id on every attempt");
        assert_eq!(r.header("authorization"), Some("Bearer tok-123"));
        assert_eq!(r.body, got[0].body, "the same body on every attempt");
    }
    for pair in got.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(gap >= Duration::from_millis(20), "retried after {gap:?}, sooner than the smallest backoff");
    }
    // What the execution shows: the masked request and the last response.
    let doc = e.to_json();
    assert_eq!(doc["request"]["headers"]["authorization"], "Bearer ****");
    assert!(!doc.to_string().contains("tok-123") && !doc.to_string().contains("s3cret"), "{doc:#}");
    assert_eq!(doc["last_response"]["status"], 200);
    assert_eq!(doc["last_response"]["body"], "answer 200");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honours_retry_after_on_429() {
    let rx = Receiver::start(vec![Reply::With(429, vec![("retry-after", "1".into())])], Reply::Status(200)).await;
    let w = World::new(webhook(&rx.url, None), hook_action(), true, quick_policy(2_000)).await;
    let _d = w.deliverer();
    let fire_id = w.fire("evt-1").await;
    let pending = w.wait_for(&fire_id, WAIT, |e| e.attempts == 1).await;
    assert_eq!(pending.state, ExecutionState::Pending);
    assert_eq!(pending.last_response.as_ref().unwrap().status, Some(429));
    let e = w.wait_for(&fire_id, WAIT, |e| e.state != ExecutionState::Pending).await;
    assert_eq!((e.state, e.attempts), (ExecutionState::Finished, 2));
    let got = rx.received();
    let gap = got[1].at - got[0].at;
    assert!(gap >= Duration::from_millis(950), "Retry-After: 1 was not honoured: retried after {gap:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_disables_the_integration_and_later_fires_are_skipped() {
    let rx = Receiver::start(vec![], Reply::Status(410)).await;
    let w = World::new(webhook(&rx.url, None), hook_action(), true, quick_policy(2_000)).await;
    let _d = w.deliverer();
    let first = w.fire("evt-1").await;
    let e = w.wait_for(&first, WAIT, |e| e.state != ExecutionState::Pending).await;
    assert_eq!((e.state, e.attempts), (ExecutionState::Failed, 1));
    let error = e.last_response.as_ref().unwrap().error.clone().unwrap();
    assert!(error.contains("410 Gone") && error.contains("disabled"), "{error}");
    let i = w.store.get_integration(&EntityId::new("acme"), &IntegrationName::new("hook")).await.unwrap().unwrap();
    assert!(i.disabled.as_deref().is_some_and(|d| d.contains("410")), "{:?}", i.disabled);
    let second = w.fire("evt-2").await;
    let s = w.wait_for(&second, WAIT, |e| e.state != ExecutionState::Pending).await;
    assert_eq!((s.state, s.attempts), (ExecutionState::Skipped, 0));
    assert!(s.last_response.unwrap().error.unwrap().contains("disabled"));
    assert_eq!(rx.received().len(), 1, "nothing is sent to a disabled integration");
}

/// Issue 16, item 8: deleting an automation left its pending deliveries retrying for 24 hours,
/// out of sight; they are cancelled (`SKIPPED`, with the reason) and nothing more is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_automations_pending_deliveries_are_skipped() {
    let rx = Receiver::start(vec![], Reply::Status(503)).await;
    let w = World::new(webhook(&rx.url, None), hook_action(), true, quick_policy(2_000)).await;
    let _d = w.deliverer();
    let fire_id = w.fire("evt-1").await;
    w.wait_for(&fire_id, WAIT, |e| e.attempts >= 1).await;
    assert!(w.store.delete_automation(&EntityId::new("acme"), &AutomationId::new("a1")).await.unwrap());
    let e = w.wait_for(&fire_id, WAIT, |e| e.state != ExecutionState::Pending).await;
    assert_eq!(e.state, ExecutionState::Skipped, "{:#}", e.to_json());
    assert!(e.last_response.as_ref().unwrap().error.as_deref().unwrap().contains("was deleted"), "{:#}", e.to_json());
    let sent = rx.received().len();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rx.received().len(), sent, "nothing is sent after the automation is deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_receiver_times_out_and_is_retried() {
    let rx = Receiver::start(vec![Reply::Hang(Duration::from_secs(5))], Reply::Status(200)).await;
    let w = World::new(webhook(&rx.url, None), hook_action(), true, quick_policy(300)).await;
    let _d = w.deliverer();
    let fire_id = w.fire("evt-1").await;
    let e = w.wait_for(&fire_id, WAIT, |e| e.state != ExecutionState::Pending).await;
    assert_eq!((e.state, e.attempts), (ExecutionState::Finished, 2));
    let got = rx.received();
    let gap = got[1].at - got[0].at;
    assert!(
        gap >= Duration::from_millis(300) && gap < Duration::from_secs(2),
        "the retry came {gap:?} after the first attempt: not after a 300 ms timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_error_fails_at_once_and_retries_end_at_the_deadline() {
    let rx = Receiver::start(vec![], Reply::Status(404)).await;
    let w = World::new(webhook(&rx.url, None), hook_action(), true, quick_policy(2_000)).await;
    let _d = w.deliverer();
    let fire_id = w.fire("evt-1").await;
    let e = w.wait_for(&fire_id, WAIT, |e| e.state != ExecutionState::Pending).await;
    assert_eq!((e.state, e.attempts), (ExecutionState::Failed, 1));
    assert_eq!(e.last_response.unwrap().error.as_deref(), Some("the receiver answered 404"));

    // Always 500: retried until the (shortened) retry window closes, then FAILED.
    let rx = Receiver::start(vec![], Reply::Status(500)).await;
    let policy = RetryPolicy { give_up_after: 400, ..quick_policy(2_000) };
    let w = World::new(webhook(&rx.url, None), hook_action(), true, policy).await;
    let _d = w.deliverer();
    let fire_id = w.fire("evt-1").await;
    let e = w.wait_for(&fire_id, WAIT, |e| e.state != ExecutionState::Pending).await;
    assert_eq!(e.state, ExecutionState::Failed);
    assert!(e.attempts >= 3, "only {} attempts in the window", e.attempts);
    assert_eq!(rx.received().len() as u32, e.attempts);
    assert!(e.last_response.unwrap().error.unwrap().contains("gave up after"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_gets_block_kit_and_no_signature_headers() {
    let rx = Receiver::start(vec![], Reply::Status(200)).await;
    let slack =
        json!({"name": "hook", "type": "slack", "url": format!("{}/services/T0/B0/XYZ", rx.url), "channel": "#ml"});
    let action = json!({"type": "slack", "integration": "hook", "title": "New production model", "message": "Deploying", "severity": "WARN"});
    let w = World::new(slack, action, true, quick_policy(2_000)).await;
    let _d = w.deliverer();
    let fire_id = w.fire("evt-1").await;
    let e = w.wait_for(&fire_id, WAIT, |e| e.state != ExecutionState::Pending).await;
    assert_eq!(e.state, ExecutionState::Finished);
    let got = &rx.received()[0];
    assert!(got.header("webhook-signature").is_none() && got.header("authorization").is_none());
    let m: Value = serde_json::from_str(&got.body).unwrap();
    assert_eq!(m["blocks"][0]["text"]["text"], "New production model");
    assert!(m["text"].as_str().unwrap().contains("[WARN]"));
    let url = e.to_json()["request"]["url"].as_str().unwrap().to_string();
    assert!(url.ends_with("/services/****") && !url.contains("XYZ"), "{url}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_is_rendered_into_the_body() {
    let rx = Receiver::start(vec![], Reply::Status(200)).await;
    let action = json!({"type": "webhook", "integration": "hook",
        "payload": "{\"v\": \"${artifact_version_string}\", \"acc\": ${artifact_metadata.accuracy}, \"who\": \"${event_author}\", \"run\": \"${run_id}\"}"});
    let w = World::new(webhook(&rx.url, None), action, true, quick_policy(2_000)).await;
    let _d = w.deliverer();
    let fire_id = w.fire("evt-1").await;
    w.wait_for(&fire_id, WAIT, |e| e.state != ExecutionState::Pending).await;
    let body: Value = serde_json::from_str(&rx.received()[0].body).unwrap();
    assert_eq!(body, json!({"v": "acme/mnist/classifier:v7", "acc": 0.93, "who": "ana", "run": ""}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_delivery_answers_with_the_response() {
    let rx = Receiver::start(vec![Reply::Status(202)], Reply::Status(500)).await;
    let w = World::new(webhook(&rx.url, Some("s3cret")), hook_action(), true, quick_policy(2_000)).await;
    let automation = w.engine.automations()[0].clone();
    let integration: Integration =
        w.store.get_integration(&EntityId::new("acme"), &IntegrationName::new("hook")).await.unwrap().unwrap();
    let out = w.delivery.test(&automation, Some(&integration), support::now_ms()).await;
    assert_eq!(out["delivered"], true, "{out:#}");
    assert_eq!(out["response"]["status"], 202);
    assert_eq!(out["response"]["body"], "answer 202");
    assert_eq!(out["request"]["headers"]["authorization"], "Bearer ****");
    assert!(!out.to_string().contains("tok-123"));
    let got = &rx.received()[0];
    assert_eq!(got.header("webhook-id"), out["fire_id"].as_str());
    let body: Value = serde_json::from_str(&got.body).unwrap();
    assert_eq!(body["event"]["source"], "automations/test");
}

/// The AWS setting: loopback, private and metadata targets are refused, by literal and by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_address_guard_refuses_internal_targets() {
    let rx = Receiver::start(vec![], Reply::Status(200)).await;
    for (url, expect) in [
        (rx.url.clone(), "a loopback address"),
        (format!("http://localhost:{}/hook", rx.port), "resolves to a loopback address"),
        (format!("http://[::1]:{}/hook", rx.port), "a loopback address"),
        (format!("http://[::ffff:127.0.0.1]:{}/hook", rx.port), "a loopback address"),
        ("http://169.254.169.254/latest/meta-data/".to_string(), "the cloud metadata address"),
        ("http://10.1.2.3/hook".to_string(), "a private address"),
    ] {
        let w = World::new(webhook(&url, None), hook_action(), false, quick_policy(2_000)).await;
        let _d = w.deliverer();
        let fire_id = w.fire("evt-1").await;
        let e = w.wait_for(&fire_id, WAIT, |e| e.state != ExecutionState::Pending).await;
        assert_eq!((e.state, e.attempts), (ExecutionState::Failed, 1), "{url}");
        let error = e.last_response.unwrap().error.unwrap();
        assert!(error.contains("refused") && error.contains(expect), "{url}: {error}");
    }
    assert!(rx.received().is_empty(), "nothing reached the loopback receiver");

    // The same receiver is reachable when private addresses are allowed (the local default).
    let w = World::new(
        webhook(&format!("http://localhost:{}/hook", rx.port), None),
        hook_action(),
        true,
        quick_policy(2_000),
    )
    .await;
    let _d = w.deliverer();
    let fire_id = w.fire("evt-1").await;
    let e = w.wait_for(&fire_id, WAIT, |e| e.state != ExecutionState::Pending).await;
    assert_eq!(e.state, ExecutionState::Finished);
    assert_eq!(rx.received().len(), 1);
}
