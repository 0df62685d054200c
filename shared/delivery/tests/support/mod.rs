//! Test support: a scripted webhook receiver on loopback, and a store with one automation whose
//! fires go through the real pipeline into the outbox.

#![allow(dead_code)]

use automations_core::FireId;
use automations_core::delivery::{Execution, RetryPolicy};
use automations_core::engine::Engine;
use automations_core::event::parse_envelope;
use automations_core::ingest::{Ingest, IngestClock};
use automations_core::model::{Automation, Integration};
use automations_core::store::ReadExecution;
use automations_core::store::{AutomationCatalog, IntegrationStore};
use automations_core::time::{Clock, Timestamp};
use automations_delivery::{DelivererConfig, Delivery, HttpSender, LocalDeliverer, SystemClock};
use automations_sqlite::SqliteStore;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the receiver answers to one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status(u16),
    /// A status with extra headers (e.g. `Retry-After`).
    With(u16, Vec<(&'static str, String)>),
    /// Answer 200 only after this long (longer than the client waits).
    Hang(Duration),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub headers: HeaderMap,
    pub body: String,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

struct ReceiverState {
    script: VecDeque<Reply>,
    otherwise: Reply,
    got: Vec<Received>,
}

/// A webhook receiver on 127.0.0.1 that answers from a script, then with a default.
pub struct Receiver {
    pub url: String,
    pub port: u16,
    state: Arc<Mutex<ReceiverState>>,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start(script: Vec<Reply>, otherwise: Reply) -> Receiver {
        let state = Arc::new(Mutex::new(ReceiverState { script: script.into(), otherwise, got: Vec::new() }));
        let app = axum::Router::new().fallback(receive).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a receiver on loopback");
        let port = listener.local_addr().expect("receiver address").port();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the receiver stopped");
        });
        Receiver { url: format!("http://127.0.0.1:{port}/hook"), port, state, task }
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().got.clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receive(State(state): State<Arc<Mutex<ReceiverState>>>, headers: HeaderMap, body: String) -> Response {
    let reply = {
        let mut s = state.lock().unwrap();
        s.got.push(Received { at: Instant::now(), headers, body });
        s.script.pop_front().unwrap_or_else(|| s.otherwise.clone())
    };
    match reply {
        Reply::Status(code) => (StatusCode::from_u16(code).unwrap(), format!("answer {code}")).into_response(),
        Reply::With(code, headers) => {
            let mut r = (StatusCode::from_u16(code).unwrap(), format!("answer {code}")).into_response();
            for (k, v) in headers {
                r.headers_mut().insert(k, v.parse().unwrap());
            }
            r
        }
        Reply::Hang(d) => {
            tokio::time::sleep(d).await;
            (StatusCode::OK, "late").into_response()
        }
    }
}

/// A store holding integration `hook` (from `integration`) and automation `a1` (alias added in
/// acme/mnist, with `action`), the engine over it, and delivery.
pub struct World {
    pub store: Arc<SqliteStore>,
    pub engine: Engine,
    pub delivery: Arc<Delivery>,
    pub clock: Arc<dyn Clock>,
}

/// Quick retries for tests: attempts end after `timeout_ms`; backoff 20 to 100 ms.
pub fn quick_policy(timeout_ms: i64) -> RetryPolicy {
    RetryPolicy { timeout: timeout_ms, base: 50, cap: 100, min_delay: 20, give_up_after: 60_000 }
}

impl World {
    pub async fn new(integration: Value, action: Value, allow_private: bool, policy: RetryPolicy) -> World {
        let store = Arc::new(SqliteStore::in_memory().unwrap());
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let now = clock.now();
        let integration = Integration::from_create("in_1", "acme", &integration, now).expect("a valid integration");
        store.create_integration(&integration).await.unwrap();
        let automation = Automation::from_create(
            "a1",
            &json!({
                "name": "deploy",
                "scope": {"type": "project", "entity": "acme", "project": "mnist"},
                "event": {"type": "ADD_ARTIFACT_ALIAS"},
                "action": action,
            }),
        )
        .expect("a valid automation");
        store.create_automation(&automation, now).await.unwrap();
        let sender = HttpSender::new(Duration::from_millis(policy.timeout as u64), allow_private).unwrap();
        let delivery = Arc::new(Delivery::new(store.clone(), sender, policy, clock.clone()));
        World { store, engine: Engine::new(vec![automation]), delivery, clock }
    }

    /// Send an alias event through the pipeline; returns the fire id recorded.
    pub async fn fire(&self, event_id: &str) -> String {
        let env = parse_envelope(&format!(
            r#"{{"specversion":"1.0","id":"{event_id}","source":"tracker","type":"artifact.alias.added","time":"2026-11-01T12:00:00Z",
               "data":{{"entity":"acme","project":"mnist","collection":"classifier","collection_type":"model","version":7,
                        "alias":"production","author":"ana","metadata":{{"accuracy":0.93}}}}}}"#
        ))
        .unwrap();
        let out = Ingest { engine: &self.engine, store: &*self.store }
            .process(&[env], IngestClock::Arrival(self.clock.now()))
            .await
            .unwrap();
        assert_eq!(out.fires.len(), 1, "the event fires the automation once");
        out.fires[0].id.clone().into()
    }

    /// Run the local deliverer until the returned guard drops.
    pub fn deliverer(&self) -> DelivererGuard {
        let d = LocalDeliverer::new(
            self.delivery.clone(),
            DelivererConfig { concurrency: 8, lease: 5_000, poll: Duration::from_millis(50) },
        );
        let wake = d.waker();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(d.run(async move {
            stopped.await.ok();
        }));
        DelivererGuard { wake, _stop: stop, task }
    }

    pub async fn execution(&self, fire_id: &str) -> Execution {
        self.store.get_execution(&FireId::new(fire_id), self.clock.now()).await.unwrap().expect("the execution exists")
    }

    /// Wait until the execution satisfies `done`; panics with it after `limit`.
    pub async fn wait_for(&self, fire_id: &str, limit: Duration, done: impl Fn(&Execution) -> bool) -> Execution {
        let start = Instant::now();
        loop {
            let e = self.execution(fire_id).await;
            if done(&e) {
                return e;
            }
            if start.elapsed() > limit {
                panic!("the execution did not get there in {limit:?}: {:#}", e.to_json());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

pub struct DelivererGuard {
    pub wake: Arc<tokio::sync::Notify>,
    _stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for DelivererGuard {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn now_ms() -> Timestamp {
    SystemClock.now()
}
