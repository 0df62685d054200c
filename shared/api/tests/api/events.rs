//! `POST /v1/events`: batches, single envelopes, JSON Lines, rejections, and inline evaluation
//! that sees automation changes at once.

use crate::common::{NOW, TestApi, loss_doc, metrics};
use serde_json::{Value, json};

#[tokio::test]
async fn a_batch_takes_the_good_and_rejects_the_bad_by_field() {
    let t = TestApi::new().await;
    t.automation(&t.a, loss_doc("loss-high")).await;
    let mut bad_type = metrics("acme", "e2", 1, &[0.5]);
    bad_type["type"] = "run.metrics.lost".into();
    let mut bad_value = metrics("acme", "e3", 1, &[0.5]);
    bad_value["data"]["rows"][0]["values"]["loss"] = "high".into();
    let body = json!([metrics("acme", "e1", 1, &[0.5, 2.0]), bad_type, bad_value]);
    let res = t.call("POST", "/v1/events", &t.a, Some(body)).await.expect(202).json();
    assert_eq!(res["accepted"], 1);
    let rejected = res["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2);
    assert_eq!(rejected[0]["index"], 1);
    assert_eq!(rejected[0]["id"], "e2");
    assert_eq!(rejected[0]["errors"][0]["path"], "type");
    assert_eq!(rejected[1]["errors"][0]["path"], "data.rows[0].values.loss");
    // Each rejection is recorded for an operator.
    let rejects = t.store.rejects();
    assert_eq!(rejects.len(), 2);
    assert_eq!(rejects[0].id.as_deref(), Some("e2"));
    assert!(rejects[1].reason.contains("data.rows[0].values.loss"), "{}", rejects[1].reason);
    // The good envelope was evaluated: loss 2.0 > 1 fired once.
    let fires = t.store.fires();
    assert_eq!(fires.len(), 1);
    assert_eq!(fires[0].event_id, "e1");
}

#[tokio::test]
async fn single_envelopes_json_lines_and_bare_nan() {
    let t = TestApi::new().await;
    t.automation(&t.a, loss_doc("loss-high")).await;
    // One envelope, pretty-printed over several lines, with a bare NaN.
    let one = serde_json::to_string_pretty(&metrics("acme", "e1", 1, &[0.1])).unwrap().replace("0.1", "NaN");
    assert!(one.contains("NaN") && one.lines().count() > 3);
    let res = t.raw("POST", "/v1/events", Some(&t.a), one).await.expect(202).json();
    assert_eq!(res, json!({"accepted": 1, "rejected": []}));
    // JSON Lines, one with -Infinity.
    let lines = format!(
        "{}\n\n{}\n",
        metrics("acme", "e2", 2, &[0.2]),
        metrics("acme", "e3", 3, &[0.3]).to_string().replace("0.3", "-Infinity")
    );
    let res = t.raw("POST", "/v1/events", Some(&t.a), lines).await.expect(202).json();
    assert_eq!(res["accepted"], 2);
    // "NaN" as a string too.
    let res = t
        .raw("POST", "/v1/events", Some(&t.a), metrics("acme", "e4", 4, &[0.0]).to_string().replace("0.0", "\"NaN\""))
        .await;
    assert_eq!(res.expect(202).json()["accepted"], 1);
    assert!(t.store.fires().is_empty());
    assert!(t.store.rejects().is_empty());
}

#[tokio::test]
async fn nothing_accepted_is_a_400_with_every_rejection() {
    let t = TestApi::new().await;
    let res = t.raw("POST", "/v1/events", Some(&t.a), r#"[{"specversion": "0.3"}, 5, {oops}]"#).await.expect(400);
    let body = res.json();
    let rejected = body["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 3);
    assert!(rejected[0]["errors"].as_array().unwrap().iter().any(|e| e["path"] == "specversion"));
    assert!(rejected[2]["errors"][0]["message"].as_str().unwrap().contains("malformed JSON"));
    assert_eq!(t.store.rejects().len(), 3);
    // Not a batch at all.
    t.raw("POST", "/v1/events", Some(&t.a), "").await.expect(400);
    t.raw("POST", "/v1/events", Some(&t.a), vec![0xff, 0xfe]).await.expect(400);
    let res = t.raw("POST", "/v1/events", Some(&t.a), "[{\"a\": 1}").await.expect(400);
    assert!(res.json()["rejected"].as_array().is_some());
    // An oversized envelope is refused by itself (256 KiB), the rest goes on.
    let mut big = metrics("acme", "big", 1, &[0.5]);
    big["data"]["config"] = json!({"blob": "x".repeat(300 * 1024)});
    let body = json!([big, metrics("acme", "small", 1, &[0.5])]);
    let res = t.call("POST", "/v1/events", &t.a, Some(body)).await.expect(202).json();
    assert_eq!(res["accepted"], 1);
    assert!(res["rejected"][0]["errors"][0]["message"].as_str().unwrap().contains("256 KiB"));
}

#[tokio::test]
async fn the_engine_sees_automation_changes_at_once() {
    let t = TestApi::new().await;
    let send = |id: &str, step: i64| metrics("acme", id, step, &[5.0]);
    // No automation yet: nothing fires.
    t.call("POST", "/v1/events", &t.a, Some(send("e1", 1))).await.expect(202);
    assert_eq!(t.store.fires().len(), 0);
    // Created: the next envelope fires.
    let mut doc = loss_doc("loss-high");
    doc["event"]["cooldown"] = json!(60);
    let id = t.automation(&t.a, doc).await["id"].as_str().unwrap().to_string();
    t.call("POST", "/v1/events", &t.a, Some(send("e2", 2))).await.expect(202);
    assert_eq!(t.store.fires().len(), 1);
    // Disabled: nothing.
    t.call("POST", &format!("/v1/automations/{id}/disable"), &t.a, None).await.expect(200);
    let mut later = send("e3", 3);
    later["time"] = "2026-11-01T13:00:00Z".into();
    t.call("POST", "/v1/events", &t.a, Some(later)).await.expect(202);
    assert_eq!(t.store.fires().len(), 1);
    // Enabled, with a higher threshold: 5.0 no longer passes.
    t.call("POST", &format!("/v1/automations/{id}/enable"), &t.a, None).await.expect(200);
    let patch = json!({"event": {"metric": {"threshold": 10}}});
    t.call("PATCH", &format!("/v1/automations/{id}"), &t.a, Some(patch)).await.expect(200);
    let mut later = send("e4", 4);
    later["time"] = "2026-11-01T14:00:00Z".into();
    t.call("POST", "/v1/events", &t.a, Some(later)).await.expect(202);
    assert_eq!(t.store.fires().len(), 1);
    // Deleted: gone from the engine.
    t.call("DELETE", &format!("/v1/automations/{id}"), &t.a, None).await.expect(204);
    let mut later = metrics("acme", "e5", 5, &[50.0]);
    later["time"] = "2026-11-01T15:00:00Z".into();
    t.call("POST", "/v1/events", &t.a, Some(later)).await.expect(202);
    assert_eq!(t.store.fires().len(), 1);
}

#[tokio::test]
async fn a_redelivered_batch_fires_nothing_new() {
    let t = TestApi::new().await;
    t.automation(&t.a, loss_doc("loss-high")).await;
    let batch: Value = json!([metrics("acme", "e1", 1, &[3.0])]);
    t.call("POST", "/v1/events", &t.a, Some(batch.clone())).await.expect(202);
    t.call("POST", "/v1/events", &t.a, Some(batch)).await.expect(202);
    assert_eq!(t.store.fires().len(), 1);
}

/// Issue 16, item b: the CloudEvents HTTP binding's binary content mode (what the SDKs'
/// `to_binary`, Knative and brokers send) is one envelope: attributes in `ce-*` headers
/// (percent-encoded), the data as the body. It used to answer 400 "specversion is required".
#[tokio::test]
async fn binary_content_mode_is_one_envelope() {
    let t = TestApi::new().await;
    t.automation(&t.a, loss_doc("loss-high")).await;
    let data = metrics("acme", "b1", 1, &[2.0])["data"].to_string().replace("2.0", "NaN");
    let headers = [
        ("ce-specversion", "1.0"),
        ("ce-id", "b1"),
        ("ce-source", "%2Ftrainer%20one"),
        ("ce-type", "run.metrics.logged"),
        ("ce-time", "2026-11-01T12:00:00Z"),
        ("content-type", "application/json; charset=utf-8"),
    ];
    let res = t.raw_with("POST", "/v1/events", Some(&t.a), &headers, data.clone()).await.expect(202).json();
    assert_eq!(res, json!({"accepted": 1, "rejected": []}));
    let two = metrics("acme", "b2", 2, &[2.0])["data"].to_string();
    let headers2 = headers.map(|(k, v)| if k == "ce-id" { (k, "b2") } else { (k, v) });
    t.raw_with("POST", "/v1/events", Some(&t.a), &headers2, two).await.expect(202);
    let fires = t.store.fires();
    assert_eq!(fires.len(), 1, "{fires:?}");
    assert_eq!((fires[0].event_id.as_str(), fires[0].event_source.as_str()), ("b2", "/trainer one"));
    // Bad attributes are named as in structured mode; bad data is `data`.
    let bad = [("ce-specversion", "1.0"), ("ce-id", "b3"), ("ce-source", "s"), ("ce-type", "run.metrics.lost")];
    let res = t.raw_with("POST", "/v1/events", Some(&t.a), &bad, data.clone()).await.expect(400);
    assert_eq!(res.json()["rejected"][0]["errors"][0]["path"], "type");
    let res = t.raw_with("POST", "/v1/events", Some(&t.a), &headers, "{not json").await.expect(400);
    assert_eq!(res.paths(), ["data"]);
    let res = t.raw_with("POST", "/v1/events", Some(&t.a), &headers, "").await.expect(400);
    assert_eq!(res.paths(), ["data"]);
    let xml = headers.map(|(k, v)| if k == "content-type" { (k, "application/xml") } else { (k, v) });
    let res = t.raw_with("POST", "/v1/events", Some(&t.a), &xml, "<data/>").await.expect(400);
    assert_eq!(res.paths(), ["data"]);
}

/// Issue 16, item b: `time` is optional in CloudEvents 1.0; live, a missing one is the arrival
/// time (it used to be refused at `time`). A `time` of the wrong type is still refused.
#[tokio::test]
async fn a_missing_time_is_the_arrival_time() {
    let t = TestApi::new().await;
    t.automation(&t.a, loss_doc("loss-high")).await;
    let mut one = metrics("acme", "t1", 1, &[2.0]);
    one.as_object_mut().unwrap().remove("time");
    let mut two = metrics("acme", "t2", 2, &[3.0]);
    two["time"] = Value::Null;
    let mut bad = metrics("acme", "t3", 3, &[3.0]);
    bad["time"] = json!(12);
    let res = t.call("POST", "/v1/events", &t.a, Some(json!([one, two, bad]))).await.expect(202).json();
    assert_eq!(res["accepted"], 2, "{res}");
    assert_eq!(res["rejected"][0]["errors"][0]["path"], "time");
    let fires = t.store.fires();
    assert_eq!(fires.len(), 1);
    assert_eq!(fires[0].time, NOW, "the arrival time is the fire's clock");
    // Binary mode without ce-time, too.
    let headers = [("ce-specversion", "1.0"), ("ce-id", "t4"), ("ce-source", "s"), ("ce-type", "run.heartbeat")];
    let body = json!({"entity": "acme", "project": "mnist", "run_id": "r1"}).to_string();
    t.raw_with("POST", "/v1/events", Some(&t.a), &headers, body).await.expect(202);
}
