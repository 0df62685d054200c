//! A key of entity A can neither read, change, list nor fire anything of entity B: B's objects
//! answer 404 to A, as if they did not exist.

use crate::common::{TestApi, loss_doc, metrics};
use serde_json::json;

#[tokio::test]
async fn another_entitys_objects_do_not_exist() {
    let t = TestApi::new().await;
    // B (entity "other") has an integration and an automation using it.
    t.webhook(&t.b, "b-hook").await;
    let mut doc = loss_doc("b-auto");
    doc["scope"]["entity"] = "other".into();
    doc["action"] = json!({"type": "webhook", "integration": "b-hook"});
    let b_auto = t.automation(&t.b, doc).await;
    let id = b_auto["id"].as_str().unwrap();

    // A cannot read, change, enable, fire or test it.
    for (method, path, body) in [
        ("GET", format!("/v1/automations/{id}"), None),
        ("PATCH", format!("/v1/automations/{id}"), Some(json!({"name": "mine"}))),
        ("DELETE", format!("/v1/automations/{id}"), None),
        ("POST", format!("/v1/automations/{id}/enable"), None),
        ("POST", format!("/v1/automations/{id}/disable"), None),
        ("GET", format!("/v1/automations/{id}/executions"), None),
        ("POST", format!("/v1/automations/{id}/test"), None),
        (
            "POST",
            format!("/v1/automations/{id}/backtest"),
            Some(json!({"history": [{"step": 1, "values": {"loss": 9}}]})),
        ),
        ("GET", "/v1/integrations/b-hook".to_string(), None),
        ("DELETE", "/v1/integrations/b-hook".to_string(), None),
    ] {
        let res = t.call(method, &path, &t.a, body).await.expect(404);
        assert!(!res.text.contains("other"), "a 404 must not reveal the owner: {}", res.text);
    }
    // A does not list them.
    let autos = t.call("GET", "/v1/automations", &t.a, None).await.expect(200).json();
    assert_eq!(autos["items"], json!([]));
    let integrations = t.call("GET", "/v1/integrations", &t.a, None).await.expect(200).json();
    assert_eq!(integrations["items"], json!([]));
    // Nor page into them with a cursor made from B's listing.
    let b_list = t.call("GET", "/v1/integrations?limit=1", &t.b, None).await.expect(200).json();
    assert_eq!(b_list["items"][0]["name"], "b-hook");

    // A cannot create in B's entity, nor use B's integration (for A it does not exist).
    let mut into_b = loss_doc("sneaky");
    into_b["scope"]["entity"] = "other".into();
    let res = t.call("POST", "/v1/automations", &t.a, Some(into_b)).await.expect(403);
    assert_eq!(res.paths(), vec!["scope.entity"]);
    let mut uses_b = loss_doc("borrow");
    uses_b["action"] = json!({"type": "webhook", "integration": "b-hook"});
    let res = t.call("POST", "/v1/automations", &t.a, Some(uses_b)).await.expect(400);
    assert_eq!(res.paths(), vec!["action.integration"]);
    // Nor move its own automation into B.
    let a_id = t.automation(&t.a, loss_doc("mine")).await["id"].as_str().unwrap().to_string();
    let res = t
        .call("PATCH", &format!("/v1/automations/{a_id}"), &t.a, Some(json!({"scope": {"entity": "other"}})))
        .await
        .expect(403);
    assert_eq!(res.paths(), vec!["scope.entity"]);
    // Nor import into B.
    let import = json!({"scope": {"type": "project", "entity": "other", "project": "mnist"},
        "input": {"name": "imp", "triggeringEventType": "RUN_STATE",
                  "eventFilter": r#"{"run_filter":"{\"$and\":[]}","run_state_filter":{"states":["FAILED"]}}"#,
                  "triggeredActionType": "NO_OP", "triggeredActionConfig": {"noOpActionInput": {"noOp": true}}}});
    t.call("POST", "/v1/import/wandb", &t.a, Some(import)).await.expect(403);

    // A cannot fire B's automation: B's events sent with A's key are rejected, naming data.entity.
    let res = t.call("POST", "/v1/events", &t.a, Some(metrics("other", "x1", 1, &[9.0]))).await.expect(400).json();
    assert_eq!(res["rejected"][0]["errors"][0]["path"], "data.entity");
    assert!(t.store.fires().is_empty());
    // With B's own key the same envelope fires B's automation.
    t.call("POST", "/v1/events", &t.b, Some(metrics("other", "x1", 1, &[9.0]))).await.expect(202);
    assert_eq!(t.store.fires().len(), 1);
    assert_eq!(t.store.fires()[0].automation_id, id);

    // B's objects are intact.
    let still = t.call("GET", &format!("/v1/automations/{id}"), &t.b, None).await.expect(200).json();
    assert_eq!(still, b_auto);
    t.call("GET", "/v1/integrations/b-hook", &t.b, None).await.expect(200);
}
