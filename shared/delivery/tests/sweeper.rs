//! The sweeper on SQLite: stalled runs become `crashed` through the pipeline (once, however many
//! sweeps overlap), heartbeats keep runs alive, the relay hands each stale execution on once,
//! and expired state goes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_core::BoxFuture;
use automations_core::FireId;
use automations_core::activity;
use automations_core::delivery::{Execution, ExecutionState};
use automations_core::engine::Engine;
use automations_core::event::{Envelope, parse_envelope};
use automations_core::ingest::{Ingest, IngestClock};
use automations_core::model::Automation;
use automations_core::store::ReadExecution;
use automations_core::store::{ExecutionStore, FIRE_TTL, RunActivityStore};
use automations_core::time::{MINUTE, SECOND, Timestamp};
use automations_delivery::{EnvelopeFeed, Relay, Sweeper};
use automations_sqlite::SqliteStore;
use serde_json::json;
use std::sync::{Arc, Mutex};

const T0: Timestamp = Timestamp(1_793_534_400_000); // 2026-11-01T12:00:00Z

/// What intake does with a batch: evaluate it, then record the runs' activity.
struct Intake {
    store: Arc<SqliteStore>,
    engine: Engine,
    fires: Mutex<Vec<FireId>>,
}

impl Intake {
    async fn take(&self, envelopes: &[Envelope], now: Timestamp) {
        let out = Ingest { engine: &self.engine, store: &*self.store }
            .process(envelopes, IngestClock::Arrival(now))
            .await
            .unwrap();
        self.fires.lock().unwrap().extend(out.fires.iter().map(|f| f.id.clone()));
        self.store.record_activity(&activity::updates(envelopes, now), now).await.unwrap();
    }
}

impl EnvelopeFeed for Intake {
    type Error = std::convert::Infallible;

    fn feed<'a>(&'a self, envelopes: Vec<Envelope>, now: Timestamp) -> BoxFuture<'a, Result<(), Self::Error>> {
        Box::pin(async move {
            self.take(&envelopes, now).await;
            Ok(())
        })
    }
}

fn intake() -> Intake {
    let automation = Automation::from_create(
        "a1",
        &json!({
            "name": "crashed-runs",
            "scope": {"type": "project", "entity": "acme", "project": "mnist"},
            "event": {"type": "RUN_STATE", "states": ["crashed"], "run_filter": {"display_name": {"$regex": "^train"}}},
            "action": {"type": "webhook", "integration": "hook"}
        }),
    )
    .unwrap();
    Intake {
        store: Arc::new(SqliteStore::in_memory().unwrap()),
        engine: Engine::new(vec![automation]),
        fires: Mutex::default(),
    }
}

fn metrics(id: &str, run: &str) -> Envelope {
    parse_envelope(&format!(
        r#"{{"specversion":"1.0","id":"{id}","source":"t","type":"run.metrics.logged","time":"2026-11-01T12:00:00Z",
           "data":{{"entity":"acme","project":"mnist","run_id":"{run}","run_name":"train-{run}","user":"ana","tags":[],
                    "config":{{}},"rows":[{{"step":1,"values":{{"loss":1}}}}]}}}}"#
    ))
    .unwrap()
}

fn heartbeat(id: &str, run: &str, time: &str) -> Envelope {
    parse_envelope(&format!(
        r#"{{"specversion":"1.0","id":"{id}","source":"t","type":"run.heartbeat","time":"{time}",
           "data":{{"entity":"acme","project":"mnist","run_id":"{run}"}}}}"#
    ))
    .unwrap()
}

#[tokio::test]
async fn a_silent_run_crashes_once_however_many_sweeps_overlap() {
    let i = intake();
    i.take(&[metrics("m1", "r1"), metrics("m2", "r2")], T0).await;
    // r2 keeps sending heartbeats; r1 goes silent.
    i.take(&[heartbeat("h1", "r2", "2026-11-01T12:08:00Z")], T0.plus(8 * MINUTE)).await;
    let sweeper = Sweeper::new(i.store.clone());
    let before = sweeper.sweep(&i, None::<&()>, T0.plus(9 * MINUTE)).await.unwrap();
    assert_eq!(before.crashed, 0, "nine minutes of silence is not a stall");
    let at = T0.plus(10 * MINUTE);
    // Two sweeps racing: both find r1 stalled before either records the crash.
    let stalled = i.store.stalled_runs(T0, 10, at).await.unwrap();
    assert_eq!(stalled.iter().map(|a| a.key.run_id.as_str()).collect::<Vec<_>>(), ["r1"]);
    // Each feeds the crash of the silence it saw, at its own time; then a sweep runs to the end.
    i.feed(vec![activity::crash_envelope(&stalled[0], at)], at).await.unwrap();
    i.feed(vec![activity::crash_envelope(&stalled[0], at.plus(SECOND))], at.plus(SECOND)).await.unwrap();
    assert_eq!(sweeper.sweep(&i, None::<&()>, at.plus(2 * SECOND)).await.unwrap().crashed, 0, "r1 is crashed now");
    let fires = i.fires.lock().unwrap().clone();
    assert_eq!(fires.len(), 1, "one crashed fire for r1, whatever the sweeps did: {fires:?}");
    let e: Execution = i.store.get_execution(&fires[0], at).await.unwrap().unwrap();
    assert_eq!(e.event["run_id"], "r1");
    assert_eq!(e.event["state"], "crashed");
    assert_eq!(e.event["run_name"], "train-r1", "the run filter saw the run's name");
    assert_eq!(e.state, ExecutionState::Pending, "its delivery is owed, through the outbox");
    // Later sweeps find nothing new; r2, silent now too, crashes in its turn.
    let later = sweeper.sweep(&i, None::<&()>, T0.plus(30 * MINUTE)).await.unwrap();
    assert_eq!(later.crashed, 1);
    assert_eq!(i.fires.lock().unwrap().len(), 2);
    assert_eq!(sweeper.sweep(&i, None::<&()>, T0.plus(31 * MINUTE)).await.unwrap().crashed, 0);
}

#[tokio::test]
async fn the_stall_period_is_the_sweepers_setting() {
    let i = intake();
    i.take(&[metrics("m1", "r1")], T0).await;
    let mut sweeper = Sweeper::new(i.store.clone());
    sweeper.stall = 30 * MINUTE;
    assert_eq!(sweeper.sweep(&i, None::<&()>, T0.plus(20 * MINUTE)).await.unwrap().crashed, 0);
    assert_eq!(sweeper.sweep(&i, None::<&()>, T0.plus(30 * MINUTE)).await.unwrap().crashed, 1);
}

#[derive(Default)]
struct Queue(Mutex<Vec<(FireId, u64)>>);

impl Relay for Queue {
    type Error = std::convert::Infallible;

    fn relay<'a>(&'a self, executions: &'a [Execution]) -> BoxFuture<'a, Result<(), Self::Error>> {
        Box::pin(async move {
            self.0.lock().unwrap().extend(executions.iter().map(|e| (e.fire_id.clone(), e.version)));
            Ok(())
        })
    }
}

#[tokio::test]
async fn the_relay_hands_each_stale_execution_on_once() {
    let i = intake();
    i.take(&[metrics("m1", "r1")], T0).await;
    let sweeper = Sweeper::new(i.store.clone());
    let queue = Queue::default();
    // The crash fire's execution is due at once; within the grace it is left to the queue.
    let at = T0.plus(10 * MINUTE);
    sweeper.sweep(&i, Some(&queue), at).await.unwrap();
    assert!(queue.0.lock().unwrap().is_empty());
    let late = at.plus(3 * MINUTE);
    let (a, b) = tokio::join!(sweeper.sweep(&i, Some(&queue), late), sweeper.sweep(&i, Some(&queue), late));
    assert_eq!(a.unwrap().relayed + b.unwrap().relayed, 1);
    let relayed = queue.0.lock().unwrap().clone();
    assert_eq!(relayed.len(), 1);
    // The dispatcher claims by the relayed version: a stale message (version 0) claims nothing.
    let (fire_id, version) = &relayed[0];
    assert!(i.store.claim(fire_id, Some(0), late.plus(MINUTE), late).await.unwrap().is_none());
    assert!(i.store.claim(fire_id, Some(*version), late.plus(MINUTE), late).await.unwrap().is_some());
}

#[tokio::test]
async fn expired_state_is_removed() {
    let i = intake();
    i.take(&[metrics("m1", "r1")], T0).await;
    let sweeper = Sweeper::new(i.store.clone());
    sweeper.sweep(&i, None::<&()>, T0.plus(10 * MINUTE)).await.unwrap();
    let fire_id = i.fires.lock().unwrap()[0].clone();
    let gone = T0.plus(10 * MINUTE).plus(FIRE_TTL);
    let report = sweeper.sweep(&i, None::<&()>, gone).await.unwrap();
    assert!(report.purged >= 3, "fire, execution and run activity: {report:?}");
    assert!(
        i.store.get_execution(&FireId::new(fire_id.as_str()), T0).await.unwrap().is_none(),
        "deleted, not just expired"
    );
    assert_eq!(sweeper.sweep(&i, None::<&()>, gone).await.unwrap().purged, 0);
}
