//! An API over the memory store, called in process as a tower service.

#![allow(dead_code)] // each test crate uses part of it

use automations_api::{Api, LocalSink, NoDelivery, auth};
use automations_core::EntityId;
use automations_core::store::{ApiKeyStore, MemoryStore};
use automations_core::time::{FixedClock, Timestamp};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::sync::Arc;
use tower::ServiceExt;

/// 2026-11-01T12:00:00Z.
pub const NOW: Timestamp = Timestamp(1_793_534_400_000);

pub struct TestApi {
    pub router: Router,
    pub store: Arc<MemoryStore>,
    /// A key of entity `acme`.
    pub a: String,
    /// A key of entity `other`.
    pub b: String,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn content_type(&self) -> &str {
        self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// The paths of a problem's `errors`.
    pub fn paths(&self) -> Vec<String> {
        self.json()["errors"]
            .as_array()
            .map(|e| e.iter().map(|e| e["path"].as_str().unwrap_or("").to_string()).collect())
            .unwrap_or_default()
    }

    /// Assert the status, and that an error is problem+json.
    pub fn expect(self, status: u16) -> Resp {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        if status >= 400 {
            assert_eq!(self.content_type(), "application/problem+json", "{}", self.text);
            assert_eq!(self.json()["status"], status);
        }
        self
    }
}

impl TestApi {
    pub async fn new() -> TestApi {
        TestApi::with_limits(automations_api::Limits::default()).await
    }

    pub async fn with_limits(limits: automations_api::Limits) -> TestApi {
        TestApi::build(limits, None).await
    }

    /// An API whose MLflow tracking integrations are checked by `hooks`.
    pub async fn with_tracking(hooks: Arc<dyn automations_api::TrackingHooks>) -> TestApi {
        TestApi::build(automations_api::Limits::default(), Some(hooks)).await
    }

    async fn build(limits: automations_api::Limits, hooks: Option<Arc<dyn automations_api::TrackingHooks>>) -> TestApi {
        let store = Arc::new(MemoryStore::new());
        let mut sink = LocalSink::new(store.clone()).await.unwrap();
        if let Some(hooks) = hooks {
            sink = sink.tracking(hooks);
        }
        let mut api = Api::new(store.clone(), Arc::new(sink), Arc::new(NoDelivery));
        api.clock = Arc::new(FixedClock(NOW));
        api.limits = limits;
        let router = automations_api::router(api);
        let (a, rec) = auth::issue_key(&EntityId::new("acme"), NOW).unwrap();
        store.put_api_key(&rec).await.unwrap();
        let (b, rec) = auth::issue_key(&EntityId::new("other"), NOW).unwrap();
        store.put_api_key(&rec).await.unwrap();
        TestApi { router, store, a, b }
    }

    pub async fn raw(&self, method: &str, path: &str, key: Option<&str>, body: impl Into<Body>) -> Resp {
        self.raw_with(method, path, key, &[("content-type", "application/json")], body).await
    }

    /// A request with these headers (and no default `Content-Type`).
    pub async fn raw_with(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Resp {
        let mut req = Request::builder().method(Method::from_bytes(method.as_bytes()).unwrap()).uri(path);
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let res = self.router.clone().oneshot(req.body(body.into()).unwrap()).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        Resp { status, headers, text: String::from_utf8(bytes.to_vec()).unwrap() }
    }

    pub async fn call(&self, method: &str, path: &str, key: &str, body: Option<Value>) -> Resp {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        self.raw(method, path, Some(key), body).await
    }

    /// Create a webhook integration `name` for the key's entity.
    pub async fn webhook(&self, key: &str, name: &str) -> Value {
        let body = json!({"name": name, "type": "webhook", "url": "http://127.0.0.1:9/hook",
                          "secret": "whsec-TOPSECRET", "access_token": "tok-TOPSECRET"});
        self.call("POST", "/v1/integrations", key, Some(body)).await.expect(201).json()
    }

    /// Create an automation; returns its view.
    pub async fn automation(&self, key: &str, doc: Value) -> Value {
        self.call("POST", "/v1/automations", key, Some(doc)).await.expect(201).json()
    }
}

/// A threshold automation on acme/mnist: loss > 1 (last value), with no action.
pub fn loss_doc(name: &str) -> Value {
    json!({
        "name": name,
        "scope": {"type": "project", "entity": "acme", "project": "mnist"},
        "event": {"type": "RUN_METRIC_THRESHOLD", "metric": {"name": "loss", "cmp": "$gt", "threshold": 1}},
        "action": {"type": "none"}
    })
}

/// A metrics envelope of `entity`/mnist/r1 logging `loss` values at steps from `first_step`.
pub fn metrics(entity: &str, id: &str, first_step: i64, losses: &[f64]) -> Value {
    let rows: Vec<Value> =
        losses.iter().enumerate().map(|(i, v)| json!({"step": first_step + i as i64, "values": {"loss": v}})).collect();
    json!({"specversion": "1.0", "id": id, "source": "test", "type": "run.metrics.logged",
           "time": "2026-11-01T12:00:00Z",
           "data": {"entity": entity, "project": "mnist", "run_id": "r1", "rows": rows}})
}
