//! The probe corpus of issue 16 (`shared/api/tests/bad-inputs.json`: bad inputs, each with the
//! path its error must name) against the Lambda config-api's router: over DynamoDB (moto), with
//! the intake queueing to SQS (moto), as deployed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_api::auth;
use automations_core::EntityId;
use automations_core::delivery::RetryPolicy;
use automations_core::store::ApiKeyStore;
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

/// The config-api's router as deployed, over moto, with a key for `acme`; and a caller of it.
async fn deployed() -> (Moto, impl AsyncFn(&str, &str, String) -> (u16, Value)) {
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
    let (key, record) = auth::issue_key(&EntityId::new("acme"), automations_lambda::now()).unwrap();
    store.put_api_key(&record).await.unwrap();
    let router = app(store, sink, delivery, 1000);
    let call = async move |method: &str, route: &str, body: String| {
        let req = Request::builder()
            .method(method)
            .uri(route)
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        let res = router.clone().oneshot(req).await.unwrap();
        let status = res.status().as_u16();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null))
    };
    (moto, call)
}

#[tokio::test]
async fn every_bad_input_is_refused_naming_its_path_on_aws() {
    let (_moto, call) = deployed().await;
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

/// The W&B SDK's GraphQL calls on the AWS deployment: the same route of the same router, over
/// DynamoDB (the SDK itself drives `serve` in clients/python/tests/test_wandb_sdk.py).
#[tokio::test]
async fn graphql_creates_lists_updates_and_deletes_on_aws() {
    let (_moto, call) = deployed().await;
    let gql = async |query: &str, variables: Value| {
        call("POST", "/graphql", json!({"query": query, "variables": variables, "operationName": ""}).to_string()).await
    };
    let hook = json!({"name": "hook", "type": "webhook", "url": "https://ci.example.com/h"});
    assert_eq!(call("POST", "/v1/integrations", hook.to_string()).await.0, 201);
    let (status, ints) = gql("query I($e: String!) { entity(name: $e) { integrations { edges { node { __typename ...on GenericWebhookIntegration { id name } } } } } }", json!({"e": "acme"})).await;
    assert_eq!(status, 200, "{ints}");
    let hook_id = ints["data"]["entity"]["integrations"]["edges"][0]["node"]["id"].as_str().unwrap().to_string();
    let (status, project) = gql(
        "query P($n: String!, $e: String!) { project(name: $n, entityName: $e) { id } }",
        json!({"n": "mnist", "e": "acme"}),
    )
    .await;
    assert_eq!(status, 200, "{project}");
    let create = "mutation C($input: CreateFilterTriggerInput!) { result: createFilterTrigger(input: $input) { trigger { id name enabled event: triggeringCondition { ...on FilterEventTriggeringCondition { eventType filter } } } } }";
    let input = json!({"name": "run-failed", "enabled": true, "scopeType": "PROJECT", "scopeID": project["data"]["project"]["id"],
        "triggeringEventType": "RUN_STATE",
        "eventFilter": r#"{"run_filter":"{\"$and\":[]}","run_state_filter":{"states":["FAILED"]}}"#,
        "triggeredActionType": "GENERIC_WEBHOOK",
        "triggeredActionConfig": {"genericWebhookActionInput": {"integrationID": hook_id, "requestPayload": r#"{"run":"${run_name}"}"#}}});
    let (status, made) = gql(create, json!({"input": input})).await;
    assert_eq!(status, 200, "{made}");
    let trigger = &made["data"]["result"]["trigger"];
    assert_eq!(trigger["event"]["eventType"], "RUN_STATE");
    assert_eq!(trigger["event"]["filter"], input["eventFilter"], "run filters come back as they were sent");
    let id = trigger["id"].as_str().unwrap().to_string();
    assert_eq!(gql(create, json!({"input": input})).await.0, 409, "a taken name");
    let (_, stored) = call("GET", &format!("/v1/automations/{id}"), String::new()).await;
    assert_eq!(stored["event"]["states"], json!(["failed", "crashed"]));
    let update = "mutation U($input: UpdateFilterTriggerInput!) { result: updateFilterTrigger(input: $input) { trigger { enabled } } }";
    let (status, updated) = gql(update, json!({"input": {"id": id, "enabled": false}})).await;
    assert_eq!((status, &updated["data"]["result"]["trigger"]["enabled"]), (200, &json!(false)), "{updated}");
    assert_eq!(gql(update, json!({"input": {"id": "au_missing", "enabled": false}})).await.0, 404);
    let list = "query L($e: String!) { scope: entity(name: $e) { triggers(filters: \"{\\\"name\\\":\\\"run-failed\\\"}\") { edges { node { id enabled } } } } }";
    let (status, listed) = gql(list, json!({"e": "acme"})).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["data"]["scope"]["triggers"]["edges"], json!([{"node": {"id": id, "enabled": false}}]));
    let delete = "mutation D($id: ID!) { result: deleteTrigger(input: {triggerID: $id}) { success } }";
    assert_eq!(gql(delete, json!({"id": id})).await.1["data"]["result"]["success"], true);
    assert_eq!(gql(delete, json!({"id": id})).await.0, 404);
}
