//! Every W&B fixture (made with the real `wandb` library by scripts/wandb-fixtures.sh) imports
//! to the native document its hand-written expectation says, and that document passes the
//! model's own validation; or it is refused where and for the reason the expectation says.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use automations_core::Invalid;
use automations_core::model::Automation;
use automations_core::wandb::{Integrations, import};
use serde_json::Value;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/wandb");

fn read(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The fixtures, by name, each with its expectation.
fn fixtures() -> Vec<(String, Value, Value)> {
    let dir = PathBuf::from(DIR);
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let expected: BTreeSet<String> = fs::read_dir(dir.join("expected"))
        .unwrap()
        .map(|e| e.unwrap().path().file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names.iter().cloned().collect::<BTreeSet<_>>(),
        expected,
        "every fixture needs an expectation and every expectation a fixture"
    );
    names
        .into_iter()
        .map(|n| {
            let doc = read(&dir.join(format!("{n}.json")));
            let exp = read(&dir.join("expected").join(format!("{n}.json")));
            (n, doc, exp)
        })
        .collect()
}

/// JSON equality with numbers compared by value: `3` and `3.0` are one threshold.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn refused_as(e: &Invalid, path: &str, reason: &str) -> bool {
    e.errors.iter().any(|f| f.path == path && f.message.contains(reason))
}

/// Check one fixture; `Err` says what went wrong.
fn check(doc: &Value, exp: &Value) -> Result<(), String> {
    let imported = import(doc, Integrations::Strict);
    if let Some(want) = exp.get("automation") {
        let got = imported.map_err(|e| format!("import refused it: {e}"))?;
        if !same(&got, want) {
            return Err(format!(
                "imported as\n{}\nbut expected\n{}",
                serde_json::to_string_pretty(&got).unwrap(),
                serde_json::to_string_pretty(want).unwrap()
            ));
        }
        Automation::from_create("fixture", &got).map_err(|e| format!("the model refused the import: {e}"))?;
        return Ok(());
    }
    let refusal = exp.get("refused").ok_or("expectation has neither automation nor refused")?;
    let path = refusal["path"].as_str().ok_or("refused.path")?;
    let reason = refusal["reason"].as_str().ok_or("refused.reason")?;
    match refusal["by"].as_str() {
        Some("import") => match imported {
            Err(e) if refused_as(&e, path, reason) => Ok(()),
            Err(e) => Err(format!("refused, but not at {path} for {reason:?}: {e}")),
            Ok(v) => Err(format!("imported, but should be refused at {path}: {v}")),
        },
        Some("model") => {
            let got = imported.map_err(|e| format!("import refused what the model should: {e}"))?;
            match Automation::from_create("fixture", &got) {
                Err(e) if refused_as(&e, path, reason) => Ok(()),
                Err(e) => Err(format!("the model refused, but not at {path} for {reason:?}: {e}")),
                Ok(_) => Err(format!("the model took it, but should refuse it at {path}")),
            }
        }
        other => Err(format!("refused.by is {other:?}")),
    }
}

#[test]
fn wandb_fixtures_import_as_expected() {
    let cases = fixtures();
    // The generator writes 60-odd cases; far fewer means fixtures went missing.
    assert!(cases.len() >= 60, "only {} fixtures under {DIR}", cases.len());
    let failures: Vec<String> =
        cases.iter().filter_map(|(name, doc, exp)| check(doc, exp).err().map(|e| format!("{name}: {e}"))).collect();
    assert!(failures.is_empty(), "{} of {} fixtures failed:\n\n{}", failures.len(), cases.len(), failures.join("\n\n"));
}

/// The filter constructs every one of which some importable fixture must use (as text in its
/// event filter; the first is a run filter's escaped `$regex`, the last the saved form's wrapper).
const FILTER_NEEDLES: [&str; 17] = [
    "\\\"$regex",
    "$regex",
    "$contains",
    "$eq",
    "$ne",
    "$in",
    "$nin",
    "$exists",
    "$or",
    "$and",
    "$nor",
    "$not",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "{\"filter\":",
];

#[test]
fn wandb_fixtures_cover_every_event_action_and_severity() {
    let mut seen = BTreeSet::new();
    for (_, doc, exp) in fixtures() {
        if exp.get("automation").is_none() {
            continue;
        }
        let input = &doc["input"];
        seen.insert(input["triggeringEventType"].as_str().unwrap().to_string());
        seen.insert(input["triggeredActionType"].as_str().unwrap().to_string());
        let config = &input["triggeredActionConfig"];
        if let Some(s) = config["notificationActionInput"]["severity"].as_str() {
            seen.insert(s.to_string());
        }
        if config["genericWebhookActionInput"].is_object() {
            let with = config["genericWebhookActionInput"].get("requestPayload").is_some();
            seen.insert(format!("webhook-payload-{with}"));
        }
        let filter = input["eventFilter"].as_str().unwrap_or("");
        for needle in FILTER_NEEDLES {
            if filter.contains(needle) {
                seen.insert(needle.to_string());
            }
        }
    }
    let want = [
        "CREATE_ARTIFACT",
        "LINK_MODEL",
        "UNLINK_ARTIFACT",
        "ADD_ARTIFACT_ALIAS",
        "ADD_ARTIFACT_TAG",
        "REMOVE_ARTIFACT_TAG",
        "ADD_COLLECTION_TAG",
        "REMOVE_COLLECTION_TAG",
        "RUN_METRIC",
        "RUN_METRIC_CHANGE",
        "RUN_METRIC_ZSCORE",
        "RUN_STATE",
        "GENERIC_WEBHOOK",
        "NOTIFICATION",
        "NO_OP",
        "INFO",
        "WARN",
        "ERROR",
        "webhook-payload-true",
        "webhook-payload-false",
    ];
    let want = want.iter().chain(FILTER_NEEDLES.iter());
    let missing: Vec<&str> = want.copied().filter(|w| !seen.contains(*w)).collect();
    assert!(missing.is_empty(), "no importable fixture has {missing:?}");
}

#[test]
fn wandb_lenient_imports_agree_and_need_no_map() {
    for (name, doc, exp) in fixtures() {
        let Some(want) = exp.get("automation") else { continue };
        let lenient = import(&doc, Integrations::Lenient).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(same(&lenient, want), "{name}: lenient import differs");
        // Without the map, the integration is named after its W&B id.
        let mut bare = doc.clone();
        bare.as_object_mut().unwrap().remove("integrations");
        let out = import(&bare, Integrations::Lenient).unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Some(id) = ["genericWebhookActionInput", "notificationActionInput"]
            .iter()
            .find_map(|k| doc["input"]["triggeredActionConfig"][k]["integrationID"].as_str())
        {
            assert_eq!(out["action"]["integration"], id, "{name}");
            assert!(import(&bare, Integrations::Strict).is_err(), "{name}: strict import without a map");
        }
    }
}

/// The exporter is the importer's inverse on everything the library makes: each importable
/// fixture exports, and its W&B `eventFilter` is the one the library sent, byte for byte (so an
/// SDK round trip of a W&B-made automation changes nothing). The exceptions are named here.
#[test]
fn wandb_fixtures_export_back_to_what_the_library_sent() {
    use automations_core::wandb::export;
    // Imported into an entity scope, which W&B's view here does not serve.
    const ENTITY_SCOPED: &[&str] = &[
        "metric-change-abs-any",
        "metric-threshold-min-lt",
        "metric-threshold-system-metric",
        "metric-zscore-any",
        "remove-collection-tag",
        "run-state-finished-running",
    ];
    // Sent in a form the library also reads but no longer writes: the export is the current one.
    // Or with W&B's run-table field names (`config.KEY.value`, `displayName`), which the import
    // reads as the library's own names.
    const OLDER_FORM: &[&str] = &[
        "metric-threshold-legacy-only",
        "metric-threshold-with-legacy-copy",
        "saved-form-add-alias",
        "run-filter-config-value",
        "run-filter-wandb-field-names",
        "run-filter-nested-mapping",
    ];
    let mut byte_equal = 0;
    for (name, doc, exp) in fixtures() {
        if exp.get("automation").is_none() {
            continue;
        }
        let native = import(&doc, Integrations::Strict).unwrap();
        let automation = Automation::from_create("au_fixture", &native).unwrap();
        let input = &doc["input"];
        let exported = export(&automation);
        if ENTITY_SCOPED.contains(&name.as_str()) {
            assert!(exported.unwrap_err().0.contains("entity scope"), "{name}");
            continue;
        }
        let e = exported.unwrap_or_else(|why| panic!("{name}: unrepresentable: {why}"));
        assert_eq!(e.event_type, input["triggeringEventType"], "{name}");
        let sent = input["eventFilter"].as_str().map(str::to_string);
        if OLDER_FORM.contains(&name.as_str()) {
            let sent: Value = serde_json::from_str(sent.as_deref().unwrap()).unwrap();
            assert_ne!(sent, serde_json::from_str::<Value>(&e.event_filter).unwrap(), "{name}: no longer older");
            continue;
        }
        match sent {
            // Numbers are stored as numbers: a whole one is written `3`, which the library may
            // have written `3.0` (its default z-score threshold); that is the only difference.
            Some(sent) if e.event_filter == sent => byte_equal += 1,
            Some(sent) => {
                let (got, want): (Value, Value) =
                    (serde_json::from_str(&e.event_filter).unwrap(), serde_json::from_str(&sent).unwrap());
                assert!(same(&got, &want), "{name}:\n  sent     {sent}\n  exported {}", e.event_filter);
            }
            // No filter sent: the library's own empty one is exported.
            None => assert!(e.event_filter.contains("[]"), "{name}: {}", e.event_filter),
        }
    }
    assert!(byte_equal >= 30, "only {byte_equal} fixtures exported byte for byte");
}
