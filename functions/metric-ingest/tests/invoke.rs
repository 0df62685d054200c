//! `metric-ingest` as deployed, on this machine: the real binary under the `cargo lambda watch`
//! emulator, invoked with `events/metric-ingest.json`, against DynamoDB and SQS on moto.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_core::AutomationId;
use automations_core::event::RunKey;
use automations_core::model::Automation;
use automations_core::store::SeedAutomations;
use automations_core::store::{ExecutionStore, RunActivityStore, RunStore};
use automations_core::time::MINUTE;
use automations_lambda::testing::Stack;
use serde_json::{Value, json};

fn automation(id: &str, event: Value, action: Value) -> Automation {
    let doc = json!({"name": id, "scope": {"type": "project", "entity": "acme", "project": "mnist"},
                     "event": event, "action": action});
    Automation::from_create(id, &doc).expect("valid automation")
}

#[tokio::test]
async fn evaluates_the_sample_batch_once_and_dead_letters_the_invalid_envelope() {
    let stack = Stack::start().await;
    let now = automations_lambda::now();
    let hook = json!({"type": "webhook", "integration": "ops-hook"});
    for a in [
        automation(
            "loss-high",
            json!({"type": "RUN_METRIC_THRESHOLD",
            "metric": {"name": "loss", "agg": "AVERAGE", "window": 3, "cmp": "$gt", "threshold": 1.0}}),
            hook,
        ),
        automation("run-failed", json!({"type": "RUN_STATE", "states": ["failed"]}), json!({"type": "none"})),
        automation("run-crashed", json!({"type": "RUN_STATE", "states": ["crashed"]}), json!({"type": "none"})),
    ] {
        stack.store.put_automation(&a, now).await.unwrap();
    }
    let function = stack.run("metric-ingest", env!("CARGO_BIN_EXE_metric-ingest"), &stack.env(&stack.queues.runs_dlq));

    let answer = stack.invoke(&function, "metric-ingest", "metric-ingest.json");
    assert_eq!(answer, json!({"batchItemFailures": []}), "the invalid envelope is dead-lettered, not failed");

    // The run's window: steps 1 to 8 with the NaN at step 5 left out.
    let r1 = RunKey { entity: "acme".into(), project: "mnist".into(), run_id: "r1".into() };
    let record = stack.store.load_runs(std::slice::from_ref(&r1), now).await.unwrap().remove(0).expect("r1 saved");
    assert_eq!(record.value.windows["loss"].last_step, Some(8));
    assert_eq!(record.value.windows["loss"].ring.values(), &[0.9, 1.4, 1.6], "the last 3, as the window needs");

    // loss-high fired at step 8 (average of 0.9, 1.4, 1.6): a pending execution, queued.
    let page = stack.store.list_executions(&AutomationId::new("loss-high"), None, 10, now).await.unwrap();
    assert_eq!(page.items.len(), 1);
    let e = &page.items[0];
    assert_eq!((e.state.as_str(), e.event["step"].clone()), ("PENDING", json!(8)));
    let queued = stack.drain(&stack.queues.deliveries).await;
    assert_eq!(queued.len(), 1);
    assert_eq!(
        serde_json::from_str::<Value>(queued[0].body().unwrap()).unwrap(),
        json!({"fire_id": e.fire_id, "version": 0})
    );
    // run-failed fired on the state change; its action sends nothing, so it is done.
    let failed = stack.store.list_executions(&AutomationId::new("run-failed"), None, 10, now).await.unwrap();
    assert_eq!(failed.items.iter().map(|e| e.state.as_str()).collect::<Vec<_>>(), ["FINISHED"]);

    // The invalid envelope went to the dead-letter queue at once, with the field at fault.
    let dead = stack.drain(&stack.queues.runs_dlq).await;
    assert_eq!(dead.len(), 1);
    let reason = dead[0].message_attributes().unwrap()["reason"].string_value().unwrap().to_string();
    assert!(reason.contains("data.rows[0].step"), "{reason}");
    assert!(dead[0].body().unwrap().contains("evt-bad"));

    // Liveness: r1 failed (not running), r2 sent a heartbeat and is running.
    let later = now.plus(11 * MINUTE);
    let stalled = stack.store.stalled_runs(later.plus(-MINUTE), 10, later).await.unwrap();
    assert_eq!(stalled.iter().map(|a| a.key.run_id.as_str()).collect::<Vec<_>>(), ["r2"]);

    // Delivered again (SQS is at least once): nothing new fires, nothing is queued.
    let again = stack.invoke(&function, "metric-ingest", "metric-ingest.json");
    assert_eq!(again, json!({"batchItemFailures": []}));
    assert!(stack.drain(&stack.queues.deliveries).await.is_empty());
    assert_eq!(
        stack.store.list_executions(&AutomationId::new("loss-high"), None, 10, now).await.unwrap().items.len(),
        1
    );
    assert_eq!(
        stack.drain(&stack.queues.runs_dlq).await.len(),
        1,
        "the invalid one is dead-lettered each time it comes"
    );
}
