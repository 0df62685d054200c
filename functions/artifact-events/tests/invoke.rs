//! `artifact-events` as deployed, on this machine: the real binary under the `cargo lambda
//! watch` emulator, invoked with `events/artifact-events.json`, against DynamoDB and SQS on moto.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_core::AutomationId;
use automations_core::model::Automation;
use automations_core::store::ExecutionStore;
use automations_core::store::SeedAutomations;
use automations_lambda::testing::Stack;
use serde_json::{Value, json};

#[tokio::test]
async fn fires_on_the_alias_and_dead_letters_the_invalid_envelopes() {
    let stack = Stack::start().await;
    let now = automations_lambda::now();
    let doc = json!({"name": "deploy-on-production", "scope": {"type": "project", "entity": "acme", "project": "mnist"},
                     "event": {"type": "ADD_ARTIFACT_ALIAS", "filter": {"alias": {"$regex": "^production$"}}},
                     "action": {"type": "webhook", "integration": "deploy-hook"}});
    stack.store.put_automation(&Automation::from_create("deploy", &doc).unwrap(), now).await.unwrap();
    let function =
        stack.run("artifact-events", env!("CARGO_BIN_EXE_artifact-events"), &stack.env(&stack.queues.artifacts_dlq));

    let answer = stack.invoke(&function, "artifact-events", "artifact-events.json");
    assert_eq!(answer, json!({"batchItemFailures": []}));

    // evt-a1 (production on version 7) fired; evt-a2 (a new version) matches no automation.
    let executions = stack.store.list_executions(&AutomationId::new("deploy"), None, 10, now).await.unwrap().items;
    assert_eq!(executions.len(), 1);
    assert_eq!(executions[0].event["event_id"], "evt-a1");
    assert_eq!(executions[0].event["version"], 7);
    let queued = stack.drain(&stack.queues.deliveries).await;
    assert_eq!(queued.len(), 1);
    let body: Value = serde_json::from_str(queued[0].body().unwrap()).unwrap();
    assert_eq!(body, json!({"fire_id": executions[0].fire_id, "version": 0}));

    // evt-a3 has no alias, the fourth message is cut short: both dead-lettered at once, each
    // with its reason.
    let dead = stack.drain(&stack.queues.artifacts_dlq).await;
    let mut reasons: Vec<String> =
        dead.iter().map(|m| m.message_attributes().unwrap()["reason"].string_value().unwrap().to_string()).collect();
    reasons.sort();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("evt-a3") && r.contains("data.alias")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("malformed JSON")), "{reasons:?}");
}
