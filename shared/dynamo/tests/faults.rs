//! DynamoDB misbehaving, on purpose, against a moto server: throttling, timeouts before and
//! after a write landed, a concurrent writer winning a conditional write, batch calls that leave
//! keys and items unprocessed. Nothing is lost and nothing fires twice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_core::FireId;
use automations_core::engine::Engine;
use automations_core::event::{Envelope, RunKey, parse_envelope};
use automations_core::ingest::{Ingest, IngestClock};
use automations_core::model::Automation;
use automations_core::store::ReadExecution;
use automations_core::store::SeedAutomations;
use automations_core::store::{FireStore, MemoryStore, RunSave, RunStore, StoreError};
use automations_core::time::{DAY, Timestamp};
use automations_dynamo::api::{Item, Read, Write};
use automations_dynamo::keys::{self, n};
use automations_dynamo::{Backoff, DynamoStore, Fault, Faulty, Metered, Op, SdkDynamo, create_table};
use automations_testkit::conformance::{T0, fire, key};
use automations_testkit::moto::Moto;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

type Store = DynamoStore<Faulty<Metered<SdkDynamo>>>;

struct Fixture {
    store: Store,
    _moto: Moto,
}

impl Fixture {
    fn faults(&self) -> &Faulty<Metered<SdkDynamo>> {
        self.store.api()
    }

    fn requests(&self) -> automations_dynamo::Metrics {
        self.store.api().inner().metrics()
    }
}

async fn fixture() -> Fixture {
    fixture_with(Backoff::fast()).await
}

async fn fixture_with(backoff: Backoff) -> Fixture {
    let moto = Moto::start();
    let client = moto.dynamodb();
    create_table(&client, "automations").await.expect("create the table");
    let api = Faulty::new(Metered::new(SdkDynamo::new(client)));
    Fixture { store: DynamoStore::new(api, "automations").with_backoff(backoff), _moto: moto }
}

fn save(run: &str, expected: Option<u64>, last_event: i64) -> RunSave {
    let record = automations_core::engine::RunRecord { last_event: Some(Timestamp(last_event)), ..Default::default() };
    RunSave { key: key(run), expected, record, expires_at: T0.plus(DAY) }
}

async fn version(store: &Store, run: &str) -> Option<u64> {
    store.load_runs(&[key(run)], T0).await.unwrap().remove(0).map(|v| v.version)
}

#[tokio::test]
async fn throttled_calls_are_retried_until_they_succeed() {
    let f = fixture().await;
    f.faults().script(Op::UpdateItem, [Fault::Throttle, Fault::Throttle]);
    f.faults().script(Op::PutItem, [Fault::Throttle, Fault::TimeoutBefore]);
    f.faults().script(Op::BatchGetItem, [Fault::Throttle]);
    assert_eq!(f.store.save_runs(&[save("r1", None, 1)], T0).await.unwrap(), vec![true]);
    assert_eq!(f.store.record_fires(&[fire("f1", "a")], T0).await.unwrap(), vec![true]);
    assert_eq!(version(&f.store, "r1").await, Some(1));
    assert_eq!(f.faults().injected().len(), 5, "every scripted fault was used");
    let m = f.requests();
    assert_eq!(
        (m.update_item, m.put_item, m.batch_get_item),
        (1, 1, 1),
        "only the attempt that got through reached DynamoDB"
    );
}

#[tokio::test]
async fn a_write_that_timed_out_after_landing_is_recognised_as_its_own() {
    let f = fixture().await;
    // The first attempt is applied and its answer lost; the retry's condition then fails, and
    // the item it finds carries the write's own token.
    f.faults().script(Op::PutItem, [Fault::TimeoutAfter]);
    assert_eq!(f.store.record_fires(&[fire("f1", "a")], T0).await.unwrap(), vec![true], "new, not a duplicate");
    assert_eq!(f.store.record_fires(&[fire("f1", "a")], T0).await.unwrap(), vec![false]);

    f.faults().script(Op::UpdateItem, [Fault::TimeoutAfter, Fault::TimeoutAfter]);
    assert_eq!(f.store.save_runs(&[save("r1", None, 1)], T0).await.unwrap(), vec![true]);
    assert_eq!(version(&f.store, "r1").await, Some(1), "applied once");
    assert_eq!(f.store.save_runs(&[save("r1", Some(1), 2)], T0).await.unwrap(), vec![true]);
    assert_eq!(version(&f.store, "r1").await, Some(2), "applied once");
    assert_eq!(f.requests().update_item, 4, "each save: the attempt that landed, and the retry that found it");
}

#[tokio::test]
async fn a_concurrent_writer_that_wins_makes_the_save_fail() {
    let f = fixture().await;
    assert_eq!(f.store.save_runs(&[save("r1", None, 1)], T0).await.unwrap(), vec![true]);
    f.faults().script(Op::UpdateItem, [Fault::Race]);
    assert_eq!(f.store.save_runs(&[save("r1", Some(1), 2)], T0).await.unwrap(), vec![false], "the other writer won");
    assert_eq!(version(&f.store, "r1").await, Some(2), "exactly one of the two writes landed");

    f.faults().script(Op::PutItem, [Fault::Race]);
    assert_eq!(f.store.record_fires(&[fire("f1", "a")], T0).await.unwrap(), vec![false], "recorded by the other");
}

#[tokio::test]
async fn unprocessed_keys_and_items_are_retried() {
    let f = fixture().await;
    let saves: Vec<RunSave> = (0..250).map(|i| save(&format!("r{i}"), None, i)).collect();
    assert!(f.store.save_runs(&saves, T0).await.unwrap().iter().all(|w| *w));
    let before = f.requests();
    // Every BatchGetItem gets through half its keys at first.
    f.faults().script(Op::BatchGetItem, [Fault::Partial; 6]);
    let keys: Vec<RunKey> = (0..250).map(|i| key(&format!("r{i}"))).collect();
    let loaded = f.store.load_runs(&keys, T0).await.unwrap();
    assert!(loaded.iter().all(Option::is_some), "every run read despite unprocessed keys");
    let m = f.requests().since(&before);
    // Chunks of 100, 100 and 50 keys, each answered in halves (100 → 50 + 25 + 13 + 7 + 4 + 1 ...
    // until the scripted faults run out) and then whole: more requests than chunks, none lost.
    assert!(m.batch_get_item > 3, "{m}");
    assert_eq!(m.items_read, 250);

    let writes: Vec<Write> = (0..60)
        .map(|i| {
            let mut item: Item = keys::key(format!("TEST#{i}"), "X");
            item.insert("n".into(), n(i));
            Write::Put(item)
        })
        .collect();
    let before = f.requests();
    f.faults().script(Op::BatchWriteItem, [Fault::Partial, Fault::Throttle, Fault::Partial]);
    f.store.batch_write(writes).await.unwrap();
    let m = f.requests().since(&before);
    assert!(m.batch_write_item >= 3 + 2, "three chunks of at most 25, and the unprocessed halves again: {m}");
    let got = f
        .store
        .batch_get((0..60).map(|i| keys::key(format!("TEST#{i}"), "X")).collect(), Read::Consistent)
        .await
        .unwrap();
    assert_eq!(got.len(), 60, "every write landed");
    assert!(got.iter().all(|i| matches!(i.get("n"), Some(v) if v.as_n().is_ok())));
}

#[tokio::test]
async fn batches_are_chunked_to_dynamodb_limits() {
    let f = fixture().await;
    let writes: Vec<Write> = (0..101).map(|i| Write::Put(keys::key(format!("T#{i}"), "X"))).collect();
    f.store.batch_write(writes).await.unwrap();
    assert_eq!(f.requests().batch_write_item, 5, "25 + 25 + 25 + 25 + 1");
    let keys: Vec<Item> = (0..101).map(|i| keys::key(format!("T#{i}"), "X")).collect();
    let got = f.store.batch_get(keys, Read::Consistent).await.unwrap();
    assert_eq!((got.len(), f.requests().batch_get_item), (101, 2), "100 + 1");
}

#[tokio::test]
async fn a_store_that_keeps_failing_says_so() {
    let f = fixture().await;
    f.faults().script(Op::UpdateItem, [Fault::Throttle; 20]);
    match f.store.save_runs(&[save("r1", None, 1)], T0).await {
        Err(StoreError::Unavailable(msg)) => assert!(msg.contains("throttled"), "{msg}"),
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(version(&f.store, "r1").await, None);
    f.faults().script(Op::BatchGetItem, [Fault::Throttle; 20]);
    assert!(matches!(f.store.load_runs(&[key("r1")], T0).await, Err(StoreError::Unavailable(_))));
    // Keys left unprocessed round after round are an error too, not a silent absence.
    let keys: Vec<RunKey> = (0..200).map(|i| key(&format!("r{i}"))).collect();
    f.faults().script(Op::BatchGetItem, [Fault::Partial; 20]);
    assert!(matches!(f.store.load_runs(&keys, T0).await, Err(StoreError::Unavailable(_))));
}

fn automation(doc: serde_json::Value) -> Automation {
    let id = doc["name"].as_str().expect("name").to_string();
    Automation::from_create(id, &doc).expect("valid automation")
}

fn automations() -> Vec<Automation> {
    let scope = json!({"type": "project", "entity": "acme", "project": "mnist"});
    vec![
        automation(json!({"name": "loss-high", "scope": scope,
            "event": {"type": "RUN_METRIC_THRESHOLD", "cooldown": "1m",
                      "metric": {"name": "loss", "agg": "AVERAGE", "window": 3, "cmp": "$gt", "threshold": 0.6}},
            "action": {"type": "none"}})),
        automation(json!({"name": "acc-jump", "scope": scope,
            "event": {"type": "RUN_METRIC_ZSCORE", "cooldown": "1m",
                      "metric": {"name": "acc", "window": 5, "threshold": 1.5, "change_dir": "ANY"}},
            "action": {"type": "none"}})),
        automation(json!({"name": "run-ended", "scope": scope,
            "event": {"type": "RUN_STATE", "states": ["finished", "failed"]}, "action": {"type": "none"}})),
        automation(json!({"name": "production", "scope": scope,
            "event": {"type": "ADD_ARTIFACT_ALIAS"}, "action": {"type": "none"}})),
    ]
}

/// Deterministic batches: 3 runs logging loss and acc with noise, state changes, aliases.
fn batches() -> Vec<Vec<Envelope>> {
    let mut rng = 7u64;
    let mut next = move || {
        rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (rng >> 33) as f64 / (1u64 << 31) as f64
    };
    let mut out = Vec::new();
    let mut id = 0;
    for b in 0..24 {
        let mut batch = Vec::new();
        for run in ["r1", "r2", "r3"] {
            id += 1;
            let rows: Vec<serde_json::Value> = (0..4)
                .map(|i| {
                    let step = b * 4 + i;
                    json!({"step": step, "time": T0.plus(step * 20_000).to_string(),
                           "values": {"loss": next(), "acc": next() * next(), "lr": 0.1}})
                })
                .collect();
            batch.push(json!({"specversion": "1.0", "id": format!("m{id}"), "source": "tracker",
                "type": "run.metrics.logged", "time": T0.plus(b * 80_000).to_string(),
                "data": {"entity": "acme", "project": "mnist", "run_id": run, "rows": rows}}));
        }
        if b % 5 == 4 {
            batch.push(json!({"specversion": "1.0", "id": format!("s{b}"), "source": "tracker",
                "type": "run.state.changed", "time": T0.plus(b * 80_000).to_string(),
                "data": {"entity": "acme", "project": "mnist", "run_id": "r2", "state": "finished"}}));
            batch.push(json!({"specversion": "1.0", "id": format!("a{b}"), "source": "tracker",
                "type": "artifact.alias.added", "time": T0.plus(b * 80_000).to_string(),
                "data": {"entity": "acme", "project": "mnist", "collection": "model", "collection_type": "model",
                         "version": b, "alias": "production"}}));
        }
        out.push(batch.iter().map(|e| parse_envelope(&e.to_string()).expect("valid envelope")).collect());
    }
    out
}

#[tokio::test]
async fn under_random_faults_nothing_is_lost_or_fired_twice() {
    let now = T0.plus(DAY);
    let engine = Engine::new(automations());
    let batches = batches();

    // The reference: the memory store, no faults.
    let reference = MemoryStore::new();
    let pipeline = Ingest { engine: &engine, store: &reference };
    for batch in &batches {
        pipeline.process(batch, IngestClock::Arrival(now)).await.expect("reference run");
    }
    let expected: BTreeSet<FireId> = reference.fires().into_iter().map(|f| f.id).collect();
    assert!(expected.len() >= 20, "a meaningful number of fires to lose: {}", expected.len());

    // Few attempts per call, so some batches fail outright and are delivered again.
    let f = fixture_with(Backoff { attempts: 3, ..Backoff::fast() }).await;
    for a in automations() {
        f.store.put_automation(&a, T0).await.unwrap();
    }
    f.faults().chaos(0x5EED, 30);
    let pipeline = Ingest { engine: &engine, store: &f.store };
    let mut reported: BTreeMap<FireId, usize> = BTreeMap::new();
    let mut failed_attempts = 0;
    for batch in &batches {
        // As SQS does: a batch that fails is delivered again until it succeeds.
        let mut attempts = 0;
        loop {
            attempts += 1;
            assert!(attempts < 50, "a batch kept failing");
            match pipeline.process(batch, IngestClock::Arrival(now)).await {
                Ok(out) => {
                    for fire in out.fires {
                        *reported.entry(fire.id).or_default() += 1;
                    }
                    break;
                }
                Err(_) => failed_attempts += 1,
            }
        }
    }
    f.faults().calm();
    let injected = f.faults().injected();
    for kind in [Fault::Throttle, Fault::TimeoutBefore, Fault::TimeoutAfter, Fault::Race, Fault::Partial] {
        assert!(injected.iter().any(|(_, k)| *k == kind), "{kind:?} was injected at least once");
    }
    assert!(failed_attempts > 0, "some batches failed outright and were redelivered");

    // Nothing fired twice: no fire id was reported new by two deliveries.
    let twice: Vec<_> = reported.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "fired more than once: {twice:?}");
    // Nothing fired that should not have.
    let unexpected: Vec<_> = reported.keys().filter(|id| !expected.contains(*id)).collect();
    assert!(unexpected.is_empty(), "unexpected fires: {unexpected:?}");
    // Nothing lost: every expected fire is recorded (the ones a racing writer recorded first
    // were reported by that writer).
    for id in &expected {
        assert!(f.store.get_execution(id, now).await.unwrap().is_some(), "fire {id} was lost");
    }
    // And the runs' windows and cooldowns ended where the reference's did.
    let keys: Vec<RunKey> = ["r1", "r2", "r3"].map(key).to_vec();
    let ours = f.store.load_runs(&keys, now).await.unwrap();
    let theirs = reference.load_runs(&keys, now).await.unwrap();
    for ((k, a), b) in keys.iter().zip(ours).zip(theirs) {
        let (a, b) = (a.expect("run saved"), b.expect("run saved"));
        assert_eq!(a.value, b.value, "run {}", k.run_id);
    }
    println!(
        "{} fires, {} faults injected, {} batch attempts failed, {} fires reported by a racing writer",
        expected.len(),
        injected.len(),
        failed_attempts,
        expected.len() - reported.len()
    );
}
