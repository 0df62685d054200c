//! `openapi.yaml` is kept true: its operations are exactly the router's routes; every request
//! example validates against its schema and is accepted by the router; and every response the
//! router gives in a walk over all routes (successes and refusals) has a documented status,
//! content type and a body that validates against the documented schema.

use crate::common::{Resp, TestApi};
use automations_api::ROUTES;
use serde_json::{Value, json};
use std::collections::BTreeSet;

fn document() -> Value {
    let path = format!("{}/../../openapi.yaml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path} is not YAML: {e}"))
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn operation<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    let op = &doc["paths"][path][method.to_ascii_lowercase()];
    assert!(op.is_object(), "openapi.yaml has no {method} {path}");
    op
}

/// Follow `$ref`s (local ones only: `#/components/...`).
fn resolve<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    while let Some(r) = v.get("$ref").and_then(Value::as_str) {
        let mut target = doc;
        for part in r.trim_start_matches("#/").split('/') {
            target = &target[part];
        }
        assert!(!target.is_null(), "dangling $ref {r}");
        v = target;
    }
    v
}

/// The JSON Schema keywords openapi.yaml uses. Returns the first violation, with its path.
fn validate(doc: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let s = resolve(doc, schema);
    let fail = |why: String| Err(format!("{at}: {why} (value {v})"));
    if let Some(types) = s.get("type") {
        let names: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = names.iter().any(|t| match *t {
            "object" => v.is_object(),
            "array" => v.is_array(),
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "null" => v.is_null(),
            _ => false,
        });
        if !ok {
            return fail(format!("expected type {names:?}"));
        }
    }
    if let Some(c) = s.get("const")
        && c != v
    {
        return fail(format!("expected {c}"));
    }
    if let Some(Value::Array(options)) = s.get("enum")
        && !options.contains(v)
    {
        return fail(format!("expected one of {options:?}"));
    }
    if let Some(n) = v.as_f64() {
        if s.get("minimum").and_then(Value::as_f64).is_some_and(|m| n < m) {
            return fail("below minimum".into());
        }
        if s.get("maximum").and_then(Value::as_f64).is_some_and(|m| n > m) {
            return fail("above maximum".into());
        }
        if s.get("exclusiveMinimum").and_then(Value::as_f64).is_some_and(|m| n <= m) {
            return fail("not above exclusiveMinimum".into());
        }
    }
    if let Some(text) = v.as_str() {
        let len = text.chars().count() as u64;
        if s.get("minLength").and_then(Value::as_u64).is_some_and(|m| len < m) {
            return fail("shorter than minLength".into());
        }
        if s.get("maxLength").and_then(Value::as_u64).is_some_and(|m| len > m) {
            return fail("longer than maxLength".into());
        }
        if let Some(p) = s.get("pattern").and_then(Value::as_str)
            && !regex::Regex::new(p).unwrap().is_match(text)
        {
            return fail(format!("does not match {p}"));
        }
    }
    if let Value::Object(o) = v {
        for r in s.get("required").and_then(Value::as_array).into_iter().flatten() {
            let name = r.as_str().unwrap();
            if !o.contains_key(name) {
                return fail(format!("missing required {name}"));
            }
        }
        let props = s.get("properties").and_then(Value::as_object);
        for (k, item) in o {
            let at = format!("{at}.{k}");
            match (props.and_then(|p| p.get(k)), s.get("additionalProperties")) {
                (Some(ps), _) => validate(doc, ps, item, &at)?,
                (None, Some(Value::Bool(false))) => return Err(format!("{at}: not a documented property")),
                (None, Some(extra @ Value::Object(_))) => validate(doc, extra, item, &at)?,
                _ => {}
            }
        }
    }
    if let Value::Array(items) = v {
        if s.get("minItems").and_then(Value::as_u64).is_some_and(|m| (items.len() as u64) < m) {
            return fail("fewer than minItems".into());
        }
        if let Some(is) = s.get("items") {
            for (i, item) in items.iter().enumerate() {
                validate(doc, is, item, &format!("{at}[{i}]"))?;
            }
        }
    }
    for part in s.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        validate(doc, part, v, at)?;
    }
    if let Some(Value::Array(options)) = s.get("oneOf") {
        let passing = options.iter().filter(|o| validate(doc, o, v, at).is_ok()).count();
        if passing != 1 {
            return fail(format!("matches {passing} of the oneOf alternatives, not exactly 1"));
        }
    }
    Ok(())
}

#[test]
fn the_document_describes_exactly_the_routes() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if item.get(method).is_some() {
                documented.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    let served: BTreeSet<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(documented, served, "openapi.yaml and the router disagree");
    for (method, path) in ROUTES {
        let op = operation(&doc, method, path);
        let responses = op["responses"].as_object().unwrap();
        let open = op.get("security").is_some_and(|s| s.as_array().is_some_and(Vec::is_empty));
        if !open {
            assert!(responses.contains_key("401"), "{method} {path} must document 401");
        }
        if op.get("requestBody").is_some() {
            for code in ["400", "413"] {
                assert!(responses.contains_key(code), "{method} {path} takes a body: it must document {code}");
            }
        }
        if path.contains("{id}") || path.contains("{name}") {
            assert!(responses.contains_key("404"), "{method} {path} must document 404");
        }
    }
}

/// Check one response against the operation's documentation.
fn conforms(doc: &Value, method: &str, path: &str, res: &Resp) {
    let op = operation(doc, method, path);
    let code = res.status.as_u16().to_string();
    let documented = resolve(doc, &op["responses"][&code]);
    assert!(documented.is_object(), "{method} {path} answered {code}, which is not documented: {}", res.text);
    let Some(content) = documented.get("content").and_then(Value::as_object) else {
        assert!(res.text.is_empty(), "{method} {path} {code} has no documented body but sent {}", res.text);
        return;
    };
    let ct = res.content_type().to_string();
    let media = content.get(&ct).unwrap_or_else(|| panic!("{method} {path} {code}: undocumented content type {ct}"));
    validate(doc, &media["schema"], &res.json(), "$")
        .unwrap_or_else(|e| panic!("{method} {path} {code} does not match openapi.yaml: {e}\n{}", res.text));
    for (name, _) in documented.get("headers").and_then(Value::as_object).into_iter().flatten() {
        assert!(res.headers.contains_key(name.to_ascii_lowercase().as_str()), "{method} {path} {code}: missing {name}");
    }
}

/// Every example of every request body validates and is accepted (2xx, conforming response).
#[tokio::test]
async fn request_examples_validate_and_are_accepted() {
    let doc = document();
    let t = TestApi::new().await;
    let examples = |method: &str, path: &str| -> Vec<(String, Value, Value)> {
        let op = operation(&doc, method, path);
        let media = &op["requestBody"]["content"]["application/json"];
        media["examples"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path}: its body has no examples"))
            .iter()
            .map(|(n, e)| (n.clone(), e["value"].clone(), media["schema"].clone()))
            .collect()
    };
    // In an order where each example's prerequisites exist (integrations before automations).
    let mut threshold_id = String::new();
    for (method, path) in [
        ("POST", "/v1/integrations"),
        ("POST", "/v1/automations"),
        ("POST", "/v1/automations/preview"),
        ("PATCH", "/v1/automations/{id}"),
        ("POST", "/v1/automations/{id}/backtest"),
        ("POST", "/v1/import/wandb"),
        ("POST", "/v1/events"),
        ("POST", "/graphql"),
    ] {
        for (name, value, schema) in examples(method, path) {
            validate(&doc, &schema, &value, "$").unwrap_or_else(|e| panic!("{method} {path} example {name}: {e}"));
            let res = t.call(method, &path.replace("{id}", &threshold_id), &t.a, Some(value)).await;
            assert!(res.status.is_success(), "{method} {path} example {name}: {}", res.text);
            conforms(&doc, method, path, &res);
            if name == "threshold" {
                threshold_id = res.json()["id"].as_str().unwrap().to_string();
            }
        }
    }
    // Every route with a request body has examples (checked above), and was visited.
    for (method, path) in ROUTES {
        let op = operation(&doc, method, path);
        if op["requestBody"]["content"]["application/json"]["schema"]["type"] == "object"
            && op["requestBody"]["content"]["application/json"].get("examples").is_none()
        {
            // A free-form body (the MLflow webhook's) is the sender's, not ours to exemplify.
            assert!(path.starts_with("/v1/mlflow/"), "{method} {path}: no examples");
        }
    }
}

/// Walk every route with good and bad requests; each answer must be documented as given.
#[tokio::test]
async fn responses_conform_to_the_document() {
    let doc = document();
    let t = TestApi::new().await;
    let mut seen = BTreeSet::new();
    let mut check = |method: &'static str, path: &'static str, res: Resp| {
        conforms(&doc, method, path, &res);
        seen.insert((method, path));
        res
    };
    let hook = json!({"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/h", "secret": "s"});
    check("POST", "/v1/integrations", t.call("POST", "/v1/integrations", &t.a, Some(hook.clone())).await.expect(201));
    check("POST", "/v1/integrations", t.call("POST", "/v1/integrations", &t.a, Some(hook)).await.expect(409));
    check("POST", "/v1/integrations", t.call("POST", "/v1/integrations", &t.a, Some(json!({}))).await.expect(400));
    let slack = json!({"name": "chan", "type": "slack", "url": "https://hooks.slack.test/x", "channel": "c"});
    check("POST", "/v1/integrations", t.call("POST", "/v1/integrations", &t.a, Some(slack)).await.expect(201));
    check("GET", "/v1/integrations", t.call("GET", "/v1/integrations?limit=1", &t.a, None).await.expect(200));
    check("GET", "/v1/integrations", t.call("GET", "/v1/integrations?limit=0", &t.a, None).await.expect(400));
    check("GET", "/v1/integrations/{name}", t.call("GET", "/v1/integrations/hook", &t.a, None).await.expect(200));
    check("GET", "/v1/integrations/{name}", t.call("GET", "/v1/integrations/chan", &t.a, None).await.expect(200));
    check("GET", "/v1/integrations/{name}", t.call("GET", "/v1/integrations/nope", &t.a, None).await.expect(404));
    let moved = json!({"url": "http://127.0.0.1:9/moved"});
    check(
        "PATCH",
        "/v1/integrations/{name}",
        t.call("PATCH", "/v1/integrations/hook", &t.a, Some(moved)).await.expect(200),
    );
    let bad = json!({"url": "ftp://x"});
    check(
        "PATCH",
        "/v1/integrations/{name}",
        t.call("PATCH", "/v1/integrations/hook", &t.a, Some(bad)).await.expect(400),
    );
    let none = json!({"url": "http://127.0.0.1:9/x"});
    check(
        "PATCH",
        "/v1/integrations/{name}",
        t.call("PATCH", "/v1/integrations/nope", &t.a, Some(none)).await.expect(404),
    );
    let enable = "/v1/integrations/{name}/enable";
    check("POST", enable, t.call("POST", "/v1/integrations/hook/enable", &t.a, None).await.expect(200));
    check("POST", enable, t.call("POST", "/v1/integrations/nope/enable", &t.a, None).await.expect(404));

    let metric = json!({"name": "m", "scope": {"type": "project", "project": "mnist"},
        "event": {"type": "RUN_METRIC_CHANGE", "metric": {"name": "loss", "agg": "MIN", "current_window": 2,
                  "prior_window": 3, "change_dir": "INCREASE", "amount": 0.5}},
        "action": {"type": "webhook", "integration": "hook", "payload": "{\"run\": \"${run_name}\"}"}});
    let res = check(
        "POST",
        "/v1/automations",
        t.call("POST", "/v1/automations", &t.a, Some(metric.clone())).await.expect(201),
    );
    let id = res.json()["id"].as_str().unwrap().to_string();
    check("POST", "/v1/automations", t.call("POST", "/v1/automations", &t.a, Some(metric)).await.expect(409));
    let zscore = json!({"name": "z", "description": "d", "scope": {"type": "entity"},
        "event": {"type": "RUN_METRIC_ZSCORE", "metric": {"name": "acc"}, "run_filter": {"tags": {"$in": ["a"]}}},
        "action": {"type": "slack", "integration": "chan", "title": "t", "message": "m", "severity": "WARN"}});
    check("POST", "/v1/automations", t.call("POST", "/v1/automations", &t.a, Some(zscore)).await.expect(201));
    let state = json!({"name": "s", "scope": {"type": "collection", "registry": "model", "collection": "c"},
        "event": {"type": "LINK_ARTIFACT", "filter": {"alias": "prod"}}, "action": {"type": "none"}});
    check("POST", "/v1/automations", t.call("POST", "/v1/automations", &t.a, Some(state)).await.expect(201));
    check(
        "POST",
        "/v1/automations",
        t.call("POST", "/v1/automations", &t.a, Some(json!({"name": 1}))).await.expect(400),
    );
    let foreign = json!({"name": "f", "scope": {"type": "entity", "entity": "other"}, "event": {"type": "ADD_ARTIFACT_TAG"}, "action": {"type": "none"}});
    check("POST", "/v1/automations", t.call("POST", "/v1/automations", &t.a, Some(foreign)).await.expect(403));
    check(
        "POST",
        "/v1/automations",
        t.raw("POST", "/v1/automations", Some(&t.a), "x".repeat(1 << 21)).await.expect(413),
    );
    check("POST", "/v1/automations", t.raw("POST", "/v1/automations", None, "{}").await.expect(401));
    let pv = "/v1/automations/preview";
    let preview = json!({"name": "p", "scope": {"type": "project", "project": "mnist"},
        "event": {"type": "RUN_METRIC_THRESHOLD", "metric": {"name": "loss", "cmp": "$gt", "threshold": 1}},
        "action": {"type": "webhook", "integration": "hook", "payload": "{\"run\": \"${run_name}\"}"}});
    let res = check("POST", pv, t.call("POST", pv, &t.a, Some(preview)).await.expect(200));
    assert_eq!(res.json()["body"], "{\"run\": \"example-run-name\"}", "{}", res.text);
    assert_eq!(res.json()["variables"]["alias"], Value::Null);
    check("POST", pv, t.call("POST", pv, &t.a, Some(json!({"name": ""}))).await.expect(400));
    check("GET", "/v1/automations", t.call("GET", "/v1/automations?limit=2", &t.a, None).await.expect(200));
    check("GET", "/v1/automations", t.call("GET", "/v1/automations?scope=x", &t.a, None).await.expect(400));

    let one = format!("/v1/automations/{id}");
    check("GET", "/v1/automations/{id}", t.call("GET", &one, &t.a, None).await.expect(200));
    check("GET", "/v1/automations/{id}", t.call("GET", "/v1/automations/au_x", &t.a, None).await.expect(404));
    check(
        "PATCH",
        "/v1/automations/{id}",
        t.call("PATCH", &one, &t.a, Some(json!({"enabled": false}))).await.expect(200),
    );
    check("PATCH", "/v1/automations/{id}", t.call("PATCH", &one, &t.a, Some(json!({"name": "z"}))).await.expect(409));
    check("PATCH", "/v1/automations/{id}", t.call("PATCH", &one, &t.a, Some(json!({"name": ""}))).await.expect(400));
    check(
        "PATCH",
        "/v1/automations/{id}",
        t.call("PATCH", "/v1/automations/au_x", &t.a, Some(json!({}))).await.expect(404),
    );
    let into_other = json!({"scope": {"entity": "other"}});
    check("PATCH", "/v1/automations/{id}", t.call("PATCH", &one, &t.a, Some(into_other)).await.expect(403));
    for (route, method) in [("/v1/automations/{id}/enable", "POST"), ("/v1/automations/{id}/disable", "POST")] {
        let path = route.replace("{id}", &id);
        check(method, route, t.call(method, &path, &t.a, None).await.expect(200));
        check(method, route, t.call(method, &route.replace("{id}", "au_x"), &t.a, None).await.expect(404));
    }
    let ex = "/v1/automations/{id}/executions";
    check("GET", ex, t.call("GET", &ex.replace("{id}", &id), &t.a, None).await.expect(501));
    check("GET", ex, t.call("GET", &ex.replace("{id}", "au_x"), &t.a, None).await.expect(404));
    check("GET", ex, t.call("GET", &format!("{}?limit=x", ex.replace("{id}", &id)), &t.a, None).await.expect(400));
    let test = "/v1/automations/{id}/test";
    check("POST", test, t.call("POST", &test.replace("{id}", &id), &t.a, None).await.expect(501));
    check("POST", test, t.call("POST", &test.replace("{id}", "au_x"), &t.a, None).await.expect(404));
    let bt = "/v1/automations/{id}/backtest";
    let rows: Vec<Value> =
        (1..=6).map(|i| json!({"step": i, "values": {"loss": if i > 4 { 9.0 } else { 1.0 }}})).collect();
    let history = json!({"history": rows, "cooldown": false});
    let res = check("POST", bt, t.call("POST", &bt.replace("{id}", &id), &t.a, Some(history)).await.expect(200));
    assert_eq!(res.json()["fires"][0]["step"], 6, "{}", res.text);
    check("POST", bt, t.call("POST", &bt.replace("{id}", &id), &t.a, Some(json!({}))).await.expect(400));
    check("POST", bt, t.call("POST", &bt.replace("{id}", "au_x"), &t.a, Some(json!({}))).await.expect(404));

    check("DELETE", "/v1/integrations/{name}", t.call("DELETE", "/v1/integrations/hook", &t.a, None).await.expect(409));
    check("DELETE", "/v1/automations/{id}", t.call("DELETE", &one, &t.a, None).await.expect(204));
    check("DELETE", "/v1/automations/{id}", t.call("DELETE", &one, &t.a, None).await.expect(404));
    check("DELETE", "/v1/integrations/{name}", t.call("DELETE", "/v1/integrations/hook", &t.a, None).await.expect(204));
    check("DELETE", "/v1/integrations/{name}", t.call("DELETE", "/v1/integrations/hook", &t.a, None).await.expect(404));

    let import = json!({"scope": {"type": "entity"}, "input": {}});
    check("POST", "/v1/import/wandb", t.call("POST", "/v1/import/wandb", &t.a, Some(import)).await.expect(400));
    let gql = "/graphql";
    let viewer = json!({"query": "query Viewer { viewer { id entity } }", "operationName": ""});
    let res = check("POST", gql, t.call("POST", gql, &t.a, Some(viewer)).await.expect(200));
    assert_eq!(res.json()["data"]["viewer"]["entity"], "acme", "{}", res.text);
    let res = check("POST", gql, t.call("POST", gql, &t.a, Some(json!({"query": "{"}))).await);
    assert_eq!(res.status.as_u16(), 400, "{}", res.text);
    let delete = json!({"query": "mutation D($id: ID!) { deleteTrigger(input: {triggerID: $id}) { success } }",
                        "variables": {"id": "au_x"}});
    let res = check("POST", gql, t.call("POST", gql, &t.a, Some(delete)).await);
    assert_eq!(res.status.as_u16(), 404, "{}", res.text);
    let events = "/v1/events";
    let good = json!({"specversion": "1.0", "id": "e", "source": "s", "type": "run.heartbeat",
                      "time": "2026-11-01T12:00:00Z", "data": {"entity": "acme", "project": "p", "run_id": "r"}});
    check("POST", events, t.call("POST", events, &t.a, Some(json!([good, {"id": 5}]))).await.expect(202));
    check("POST", events, t.call("POST", events, &t.a, Some(json!([{"id": 5}]))).await.expect(400));
    check("POST", events, t.raw("POST", events, Some(&t.a), "").await.expect(400));
    check("GET", "/v1/health", t.raw("GET", "/v1/health", None, "").await.expect(200));
    let logged = crate::common::metrics("acme", "hist-1", 1, &[0.5, 0.7]);
    check("POST", events, t.call("POST", events, &t.a, Some(json!([logged]))).await.expect(202));
    check("GET", "/v1/runs", t.call("GET", "/v1/runs?project=mnist", &t.a, None).await.expect(200));
    check("GET", "/v1/runs", t.call("GET", "/v1/runs", &t.a, None).await.expect(400));
    let m = "/v1/runs/{entity}/{project}/{run_id}/metrics/{name}";
    check("GET", m, t.call("GET", "/v1/runs/acme/mnist/r1/metrics/loss", &t.a, None).await.expect(200));
    check("GET", m, t.call("GET", "/v1/runs/acme/mnist/r1/metrics/nope", &t.a, None).await.expect(404));

    for (method, path) in ROUTES {
        if path.starts_with("/v1/mlflow/") {
            continue; // its own tests cover it (tests/mlflow_intake.rs)
        }
        assert!(seen.contains(&(*method, *path)), "the walk did not visit {method} {path}");
    }
}

#[test]
fn the_validator_catches_what_it_checks() {
    let doc = json!({"components": {"schemas": {"N": {"type": "integer", "minimum": 1}}}});
    let schema = json!({"type": "object", "required": ["a"], "additionalProperties": false,
                        "properties": {"a": {"$ref": "#/components/schemas/N"}, "b": {"type": ["string", "null"], "enum": ["x", null]}}});
    assert!(validate(&doc, &schema, &json!({"a": 1, "b": null}), "$").is_ok());
    for bad in [json!({}), json!({"a": 0}), json!({"a": 1, "c": 1}), json!({"a": 1, "b": "y"}), json!({"a": "1"})] {
        assert!(validate(&doc, &schema, &bad, "$").is_err(), "{bad}");
    }
    let one_of = json!({"oneOf": [{"type": "integer"}, {"type": "number"}]});
    assert!(validate(&doc, &one_of, &json!(1), "$").is_err(), "1 is both an integer and a number");
    assert!(validate(&doc, &one_of, &json!(1.5), "$").is_ok());
}
