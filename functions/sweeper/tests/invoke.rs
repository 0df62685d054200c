//! `sweeper` as deployed, on this machine: the real binary under the `cargo lambda watch`
//! emulator, invoked with `events/sweeper.json` (a scheduled event), against moto.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_core::AutomationId;
use automations_core::activity::ActivityUpdate;
use automations_core::event::{RunInfo, RunKey};
use automations_core::fire::{Fire, Subject};
use automations_core::model::{Action, Automation, RunState, TriggerKind};
use automations_core::store::SeedAutomations;
use automations_core::store::{ExecutionStore, FireStore, RunActivityStore};
use automations_core::time::MINUTE;
use automations_lambda::testing::Stack;
use serde_json::{Value, json};

fn run(id: &str) -> RunKey {
    RunKey { entity: "acme".into(), project: "mnist".into(), run_id: id.into() }
}

#[tokio::test]
async fn crashes_stalled_runs_and_relays_what_never_reached_the_queue() {
    let stack = Stack::start().await;
    let now = automations_lambda::now();
    let doc = json!({"name": "run-crashed", "scope": {"type": "project", "entity": "acme", "project": "mnist"},
                     "event": {"type": "RUN_STATE", "states": ["crashed"]},
                     "action": {"type": "webhook", "integration": "ops-hook"}});
    stack.store.put_automation(&Automation::from_create("run-crashed", &doc).unwrap(), now).await.unwrap();
    // r1 was last heard from 20 minutes ago, r2 a minute ago.
    let info = |id: &str| RunInfo {
        key: run(id),
        run_name: Some(format!("train-{id}")),
        user: None,
        tags: vec![],
        config: Default::default(),
        author: None,
    };
    let seen = |id: &str, ago: i64| ActivityUpdate {
        key: run(id),
        state: None,
        alive_at: Some(now.plus(-ago)),
        info: Some(info(id)),
        seen_at: now.plus(-ago),
    };
    stack.store.record_activity(&[seen("r1", 20 * MINUTE), seen("r2", MINUTE)], now).await.unwrap();
    // A fire recorded 10 minutes ago whose delivery message never made it to the queue.
    let orphan = Fire {
        id: "fire_orphan".into(),
        automation_id: "other".into(),
        automation_name: "other".into(),
        trigger: TriggerKind::RunState,
        entity: "acme".into(),
        event_id: "evt-x".into(),
        event_source: "tracker".into(),
        event_type: "run.state.changed",
        time: now.plus(-10 * MINUTE),
        subject: Subject::RunState { run: info("r3"), state: RunState::Finished, previous: None },
        action: Action::Webhook { integration: "ops-hook".into(), payload: None },
    };
    assert_eq!(stack.store.record_fires(&[orphan], now.plus(-10 * MINUTE)).await.unwrap(), [true]);
    let function = stack.run("sweeper", env!("CARGO_BIN_EXE_sweeper"), &stack.env(&stack.queues.deliveries_dlq));

    let report = stack.invoke(&function, "sweeper", "sweeper.json");
    assert_eq!(report, json!({"crashed": 1, "relayed": 1, "purged": 0}));
    // r1's crash fired run-crashed, as a run.state.changed from the sweeper.
    let crash = stack.store.list_executions(&AutomationId::new("run-crashed"), None, 10, now).await.unwrap().items;
    assert_eq!(crash.len(), 1);
    assert_eq!((crash[0].event["run_id"].clone(), crash[0].event["state"].clone()), (json!("r1"), json!("crashed")));
    // The queue got the crash's delivery (version 0) and the relayed orphan (claimed: version 1).
    let mut queued: Vec<Value> = stack
        .drain(&stack.queues.deliveries)
        .await
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect();
    queued.sort_by_key(|v| v["fire_id"].as_str().unwrap_or_default().to_string());
    let mut expected =
        vec![json!({"fire_id": crash[0].fire_id, "version": 0}), json!({"fire_id": "fire_orphan", "version": 1})];
    expected.sort_by_key(|v| v["fire_id"].as_str().unwrap_or_default().to_string());
    assert_eq!(queued, expected);

    // A second, overlapping sweep does no harm: r1 is crashed now, the orphan is leased.
    let again = stack.invoke(&function, "sweeper", "sweeper.json");
    assert_eq!(again, json!({"crashed": 0, "relayed": 0, "purged": 0}));
    assert!(stack.drain(&stack.queues.deliveries).await.is_empty());
    let stalled = stack.store.stalled_runs(now.plus(9 * MINUTE), 10, now.plus(20 * MINUTE)).await.unwrap();
    assert_eq!(stalled.iter().map(|a| a.key.run_id.as_str()).collect::<Vec<_>>(), ["r2"], "r1 left the running set");
}
