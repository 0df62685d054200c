//! The store conformance suite: one set of tests of the store port, written once and run against
//! every adapter (memory, SQLite, DynamoDB on moto), so the adapters cannot drift apart.
//!
//! An adapter's test file implements [`Fixture`] for a local type and invokes
//! [`store_conformance!`](crate::store_conformance), which expands to one `#[tokio::test]` per
//! function of this module.

use automations_core::activity::{self, ActivityUpdate};
use automations_core::delivery::ExecutionState;
use automations_core::engine::{Engine, RunRecord};
use automations_core::event::{Envelope, RunInfo, RunKey, parse_envelope};
use automations_core::fire::{Fire, Subject};
use automations_core::ingest::{Ingest, IngestClock, IngestStore};
use automations_core::mlflow::tracking::{MetricCursor, RunCursor};
use automations_core::model::{Action, Automation, Integration, RunState, ScopeKind, TriggerKind};
use automations_core::store::{
    ApiKeyRecord, ApiKeyStore, AutomationCatalog, AutomationLookup, AutomationQuery, AutomationRecord, AutomationStore,
    ConfigStore, ExecutionStore, FIRE_TTL, FireStore, IntegrationLookup, IntegrationStore, PollRecord, PurgeExpired,
    ReadExecution, RejectRecord, RejectStore, RunActivityStore, RunSave, RunStore, SeedAutomations, StoreError,
    TrackingStore,
};
use automations_core::time::{DAY, MINUTE, SECOND, Timestamp};
use automations_core::{AutomationId, EntityId, FireId, IntegrationName};
use serde_json::{Value, json};
use std::future::Future;

/// 2026-11-01T12:00:00Z: a whole second, so expiries land on whole seconds in every adapter
/// (DynamoDB's TTL counts seconds).
pub const T0: Timestamp = Timestamp(1_793_534_400_000);

/// A store under test, with what the port leaves to each adapter (listing what was kept).
pub trait Fixture: Send + Sync {
    /// The adapter's store, implementing every port the suite tests.
    type Store: RunStore
        + FireStore
        + IngestStore
        + RejectStore
        + AutomationStore
        + ConfigStore
        + ExecutionStore
        + RunActivityStore
        + TrackingStore
        + PurgeExpired
        + SeedAutomations
        + ReadExecution;

    /// The store under test (fresh and empty for each test).
    fn store(&self) -> &Self::Store;

    /// Every reject recorded and live at `now`, oldest first.
    fn rejects(&self, now: Timestamp) -> impl Future<Output = Vec<RejectRecord>> + Send;
}

/// One `#[tokio::test]` per conformance test, each on a fresh fixture made by `$make` (an
/// expression giving a future of a [`Fixture`]).
#[macro_export]
macro_rules! store_conformance {
    ($make:expr) => {
        $crate::store_conformance!(@tests $make;
            runs_save_conditionally_and_versions_increment,
            expired_runs_read_as_absent_and_can_be_taken_over,
            loads_many_keys_in_order,
            fires_are_recorded_at_most_once,
            an_expired_fire_can_be_recorded_again,
            rejects_are_kept_in_order,
            automations_upsert_by_id_and_keep_names_unique,
            redelivered_batches_fire_nothing_new,
            overlapping_consumers_fire_once,
            config_automations_are_unique_per_entity_filtered_and_paged,
            config_updates_and_deletes_stay_in_their_entity,
            config_integrations_and_keys,
            tracking_cursors_and_polls_per_integration,
            outbox_records_the_execution_with_the_fire,
            outbox_claims_lease_and_compare_and_swap,
            outbox_lists_newest_first,
            outbox_executions_expire_with_their_fires,
            activity_finds_stalled_runs,
            activity_expires_and_follows_event_time,
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let fixture = $make.await;
                $crate::conformance::$name(&fixture).await;
            }
        )*
    };
}

/// The key of run `run` in project `mnist` of entity `acme`.
pub fn key(run: &str) -> RunKey {
    RunKey { entity: "acme".into(), project: "mnist".into(), run_id: run.into() }
}

fn record(last_event: i64) -> RunRecord {
    let mut r = RunRecord::default();
    r.last_fires.insert("auto-1".into(), Timestamp(last_event - 1));
    r.last_event = Some(Timestamp(last_event));
    r
}

fn save(run: &str, expected: Option<u64>, last_event: i64, expires_at: Timestamp) -> RunSave {
    RunSave { key: key(run), expected, record: record(last_event), expires_at }
}

/// A run-state fire with this id.
pub fn fire(id: &str, automation_id: &str) -> Fire {
    Fire {
        id: id.into(),
        automation_id: automation_id.into(),
        automation_name: format!("{automation_id}-name"),
        trigger: TriggerKind::RunState,
        entity: "acme".into(),
        event_id: format!("evt-{id}"),
        event_source: "tracker".into(),
        event_type: "run.state.changed",
        time: T0,
        subject: Subject::RunState {
            run: RunInfo {
                key: key("r1"),
                run_name: None,
                user: None,
                tags: vec![],
                config: Default::default(),
                author: None,
            },
            state: RunState::Finished,
            previous: None,
        },
        action: Action::None,
    }
}

fn automation(id: &str, name: &str) -> Automation {
    let doc = json!({
        "name": name,
        "scope": {"type": "project", "entity": "acme", "project": "mnist"},
        "event": {"type": "RUN_STATE", "states": ["finished"]},
        "action": {"type": "none"}
    });
    Automation::from_create(id, &doc).expect("valid automation")
}

fn reject(n: i64) -> RejectRecord {
    RejectRecord {
        received_at: T0.plus(n),
        id: (n % 2 == 0).then(|| format!("evt-{n}")),
        source: Some("tracker".into()),
        event_type: None,
        reason: format!("reason {n}"),
        body: format!("{{\"n\": {n}}}"),
    }
}

async fn load_one<S: RunStore>(s: &S, run: &str, now: Timestamp) -> Option<(u64, Option<Timestamp>)> {
    let mut loaded = s.load_runs(&[key(run)], now).await.expect("load runs");
    loaded.remove(0).map(|v| (v.version, v.value.last_event))
}

/// Run saves are conditional: one whose expected version (`None`: no record) is not the stored one is
/// refused and writes nothing; versions go up by one; several saves in one call are judged in order.
pub async fn runs_save_conditionally_and_versions_increment<F: Fixture>(f: &F) {
    let s = f.store();
    let exp = T0.plus(DAY);
    assert!(s.load_runs(&[key("r1")], T0).await.unwrap()[0].is_none());

    assert_eq!(s.save_runs(&[save("r1", None, 1, exp)], T0).await.unwrap(), vec![true]);
    let loaded = s.load_runs(&[key("r1")], T0).await.unwrap();
    let v = loaded[0].as_ref().expect("saved record");
    assert_eq!(v.version, 1);
    assert_eq!(v.value.last_event, Some(Timestamp(1)));
    assert_eq!(v.value.last_fires["auto-1"], Timestamp(0));

    // A second writer that also saw no record is refused, and so is a stale version: two
    // consumers of one run can never both save.
    assert_eq!(s.save_runs(&[save("r1", None, 2, exp)], T0).await.unwrap(), vec![false]);
    assert_eq!(s.save_runs(&[save("r1", Some(1), 3, exp)], T0).await.unwrap(), vec![true]);
    assert_eq!(s.save_runs(&[save("r1", Some(1), 4, exp)], T0).await.unwrap(), vec![false]);
    assert_eq!(s.save_runs(&[save("r1", Some(7), 4, exp)], T0).await.unwrap(), vec![false]);
    assert_eq!(load_one(s, "r1", T0).await, Some((2, Some(Timestamp(3)))), "refused saves wrote nothing");

    // One call, several saves, each judged on its own; results in order.
    let saves = [save("r2", None, 5, exp), save("r1", Some(1), 6, exp), save("r1", Some(2), 7, exp)];
    assert_eq!(s.save_runs(&saves, T0).await.unwrap(), vec![true, false, true]);
    let loaded = s.load_runs(&[key("r3"), key("r1"), key("r2")], T0).await.unwrap();
    assert!(loaded[0].is_none());
    assert_eq!(loaded[1].as_ref().map(|v| (v.version, v.value.last_event)), Some((3, Some(Timestamp(7)))));
    assert_eq!(loaded[2].as_ref().map(|v| (v.version, v.value.last_event)), Some((1, Some(Timestamp(5)))));
}

/// A run record is absent from its `expires_at` on; a save expecting no record takes it over, and the
/// version carries on, so a load from before the expiry never matches again.
pub async fn expired_runs_read_as_absent_and_can_be_taken_over<F: Fixture>(f: &F) {
    let s = f.store();
    let exp = T0.plus(DAY);
    assert_eq!(s.save_runs(&[save("r1", None, 1, exp)], T0).await.unwrap(), vec![true]);
    assert_eq!(load_one(s, "r1", exp.minus(1)).await.map(|v| v.0), Some(1));
    assert_eq!(load_one(s, "r1", exp).await, None, "expires_at <= now is absent");
    assert_eq!(load_one(s, "r1", exp.plus(1)).await, None);

    // The version loaded before expiry no longer matches anything live.
    assert_eq!(s.save_runs(&[save("r1", Some(1), 2, exp.plus(DAY))], exp).await.unwrap(), vec![false]);
    // Absent is what an expired record is, so a save expecting no record takes it over.
    assert_eq!(s.save_runs(&[save("r1", None, 3, exp.plus(DAY))], exp).await.unwrap(), vec![true]);
    let (version, last) = load_one(s, "r1", exp).await.expect("taken over");
    assert_eq!(last, Some(Timestamp(3)));
    assert!(version > 1, "versions never go back, so a load from before the expiry cannot match");
    assert_eq!(s.save_runs(&[save("r1", Some(1), 4, exp.plus(DAY))], exp).await.unwrap(), vec![false]);
    assert_eq!(s.save_runs(&[save("r1", Some(version), 4, exp.plus(DAY))], exp).await.unwrap(), vec![true]);
}

/// `load_runs` of more keys than one adapter request takes (250, with gaps) answers one entry per key,
/// in the keys' order, a key asked twice answered twice.
pub async fn loads_many_keys_in_order<F: Fixture>(f: &F) {
    // More keys than one request takes in any adapter (SQLite 200, DynamoDB 100), with gaps.
    let s = f.store();
    let exp = T0.plus(DAY);
    let saves: Vec<RunSave> = (0..250).filter(|i| i % 3 != 0).map(|i| save(&format!("r{i}"), None, i, exp)).collect();
    assert!(s.save_runs(&saves, T0).await.unwrap().iter().all(|w| *w));
    let keys: Vec<RunKey> = (0..250).rev().map(|i| key(&format!("r{i}"))).collect();
    let loaded = s.load_runs(&keys, T0).await.unwrap();
    assert_eq!(loaded.len(), 250);
    for (k, v) in keys.iter().zip(&loaded) {
        let i: i64 = k.run_id[1..].parse().unwrap();
        assert_eq!(v.as_ref().map(|v| v.value.last_event), (i % 3 != 0).then_some(Some(Timestamp(i))), "{k:?}");
    }
    assert!(s.load_runs(&[], T0).await.unwrap().is_empty());
    // The same key twice answers twice.
    let twice = s.load_runs(&[key("r1"), key("r1")], T0).await.unwrap();
    assert_eq!(twice.iter().map(|v| v.as_ref().map(|v| v.version)).collect::<Vec<_>>(), vec![Some(1), Some(1)]);
}

/// `record_fires` reports a fire id already recorded (in an earlier call or earlier in the same one) as
/// not new.
pub async fn fires_are_recorded_at_most_once<F: Fixture>(f: &F) {
    let s = f.store();
    let (a, b) = (fire("f1", "auto-1"), fire("f2", "auto-1"));
    assert_eq!(s.record_fires(&[a.clone(), b.clone()], T0).await.unwrap(), vec![true, true]);
    assert_eq!(s.record_fires(&[b.clone(), a.clone()], T0.plus(1)).await.unwrap(), vec![false, false]);
    // A repeat within one call is a duplicate too: the first occurrence is the new one.
    let c = fire("f3", "auto-2");
    assert_eq!(s.record_fires(&[c.clone(), c.clone()], T0).await.unwrap(), vec![true, false]);
    assert!(s.record_fires(&[], T0).await.unwrap().is_empty());
}

/// A fire id is taken for [`FIRE_TTL`] from its recording; after that it records anew, for another TTL.
pub async fn an_expired_fire_can_be_recorded_again<F: Fixture>(f: &F) {
    let s = f.store();
    let one = [fire("f1", "auto-1")];
    assert_eq!(s.record_fires(&one, T0).await.unwrap(), vec![true]);
    let expiry = T0.plus(FIRE_TTL);
    assert_eq!(s.record_fires(&one, expiry.minus(1)).await.unwrap(), vec![false]);
    assert_eq!(s.record_fires(&one, expiry).await.unwrap(), vec![true]);
    // Recorded again, it lives another TTL from then.
    assert_eq!(s.record_fires(&one, expiry.plus(1)).await.unwrap(), vec![false]);
    assert_eq!(s.record_fires(&one, expiry.plus(FIRE_TTL).minus(1)).await.unwrap(), vec![false]);
}

/// Recorded rejects read back whole, oldest first ([`Fixture::rejects`]).
pub async fn rejects_are_kept_in_order<F: Fixture>(f: &F) {
    assert!(f.rejects(T0).await.is_empty());
    for n in 0..3 {
        f.store().record_reject(&reject(n)).await.unwrap();
    }
    assert_eq!(f.rejects(T0).await, vec![reject(0), reject(1), reject(2)]);
}

/// `put_automation` creates or replaces by id, a name is unique within its entity (a name given up by a
/// rename is free), and `list_entity_automations` lists one entity's in the order of the whole listing.
pub async fn automations_upsert_by_id_and_keep_names_unique<F: Fixture>(f: &F) {
    let s = f.store();
    let listed = |v: Vec<Automation>| {
        let mut v: Vec<(String, String)> = v.into_iter().map(|a| (a.id.into_string(), a.name)).collect();
        v.sort();
        v
    };
    assert!(s.list_automations().await.unwrap().is_empty());
    s.put_automation(&automation("a1", "first"), T0).await.unwrap();
    s.put_automation(&automation("a2", "second"), T0).await.unwrap();
    s.put_automation(&automation("a1", "renamed"), T0.plus(1)).await.unwrap();
    let all = s.list_automations().await.unwrap();
    assert_eq!(listed(all.clone()), vec![("a1".into(), "renamed".into()), ("a2".into(), "second".into())]);
    let a1 = all.iter().find(|a| a.id == "a1").unwrap();
    assert_eq!(a1.to_document(), automation("a1", "renamed").to_document(), "read back whole");

    // A name is unique within its entity, whether by a new id or by renaming another.
    for clash in [automation("a3", "second"), automation("a1", "second")] {
        match s.put_automation(&clash, T0).await {
            Err(StoreError::NameTaken { name, .. }) => assert_eq!(name, "second"),
            other => panic!("expected a conflict, got {other:?}"),
        }
    }
    // The name given up by a rename is free again.
    s.put_automation(&automation("a3", "first"), T0).await.unwrap();
    assert_eq!(
        listed(s.list_automations().await.unwrap()),
        vec![("a1".into(), "renamed".into()), ("a2".into(), "second".into()), ("a3".into(), "first".into())]
    );

    // One entity's alone, in the order of the whole listing (what an engine rereads after that
    // entity changed); the same name in another entity is another automation.
    let mut doc = automation("z1", "first").to_document();
    doc["scope"]["entity"] = "zeta".into();
    s.put_automation(&Automation::from_create("z1", &doc).unwrap(), T0).await.unwrap();
    let ids = |v: Vec<Automation>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
    let acme_in_order: Vec<AutomationId> =
        ids(s.list_automations().await.unwrap()).into_iter().filter(|id| id.as_str().starts_with('a')).collect();
    assert_eq!(ids(s.list_entity_automations(&EntityId::new("acme")).await.unwrap()), acme_in_order);
    assert_eq!(ids(s.list_entity_automations(&EntityId::new("zeta")).await.unwrap()), ["z1"]);
    assert!(s.list_entity_automations(&EntityId::new("nobody")).await.unwrap().is_empty());
}

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

fn state_changed(id: &str) -> Envelope {
    let text = json!({
        "specversion": "1.0", "id": id, "source": "tracker", "type": "run.state.changed",
        "time": "2026-11-01T12:00:30Z",
        "data": {"entity": "acme", "project": "mnist", "run_id": "r1", "state": "finished", "previous_state": "running"}
    })
    .to_string();
    parse_envelope(&text).expect("valid envelope")
}

fn loss_high() -> Automation {
    let doc = json!({
        "name": "loss-high",
        "scope": {"type": "project", "entity": "acme", "project": "mnist"},
        "event": {"type": "RUN_METRIC_THRESHOLD", "metric": {"name": "loss", "cmp": "$gt", "threshold": 0.5}},
        "action": {"type": "none"}
    });
    Automation::from_create("loss-high", &doc).expect("valid automation")
}

async fn engine_of<S: AutomationStore>(s: &S) -> Engine {
    Engine::new(s.list_automations().await.expect("list automations"))
}

fn fire_summary(fires: &[Fire]) -> Vec<(String, Value)> {
    fires.iter().map(|f| (f.automation_id.to_string(), Value::from(f.event_id.clone()))).collect()
}

/// Ingest of a batch delivered twice fires once (the second delivery's state fire counted a duplicate)
/// and saves the run once.
pub async fn redelivered_batches_fire_nothing_new<F: Fixture>(f: &F) {
    let s = f.store();
    let now = Timestamp::parse_rfc3339("2026-11-01T12:01:00Z").unwrap();
    s.put_automation(&loss_high(), now).await.unwrap();
    s.put_automation(&automation("done", "run-done"), now).await.unwrap();
    let engine = engine_of(s).await;
    let pipeline = Ingest { engine: &engine, store: s };
    // 0.7 at step 2 fires; 0.8 at step 3 is inside the default 24 h cooldown.
    let batch = [metrics("e1", 1, 0.4), metrics("e2", 2, 0.7), metrics("e3", 3, 0.8), state_changed("e4")];
    let out = pipeline.process(&batch, IngestClock::Arrival(now)).await.unwrap();
    assert_eq!(
        fire_summary(&out.fires),
        vec![("loss-high".into(), json!("e2")), ("done".into(), json!("e4"))],
        "one metric fire, one state fire"
    );
    assert_eq!(out.duplicates, 0);
    // Redelivered: the windows have seen these steps; the state change's fire id is taken.
    let again = pipeline.process(&batch, IngestClock::Arrival(now)).await.unwrap();
    assert!(again.fires.is_empty(), "{:?}", fire_summary(&again.fires));
    assert_eq!(again.duplicates, 1);
    // The run was saved once, with its window.
    let (version, _) = load_one(s, "r1", now).await.expect("run saved");
    assert_eq!(version, 1);
}

/// Two consumers ingesting the same batch at once fire once between them and save the run once.
pub async fn overlapping_consumers_fire_once<F: Fixture>(f: &F) {
    // Two consumers evaluate the same batch at once (a redelivery overlapping the first
    // delivery): between them the automation fires once and the run record is saved once.
    let s = f.store();
    let now = Timestamp::parse_rfc3339("2026-11-01T12:01:00Z").unwrap();
    s.put_automation(&loss_high(), now).await.unwrap();
    let engine = engine_of(s).await;
    let batch = [metrics("e1", 1, 0.4), metrics("e2", 2, 0.7)];
    let a = Ingest { engine: &engine, store: s };
    let b = Ingest { engine: &engine, store: s };
    let (ra, rb) =
        futures_join(a.process(&batch, IngestClock::Arrival(now)), b.process(&batch, IngestClock::Arrival(now))).await;
    let (ra, rb) = (ra.expect("consumer a"), rb.expect("consumer b"));
    assert_eq!(ra.fires.len() + rb.fires.len(), 1, "fired once between them");
    let (version, _) = load_one(s, "r1", now).await.expect("run saved");
    assert_eq!(version, 1, "saved once: the other consumer's save was refused and found nothing new");
    // And a third delivery later changes nothing.
    let c = Ingest { engine: &engine, store: s }.process(&batch, IngestClock::Arrival(now)).await.unwrap();
    assert!(c.fires.is_empty());
}

/// Poll two futures to completion together (the store futures of some adapters finish at their
/// first poll, which is fine).
async fn futures_join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none()
            && let std::task::Poll::Ready(v) = a.as_mut().poll(cx)
        {
            ra = Some(v);
        }
        if rb.is_none()
            && let std::task::Poll::Ready(v) = b.as_mut().poll(cx)
        {
            rb = Some(v);
        }
        if ra.is_some() && rb.is_some() { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    })
    .await;
    (ra.expect("polled to completion"), rb.expect("polled to completion"))
}

fn scoped(id: &str, entity: &str, name: &str, scope: Value, event: Value, enabled: bool) -> Automation {
    let mut scope = scope;
    scope["entity"] = entity.into();
    Automation::from_create(
        id,
        &json!({"name": name, "enabled": enabled, "scope": scope, "event": event, "action": {"type": "none"}}),
    )
    .expect("valid automation")
}

fn config_set() -> Vec<Automation> {
    let project = json!({"type": "project", "project": "mnist"});
    let entity = json!({"type": "entity"});
    let alias = json!({"type": "ADD_ARTIFACT_ALIAS"});
    let state = json!({"type": "RUN_STATE", "states": ["failed"]});
    vec![
        scoped("au_1", "acme", "one", project.clone(), alias.clone(), true),
        scoped("au_2", "acme", "two", entity.clone(), state.clone(), false),
        scoped("au_3", "acme", "three", project.clone(), state.clone(), true),
        scoped("au_4", "other", "one", project, alias, true),
        scoped("au_5", "acme", "five", entity, state, true),
    ]
}

fn ids(page: &[AutomationRecord]) -> Vec<&str> {
    page.iter().map(|r| r.automation.id.as_str()).collect()
}

/// The configuration port's automations: name and id conflicts, `find_automations` filtered by scope,
/// event type and enabled, paged in id order by cursor, and invisible to other entities.
pub async fn config_automations_are_unique_per_entity_filtered_and_paged<F: Fixture>(f: &F) {
    let s = f.store();
    for (i, a) in config_set().iter().enumerate() {
        s.create_automation(a, T0.plus(i as i64)).await.unwrap();
    }
    // A name taken in the entity, or the id taken, is a conflict.
    let tag = json!({"type": "ADD_ARTIFACT_TAG"});
    let dup = scoped("au_9", "acme", "one", json!({"type": "entity"}), tag.clone(), true);
    assert!(matches!(s.create_automation(&dup, T0).await, Err(StoreError::NameTaken { .. })));
    let same_id = scoped("au_1", "acme", "new", json!({"type": "entity"}), tag, true);
    assert!(matches!(s.create_automation(&same_id, T0).await, Err(StoreError::Conflict(_))));
    assert_eq!(s.list_automations().await.unwrap().len(), 5, "both ports see the same automations");
    let q = |scope, event_type, enabled| AutomationQuery {
        entity: "acme".into(),
        scope,
        event_type,
        enabled,
        cursor: None,
        limit: 10,
    };
    assert_eq!(ids(&s.find_automations(&q(None, None, None)).await.unwrap().items), ["au_1", "au_2", "au_3", "au_5"]);
    assert_eq!(
        ids(&s.find_automations(&q(Some(ScopeKind::Entity), None, None)).await.unwrap().items),
        ["au_2", "au_5"]
    );
    let running = q(None, Some(TriggerKind::RunState), Some(true));
    assert_eq!(ids(&s.find_automations(&running).await.unwrap().items), ["au_3", "au_5"]);
    assert_eq!(ids(&s.find_automations(&q(None, None, Some(false))).await.unwrap().items), ["au_2"]);
    // Pages of two, resumed by cursor.
    let mut page_q = q(None, None, None);
    page_q.limit = 2;
    let first = s.find_automations(&page_q).await.unwrap();
    assert_eq!(ids(&first.items), ["au_1", "au_2"]);
    page_q.cursor = first.next;
    let second = s.find_automations(&page_q).await.unwrap();
    assert_eq!(ids(&second.items), ["au_3", "au_5"]);
    assert!(second.next.is_none());
    // Any string resumes after its place in id order.
    page_q.cursor = Some("au_25".into());
    assert_eq!(ids(&s.find_automations(&page_q).await.unwrap().items), ["au_3", "au_5"]);
    let r = s.get_automation(&EntityId::new("acme"), &AutomationId::new("au_3")).await.unwrap().unwrap();
    assert_eq!((r.created_at, r.updated_at), (T0.plus(2), T0.plus(2)));
    assert!(
        s.get_automation(&EntityId::new("other"), &AutomationId::new("au_3")).await.unwrap().is_none(),
        "another entity's automation does not exist"
    );
}

/// `update_automation` keeps `created_at` and refuses a taken name; updates and deletes reach only the
/// automation's own entity; a renamed or deleted automation's name is free.
pub async fn config_updates_and_deletes_stay_in_their_entity<F: Fixture>(f: &F) {
    let s = f.store();
    for a in config_set() {
        s.create_automation(&a, T0).await.unwrap();
    }
    let later = T0.plus(1000);
    let mut renamed = config_set()[0].clone();
    renamed.name = "uno".into();
    assert!(s.update_automation(&renamed, later).await.unwrap());
    let r = s.get_automation(&EntityId::new("acme"), &AutomationId::new("au_1")).await.unwrap().unwrap();
    assert_eq!((r.automation.name.as_str(), r.created_at, r.updated_at), ("uno", T0, later));
    // Onto a taken name: a conflict, and nothing changed.
    renamed.name = "two".into();
    assert!(matches!(s.update_automation(&renamed, later).await, Err(StoreError::NameTaken { .. })));
    assert_eq!(
        s.get_automation(&EntityId::new("acme"), &AutomationId::new("au_1")).await.unwrap().unwrap().automation.name,
        "uno"
    );
    // The old name was given up by the rename.
    let reuse = scoped("au_6", "acme", "one", json!({"type": "entity"}), json!({"type": "ADD_ARTIFACT_TAG"}), true);
    s.create_automation(&reuse, later).await.unwrap();
    // An automation of another entity (same id, other scope) is not there to update or delete.
    let foreign = scoped("au_1", "other", "x", json!({"type": "entity"}), json!({"type": "ADD_ARTIFACT_TAG"}), true);
    assert!(!s.update_automation(&foreign, later).await.unwrap());
    assert!(!s.delete_automation(&EntityId::new("other"), &AutomationId::new("au_1")).await.unwrap());
    assert!(s.delete_automation(&EntityId::new("acme"), &AutomationId::new("au_1")).await.unwrap());
    assert!(!s.delete_automation(&EntityId::new("acme"), &AutomationId::new("au_1")).await.unwrap());
    assert!(s.get_automation(&EntityId::new("acme"), &AutomationId::new("au_1")).await.unwrap().is_none());
    assert_eq!(s.list_automations().await.unwrap().len(), 5);
    // A deleted automation's name is free.
    let again = scoped("au_7", "acme", "uno", json!({"type": "entity"}), json!({"type": "ADD_ARTIFACT_TAG"}), true);
    s.create_automation(&again, later).await.unwrap();
}

fn integration(id: &str, entity: &str, doc: Value) -> Integration {
    Integration::from_create(id, entity, &doc, T0).expect("valid integration")
}

async fn integration_names<S: ConfigStore>(
    s: &S,
    entity: &str,
    cursor: Option<&str>,
    limit: usize,
) -> (Vec<String>, Option<String>) {
    let p = s.list_integrations(&EntityId::new(entity), cursor, limit).await.unwrap();
    (p.items.into_iter().map(|i| i.name.into_string()).collect(), p.next)
}

/// Integrations: unique names per entity, read back with their credentials, paged, disabled and
/// re-enabled, replaced in place (id and `created_at` kept), deleted; API keys found by their hash.
pub async fn config_integrations_and_keys<F: Fixture>(f: &F) {
    let s = f.store();
    let hook = integration(
        "in_1",
        "acme",
        json!({"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/h", "secret": "s3", "access_token": "t0"}),
    );
    s.create_integration(&hook).await.unwrap();
    let chan = json!({"name": "chan", "type": "slack", "url": "https://hooks.slack.test/x", "channel": "ml"});
    s.create_integration(&integration("in_2", "acme", chan.clone())).await.unwrap();
    s.create_integration(&integration("in_3", "other", chan.clone())).await.unwrap();
    assert!(matches!(
        s.create_integration(&integration("in_4", "acme", chan)).await,
        Err(StoreError::NameTaken { .. })
    ));
    assert_eq!(
        s.get_integration(&EntityId::new("acme"), &IntegrationName::new("hook")).await.unwrap(),
        Some(hook),
        "credentials come back for delivery"
    );
    assert!(s.get_integration(&EntityId::new("other"), &IntegrationName::new("hook")).await.unwrap().is_none());
    assert_eq!(integration_names(s, "acme", None, 10).await, (vec!["hook".into(), "chan".into()], None));
    let (first, next) = integration_names(s, "acme", None, 1).await;
    assert_eq!(first, ["hook"]);
    assert_eq!(integration_names(s, "acme", next.as_deref(), 1).await, (vec!["chan".into()], None));
    assert!(
        s.set_integration_disabled(&EntityId::new("acme"), &IntegrationName::new("hook"), Some("410 Gone"))
            .await
            .unwrap()
    );
    assert_eq!(
        s.get_integration(&EntityId::new("acme"), &IntegrationName::new("hook"))
            .await
            .unwrap()
            .unwrap()
            .disabled
            .as_deref(),
        Some("410 Gone")
    );
    assert!(s.set_integration_disabled(&EntityId::new("acme"), &IntegrationName::new("hook"), None).await.unwrap());
    assert_eq!(
        s.get_integration(&EntityId::new("acme"), &IntegrationName::new("hook")).await.unwrap().unwrap().disabled,
        None
    );
    assert!(
        !s.set_integration_disabled(&EntityId::new("other"), &IntegrationName::new("hook"), Some("x")).await.unwrap()
    );
    // Replaced in place (issue 16, item 9): new URL and secret, the id and created_at kept.
    assert!(
        s.set_integration_disabled(&EntityId::new("acme"), &IntegrationName::new("hook"), Some("410 Gone"))
            .await
            .unwrap()
    );
    let mut moved = integration(
        "in_new",
        "acme",
        json!({"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/moved", "secret": "s4"}),
    );
    moved.created_at = T0.plus(SECOND);
    assert!(s.update_integration(&moved).await.unwrap());
    let got = s.get_integration(&EntityId::new("acme"), &IntegrationName::new("hook")).await.unwrap().unwrap();
    assert_eq!((got.id.as_str(), got.created_at, got.disabled.as_deref()), ("in_1", T0, None));
    assert_eq!(got.to_stored_json(), moved.to_stored_json(), "the new URL and secret are stored");
    moved.entity = "other".into();
    assert!(!s.update_integration(&moved).await.unwrap(), "no integration hook in entity other");
    assert!(!s.delete_integration(&EntityId::new("other"), &IntegrationName::new("hook")).await.unwrap());
    assert!(s.delete_integration(&EntityId::new("acme"), &IntegrationName::new("hook")).await.unwrap());
    assert!(s.get_integration(&EntityId::new("acme"), &IntegrationName::new("hook")).await.unwrap().is_none());
    let key = ApiKeyRecord { hash: "ab".repeat(32), entity: "acme".into(), created_at: T0 };
    s.put_api_key(&key).await.unwrap();
    assert_eq!(s.find_api_key(&key.hash).await.unwrap(), Some(key));
    assert_eq!(s.find_api_key(&"cd".repeat(32)).await.unwrap(), None);
}

/// The MLflow poller's port: the tracking integrations of every entity (and only those), a
/// cursor per (integration, run) and a poll record per integration, forgotten with the
/// integration; a patch that removes the tracking side takes it off the list.
pub async fn tracking_cursors_and_polls_per_integration<F: Fixture>(f: &F) {
    let s = f.store();
    let tracked = |id: &str, entity: &str, name: &str| {
        integration(
            id,
            entity,
            json!({"name": name, "type": "mlflow", "tracking_uri": "http://127.0.0.1:9", "token": "tk"}),
        )
    };
    s.create_integration(&tracked("in_t1", "acme", "ml")).await.unwrap();
    s.create_integration(&tracked("in_t2", "other", "ml")).await.unwrap();
    let hook_only = json!({"name": "reg", "type": "mlflow", "secret": "s", "registry": "r"});
    s.create_integration(&integration("in_t3", "acme", hook_only)).await.unwrap();
    let listed = s.tracking_integrations().await.unwrap();
    assert_eq!(listed.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["in_t1", "in_t2"]);
    assert_eq!(listed[0], tracked("in_t1", "acme", "ml"), "credentials come back for polling");

    let runs = vec!["r1".to_string(), "r#2".to_string(), "r3".to_string()];
    assert_eq!(s.load_cursors("in_t1", &runs).await.unwrap(), vec![RunCursor::default(); 3]);
    let mut c = RunCursor {
        status: Some("RUNNING".into()),
        metrics: [("loss".to_string(), MetricCursor { step: 3, timestamp: 30 })].into_iter().collect(),
    };
    s.save_cursor("in_t1", "r#2", &c).await.unwrap();
    c.status = Some("FINISHED".into());
    c.metrics.insert("system/cpu".into(), MetricCursor { step: 0, timestamp: 9 });
    c.metrics.insert("loss".into(), MetricCursor { step: 4, timestamp: 40 });
    s.save_cursor("in_t1", "r#2", &c).await.unwrap();
    let empty = RunCursor::default();
    assert_eq!(s.load_cursors("in_t1", &runs).await.unwrap(), vec![empty.clone(), c.clone(), empty.clone()]);
    assert_eq!(s.load_cursors("in_t2", &runs).await.unwrap(), vec![empty.clone(); 3], "cursors are per integration");

    assert_eq!(s.poll_record("in_t1").await.unwrap(), None);
    let failed = PollRecord {
        at: T0,
        error: Some("401 Unauthorized".into()),
        requests: 3,
        envelopes: 0,
        last_success: Some(T0.plus(-MINUTE)),
        failures: 2,
    };
    s.save_poll_record("in_t1", &failed).await.unwrap();
    assert_eq!(s.poll_record("in_t1").await.unwrap(), Some(failed));
    let ok = PollRecord {
        at: T0.plus(SECOND),
        requests: 7,
        envelopes: 2,
        last_success: Some(T0.plus(SECOND)),
        ..PollRecord::default()
    };
    s.save_poll_record("in_t1", &ok).await.unwrap();
    assert_eq!(s.poll_record("in_t1").await.unwrap(), Some(ok), "an error is cleared by a later success");
    assert_eq!(s.poll_record("in_t2").await.unwrap(), None);

    // The tracking side patched away: off the list; patched back: on it again.
    let plain = integration("in_t2", "other", json!({"name": "ml", "type": "mlflow", "secret": "s", "registry": "r"}));
    assert!(s.update_integration(&plain).await.unwrap());
    let ids = |l: Vec<Integration>| l.into_iter().map(|i| i.id).collect::<Vec<_>>();
    assert_eq!(ids(s.tracking_integrations().await.unwrap()), ["in_t1"]);
    assert!(s.update_integration(&tracked("in_t2", "other", "ml")).await.unwrap());
    assert_eq!(ids(s.tracking_integrations().await.unwrap()), ["in_t1", "in_t2"]);

    assert!(s.delete_integration(&EntityId::new("acme"), &IntegrationName::new("ml")).await.unwrap());
    assert_eq!(ids(s.tracking_integrations().await.unwrap()), ["in_t2"]);
    assert_eq!(s.poll_record("in_t1").await.unwrap(), None, "a deleted integration's poll is forgotten");
    assert_eq!(s.load_cursors("in_t1", &runs).await.unwrap(), vec![empty; 3], "and its cursors");
}

fn hook_fire(id: &str, automation_id: &str) -> Fire {
    Fire { action: Action::Webhook { integration: "hook".into(), payload: None }, ..fire(id, automation_id) }
}

/// Recording a fire records its execution: `PENDING` and due at once for a delivery action, `FINISHED`
/// for the none action; a redelivered fire leaves it unchanged.
pub async fn outbox_records_the_execution_with_the_fire<F: Fixture>(f: &F) {
    let s = f.store();
    let fires = [hook_fire("f1", "a1"), fire("f2", "a1")];
    assert_eq!(s.record_fires(&fires, T0).await.unwrap(), [true, true]);
    let e = s.get_execution(&FireId::new("f1"), T0).await.unwrap().expect("pending execution recorded");
    assert_eq!(e.state, ExecutionState::Pending);
    assert_eq!(e.next_attempt_at, Some(T0));
    assert_eq!(e.integration(), Some("hook"));
    assert_eq!(e.automation_name, "a1-name");
    assert_eq!(e.event, fires[0].to_value(), "the fire is kept whole");
    let n = s.get_execution(&FireId::new("f2"), T0).await.unwrap().unwrap();
    assert_eq!(n.state, ExecutionState::Finished, "the none action is done when recorded");
    assert!(n.request.is_none());
    // A redelivered fire records nothing new and leaves its execution as it was.
    assert_eq!(s.record_fires(&fires[..1], T0.plus(SECOND)).await.unwrap(), [false]);
    assert_eq!(s.get_execution(&FireId::new("f1"), T0).await.unwrap().unwrap().created_at, T0);
    assert_eq!(s.next_due(T0).await.unwrap(), Some(T0));
    assert!(s.get_execution(&FireId::new("nope"), T0).await.unwrap().is_none());
}

/// Claims lease due executions (bumping the version) until the lease ends, an ended lease is taken over,
/// saves compare and swap on the version, and a claim by id checks the version or that it is due.
pub async fn outbox_claims_lease_and_compare_and_swap<F: Fixture>(f: &F) {
    let s = f.store();
    let fires: Vec<Fire> = (0..3).map(|i| hook_fire(&format!("f{i}"), "a1")).collect();
    s.record_fires(&fires, T0).await.unwrap();
    let lease = T0.plus(MINUTE);
    let got = s.claim_due(T0, 2, lease, T0).await.unwrap();
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|e| e.version == 1 && e.next_attempt_at == Some(lease)));
    // Leased executions are not due again until the lease ends.
    assert_eq!(s.claim_due(T0, 10, lease, T0).await.unwrap().len(), 1);
    assert!(s.claim_due(T0.plus(SECOND), 10, lease, T0).await.unwrap().is_empty());
    assert_eq!(s.next_due(T0).await.unwrap(), Some(lease));
    // A lease that ran out is taken over; the first holder's save is refused.
    let first = got[0].clone();
    let later = lease.plus(1);
    let over = s.claim_due(later, 10, later.plus(MINUTE), later).await.unwrap();
    assert_eq!(over.len(), 3);
    let mut stale = first.clone();
    stale.state = ExecutionState::Finished;
    assert!(!s.save_execution(&stale, later).await.unwrap(), "a lost claim saves nothing");
    let mut done = over.iter().find(|e| e.fire_id == first.fire_id).unwrap().clone();
    done.state = ExecutionState::Finished;
    done.attempts = 1;
    done.next_attempt_at = None;
    assert!(s.save_execution(&done, later).await.unwrap());
    let stored = s.get_execution(&done.fire_id, later).await.unwrap().unwrap();
    assert_eq!((stored.state, stored.attempts, stored.version), (ExecutionState::Finished, 1, done.version + 1));
    assert!(!s.save_execution(&done, later).await.unwrap(), "the same version saves once");
    // Claiming one by id: by version (the queue's message), or "if due".
    let other = over.iter().find(|e| e.fire_id != first.fire_id).unwrap();
    assert!(s.claim(&other.fire_id, Some(other.version - 1), later, later).await.unwrap().is_none());
    let c = s.claim(&other.fire_id, Some(other.version), later.plus(MINUTE), later).await.unwrap().unwrap();
    assert_eq!(c.version, other.version + 1);
    assert!(s.claim(&other.fire_id, None, later, later).await.unwrap().is_none(), "leased: not due");
    assert!(s.claim(&other.fire_id, None, later, later.plus(2 * MINUTE)).await.unwrap().is_some(), "lease over: due");
    assert!(s.claim(&done.fire_id, None, later, later.plus(DAY)).await.unwrap().is_none(), "finished");
    assert!(s.claim(&FireId::new("nope"), None, later, later).await.unwrap().is_none());
    // A pending execution saved with a later attempt time is due again then.
    let mut retry =
        s.claim(&fires[2].id, None, later, later.plus(3 * MINUTE)).await.unwrap().unwrap_or_else(|| panic!("f2 due"));
    retry.attempts = 1;
    retry.next_attempt_at = Some(later.plus(10 * MINUTE));
    assert!(s.save_execution(&retry, later.plus(3 * MINUTE)).await.unwrap());
    assert!(s.claim(&retry.fire_id, None, later, later.plus(9 * MINUTE)).await.unwrap().is_none());
    let again = s.claim(&retry.fire_id, None, later.plus(11 * MINUTE), later.plus(10 * MINUTE)).await.unwrap();
    assert_eq!(again.map(|e| e.attempts), Some(1));
}

/// `list_executions` pages one automation's executions newest first (ties by fire id); a bad cursor or an
/// unknown automation lists nothing.
pub async fn outbox_lists_newest_first<F: Fixture>(f: &F) {
    let s = f.store();
    for i in 0..5 {
        s.record_fires(&[hook_fire(&format!("f{i}"), "a1")], T0.plus(i)).await.unwrap();
    }
    // Two with the same creation time: the fire id orders them.
    s.record_fires(&[hook_fire("g1", "a1"), hook_fire("g2", "a1")], T0.plus(10)).await.unwrap();
    s.record_fires(&[hook_fire("x", "a2")], T0).await.unwrap();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let p = s.list_executions(&AutomationId::new("a1"), cursor.as_deref(), 3, T0.plus(100)).await.unwrap();
        assert!(p.items.len() <= 3);
        seen.extend(p.items.iter().map(|e| e.fire_id.clone()));
        match p.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, ["g2", "g1", "f4", "f3", "f2", "f1", "f0"]);
    assert!(s.list_executions(&AutomationId::new("a1"), Some("not a cursor"), 3, T0).await.unwrap().items.is_empty());
    assert!(s.list_executions(&AutomationId::new("nobody"), None, 3, T0).await.unwrap().items.is_empty());
}

/// An execution is gone when its fire expires ([`FIRE_TTL`]): not read, claimed or listed; the fire id
/// then records a new execution.
pub async fn outbox_executions_expire_with_their_fires<F: Fixture>(f: &F) {
    let s = f.store();
    s.record_fires(&[hook_fire("f1", "a1")], T0).await.unwrap();
    let gone = T0.plus(FIRE_TTL);
    assert!(s.get_execution(&FireId::new("f1"), gone.minus(1)).await.unwrap().is_some());
    assert!(s.get_execution(&FireId::new("f1"), gone).await.unwrap().is_none());
    assert!(s.claim_due(gone, 10, gone.plus(MINUTE), gone).await.unwrap().is_empty());
    assert!(s.claim(&FireId::new("f1"), None, gone.plus(MINUTE), gone).await.unwrap().is_none());
    assert!(s.list_executions(&AutomationId::new("a1"), None, 10, gone).await.unwrap().items.is_empty());
    // (How much a purge removes is the adapter's business: DynamoDB leaves it to its TTL.)
    s.purge_expired(gone).await.unwrap();
    assert!(s.get_execution(&FireId::new("f1"), gone).await.unwrap().is_none());
    // Recorded again after expiry: a new execution.
    assert_eq!(s.record_fires(&[hook_fire("f1", "a1")], gone).await.unwrap(), [true]);
    assert_eq!(s.get_execution(&FireId::new("f1"), gone).await.unwrap().unwrap().created_at, gone);
}

fn run_info(run: &str) -> RunInfo {
    RunInfo {
        key: key(run),
        run_name: Some(format!("{run}-name")),
        user: Some("ana".into()),
        tags: vec!["t".into()],
        config: Default::default(),
        author: None,
    }
}

fn activity_update(
    run: &str,
    state: Option<(RunState, Timestamp)>,
    alive_at: Option<Timestamp>,
    seen: Timestamp,
) -> ActivityUpdate {
    ActivityUpdate { key: key(run), state, alive_at, info: Some(run_info(run)), seen_at: seen }
}

/// `stalled_runs` lists running runs silent since the given time, longest silent first and at most
/// `limit`; a finished run or a crash envelope's update leaves the list; a heartbeat keeps the run info.
pub async fn activity_finds_stalled_runs<F: Fixture>(f: &F) {
    let s = f.store();
    s.record_activity(
        &[activity_update("r1", None, Some(T0), T0), activity_update("r2", None, Some(T0), T0.plus(5 * MINUTE))],
        T0,
    )
    .await
    .unwrap();
    s.record_activity(&[activity_update("r3", Some((RunState::Finished, T0)), None, T0)], T0).await.unwrap();
    let stalled = s.stalled_runs(T0.plus(MINUTE), 10, T0.plus(11 * MINUTE)).await.unwrap();
    let ids: Vec<_> = stalled.iter().map(|a| a.key.run_id.as_str()).collect();
    assert_eq!(ids, ["r1"], "r2 spoke later, r3 finished");
    assert_eq!(stalled[0].info.as_ref().unwrap().run_name.as_deref(), Some("r1-name"));
    // The crash envelope's update takes the run out of the stalled set.
    let crash = activity::crash_envelope(&stalled[0], T0.plus(11 * MINUTE));
    s.record_activity(&activity::updates(&[crash], T0.plus(11 * MINUTE)), T0.plus(11 * MINUTE)).await.unwrap();
    assert!(s.stalled_runs(T0.plus(MINUTE), 10, T0.plus(12 * MINUTE)).await.unwrap().is_empty());
    // A heartbeat-only update keeps the info already known.
    let beat = ActivityUpdate {
        key: key("r2"),
        state: None,
        alive_at: Some(T0.plus(MINUTE)),
        info: None,
        seen_at: T0.plus(20 * MINUTE),
    };
    s.record_activity(&[beat], T0.plus(20 * MINUTE)).await.unwrap();
    let later = s.stalled_runs(T0.plus(20 * MINUTE), 10, T0.plus(40 * MINUTE)).await.unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].last_seen, T0.plus(20 * MINUTE));
    assert!(later[0].info.is_some());
    // Longest silent first, and at most `limit`.
    for i in 0..6 {
        s.record_activity(&[activity_update(&format!("q{i}"), None, Some(T0), T0.plus((30 - i) * MINUTE))], T0)
            .await
            .unwrap();
    }
    let some = s.stalled_runs(T0.plus(40 * MINUTE), 3, T0.plus(60 * MINUTE)).await.unwrap();
    let ids: Vec<_> = some.iter().map(|a| a.key.run_id.as_str()).collect();
    assert_eq!(ids, ["r2", "q5", "q4"]);
}

/// Activity expires (kept about a month), an older state change arriving late does not undo a newer one,
/// and a run's record and activity do not overwrite each other.
pub async fn activity_expires_and_follows_event_time<F: Fixture>(f: &F) {
    let s = f.store();
    s.record_activity(&[activity_update("r1", None, Some(T0), T0)], T0).await.unwrap();
    // A run record and its activity live side by side.
    assert_eq!(s.save_runs(&[save("r1", None, 1, T0.plus(DAY))], T0).await.unwrap(), vec![true]);
    let stalled = s.stalled_runs(T0, 10, T0.plus(11 * MINUTE)).await.unwrap();
    assert_eq!(stalled.len(), 1);
    let expires = stalled[0].expires_at;
    assert!(expires >= T0.plus(29 * DAY), "kept a month: {expires:?}");
    assert!(s.stalled_runs(T0, 10, expires).await.unwrap().is_empty(), "expired activity is absent");
    // An old state change arriving late does not undo a newer one.
    s.record_activity(&[activity_update("r1", Some((RunState::Finished, T0.plus(MINUTE))), None, T0.plus(MINUTE))], T0)
        .await
        .unwrap();
    s.record_activity(&[activity_update("r1", Some((RunState::Running, T0)), None, T0.plus(2 * MINUTE))], T0)
        .await
        .unwrap();
    assert!(s.stalled_runs(T0.plus(10 * MINUTE), 10, T0.plus(30 * MINUTE)).await.unwrap().is_empty(), "still finished");
    // The record written alongside is untouched by activity writes, and vice versa.
    assert_eq!(load_one(s, "r1", T0).await.map(|(_, t)| t), Some(Some(Timestamp(1))));
}

#[cfg(test)]
mod tests {
    /// Every `pub async fn name<F: Fixture>` of this module is in [`store_conformance!`]'s list:
    /// a conformance function left out of it would silently run on no adapter.
    #[test]
    fn the_macro_lists_every_conformance_function() {
        let source = include_str!("conformance.rs");
        let defined: std::collections::BTreeSet<&str> = source
            .lines()
            .filter_map(|l| l.strip_prefix("pub async fn ")?.split_once("<F: Fixture>").map(|(name, _)| name))
            .collect();
        let start = source.find("$crate::store_conformance!(@tests $make;").expect("the macro's list");
        let list = &source[start..start + source[start..].find(");").expect("the list's end")];
        let listed: std::collections::BTreeSet<&str> =
            list.lines().skip(1).map(|l| l.trim().trim_end_matches(',')).filter(|l| !l.is_empty()).collect();
        assert!(!defined.is_empty());
        assert_eq!(defined, listed, "store_conformance! and the conformance functions differ");
    }
}
