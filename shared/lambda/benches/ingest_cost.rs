//! What one SQS batch of run metrics costs in DynamoDB, through the `metric-ingest` handler's
//! logic, against a moto server: requests per operation, items and bytes read and written, and
//! the capacity units they would bill.
//!
//! The batch (SPEC's cost target): 20 runs x 5 metrics x 100 steps = 10,000 values, one
//! envelope per run, 3 of the 5 metrics watched (threshold, change and z-score automations),
//! plus a `crashed` automation so the runs' liveness is kept too. Three batches: the runs' first
//! (no records yet), their next 100 steps (records loaded and saved), and a batch of unwatched
//! metrics only. Targets, asserted: at most one read request per 100 touched runs (BatchGetItem),
//! at most one write per touched run plus one conditional write per fire, and no write at all
//! for values no automation watches.
//!
//! `cargo bench -p automations-lambda --bench ingest_cost` runs the full size; without `--bench`
//! (as `cargo test --all-targets` runs it) a smoke size of 4 runs x 20 steps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_core::ingest::{EngineCache, Refresh};
use automations_core::model::Automation;
use automations_core::store::SeedAutomations;
use automations_core::time::Timestamp;
use automations_dynamo::{DynamoStore, Metered, Metrics, SdkDynamo, create_table};
use automations_lambda::evaluate::Evaluator;
use automations_lambda::sqs_batch::{DeadLetters, SourceQueue, process};
use automations_sqs::Sqs;
use automations_testkit::moto::Moto;
use automations_testkit::queues::create_queues;
use aws_lambda_events::event::sqs::SqsEvent;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;

const METRICS: [&str; 5] = ["loss", "acc", "grad_norm", "lr", "throughput"];

fn automations() -> Vec<Automation> {
    let scope = json!({"type": "project", "entity": "acme", "project": "mnist"});
    let none = json!({"type": "none"});
    [
        json!({"name": "loss-high", "scope": scope, "action": none,
               "event": {"type": "RUN_METRIC_THRESHOLD", "metric": {"name": "loss", "agg": "AVERAGE", "window": 5, "cmp": "$gt", "threshold": 2.0}}}),
        json!({"name": "acc-drop", "scope": scope, "action": none,
               "event": {"type": "RUN_METRIC_CHANGE", "metric": {"name": "acc", "agg": "AVERAGE", "current_window": 10, "prior_window": 50,
                         "change_type": "RELATIVE", "change_dir": "DECREASE", "amount": 0.5}}}),
        json!({"name": "grad-spike", "scope": scope, "action": none,
               "event": {"type": "RUN_METRIC_ZSCORE", "metric": {"name": "grad_norm", "window": 30, "threshold": 4.0, "change_dir": "INCREASE"}}}),
        json!({"name": "run-crashed", "scope": scope, "action": none, "event": {"type": "RUN_STATE", "states": ["crashed"]}}),
    ]
    .iter()
    .map(|d| Automation::from_create(d["name"].as_str().unwrap(), d).expect("valid automation"))
    .collect()
}

/// One batch: an envelope per run with `steps` rows from `first_step`, `metrics` logged per row.
/// Run r0 diverges at step 150 (loss climbs, gradients spike), so some automations fire.
fn batch(runs: usize, first_step: i64, steps: i64, metrics: &[&str], tag: &str) -> SqsEvent {
    let records: Vec<Value> = (0..runs)
        .map(|r| {
            let rows: Vec<Value> = (first_step..first_step + steps)
                .map(|step| {
                    let diverged = r == 0 && step >= 150;
                    let x = step as f64;
                    let mut values = serde_json::Map::new();
                    for m in metrics {
                        let v = match *m {
                            "loss" => {
                                if diverged {
                                    3.0 + x / 100.0
                                } else {
                                    1.0 / (1.0 + x / 50.0) + (x * 0.7).sin() * 0.01
                                }
                            }
                            "acc" => {
                                if diverged {
                                    0.1
                                } else {
                                    0.5 + x / 1000.0 + (x * 1.3).cos() * 0.01
                                }
                            }
                            "grad_norm" => {
                                if diverged && step == 150 {
                                    50.0
                                } else {
                                    1.0 + (x * 0.9 + r as f64).sin() * 0.1
                                }
                            }
                            "lr" => 0.001,
                            _ => 1000.0 + (x * 0.3).sin() * 50.0,
                        };
                        values.insert(m.to_string(), json!(v));
                    }
                    json!({"step": step, "values": values})
                })
                .collect();
            let body = json!({"specversion": "1.0", "id": format!("{tag}-r{r}"), "source": "bench",
                "type": "run.metrics.logged", "time": "2026-11-01T12:00:00Z",
                "data": {"entity": "acme", "project": "mnist", "run_id": format!("r{r:02}"), "rows": rows}})
            .to_string();
            json!({"messageId": format!("{tag}-{r}"), "receiptHandle": "rh", "body": body,
                   "attributes": {"MessageGroupId": format!("acme/mnist/r{r:02}")}, "messageAttributes": {}})
        })
        .collect();
    serde_json::from_value(json!({"Records": records})).expect("an SQS event")
}

fn report(name: &str, runs: usize, values: usize, fires: usize, m: &Metrics, ms: f64) {
    println!("{name}: {values} values of {runs} runs, {fires} fires, {ms:.0} ms on moto");
    println!("  {m}");
    println!(
        "  per touched run: {:.2} read requests, {:.2} write requests, {:.0} bytes read, {:.0} bytes written",
        m.read_requests() as f64 / runs as f64,
        m.write_requests() as f64 / runs as f64,
        m.bytes_read as f64 / runs as f64,
        m.bytes_written as f64 / runs as f64
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (runs, steps) = if full { (20, 100) } else { (4, 20) };
    let moto = Moto::start();
    create_table(&moto.dynamodb(), "automations").await.expect("create the table");
    let queues = create_queues(&moto.sqs()).await;
    let store = Arc::new(DynamoStore::new(Metered::new(SdkDynamo::new(moto.dynamodb())), "automations"));
    for a in automations() {
        store.put_automation(&a, Timestamp(0)).await.expect("store an automation");
    }
    let evaluator =
        Evaluator { store: store.clone(), automations: EngineCache::new(Refresh::Every(60_000)), deliveries: None };
    let dead = DeadLetters { sqs: Sqs::new(moto.sqs()), url: queues.runs_dlq.clone() };
    let metered = || store.api().metrics();
    let fires = || async {
        let mut n = 0;
        for a in ["loss-high", "acc-drop", "grad-spike"] {
            n += automations_core::store::ExecutionStore::list_executions(
                &*store,
                &automations_core::AutomationId::new(a),
                None,
                1000,
                automations_lambda::now(),
            )
            .await
            .expect("list executions")
            .items
            .len();
        }
        n
    };
    // Warm the automation cache, as a warm function has it (its Query is counted apart).
    let before = metered();
    evaluator.automations.engine(&*store, automations_lambda::now()).await.expect("read automations");
    let listing = metered().since(&before);
    println!("reading the automations (once per warm function per cache period): {listing}");

    let watched = &METRICS[..];
    let mut fired = 0;
    for (name, first, metrics) in [
        ("batch 1 (new runs)", 1, watched),
        ("batch 2 (runs loaded and saved)", 1 + steps, watched),
        ("batch 3 (unwatched metrics only)", 1 + 2 * steps, &METRICS[3..]),
    ] {
        // Batch 2 of the full size crosses step 150, where run r0 diverges.
        let event = batch(runs, first, steps, metrics, name.split(' ').nth(1).unwrap_or("b"));
        let values = runs * steps as usize * metrics.len();
        let before = metered();
        let start = Instant::now();
        let response = process(&evaluator, &dead, event, SourceQueue::Fifo, automations_lambda::now()).await;
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        assert!(response.batch_item_failures.is_empty(), "{name}: {:?}", response.batch_item_failures);
        let m = metered().since(&before);
        let total = fires().await;
        let new_fires = total - fired;
        fired = total;
        report(name, runs, values, new_fires, &m, ms);
        // The targets.
        assert_eq!(m.batch_get_item, runs.div_ceil(100) as u64, "{name}: runs are read with one BatchGetItem per 100");
        assert_eq!(m.get_item + m.query, 0, "{name}: no other reads");
        assert!(m.update_item <= runs as u64, "{name}: at most one write per touched run");
        assert_eq!(m.put_item, new_fires as u64, "{name}: one conditional write per fire");
        assert_eq!(m.batch_write_item + m.transact_write_items + m.delete_item, 0, "{name}");
        if metrics.iter().all(|m| ["lr", "throughput"].contains(m)) {
            assert_eq!(m.write_requests(), 0, "{name}: no write for values no automation watches");
        }
    }
    if full {
        assert!(fired > 0, "the diverging run fired something");
    }
}
