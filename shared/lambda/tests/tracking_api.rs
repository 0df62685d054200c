//! The config API on AWS checks and shows MLflow tracking integrations as `serve` does: over
//! DynamoDB (moto), against a real MLflow tracking server. A server that does not answer is
//! refused at create and at a PATCH that moves to it, naming `tracking_uri`; `GET` shows the
//! last poll the `mlflow-poller` function recorded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_api::auth;
use automations_core::EntityId;
use automations_core::delivery::RetryPolicy;
use automations_core::store::{ApiKeyStore, PollRecord, TrackingStore};
use automations_delivery::{Delivery, HttpSender, SystemClock};
use automations_dynamo::{Backoff, DynamoStore, SdkDynamo, create_table};
use automations_lambda::config_api::{QueueSink, app};
use automations_sqs::Sqs;
use automations_testkit::mlflow::MlflowServer;
use automations_testkit::moto::Moto;
use automations_testkit::queues::create_queues;
use automations_testkit::tools::free_port;
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

#[tokio::test]
async fn tracking_servers_are_checked_and_their_polls_shown_on_aws() {
    let moto = Moto::start();
    let mlflow = MlflowServer::start();
    create_table(&moto.dynamodb(), "automations").await.unwrap();
    let store =
        Arc::new(DynamoStore::new(SdkDynamo::new(moto.dynamodb()), "automations").with_backoff(Backoff::fast()));
    let queues = create_queues(&moto.sqs()).await;
    let hooks =
        automations_mlflow::Hooks { store: store.clone(), timeout: Duration::from_secs(5), allow_private: true };
    let sink = QueueSink {
        sqs: Sqs::new(moto.sqs()),
        artifact_queue: queues.artifacts,
        run_queue: queues.runs,
        tracking: Some(Arc::new(hooks)),
    };
    let policy = RetryPolicy::default();
    let sender = HttpSender::new(Duration::from_millis(policy.timeout as u64), false).unwrap();
    let delivery = Arc::new(Delivery::new(store.clone(), sender, policy, Arc::new(SystemClock)));
    let (key, record) = auth::issue_key(&EntityId::new("acme"), automations_lambda::now()).unwrap();
    store.put_api_key(&record).await.unwrap();
    let router = app(store.clone(), sink, delivery, 1000);
    let call = |method: &str, route: &str, body: Value| {
        let req = Request::builder()
            .method(method)
            .uri(route)
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(if body.is_null() { Body::empty() } else { Body::from(body.to_string()) })
            .unwrap();
        let router = router.clone();
        async move {
            let res = router.oneshot(req).await.unwrap();
            let status = res.status().as_u16();
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null))
        }
    };
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let refused = json!({"name": "ml", "type": "mlflow", "tracking_uri": nowhere, "token": "tk"});
    let (status, answer) = call("POST", "/v1/integrations", refused).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["errors"][0]["path"], "tracking_uri", "{answer}");
    assert!(answer.to_string().contains("cannot reach"), "{answer}");
    assert!(store.tracking_integrations().await.unwrap().is_empty(), "nothing was stored");

    let doc = json!({"name": "ml", "type": "mlflow", "tracking_uri": mlflow.uri(), "token": "tk"});
    let (status, created) = call("POST", "/v1/integrations", doc).await;
    assert_eq!(status, 201, "{created}");
    let (_, shown) = call("GET", "/v1/integrations/ml", Value::Null).await;
    assert_eq!(shown["last_poll"], Value::Null, "not polled yet: {shown}");
    let id = created["id"].as_str().unwrap();
    let poll = PollRecord {
        at: automations_lambda::now(),
        error: Some("503".into()),
        requests: 1,
        failures: 2,
        ..PollRecord::default()
    };
    store.save_poll_record(id, &poll).await.unwrap();
    let (_, shown) = call("GET", "/v1/integrations/ml", Value::Null).await;
    assert_eq!(
        (shown["last_poll"]["outcome"].clone(), shown["last_poll"]["consecutive_failures"].clone()),
        (json!("error"), json!(2)),
        "{shown}"
    );

    let (status, answer) = call("PATCH", "/v1/integrations/ml", json!({"tracking_uri": nowhere})).await;
    assert_eq!((status, answer["errors"][0]["path"].clone()), (400, json!("tracking_uri")), "{answer}");
    let listed = store.tracking_integrations().await.unwrap();
    assert_eq!(listed[0].tracking().unwrap().uri, mlflow.uri(), "the refused patch changed nothing");
}
