//! `automations replay` end to end: files in, JSON lines out, exit statuses and error messages.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Dir(tempfile::TempDir);

impl Dir {
    fn new() -> Dir {
        Dir(tempfile::tempdir().expect("temp dir"))
    }

    fn file(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.0.path().join(name);
        std::fs::write(&p, contents).expect("write test file");
        p
    }
}

fn replay(automations: &Path, events: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_automations"))
        .arg("replay")
        .arg("--automations")
        .arg(automations)
        .arg("--events")
        .arg(events)
        .args(extra)
        .output()
        .expect("run automations")
}

fn fires(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .expect("utf-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("events").join(name)
}

#[test]
fn the_shipped_example_fires_what_the_readme_says() {
    let out = replay(&example("example-automations.json"), &example("example-events.jsonl"), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let f = fires(&out);
    let summary: Vec<(String, String)> = f
        .iter()
        .map(|x| (x["automation"].as_str().unwrap().to_string(), x["event_id"].as_str().unwrap().to_string()))
        .collect();
    let want = [
        ("deploy-on-production", "evt-2"),
        ("registry-link", "evt-3"),
        ("accuracy-drop", "evt-5"),
        ("loss-stopped-falling", "evt-5"),
        ("loss-too-high", "evt-5"),
        ("run-failed", "evt-6"),
    ];
    assert_eq!(summary, want.map(|(a, e)| (a.to_string(), e.to_string())));
    assert_eq!(f[2]["event_type"], "RUN_METRIC_ZSCORE");
    assert_eq!(f[2]["metric_values"], json!([0.52, 0.55, 0.54, 0.56, 0.2]));
    assert_eq!(f[3]["metric_values"], json!([0.7, 0.6, 0.5, 0.9, 1.4]), "prior window then current");
    assert_eq!(f[4]["step"], 8);
    assert_eq!(f[4]["run_id"], "r1");
    assert_eq!(f[4]["metric_name"], "loss");
    assert_eq!(f[5]["event_type"], "RUN_STATE");
}

#[test]
fn replay_is_deterministic() {
    let a = replay(&example("example-automations.json"), &example("example-events.jsonl"), &[]);
    let b = replay(&example("example-automations.json"), &example("example-events.jsonl"), &[]);
    assert_eq!(a.stdout, b.stdout);
    assert!(!a.stdout.is_empty());
}

const AUTOMATIONS: &str = r#"[{"name": "prod", "scope": {"type": "project", "entity": "acme", "project": "mnist"},
  "event": {"type": "ADD_ARTIFACT_ALIAS", "filter": {"alias": {"$regex": "^prod"}}}, "action": {"type": "none"}}]"#;

fn alias(id: &str, alias: &str) -> String {
    json!({"specversion": "1.0", "id": id, "source": "t", "type": "artifact.alias.added", "time": "2026-11-01T12:00:00Z",
           "data": {"entity": "acme", "project": "mnist", "collection": "c", "collection_type": "model", "version": 1, "alias": alias}})
    .to_string()
}

#[test]
fn a_json_array_and_json_lines_give_the_same_fires() {
    let d = Dir::new();
    let autos = d.file("a.json", AUTOMATIONS);
    let lines = d.file("e.jsonl", &[alias("1", "prod"), alias("2", "staging"), alias("3", "production")].join("\n"));
    let array = d.file(
        "e.json",
        &format!("[{},\n{},\n{}]", alias("1", "prod"), alias("2", "staging"), alias("3", "production")),
    );
    let a = replay(&autos, &lines, &[]);
    let b = replay(&autos, &array, &[]);
    assert!(a.status.success() && b.status.success());
    assert_eq!(a.stdout, b.stdout);
    let ids: Vec<_> = fires(&a).iter().map(|f| f["event_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, vec!["1", "3"]);
}

#[test]
fn bad_envelopes_are_reported_skipped_and_the_rest_evaluated() {
    let d = Dir::new();
    let autos = d.file("a.json", AUTOMATIONS);
    let oversized = alias("big", "prod").replace("\"model\"", &format!("\"{}\"", "m".repeat(300 * 1024)));
    let lines = [
        alias("1", "prod"),
        "{not json at all".to_string(),
        alias("2", "prod").replace("\"version\":1", "\"version\":\"one\""),
        alias("3", "prod").replace("artifact.alias.added", "artifact.alias.exploded"),
        oversized,
        alias("4", "prod").replace("\"specversion\":\"1.0\",", ""),
        alias("5", "prod"),
    ];
    let events = d.file("e.jsonl", &lines.join("\n"));
    let out = replay(&autos, &events, &[]);
    assert_eq!(out.status.code(), Some(2), "bad envelopes make the exit status 2");
    let ids: Vec<_> = fires(&out).iter().map(|f| f["event_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, vec!["1", "5"], "every valid envelope is still evaluated");
    let err = stderr(&out);
    for want in [
        "e.jsonl: line 2: ",
        "malformed JSON",
        "line 3: envelope \"2\": data.version",
        "line 4: envelope \"3\": type: unknown event type",
        "line 5: ",
        "256 KiB",
        "line 6: envelope \"4\": specversion",
    ] {
        assert!(err.contains(want), "stderr lacks {want:?}:\n{err}");
    }
    assert_eq!(err.lines().count(), 5, "one line per bad envelope:\n{err}");
}

#[test]
fn a_broken_array_keeps_its_good_items() {
    let d = Dir::new();
    let autos = d.file("a.json", AUTOMATIONS);
    let events = d.file("e.json", &format!("[{}, {{\"oops\": }}, {}, ", alias("1", "prod"), alias("2", "prod")));
    let out = replay(&autos, &events, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(fires(&out).len(), 2);
    let err = stderr(&out);
    assert!(err.contains("item 1: malformed JSON"), "{err}");
    assert!(err.contains("not terminated"), "{err}");
}

#[test]
fn a_bad_automation_stops_replay_naming_file_item_and_field() {
    let d = Dir::new();
    let events = d.file("e.jsonl", &alias("1", "prod"));
    let cases = [
        (
            r#"[{"name": "x", "scope": {"type": "project", "entity": "a", "project": "p"}, "event": {"type": "ADD_ARTIFACT_ALIAS", "filter": {"alias": {"$regex": "(prod"}}}, "action": {"type": "none"}}]"#,
            "event.filter.alias.$regex",
        ),
        (
            r#"[{"name": "ok", "scope": {"type": "entity", "entity": "a"}, "event": {"type": "RUN_STATE", "states": ["failed"]}, "action": {"type": "none"}},
            {"name": "w", "scope": {"type": "project", "entity": "a", "project": "p"}, "event": {"type": "RUN_METRIC_THRESHOLD", "metric": {"name": "loss", "agg": "MAX", "window": 0, "cmp": "$gt", "threshold": 1}}, "action": {"type": "none"}}]"#,
            "item 1 (\"w\"): event.metric.window",
        ),
        (
            r#"[{"name": "c", "scope": {"type": "collection", "entity": "a", "project": "p", "collection": "c"}, "event": {"type": "RUN_STATE", "states": ["failed"]}, "action": {"type": "none"}}]"#,
            "event.type: RUN_STATE is not allowed on a collection scope",
        ),
        (
            r#"[{"name": "n", "scope": {"type": "project", "entity": "a", "project": "p"}, "event": {"type": "RUN_METRIC_CHANGE", "metric": {"name": "loss", "change_dir": "ANY", "amount": -1}}, "action": {"type": "none"}}]"#,
            "event.metric.amount",
        ),
        (r#"{"not": "an array"#, "malformed JSON"),
    ];
    for (doc, want) in cases {
        let autos = d.file("bad.json", doc);
        let out = replay(&autos, &events, &[]);
        assert_eq!(out.status.code(), Some(1), "{want}");
        assert!(out.stdout.is_empty(), "nothing is evaluated with a bad automation");
        let err = stderr(&out);
        assert!(err.contains("bad.json") && err.contains(want), "stderr lacks {want:?}:\n{err}");
    }
}

#[test]
fn wandb_format_replays_imports() {
    let d = Dir::new();
    let import = json!([{
        "scope": {"type": "project", "entity": "acme", "project": "mnist"},
        "input": {
            "name": "metric-threshold", "description": "demo", "enabled": true,
            "scopeID": "UHJvamVjdDoxMjM=", "scopeType": "PROJECT",
            "eventFilter": "{\"run_filter\":\"{\\\"$and\\\":[]}\",\"run_metric_filter\":{\"threshold_filter\":{\"name\":\"loss\",\"agg_op\":\"AVERAGE\",\"window_size\":2,\"cmp_op\":\"$gt\",\"threshold\":0.5}},\"metric_filter\":null}",
            "triggeredActionConfig": {"noOpActionInput": {"noOp": true}},
            "triggeredActionType": "NO_OP", "triggeringEventType": "RUN_METRIC"
        }
    }]);
    let autos = d.file("w.json", &import.to_string());
    let events = d.file(
        "e.jsonl",
        r#"{"specversion":"1.0","id":"m1","source":"t","type":"run.metrics.logged","time":"2026-11-01T12:00:00Z","data":{"entity":"acme","project":"mnist","run_id":"r1","rows":[{"step":1,"values":{"loss":0.4}},{"step":2,"values":{"loss":0.7}},{"step":3,"values":{"loss":Infinity}},{"step":4,"values":{"loss":0.1}}]}}"#,
    );
    let out = replay(&autos, &events, &["--format", "wandb"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let f = fires(&out);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["automation"], "metric-threshold");
    assert_eq!(f[0]["event_type"], "RUN_METRIC_THRESHOLD");
    assert_eq!(f[0]["step"], 2);
    assert_eq!(f[0]["metric_values"], json!([0.4, 0.7]));

    // The same file read as native documents is refused, naming the field.
    let out = replay(&autos, &events, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("name: is required"), "{}", stderr(&out));
}

#[test]
fn import_wandb_prints_native_documents() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wandb/metric-zscore-any.json");
    let out = Command::new(env!("CARGO_BIN_EXE_automations")).arg("import-wandb").arg(&fixture).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let docs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(docs[0]["event"]["type"], "RUN_METRIC_ZSCORE");
}

#[test]
fn a_line_that_is_not_utf8_is_skipped_alone() {
    let d = Dir::new();
    let autos = d.file("a.json", AUTOMATIONS);
    let mut bytes = format!("{}\n", alias("1", "prod")).into_bytes();
    bytes.extend_from_slice(&alias("2", "prod").replace("\"t\"", "\"t\u{e9}\"").into_bytes());
    let cut = bytes.iter().rposition(|&b| b == 0xc3).unwrap();
    bytes.remove(cut); // a lone continuation byte: not UTF-8
    bytes.push(b'\n');
    bytes.extend_from_slice(alias("3", "prod").as_bytes());
    let events = d.0.path().join("e.jsonl");
    std::fs::write(&events, &bytes).unwrap();
    let out = replay(&autos, &events, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let ids: Vec<_> = fires(&out).iter().map(|f| f["event_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, vec!["1", "3"]);
    assert!(stderr(&out).contains("line 2: not valid UTF-8"), "{}", stderr(&out));
}

#[test]
fn an_array_element_with_unbalanced_brackets_does_not_swallow_the_rest() {
    let d = Dir::new();
    let autos = d.file("a.json", AUTOMATIONS);
    let broken = alias("2", "prod").replace("\"version\":1", "\"version\":[1}");
    let events = d.file(
        "e.json",
        &format!("[{},\n{broken},\n{},\n{}]", alias("1", "prod"), alias("3", "prod"), alias("4", "prod")),
    );
    let out = replay(&autos, &events, &[]);
    assert_eq!(out.status.code(), Some(2));
    let ids: Vec<_> = fires(&out).iter().map(|f| f["event_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, vec!["1", "3", "4"]);
    assert!(stderr(&out).contains("item 1: "), "{}", stderr(&out));

    // An element never closed takes the rest of the array with it: replay says how many.
    let events = d.file(
        "f.json",
        &format!("[{}, {{\"oops\": 1, {}, {}]", alias("1", "prod"), alias("3", "prod"), alias("4", "prod")),
    );
    let out = replay(&autos, &events, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("about 2 elements after it"), "{}", stderr(&out));
}

#[test]
fn events_from_standard_input() {
    let d = Dir::new();
    let autos = d.file("a.json", AUTOMATIONS);
    let text = [alias("1", "prod"), alias("2", "staging"), alias("3", "production")].join("\n");
    let mut child = Command::new(env!("CARGO_BIN_EXE_automations"))
        .args(["replay", "--events", "-", "--automations"])
        .arg(&autos)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let ids: Vec<_> = fires(&out).iter().map(|f| f["event_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, vec!["1", "3"]);
}

#[test]
fn a_wrong_command_line_exits_1_not_the_2_of_skipped_envelopes() {
    let out = Command::new(env!("CARGO_BIN_EXE_automations")).args(["replay", "--no-such-flag"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let out = Command::new(env!("CARGO_BIN_EXE_automations")).arg("--help").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
}
