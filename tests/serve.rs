//! `automations serve` and `automations keys create` end to end over real HTTP on loopback, and
//! the same requests through the Lambda adapter (`lambda_http`'s API Gateway HTTP API v2
//! conversion driving the same router) giving the same responses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod server;

use automations_api::{Api, LocalSink, NoDelivery};
use automations_core::AutomationId;
use automations_sqlite::SqliteStore;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_http::request::LambdaRequest;
use lambda_http::tower::ServiceExt;
use lambda_http::{Adapter, Context, LambdaEvent};
use serde_json::{Value, json};
use server::{Response, Served, create_key};
use std::sync::Arc;

fn loss_automation(name: &str) -> Value {
    json!({"name": name, "scope": {"type": "project", "project": "mnist"},
           "event": {"type": "RUN_METRIC_THRESHOLD", "metric": {"name": "loss", "cmp": "$gt", "threshold": 1}},
           "action": {"type": "webhook", "integration": "hook"}})
}

fn metrics(id: &str, step: i64, loss: &str) -> String {
    format!(
        r#"{{"specversion":"1.0","id":"{id}","source":"trainer","type":"run.metrics.logged","time":"2026-11-01T12:00:00Z",
            "data":{{"entity":"acme","project":"mnist","run_id":"r1","rows":[{{"step":{step},"values":{{"loss":{loss}}}}}]}}}}"#
    )
}

#[test]
fn serve_end_to_end_and_across_a_restart() {
    let s = Served::start();
    assert_eq!(s.client().send("GET", "/v1/health", &[], b"").status, 200);
    let hook = json!({"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/h", "secret": "whsec-SERVE"});
    let res = s.call("POST", "/v1/integrations", &hook.to_string());
    assert_eq!(res.status, 201, "{}", res.text());
    assert!(!res.text().contains("whsec-SERVE"));
    // Issue 16, item 13: sealed at rest; the key file was made owner-only on first start.
    let dir = s.db.parent().unwrap();
    for entry in std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()) {
        let bytes = std::fs::read(entry.path()).unwrap_or_default();
        assert!(!bytes.windows(11).any(|w| w == b"whsec-SERVE"), "{} holds the secret", entry.path().display());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key_file = dir.join("automations.db.key");
        assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let res = s.call("POST", "/v1/automations", &loss_automation("loss-high").to_string());
    assert_eq!(res.status, 201, "{}", res.text());
    let id = res.json()["id"].as_str().unwrap().to_string();
    // Bare NaN, then a value over the threshold: one fire, recorded in the database.
    let batch = format!("[{},{}]", metrics("e1", 1, "NaN"), metrics("e2", 2, "3.5"));
    let res = s.call("POST", "/v1/events", &batch);
    assert_eq!((res.status, res.json()["accepted"].clone()), (202, json!(2)), "{}", res.text());
    let store = SqliteStore::open(&s.db).unwrap();
    let fires = store.fires_for(&AutomationId::new(id.as_str())).unwrap();
    assert_eq!(fires.len(), 1);
    assert_eq!(fires[0]["step"], 2);
    // A bad envelope is kept in the rejects table.
    let res = s.call("POST", "/v1/events", r#"[{"specversion":"1.0","id":"bad"}]"#);
    assert_eq!(res.status, 400);
    assert_eq!(store.rejects().unwrap()[0].id.as_deref(), Some("bad"));

    // Restarted on the same file: the automation is there, and evaluates from the start.
    drop(store);
    let s = s.restart();
    let res = s.call("GET", &format!("/v1/automations/{id}"), "");
    assert_eq!(res.status, 200, "{}", res.text());
    let res = s.call("POST", "/v1/events", &metrics("e3", 3, "7"));
    assert_eq!(res.status, 202);
    assert_eq!(
        SqliteStore::open(&s.db).unwrap().fires_for(&AutomationId::new(id.as_str())).unwrap().len(),
        1,
        "still within the cooldown"
    );
    let mut later = metrics("e4", 4, "7");
    later = later.replace("2026-11-01T12:00:00Z", "2026-11-03T12:00:00Z");
    assert_eq!(s.call("POST", "/v1/events", &later).status, 202);
    assert_eq!(SqliteStore::open(&s.db).unwrap().fires_for(&AutomationId::new(id.as_str())).unwrap().len(), 2);
}

/// Issue 16, item b: what the `cloudevents` SDK (PyPI) produces is taken: binary content mode
/// (it used to answer 400 "specversion is required"), also without `time`, structured mode, and
/// batched mode. `scripts/cloudevents_producer.py` is the producer.
#[test]
fn the_cloudevents_sdk_is_a_producer() {
    let s = Served::start();
    let hook = json!({"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/h"});
    assert_eq!(s.call("POST", "/v1/integrations", &hook.to_string()).status, 201);
    let res = s.call("POST", "/v1/automations", &loss_automation("loss-high").to_string());
    let id = res.json()["id"].as_str().unwrap().to_string();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(root.join(".venv/bin/python"))
        .arg(root.join("scripts/cloudevents_producer.py"))
        .arg(format!("http://127.0.0.1:{}", s.port))
        .arg(&s.key)
        .output()
        .expect("run scripts/cloudevents_producer.py (scripts/venv installs the cloudevents SDK)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let answers: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let cases: Vec<(&str, u64, u64)> = answers
        .iter()
        .map(|a| {
            (a["case"].as_str().unwrap(), a["status"].as_u64().unwrap(), a["body"]["accepted"].as_u64().unwrap_or(0))
        })
        .collect();
    assert_eq!(
        cases,
        [("binary", 202, 1), ("binary-without-time", 202, 1), ("structured", 202, 1), ("batch", 202, 2)],
        "{stdout}"
    );
    let fires = SqliteStore::open(&s.db).unwrap().fires_for(&AutomationId::new(id.as_str())).unwrap();
    assert_eq!(fires.len(), 1, "the binary-mode metrics fired");
    assert_eq!(fires[0]["step"], 1);
}

/// Issue 16, item c: the README's walkthrough runs on one machine. `automations listen` receives
/// the deliveries of `serve`, prints them and says whether their signatures hold for its secret;
/// a forged one is called out.
#[test]
fn listen_receives_and_verifies_deliveries() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("listen.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut child = Command::new(server::binary())
        .args(["listen", "--addr", "127.0.0.1:0", "--secret", "whsec-try-me"])
        .stdin(Stdio::null())
        .stdout(Stdio::from(file.try_clone().unwrap()))
        .stderr(Stdio::from(file))
        .spawn()
        .expect("start automations listen");
    let output = || std::fs::read_to_string(&log).unwrap_or_default();
    let wait_for = |what: &dyn Fn(&str) -> bool| {
        let start = std::time::Instant::now();
        while !what(&output()) {
            assert!(start.elapsed() < std::time::Duration::from_secs(30), "listen: {}", output());
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    wait_for(&|o| o.contains("listening on http://127.0.0.1:"));
    let port: u16 = output()
        .split("listening on http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .expect("the port listen chose");

    let s = Served::start();
    let hook = json!({"name": "hook", "type": "webhook", "url": format!("http://127.0.0.1:{port}/deploy"),
                      "secret": "whsec-try-me", "access_token": "tok-NOT-PRINTED"});
    assert_eq!(s.call("POST", "/v1/integrations", &hook.to_string()).status, 201);
    assert_eq!(s.call("POST", "/v1/automations", &loss_automation("loss-high").to_string()).status, 201);
    assert_eq!(s.call("POST", "/v1/events", &metrics("e1", 1, "3.5")).status, 202);
    wait_for(&|o| o.contains("--> POST /deploy"));
    wait_for(&|o| o.contains("x-wandb-signature: valid"));
    let shown = output();
    assert!(shown.contains("standard-webhooks signature: valid"), "{shown}");
    assert!(shown.contains("\"loss-high\"") || shown.contains("loss-high"), "{shown}");
    assert!(!shown.contains("tok-NOT-PRINTED") && !shown.contains("whsec-try-me\n"), "{shown}");

    // A forged delivery: listen says so.
    let forged = [("webhook-id", "fire_x"), ("webhook-timestamp", "1800000000"), ("webhook-signature", "v1,Zm9yZ2Vk")];
    let res = server::Client::connect(port).send("POST", "/forged", &forged, b"{}");
    assert_eq!(res.status, 200);
    wait_for(&|o| o.contains("--> POST /forged"));
    wait_for(&|o| o.contains("standard-webhooks signature: INVALID"));
    child.kill().ok();
    child.wait().ok();
}

/// Issue 16, item 7: creating an automation raced deleting its integration (3 of 20 tries): the
/// automation kept a dangling integration. Both writes now re-check after writing, so whichever
/// way they interleave, no automation is left naming an integration that does not exist.
#[test]
fn creating_an_automation_and_deleting_its_integration_never_dangle() {
    let s = Served::start();
    for i in 0..100 {
        let hook = json!({"name": format!("h{i}"), "type": "webhook", "url": "http://127.0.0.1:9/h"});
        assert_eq!(s.call("POST", "/v1/integrations", &hook.to_string()).status, 201);
        let mut doc = loss_automation(&format!("a{i}"));
        doc["action"]["integration"] = format!("h{i}").into();
        let (created, deleted) = std::thread::scope(|scope| {
            let create = scope.spawn(|| s.call("POST", "/v1/automations", &doc.to_string()).status);
            let delete = scope.spawn(|| s.call("DELETE", &format!("/v1/integrations/h{i}"), "").status);
            (create.join().unwrap(), delete.join().unwrap())
        });
        assert!([201, 400, 409].contains(&created) && [204, 409].contains(&deleted), "{created} {deleted}");
        let integration = s.call("GET", &format!("/v1/integrations/h{i}"), "").status;
        let listed = s.call("GET", "/v1/automations?limit=200", "").json();
        let exists = listed["items"].as_array().unwrap().iter().any(|a| a["name"] == format!("a{i}"));
        assert!(
            !exists || integration == 200,
            "try {i}: automation a{i} kept, its integration is gone ({created} {deleted})"
        );
        assert_eq!(exists, created == 201, "try {i}: the answer says what happened");
    }
}

#[test]
fn keys_are_shown_once_and_grant_one_entity() {
    let s = Served::start();
    let other = create_key(&s.db, "other");
    assert_ne!(other, s.key);
    // The database holds no key, only hashes.
    let bytes = std::fs::read(&s.db).unwrap();
    let wal = std::fs::read(format!("{}-wal", s.db.display())).unwrap_or_default();
    for k in [&s.key, &other] {
        let needle = k.as_bytes();
        assert!(!bytes.windows(needle.len()).any(|w| w == needle), "a key is stored in clear");
        assert!(!wal.windows(needle.len()).any(|w| w == needle), "a key is in the WAL in clear");
    }
    let res = s.call("POST", "/v1/automations", &loss_automation("x").to_string());
    assert_eq!(res.status, 400, "no integration yet: {}", res.text());
    let none = json!({"name": "n", "scope": {"type": "entity"}, "event": {"type": "ADD_ARTIFACT_TAG"}, "action": {"type": "none"}});
    let id = s.call("POST", "/v1/automations", &none.to_string()).json()["id"].as_str().unwrap().to_string();
    let mut c = s.client();
    let auth = format!("Bearer {other}");
    let res = c.send("GET", &format!("/v1/automations/{id}"), &[("authorization", &auth)], b"");
    assert_eq!(res.status, 404);
    let res = c.send("GET", "/v1/automations", &[("authorization", "Bearer ak_forged")], b"");
    assert_eq!((res.status, res.header("www-authenticate")), (401, Some("Bearer")));
    // Entity names are checked.
    let out = std::process::Command::new(server::binary())
        .args(["keys", "create", "--entity", " ", "--db"])
        .arg(&s.db)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--entity"));
}

/// One request as API Gateway (HTTP API, payload v2) hands it to the Lambda.
fn apigw_event(method: &str, path_and_query: &str, key: &str, body: &str) -> LambdaRequest {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "authorization": format!("Bearer {key}"),
            "content-type": "application/json",
            "content-length": body.len().to_string(),
            "host": "abc123.execute-api.us-east-1.amazonaws.com",
            "x-forwarded-proto": "https"
        },
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com", "domainPrefix": "abc123",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"},
            "requestId": "req-1", "routeKey": "$default", "stage": "$default",
            "time": "01/Nov/2026:12:00:00 +0000", "timeEpoch": 1793534400000u64
        },
        "body": if body.is_empty() { Value::Null } else { Value::String(body.to_string()) },
        "isBase64Encoded": false
    });
    let parsed: ApiGatewayV2httpRequest = serde_json::from_value(event).expect("an API Gateway v2 event");
    LambdaRequest::ApiGatewayV2(parsed)
}

/// What the Lambda returns to API Gateway: status, content type, body.
fn lambda_answer(response: impl serde::Serialize) -> (u16, String, String) {
    let v = serde_json::to_value(&response).unwrap();
    assert_eq!(v["isBase64Encoded"], false, "{v}");
    let status = v["statusCode"].as_u64().unwrap() as u16;
    let content_type = v["headers"]["content-type"].as_str().unwrap_or("").to_string();
    (status, content_type, v["body"].as_str().unwrap_or("").to_string())
}

fn http_answer(r: &Response) -> (u16, String, String) {
    (r.status, r.header("content-type").unwrap_or("").to_string(), r.text())
}

/// Ids and times differ between two creates; everything else must not.
fn normalized(body: &str) -> Value {
    fn scrub(v: &mut Value) {
        match v {
            Value::Object(o) => {
                for (k, x) in o.iter_mut() {
                    if ["id", "created_at", "updated_at"].contains(&k.as_str()) && x.is_string() {
                        *x = "*".into();
                    } else {
                        scrub(x);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(scrub),
            _ => {}
        }
    }
    let mut v: Value = serde_json::from_str(body).expect("a JSON body");
    scrub(&mut v);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lambda_adapter_answers_as_serve_does() {
    let s = Served::start();
    // The Lambda side: the same router over the same database file (and its key file).
    let keys = automations_sqlite::secrets::SecretKeys::from_env_or_file(&s.db).unwrap();
    let store = Arc::new(SqliteStore::open(&s.db).unwrap().with_secret_keys(keys).unwrap().0);
    let sink = Arc::new(LocalSink::new(store.clone()).await.unwrap());
    let router = automations_api::router(Api::new(store, sink, Arc::new(NoDelivery)));
    let via_lambda = |method: &str, path: &str, body: &str| {
        let event = LambdaEvent { payload: apigw_event(method, path, &s.key, body), context: Context::default() };
        let adapter = Adapter::from(router.clone());
        async move { lambda_answer(adapter.oneshot(event).await.expect("the adapter answers")) }
    };
    let via_http = |method: &str, path: &str, body: &str| http_answer(&s.call(method, path, body));

    let hook = json!({"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/h", "secret": "s"}).to_string();
    let (status, _, created) = via_http("POST", "/v1/integrations", &hook);
    assert_eq!(status, 201, "{created}");
    let (status, _, created) = via_http("POST", "/v1/automations", &loss_automation("first").to_string());
    assert_eq!(status, 201, "{created}");
    let id = serde_json::from_str::<Value>(&created).unwrap()["id"].as_str().unwrap().to_string();
    let bad_event =
        r#"[{"specversion":"1.0","id":"x","source":"s","type":"run.nope","time":"2026-11-01T12:00:00Z","data":{}}]"#;
    // Executions and test deliveries go through each deployment's own `Deliverer` (SQLite's
    // here, DynamoDB's on AWS), so they are compared by the delivery tests, not here.
    let requests: Vec<(&str, String, String)> = vec![
        ("GET", "/v1/health".into(), String::new()),
        ("GET", "/v1/automations".into(), String::new()),
        ("GET", "/v1/automations?limit=1&event_type=RUN_METRIC_THRESHOLD".into(), String::new()),
        ("GET", format!("/v1/automations/{id}"), String::new()),
        ("GET", "/v1/automations/au_nope".into(), String::new()),
        ("GET", "/v1/automations?limit=0".into(), String::new()),
        ("GET", "/v1/integrations".into(), String::new()),
        ("GET", "/v1/integrations/hook".into(), String::new()),
        ("DELETE", "/v1/integrations/hook".into(), String::new()),
        ("POST", "/v1/automations".into(), loss_automation("first").to_string()),
        ("POST", "/v1/automations".into(), json!({"name": 5}).to_string()),
        ("POST", "/v1/automations".into(), "{broken".into()),
        (
            "PATCH",
            format!("/v1/automations/{id}"),
            json!({"event": {"metric": {"window": 0, "agg": "MAX"}}}).to_string(),
        ),
        ("PUT", "/v1/automations".into(), String::new()),
        ("GET", "/v1/nowhere".into(), String::new()),
        (
            "POST",
            format!("/v1/automations/{id}/backtest"),
            json!({"history": [{"step": 1, "time": "2026-11-01T12:00:00Z", "values": {"loss": 4}}]}).to_string(),
        ),
        ("POST", "/v1/events".into(), metrics("p1", 1, "0.5")),
        ("POST", "/v1/events".into(), bad_event.into()),
        ("POST", "/v1/events".into(), "x".repeat(1024 * 1024 + 1)),
        // The web console is served by both: the page and its assets.
        ("GET", "/".into(), String::new()),
        ("GET", "/console/app.js".into(), String::new()),
        ("GET", "/console/uPlot.iife.min.js".into(), String::new()),
    ];
    for (method, path, body) in &requests {
        let lambda = via_lambda(method, path, body).await;
        let http = via_http(method, path, body);
        assert_eq!(lambda, http, "{method} {path}: the Lambda adapter and serve differ");
    }
    let (status, content_type, page) = via_lambda("GET", "/", "").await;
    assert_eq!((status, content_type.as_str()), (200, "text/html; charset=utf-8"));
    assert!(page.contains("console/app.js"), "{page}");
    // Writes: each side creates its own, and the answers differ only in ids and times.
    let doc = |name: &str| {
        let mut d = loss_automation(name);
        d["action"] = json!({"type": "none"});
        d.to_string()
    };
    let (ls, lct, lbody) = via_lambda("POST", "/v1/automations", &doc("same")).await;
    let mut renamed: Value = serde_json::from_str(&lbody).unwrap();
    assert_eq!(renamed["name"], "same");
    renamed["name"] = "other".into();
    let (hs, hct, hbody) = via_http("POST", "/v1/automations", &doc("other"));
    assert_eq!((ls, lct.as_str()), (hs, hct.as_str()));
    assert_eq!(normalized(&renamed.to_string()), normalized(&hbody));
    // And each sees the other's write: one store.
    let (status, _, _) = via_lambda("POST", "/v1/automations", &doc("other")).await;
    assert_eq!(status, 409);
}
