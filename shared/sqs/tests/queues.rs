//! Sending to SQS on a moto server: batching past 10 messages, FIFO groups and deduplication,
//! dead letters with their reason.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_core::event::parse_envelope;
use automations_sqs::{InputQueue, OutMessage, Sqs, dead_letter, envelope_message};
use automations_testkit::moto::Moto;
use automations_testkit::queues::drain;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};

async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    let mut create = sqs.create_queue().queue_name(name);
    if name.ends_with(".fifo") {
        create = create.attributes(QueueAttributeName::FifoQueue, "true");
    }
    create.send().await.expect("create queue").queue_url.expect("queue url")
}

fn metrics_text(id: &str, run: &str) -> String {
    format!(
        r#"{{"specversion":"1.0","id":"{id}","source":"tracker","type":"run.metrics.logged","time":"2026-11-01T12:00:00Z",
            "data":{{"entity":"acme","project":"mnist","run_id":"{run}","rows":[{{"step":1,"values":{{"loss":NaN}}}}]}}}}"#
    )
}

#[tokio::test]
async fn run_events_go_fifo_by_run_and_are_deduplicated() {
    let moto = Moto::start();
    let client = moto.sqs();
    let url = queue(&client, "runs.fifo").await;
    let sqs = Sqs::new(client.clone());
    let mut messages = Vec::new();
    for i in 0..23 {
        let text = metrics_text(&format!("e{i}"), if i % 2 == 0 { "r1" } else { "r2" });
        let (q, m) = envelope_message(&parse_envelope(&text).unwrap(), &text);
        assert_eq!(q, InputQueue::Runs);
        messages.push(m);
    }
    // The same envelope again (a client retry): deduplicated by (source, id).
    messages.push(messages[0].clone());
    sqs.send(&url, messages).await.unwrap();
    let got = drain(&client, &url).await;
    assert_eq!(got.len(), 23, "23 distinct envelopes in 3 batches, the resend dropped");
    let mut r1 = Vec::new();
    for m in &got {
        let attrs = m.attributes().unwrap();
        let group = attrs.get(&MessageSystemAttributeName::MessageGroupId).unwrap();
        assert!(group == "acme/mnist/r1" || group == "acme/mnist/r2", "{group}");
        let body = m.body().unwrap();
        assert!(body.contains("NaN"), "the body is the envelope as received");
        if group == "acme/mnist/r1" {
            r1.push(parse_envelope(body).unwrap().id);
        }
    }
    let expected: Vec<String> = (0..23).filter(|i| i % 2 == 0).map(|i| format!("e{i}")).collect();
    assert_eq!(r1, expected, "a run's events arrive in order");
}

#[tokio::test]
async fn dead_letters_carry_their_reason() {
    let moto = Moto::start();
    let client = moto.sqs();
    let url = queue(&client, "dlq").await;
    let sqs = Sqs::new(client.clone());
    sqs.send(&url, vec![dead_letter("{\"bad\": 1}", "type: is required", "m-1", None)]).await.unwrap();
    let fifo = queue(&client, "dlq.fifo").await;
    sqs.send(&fifo, vec![dead_letter("x", "not JSON", "m-2", Some("acme/mnist/r1"))]).await.unwrap();
    let got = drain(&client, &url).await;
    assert_eq!(got.len(), 1);
    let attrs = got[0].message_attributes().unwrap();
    assert_eq!(attrs["reason"].string_value(), Some("type: is required"));
    assert_eq!(attrs["original_message_id"].string_value(), Some("m-1"));
    assert_eq!(drain(&client, &fifo).await.len(), 1);
    // Too large for SQS: refused before sending, not cut.
    let big = OutMessage::new("x".repeat(300 * 1024));
    assert!(sqs.send(&url, vec![big]).await.is_err());
}
