//! `POST /v1/automations/{id}/backtest`: the engine's own evaluation over a supplied history.

use crate::common::{TestApi, loss_doc};
use serde_json::{Value, json};

fn history(losses: &[Value]) -> Value {
    let rows: Vec<Value> = losses
        .iter()
        .enumerate()
        .map(|(i, v)| json!({"step": i + 1, "time": format!("2026-11-01T{:02}:00:00Z", i), "values": {"loss": v}}))
        .collect();
    json!(rows)
}

#[tokio::test]
async fn reports_the_steps_it_would_fire_at_and_why() {
    let t = TestApi::new().await;
    let mut doc = loss_doc("avg-high");
    doc["event"]["metric"] = json!({"name": "loss", "agg": "AVERAGE", "window": 2, "cmp": "$gt", "threshold": 1.0});
    doc["event"]["cooldown"] = json!("2h");
    let id = t.automation(&t.a, doc).await["id"].as_str().unwrap().to_string();
    let path = format!("/v1/automations/{id}/backtest");
    // Hourly rows: averages of pairs are 0.5, 1.0, 1.5 (fires at step 4), 2.0 (step 5: inside
    // the 2 h cooldown), 2.5 (step 6: 2 h after step 4, fires again). The NaN is skipped.
    let h = history(&[json!(0.5), json!(0.5), json!(1.5), json!(1.5), json!(2.5), json!(2.5), json!("NaN")]);
    let res = t.call("POST", &path, &t.a, Some(json!({"history": h, "metric_values": true}))).await.expect(200).json();
    assert_eq!(res["metric"], "loss");
    assert_eq!(res["values"], 7);
    assert_eq!(res["run_filter_matches"], true);
    let fires = res["fires"].as_array().unwrap();
    let steps: Vec<i64> = fires.iter().map(|f| f["step"].as_i64().unwrap()).collect();
    assert_eq!(steps, vec![4, 6], "{res}");
    assert_eq!(fires[0]["metric_values"], json!([1.5, 1.5]));
    assert_eq!(fires[0]["value"], 1.5);
    assert_eq!(fires[0]["time"], "2026-11-01T03:00:00Z");
    // Without the cooldown: every step at which the condition holds.
    let res = t.call("POST", &path, &t.a, Some(json!({"history": h, "cooldown": false}))).await.expect(200).json();
    let steps: Vec<i64> = res["fires"].as_array().unwrap().iter().map(|f| f["step"].as_i64().unwrap()).collect();
    assert_eq!(steps, vec![4, 5, 6]);
    // Nothing was stored: no fire, no run record.
    assert!(t.store.fires().is_empty());
    assert_eq!(t.store.window_bytes(), 0);
}

#[tokio::test]
async fn bare_nan_and_disabled_automations_and_run_filters() {
    let t = TestApi::new().await;
    let mut doc = loss_doc("filtered");
    doc["enabled"] = false.into();
    doc["event"]["run_filter"] = json!({"display_name": {"$regex": "^train-"}});
    let id = t.automation(&t.a, doc).await["id"].as_str().unwrap().to_string();
    let path = format!("/v1/automations/{id}/backtest");
    let body = r#"{"history": [{"step": 1, "values": {"loss": NaN}}, {"step": 2, "values": {"loss": 3}}],
                   "run": {"run_name": "train-1"}}"#;
    let res = t.raw("POST", &path, Some(&t.a), body).await.expect(200).json();
    assert_eq!(res["fires"].as_array().unwrap().len(), 1, "a disabled automation is backtested as enabled: {res}");
    let other = body.replace("train-1", "eval-1");
    let res = t.raw("POST", &path, Some(&t.a), other).await.expect(200).json();
    assert_eq!(res["run_filter_matches"], false);
    assert_eq!(res["fires"], json!([]));
}

#[tokio::test]
async fn refusals_name_the_request_field() {
    let t = TestApi::new().await;
    let id = t.automation(&t.a, loss_doc("x")).await["id"].as_str().unwrap().to_string();
    let path = format!("/v1/automations/{id}/backtest");
    for (body, field) in [
        (json!({}), "history"),
        (json!({"history": []}), "history"),
        (json!({"history": {}}), "history"),
        (json!({"history": [{"step": 1, "values": {"loss": "high"}}]}), "history[0].values.loss"),
        (json!({"history": [{"values": {"loss": 1}}]}), "history[0].step"),
        (json!({"history": [{"step": 1, "values": {}}], "run": {"project": "other"}}), "run.project"),
        (json!({"history": [{"step": 1, "values": {}}], "run": {"run_id": 5}}), "run.run_id"),
        (json!({"history": [{"step": 1, "values": {}}], "run": {"project": {}}}), "run.project"),
        (json!({"history": [{"step": 1, "values": {}}], "run": {"color": "red"}}), "run.color"),
        (json!({"history": [{"step": 1, "values": {}}], "cooldown": "no"}), "cooldown"),
        (json!({"history": [{"step": 1, "values": {}}], "extra": 1}), "extra"),
    ] {
        let res = t.call("POST", &path, &t.a, Some(body.clone())).await.expect(400);
        assert!(res.paths().contains(&field.to_string()), "{body}: {:?}", res.paths());
    }
    // Only metric automations can be backtested.
    let state = json!({"name": "s", "scope": {"type": "entity", "entity": "acme"},
                       "event": {"type": "RUN_STATE", "states": ["failed"]}, "action": {"type": "none"}});
    let sid = t.automation(&t.a, state).await["id"].as_str().unwrap().to_string();
    let res = t
        .call(
            "POST",
            &format!("/v1/automations/{sid}/backtest"),
            &t.a,
            Some(json!({"history": [{"step": 1, "values": {}}]})),
        )
        .await
        .expect(400);
    assert!(res.json()["detail"].as_str().unwrap().contains("RUN_STATE"));
    t.call("POST", "/v1/automations/au_nope/backtest", &t.a, Some(json!({"history": []}))).await.expect(404);
}

/// Issue 16, item 1: a 1 MiB backtest with `"cooldown": false` on a window-1000 threshold
/// answered 129 MB (a fire per step, each with its whole window) and took the server's memory.
/// The answer is bounded: at most `max_fires` fires (100 by default, 1000 at most) with a count of
/// the rest, and the windows only when asked.
#[tokio::test]
async fn the_answer_is_bounded_whatever_the_history() {
    let t = TestApi::new().await;
    let mut doc = loss_doc("always");
    doc["event"]["metric"] = json!({"name": "loss", "agg": "AVERAGE", "window": 1000, "cmp": "$gt", "threshold": 0});
    let id = t.automation(&t.a, doc).await["id"].as_str().unwrap().to_string();
    let path = format!("/v1/automations/{id}/backtest");
    let rows: Vec<serde_json::Value> = (0..3000).map(|i| json!({"step": i, "values": {"loss": 1.0}})).collect();
    let body = json!({"history": rows, "cooldown": false});
    let res = t.call("POST", &path, &t.a, Some(body.clone())).await.expect(200);
    assert!(res.text.len() < 64 * 1024, "the answer is {} bytes", res.text.len());
    let res = res.json();
    // The window is full from step 999 on: a fire at each of the 2001 steps from there.
    assert_eq!((res["fires_total"].as_u64(), res["fires_omitted"].as_u64()), (Some(2001), Some(1901)));
    let fires = res["fires"].as_array().unwrap();
    assert_eq!(fires.len(), 100);
    assert_eq!(
        (fires[0]["step"].as_i64(), fires[99]["step"].as_i64()),
        (Some(999), Some(1098)),
        "the first ones, in order"
    );
    assert!(fires.iter().all(|f| f.get("metric_values").is_none()), "no window unless asked");
    // Asked for: the windows, and more fires up to the cap; beyond the cap is refused by name.
    let mut asked = body.clone();
    asked["max_fires"] = 3.into();
    asked["metric_values"] = true.into();
    let res = t.call("POST", &path, &t.a, Some(asked)).await.expect(200).json();
    assert_eq!(res["fires"].as_array().unwrap().len(), 3);
    assert_eq!(res["fires"][2]["metric_values"].as_array().map(Vec::len), Some(1000));
    let mut over = body;
    over["max_fires"] = 1001.into();
    assert_eq!(t.call("POST", &path, &t.a, Some(over)).await.expect(400).paths(), ["max_fires"]);
}
