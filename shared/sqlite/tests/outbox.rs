//! The outbox and run activity: the same checks on the in-memory reference store and on SQLite,
//! plus what only a file can show (the fire and its execution commit together, and survive a
//! reopen).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_core::activity::{self, ActivityUpdate};
use automations_core::delivery::{Execution, ExecutionState};
use automations_core::event::{RunInfo, RunKey};
use automations_core::fire::{Fire, Subject};
use automations_core::model::{Action, RunState, TriggerKind};
use automations_core::store::ReadExecution;
use automations_core::store::{
    ExecutionStore, FIRE_TTL, FireStore, MemoryStore, PurgeExpired, RunActivityStore, ready_now,
};
use automations_core::time::{MINUTE, SECOND, Timestamp};
use automations_core::{AutomationId, FireId};
use automations_sqlite::SqliteStore;

const T0: Timestamp = Timestamp(1_793_534_400_000); // 2026-11-01T12:00:00Z

fn key(run: &str) -> RunKey {
    RunKey { entity: "acme".into(), project: "mnist".into(), run_id: run.into() }
}

fn info(run: &str) -> RunInfo {
    RunInfo {
        key: key(run),
        run_name: Some(format!("{run}-name")),
        user: Some("ana".into()),
        tags: vec!["t".into()],
        config: Default::default(),
        author: None,
    }
}

fn fire(id: &str, automation_id: &str, action: Action) -> Fire {
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
        subject: Subject::RunState { run: info("r1"), state: RunState::Finished, previous: None },
        action,
    }
}

fn hook() -> Action {
    Action::Webhook { integration: "hook".into(), payload: None }
}

trait Outbox: FireStore + ExecutionStore + RunActivityStore + PurgeExpired + ReadExecution {}
impl<T: FireStore + ExecutionStore + RunActivityStore + PurgeExpired + ReadExecution> Outbox for T {}

/// Run `check` on a fresh memory store and a fresh SQLite store.
macro_rules! on_both {
    ($check:ident) => {
        $check(&MemoryStore::new());
        $check(&SqliteStore::in_memory().unwrap());
    };
}

fn records_the_execution_with_the_fire<S: Outbox>(s: &S) {
    let fires = [fire("f1", "a1", hook()), fire("f2", "a1", Action::None)];
    assert_eq!(ready_now(s.record_fires(&fires, T0)).unwrap(), [true, true]);
    let e = ready_now(s.get_execution(&FireId::new("f1"), T0)).unwrap().expect("pending execution recorded");
    assert_eq!(e.state, ExecutionState::Pending);
    assert_eq!(e.next_attempt_at, Some(T0));
    assert_eq!(e.integration(), Some("hook"));
    assert_eq!(e.automation_name, "a1-name");
    let n = ready_now(s.get_execution(&FireId::new("f2"), T0)).unwrap().unwrap();
    assert_eq!(n.state, ExecutionState::Finished);
    assert!(n.request.is_none());
    // A redelivered fire records nothing new and leaves its execution as it was.
    assert_eq!(ready_now(s.record_fires(&fires[..1], T0.plus(SECOND))).unwrap(), [false]);
    assert_eq!(ready_now(s.get_execution(&FireId::new("f1"), T0)).unwrap().unwrap().created_at, T0);
    assert_eq!(ready_now(s.next_due(T0)).unwrap(), Some(T0));
}

fn claims_lease_and_compare_and_swap<S: Outbox>(s: &S) {
    let fires: Vec<Fire> = (0..3).map(|i| fire(&format!("f{i}"), "a1", hook())).collect();
    ready_now(s.record_fires(&fires, T0)).unwrap();
    let lease = T0.plus(MINUTE);
    let got = ready_now(s.claim_due(T0, 2, lease, T0)).unwrap();
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|e| e.version == 1 && e.next_attempt_at == Some(lease)));
    // Leased executions are not due again until the lease ends.
    assert_eq!(ready_now(s.claim_due(T0, 10, lease, T0)).unwrap().len(), 1);
    assert!(ready_now(s.claim_due(T0.plus(SECOND), 10, lease, T0)).unwrap().is_empty());
    assert_eq!(ready_now(s.next_due(T0)).unwrap(), Some(lease));
    // A lease that ran out is taken over; the first holder's save is refused.
    let first = got[0].clone();
    let later = lease.plus(1);
    let over = ready_now(s.claim_due(later, 10, later.plus(MINUTE), later)).unwrap();
    assert_eq!(over.len(), 3);
    let mut stale = first.clone();
    stale.state = ExecutionState::Finished;
    assert!(!ready_now(s.save_execution(&stale, later)).unwrap(), "a lost claim saves nothing");
    let mut done = over.iter().find(|e| e.fire_id == first.fire_id).unwrap().clone();
    done.state = ExecutionState::Finished;
    done.attempts = 1;
    done.next_attempt_at = None;
    assert!(ready_now(s.save_execution(&done, later)).unwrap());
    let stored = ready_now(s.get_execution(&done.fire_id, later)).unwrap().unwrap();
    assert_eq!((stored.state, stored.attempts, stored.version), (ExecutionState::Finished, 1, done.version + 1));
    assert!(!ready_now(s.save_execution(&done, later)).unwrap(), "the same version saves once");
    // Claiming one by id: by version (the queue's message), or "if due".
    let other = &over[1];
    assert!(ready_now(s.claim(&other.fire_id, Some(other.version - 1), later, later)).unwrap().is_none());
    let c = ready_now(s.claim(&other.fire_id, Some(other.version), later.plus(MINUTE), later)).unwrap().unwrap();
    assert_eq!(c.version, other.version + 1);
    assert!(ready_now(s.claim(&other.fire_id, None, later, later)).unwrap().is_none(), "leased: not due");
    assert!(ready_now(s.claim(&done.fire_id, None, later, later.plus(DAY_MS))).unwrap().is_none(), "finished");
    assert!(ready_now(s.claim(&FireId::new("nope"), None, later, later)).unwrap().is_none());
}

const DAY_MS: i64 = 86_400_000;

fn lists_newest_first<S: Outbox>(s: &S) {
    for i in 0..5 {
        ready_now(s.record_fires(&[fire(&format!("f{i}"), "a1", hook())], T0.plus(i))).unwrap();
    }
    // Two with the same creation time: the fire id orders them.
    ready_now(s.record_fires(&[fire("g1", "a1", hook()), fire("g2", "a1", hook())], T0.plus(10))).unwrap();
    ready_now(s.record_fires(&[fire("x", "a2", hook())], T0)).unwrap();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let p = ready_now(s.list_executions(&AutomationId::new("a1"), cursor.as_deref(), 3, T0.plus(100))).unwrap();
        assert!(p.items.len() <= 3);
        seen.extend(p.items.iter().map(|e| e.fire_id.clone()));
        match p.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(seen, ["g2", "g1", "f4", "f3", "f2", "f1", "f0"]);
    assert!(
        ready_now(s.list_executions(&AutomationId::new("a1"), Some("not a cursor"), 3, T0)).unwrap().items.is_empty()
    );
}

fn executions_expire_with_their_fires<S: Outbox>(s: &S) {
    ready_now(s.record_fires(&[fire("f1", "a1", hook())], T0)).unwrap();
    let gone = T0.plus(FIRE_TTL);
    assert!(ready_now(s.get_execution(&FireId::new("f1"), gone)).unwrap().is_none());
    assert!(ready_now(s.claim_due(gone, 10, gone.plus(MINUTE), gone)).unwrap().is_empty());
    assert!(ready_now(s.list_executions(&AutomationId::new("a1"), None, 10, gone)).unwrap().items.is_empty());
    assert_eq!(ready_now(s.next_due(gone)).unwrap(), None);
    assert!(ready_now(s.purge_expired(gone)).unwrap() >= 2, "the fire and its execution");
    // Recorded again after expiry: a new execution.
    assert_eq!(ready_now(s.record_fires(&[fire("f1", "a1", hook())], gone)).unwrap(), [true]);
    assert_eq!(ready_now(s.get_execution(&FireId::new("f1"), gone)).unwrap().unwrap().created_at, gone);
}

fn update(
    run: &str,
    state: Option<(RunState, Timestamp)>,
    alive_at: Option<Timestamp>,
    seen: Timestamp,
) -> ActivityUpdate {
    ActivityUpdate { key: key(run), state, alive_at, info: Some(info(run)), seen_at: seen }
}

fn finds_stalled_runs<S: Outbox>(s: &S) {
    ready_now(
        s.record_activity(&[update("r1", None, Some(T0), T0), update("r2", None, Some(T0), T0.plus(5 * MINUTE))], T0),
    )
    .unwrap();
    ready_now(s.record_activity(&[update("r3", Some((RunState::Finished, T0)), None, T0)], T0)).unwrap();
    let stalled = ready_now(s.stalled_runs(T0.plus(MINUTE), 10, T0.plus(11 * MINUTE))).unwrap();
    let ids: Vec<_> = stalled.iter().map(|a| a.key.run_id.as_str()).collect();
    assert_eq!(ids, ["r1"], "r2 spoke later, r3 finished");
    assert_eq!(stalled[0].info.as_ref().unwrap().run_name.as_deref(), Some("r1-name"));
    // The crash envelope's update takes the run out of the stalled set.
    let crash = activity::crash_envelope(&stalled[0], T0.plus(11 * MINUTE));
    ready_now(s.record_activity(&activity::updates(&[crash], T0.plus(11 * MINUTE)), T0.plus(11 * MINUTE))).unwrap();
    assert!(ready_now(s.stalled_runs(T0.plus(MINUTE), 10, T0.plus(12 * MINUTE))).unwrap().is_empty());
    // A heartbeat-only update keeps the info already known.
    ready_now(s.record_activity(
        &[ActivityUpdate {
            key: key("r2"),
            state: None,
            alive_at: Some(T0.plus(MINUTE)),
            info: None,
            seen_at: T0.plus(20 * MINUTE),
        }],
        T0.plus(20 * MINUTE),
    ))
    .unwrap();
    let later = ready_now(s.stalled_runs(T0.plus(20 * MINUTE), 10, T0.plus(40 * MINUTE))).unwrap();
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].last_seen, T0.plus(20 * MINUTE));
    assert!(later[0].info.is_some());
}

#[test]
fn records_the_execution_with_the_fire_on_both() {
    on_both!(records_the_execution_with_the_fire);
}

#[test]
fn claims_lease_and_compare_and_swap_on_both() {
    on_both!(claims_lease_and_compare_and_swap);
}

#[test]
fn lists_newest_first_on_both() {
    on_both!(lists_newest_first);
}

#[test]
fn executions_expire_with_their_fires_on_both() {
    on_both!(executions_expire_with_their_fires);
}

#[test]
fn finds_stalled_runs_on_both() {
    on_both!(finds_stalled_runs);
}

#[test]
fn a_fire_is_not_recorded_when_its_execution_cannot_be() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let s = SqliteStore::open(&path).unwrap();
    // Make the execution insert fail, from another connection, as a full disk or a bug would.
    let other = rusqlite::Connection::open(&path).unwrap();
    other
        .execute_batch(
            "CREATE TRIGGER no_outbox BEFORE INSERT ON executions BEGIN SELECT RAISE(ABORT, 'outbox refused'); END;",
        )
        .unwrap();
    let err = ready_now(s.record_fires(&[fire("f1", "a1", hook())], T0)).unwrap_err();
    assert!(err.to_string().contains("outbox refused"), "{err}");
    other.execute_batch("DROP TRIGGER no_outbox").unwrap();
    // Nothing of the fire was kept: recording it again is new, and it gets its execution.
    assert_eq!(ready_now(s.record_fires(&[fire("f1", "a1", hook())], T0)).unwrap(), [true]);
    assert!(ready_now(s.get_execution(&FireId::new("f1"), T0)).unwrap().is_some());
}

#[test]
fn pending_executions_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    {
        let s = SqliteStore::open(&path).unwrap();
        ready_now(s.record_fires(&[fire("f1", "a1", hook())], T0)).unwrap();
        // Claimed by a process that then dies before saving.
        ready_now(s.claim_due(T0, 10, T0.plus(MINUTE), T0)).unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    assert!(ready_now(s.claim_due(T0.plus(SECOND), 10, T0.plus(MINUTE), T0)).unwrap().is_empty(), "still leased");
    let after = T0.plus(MINUTE);
    let got: Vec<Execution> = ready_now(s.claim_due(after, 10, after.plus(MINUTE), after)).unwrap();
    assert_eq!(got.len(), 1, "taken over once the lease ends");
    assert_eq!(got[0].fire_id, "f1");
}
