//! `/v1/automations`: create, get, list, patch, delete, enable/disable, and every validation rule.

use crate::common::{TestApi, loss_doc};
use serde_json::{Value, json};

#[tokio::test]
async fn create_get_list_patch_delete() {
    let t = TestApi::new().await;
    let res = t.call("POST", "/v1/automations", &t.a, Some(loss_doc("loss-high"))).await.expect(201);
    let created = res.json();
    let id = created["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("au_"), "{id}");
    assert_eq!(res.headers["location"], format!("/v1/automations/{id}").as_str());
    // Defaults are filled in and shown.
    assert_eq!(created["enabled"], true);
    assert_eq!(created["event"]["cooldown"], 86400);
    assert_eq!(created["created_at"], "2026-11-01T12:00:00Z");

    let got = t.call("GET", &format!("/v1/automations/{id}"), &t.a, None).await.expect(200).json();
    assert_eq!(got, created);
    let list = t.call("GET", "/v1/automations", &t.a, None).await.expect(200).json();
    assert_eq!(list["items"], json!([created]));
    assert_eq!(list["next_cursor"], Value::Null);

    let patched = t
        .call("PATCH", &format!("/v1/automations/{id}"), &t.a, Some(json!({"name": "renamed", "description": "d"})))
        .await
        .expect(200)
        .json();
    assert_eq!(patched["name"], "renamed");
    assert_eq!(patched["description"], "d");
    assert_eq!(patched["event"], created["event"], "a merge patch keeps what it does not name");
    // null removes a member.
    let patched =
        t.call("PATCH", &format!("/v1/automations/{id}"), &t.a, Some(json!({"description": null}))).await.expect(200);
    assert!(patched.json().get("description").is_none());

    t.call("DELETE", &format!("/v1/automations/{id}"), &t.a, None).await.expect(204);
    t.call("GET", &format!("/v1/automations/{id}"), &t.a, None).await.expect(404);
    t.call("DELETE", &format!("/v1/automations/{id}"), &t.a, None).await.expect(404);
    t.call("PATCH", &format!("/v1/automations/{id}"), &t.a, Some(json!({"name": "x"}))).await.expect(404);
}

#[tokio::test]
async fn scope_entity_defaults_to_the_keys() {
    let t = TestApi::new().await;
    let mut doc = loss_doc("x");
    doc["scope"] = json!({"type": "project", "project": "mnist"});
    let created = t.automation(&t.a, doc).await;
    assert_eq!(created["scope"]["entity"], "acme");
}

#[tokio::test]
async fn enable_and_disable() {
    let t = TestApi::new().await;
    let id = t.automation(&t.a, loss_doc("x")).await["id"].as_str().unwrap().to_string();
    let off = t.call("POST", &format!("/v1/automations/{id}/disable"), &t.a, None).await.expect(200).json();
    assert_eq!(off["enabled"], false);
    let listed = t.call("GET", "/v1/automations?enabled=false", &t.a, None).await.expect(200).json();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
    let on = t.call("POST", &format!("/v1/automations/{id}/enable"), &t.a, None).await.expect(200).json();
    assert_eq!(on["enabled"], true);
    let listed = t.call("GET", "/v1/automations?enabled=false", &t.a, None).await.expect(200).json();
    assert_eq!(listed["items"], json!([]));
    t.call("POST", "/v1/automations/au_nope/enable", &t.a, None).await.expect(404);
}

#[tokio::test]
async fn names_are_unique_per_entity() {
    let t = TestApi::new().await;
    t.automation(&t.a, loss_doc("same")).await;
    let res = t.call("POST", "/v1/automations", &t.a, Some(loss_doc("same"))).await.expect(409);
    assert!(res.json()["detail"].as_str().unwrap().contains("same"));
    // Another entity may use the name.
    let mut other = loss_doc("same");
    other["scope"]["entity"] = "other".into();
    t.automation(&t.b, other).await;
    // Renaming onto a taken name is a conflict too.
    let id = t.automation(&t.a, loss_doc("second")).await["id"].as_str().unwrap().to_string();
    t.call("PATCH", &format!("/v1/automations/{id}"), &t.a, Some(json!({"name": "same"}))).await.expect(409);
    let got = t.call("GET", &format!("/v1/automations/{id}"), &t.a, None).await.expect(200).json();
    assert_eq!(got["name"], "second");
}

/// Each refused document answers 400 with the field's path, and nothing is stored.
#[tokio::test]
async fn every_validation_rule_names_its_field() {
    let t = TestApi::new().await;
    t.webhook(&t.a, "hook").await;
    t.call(
        "POST",
        "/v1/integrations",
        &t.a,
        Some(json!({"name": "chan", "type": "slack", "url": "https://hooks.slack.test/x", "channel": "ml"})),
    )
    .await
    .expect(201);
    let base = loss_doc("v");
    let cases: Vec<(Value, &str)> = vec![
        (json!({"name": null}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(129)}), "name"),
        (json!({"enabled": "yes"}), "enabled"),
        (json!({"surprise": 1}), "surprise"),
        (json!({"scope": {"project": null}}), "scope.project"),
        (json!({"scope": {"type": "galaxy"}}), "scope.type"),
        (json!({"scope": {"type": "collection", "project": null, "collection": "c"}}), "scope.project"),
        (json!({"scope": {"type": "registry", "project": null, "registry": "model"}}), "event.type"),
        (json!({"event": {"type": "NOPE"}}), "event.type"),
        (json!({"event": {"metric": {"window": 0, "agg": "MAX"}}}), "event.metric.window"),
        (json!({"event": {"metric": {"cmp": "$gg"}}}), "event.metric.cmp"),
        (json!({"event": {"metric": {"name": null}}}), "event.metric.name"),
        (json!({"event": {"cooldown": "30s"}}), "event.cooldown"),
        (json!({"event": {"cooldown": "31d"}}), "event.cooldown"),
        (json!({"event": {"run_filter": {"display_name": {"$regex": "("}}}}), "event.run_filter.display_name.$regex"),
        (json!({"event": {"run_filter": {"$where": "x"}}}), "event.run_filter.$where"),
        (json!({"event": {"type": "RUN_STATE", "metric": null, "states": ["killed"]}}), "event.states[0]"),
        (json!({"event": {"type": "RUN_STATE", "metric": null, "states": []}}), "event.states"),
        (
            json!({"event": {"type": "ADD_ARTIFACT_ALIAS", "metric": null, "filter": {"alias": {"$regex": "["}}}}),
            "event.filter.alias.$regex",
        ),
        (json!({"action": {"type": "email"}}), "action.type"),
        (json!({"action": {"type": "webhook"}}), "action.integration"),
        (json!({"action": {"type": "webhook", "integration": "missing"}}), "action.integration"),
        (json!({"action": {"type": "webhook", "integration": "chan"}}), "action.integration"),
        (json!({"action": {"type": "slack", "integration": "hook"}}), "action.integration"),
        (json!({"action": {"type": "webhook", "integration": "hook", "payload": "${nope}"}}), "action.payload"),
        (json!({"action": {"type": "slack", "integration": "chan", "severity": "LOUD"}}), "action.severity"),
    ];
    for (patch, path) in cases {
        let mut doc = base.clone();
        merge(&mut doc, &patch);
        let res = t.call("POST", "/v1/automations", &t.a, Some(doc.clone())).await;
        assert_eq!(res.status.as_u16(), 400, "{patch} gave {doc}");
        assert!(res.paths().contains(&path.to_string()), "{doc}: expected {path}, got {:?}", res.paths());
    }
    // Scope and event that do not go together name both.
    let mut doc = base.clone();
    doc["scope"] = json!({"type": "collection", "entity": "acme", "project": "mnist", "collection": "c"});
    let res = t.call("POST", "/v1/automations", &t.a, Some(doc)).await.expect(400);
    let msg = res.json()["errors"][0]["message"].as_str().unwrap().to_string();
    assert!(msg.contains("RUN_METRIC_THRESHOLD") && msg.contains("collection"), "{msg}");
    // Malformed JSON, and a body that is not an object.
    let res = t.raw("POST", "/v1/automations", Some(&t.a), "{\"name\": ").await.expect(400);
    assert!(res.json()["detail"].as_str().unwrap().contains("malformed JSON"));
    let res = t.raw("POST", "/v1/automations", Some(&t.a), "[1]").await.expect(400);
    assert_eq!(res.paths(), vec![String::new()]);
    t.raw("POST", "/v1/automations", Some(&t.a), "").await.expect(400);
    // Nothing invalid was stored.
    let list = t.call("GET", "/v1/automations", &t.a, None).await.expect(200).json();
    assert_eq!(list["items"], json!([]));
}

#[tokio::test]
async fn a_patch_is_validated_whole_and_nothing_invalid_is_stored() {
    let t = TestApi::new().await;
    let created = t.automation(&t.a, loss_doc("p")).await;
    let id = created["id"].as_str().unwrap();
    let path = format!("/v1/automations/{id}");
    let res = t.call("PATCH", &path, &t.a, Some(json!({"event": {"metric": {"window": 5000}}}))).await.expect(400);
    assert_eq!(res.paths(), vec!["event.metric.window"]);
    let res = t.call("PATCH", &path, &t.a, Some(json!({"id": "au_other"}))).await.expect(400);
    assert_eq!(res.paths(), vec!["id"]);
    t.call("PATCH", &path, &t.a, Some(json!([1]))).await.expect(400);
    // Changing the event type means removing the old type's fields (RFC 7396 null).
    let res = t.call("PATCH", &path, &t.a, Some(json!({"event": {"type": "RUN_STATE", "states": ["failed"]}}))).await;
    let res = res.expect(400);
    assert!(res.paths().contains(&"event.metric".to_string()), "{:?}", res.paths());
    let ok = t
        .call(
            "PATCH",
            &path,
            &t.a,
            Some(json!({"event": {"type": "RUN_STATE", "states": ["failed"], "metric": null, "cooldown": null}})),
        )
        .await
        .expect(200)
        .json();
    assert_eq!(ok["event"], json!({"type": "RUN_STATE", "states": ["failed"]}));
    assert_eq!(ok["created_at"], created["created_at"]);
}

#[tokio::test]
async fn list_filters_and_pages() {
    let t = TestApi::new().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut doc = loss_doc(&format!("m{i}"));
        doc["enabled"] = (i % 2 == 0).into();
        ids.push(t.automation(&t.a, doc).await["id"].as_str().unwrap().to_string());
    }
    let state = json!({"name": "state", "scope": {"type": "entity", "entity": "acme"},
                       "event": {"type": "RUN_STATE", "states": ["failed"]}, "action": {"type": "none"}});
    let state_id = t.automation(&t.a, state).await["id"].as_str().unwrap().to_string();
    // Page through everything, two at a time.
    let mut seen = Vec::new();
    let mut url = "/v1/automations?limit=2".to_string();
    loop {
        let page = t.call("GET", &url, &t.a, None).await.expect(200).json();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => url = format!("/v1/automations?limit=2&cursor={c}"),
            None => break,
        }
    }
    let mut all = ids.clone();
    all.push(state_id.clone());
    assert_eq!(seen, all);
    let names = |v: Value| -> Vec<String> {
        v["items"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap().to_string()).collect()
    };
    let by_scope = t.call("GET", "/v1/automations?scope=entity", &t.a, None).await.expect(200).json();
    assert_eq!(names(by_scope), vec!["state"]);
    let by_type = t.call("GET", "/v1/automations?event_type=RUN_METRIC_THRESHOLD&enabled=true", &t.a, None).await;
    assert_eq!(names(by_type.expect(200).json()), vec!["m0", "m2", "m4"]);
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=x", "limit"),
        ("scope=galaxy", "scope"),
        ("event_type=RUN_METRIC", "event_type"),
        ("enabled=yes", "enabled"),
        ("cursor=!!", "cursor"),
        ("enabeld=true", "enabeld"),
        ("limit=1&limit=2", "limit"),
    ] {
        let res = t.call("GET", &format!("/v1/automations?{query}"), &t.a, None).await.expect(400);
        assert_eq!(res.paths(), vec![field.to_string()], "{query}");
    }
}

fn merge(target: &mut Value, patch: &Value) {
    if let (Value::Object(t), Value::Object(p)) = (&mut *target, patch) {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else if v.is_object() && t.get(k).is_some_and(Value::is_object) {
                merge(t.get_mut(k).unwrap(), v);
            } else {
                t.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Issue 16, item 2: automations per entity are capped (configurable); beyond is a 409 that
/// says the limit, and other entities are not affected.
#[tokio::test]
async fn automations_per_entity_are_capped() {
    let limits = automations_api::Limits { max_automations: 2, ..Default::default() };
    let t = crate::common::TestApi::with_limits(limits).await;
    for name in ["one", "two"] {
        t.automation(&t.a, crate::common::loss_doc(name)).await;
    }
    let res = t.call("POST", "/v1/automations", &t.a, Some(crate::common::loss_doc("three"))).await.expect(409);
    assert!(res.json()["detail"].as_str().unwrap().contains("2 automations"), "{}", res.text);
    let mut other = crate::common::loss_doc("three");
    other["scope"]["entity"] = "other".into();
    t.call("POST", "/v1/automations", &t.b, Some(other)).await.expect(201);
    let list = t.call("GET", "/v1/automations", &t.a, None).await.expect(200).json();
    let id = list["items"][0]["id"].as_str().unwrap().to_string();
    t.call("DELETE", &format!("/v1/automations/{id}"), &t.a, None).await.expect(204);
    t.call("POST", "/v1/automations", &t.a, Some(crate::common::loss_doc("three"))).await.expect(201);
}
