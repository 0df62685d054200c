//! SQS batches against DynamoDB and SQS on moto: a failing message never fails its neighbours,
//! FIFO order holds within a run, a message that keeps failing lands in the dead-letter queue
//! after `maxReceiveCount`, and a delivery that fails is retried through the message's
//! visibility timeout.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_core::FireId;
use automations_core::ingest::{EngineCache, Refresh};
use automations_core::model::Automation;
use automations_core::store::ReadExecution;
use automations_core::store::RunStore;
use automations_core::store::SeedAutomations;
use automations_core::time::Timestamp;
use automations_dynamo::keys::{self, n, s};
use automations_dynamo::{Backoff, DynamoStore, SdkDynamo, create_table};
use automations_lambda::evaluate::Evaluator;
use automations_lambda::sqs_batch::{DeadLetters, SourceQueue, process};
use automations_sqs::Sqs;
use automations_testkit::moto::Moto;
use automations_testkit::queues::{Queues, create_queues, drain};
use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_sqs::types::MessageSystemAttributeName;
use serde_json::{Value, json};
use std::sync::Arc;

struct Fixture {
    evaluator: Evaluator<SdkDynamo>,
    dead: DeadLetters,
    queues: Queues,
    sqs: aws_sdk_sqs::Client,
    moto: Moto,
}

async fn fixture() -> Fixture {
    let moto = Moto::start();
    create_table(&moto.dynamodb(), "automations").await.unwrap();
    let store =
        Arc::new(DynamoStore::new(SdkDynamo::new(moto.dynamodb()), "automations").with_backoff(Backoff::fast()));
    let doc = json!({"name": "loss-high", "scope": {"type": "project", "entity": "acme", "project": "mnist"},
                     "event": {"type": "RUN_METRIC_THRESHOLD", "metric": {"name": "loss", "cmp": "$gt", "threshold": 0.5}},
                     "action": {"type": "none"}});
    store.put_automation(&Automation::from_create("loss-high", &doc).unwrap(), Timestamp(0)).await.unwrap();
    // Run r9's stored record is corrupt: every evaluation of its metrics fails.
    let mut poison = keys::run_key(&run("r9"));
    poison.insert("v".into(), n(1));
    poison.insert("rec".into(), s("{not json"));
    poison.insert("rec_exp".into(), n(i64::MAX / 2000));
    moto.dynamodb().put_item().table_name("automations").set_item(Some(poison)).send().await.unwrap();
    let sqs = moto.sqs();
    let queues = create_queues(&sqs).await;
    let evaluator = Evaluator { store, automations: EngineCache::new(Refresh::Every(0)), deliveries: None };
    let dead = DeadLetters { sqs: Sqs::new(sqs.clone()), url: queues.runs_dlq.clone() };
    Fixture { evaluator, dead, queues, sqs, moto }
}

fn run(id: &str) -> automations_core::event::RunKey {
    automations_core::event::RunKey { entity: "acme".into(), project: "mnist".into(), run_id: id.into() }
}

fn metrics(id: &str, run: &str, step: i64) -> String {
    json!({"specversion": "1.0", "id": id, "source": "tracker", "type": "run.metrics.logged",
           "time": "2026-11-01T12:00:00Z",
           "data": {"entity": "acme", "project": "mnist", "run_id": run, "rows": [{"step": step, "values": {"loss": 0.1}}]}})
    .to_string()
}

/// An SQS event of (message id, group, body) records, as Lambda hands it over.
fn event(records: &[(&str, &str, String)]) -> SqsEvent {
    let records: Vec<Value> = records
        .iter()
        .map(|(id, group, body)| {
            json!({"messageId": id, "receiptHandle": format!("rh-{id}"), "body": body,
                   "attributes": {"MessageGroupId": group, "ApproximateReceiveCount": "1"},
                   "messageAttributes": {}, "eventSource": "aws:sqs"})
        })
        .collect();
    serde_json::from_value(json!({"Records": records})).expect("an SQS event")
}

fn failures(r: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<&str> {
    r.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect()
}

async fn last_step(f: &Fixture, id: &str) -> Option<i64> {
    let now = automations_lambda::now();
    let loaded = f.evaluator.store.load_runs(&[run(id)], now).await.unwrap().remove(0)?;
    loaded.value.windows.get("loss").and_then(|w| w.last_step)
}

/// What Lambda's event source mapping does with the run queue until it is empty: receive,
/// invoke, delete what succeeded; what failed comes back (here at once), until the redrive policy
/// (5 receives) moves it. The invocations it took.
async fn consume(f: &Fixture) -> usize {
    let mut invocations = 0;
    loop {
        let got = f
            .sqs
            .receive_message()
            .queue_url(&f.queues.runs)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
        if got.is_empty() {
            break;
        }
        invocations += 1;
        assert!(invocations <= 10, "the poison message never left the queue");
        let records: Vec<(String, String, String)> = got
            .iter()
            .map(|m| {
                let group = m.attributes().unwrap()[&MessageSystemAttributeName::MessageGroupId].clone();
                (m.message_id().unwrap().to_string(), group, m.body().unwrap().to_string())
            })
            .collect();
        let refs: Vec<(&str, &str, String)> =
            records.iter().map(|(a, b, c)| (a.as_str(), b.as_str(), c.clone())).collect();
        let r = process(&f.evaluator, &f.dead, event(&refs), SourceQueue::Fifo, automations_lambda::now()).await;
        let failed = failures(&r);
        for m in &got {
            let handle = m.receipt_handle().unwrap();
            if failed.contains(&m.message_id().unwrap()) {
                f.sqs
                    .change_message_visibility()
                    .queue_url(&f.queues.runs)
                    .receipt_handle(handle)
                    .visibility_timeout(0)
                    .send()
                    .await
                    .unwrap();
            } else {
                f.sqs.delete_message().queue_url(&f.queues.runs).receipt_handle(handle).send().await.unwrap();
            }
        }
    }
    invocations
}

#[tokio::test]
async fn a_failing_message_never_fails_its_neighbours() {
    let f = fixture().await;
    let batch = [
        ("m1", "acme/mnist/r1", metrics("e1", "r1", 1)),
        ("m2", "acme/mnist/r9", metrics("e2", "r9", 1)),
        ("m3", "acme/mnist/r1", metrics("e3", "r1", 2)),
        ("m4", "acme/mnist/r9", metrics("e4", "r9", 2)),
        ("m5", "acme/mnist/r2", metrics("e5", "r2", 1)),
        ("m6", "acme/mnist/r2", "{\"specversion\": \"1.0\"}".to_string()),
    ];
    let now = automations_lambda::now();
    // FIFO: r9's first message fails, and its second is held back behind it; r1 and r2 go on.
    let r = process(&f.evaluator, &f.dead, event(&batch), SourceQueue::Fifo, now).await;
    assert_eq!(failures(&r), ["m2", "m4"]);
    assert_eq!(last_step(&f, "r1").await, Some(2));
    assert_eq!(last_step(&f, "r2").await, Some(1));
    let dead = drain(&f.sqs, &f.queues.runs_dlq).await;
    assert_eq!(dead.len(), 1, "the invalid envelope, at once");
    let reason = dead[0].message_attributes().unwrap()["reason"].string_value().unwrap().to_string();
    assert!(reason.contains("type") && reason.contains("id"), "names the missing fields: {reason}");
    // A standard queue keeps no order: only the failing message itself is reported.
    let r = process(
        &f.evaluator,
        &f.dead,
        event(&batch[1..2].iter().chain(&batch[4..5]).cloned().collect::<Vec<_>>()),
        SourceQueue::Standard,
        now,
    )
    .await;
    assert_eq!(failures(&r), ["m2"]);
}

#[tokio::test]
async fn a_message_that_keeps_failing_lands_in_the_dead_letter_queue() {
    let f = fixture().await;
    let sqs = Sqs::new(f.sqs.clone());
    let messages = [metrics("e1", "r1", 1), metrics("e2", "r9", 1), metrics("e3", "r1", 2)]
        .into_iter()
        .map(|body| {
            let env = automations_core::event::parse_envelope(&body).unwrap();
            automations_sqs::envelope_message(&env, &body).1
        })
        .collect();
    sqs.send(&f.queues.runs, messages).await.unwrap();
    let invocations = consume(&f).await;
    assert_eq!(last_step(&f, "r1").await, Some(2), "r1's messages were processed");
    let dead = drain(&f.sqs, &f.queues.runs_dlq).await;
    assert_eq!(dead.len(), 1);
    assert!(dead[0].body().unwrap().contains("\"e2\""), "the poison message, after 5 receives");
    assert!(invocations >= 5, "{invocations}");
    drop(f.moto);
}

#[tokio::test]
async fn an_unreachable_receiver_is_retried_through_the_visibility_timeout() {
    use automations_api::SystemClock;
    use automations_core::delivery::RetryPolicy;
    use automations_core::fire::{Fire, Subject};
    use automations_core::model::{Action, Integration, RunState, TriggerKind};
    use automations_core::store::{FireStore, IntegrationStore};
    use automations_delivery::{Delivery, HttpSender};
    use automations_lambda::dispatcher::Dispatcher;

    let f = fixture().await;
    let store = f.evaluator.store.clone();
    let now = automations_lambda::now();
    // A receiver that is not there: connection refused, a retryable network error.
    let port = automations_testkit::tools::free_port();
    let hook = Integration::from_create(
        "in_1",
        "acme",
        &json!({"name": "hook", "type": "webhook", "url": format!("http://127.0.0.1:{port}/")}),
        now,
    )
    .unwrap();
    store.create_integration(&hook).await.unwrap();
    // The fire's automation (deliveries of a deleted one are skipped).
    let automation = serde_json::json!({"name": "deploy", "scope": {"type": "project", "entity": "acme", "project": "mnist"},
                        "event": {"type": "RUN_STATE", "states": ["finished"]},
                        "action": {"type": "webhook", "integration": "hook"}});
    store.put_automation(&Automation::from_create("a", &automation).unwrap(), now).await.unwrap();
    let fire = Fire {
        id: "fire_x".into(),
        automation_id: "a".into(),
        automation_name: "a".into(),
        trigger: TriggerKind::RunState,
        entity: "acme".into(),
        event_id: "e".into(),
        event_source: "tracker".into(),
        event_type: "run.state.changed",
        time: now,
        subject: Subject::RunState {
            run: automations_core::event::RunInfo {
                key: run("r1"),
                run_name: None,
                user: None,
                tags: vec![],
                config: Default::default(),
                author: None,
            },
            state: RunState::Finished,
            previous: None,
        },
        action: Action::Webhook { integration: "hook".into(), payload: None },
    };
    store.record_fires(&[fire], now).await.unwrap();
    let sqs = Sqs::new(f.sqs.clone());
    sqs.send(
        &f.queues.deliveries,
        vec![automations_sqs::DeliveryMessage { fire_id: "fire_x".into(), version: 0 }.to_message()],
    )
    .await
    .unwrap();
    let dispatcher = Dispatcher {
        delivery: Delivery::new(
            store.clone(),
            HttpSender::new(std::time::Duration::from_secs(2), true).unwrap(),
            RetryPolicy::default(),
            Arc::new(SystemClock),
        ),
        sqs,
        queue_url: f.queues.deliveries.clone(),
        dead: DeadLetters { sqs: Sqs::new(f.sqs.clone()), url: f.queues.deliveries_dlq.clone() },
        lease: 120_000,
    };
    let got = f.sqs.receive_message().queue_url(&f.queues.deliveries).send().await.unwrap().messages.unwrap();
    let m = &got[0];
    let ev: SqsEvent = serde_json::from_value(json!({"Records": [{
        "messageId": m.message_id(), "receiptHandle": m.receipt_handle(), "body": m.body(), "attributes": {}, "messageAttributes": {}
    }]}))
    .unwrap();
    let r = dispatcher.handle(ev.clone()).await;
    assert_eq!(failures(&r), [m.message_id().unwrap()], "reported failed, so SQS hands it back");
    let e = store.get_execution(&FireId::new("fire_x"), now).await.unwrap().unwrap();
    assert_eq!((e.state.as_str(), e.attempts), ("PENDING", 1));
    let retry_at = e.next_attempt_at.expect("a retry time");
    assert!(retry_at > now, "{retry_at:?}");
    // The message stays hidden until the retry time: its visibility was set to it.
    let visible =
        f.sqs.receive_message().queue_url(&f.queues.deliveries).send().await.unwrap().messages.unwrap_or_default();
    assert!(visible.is_empty());
    // Handed back before it is due (a duplicate, or early): nothing is sent, nothing changes.
    let r = dispatcher.handle(ev).await;
    assert!(failures(&r).is_empty());
    assert_eq!(store.get_execution(&FireId::new("fire_x"), now).await.unwrap().unwrap().attempts, 1);
}

/// The runbook's redrive (docs/dead-letters.md): a message dead-lettered after 5 failed
/// receives, its cause fixed, moved back to its queue and processed like any other, once; the
/// dead-letter queue is empty after.
#[tokio::test]
async fn a_dead_letter_is_redriven_and_processed_once_its_cause_is_fixed() {
    let f = fixture().await;
    let sqs = Sqs::new(f.sqs.clone());
    let body = metrics("e2", "r9", 7);
    let env = automations_core::event::parse_envelope(&body).unwrap();
    sqs.send(&f.queues.runs, vec![automations_sqs::envelope_message(&env, &body).1]).await.unwrap();
    consume(&f).await;
    // Fixed: the corrupt record removed (what an operator does after reading the logs).
    f.moto
        .dynamodb()
        .delete_item()
        .table_name("automations")
        .set_key(Some(keys::run_key(&run("r9"))))
        .send()
        .await
        .unwrap();

    let moved = sqs.redrive(&f.queues.runs_dlq, &f.queues.runs, 100).await.unwrap();
    assert_eq!(moved.moved, 1);
    assert_eq!(consume(&f).await, 1, "processed at the first receive");
    assert_eq!(last_step(&f, "r9").await, Some(7));
    assert!(drain(&f.sqs, &f.queues.runs_dlq).await.is_empty());
    assert_eq!(sqs.redrive(&f.queues.runs_dlq, &f.queues.runs, 100).await.unwrap().moved, 0, "nothing left to move");
}
