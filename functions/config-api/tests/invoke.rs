//! `config-api` as deployed, on this machine: the real binary under the `cargo lambda watch`
//! emulator, invoked with `events/config-api.json` (an API Gateway HTTP API request to
//! `POST /v1/events`), against moto.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_lambda::testing::Stack;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use serde_json::Value;

/// The SHA-256 of the key in `events/config-api.json`.
const KEY_HASH: &str = "878629961af59b2dab8d223910a9d9a513e8032825d5e0f1a51d79cf23f40c83";

#[tokio::test]
async fn intake_queues_artifact_and_run_events_apart() {
    let stack = Stack::start().await;
    let mut env = stack.env(&stack.queues.artifacts_dlq);
    // The template's first-key parameters: the function stores the key when it starts.
    env.push(("FIRST_API_KEY_HASH".into(), KEY_HASH.into()));
    env.push(("FIRST_API_KEY_ENTITY".into(), "acme".into()));
    let function = stack.run("config-api", env!("CARGO_BIN_EXE_config-api"), &env);

    let answer = stack.invoke(&function, "config-api", "config-api.json");
    assert_eq!(answer["statusCode"], 202, "{answer}");

    let artifacts = stack.drain(&stack.queues.artifacts).await;
    assert_eq!(artifacts.len(), 1);
    assert!(artifacts[0].body().unwrap().contains("evt-api-1"));
    let runs = stack.drain(&stack.queues.runs).await;
    assert_eq!(runs.len(), 1);
    let attrs = runs[0].attributes().unwrap();
    assert_eq!(attrs[&MessageSystemAttributeName::MessageGroupId], "acme/mnist/r1", "grouped by run");
    let body: Value = serde_json::from_str(runs[0].body().unwrap()).unwrap();
    assert_eq!(body["id"], "evt-api-2");
}
