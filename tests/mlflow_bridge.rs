//! The MLflow bridge against a real MLflow server (installed into .venv by scripts/venv).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use automations_core::event::EventData;
use automations_core::mlflow::{self, Headers, Outcome, Target};
use automations_core::time::Timestamp;
use serde_json::json;
use std::time::Duration;
use support::mlflow::MlflowServer;
use support::receiver::Receiver;
use support::serve::Served;

const MODEL_EVENTS: [&str; 6] = [
    "registered_model.created",
    "model_version.created",
    "model_version_tag.set",
    "model_version_tag.deleted",
    "model_version_alias.created",
    "model_version_alias.deleted",
];

fn wall_clock() -> Timestamp {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970");
    Timestamp(d.as_millis() as i64)
}

/// What MLflow really sends verifies with the secret and maps as the README says; its test
/// delivery is recognised as one.
#[test]
fn real_mlflow_deliveries_verify_and_map() {
    let server = MlflowServer::start();
    let receiver = Receiver::start();
    let secret = "bridge-secret-1";
    let results = server.drive(&json!([
        {"op": "create_webhook", "url": receiver.url("/mlflow"), "secret": secret, "events": MODEL_EVENTS},
        {"op": "sleep", "seconds": 1.5},
        {"op": "create_model", "name": "churn"},
        {"op": "create_version", "name": "churn", "tags": {"team": "ml"}},
        {"op": "set_alias", "name": "churn", "alias": "production", "version": 1},
        {"op": "set_tag", "name": "churn", "version": 1, "key": "stage", "value": "prod"},
        {"op": "delete_tag", "name": "churn", "version": 1, "key": "stage"},
        {"op": "delete_alias", "name": "churn", "alias": "production"},
    ]));
    let webhook_id = results[0]["webhook_id"].as_str().expect("webhook id").to_string();
    let run_id = results[3]["run_id"].as_str().expect("run id").to_string();
    let requests = receiver.wait_for(6, Duration::from_secs(30));
    server.drive(&json!([{"op": "test_webhook", "webhook_id": webhook_id, "event": "model_version_alias.created"}]));
    let test = receiver.wait_for(7, Duration::from_secs(30)).pop().expect("the test delivery");

    let target = Target { integration: "mlflow-local", entity: "acme", registry: "models" };
    let receive = |r: &support::receiver::Request, secret: &str| {
        let headers = Headers {
            delivery_id: r.header(mlflow::HEADER_DELIVERY_ID),
            timestamp: r.header(mlflow::HEADER_TIMESTAMP),
            signature: r.header(mlflow::HEADER_SIGNATURE),
        };
        mlflow::receive(&target, secret.as_bytes(), &headers, &r.body, wall_clock())
    };
    let mut by_event = std::collections::BTreeMap::new();
    for r in &requests {
        let d = receive(r, secret).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&r.body)));
        assert!(matches!(receive(r, "not-the-secret"), Err(mlflow::MlflowError::BadSignature(_))));
        by_event.insert(d.event.clone(), d);
    }
    let mut expected = MODEL_EVENTS.map(String::from).to_vec();
    expected.sort();
    assert_eq!(by_event.keys().cloned().collect::<Vec<_>>(), expected);
    let types = |event: &str| match &by_event[event].outcome {
        Outcome::Events(envs) => envs.iter().map(|e| e.envelope.event_type()).collect::<Vec<_>>(),
        other => panic!("{event}: {other:?}"),
    };
    assert_eq!(types("model_version.created"), ["artifact.version.linked", "artifact.version.created"]);
    assert_eq!(types("model_version_alias.created"), ["artifact.alias.added"]);
    assert_eq!(types("model_version_tag.set"), ["artifact.tag.added"]);
    assert_eq!(types("model_version_tag.deleted"), ["artifact.tag.removed"]);
    assert!(matches!(by_event["registered_model.created"].outcome, Outcome::Ignored(_)));
    assert!(matches!(by_event["model_version_alias.deleted"].outcome, Outcome::Ignored(_)));
    let Outcome::Events(created) = &by_event["model_version.created"].outcome else { unreachable!() };
    let EventData::Artifact(a) = &created[0].envelope.data else { panic!("artifact event") };
    assert_eq!((a.collection.as_str(), a.version, a.tags.clone()), ("churn", Some(1), vec!["team=ml".to_string()]));
    assert_eq!(a.metadata["run_id"], run_id.as_str());
    assert_eq!(created[0].envelope.id, by_event["model_version.created"].delivery_id);
    let Outcome::Events(tagged) = &by_event["model_version_tag.set"].outcome else { unreachable!() };
    let EventData::Artifact(t) = &tagged[0].envelope.data else { panic!("artifact event") };
    assert_eq!(t.tag.as_deref(), Some("stage=prod"));

    assert_eq!(receive(&test, secret).expect("the test delivery verifies").outcome, Outcome::Test);
}

/// MLflow's registry, through `automations serve`, to webhooks: automations with alias regex and
/// tag filters fire exactly the expected deliveries, and a receiver failure is retried by this
/// product's delivery (MLflow itself drops a delivery after four attempts within seconds).
#[test]
fn mlflow_registry_changes_fire_exactly_the_expected_webhooks() {
    let receiver = Receiver::start();
    let served = Served::start("acme");
    let mlflow_server = MlflowServer::start();
    let secret = "bridge-secret-2";

    served.expect(
        201,
        "POST",
        "/v1/integrations",
        Some(&json!({"name": "mlflow-prod", "type": "mlflow", "secret": secret, "registry": "models"})),
    );
    served.expect(
        201,
        "POST",
        "/v1/integrations",
        Some(
            &json!({"name": "deploy-hook", "type": "webhook", "url": receiver.url("/deploy"), "secret": "hook-secret"}),
        ),
    );
    let template = r#"{"automation": "${automation_name}", "event": "${event_type}", "model": "${artifact_collection_name}", "version": "${artifact_version_index}", "alias": "${alias}", "tag": "${tag}", "source": "${artifact_metadata.source}"}"#;
    let scope = json!({"type": "registry", "entity": "acme", "registry": "models"});
    let mut ids = std::collections::BTreeMap::new();
    for (name, event) in [
        ("prod-alias", json!({"type": "ADD_ARTIFACT_ALIAS", "filter": {"alias": {"$regex": "^prod"}}})),
        ("canary-alias", json!({"type": "ADD_ARTIFACT_ALIAS", "filter": {"alias": "canary"}})),
        ("stage-production", json!({"type": "ADD_ARTIFACT_TAG", "filter": {"tag": "stage=production"}})),
        ("stage-removed", json!({"type": "REMOVE_ARTIFACT_TAG", "filter": {"tag": {"$regex": "^stage="}}})),
        ("team-ml-version", json!({"type": "LINK_ARTIFACT", "filter": {"tag": "team=ml"}})),
    ] {
        let doc = json!({
            "name": name, "scope": scope, "event": event,
            "action": {"type": "webhook", "integration": "deploy-hook", "payload": template},
        });
        let created = served.expect(201, "POST", "/v1/automations", Some(&doc));
        ids.insert(name, created["id"].as_str().expect("automation id").to_string());
    }
    // Our receiver's first answer is a failure: our delivery must try again.
    receiver.fail_next(1, 503);
    // For contrast, MLflow delivering alias events to the receiver directly, which fails.
    receiver.always_fail("/direct", 503);

    let intake = served.url("/v1/mlflow/acme/mlflow-prod/events");
    let events = MODEL_EVENTS;
    let results = mlflow_server.drive(&json!([
        {"op": "create_webhook", "url": intake, "secret": secret, "events": events},
        {"op": "create_webhook", "name": "direct", "url": receiver.url("/direct"), "secret": secret,
         "events": ["model_version_alias.created"]},
        {"op": "sleep", "seconds": 1.5},
        {"op": "create_model", "name": "churn"},
        {"op": "create_version", "name": "churn", "tags": {"team": "ml"}},
        {"op": "create_version", "name": "churn"},
        {"op": "set_alias", "name": "churn", "alias": "production", "version": 1},
        {"op": "set_alias", "name": "churn", "alias": "staging", "version": 2},
        {"op": "set_tag", "name": "churn", "version": 2, "key": "stage", "value": "candidate"},
        {"op": "set_tag", "name": "churn", "version": 1, "key": "stage", "value": "production"},
        {"op": "delete_tag", "name": "churn", "version": 1, "key": "stage"},
        {"op": "delete_alias", "name": "churn", "alias": "staging"},
    ]));
    let webhook_id = results[0]["webhook_id"].as_str().expect("webhook id").to_string();
    let source_v1 = results[4]["source"].as_str().expect("version 1 source").to_string();
    // MLflow's test delivery reaches us, verifies, and is answered without evaluation.
    let test = mlflow_server.drive(&json!([{"op": "test_webhook", "webhook_id": webhook_id}]));
    assert_eq!(test[0]["success"], true, "{test:?}");
    assert_eq!(test[0]["response_status"], 200, "{test:?}");
    assert!(test[0]["response_body"].as_str().unwrap_or_default().contains("\"test\""), "{test:?}");

    // Four fires, one of them attempted twice.
    let ours = |rs: Vec<support::receiver::Request>| rs.into_iter().filter(|r| r.path != "/direct").collect::<Vec<_>>();
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while ours(receiver.requests()).len() < 5 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(3));
    let requests = ours(receiver.requests());
    assert_eq!(requests.len(), 5, "exactly the expected deliveries: {requests:#?}");

    let mut seen: Vec<(String, serde_json::Value)> = Vec::new();
    for r in &requests {
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/deploy"));
        let id = r.header("webhook-id").expect("signed deliveries carry webhook-id").to_string();
        assert!(r.header("webhook-signature").is_some_and(|s| s.starts_with("v1,")), "{:?}", r.headers);
        seen.push((id, r.json()));
    }
    let failed: Vec<_> = requests.iter().filter(|r| r.status == 503).collect();
    assert_eq!(failed.len(), 1, "one answer was the scripted failure");
    let retried_id = failed[0].header("webhook-id").unwrap_or_default().to_string();
    let retried: Vec<_> = seen.iter().filter(|(id, _)| *id == retried_id).collect();
    assert_eq!(retried.len(), 2, "the failed delivery is attempted again with the same webhook-id: {seen:#?}");
    assert_eq!(retried[0].1, retried[1].1);

    let mut fired: Vec<serde_json::Value> = Vec::new();
    for (id, body) in &seen {
        if !fired.iter().any(|b| b["webhook_id"] == id.as_str()) {
            let mut b = body.clone();
            b["webhook_id"] = id.as_str().into();
            fired.push(b);
        }
    }
    let mut summary: Vec<(String, String, String, String, String)> = fired
        .iter()
        .map(|b| {
            let s = |k: &str| b[k].as_str().unwrap_or_default().to_string();
            (s("automation"), s("event"), s("version"), s("alias"), s("tag"))
        })
        .collect();
    summary.sort();
    let row = |a: &str, e: &str, v: &str, al: &str, t: &str| (a.into(), e.into(), v.into(), al.into(), t.into());
    assert_eq!(
        summary,
        vec![
            row("prod-alias", "ADD_ARTIFACT_ALIAS", "1", "production", ""),
            row("stage-production", "ADD_ARTIFACT_TAG", "1", "", "stage=production"),
            row("stage-removed", "REMOVE_ARTIFACT_TAG", "1", "", "stage="),
            row("team-ml-version", "LINK_ARTIFACT", "1", "", ""),
        ],
        "server output:\n{}",
        served.output()
    );
    let linked = fired.iter().find(|b| b["automation"] == "team-ml-version").expect("the link fire");
    assert_eq!(linked["model"], "churn");
    assert_eq!(linked["source"], source_v1.as_str());

    // Executions through the API: one per fire, all delivered; the retried one took two attempts.
    for (name, id) in &ids {
        let path = format!("/v1/automations/{id}/executions");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let items = loop {
            let page = served.expect(200, "GET", &path, None);
            let items = page["items"].as_array().expect("items").clone();
            if items.iter().all(|e| e["state"] == "FINISHED") || std::time::Instant::now() > deadline {
                break items;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        if *name == "canary-alias" {
            assert!(items.is_empty(), "{name}: {items:#?}");
            continue;
        }
        assert_eq!(items.len(), 1, "{name}: {items:#?}");
        let e = &items[0];
        assert_eq!(e["state"], "FINISHED", "{name}: {e:#}");
        let want_attempts = if e["fire_id"] == retried_id.as_str() { 2 } else { 1 };
        assert_eq!(e["attempts"], want_attempts, "{name}: {e:#}");
    }

    // MLflow on its own: each alias event tried four times within seconds, then dropped.
    std::thread::sleep(Duration::from_secs(5));
    let direct: Vec<_> = receiver.requests().into_iter().filter(|r| r.path == "/direct").collect();
    let mut per_delivery = std::collections::BTreeMap::<String, usize>::new();
    for r in &direct {
        *per_delivery.entry(r.header("x-mlflow-delivery-id").unwrap_or_default().to_string()).or_default() += 1;
    }
    assert_eq!(per_delivery.values().copied().collect::<Vec<_>>(), [4, 4], "{per_delivery:?}");
}
