//! The pipeline over a SQLite store: a redelivered batch fires nothing new, also after the file
//! is reopened, and also when the run records were lost after the fires were recorded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_core::AutomationId;
use automations_core::engine::Engine;
use automations_core::event::{Envelope, parse_envelope};
use automations_core::ingest::{Ingest, IngestClock};
use automations_core::model::Automation;
use automations_core::store::SeedAutomations;
use automations_core::store::{AutomationStore, ready_now};
use automations_core::time::Timestamp;
use automations_sqlite::SqliteStore;
use serde_json::json;

fn metrics(id: &str, step: i64, loss: f64) -> Envelope {
    let text = json!({
        "specversion": "1.0", "id": id, "source": "tracker", "type": "run.metrics.logged",
        "time": format!("2026-11-01T12:00:{step:02}Z"),
        "data": {"entity": "acme", "project": "mnist", "run_id": "r1",
                 "rows": [{"step": step, "values": {"loss": loss}}]}
    })
    .to_string();
    parse_envelope(&text).expect("valid envelope")
}

fn process(store: &SqliteStore, batch: &[Envelope], now: Timestamp) -> (usize, usize) {
    let automations = ready_now(store.list_automations()).unwrap();
    let engine = Engine::new(automations);
    let out = ready_now(Ingest { engine: &engine, store }.process(batch, IngestClock::Arrival(now))).unwrap();
    (out.fires.len(), out.duplicates)
}

#[test]
fn redelivered_batches_fire_nothing_new() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let now = Timestamp::parse_rfc3339("2026-11-01T12:01:00Z").unwrap();
    let doc = json!({
        "name": "loss-high",
        "scope": {"type": "project", "entity": "acme", "project": "mnist"},
        "event": {"type": "RUN_METRIC_THRESHOLD", "metric": {"name": "loss", "cmp": "$gt", "threshold": 0.5}},
        "action": {"type": "none"}
    });
    let automation = Automation::from_create("loss-high", &doc).unwrap();
    // 0.7 at step 2 fires; 0.8 at step 3 is inside the default 24 h cooldown.
    let batch = [metrics("e1", 1, 0.4), metrics("e2", 2, 0.7), metrics("e3", 3, 0.8)];

    {
        let store = SqliteStore::open(&path).unwrap();
        ready_now(store.put_automation(&automation, now)).unwrap();
        assert_eq!(process(&store, &batch, now), (1, 0));
        // Redelivered: the windows have seen these steps, nothing is even evaluated.
        assert_eq!(process(&store, &batch, now), (0, 0));
    }

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(process(&store, &batch, now), (0, 0), "the windows survived the reopen");

    // As if the process died after recording the fire but before saving the run: the batch
    // evaluates to the same fire id again, and the fire store refuses it.
    let raw = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(raw.execute("DELETE FROM runs", []).unwrap(), 1);
    assert_eq!(process(&store, &batch, now), (0, 1));

    let fires = store.fires_for(&AutomationId::new("loss-high")).unwrap();
    assert_eq!(fires.len(), 1);
    assert_eq!(fires[0]["step"], 2);
    assert_eq!(fires[0]["event_id"], "e2");
}
