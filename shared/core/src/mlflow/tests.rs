//! The MLflow bridge against deliveries captured from MLflow 3.17.2 (reference/mlflow-webhooks.md).

use super::*;
use crate::engine::Engine;
use crate::event::{Envelope, EventData};
use crate::model::{Automation, Location, TriggerKind};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

const SECRET: &str = "s3cr3t-probe-key";
const ID: &str = "87fcbe4e-f215-4269-ad9e-1523613f4ed8";
const TS: i64 = 1_795_748_846;

const REGISTERED_MODEL_CREATED: &str = r#"{"entity": "registered_model", "action": "created", "timestamp": "2026-11-27T03:07:26.371823+00:00", "data": {"name": "probe-model", "tags": {"team": "ml"}, "description": "probe desc"}}"#;
const VERSION_CREATED: &str = r#"{"entity": "model_version", "action": "created", "timestamp": "2026-11-27T03:07:27.935444+00:00", "data": {"name": "probe-model", "version": "1", "source": "<artifact-root>/1/aa7961004fb440a19be38ec84eab47fc/artifacts/model", "run_id": "aa7961004fb440a19be38ec84eab47fc", "tags": {"k": "v"}, "description": "v1 desc"}}"#;
const TAG_SET: &str = r#"{"entity": "model_version_tag", "action": "set", "timestamp": "2026-11-27T03:07:29.464804+00:00", "data": {"name": "probe-model", "version": "1", "key": "stage", "value": "candidate"}}"#;
const TAG_DELETED: &str = r#"{"entity": "model_version_tag", "action": "deleted", "timestamp": "2026-11-27T03:07:31.035996+00:00", "data": {"name": "probe-model", "version": "1", "key": "stage"}}"#;
const ALIAS_CREATED: &str = r#"{"entity": "model_version_alias", "action": "created", "timestamp": "2026-11-27T03:07:32.605563+00:00", "data": {"name": "probe-model", "alias": "champion", "version": "1"}}"#;
const ALIAS_DELETED: &str = r#"{"entity": "model_version_alias", "action": "deleted", "timestamp": "2026-11-27T03:07:34.167896+00:00", "data": {"name": "probe-model", "alias": "champion"}}"#;
const PROMPT_BODIES: &[&str] = &[
    r#"{"entity": "prompt", "action": "created", "timestamp": "2026-11-27T03:07:40.414517+00:00", "data": {"name": "probe-prompt", "tags": {"pt": "1"}, "description": "init"}}"#,
    r#"{"entity": "prompt_version", "action": "created", "timestamp": "2026-11-27T03:07:40.467387+00:00", "data": {"name": "probe-prompt", "version": "1", "template": "Hi {{name}}", "tags": {"pt": "1"}, "description": "init"}}"#,
    r#"{"entity": "prompt_tag", "action": "set", "timestamp": "2026-11-27T03:07:40.628426+00:00", "data": {"name": "probe-prompt", "key": "_mlflow_experiment_ids", "value": ",1,"}}"#,
    r#"{"entity": "prompt_tag", "action": "deleted", "timestamp": "2026-11-27T03:07:45.209014+00:00", "data": {"name": "probe-prompt", "key": "owner"}}"#,
    r#"{"entity": "prompt_version_tag", "action": "set", "timestamp": "2026-11-27T03:07:46.722946+00:00", "data": {"name": "probe-prompt", "version": "1", "key": "qa", "value": "ok"}}"#,
    r#"{"entity": "prompt_alias", "action": "created", "timestamp": "2026-11-27T03:07:49.812744+00:00", "data": {"name": "probe-prompt", "alias": "prod", "version": "1"}}"#,
    r#"{"entity": "prompt_alias", "action": "deleted", "timestamp": "2026-11-27T03:07:51.368437+00:00", "data": {"name": "probe-prompt", "alias": "prod"}}"#,
];

const TARGET: Target<'static> = Target { integration: "mlflow-prod", entity: "acme", registry: "models" };

/// The signature, computed here from the recipe rather than with the module's own `sign`.
fn signature(secret: &str, id: &str, ts: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

fn now() -> Timestamp {
    Timestamp(TS * 1000 + 2_500)
}

/// Receive `body` as MLflow would send it, signed with SECRET at TS.
fn deliver(body: &str) -> Result<Delivery, MlflowError> {
    let ts = TS.to_string();
    let sig = signature(SECRET, ID, &ts, body.as_bytes());
    let headers = Headers { delivery_id: Some(ID), timestamp: Some(&ts), signature: Some(&sig) };
    receive(&TARGET, SECRET.as_bytes(), &headers, body.as_bytes(), now())
}

fn events(body: &str) -> Vec<Envelope> {
    match deliver(body).unwrap().outcome {
        Outcome::Events(e) => e.into_iter().map(|m| m.envelope).collect(),
        other => panic!("expected events, got {other:?}"),
    }
}

fn artifact(env: &Envelope) -> &crate::event::ArtifactEvent {
    match &env.data {
        EventData::Artifact(a) => a,
        other => panic!("expected an artifact event, got {other:?}"),
    }
}

#[test]
fn a_captured_delivery_verifies_with_its_captured_signature() {
    let captured = "v1,ThwT/f4ZkbaSqRwIR8ZWoPS0nbPCs+SCvBcIGnAH+UU=";
    let ts = TS.to_string();
    assert_eq!(sign(SECRET.as_bytes(), ID, &ts, REGISTERED_MODEL_CREATED.as_bytes()), captured);
    let headers = Headers { delivery_id: Some(ID), timestamp: Some(&ts), signature: Some(captured) };
    assert_eq!(verify(SECRET.as_bytes(), &headers, REGISTERED_MODEL_CREATED.as_bytes(), now()), Ok(ID));
}

#[test]
fn version_created_is_a_link_into_the_registry_and_a_creation_in_its_collection() {
    let envs = events(VERSION_CREATED);
    assert_eq!(envs.len(), 2);
    let (link, create) = (&envs[0], &envs[1]);
    assert_eq!(link.id, ID);
    assert_eq!(create.id, format!("{ID}:created"));
    assert_eq!(link.source, "mlflow:mlflow-prod");
    assert_eq!(create.source, "mlflow:mlflow-prod");
    assert_eq!(link.event_type(), "artifact.version.linked");
    assert_eq!(create.event_type(), "artifact.version.created");
    assert_eq!(link.time, Timestamp::parse_rfc3339("2026-11-27T03:07:27.935Z").unwrap());
    for env in &envs {
        let a = artifact(env);
        assert_eq!(a.entity, "acme");
        assert_eq!(a.location, Location::Registry("models".into()));
        assert_eq!(a.collection, "probe-model");
        assert_eq!(a.collection_type, "model");
        assert_eq!(a.version, Some(1));
        assert_eq!(a.tags, vec!["k=v".to_string()]);
        assert_eq!(a.metadata["run_id"], "aa7961004fb440a19be38ec84eab47fc");
        assert_eq!(a.metadata["source"], "<artifact-root>/1/aa7961004fb440a19be38ec84eab47fc/artifacts/model");
        assert_eq!(a.metadata["description"], "v1 desc");
    }
    assert_eq!(artifact(link).trigger, TriggerKind::LinkArtifact);
    assert!(artifact(link).source.is_some());
    assert_eq!(artifact(create).trigger, TriggerKind::CreateArtifact);
}

#[test]
fn tags_become_key_equals_value_strings() {
    let added = events(TAG_SET);
    assert_eq!(added.len(), 1);
    assert_eq!(added[0].id, ID);
    assert_eq!(added[0].event_type(), "artifact.tag.added");
    let a = artifact(&added[0]);
    assert_eq!((a.tag.as_deref(), a.version, a.collection.as_str()), (Some("stage=candidate"), Some(1), "probe-model"));

    let removed = events(TAG_DELETED);
    assert_eq!(removed[0].event_type(), "artifact.tag.removed");
    assert_eq!(artifact(&removed[0]).tag.as_deref(), Some("stage="));
}

#[test]
fn alias_created_is_an_alias_added() {
    let envs = events(ALIAS_CREATED);
    assert_eq!(envs.len(), 1);
    assert_eq!(envs[0].event_type(), "artifact.alias.added");
    let a = artifact(&envs[0]);
    assert_eq!((a.alias.as_deref(), a.version), (Some("champion"), Some(1)));
}

#[test]
fn events_without_a_counterpart_are_acknowledged_not_errors() {
    for body in [REGISTERED_MODEL_CREATED, ALIAS_DELETED].iter().chain(PROMPT_BODIES) {
        let d = deliver(body).unwrap_or_else(|e| panic!("{body}: {e}"));
        assert!(matches!(d.outcome, Outcome::Ignored(_)), "{body}: {:?}", d.outcome);
        assert_eq!(d.delivery_id, ID);
    }
    assert_eq!(deliver(REGISTERED_MODEL_CREATED).unwrap().event, "registered_model.created");
    let future =
        r#"{"entity": "model_version", "action": "archived", "timestamp": "2026-11-27T03:07:26+00:00", "data": {}}"#;
    assert!(matches!(deliver(future).unwrap().outcome, Outcome::Ignored(_)));
    let budget = r#"{"entity": "budget_policy", "action": "exceeded", "timestamp": "2026-11-27T03:07:26+00:00", "data": {"budget_policy_id": "bp-1"}}"#;
    assert!(matches!(deliver(budget).unwrap().outcome, Outcome::Ignored(_)));
}

#[test]
fn mlflow_internal_tags_are_ignored() {
    let tag = r#"{"entity": "model_version_tag", "action": "set", "timestamp": "2026-11-27T03:07:29+00:00", "data": {"name": "m", "version": "2", "key": "_mlflow_source_run", "value": "x"}}"#;
    assert!(matches!(deliver(tag).unwrap().outcome, Outcome::Ignored(_)));
    let created = r#"{"entity": "model_version", "action": "created", "timestamp": "2026-11-27T03:07:29+00:00", "data": {"name": "m", "version": "2", "source": "s", "run_id": null, "tags": {"_mlflow_x": "1", "team": "ml", "empty": ""}, "description": null}}"#;
    let envs = events(created);
    let a = artifact(&envs[0]);
    assert_eq!(a.tags, vec!["team=ml".to_string(), "empty=".to_string()]);
    assert!(!a.metadata.contains_key("run_id") && !a.metadata.contains_key("description"));
    assert_eq!(a.version, Some(2));
}

#[test]
fn mlflow_test_deliveries_are_recognised() {
    let examples = [
        r#"{"entity": "model_version", "action": "created", "timestamp": "2026-11-27T03:10:00.000000+00:00", "data": {"name": "example_model", "version": "1", "source": "models:/123", "run_id": "abcd1234abcd5678", "tags": {"example_key": "example_value"}, "description": "An example model version"}}"#,
        r#"{"entity": "model_version_alias", "action": "created", "timestamp": "2026-11-27T03:10:00.000000+00:00", "data": {"name": "example_model", "alias": "example_alias", "version": "1"}}"#,
        r#"{"entity": "model_version_tag", "action": "deleted", "timestamp": "2026-11-27T03:10:00.000000+00:00", "data": {"name": "example_model", "version": "1", "key": "example_key"}}"#,
        r#"{"entity": "prompt_alias", "action": "created", "timestamp": "2026-11-27T03:10:00.000000+00:00", "data": {"name": "example_prompt", "alias": "example_alias", "version": "1"}}"#,
    ];
    for body in examples {
        assert_eq!(deliver(body).unwrap().outcome, Outcome::Test, "{body}");
    }
    // A real model that happens to be called example_model is evaluated like any other.
    let real = r#"{"entity": "model_version_alias", "action": "created", "timestamp": "2026-11-27T03:10:00+00:00", "data": {"name": "example_model", "alias": "production", "version": "4"}}"#;
    assert!(matches!(deliver(real).unwrap().outcome, Outcome::Events(_)));
}

fn with_headers(id: Option<&str>, ts: Option<&str>, sig: Option<&str>, body: &str, at: Timestamp) -> MlflowError {
    let headers = Headers { delivery_id: id, timestamp: ts, signature: sig };
    let err = receive(&TARGET, SECRET.as_bytes(), &headers, body.as_bytes(), at).unwrap_err();
    assert!(err.is_unauthenticated(), "{err}");
    err
}

#[test]
fn bad_signatures_are_refused_with_a_reason() {
    let ts = TS.to_string();
    let good = signature(SECRET, ID, &ts, TAG_SET.as_bytes());
    let wrong_secret = signature("another-secret", ID, &ts, TAG_SET.as_bytes());
    let err = with_headers(Some(ID), Some(&ts), Some(&wrong_secret), TAG_SET, now());
    assert!(matches!(err, MlflowError::BadSignature(_)));
    assert!(err.to_string().contains("secret"), "{err}");

    let tampered = TAG_SET.replace("candidate", "candidatf");
    assert!(matches!(with_headers(Some(ID), Some(&ts), Some(&good), &tampered, now()), MlflowError::BadSignature(_)));
    // The id and timestamp are signed too.
    let other_id = "00000000-f215-4269-ad9e-1523613f4ed8";
    assert!(matches!(
        with_headers(Some(other_id), Some(&ts), Some(&good), TAG_SET, now()),
        MlflowError::BadSignature(_)
    ));
    let next = (TS + 1).to_string();
    assert!(matches!(with_headers(Some(ID), Some(&next), Some(&good), TAG_SET, now()), MlflowError::BadSignature(_)));

    let err = with_headers(Some(ID), Some(&ts), None, TAG_SET, now());
    assert!(matches!(err, MlflowError::MissingHeader { header: HEADER_SIGNATURE, .. }), "{err}");
    assert!(err.to_string().contains("X-MLflow-Signature"));
    let err = with_headers(None, Some(&ts), Some(&good), TAG_SET, now());
    assert!(matches!(err, MlflowError::MissingHeader { header: HEADER_DELIVERY_ID, .. }), "{err}");
    let err = with_headers(Some(ID), None, Some(&good), TAG_SET, now());
    assert!(matches!(err, MlflowError::MissingHeader { header: HEADER_TIMESTAMP, .. }), "{err}");
    let err = with_headers(Some(ID), Some("yesterday"), Some(&good), TAG_SET, now());
    assert!(matches!(err, MlflowError::BadHeader { header: HEADER_TIMESTAMP, .. }), "{err}");
    let err = with_headers(Some(""), Some(&ts), Some(&good), TAG_SET, now());
    assert!(matches!(err, MlflowError::BadHeader { header: HEADER_DELIVERY_ID, .. }), "{err}");

    let v2 = good.replacen("v1,", "v2,", 1);
    let err = with_headers(Some(ID), Some(&ts), Some(&v2), TAG_SET, now());
    assert!(err.to_string().contains("no v1 signature"), "{err}");
    let err = with_headers(Some(ID), Some(&ts), Some("v1,!!!not-base64"), TAG_SET, now());
    assert!(matches!(err, MlflowError::BadSignature(_)));
    let truncated = &good[..good.len() - 4];
    assert!(matches!(with_headers(Some(ID), Some(&ts), Some(truncated), TAG_SET, now()), MlflowError::BadSignature(_)));

    // Several space-separated signatures (secret rotation): one matching is enough.
    let both = format!("{wrong_secret} {good}");
    let headers = Headers { delivery_id: Some(ID), timestamp: Some(&ts), signature: Some(&both) };
    assert!(receive(&TARGET, SECRET.as_bytes(), &headers, TAG_SET.as_bytes(), now()).is_ok());
}

#[test]
fn the_timestamp_must_be_within_five_minutes() {
    let ts = TS.to_string();
    let sig = signature(SECRET, ID, &ts, TAG_SET.as_bytes());
    let headers = Headers { delivery_id: Some(ID), timestamp: Some(&ts), signature: Some(&sig) };
    let at = |ms: i64| receive(&TARGET, SECRET.as_bytes(), &headers, TAG_SET.as_bytes(), Timestamp(TS * 1000 + ms));
    assert!(at(300_000).is_ok(), "exactly five minutes later");
    assert!(at(-300_000).is_ok(), "five minutes ahead of our clock");
    let err = at(301_000).unwrap_err();
    assert_eq!(err, MlflowError::StaleTimestamp { timestamp: TS, skew_secs: 301 });
    assert!(err.to_string().contains("301 s") && err.to_string().contains("300 s"), "{err}");
    assert!(err.is_unauthenticated());
    assert!(matches!(at(-301_000), Err(MlflowError::StaleTimestamp { skew_secs: -301, .. })));
}

#[test]
fn malformed_bodies_name_the_field() {
    let cases = [
        ("{not json", ""),
        ("[1, 2]", ""),
        (r#"{"entity": "model_version", "action": "created", "data": {}}"#, "timestamp"),
        (r#"{"entity": "model_version", "action": "created", "timestamp": "2026-11-27T03:07:29+00:00"}"#, "data"),
        (
            r#"{"entity": "model_version", "action": "created", "timestamp": "2026-11-27T03:07:29+00:00", "data": []}"#,
            "data",
        ),
        (
            r#"{"entity": "model_version", "action": "created", "timestamp": "2026-11-27T03:07:29+00:00", "data": {"name": "m", "source": "s"}}"#,
            "data.version",
        ),
        (
            r#"{"entity": "model_version", "action": "created", "timestamp": "2026-11-27T03:07:29+00:00", "data": {"name": "m", "version": "v-one"}}"#,
            "data.version",
        ),
        (
            r#"{"entity": "model_version", "action": "created", "timestamp": "2026-11-27T03:07:29+00:00", "data": {"name": "m", "version": "1", "tags": ["a"]}}"#,
            "data.tags",
        ),
        (
            r#"{"entity": "model_version", "action": "created", "timestamp": "2026-11-27T03:07:29+00:00", "data": {"name": "m", "version": "1", "tags": {"a": 1}}}"#,
            "data.tags.a",
        ),
        (
            r#"{"entity": "model_version_tag", "action": "set", "timestamp": "2026-11-27T03:07:29+00:00", "data": {"name": "m", "version": "1"}}"#,
            "data.key",
        ),
        (
            r#"{"entity": "model_version_alias", "action": "created", "timestamp": "2026-11-27T03:07:29+00:00", "data": {"name": "", "alias": "a", "version": "1"}}"#,
            "data.name",
        ),
        (
            r#"{"entity": "model_version_alias", "action": "created", "timestamp": "yesterday", "data": {"name": "m", "alias": "a", "version": "1"}}"#,
            "timestamp",
        ),
    ];
    for (body, path) in cases {
        let err = deliver(body).unwrap_err();
        let MlflowError::Malformed(invalid) = &err else { panic!("{body}: expected malformed, got {err}") };
        assert!(!err.is_unauthenticated());
        assert!(invalid.errors.iter().any(|e| e.path == path), "{body}: wanted an error at {path:?}, got {err}");
    }
}

#[test]
fn a_retried_delivery_maps_to_the_same_envelopes() {
    assert_eq!(deliver(VERSION_CREATED).unwrap(), deliver(VERSION_CREATED).unwrap());
}

fn automation(id: &str, event: Value) -> Automation {
    let doc = json!({
        "name": id,
        "scope": {"type": "registry", "entity": "acme", "registry": "models"},
        "event": event,
        "action": {"type": "none"},
    });
    Automation::from_create(id, &doc).unwrap()
}

#[test]
fn filters_on_mapped_events_read_naturally() {
    let collection_scoped = Automation::from_create(
        "on-create",
        &json!({
            "name": "on-create",
            "scope": {"type": "collection", "entity": "acme", "registry": "models", "collection": "probe-model"},
            "event": {"type": "CREATE_ARTIFACT"},
            "action": {"type": "none"},
        }),
    )
    .unwrap();
    let engine = Engine::new([
        automation("stage-any", json!({"type": "ADD_ARTIFACT_TAG", "filter": {"tag": {"$regex": "^stage="}}})),
        automation("stage-prod", json!({"type": "ADD_ARTIFACT_TAG", "filter": {"tag": "stage=production"}})),
        automation("stage-removed", json!({"type": "REMOVE_ARTIFACT_TAG", "filter": {"tag": "stage="}})),
        automation("prod-alias", json!({"type": "ADD_ARTIFACT_ALIAS", "filter": {"alias": {"$regex": "^prod"}}})),
        automation("champion", json!({"type": "ADD_ARTIFACT_ALIAS", "filter": {"alias": "champion"}})),
        automation("linked-team-ml", json!({"type": "LINK_ARTIFACT", "filter": {"tag": "team=ml"}})),
        automation("linked-k", json!({"type": "LINK_ARTIFACT", "filter": {"tag": {"$regex": "^k="}}})),
        collection_scoped,
    ]);
    let fired = |body: &str| -> Vec<String> {
        let mut names: Vec<String> =
            events(body).iter().flat_map(|env| engine.evaluate(env, None).fires).map(|f| f.automation_name).collect();
        names.sort();
        names
    };
    assert_eq!(fired(TAG_SET), vec!["stage-any"]);
    assert_eq!(fired(&TAG_SET.replace("candidate", "production")), vec!["stage-any", "stage-prod"]);
    assert_eq!(fired(TAG_DELETED), vec!["stage-removed"]);
    assert_eq!(fired(ALIAS_CREATED), vec!["champion"]);
    assert_eq!(fired(&ALIAS_CREATED.replace("champion", "production")), vec!["prod-alias"]);
    assert_eq!(fired(VERSION_CREATED), vec!["linked-k", "on-create"]);
}

#[test]
fn the_mlflow_integration_kind_keeps_its_secret_write_only() {
    use crate::model::Integration;
    let doc = json!({"name": "mlflow-prod", "type": "mlflow", "secret": "hunter2-mlflow", "registry": "models"});
    let i = Integration::from_create("in_1", "acme", &doc, Timestamp(0)).unwrap();
    let public = i.to_public_json();
    assert_eq!(public["type"], "mlflow");
    assert_eq!(public["registry"], "models");
    assert_eq!(public["has_secret"], true);
    assert!(!public.to_string().contains("hunter2") && !format!("{i:?}").contains("hunter2"), "{public}");
    assert_eq!(i.to_stored_json(), doc);
    let back = Integration::from_stored("in_1", "acme", &doc, None, Timestamp(0)).unwrap();
    assert_eq!(back.kind, i.kind);
    assert_eq!(i.secrets().len(), 1);

    let (target, secret) = integration_target(&i).expect("an mlflow integration has a target");
    assert_eq!(target, Target { integration: "mlflow-prod", entity: "acme", registry: "models" });
    assert_eq!(target.source(), "mlflow:mlflow-prod");
    assert_eq!(secret.expose(), "hunter2-mlflow");
    let hook = json!({"name": "h", "type": "webhook", "url": "https://x.test/h"});
    assert!(integration_target(&Integration::from_create("in_2", "acme", &hook, Timestamp(0)).unwrap()).is_none());

    let paths = |doc: Value| -> Vec<String> {
        let e = Integration::from_create("in_1", "acme", &doc, Timestamp(0)).unwrap_err();
        e.errors.into_iter().map(|e| e.path).collect()
    };
    assert_eq!(paths(json!({"name": "m", "type": "mlflow", "registry": "models"})), ["secret"]);
    assert_eq!(paths(json!({"name": "m", "type": "mlflow", "secret": "s"})), ["registry"]);
    assert_eq!(paths(json!({"name": "m", "type": "mlflow", "secret": "", "registry": " "})), ["secret", "registry"]);
    assert_eq!(
        paths(json!({"name": "m", "type": "mlflow", "secret": "s", "registry": "r", "url": "https://x"})),
        ["url"]
    );
    let e = Integration::from_create(
        "in_1",
        "acme",
        &json!({"name": "m", "type": "mlflow", "registry": "r"}),
        Timestamp(0),
    )
    .unwrap_err();
    assert!(e.to_string().contains("signature"), "{e}");
}

#[test]
fn the_envelope_text_is_the_envelope() {
    for body in [VERSION_CREATED, TAG_SET, TAG_DELETED, ALIAS_CREATED] {
        let Outcome::Events(mapped) = deliver(body).unwrap().outcome else { panic!("{body}: expected events") };
        for m in mapped {
            assert_eq!(crate::event::parse_envelope(&m.text).unwrap(), m.envelope, "{}", m.text);
        }
    }
}
