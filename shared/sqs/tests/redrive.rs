//! `automations-redrive`, the runbook's command (docs/dead-letters.md), against moto: every
//! message of a dead-letter queue moved back to its queue, in batches, and none left behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_sqs::{OutMessage, Sqs};
use automations_testkit::moto::Moto;
use automations_testkit::queues::{create_queues, drain};

#[tokio::test]
async fn the_command_moves_every_dead_letter_back() {
    let moto = Moto::start();
    let client = moto.sqs();
    let queues = create_queues(&client).await;
    let bodies: Vec<String> = (0..23).map(|i| format!("{{\"fire_id\": \"f{i}\", \"version\": 0}}")).collect();
    Sqs::new(client.clone()).send(&queues.deliveries_dlq, bodies.iter().map(OutMessage::new).collect()).await.unwrap();

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_automations-redrive"))
        .args(["--from", &queues.deliveries_dlq, "--to", &queues.deliveries])
        .envs(moto.env())
        .output()
        .expect("run automations-redrive");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.starts_with("moved 23 messages"), "{stdout}");

    let mut moved: Vec<String> =
        drain(&client, &queues.deliveries).await.iter().map(|m| m.body().unwrap().to_string()).collect();
    moved.sort();
    let mut expected = bodies.clone();
    expected.sort();
    assert_eq!(moved, expected);
    assert!(drain(&client, &queues.deliveries_dlq).await.is_empty());
}
