//! The probe corpus of issue 16: bad inputs, each with the path its error must name
//! (`tests/bad-inputs.json`), against the local router. The same table runs against the Lambda
//! config-api's router (`shared/lambda/tests/bad_inputs.rs`).

use crate::common::TestApi;
use serde_json::{Value, json};

/// Every path named by an answer: a problem's `errors`, and each rejected envelope's.
pub fn named_paths(answer: &Value) -> Vec<String> {
    let mut paths = Vec::new();
    let mut collect = |errors: &Value| {
        for e in errors.as_array().into_iter().flatten() {
            paths.push(e["path"].as_str().unwrap_or_default().to_string());
        }
    };
    collect(&answer["errors"]);
    for r in answer["rejected"].as_array().into_iter().flatten() {
        collect(&r["errors"]);
    }
    paths
}

#[tokio::test]
async fn every_bad_input_is_refused_naming_its_path() {
    let t = TestApi::new().await;
    t.webhook(&t.a, "hook").await;
    let corpus: Vec<Value> =
        serde_json::from_str(include_str!("../bad-inputs.json")).expect("tests/bad-inputs.json is JSON");
    assert!(corpus.len() >= 20);
    for probe in &corpus {
        let body = match (&probe["raw"], &probe["body"]) {
            (Value::String(raw), _) => raw.clone(),
            (_, Value::Null) => String::new(),
            (_, body) => body.to_string(),
        };
        let method = probe["method"].as_str().unwrap();
        let res = t.raw(method, probe["route"].as_str().unwrap(), Some(&t.a), body).await;
        let what = &probe["probe"];
        assert_eq!(res.status.as_u16() as u64, probe["status"].as_u64().unwrap(), "{what}: {}", res.text);
        let paths = named_paths(&res.json());
        assert!(paths.iter().any(|p| p == &probe["path"]), "{what}: {paths:?} does not name {}", probe["path"]);
    }
    // Nothing of it was created.
    let list = t.call("GET", "/v1/automations", &t.a, None).await.expect(200).json();
    assert_eq!(list["items"], json!([]));
}

/// Issue 16, item 10: authentication schemes are case-insensitive (RFC 9110).
#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let t = TestApi::new().await;
    for scheme in ["Bearer", "bearer", "BEARER", "BeArEr"] {
        let auth = format!("{scheme} {}", t.a);
        let res = t.raw_with("GET", "/v1/automations", None, &[("authorization", &auth)], "").await;
        assert_eq!(res.status, 200, "{scheme}: {}", res.text);
    }
    let res = t.raw_with("GET", "/v1/automations", None, &[("authorization", &format!("Basic {}", t.a))], "").await;
    assert_eq!(res.status, 401);
}
