//! `dispatcher` as deployed, on this machine: the real binary under the `cargo lambda watch`
//! emulator, invoked with `events/dispatcher.json`, delivering to a real HTTP receiver on
//! 127.0.0.1.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_core::FireId;
use automations_core::event::{RunInfo, RunKey};
use automations_core::fire::{Fire, Subject};
use automations_core::model::{Action, Integration, RunState, TriggerKind};
use automations_core::store::ReadExecution;
use automations_core::store::{FireStore, IntegrationStore};
use automations_lambda::testing::Stack;
use serde_json::json;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// The fire `events/dispatcher.json` names.
const FIRE_ID: &str = "fire_0123456789abcdef0123456789abcdef";

/// Requests a receiver got: (lower-cased headers, body).
type Received = Arc<Mutex<Vec<(Vec<(String, String)>, String)>>>;

/// A webhook receiver on 127.0.0.1 that answers 200 to everything; returns its port.
fn receiver() -> (u16, Received) {
    let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Received = Arc::default();
    let sink = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut headers = Vec::new();
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            loop {
                line.clear();
                reader.read_line(&mut line).unwrap();
                let l = line.trim_end();
                if l.is_empty() {
                    break;
                }
                if let Some((k, v)) = l.split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            let len: usize = headers.iter().find(|(k, _)| k == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            sink.lock().unwrap().push((headers, String::from_utf8(body).unwrap()));
            let mut stream = stream;
            stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").unwrap();
        }
    });
    (port, got)
}

#[tokio::test]
async fn delivers_once_signed_and_dead_letters_the_invalid_message() {
    let stack = Stack::start().await;
    let now = automations_lambda::now();
    let (port, got) = receiver();
    let hook = Integration::from_create(
        "in_1",
        "acme",
        &json!({"name": "deploy-hook", "type": "webhook", "url": format!("http://127.0.0.1:{port}/hook"),
                "secret": "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="}),
        now,
    )
    .unwrap();
    stack.store.create_integration(&hook).await.unwrap();
    // The fire's automation (deliveries of a deleted one are skipped).
    let automation = serde_json::json!({"name": "deploy", "scope": {"type": "project", "entity": "acme", "project": "mnist"},
                        "event": {"type": "RUN_STATE", "states": ["finished"]},
                        "action": {"type": "webhook", "integration": "deploy-hook"}});
    automations_core::store::SeedAutomations::put_automation(
        &stack.store,
        &automations_core::model::Automation::from_create("deploy", &automation).unwrap(),
        now,
    )
    .await
    .unwrap();
    let run = RunInfo {
        key: RunKey { entity: "acme".into(), project: "mnist".into(), run_id: "r1".into() },
        run_name: None,
        user: None,
        tags: vec![],
        config: Default::default(),
        author: None,
    };
    let fire = Fire {
        id: FIRE_ID.into(),
        automation_id: "deploy".into(),
        automation_name: "deploy".into(),
        trigger: TriggerKind::RunState,
        entity: "acme".into(),
        event_id: "evt-1".into(),
        event_source: "tracker".into(),
        event_type: "run.state.changed",
        time: now,
        subject: Subject::RunState { run, state: RunState::Finished, previous: None },
        action: Action::Webhook { integration: "deploy-hook".into(), payload: None },
    };
    assert_eq!(stack.store.record_fires(&[fire], now).await.unwrap(), [true]);
    let function = stack.run("dispatcher", env!("CARGO_BIN_EXE_dispatcher"), &stack.env(&stack.queues.deliveries_dlq));

    let answer = stack.invoke(&function, "dispatcher", "dispatcher.json");
    assert_eq!(answer, json!({"batchItemFailures": []}));
    {
        let got = got.lock().unwrap();
        assert_eq!(got.len(), 1, "delivered once");
        let (headers, body) = &got[0];
        let header = |k: &str| headers.iter().find(|(h, _)| h == k).map(|(_, v)| v.as_str());
        assert_eq!(header("webhook-id"), Some(FIRE_ID), "the fire id is the webhook-id");
        assert!(header("webhook-signature").is_some_and(|s| s.starts_with("v1,")));
        assert!(header("x-wandb-signature").is_some());
        assert!(body.contains("evt-1"), "{body}");
    }
    let e = stack.store.get_execution(&FireId::new(FIRE_ID), now).await.unwrap().unwrap();
    assert_eq!((e.state.as_str(), e.attempts), ("FINISHED", 1));
    assert_eq!(e.last_response.as_ref().and_then(|r| r.status), Some(200));
    // The message without a fire id went to the dead-letter queue with the reason.
    let dead = stack.drain(&stack.queues.deliveries_dlq).await;
    assert_eq!(dead.len(), 1);
    let reason = dead[0].message_attributes().unwrap()["reason"].string_value().unwrap().to_string();
    assert!(reason.starts_with("fire_id"), "{reason}");

    // The same message again (at-least-once): the execution is finished, nothing is sent.
    let again = stack.invoke(&function, "dispatcher", "dispatcher.json");
    assert_eq!(again, json!({"batchItemFailures": []}));
    assert_eq!(got.lock().unwrap().len(), 1, "not delivered twice");
}
