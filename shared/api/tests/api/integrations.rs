//! `/v1/integrations`: create, list, get, delete; credentials are write-only.

use crate::common::{TestApi, loss_doc};
use automations_core::{EntityId, IntegrationName};
use serde_json::{Value, json};

#[tokio::test]
async fn secrets_and_tokens_are_never_returned() {
    let t = TestApi::new().await;
    let created = t.webhook(&t.a, "hook").await;
    assert_eq!(created["has_secret"], true);
    assert_eq!(created["has_access_token"], true);
    assert_eq!(created["url"], "http://127.0.0.1:9/hook");
    let slack = t
        .call(
            "POST",
            "/v1/integrations",
            &t.a,
            Some(json!({"name": "chan", "type": "slack", "url": "https://hooks.slack.test/T0/B0/SLACKSECRET", "channel": "#ml"})),
        )
        .await
        .expect(201);
    assert_eq!(slack.headers["location"], "/v1/integrations/chan");
    assert_eq!(slack.json()["channel"], "#ml");
    let mut texts = vec![created.to_string(), slack.text.clone()];
    texts.push(t.call("GET", "/v1/integrations", &t.a, None).await.expect(200).text);
    texts.push(t.call("GET", "/v1/integrations/hook", &t.a, None).await.expect(200).text);
    texts.push(t.call("GET", "/v1/integrations/chan", &t.a, None).await.expect(200).text);
    // Errors do not echo them either: a duplicate, and a bad document carrying a secret.
    let dup = json!({"name": "hook", "type": "webhook", "url": "http://x.test", "secret": "whsec-TOPSECRET"});
    texts.push(t.call("POST", "/v1/integrations", &t.a, Some(dup)).await.expect(409).text);
    let bad = json!({"name": "s2", "type": "slack", "url": "hooks.slack.test/SLACKSECRET", "channel": 5});
    texts.push(t.call("POST", "/v1/integrations", &t.a, Some(bad)).await.expect(400).text);
    let bad = json!({"name": "w2", "type": "webhook", "url": "http://x.test", "secret": "whsec-TOPSECRET", "oops": 1});
    texts.push(t.call("POST", "/v1/integrations", &t.a, Some(bad)).await.expect(400).text);
    for text in texts {
        for secret in ["TOPSECRET", "SLACKSECRET"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }
    // The store has them (delivery needs them).
    use automations_core::store::IntegrationLookup;
    let stored = t.store.get_integration(&EntityId::new("acme"), &IntegrationName::new("hook")).await.unwrap().unwrap();
    assert_eq!(stored.secrets().iter().map(|s| s.expose()).collect::<Vec<_>>(), ["tok-TOPSECRET", "whsec-TOPSECRET"]);
}

#[tokio::test]
async fn validation_names_the_field() {
    let t = TestApi::new().await;
    for (doc, path) in [
        (json!({"type": "webhook", "url": "http://x.test"}), "name"),
        (json!({"name": "a/b", "type": "webhook", "url": "http://x.test"}), "name"),
        (json!({"name": "n", "type": "email"}), "type"),
        (json!({"name": "n"}), "type"),
        (json!({"name": "n", "type": "webhook"}), "url"),
        (json!({"name": "n", "type": "webhook", "url": "ftp://x.test"}), "url"),
        (json!({"name": "n", "type": "webhook", "url": "http://"}), "url"),
        (json!({"name": "n", "type": "webhook", "url": "http://x.test", "secret": ""}), "secret"),
        (json!({"name": "n", "type": "webhook", "url": "http://x.test", "access_token": 7}), "access_token"),
        (json!({"name": "n", "type": "webhook", "url": "http://x.test", "channel": "c"}), "channel"),
        (json!({"name": "n", "type": "slack", "url": "https://hooks.slack.test/x"}), "channel"),
        (json!({"name": "n", "type": "slack", "channel": "c"}), "url"),
    ] {
        let res = t.call("POST", "/v1/integrations", &t.a, Some(doc.clone())).await.expect(400);
        assert!(res.paths().contains(&path.to_string()), "{doc}: {:?}", res.paths());
    }
    let list = t.call("GET", "/v1/integrations", &t.a, None).await.expect(200).json();
    assert_eq!(list["items"], json!([]));
}

#[tokio::test]
async fn list_pages_and_delete() {
    let t = TestApi::new().await;
    for i in 0..3 {
        t.webhook(&t.a, &format!("h{i}")).await;
    }
    let first = t.call("GET", "/v1/integrations?limit=2", &t.a, None).await.expect(200).json();
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = t.call("GET", &format!("/v1/integrations?limit=2&cursor={cursor}"), &t.a, None).await.expect(200);
    let second = second.json();
    assert_eq!(second["items"][0]["name"], "h2");
    assert_eq!(second["next_cursor"], serde_json::Value::Null);
    t.call("GET", "/v1/integrations?limit=999", &t.a, None).await.expect(400);

    t.call("DELETE", "/v1/integrations/h0", &t.a, None).await.expect(204);
    t.call("GET", "/v1/integrations/h0", &t.a, None).await.expect(404);
    t.call("DELETE", "/v1/integrations/h0", &t.a, None).await.expect(404);
}

#[tokio::test]
async fn an_integration_in_use_cannot_be_deleted() {
    let t = TestApi::new().await;
    t.webhook(&t.a, "hook").await;
    let mut doc = loss_doc("uses-hook");
    doc["action"] = json!({"type": "webhook", "integration": "hook"});
    let id = t.automation(&t.a, doc).await["id"].as_str().unwrap().to_string();
    let res = t.call("DELETE", "/v1/integrations/hook", &t.a, None).await.expect(409);
    assert!(res.json()["detail"].as_str().unwrap().contains("uses-hook"));
    t.call("DELETE", &format!("/v1/automations/{id}"), &t.a, None).await.expect(204);
    t.call("DELETE", "/v1/integrations/hook", &t.a, None).await.expect(204);
}

/// Issue 16, item 9: an integration disabled by 410 Gone could never be re-enabled (no route, and
/// delete is refused while it is in use); it can be enabled again, and its URL and secret
/// replaced in place (validated whole, the name and type kept).
#[tokio::test]
async fn a_disabled_integration_is_enabled_and_changed_in_place() {
    use automations_core::store::IntegrationLookup;
    let t = TestApi::new().await;
    let before = t.webhook(&t.a, "hook").await;
    let mut doc = loss_doc("uses-hook");
    doc["action"] = json!({"type": "webhook", "integration": "hook"});
    t.automation(&t.a, doc).await;
    assert!(
        t.store
            .set_integration_disabled(
                &EntityId::new("acme"),
                &IntegrationName::new("hook"),
                Some("the endpoint answered 410 Gone")
            )
            .await
            .unwrap()
    );
    assert!(t.call("GET", "/v1/integrations/hook", &t.a, None).await.expect(200).json()["disabled"].is_string());

    let patch = json!({"url": "http://127.0.0.1:9/moved", "secret": "whsec-ROTATED", "access_token": null});
    let after = t.call("PATCH", "/v1/integrations/hook", &t.a, Some(patch)).await.expect(200).json();
    assert_eq!((&after["id"], &after["created_at"]), (&before["id"], &before["created_at"]));
    assert_eq!(after["url"], "http://127.0.0.1:9/moved");
    assert_eq!((&after["has_secret"], &after["has_access_token"]), (&json!(true), &json!(false)));
    assert!(after["disabled"].is_string(), "a patch does not re-enable: {after}");
    assert!(!after.to_string().contains("ROTATED"));
    let stored = t.store.get_integration(&EntityId::new("acme"), &IntegrationName::new("hook")).await.unwrap().unwrap();
    assert!(stored.to_stored_json().to_string().contains("whsec-ROTATED"));

    let enabled = t.call("POST", "/v1/integrations/hook/enable", &t.a, None).await.expect(200).json();
    assert_eq!(enabled["disabled"], serde_json::Value::Null);
    assert_eq!(
        t.store.get_integration(&EntityId::new("acme"), &IntegrationName::new("hook")).await.unwrap().unwrap().disabled,
        None
    );

    // Validated whole, fields named; the name and type stay; another entity's is a 404.
    let res = t.call("PATCH", "/v1/integrations/hook", &t.a, Some(json!({"url": "https://x.test:99999/"}))).await;
    assert_eq!(res.expect(400).paths(), ["url"]);
    let res = t.call("PATCH", "/v1/integrations/hook", &t.a, Some(json!({"type": "slack"}))).await;
    assert_eq!(res.expect(400).paths(), ["type"]);
    let res = t.call("PATCH", "/v1/integrations/hook", &t.a, Some(json!({"name": "renamed"}))).await;
    assert_eq!(res.expect(400).paths(), ["name"]);
    t.call("PATCH", "/v1/integrations/hook", &t.b, Some(json!({"url": "http://127.0.0.1:9/x"}))).await.expect(404);
    t.call("POST", "/v1/integrations/hook/enable", &t.b, None).await.expect(404);
    assert_eq!(
        t.store
            .get_integration(&EntityId::new("acme"), &IntegrationName::new("hook"))
            .await
            .unwrap()
            .unwrap()
            .to_stored_json()["url"],
        "http://127.0.0.1:9/moved"
    );
}

/// Tracking servers checked as `serve` checks them: every URI asked is kept; one containing
/// `nowhere` does not answer.
#[derive(Default)]
struct Checks(std::sync::Mutex<Vec<String>>);

impl automations_api::TrackingHooks for Checks {
    fn check<'a>(
        &'a self,
        integration: &'a automations_core::model::Integration,
    ) -> automations_api::BoxFuture<'a, Result<(), automations_api::HookError>> {
        let uri = integration.tracking().map(|t| t.uri.clone()).unwrap_or_default();
        self.0.lock().unwrap().push(uri.clone());
        Box::pin(
            async move { if uri.contains("nowhere") { Err(format!("cannot reach {uri}").into()) } else { Ok(()) } },
        )
    }

    fn status<'a>(
        &'a self,
        _integration: &'a automations_core::model::Integration,
    ) -> automations_api::BoxFuture<'a, Result<Option<serde_json::Map<String, Value>>, automations_api::HookError>>
    {
        Box::pin(async { Ok(None) })
    }
}

/// PATCH of an MLflow integration's tracking_uri (or its credentials) re-checks the server as a
/// create does: a server that does not answer is refused naming tracking_uri and nothing
/// changes; a patch that leaves the server alone asks it nothing.
#[tokio::test]
async fn patching_the_tracking_server_checks_it_again() {
    let checks = std::sync::Arc::new(Checks::default());
    let t = TestApi::with_tracking(checks.clone()).await;
    let doc = json!({"name": "ml", "type": "mlflow", "tracking_uri": "http://mlflow.test:5000", "token": "tk-1"});
    t.call("POST", "/v1/integrations", &t.a, Some(doc)).await.expect(201);
    let asked = || checks.0.lock().unwrap().clone();
    assert_eq!(asked(), ["http://mlflow.test:5000"]);

    let refused = t
        .call("PATCH", "/v1/integrations/ml", &t.a, Some(json!({"tracking_uri": "http://nowhere.test:5000"})))
        .await
        .expect(400);
    assert_eq!(refused.paths(), ["tracking_uri"], "{}", refused.text);
    assert!(refused.text.contains("cannot reach"), "{}", refused.text);
    let shown = t.call("GET", "/v1/integrations/ml", &t.a, None).await.expect(200).json();
    assert_eq!(shown["tracking_uri"], "http://mlflow.test:5000", "the refused patch changed nothing");

    t.call("PATCH", "/v1/integrations/ml", &t.a, Some(json!({"poll_seconds": 30}))).await.expect(200);
    assert_eq!(asked().len(), 2, "the server is not asked again when it did not change");
    t.call("PATCH", "/v1/integrations/ml", &t.a, Some(json!({"token": "tk-2"}))).await.expect(200);
    t.call("PATCH", "/v1/integrations/ml", &t.a, Some(json!({"tracking_uri": "http://moved.test:5000"})))
        .await
        .expect(200);
    assert_eq!(
        asked(),
        ["http://mlflow.test:5000", "http://nowhere.test:5000", "http://mlflow.test:5000", "http://moved.test:5000"]
    );
}
