//! `mlflow-poller` as deployed, on this machine: the real binary under the `cargo lambda watch`
//! emulator, invoked with `events/mlflow-poller.json` (a scheduled event), against moto and a
//! real MLflow tracking server logged into by MLflow's fluent API. The same fires as
//! `automations serve` gives (tests/mlflow_tracking.rs): a loss turning up fires the change
//! automation once, a FAILED run fires RUN_STATE once, polls repeated fire nothing new, and a
//! tracking server that was down is caught up with when it is back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_core::AutomationId;
use automations_core::model::{Automation, Integration};
use automations_core::store::SeedAutomations;
use automations_core::store::{ExecutionStore, IntegrationStore, TrackingStore};
use automations_lambda::testing::Stack;
use automations_testkit::mlflow::MlflowServer;
use serde_json::{Value, json};

fn automation(id: &str, event: Value) -> Automation {
    let doc = json!({"name": id, "scope": {"type": "project", "entity": "acme", "project": "mnist"},
                     "event": event, "action": {"type": "webhook", "integration": "ops-hook"}});
    Automation::from_create(id, &doc).unwrap()
}

/// The (run_id, the value's step or the state) of each execution of `automation`, oldest first.
async fn fired(stack: &Stack, automation: &str) -> Vec<Value> {
    let now = automations_lambda::now();
    let mut items = stack.store.list_executions(&AutomationId::new(automation), None, 50, now).await.unwrap().items;
    items.reverse();
    items.iter().map(|e| json!([e.event["run_id"], e.event.get("state").cloned().unwrap_or(Value::Null)])).collect()
}

#[tokio::test]
async fn polls_fire_once_each_and_catch_up_after_the_server_was_down() {
    let stack = Stack::start().await;
    let mut mlflow = MlflowServer::start();
    let now = automations_lambda::now();
    let doc = json!({"name": "mlflow-local", "type": "mlflow", "tracking_uri": mlflow.uri(),
                     "experiments": ["mnist"], "poll_seconds": 5, "token": "tok-mlflow-poller-secret"});
    let integration = Integration::from_create("in_mlflow", "acme", &doc, now.plus(-60_000)).unwrap();
    stack.store.create_integration(&integration).await.unwrap();
    let change = json!({"type": "RUN_METRIC_CHANGE", "metric": {"name": "loss", "agg": "AVERAGE", "current_window": 3,
                        "prior_window": 3, "change_type": "ABSOLUTE", "change_dir": "INCREASE", "amount": 0.5}});
    stack.store.put_automation(&automation("loss-up", change), now).await.unwrap();
    stack
        .store
        .put_automation(&automation("run-failed", json!({"type": "RUN_STATE", "states": ["failed"]})), now)
        .await
        .unwrap();

    let out = mlflow.log("mnist", &automations_testkit::mlflow::loss_turning_up());
    let run = out[0]["run_id"].as_str().expect("run id").to_string();
    let function =
        stack.run("mlflow-poller", env!("CARGO_BIN_EXE_mlflow-poller"), &stack.env(&stack.queues.deliveries_dlq));

    let report = stack.invoke(&function, "mlflow-poller", "mlflow-poller.json");
    assert_eq!(
        (report["integrations"].clone(), report["polls"].clone(), report["failed"].clone()),
        (json!(1), json!(1), json!(0)),
        "{report}"
    );
    assert!(report["envelopes"].as_u64().is_some_and(|n| n >= 2), "{report}");
    assert_eq!(fired(&stack, "loss-up").await, [json!([run, null])]);
    assert!(fired(&stack, "run-failed").await.is_empty());
    // The fire's delivery went onto the delivery queue.
    assert_eq!(stack.drain(&stack.queues.deliveries).await.len(), 1);

    // Polled again: nothing new fires, and no history is fetched (nothing moved).
    let again = stack.invoke(&function, "mlflow-poller", "mlflow-poller.json");
    assert_eq!((again["polls"].clone(), again["envelopes"].clone()), (json!(1), json!(0)), "{again}");
    assert_eq!(fired(&stack, "loss-up").await.len(), 1);

    // The server down: the poll fails, says why on the integration, and nothing is lost.
    mlflow.stop();
    let down = stack.invoke(&function, "mlflow-poller", "mlflow-poller.json");
    assert_eq!(down["failed"], 1, "{down}");
    let record = stack.store.poll_record("in_mlflow").await.unwrap().expect("a poll record");
    assert_eq!(record.failures, 1);
    let error = record.error.expect("the failure's reason");
    assert!(!error.contains("tok-mlflow-poller-secret"), "{error}");
    mlflow.restart();
    let failed = mlflow.log(
        "mnist",
        &json!([{"op": "start"}, {"op": "log", "key": "loss", "values": [1.0], "first_step": 0}, {"op": "end", "status": "FAILED"}]),
    );
    let failed_run = failed[0]["run_id"].as_str().expect("run id").to_string();
    // Backed off (5 s doubled), the next poll is still due within the schedule's minute.
    let back = stack.invoke(&function, "mlflow-poller", "mlflow-poller.json");
    assert_eq!((back["polls"].clone(), back["failed"].clone()), (json!(1), json!(0)), "{back}");
    assert_eq!(fired(&stack, "run-failed").await, [json!([failed_run, "failed"])]);
    assert_eq!(fired(&stack, "loss-up").await.len(), 1);
    let record = stack.store.poll_record("in_mlflow").await.unwrap().unwrap();
    assert_eq!((record.failures, record.error), (0, None));

    // The function's log has the polls, and never the integration's token.
    let log = function.output();
    assert!(log.contains("mlflow polled"), "{log}");
    assert!(!log.contains("tok-mlflow-poller-secret"), "{log}");

    // Its metrics, as CloudWatch Embedded Metric Format lines with the Prometheus names: the
    // two fires by trigger kind, the metric values evaluated, once each (deltas per invocation).
    let emf: Vec<Value> = log
        .lines()
        .filter(|l| l.contains("\"_aws\""))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("an EMF line is JSON ({e}): {l}")))
        .collect();
    assert!(!emf.is_empty(), "{log}");
    for doc in &emf {
        let cw = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!((cw["Namespace"].clone(), doc["function"].clone()), (json!("automations"), json!("mlflow-poller")));
        assert!(doc["_aws"]["Timestamp"].as_i64().is_some_and(|t| t >= now.0), "{doc}");
        for m in cw["Metrics"].as_array().unwrap() {
            let name = m["Name"].as_str().unwrap();
            assert!(name.starts_with("automations_") && doc[name].is_number(), "{doc}");
        }
        for d in cw["Dimensions"][0].as_array().unwrap() {
            assert!(doc[d.as_str().unwrap()].is_string(), "every dimension is in the document: {doc}");
        }
    }
    let sum = |name: &str, trigger: Option<&str>| -> f64 {
        emf.iter().filter(|d| trigger.is_none_or(|t| d["trigger"] == t)).filter_map(|d| d[name].as_f64()).sum()
    };
    assert_eq!(sum("automations_fires_total", Some("RUN_METRIC_CHANGE")), 1.0, "{emf:?}");
    assert_eq!(sum("automations_fires_total", Some("RUN_STATE")), 1.0, "{emf:?}");
    assert_eq!(sum("automations_metric_values_evaluated_total", None), 13.0, "9 loss and 3 acc values, then 1 loss");
}
