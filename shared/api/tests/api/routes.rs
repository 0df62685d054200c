//! The route table, authentication, size limits, unknown routes and methods, W&B import, and the
//! delivery seam (501 without delivery).

use crate::common::{TestApi, loss_doc};
use automations_api::ROUTES;
use axum::body::Body;
use serde_json::{Value, json};
use std::collections::BTreeSet;

fn fixture(name: &str) -> Value {
    let path = format!("{}/../../tests/fixtures/wandb/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

/// The router serves exactly the routes of `ROUTES`: each answers (something other than "no
/// such route" or 405), and every other method on those paths answers 405.
#[tokio::test]
async fn the_router_serves_exactly_the_route_table() {
    let t = TestApi::new().await;
    t.webhook(&t.a, "hook").await;
    let id = t.automation(&t.a, loss_doc("x")).await["id"].as_str().unwrap().to_string();
    let concrete = |p: &str| p.replace("{id}", &id).replace("{name}", "hook");
    for (method, path) in ROUTES {
        let res = t.call(method, &concrete(path), &t.a, Some(json!({}))).await;
        assert_ne!(res.status.as_u16(), 405, "{method} {path}: {}", res.text);
        if res.status.as_u16() == 404 {
            assert_ne!(res.json()["detail"], "no such route", "{method} {path}");
        }
    }
    let paths: BTreeSet<&str> = ROUTES.iter().map(|(_, p)| *p).collect();
    for path in paths {
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if ROUTES.contains(&(method, path)) {
                continue;
            }
            t.call(method, &concrete(path), &t.a, None).await.expect(405);
        }
    }
    let res = t.call("GET", "/v1/nothing", &t.a, None).await.expect(404);
    assert_eq!(res.json()["detail"], "no such route");
}

#[tokio::test]
async fn every_route_but_health_needs_a_known_key() {
    let t = TestApi::new().await;
    for (method, path) in ROUTES {
        let path = path.replace("{id}", "au_x").replace("{name}", "n");
        if path == "/v1/health" {
            t.raw(method, &path, None, "").await.expect(200);
            continue;
        }
        // MLflow cannot send a key: its route is authenticated by the delivery's signature.
        if path.starts_with("/v1/mlflow/") {
            continue;
        }
        // GraphQL answers its errors in its own shape, with the status the W&B SDK reads.
        if path == "/graphql" {
            for key in [None, Some("ak_unknown"), Some("not-a-key")] {
                let res = t.raw(method, &path, key, r#"{"query": "{ viewer { id } }"}"#).await;
                assert_eq!(res.status.as_u16(), 401, "{}", res.text);
                assert!(res.json()["errors"][0]["message"].is_string(), "{}", res.text);
                assert!(res.json()["data"].is_null());
            }
            continue;
        }
        let res = t.raw(method, &path, None, "{}").await.expect(401);
        assert_eq!(res.headers.get("www-authenticate").map(|v| v.to_str().unwrap()), Some("Bearer"), "{method} {path}");
        t.raw(method, &path, Some("ak_unknown"), "{}").await.expect(401);
        t.raw(method, &path, Some("not-a-key"), "{}").await.expect(401);
    }
    // Not a bearer token at all.
    let req = axum::http::Request::builder()
        .uri("/v1/automations")
        .header("authorization", format!("Basic {}", t.a))
        .body(Body::empty())
        .unwrap();
    use tower::ServiceExt;
    let res = t.router.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status().as_u16(), 401);
}

#[tokio::test]
async fn bodies_over_one_mebibyte_are_refused() {
    let t = TestApi::new().await;
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(1024 * 1024));
    for path in ["/v1/automations", "/v1/events", "/v1/integrations", "/v1/import/wandb"] {
        let res = t.raw("POST", path, Some(&t.a), big.clone()).await.expect(413);
        assert!(res.json()["detail"].as_str().unwrap().contains("1048576"));
    }
    // Declared too large: refused before reading.
    let req = axum::http::Request::builder()
        .method("POST")
        .uri("/v1/events")
        .header("authorization", format!("Bearer {}", t.a))
        .header("content-length", "5000000")
        .body(Body::from("[]"))
        .unwrap();
    use tower::ServiceExt;
    let res = t.router.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status().as_u16(), 413);
    // Without a key, the answer is 401 (the body is not read).
    t.raw("POST", "/v1/events", None, big).await.expect(401);
    // Just under the limit is read (and then judged on its content).
    let padded = format!("[{}]", " ".repeat(1024 * 1024 - 2));
    t.raw("POST", "/v1/events", Some(&t.a), padded).await.expect(202);
}

#[tokio::test]
async fn import_wandb_creates_a_validated_automation() {
    let t = TestApi::new().await;
    let import = fixture("metric-threshold-last-gt");
    // Its webhook's integration must exist here.
    let res = t.call("POST", "/v1/import/wandb", &t.a, Some(import.clone())).await.expect(400);
    assert_eq!(res.paths(), vec!["action.integration"]);
    t.webhook(&t.a, "deploy-hook").await;
    let res = t.call("POST", "/v1/import/wandb", &t.a, Some(import.clone())).await.expect(201);
    let created = res.json();
    assert_eq!(created["name"], "metric-threshold-last-gt");
    assert_eq!(created["event"]["type"], "RUN_METRIC_THRESHOLD");
    assert_eq!(created["action"]["integration"], "deploy-hook");
    let id = created["id"].as_str().unwrap();
    t.call("GET", &format!("/v1/automations/{id}"), &t.a, None).await.expect(200);
    // Again: the name is taken.
    t.call("POST", "/v1/import/wandb", &t.a, Some(import)).await.expect(409);
    // Strict: an unmapped W&B integration id is refused at its path.
    let res = t.call("POST", "/v1/import/wandb", &t.a, Some(fixture("refuse-unmapped-integration"))).await;
    assert_eq!(res.expect(400).paths(), vec!["input.triggeredActionConfig.genericWebhookActionInput.integrationID"]);
    let res = t.call("POST", "/v1/import/wandb", &t.a, Some(fixture("refuse-window-too-large"))).await.expect(400);
    assert!(res.paths()[0].starts_with("input.eventFilter"), "{:?}", res.paths());
    let res = t.call("POST", "/v1/import/wandb", &t.a, Some(json!({"input": {}}))).await.expect(400);
    assert!(res.paths().contains(&"scope".to_string()));
}

#[tokio::test]
async fn executions_and_test_answer_501_without_delivery() {
    let t = TestApi::new().await;
    let id = t.automation(&t.a, loss_doc("x")).await["id"].as_str().unwrap().to_string();
    let res = t.call("GET", &format!("/v1/automations/{id}/executions"), &t.a, None).await.expect(501);
    assert!(res.json()["detail"].as_str().unwrap().contains("no delivery"));
    t.call("POST", &format!("/v1/automations/{id}/test"), &t.a, None).await.expect(501);
    t.call("GET", "/v1/automations/au_nope/executions", &t.a, None).await.expect(404);
    t.call("POST", "/v1/automations/au_nope/test", &t.a, None).await.expect(404);
    t.call("GET", &format!("/v1/automations/{id}/executions?limit=0"), &t.a, None).await.expect(400);
}

#[tokio::test]
async fn health_answers_without_a_key() {
    let t = TestApi::new().await;
    let res = t.raw("GET", "/v1/health", None, "").await.expect(200);
    assert_eq!(res.json(), json!({"status": "ok"}));
}
