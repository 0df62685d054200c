//! A batch of run events through ingest on the DynamoDB store: each touched run read once and
//! written at most once (its record and its activity in one write), activity-only news that
//! changes nothing skipped, and under random faults the same fires and records as the reference.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_core::FireId;
use automations_core::activity;
use automations_core::engine::Engine;
use automations_core::event::{Envelope, RunKey, parse_envelope};
use automations_core::ingest::{Ingest, IngestClock};
use automations_core::model::Automation;
use automations_core::store::ReadExecution;
use automations_core::store::{MemoryStore, RunActivityStore, RunStore};
use automations_core::time::{MINUTE, SECOND, Timestamp};
use automations_dynamo::{Backoff, DynamoStore, Fault, Faulty, Metered, Metrics, Op, SdkDynamo, create_table};
use automations_testkit::conformance::T0;
use automations_testkit::moto::Moto;
use serde_json::json;
use std::collections::BTreeSet;

type Store = DynamoStore<Faulty<Metered<SdkDynamo>>>;

async fn store(moto: &Moto, backoff: Backoff) -> Store {
    create_table(&moto.dynamodb(), "automations").await.unwrap();
    DynamoStore::new(Faulty::new(Metered::new(SdkDynamo::new(moto.dynamodb()))), "automations").with_backoff(backoff)
}

fn engine() -> Engine {
    let scope = json!({"type": "project", "entity": "acme", "project": "mnist"});
    let docs = [
        json!({"name": "loss-high", "scope": scope, "action": {"type": "none"}, "event": {"type": "RUN_METRIC_THRESHOLD",
               "cooldown": "1m", "metric": {"name": "loss", "agg": "AVERAGE", "window": 3, "cmp": "$gt", "threshold": 0.6}}}),
        json!({"name": "run-crashed", "scope": scope, "action": {"type": "none"},
               "event": {"type": "RUN_STATE", "states": ["crashed", "finished"]}}),
    ];
    Engine::new(docs.iter().map(|d| Automation::from_create(d["name"].as_str().unwrap(), d).unwrap()))
}

fn envelope(v: serde_json::Value) -> Envelope {
    parse_envelope(&v.to_string()).unwrap()
}

fn metrics(id: &str, run: &str, step: i64, loss: f64) -> Envelope {
    envelope(json!({"specversion": "1.0", "id": id, "source": "t", "type": "run.metrics.logged",
        "time": T0.plus(step * 20 * SECOND).to_string(),
        "data": {"entity": "acme", "project": "mnist", "run_id": run, "rows": [{"step": step, "values": {"loss": loss}}]}}))
}

fn heartbeat(id: &str, run: &str, at: Timestamp) -> Envelope {
    envelope(json!({"specversion": "1.0", "id": id, "source": "t", "type": "run.heartbeat", "time": at.to_string(),
        "data": {"entity": "acme", "project": "mnist", "run_id": run}}))
}

fn key(run: &str) -> RunKey {
    RunKey { entity: "acme".into(), project: "mnist".into(), run_id: run.into() }
}

/// One batch through a `RunBatch`, as the functions do it; the requests it took.
async fn process(s: &Store, engine: &Engine, batch: &[Envelope], now: Timestamp) -> Metrics {
    let before = s.api().inner().metrics();
    Ingest { engine, store: s }.process(batch, IngestClock::Arrival(now)).await.unwrap();
    s.api().inner().metrics().since(&before)
}

#[tokio::test]
async fn each_run_is_read_once_and_written_at_most_once() {
    let moto = Moto::start();
    let s = store(&moto, Backoff::fast()).await;
    let engine = engine();
    // r1 logs a watched metric (record and activity in one write); r2 only sends a heartbeat.
    let batch = [metrics("e1", "r1", 1, 0.1), metrics("e2", "r1", 2, 0.2), heartbeat("h1", "r2", T0)];
    let m = process(&s, &engine, &batch, T0).await;
    assert_eq!((m.batch_get_item, m.get_item, m.query), (1, 0, 0), "{m}");
    assert_eq!(m.update_item, 2, "one write per run: {m}");
    let running = s.stalled_runs(T0, 10, T0.plus(MINUTE)).await.unwrap();
    assert_eq!(running.iter().map(|a| a.key.run_id.as_str()).collect::<Vec<_>>(), ["r1", "r2"]);
    let r1 = s.load_runs(&[key("r1")], T0).await.unwrap().remove(0).unwrap();
    assert_eq!(r1.value.windows["loss"].last_step, Some(2));

    // Ten seconds later, heartbeats only: the stored liveness is fresh enough, nothing is written.
    let soon = T0.plus(10 * SECOND);
    let beats = [heartbeat("h2", "r1", soon), heartbeat("h3", "r2", soon)];
    let m = process(&s, &engine, &beats, soon).await;
    assert_eq!((m.batch_get_item, m.write_requests()), (1, 0), "{m}");
    // A minute later they are written again, so the stall clock never drifts by more.
    let later = T0.plus(MINUTE + SECOND);
    let beats = [heartbeat("h4", "r1", later), heartbeat("h5", "r2", later)];
    let m = process(&s, &engine, &beats, later).await;
    assert_eq!((m.batch_get_item, m.update_item), (1, 2), "{m}");
    let seen = s.stalled_runs(later, 10, later.plus(MINUTE)).await.unwrap();
    assert!(seen.iter().all(|a| a.last_seen == later), "{seen:?}");
    // A state change is always news: the run leaves the running set at once.
    let done = envelope(json!({"specversion": "1.0", "id": "s1", "source": "t", "type": "run.state.changed",
        "time": later.to_string(), "data": {"entity": "acme", "project": "mnist", "run_id": "r2", "state": "finished"}}));
    let m = process(&s, &engine, &[done], later.plus(SECOND)).await;
    assert_eq!((m.update_item, m.put_item), (1, 1), "the activity, and the fire of run-crashed: {m}");
    let running = s.stalled_runs(later, 10, later.plus(MINUTE)).await.unwrap();
    assert_eq!(running.iter().map(|a| a.key.run_id.as_str()).collect::<Vec<_>>(), ["r1"]);
}

#[tokio::test]
async fn a_concurrent_writer_of_a_run_costs_a_reload_not_an_update() {
    let moto = Moto::start();
    let s = store(&moto, Backoff::fast()).await;
    let engine = engine();
    process(&s, &engine, &[metrics("e1", "r1", 1, 0.1)], T0).await;
    // The next save of r1 loses to another writer that saved the same batch first.
    s.api().script(Op::UpdateItem, [Fault::Race]);
    let m = process(&s, &engine, &[metrics("e2", "r1", 2, 0.2)], T0.plus(SECOND)).await;
    assert_eq!(m.batch_get_item, 2, "read again after losing: {m}");
    let r1 = s.load_runs(&[key("r1")], T0).await.unwrap().remove(0).unwrap();
    assert_eq!(r1.value.windows["loss"].ring.values(), &[0.1, 0.2]);
    // The other writer's save landed; ours lost, read the run again, found its steps taken and
    // had nothing left to write.
    assert_eq!(r1.version, 2);
}

#[tokio::test]
async fn under_random_faults_batches_end_as_the_reference_does() {
    let engine = engine();
    let mut batches: Vec<Vec<Envelope>> = Vec::new();
    let mut n = 0;
    for b in 0..20i64 {
        let mut batch = Vec::new();
        for run in ["r1", "r2", "r3"] {
            for i in 0..3 {
                n += 1;
                let step = b * 3 + i;
                let loss = ((n * 7919) % 100) as f64 / 100.0;
                batch.push(metrics(&format!("m{n}"), run, step, loss));
            }
        }
        batch.push(heartbeat(&format!("h{b}"), "r4", T0.plus(b * 20 * SECOND)));
        batches.push(batch);
    }
    let at = |b: usize| T0.plus(b as i64 * 20 * SECOND);
    let reference = MemoryStore::new();
    for (b, batch) in batches.iter().enumerate() {
        Ingest { engine: &engine, store: &reference }.process(batch, IngestClock::Arrival(at(b))).await.unwrap();
        reference.record_activity(&activity::updates(batch, at(b)), at(b)).await.unwrap();
    }
    let expected: BTreeSet<FireId> = reference.fires().into_iter().map(|f| f.id).collect();
    assert!(expected.len() >= 5, "{}", expected.len());

    let moto = Moto::start();
    let s = store(&moto, Backoff { attempts: 3, ..Backoff::fast() }).await;
    s.api().chaos(0xC0FFEE, 30);
    let mut reported = Vec::new();
    for (b, batch) in batches.iter().enumerate() {
        for attempt in 0.. {
            assert!(attempt < 50, "batch {b} kept failing");
            let Ok(out) = Ingest { engine: &engine, store: &s }.process(batch, IngestClock::Arrival(at(b))).await
            else {
                continue;
            };
            reported.extend(out.fires.into_iter().map(|f| f.id));
            break;
        }
    }
    s.api().calm();
    let unique: BTreeSet<FireId> = reported.iter().cloned().collect();
    assert_eq!(unique.len(), reported.len(), "a fire was reported twice");
    assert!(unique.is_subset(&expected));
    let now = at(batches.len());
    for id in &expected {
        assert!(s.get_execution(id, now).await.unwrap().is_some(), "fire {id} lost");
    }
    let keys: Vec<RunKey> = ["r1", "r2", "r3"].map(key).to_vec();
    for ((k, ours), theirs) in
        keys.iter().zip(s.load_runs(&keys, now).await.unwrap()).zip(reference.load_runs(&keys, now).await.unwrap())
    {
        assert_eq!(ours.unwrap().value, theirs.unwrap().value, "run {}", k.run_id);
    }
    // (Compared as sets: RunBatch refreshes a `last_seen` at most once a minute when nothing
    // else changed, so the order by silence may differ within that minute.)
    let state = |v: Vec<automations_core::activity::RunActivity>| {
        v.into_iter().map(|a| (a.key.run_id, a.state.as_str())).collect::<BTreeSet<_>>()
    };
    let far = now.plus(10 * MINUTE);
    assert_eq!(
        state(s.stalled_runs(far, 10, far).await.unwrap()),
        state(reference.stalled_runs(far, 10, far).await.unwrap()),
        "the same runs are running"
    );
    assert!(s.api().injected().len() > 20, "{}", s.api().injected().len());
}
