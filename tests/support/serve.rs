//! `automations serve` on a free loopback port over a fresh database, with an API key.

use super::{Process, free_port, http};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

/// A running local deployment; dropping it stops the server.
pub struct Served {
    process: Process,
    pub port: u16,
    /// An API key granting `entity`.
    pub key: String,
    /// The database file.
    pub db: std::path::PathBuf,
    args: Vec<String>,
    dir: tempfile::TempDir,
}

impl Served {
    pub fn start(entity: &str) -> Served {
        Served::start_with(entity, &[])
    }

    /// [`Served::start`] with more `serve` arguments.
    pub fn start_with(entity: &str, extra: &[&str]) -> Served {
        let dir = tempfile::tempdir().expect("temp dir for the database");
        let db = dir.path().join("automations.db");
        let bin = env!("CARGO_BIN_EXE_automations");
        let out = Command::new(bin)
            .args(["keys", "create", "--entity", entity, "--db"])
            .arg(&db)
            .output()
            .expect("run automations keys create");
        assert!(out.status.success(), "keys create failed: {}", String::from_utf8_lossy(&out.stderr));
        let key = String::from_utf8(out.stdout).expect("utf-8 key").trim().to_string();
        let args: Vec<String> = extra.iter().map(|a| a.to_string()).collect();
        let (process, port) = spawn(&db, &args);
        Served { process, port, key, db, args, dir }
    }

    /// Kill the server (SIGKILL: no shutdown, a poll may be cut off mid-way).
    pub fn kill(&mut self) {
        // A placeholder (that exits at once) while it is down: dropping the old process kills it.
        let placeholder = Process::spawn("placeholder", Command::new("true"));
        drop(std::mem::replace(&mut self.process, placeholder));
    }

    /// Start the server again (after [`Served::kill`]) over the same database.
    pub fn restart(&mut self) {
        let (process, port) = spawn(&self.db, &self.args);
        self.process = process;
        self.port = port;
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn output(&self) -> String {
        self.process.output()
    }

    /// The output once it contains `needle` (or after 10 s): log lines are written by a thread
    /// of their own, so the line of a request may follow its answer by a moment.
    pub fn output_with(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let out = self.output();
            if out.contains(needle) || std::time::Instant::now() > deadline {
                return out;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// An authenticated API call; the status and the JSON body (`null` when empty).
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let auth = format!("Bearer {}", self.key);
        let text = body.map(Value::to_string).unwrap_or_default();
        let (status, answer) = http(
            self.port,
            method,
            path,
            &[("Authorization", &auth), ("Content-Type", "application/json")],
            text.as_bytes(),
        )
        .unwrap_or_else(|| panic!("{method} {path}: no answer; server output:\n{}", self.output()));
        let json = if answer.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&answer).unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {answer}"))
        };
        (status, json)
    }

    /// [`Served::call`] that must answer `want`.
    pub fn expect(&self, want: u16, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (status, answer) = self.call(method, path, body);
        assert_eq!(status, want, "{method} {path}: {answer}");
        answer
    }
}

fn spawn(db: &std::path::Path, extra: &[String]) -> (Process, u16) {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_automations"));
    cmd.args(["serve", "--addr", &format!("127.0.0.1:{port}"), "--db"]).arg(db);
    // Retries within seconds rather than the default's tens of seconds.
    cmd.args(["--retry-base", "1s"]);
    cmd.args(extra);
    let mut process = Process::spawn("automations serve", cmd);
    process.wait_until(Duration::from_secs(60), || {
        http(port, "GET", "/v1/health", &[], b"").is_some_and(|(s, _)| s == 200)
    });
    (process, port)
}
