//! Stored metric history: `GET /v1/runs`, `GET /v1/runs/.../metrics/{name}`, and backtests over a
//! stored run, all fed by `/v1/events` through the one ingest path.

use crate::common::{TestApi, loss_doc, metrics};
use automations_core::EntityId;
use serde_json::{Value, json};

fn steps(points: &Value) -> Vec<(i64, f64)> {
    points.as_array().unwrap().iter().map(|p| (p["step"].as_i64().unwrap(), p["value"].as_f64().unwrap())).collect()
}

#[tokio::test]
async fn intake_stores_each_runs_values_once_and_lists_its_runs() {
    let t = TestApi::new().await;
    let batch = json!([metrics("acme", "e1", 1, &[0.5, 0.7, 0.9])]);
    t.call("POST", "/v1/events", &t.a, Some(batch.clone())).await.expect(202);
    // The same batch again, and a step 3 again: nothing new is stored (the engine skips them too).
    t.call("POST", "/v1/events", &t.a, Some(batch)).await.expect(202);
    t.call("POST", "/v1/events", &t.a, Some(json!([metrics("acme", "e2", 3, &[5.0, 1.1])]))).await.expect(202);
    let h = t.call("GET", "/v1/runs/acme/mnist/r1/metrics/loss", &t.a, None).await.expect(200).json();
    assert_eq!(steps(&h["points"]), vec![(1, 0.5), (2, 0.7), (3, 0.9), (4, 1.1)]);
    assert_eq!(h["max_points"], 10_000);
    assert_eq!(h["points"][0]["time"], "2026-11-01T12:00:00Z");
    let runs = t.call("GET", "/v1/runs?project=mnist", &t.a, None).await.expect(200).json();
    assert_eq!(runs["items"].as_array().unwrap().len(), 1, "{runs}");
    assert_eq!(runs["items"][0]["run_id"], "r1");
    assert_eq!(runs["items"][0]["metrics"], json!(["loss"]));
    // Another project has none; another entity's run is not found, even by its path.
    let none = t.call("GET", "/v1/runs?project=cifar", &t.a, None).await.expect(200).json();
    assert_eq!(none["items"], json!([]));
    t.call("GET", "/v1/runs/acme/mnist/r1/metrics/loss", &t.b, None).await.expect(404);
    t.call("GET", "/v1/runs/other/mnist/r1/metrics/loss", &t.b, None).await.expect(404);
    assert!(t.call("GET", "/v1/runs?project=mnist", &t.b, None).await.expect(200).json()["items"] == json!([]));
}

#[tokio::test]
async fn metric_names_with_a_slash_are_one_path_segment() {
    let t = TestApi::new().await;
    let env = json!({"specversion": "1.0", "id": "s1", "source": "test", "type": "run.metrics.logged",
        "time": "2026-11-01T12:00:00Z",
        "data": {"entity": "acme", "project": "mnist", "run_id": "r9", "rows": [{"step": 0, "values": {"system/cpu": 42.0}}]}});
    t.call("POST", "/v1/events", &t.a, Some(json!([env]))).await.expect(202);
    let h = t.call("GET", "/v1/runs/acme/mnist/r9/metrics/system%2Fcpu", &t.a, None).await.expect(200).json();
    assert_eq!(steps(&h["points"]), vec![(0, 42.0)]);
    assert_eq!(h["metric"], "system/cpu");
}

#[tokio::test]
async fn a_backtest_over_the_stored_run_fires_where_the_engine_fired() {
    let t = TestApi::new().await;
    let id = t.automation(&t.a, loss_doc("loss-high")).await["id"].as_str().unwrap().to_string();
    // loss > 1 first holds at step 4; the 24 h cooldown keeps step 5 quiet.
    let batch = json!([metrics("acme", "e1", 1, &[0.5, 0.8, 0.9, 1.5, 2.0])]);
    t.call("POST", "/v1/events", &t.a, Some(batch)).await.expect(202);
    let fired: Vec<i64> = t.store.fires().iter().map(|f| f.to_value()["step"].as_i64().unwrap()).collect();
    assert_eq!(fired, vec![4]);
    let path = format!("/v1/automations/{id}/backtest");
    let res = t.call("POST", &path, &t.a, Some(json!({"run": {"run_id": "r1"}}))).await.expect(200).json();
    let steps: Vec<i64> = res["fires"].as_array().unwrap().iter().map(|f| f["step"].as_i64().unwrap()).collect();
    assert_eq!(steps, fired, "{res}");
    assert_eq!(res["values"], 5);
    // A run with no stored history is named at the field.
    let res = t.call("POST", &path, &t.a, Some(json!({"run": {"run_id": "nope"}}))).await.expect(400);
    assert_eq!(res.paths(), vec!["run.run_id"]);
}

#[tokio::test]
async fn a_patched_condition_is_backtested_without_being_saved() {
    let t = TestApi::new().await;
    let id = t.automation(&t.a, loss_doc("loss-high")).await["id"].as_str().unwrap().to_string();
    t.call("POST", "/v1/events", &t.a, Some(json!([metrics("acme", "e1", 1, &[0.5, 0.8, 0.9, 1.5, 2.0])])))
        .await
        .expect(202);
    let path = format!("/v1/automations/{id}/backtest");
    let patch = json!({"event": {"metric": {"threshold": 0.7}}});
    let res =
        t.call("POST", &path, &t.a, Some(json!({"run": {"run_id": "r1"}, "patch": patch}))).await.expect(200).json();
    assert_eq!(res["fires"][0]["step"], 2, "{res}");
    let stored = t.call("GET", &format!("/v1/automations/{id}"), &t.a, None).await.expect(200).json();
    assert_eq!(stored["event"]["metric"]["threshold"], 1.0);
    // A bad patch is named under `patch.`.
    let bad = json!({"run": {"run_id": "r1"}, "patch": {"event": {"metric": {"window": 0}}}});
    let res = t.call("POST", &path, &t.a, Some(bad)).await.expect(400);
    assert_eq!(res.paths(), vec!["patch.event.metric.window"]);
}

#[tokio::test]
async fn preview_names_errors_at_the_same_paths_as_a_create() {
    let t = TestApi::new().await;
    let mut doc = loss_doc("w0");
    doc["event"]["metric"]["window"] = json!(0);
    let preview = t.call("POST", "/v1/automations/preview", &t.a, Some(doc.clone())).await.expect(400).paths();
    let create = t.call("POST", "/v1/automations", &t.a, Some(doc)).await.expect(400).paths();
    assert_eq!(preview, create);
    assert_eq!(preview, vec!["event.metric.window"]);
}

#[tokio::test]
async fn a_sink_without_history_stores_none_and_answers_501() {
    use automations_api::{Api, LocalSink, NoDelivery, auth};
    use automations_core::store::{ApiKeyStore, MemoryStore};
    use std::sync::Arc;
    let store = Arc::new(MemoryStore::new());
    let sink = LocalSink::new(store.clone()).await.unwrap().without_history();
    let router = automations_api::router(Api::new(store.clone(), Arc::new(sink), Arc::new(NoDelivery)));
    let (a, rec) = auth::issue_key(&EntityId::new("acme"), crate::common::NOW).unwrap();
    store.put_api_key(&rec).await.unwrap();
    let t = TestApi { router, store, a: a.clone(), b: a };
    t.call("POST", "/v1/events", &t.a, Some(json!([metrics("acme", "e1", 1, &[0.5])]))).await.expect(202);
    let res = t.call("GET", "/v1/runs?project=mnist", &t.a, None).await.expect(501);
    assert!(res.json()["detail"].as_str().unwrap().contains("--no-metric-history"), "{}", res.text);
    t.call("GET", "/v1/runs/acme/mnist/r1/metrics/loss", &t.a, None).await.expect(501);
    use automations_core::store::HistoryStore;
    let run = automations_core::event::RunKey { entity: "acme".into(), project: "mnist".into(), run_id: "r1".into() };
    assert!(t.store.metric_history(&run, "loss").await.unwrap().is_empty(), "nothing was stored");
}
