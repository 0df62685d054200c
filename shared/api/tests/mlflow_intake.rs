//! `POST /v1/mlflow/{entity}/{integration}/events` through the whole router, over the memory
//! store and the local sink: signed MLflow deliveries in, fires recorded; every refusal changes
//! nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_api::{Api, Limits, LocalSink, NoDelivery, auth, router};
use automations_core::mlflow::sign;
use automations_core::store::{ApiKeyStore, MemoryStore};
use automations_core::time::{FixedClock, Timestamp};
use automations_core::{EntityId, IntegrationName};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

const SECRET: &str = "mlflow-webhook-secret";
/// 2026-11-27T03:07:26Z, the time of the captured deliveries.
const TS: i64 = 1_795_748_846;
const PATH: &str = "/v1/mlflow/acme/mlflow-prod/events";

const ALIAS_CREATED: &str = r#"{"entity": "model_version_alias", "action": "created", "timestamp": "2026-11-27T03:07:32.605563+00:00", "data": {"name": "churn", "alias": "production", "version": "3"}}"#;
const TAG_SET: &str = r#"{"entity": "model_version_tag", "action": "set", "timestamp": "2026-11-27T03:07:29.464804+00:00", "data": {"name": "churn", "version": "3", "key": "stage", "value": "production"}}"#;
const VERSION_CREATED: &str = r#"{"entity": "model_version", "action": "created", "timestamp": "2026-11-27T03:07:27.935444+00:00", "data": {"name": "churn", "version": "3", "source": "file:///art/1/r1/artifacts/model", "run_id": "r1", "tags": {}, "description": null}}"#;
const REGISTERED_MODEL: &str = r#"{"entity": "registered_model", "action": "created", "timestamp": "2026-11-27T03:07:26.371823+00:00", "data": {"name": "churn", "tags": {}, "description": ""}}"#;
const TEST_DELIVERY: &str = r#"{"entity": "model_version_alias", "action": "created", "timestamp": "2026-11-27T03:10:00.000000+00:00", "data": {"name": "example_model", "alias": "example_alias", "version": "1"}}"#;

struct World {
    app: Router,
    store: Arc<MemoryStore>,
    key: String,
}

async fn world(now: Timestamp) -> World {
    let store = Arc::new(MemoryStore::new());
    let (key, record) = auth::issue_key(&EntityId::new("acme"), now).unwrap();
    store.put_api_key(&record).await.unwrap();
    let sink = LocalSink::new(store.clone()).await.unwrap();
    let api = Api {
        store: store.clone(),
        sink: Arc::new(sink),
        deliverer: Arc::new(NoDelivery),
        clock: Arc::new(FixedClock(now)),
        limits: Limits::default(),
    };
    World { app: router(api), store, key }
}

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, String, Value) {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let ctype = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
    (status, ctype, body)
}

async fn api_post(w: &World, path: &str, doc: Value) -> (StatusCode, Value) {
    let req = Request::post(path)
        .header("authorization", format!("Bearer {}", w.key))
        .header("content-type", "application/json")
        .body(Body::from(doc.to_string()))
        .unwrap();
    let (status, _, body) = call(&w.app, req).await;
    (status, body)
}

/// A delivery as MLflow sends it: signed with `secret` at `ts`, no Authorization header.
fn delivery(path: &str, id: &str, ts: i64, secret: &str, body: &str) -> Request<Body> {
    let ts = ts.to_string();
    Request::post(path)
        .header("content-type", "application/json")
        .header("X-MLflow-Delivery-Id", id)
        .header("X-MLflow-Timestamp", &ts)
        .header("X-MLflow-Signature", sign(secret.as_bytes(), id, &ts, body.as_bytes()))
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn setup() -> World {
    let w = world(Timestamp(TS * 1000 + 3_000)).await;
    let (status, body) = api_post(
        &w,
        "/v1/integrations",
        json!({"name": "mlflow-prod", "type": "mlflow", "secret": SECRET, "registry": "models"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["type"], "mlflow");
    assert_eq!(body["registry"], "models");
    assert_eq!(body["has_secret"], true);
    assert!(!body.to_string().contains(SECRET), "{body}");
    let (status, body) = api_post(
        &w,
        "/v1/integrations",
        json!({"name": "plain-hook", "type": "webhook", "url": "http://127.0.0.1:9/x", "secret": SECRET}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let scope = json!({"type": "registry", "entity": "acme", "registry": "models"});
    for (name, event) in [
        ("prod-alias", json!({"type": "ADD_ARTIFACT_ALIAS", "filter": {"alias": {"$regex": "^prod"}}})),
        ("stage-prod", json!({"type": "ADD_ARTIFACT_TAG", "filter": {"tag": "stage=production"}})),
        ("new-version", json!({"type": "LINK_ARTIFACT"})),
    ] {
        let doc = json!({"name": name, "scope": scope, "event": event, "action": {"type": "none"}});
        let (status, body) = api_post(&w, "/v1/automations", doc).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    w
}

fn fired(w: &World) -> Vec<String> {
    let mut names: Vec<String> = w.store.fires().into_iter().map(|f| f.automation_name).collect();
    names.sort();
    names
}

#[tokio::test]
async fn signed_deliveries_fire_and_a_replay_changes_nothing() {
    let w = setup().await;
    let id = "2b5f0c1e-6a43-4a8e-9d1f-3c2b1a0f9e8d";
    let (status, _, body) = call(&w.app, delivery(PATH, id, TS, SECRET, ALIAS_CREATED)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["outcome"], "accepted");
    assert_eq!(body["event"], "model_version_alias.created");
    assert_eq!(body["envelopes"], json!([{"id": id, "type": "artifact.alias.added"}]));
    assert_eq!(fired(&w), ["prod-alias"]);
    let fire = &w.store.fires()[0];
    assert_eq!((fire.event_id.as_str(), fire.event_source.as_str()), (id, "mlflow:mlflow-prod"));

    // MLflow's retries reuse the delivery id: accepted again, nothing new fires.
    let (status, _, _) = call(&w.app, delivery(PATH, id, TS, SECRET, ALIAS_CREATED)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(fired(&w), ["prod-alias"]);

    let (status, _, body) = call(&w.app, delivery(PATH, "d-2", TS, SECRET, TAG_SET)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let (status, _, body) = call(&w.app, delivery(PATH, "d-3", TS, SECRET, VERSION_CREATED)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["envelopes"][1], json!({"id": "d-3:created", "type": "artifact.version.created"}));
    assert_eq!(fired(&w), ["new-version", "prod-alias", "stage-prod"]);
    assert!(w.store.rejects().is_empty());
}

#[tokio::test]
async fn events_without_a_counterpart_and_test_deliveries_are_acknowledged() {
    let w = setup().await;
    let (status, _, body) = call(&w.app, delivery(PATH, "d-1", TS, SECRET, REGISTERED_MODEL)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"], "ignored");
    assert!(body["reason"].as_str().unwrap().contains("nothing to evaluate"), "{body}");
    let (status, _, body) = call(&w.app, delivery(PATH, "d-2", TS + 150, SECRET, TEST_DELIVERY)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["outcome"], "test");
    assert!(fired(&w).is_empty());
}

#[tokio::test]
async fn refusals_name_the_reason_and_change_nothing() {
    let w = setup().await;
    // Issue 16, item 4: the route is unauthenticated, so every 401 is the same answer (it used
    // to tell a missing integration from one of another type, a disabled one and a bad
    // signature); the reason (`says`) is only logged.
    let mut first_401: Option<Value> = None;
    let mut problem = |status: StatusCode, ctype: &str, body: &Value, want: StatusCode, says: &str| {
        assert_eq!(status, want, "{body}");
        assert_eq!(ctype, "application/problem+json");
        assert!(!body.to_string().contains(SECRET), "{body}");
        if status == StatusCode::UNAUTHORIZED {
            assert!(!body.to_string().contains(says), "a 401 says why ({says:?}): {body}");
            let first = first_401.get_or_insert_with(|| body.clone());
            assert_eq!(body, first, "every 401 is the same");
        } else {
            assert!(body.to_string().contains(says), "wanted {says:?} in {body}");
        }
    };
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        (delivery(PATH, "d-1", TS, "another-secret", ALIAS_CREATED), StatusCode::UNAUTHORIZED, "does not match"),
        (delivery(PATH, "d-1", TS - 600, SECRET, ALIAS_CREATED), StatusCode::UNAUTHORIZED, "beyond the tolerance"),
        (
            delivery("/v1/mlflow/acme/nope/events", "d-1", TS, SECRET, ALIAS_CREATED),
            StatusCode::UNAUTHORIZED,
            "no integration named \"nope\"",
        ),
        (
            delivery("/v1/mlflow/other/mlflow-prod/events", "d-1", TS, SECRET, ALIAS_CREATED),
            StatusCode::UNAUTHORIZED,
            "no integration",
        ),
        (
            delivery("/v1/mlflow/acme/plain-hook/events", "d-1", TS, SECRET, ALIAS_CREATED),
            StatusCode::UNAUTHORIZED,
            "webhook integration, not an mlflow one",
        ),
        (
            Request::post(PATH)
                .header("X-MLflow-Delivery-Id", "d-1")
                .header("X-MLflow-Timestamp", TS.to_string())
                .body(Body::from(ALIAS_CREATED))
                .unwrap(),
            StatusCode::UNAUTHORIZED,
            "missing header X-MLflow-Signature",
        ),
        (
            delivery(PATH, "d-1", TS, SECRET, &ALIAS_CREATED.replace(r#""version": "3""#, r#""version": "three""#)),
            StatusCode::BAD_REQUEST,
            "data.version",
        ),
    ];
    for (req, want, says) in cases {
        let (status, ctype, body) = call(&w.app, req).await;
        problem(status, &ctype, &body, want, says);
    }
    // A body altered after signing.
    let mut req = delivery(PATH, "d-1", TS, SECRET, ALIAS_CREATED);
    *req.body_mut() = Body::from(ALIAS_CREATED.replace("production", "prod-hijack"));
    let (status, ctype, body) = call(&w.app, req).await;
    problem(status, &ctype, &body, StatusCode::UNAUTHORIZED, "does not match");
    // A disabled integration: the same 401, its reason not echoed.
    use automations_core::store::IntegrationLookup;
    assert!(
        w.store
            .set_integration_disabled(
                &EntityId::new("acme"),
                &IntegrationName::new("mlflow-prod"),
                Some("gone-410-REASON")
            )
            .await
            .unwrap()
    );
    let (status, ctype, body) = call(&w.app, delivery(PATH, "d-1", TS, SECRET, ALIAS_CREATED)).await;
    problem(status, &ctype, &body, StatusCode::UNAUTHORIZED, "gone-410-REASON");
    assert!(
        w.store
            .set_integration_disabled(&EntityId::new("acme"), &IntegrationName::new("mlflow-prod"), None)
            .await
            .unwrap()
    );

    let (status, _, body) = call(&w.app, delivery(PATH, "d-1", TS, SECRET, "{\"entity\": ")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errors"][0]["path"], "");
    assert!(fired(&w).is_empty(), "{:?}", fired(&w));
    assert!(w.store.rejects().is_empty());
}

/// The AWS deployment serves this router behind API Gateway (HTTP API, payload 2.0) through
/// `lambda_http`: the signature is over the raw body, so it must survive that path, in plain and
/// in base64-encoded form.
#[tokio::test]
async fn an_api_gateway_event_carries_the_raw_body_through() {
    use base64::Engine as _;
    let w = setup().await;
    for (n, encoded) in [(1, false), (2, true)] {
        let id = format!("gw-{n}");
        let ts = TS.to_string();
        let body = if encoded {
            base64::engine::general_purpose::STANDARD.encode(ALIAS_CREATED)
        } else {
            ALIAS_CREATED.to_string()
        };
        let event = json!({
            "version": "2.0",
            "routeKey": "POST /v1/mlflow/{entity}/{integration}/events",
            "rawPath": PATH,
            "rawQueryString": "",
            "headers": {
                "content-type": "application/json",
                "user-agent": "python-requests/2.34.2",
                "x-mlflow-delivery-id": id,
                "x-mlflow-timestamp": ts,
                "x-mlflow-signature": sign(SECRET.as_bytes(), &id, &ts, ALIAS_CREATED.as_bytes()),
            },
            "requestContext": {
                "accountId": "123456789012", "apiId": "api", "domainName": "api.example.test", "domainPrefix": "api",
                "http": {"method": "POST", "path": PATH, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "python-requests/2.34.2"},
                "requestId": format!("req-{n}"), "routeKey": "POST /v1/mlflow/{entity}/{integration}/events",
                "stage": "$default", "time": "27/Nov/2026:03:07:32 +0000", "timeEpoch": TS * 1000,
            },
            "body": body,
            "isBase64Encoded": encoded,
        });
        let req = lambda_http::request::from_str(&event.to_string()).expect("an API Gateway v2 event");
        let req = req.map(|b| Body::from(b.to_vec()));
        let (status, _, answer) = call(&w.app, req).await;
        assert_eq!(status, StatusCode::ACCEPTED, "base64 {encoded}: {answer}");
        assert_eq!(answer["envelopes"][0]["id"], id.as_str());
    }
    // Two deliveries (different ids) of the same alias: one fire each.
    assert_eq!(fired(&w), ["prod-alias", "prod-alias"]);
}
