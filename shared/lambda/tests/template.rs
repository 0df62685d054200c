//! `template.yaml`: `cfn-lint` (what `sam validate --lint` runs) passes, and the template
//! declares what the code expects: the table's keys and indexes as `automations_dynamo::schema`
//! creates them, a function for every crate under `functions/`, the variables `Settings` reads.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_dynamo::schema::INDEXES;
use automations_testkit::tools::{tool, workspace_root};
use std::process::Command;

fn template() -> String {
    std::fs::read_to_string(workspace_root().join("template.yaml")).expect("read template.yaml")
}

#[test]
fn cfn_lint_passes() {
    let out = Command::new(tool("cfn-lint"))
        .arg("template.yaml")
        .current_dir(workspace_root())
        .output()
        .expect("run cfn-lint");
    assert!(
        out.status.success(),
        "cfn-lint template.yaml failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_table_matches_the_schema_the_code_creates() {
    let t = template();
    for line in
        ["AttributeName: expires_at", "{ AttributeName: pk, KeyType: HASH }", "{ AttributeName: sk, KeyType: RANGE }"]
    {
        assert!(t.contains(line), "template.yaml lacks {line:?}");
    }
    for index in &INDEXES {
        assert!(t.contains(&format!("IndexName: {}", index.name)), "index {} missing", index.name);
        let kind = if index.sort_is_number { "N" } else { "S" };
        for (attr, kind) in [(index.partition, "S"), (index.sort, kind)] {
            let def = format!("{{ AttributeName: {attr}, AttributeType: {kind} }}");
            assert!(t.contains(&def), "template.yaml lacks {def}");
        }
        match index.projects {
            None => assert!(t.contains("ProjectionType: KEYS_ONLY")),
            Some(attrs) => assert!(t.contains(&format!("NonKeyAttributes: [{}]", attrs.join(", "))), "{}", index.name),
        }
    }
}

/// Secrets at rest (issue 16): the table holds integration secrets, so it is encrypted with the
/// stack's own rotating key, which only DynamoDB may use on the account's behalf.
#[test]
fn the_table_is_encrypted_with_the_stacks_own_rotating_key() {
    let t = template();
    for line in [
        "SSEType: KMS",
        "KMSMasterKeyId: !Ref TableKey",
        "EnableKeyRotation: true",
        r#"kms:ViaService: !Sub "dynamodb.${AWS::Region}.amazonaws.com""#,
    ] {
        assert!(t.contains(line), "template.yaml lacks {line:?}");
    }
    // No function is granted the key directly.
    assert!(!t.contains("Action: kms:") && !t.contains("- kms:"), "a function policy names a KMS action");
}

#[test]
fn every_function_crate_is_deployed_with_partial_batch_failures() {
    let t = template();
    let dir = workspace_root().join("functions");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("list functions/")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["artifact-events", "config-api", "dispatcher", "metric-ingest", "mlflow-poller", "sweeper"]);
    for name in &names {
        assert!(t.contains(&format!("Binary: {name}\n")), "template.yaml does not build {name}");
    }
    assert_eq!(t.matches("BuildMethod: rust-cargolambda").count(), names.len());
    assert_eq!(t.matches("FunctionResponseTypes: [ReportBatchItemFailures]").count(), 3, "every SQS event source");
    // One per dead-letter queue, delivery failure rate, oldest pending delivery, two queue ages,
    // errors of each of the six functions, throttles, MLflow polls failing.
    assert_eq!(t.matches("Type: AWS::CloudWatch::Alarm").count(), 3 + 1 + 1 + 2 + 6 + 1 + 1);
    for var in [
        "TABLE_NAME",
        "DELIVERY_QUEUE_URL",
        "DEAD_LETTER_QUEUE_URL",
        "ARTIFACT_QUEUE_URL",
        "RUN_QUEUE_URL",
        "STALL_MINUTES",
        "FIRST_API_KEY_HASH",
        "FIRST_API_KEY_ENTITY",
        "MLFLOW_POLL_WINDOW_SECONDS",
    ] {
        assert!(t.contains(&format!("{var}:")), "template.yaml never sets {var}");
    }
}

/// The delivery metrics on AWS come from the dispatcher's log lines through metric filters, and
/// failed MLflow polls from the poller's: each filter must match a message the code actually
/// writes, or its alarm never sees a thing.
#[test]
fn the_metric_filters_match_the_functions_log_lines() {
    let t = template();
    let read = |path: &str| std::fs::read_to_string(workspace_root().join(path)).unwrap();
    let logged = read("shared/lambda/src/dispatcher.rs") + &read("shared/mlflow/src/integration.rs");
    let patterns: Vec<&str> =
        t.lines().filter_map(|l| l.trim().strip_prefix("FilterPattern: '{ $.fields.message = \"")).collect();
    assert_eq!(patterns.len(), 4, "delivered, retried, failed; mlflow poll failed");
    for p in patterns {
        let message = p.strip_suffix("\" }'").expect("a filter on one message");
        assert!(logged.contains(&format!("\"{message}\"")), "no function logs {message:?}");
    }
    // The Lambda log is JSON with the event's fields under `fields` (shared/lambda/src/init.rs).
    let init = std::fs::read_to_string(workspace_root().join("shared/lambda/src/init.rs")).unwrap();
    assert!(init.contains(".json()") && !init.contains("flatten_event(true)"), "the filters read $.fields.message");
}

/// The dashboard's body is JSON once its `${...}` are substituted, and names only resources of
/// the template.
#[test]
fn the_dashboard_is_json_over_the_templates_resources() {
    let t = template();
    let start = t.find("DashboardBody: !Sub |\n").expect("a dashboard") + "DashboardBody: !Sub |\n".len();
    let body: String = t[start..].lines().take_while(|l| l.starts_with("          ")).collect::<Vec<_>>().join("\n");
    let mut plain = String::new();
    let mut rest = body.as_str();
    while let Some(i) = rest.find("${") {
        plain.push_str(&rest[..i]);
        let end = rest[i..].find('}').expect("a closed ${...}") + i;
        let reference = &rest[i + 2..end];
        let resource = reference.split('.').next().unwrap();
        assert!(
            resource.starts_with("AWS::") || t.contains(&format!("\n  {resource}:\n")),
            "the dashboard names {resource}, which the template does not declare"
        );
        plain.push('x');
        rest = &rest[end + 1..];
    }
    plain.push_str(rest);
    let json: serde_json::Value = serde_json::from_str(&plain).unwrap_or_else(|e| panic!("{e}: {plain}"));
    assert!(json["widgets"].as_array().is_some_and(|w| w.len() >= 6), "{json}");
}

/// Issue 16, item a: SAM's Rust builder runs `cargo lambda build --release --bin NAME` in the
/// function's `CodeUri`; at the workspace root that selects the root package only ("no bin
/// target named artifact-events in default-run packages"). Each function builds from its crate.
#[test]
fn every_function_builds_from_its_own_crate() {
    let t = template();
    for name in ["artifact-events", "config-api", "dispatcher", "metric-ingest", "mlflow-poller", "sweeper"] {
        let declared = format!("        Binary: {name}\n    Properties:\n      CodeUri: functions/{name}\n");
        assert!(t.contains(&declared), "template.yaml: {name} is not built from functions/{name}");
        let manifest = std::fs::read_to_string(workspace_root().join("functions").join(name).join("Cargo.toml"))
            .expect("read the function's Cargo.toml");
        assert!(manifest.contains(&format!("[[bin]]\nname = \"{name}\"\n")), "functions/{name} has no bin {name}");
    }
    assert!(!t.contains("CodeUri: .\n"), "a function is built from the workspace root");
}

/// Issue 16, item a: the README's `sam build --beta-features` works, proven by the real SAM CLI
/// and cargo-lambda on one function (the others differ only by the `CodeUri`/`Binary` checked
/// above). Unoptimised, and in a target directory of its own, to keep the test command fast.
#[test]
fn sam_build_builds_a_function() {
    let root = workspace_root();
    let out_dir = tempfile::tempdir().expect("temp dir");
    let target = std::env::var_os("CARGO_TARGET_DIR").map(std::path::PathBuf::from).unwrap_or(root.join("target"));
    let venv_bin = tool("sam").parent().expect("the venv's bin").to_path_buf();
    let path = std::env::join_paths(
        std::iter::once(venv_bin).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .expect("PATH");
    let out = Command::new(tool("sam"))
        .args(["build", "--beta-features", "--template-file", "template.yaml", "--build-dir"])
        .arg(out_dir.path().join("build"))
        .arg("ConfigApiFunction")
        .current_dir(&root)
        .env("PATH", path)
        .env("SAM_CLI_TELEMETRY", "0")
        .env("CARGO_TARGET_DIR", target.join("sam-build"))
        // SAM's debug mode: `cargo lambda build` without `--release` (the dev profile), which
        // still reads and passes on the workspace's cargo-lambda settings (a malformed one fails
        // here) but compiles in a fraction of the release build's time. The release settings
        // themselves are checked by `the_functions_release_settings_are_cargo_lambdas_and_serve_unwinds`.
        .env("SAM_BUILD_MODE", "debug")
        .output()
        .expect("run sam build");
    assert!(
        out.status.success(),
        "sam build failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let bootstrap = out_dir.path().join("build/ConfigApiFunction/bootstrap");
    assert!(bootstrap.is_file(), "sam build made no {}", bootstrap.display());
}

/// Issue 14, item 5: `cargo lambda build --release` (what `sam build` runs) builds the functions
/// with whole-program LTO, one codegen unit, `panic = "abort"` and no symbols, from the
/// workspace's cargo-lambda metadata; the workspace's own `[profile.release]`, which `automations
/// serve` is built with, keeps unwinding so that a handler's panic does not end the server.
#[test]
fn the_functions_release_settings_are_cargo_lambdas_and_serve_unwinds() {
    let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).expect("read Cargo.toml");
    let section = |name: &str| {
        let start = manifest.find(&format!("\n[{name}]\n")).unwrap_or_else(|| panic!("Cargo.toml has no [{name}]"));
        let body = &manifest[start + name.len() + 4..];
        // A section ends at the first blank line (the comments before the next one are not its).
        body[..body.find("\n\n").unwrap_or(body.len())].to_string()
    };
    let release = section("profile.release");
    assert!(!release.contains("panic"), "[profile.release] must unwind (automations serve): {release}");
    let lambda = section("workspace.metadata.lambda.build");
    for setting in [
        r#"'profile.release.lto="fat"'"#,
        "'profile.release.codegen-units=1'",
        r#"'profile.release.panic="abort"'"#,
        r#"'profile.release.strip="symbols"'"#,
    ] {
        assert!(lambda.contains(setting), "[workspace.metadata.lambda.build] lacks {setting}: {lambda}");
    }
}
