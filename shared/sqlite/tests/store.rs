//! The port's operations on SQLite: expiry, conditional saves, at-most-once fires, automations
//! read back (or reported corrupt), and everything surviving a reopen of the file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_core::AutomationId;
use automations_core::engine::RunRecord;
use automations_core::event::{RunInfo, RunKey};
use automations_core::fire::{Fire, Subject};
use automations_core::model::{Automation, RunState, TriggerKind};
use automations_core::store::SeedAutomations;
use automations_core::store::{
    AutomationStore, FIRE_TTL, FireStore, RejectRecord, RejectStore, RunSave, RunStore, StoreError, ready_now,
};
use automations_core::time::{DAY, Timestamp};
use automations_sqlite::{SCHEMA_VERSION, SqliteStore};
use serde_json::{Value, json};

const T0: Timestamp = Timestamp(1_793_534_400_000); // 2026-11-01T12:00:00Z

fn key(run: &str) -> RunKey {
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

fn fire(id: &str, automation_id: &str) -> Fire {
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
        action: automations_core::model::Action::None,
    }
}

fn automation_doc(name: &str) -> Value {
    json!({
        "name": name,
        "scope": {"type": "project", "entity": "acme", "project": "mnist"},
        "event": {"type": "RUN_STATE", "states": ["finished"]},
        "action": {"type": "none"}
    })
}

fn automation(id: &str, name: &str) -> Automation {
    Automation::from_create(id, &automation_doc(name)).expect("valid automation")
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

#[test]
fn runs_save_conditionally_and_versions_increment() {
    let s = SqliteStore::in_memory().unwrap();
    let exp = T0.plus(DAY);
    assert!(ready_now(s.load_runs(&[key("r1")], T0)).unwrap()[0].is_none());

    assert_eq!(ready_now(s.save_runs(&[save("r1", None, 1, exp)], T0)).unwrap(), vec![true]);
    let loaded = ready_now(s.load_runs(&[key("r1")], T0)).unwrap();
    let v = loaded[0].as_ref().expect("saved record");
    assert_eq!(v.version, 1);
    assert_eq!(v.value.last_event, Some(Timestamp(1)));
    assert_eq!(v.value.last_fires["auto-1"], Timestamp(0));

    // A second writer that also saw no record is refused, and so is a stale version.
    assert_eq!(ready_now(s.save_runs(&[save("r1", None, 2, exp)], T0)).unwrap(), vec![false]);
    assert_eq!(ready_now(s.save_runs(&[save("r1", Some(1), 3, exp)], T0)).unwrap(), vec![true]);
    assert_eq!(ready_now(s.save_runs(&[save("r1", Some(1), 4, exp)], T0)).unwrap(), vec![false]);
    assert_eq!(ready_now(s.save_runs(&[save("r1", Some(7), 4, exp)], T0)).unwrap(), vec![false]);
    let v = ready_now(s.load_runs(&[key("r1")], T0)).unwrap().remove(0).unwrap();
    assert_eq!((v.version, v.value.last_event), (2, Some(Timestamp(3))), "refused saves wrote nothing");

    // One call, several saves, each judged on its own; results in order.
    let saves = [save("r2", None, 5, exp), save("r1", Some(1), 6, exp), save("r1", Some(2), 7, exp)];
    assert_eq!(ready_now(s.save_runs(&saves, T0)).unwrap(), vec![true, false, true]);
    let loaded = ready_now(s.load_runs(&[key("r3"), key("r1"), key("r2")], T0)).unwrap();
    assert!(loaded[0].is_none());
    assert_eq!(loaded[1].as_ref().map(|v| (v.version, v.value.last_event)), Some((3, Some(Timestamp(7)))));
    assert_eq!(loaded[2].as_ref().map(|v| (v.version, v.value.last_event)), Some((1, Some(Timestamp(5)))));
}

#[test]
fn expired_runs_read_as_absent_and_can_be_taken_over() {
    let s = SqliteStore::in_memory().unwrap();
    let exp = T0.plus(DAY);
    assert_eq!(ready_now(s.save_runs(&[save("r1", None, 1, exp)], T0)).unwrap(), vec![true]);
    let just_before = exp.minus(1);
    assert_eq!(ready_now(s.load_runs(&[key("r1")], just_before)).unwrap()[0].as_ref().map(|v| v.version), Some(1));
    assert!(ready_now(s.load_runs(&[key("r1")], exp)).unwrap()[0].is_none(), "expires_at <= now is absent");
    assert!(ready_now(s.load_runs(&[key("r1")], exp.plus(1))).unwrap()[0].is_none());

    // The version loaded before expiry no longer matches anything live.
    assert_eq!(ready_now(s.save_runs(&[save("r1", Some(1), 2, exp.plus(DAY))], exp)).unwrap(), vec![false]);
    // Absent is what an expired row is, so a save expecting no record takes it over.
    assert_eq!(ready_now(s.save_runs(&[save("r1", None, 3, exp.plus(DAY))], exp)).unwrap(), vec![true]);
    let v = ready_now(s.load_runs(&[key("r1")], exp)).unwrap().remove(0).unwrap();
    assert_eq!(v.value.last_event, Some(Timestamp(3)));
    assert!(v.version > 1, "versions never go back, so a load from before the expiry cannot match");
    assert_eq!(ready_now(s.save_runs(&[save("r1", Some(1), 4, exp.plus(DAY))], exp)).unwrap(), vec![false]);
    assert_eq!(ready_now(s.save_runs(&[save("r1", Some(v.version), 4, exp.plus(DAY))], exp)).unwrap(), vec![true]);
}

#[test]
fn loads_many_keys_in_order() {
    // More keys than one SELECT takes, with gaps, to exercise the chunking.
    let s = SqliteStore::in_memory().unwrap();
    let exp = T0.plus(DAY);
    let saves: Vec<RunSave> = (0..450).filter(|i| i % 3 != 0).map(|i| save(&format!("r{i}"), None, i, exp)).collect();
    assert!(ready_now(s.save_runs(&saves, T0)).unwrap().iter().all(|w| *w));
    let keys: Vec<RunKey> = (0..450).rev().map(|i| key(&format!("r{i}"))).collect();
    let loaded = ready_now(s.load_runs(&keys, T0)).unwrap();
    assert_eq!(loaded.len(), 450);
    for (k, v) in keys.iter().zip(&loaded) {
        let i: i64 = k.run_id[1..].parse().unwrap();
        assert_eq!(v.as_ref().map(|v| v.value.last_event), (i % 3 != 0).then_some(Some(Timestamp(i))), "{k:?}");
    }
    assert!(ready_now(s.load_runs(&[], T0)).unwrap().is_empty());
}

#[test]
fn fires_are_recorded_at_most_once() {
    let s = SqliteStore::in_memory().unwrap();
    let (a, b) = (fire("f1", "auto-1"), fire("f2", "auto-1"));
    assert_eq!(ready_now(s.record_fires(&[a.clone(), b.clone()], T0)).unwrap(), vec![true, true]);
    assert_eq!(ready_now(s.record_fires(&[b.clone(), a.clone()], T0.plus(1))).unwrap(), vec![false, false]);
    // A repeat within one call is a duplicate too.
    let c = fire("f3", "auto-2");
    assert_eq!(ready_now(s.record_fires(&[c.clone(), c.clone()], T0)).unwrap(), vec![true, false]);

    let stored = s.fires_for(&AutomationId::new("auto-1")).unwrap();
    assert_eq!(stored, vec![a.to_value(), b.to_value()]);
    assert_eq!(s.fires_for(&AutomationId::new("auto-2")).unwrap(), vec![c.to_value()]);
    assert!(s.fires_for(&AutomationId::new("nobody")).unwrap().is_empty());
}

#[test]
fn an_expired_fire_can_be_recorded_again() {
    let s = SqliteStore::in_memory().unwrap();
    let f = fire("f1", "auto-1");
    assert_eq!(ready_now(s.record_fires(std::slice::from_ref(&f), T0)).unwrap(), vec![true]);
    let expiry = T0.plus(FIRE_TTL);
    assert_eq!(ready_now(s.record_fires(std::slice::from_ref(&f), expiry.minus(1))).unwrap(), vec![false]);
    assert_eq!(ready_now(s.record_fires(std::slice::from_ref(&f), expiry)).unwrap(), vec![true]);
    // Replaced, not added: still one row, now living another TTL.
    assert_eq!(s.fires_for(&AutomationId::new("auto-1")).unwrap().len(), 1);
    assert_eq!(ready_now(s.record_fires(std::slice::from_ref(&f), expiry.plus(1))).unwrap(), vec![false]);
}

#[test]
fn delete_expired_removes_only_expired_runs_and_fires() {
    let s = SqliteStore::in_memory().unwrap();
    let saves = [save("r1", None, 1, T0.plus(DAY)), save("r2", None, 2, T0.plus(2 * DAY))];
    assert_eq!(ready_now(s.save_runs(&saves, T0)).unwrap(), vec![true, true]);
    assert_eq!(ready_now(s.record_fires(&[fire("f1", "a")], T0)).unwrap(), vec![true]);
    assert_eq!(ready_now(s.record_fires(&[fire("f2", "a")], T0.plus(DAY))).unwrap(), vec![true]);

    assert_eq!(s.delete_expired(T0.plus(DAY - 1)).unwrap(), 0);
    assert_eq!(s.delete_expired(T0.plus(DAY)).unwrap(), 1, "r1 expires exactly now");
    assert_eq!(s.delete_expired(T0.plus(FIRE_TTL)).unwrap(), 3, "r2, f1 and f1's execution");
    assert_eq!(s.fires_for(&AutomationId::new("a")).unwrap(), vec![fire("f2", "a").to_value()]);
    let loaded = ready_now(s.load_runs(&[key("r1"), key("r2")], T0)).unwrap();
    assert!(loaded.iter().all(Option::is_none));
}

#[test]
fn rejects_are_kept_in_order() {
    let s = SqliteStore::in_memory().unwrap();
    assert!(s.rejects().unwrap().is_empty());
    for n in 0..3 {
        ready_now(s.record_reject(&reject(n))).unwrap();
    }
    assert_eq!(s.rejects().unwrap(), vec![reject(0), reject(1), reject(2)]);
}

#[test]
fn automations_upsert_by_id_and_keep_names_unique() {
    let s = SqliteStore::in_memory().unwrap();
    assert!(ready_now(s.list_automations()).unwrap().is_empty());
    ready_now(s.put_automation(&automation("a1", "first"), T0)).unwrap();
    ready_now(s.put_automation(&automation("a2", "second"), T0)).unwrap();
    ready_now(s.put_automation(&automation("a1", "renamed"), T0.plus(1))).unwrap();
    let listed = ready_now(s.list_automations()).unwrap();
    let summary: Vec<(&str, &str)> = listed.iter().map(|a| (a.id.as_str(), a.name.as_str())).collect();
    assert_eq!(summary, vec![("a1", "renamed"), ("a2", "second")], "replaced in place, order of first put");
    assert_eq!(listed[0].to_document(), automation("a1", "renamed").to_document());

    // A name is unique within its entity, whether by a new id or by renaming another.
    for clash in [automation("a3", "second"), automation("a1", "second")] {
        match ready_now(s.put_automation(&clash, T0)) {
            Err(StoreError::NameTaken { name, .. }) => assert_eq!(name, "second"),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
    assert_eq!(ready_now(s.list_automations()).unwrap().len(), 2);
}

#[test]
fn a_corrupt_automation_document_is_reported_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let s = SqliteStore::open(&path).unwrap();
    ready_now(s.put_automation(&automation("good", "fine"), T0)).unwrap();
    ready_now(s.put_automation(&automation("bad", "broken"), T0)).unwrap();
    let raw = rusqlite::Connection::open(&path).unwrap();

    // Valid JSON that no longer validates (no action), then text that is not JSON at all.
    let mut invalid = automation("bad", "broken").to_document();
    invalid.as_object_mut().unwrap().remove("action");
    for doc in [invalid.to_string(), "{not json".to_string()] {
        raw.execute("UPDATE automations SET document = ?1 WHERE id = 'bad'", [&doc]).unwrap();
        match ready_now(s.list_automations()) {
            Err(StoreError::Corrupt(msg)) => assert!(msg.contains("\"bad\""), "{msg}"),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }
}

#[test]
fn a_corrupt_run_record_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(ready_now(s.save_runs(&[save("r1", None, 1, T0.plus(DAY))], T0)).unwrap(), vec![true]);
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute("UPDATE runs SET record = '{\"w\": {\"loss\": {\"cap\": 3}}}'", []).unwrap();
    match ready_now(s.load_runs(&[key("r1")], T0)) {
        Err(StoreError::Corrupt(msg)) => assert!(msg.contains("acme/mnist/r1"), "{msg}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn everything_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let mut rec = record(42);
    let mut w = automations_core::window::MetricWindow::with_capacity(3);
    for (step, v) in [(1, 0.5), (2, -1.25), (3, 1e-300), (4, 7.0)] {
        w.offer(step, v).unwrap();
    }
    rec.windows.insert("loss".into(), w);
    {
        let s = SqliteStore::open(&path).unwrap();
        let saves = [RunSave { key: key("r1"), expected: None, record: rec.clone(), expires_at: T0.plus(DAY) }];
        assert_eq!(ready_now(s.save_runs(&saves, T0)).unwrap(), vec![true]);
        assert_eq!(ready_now(s.record_fires(&[fire("f1", "a1")], T0)).unwrap(), vec![true]);
        ready_now(s.record_reject(&reject(1))).unwrap();
        ready_now(s.put_automation(&automation("a1", "kept"), T0)).unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    let v = ready_now(s.load_runs(&[key("r1")], T0)).unwrap().remove(0).unwrap();
    assert_eq!(v.version, 1);
    assert_eq!(v.value, rec);
    assert_eq!(v.value.windows["loss"].ring.values(), &[-1.25, 1e-300, 7.0]);
    assert_eq!(v.value.windows["loss"].last_step, Some(4));
    assert_eq!(ready_now(s.record_fires(&[fire("f1", "a1")], T0.plus(1))).unwrap(), vec![false]);
    assert_eq!(s.fires_for(&AutomationId::new("a1")).unwrap(), vec![fire("f1", "a1").to_value()]);
    assert_eq!(s.rejects().unwrap(), vec![reject(1)]);
    let listed = ready_now(s.list_automations()).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].to_document(), automation("a1", "kept").to_document());

    let raw = rusqlite::Connection::open(&path).unwrap();
    let mode: String = raw.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = raw.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

#[test]
fn two_stores_on_one_file_do_not_both_win() {
    // Two processes sharing the file: both saw no record; only the first save lands.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let (a, b) = (SqliteStore::open(&path).unwrap(), SqliteStore::open(&path).unwrap());
    let exp = T0.plus(DAY);
    assert!(ready_now(a.load_runs(&[key("r1")], T0)).unwrap()[0].is_none());
    assert!(ready_now(b.load_runs(&[key("r1")], T0)).unwrap()[0].is_none());
    assert_eq!(ready_now(a.save_runs(&[save("r1", None, 1, exp)], T0)).unwrap(), vec![true]);
    assert_eq!(ready_now(b.save_runs(&[save("r1", None, 2, exp)], T0)).unwrap(), vec![false]);
    assert_eq!(ready_now(a.record_fires(&[fire("f1", "x")], T0)).unwrap(), vec![true]);
    assert_eq!(ready_now(b.record_fires(&[fire("f1", "x")], T0)).unwrap(), vec![false]);
}
