//! The probe corpus of issue 16 (`shared/api/tests/bad-inputs.json`: bad inputs, each with the
//! path its error must name) against the Lambda config-api's router: over DynamoDB (moto), with
//! the intake queueing to SQS (moto), as deployed.

use automations_api::auth;
use automations_core::delivery::RetryPolicy;
use automations_core::store::ConfigStore;
use automations_delivery::{Delivery, HttpSender, SystemClock};
use automations_dynamo::{Backoff, DynamoStore, SdkDynamo, create_table};
use automations_lambda::config_api::{QueueSink, app};
use automations_sqs::Sqs;
use automations_testkit::moto::Moto;
use automations_testkit::queues::create_queues;
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

#[tokio::test]
async fn every_bad_input_is_refused_naming_its_path_on_aws() {
    let moto = Moto::start();
    create_table(&moto.dynamodb(), "automations").await.unwrap();
    let store =
        Arc::new(DynamoStore::new(SdkDynamo::new(moto.dynamodb()), "automations").with_backoff(Backoff::fast()));
    let queues = create_queues(&moto.sqs()).await;
    let sink = QueueSink {
        sqs: Sqs::new(moto.sqs()),
        artifact_queue: queues.artifacts,
        run_queue: queues.runs,
        tracking: None,
    };
    let policy = RetryPolicy::default();
    let sender = HttpSender::new(Duration::from_millis(policy.timeout as u64), false).unwrap();
    let delivery = Arc::new(Delivery::new(store.clone(), sender, policy, Arc::new(SystemClock)));
    let (key, record) = auth::issue_key("acme", automations_lambda::now()).unwrap();
    store.put_api_key(&record).await.unwrap();
    let router = app(store, sink, delivery, 1000);
    let call = |method: &str, route: &str, body: String| {
        let req = Request::builder()
            .method(method)
            .uri(route)
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        let router = router.clone();
        async move {
            let res = router.oneshot(req).await.unwrap();
            let status = res.status().as_u16();
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null))
        }
    };
    let hook = json!({"name": "hook", "type": "webhook", "url": "https://ci.example.com/h"});
    assert_eq!(call("POST", "/v1/integrations", hook.to_string()).await.0, 201);
    let corpus: Vec<Value> = serde_json::from_str(include_str!("../../api/tests/bad-inputs.json")).unwrap();
    for probe in &corpus {
        let body = match (&probe["raw"], &probe["body"]) {
            (Value::String(raw), _) => raw.clone(),
            (_, Value::Null) => String::new(),
            (_, body) => body.to_string(),
        };
        let (status, answer) = call(probe["method"].as_str().unwrap(), probe["route"].as_str().unwrap(), body).await;
        let what = &probe["probe"];
        assert_eq!(status as u64, probe["status"].as_u64().unwrap(), "{what}: {answer}");
        let mut paths: Vec<&str> =
            answer["errors"].as_array().into_iter().flatten().filter_map(|e| e["path"].as_str()).collect();
        for r in answer["rejected"].as_array().into_iter().flatten() {
            paths.extend(r["errors"].as_array().into_iter().flatten().filter_map(|e| e["path"].as_str()));
        }
        assert!(paths.contains(&probe["path"].as_str().unwrap()), "{what}: {paths:?} does not name {}", probe["path"]);
    }
}
