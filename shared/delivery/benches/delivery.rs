//! The local deliverer alone: how fast it drains an outbox of pending executions (on a SQLite
//! file, as `automations serve` keeps it) into a loopback receiver. Each delivery is a claim, a
//! signed POST and a saved outcome.
//!
//! `cargo bench -p automations-delivery` runs 20,000 deliveries; `cargo test` a smoke size.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_core::event::{RunInfo, RunKey};
use automations_core::fire::{Fire, Subject};
use automations_core::model::{Action, Integration, RunState, TriggerKind};
use automations_core::store::{AutomationCatalog, FireStore, IntegrationStore};
use automations_core::time::{Clock, Timestamp};
use automations_delivery::{DelivererConfig, Delivery, HttpSender, LocalDeliverer, SystemClock};
use automations_sqlite::SqliteStore;
use axum::extract::State;
use axum::http::StatusCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn fire(i: usize) -> Fire {
    Fire {
        id: format!("fire_{i:08}").into(),
        automation_id: "a1".into(),
        automation_name: "deploy".into(),
        trigger: TriggerKind::RunState,
        entity: "acme".into(),
        event_id: format!("evt-{i}"),
        event_source: "bench".into(),
        event_type: "run.state.changed",
        time: Timestamp(0),
        subject: Subject::RunState {
            run: RunInfo {
                key: RunKey { entity: "acme".into(), project: "mnist".into(), run_id: format!("r{i}") },
                run_name: Some("train".into()),
                user: Some("ana".into()),
                tags: vec![],
                config: Default::default(),
                author: None,
            },
            state: RunState::Failed,
            previous: Some(RunState::Running),
        },
        action: Action::Webhook { integration: "hook".into(), payload: None },
    }
}

async fn receive(State(count): State<Arc<AtomicUsize>>, _body: String) -> StatusCode {
    count.fetch_add(1, Ordering::Relaxed);
    StatusCode::NO_CONTENT
}

fn main() {
    let n = if std::env::args().any(|a| a == "--bench") { 20_000 } else { 300 };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let count = Arc::new(AtomicUsize::new(0));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = axum::Router::new().fallback(receive).with_state(count.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("bench.db")).unwrap());
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let now = clock.now();
        let doc = serde_json::json!({"name": "hook", "type": "webhook", "url": format!("http://127.0.0.1:{port}/hook"),
                                     "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"});
        store.create_integration(&Integration::from_create("in_1", "acme", &doc, now).unwrap()).await.unwrap();
        // The fires' automation (deliveries of a deleted one are skipped).
        let automation = serde_json::json!({"name": "deploy", "scope": {"type": "project", "entity": "acme", "project": "mnist"},
                        "event": {"type": "RUN_STATE", "states": ["finished"]},
                        "action": {"type": "webhook", "integration": "hook"}});
        store.create_automation(&automations_core::model::Automation::from_create("a1", &automation).unwrap(), now).await.unwrap();
        let fires: Vec<Fire> = (0..n).map(fire).collect();
        for chunk in fires.chunks(500) {
            store.record_fires(chunk, now).await.unwrap();
        }

        let sender = HttpSender::new(Duration::from_secs(10), true).unwrap();
        let delivery = Arc::new(Delivery::new(store.clone(), sender, Default::default(), clock));
        let deliverer = LocalDeliverer::new(delivery, DelivererConfig::default());
        let start = Instant::now();
        let task = tokio::spawn(deliverer.run(std::future::pending()));
        while count.load(Ordering::Relaxed) < n {
            assert!(start.elapsed() < Duration::from_secs(300), "the outbox did not drain");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let elapsed = start.elapsed().as_secs_f64();
        task.abort();
        println!(
            "deliverer: {n} pending executions drained to a loopback receiver in {elapsed:.2} s: {:.0} deliveries/s (SQLite file, 64 in flight)",
            n as f64 / elapsed
        );
    });
}
