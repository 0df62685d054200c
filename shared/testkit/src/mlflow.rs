//! A real MLflow tracking server (`mlflow server` from `.venv`) on 127.0.0.1 with a SQLite backend
//! in a temporary directory, configured to deliver model-registry webhooks to loopback http://
//! targets; `scripts/mlflow_tracking.py` logging into it with MLflow's fluent API, and
//! `scripts/mlflow_driver.py` acting on it through `MlflowClient`. One server for every suite:
//! the AWS poller's, `serve`'s tracking and the webhook bridge's.

use crate::process::{Server, http_answers};
use crate::tools::{free_port, tool, workspace_root};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

/// A Fernet key for the server's webhook secrets. Fixed, so every worker process (and a
/// restarted server) can read secrets the others stored.
const SECRET_ENCRYPTION_KEY: &str = "2Ud1dU40rO0malZwbr1DluPEJsjCGxJBLOw4CfbdFas=";

/// The run both deployments' tracking tests log (`scripts/mlflow_tracking.py` steps): a loss
/// that falls for six steps, then turns up for three, with a tag and a param.
pub fn loss_turning_up() -> Value {
    serde_json::json!([
        {"op": "start", "run_name": "lr-sweep-3", "tags": {"team": "ml"}, "params": {"lr": "0.01"}},
        {"op": "log", "key": "loss", "values": [1.0, 0.9, 0.8, 0.7, 0.6, 0.5], "first_step": 0},
        {"op": "log_metrics", "metrics": {"loss": 1.5, "acc": 0.4}, "step": 6},
        {"op": "log_metrics", "metrics": {"loss": 1.6, "acc": 0.4}, "step": 7},
        {"op": "log_metrics", "metrics": {"loss": 1.7, "acc": 0.3}, "step": 8},
    ])
}

/// A running `mlflow server`; dropping it stops the server and its workers.
pub struct MlflowServer {
    server: Option<Server>,
    port: u16,
    dir: tempfile::TempDir,
}

impl MlflowServer {
    /// Start the server and wait until it answers `/health` (it migrates its database first,
    /// which takes seconds).
    pub fn start() -> MlflowServer {
        let dir = tempfile::tempdir().expect("temp dir for the MLflow server");
        let port = free_port();
        let server = Some(spawn(&dir, port));
        MlflowServer { server, port, dir }
    }

    /// Stop the server (workers included); its database stays.
    pub fn stop(&mut self) {
        self.server = None;
    }

    /// Start it again (after [`MlflowServer::stop`]) on the same port and database.
    pub fn restart(&mut self) {
        self.server = Some(spawn(&self.dir, self.port));
    }

    /// `http://127.0.0.1:PORT`: the tracking URI (the same after a restart).
    pub fn uri(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The server's output so far, for failure messages; empty while it is stopped.
    pub fn output(&self) -> String {
        self.server.as_ref().map(Server::output).unwrap_or_default()
    }

    /// Run steps (see `scripts/mlflow_driver.py`) against the server in one Python process;
    /// their results, one per step. Panics with the driver's and the server's output on failure.
    pub fn drive(&self, steps: &Value) -> Vec<Value> {
        let script = workspace_root().join("scripts/mlflow_driver.py");
        let out = Command::new(tool("python"))
            .arg(&script)
            .arg(self.uri())
            .arg(steps.to_string())
            .current_dir(self.dir.path())
            .output()
            .expect("run scripts/mlflow_driver.py");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "mlflow_driver.py failed ({}):\n{stdout}\n{}\nserver output:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.output()
        );
        stdout.lines().map(|l| serde_json::from_str(l).expect("each driver line is JSON")).collect()
    }

    /// `scripts/mlflow_tracking.py` (see its docstring for the steps) logging into `experiment`
    /// (a training script's fluent `mlflow` calls), as a command to spawn.
    pub fn log_command(&self, experiment: &str, steps: &Value) -> Command {
        let script = workspace_root().join("scripts/mlflow_tracking.py");
        let mut cmd = Command::new(tool("python"));
        cmd.arg(&script).arg(self.uri()).arg(experiment).arg(steps.to_string()).current_dir(self.dir.path());
        cmd
    }

    /// Run [`MlflowServer::log_command`] to its end; its result lines.
    pub fn log(&self, experiment: &str, steps: &Value) -> Vec<Value> {
        let out = self.log_command(experiment, steps).output().expect("run scripts/mlflow_tracking.py");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "mlflow_tracking.py failed ({}):\n{stdout}\n{}\nserver output:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.output()
        );
        stdout.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect()
    }
}

fn spawn(dir: &tempfile::TempDir, port: u16) -> Server {
    let db = format!("sqlite:///{}", dir.path().join("mlflow.db").display());
    let mut cmd = Command::new(tool("mlflow"));
    cmd.args(["server", "--host", "127.0.0.1", "--port", &port.to_string(), "--workers", "1"])
        .arg("--backend-store-uri")
        .arg(&db)
        .arg("--default-artifact-root")
        .arg(dir.path().join("artifacts"))
        .current_dir(dir.path())
        // Loopback http:// targets are refused without these two (SSRF protection).
        .env("MLFLOW_WEBHOOK_ALLOWED_SCHEMES", "http,https")
        .env("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS", "true")
        .env("MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY", SECRET_ENCRYPTION_KEY)
        // The webhook list is cached per event for this many seconds (default 60).
        .env("MLFLOW_WEBHOOK_CACHE_TTL", "1");
    let mut server = Server::spawn_group("mlflow server", cmd);
    server.wait_until(Duration::from_secs(180), |_| http_answers(port, "/health"));
    server
}
