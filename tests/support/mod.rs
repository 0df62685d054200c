//! Test support for the end-to-end tests of the `automations` binary: tools from the test venv,
//! child processes killed with their whole process group, a real MLflow server, and a loopback
//! webhook receiver.

#![allow(dead_code)] // each test crate uses part of it

pub mod mlflow;
pub mod receiver;
pub mod serve;

use std::fs::File;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The path of a test tool: `.venv/bin/NAME` of the workspace, else on `PATH`. Panics (the test
/// fails, it is not skipped) when it is missing, saying how to install it.
pub fn tool(name: &str) -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin").join(name);
    if venv.is_file() {
        return venv;
    }
    if let Some(found) =
        std::env::var_os("PATH").iter().flat_map(std::env::split_paths).map(|d| d.join(name)).find(|p| p.is_file())
    {
        return found;
    }
    panic!(
        "the test tool `{name}` is missing: run scripts/venv (it installs scripts/requirements-test.txt into {}/.venv)",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind 127.0.0.1:0");
    l.local_addr().expect("local address").port()
}

/// A child process in its own process group, output kept in a log file. Dropping it kills the
/// whole group (servers such as `mlflow server` run their workers as children) and reaps it.
pub struct Process {
    name: String,
    child: Child,
    log: tempfile::NamedTempFile,
}

impl Process {
    pub fn spawn(name: &str, mut cmd: Command) -> Process {
        let log = tempfile::NamedTempFile::new().expect("create a log file");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log.reopen().expect("reopen log")))
            .stderr(Stdio::from(log.reopen().expect("reopen log")))
            .process_group(0);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("start {name} ({cmd:?}): {e}"));
        Process { name: name.to_string(), child, log }
    }

    /// What the process wrote so far.
    pub fn output(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = File::open(self.log.path()) {
            // An unreadable log only shortens a failure message.
            f.read_to_string(&mut text).ok();
        }
        text
    }

    /// Wait until `ready()` holds; panics with the output if the process exits or `limit` passes.
    pub fn wait_until(&mut self, limit: Duration, mut ready: impl FnMut() -> bool) {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited ({status}) before it was ready; its output:\n{}", self.name, self.output());
            }
            if ready() {
                return;
            }
            assert!(
                start.elapsed() < limit,
                "{} was not ready after {limit:?}; its output:\n{}",
                self.name,
                self.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // The group id is the child's pid (process_group(0)). Already gone is fine.
        if let Ok(pid) = i32::try_from(self.child.id()) {
            Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).stderr(Stdio::null()).status().ok();
        }
        self.child.kill().ok();
        self.child.wait().ok();
        keep_log(&self.name, self.log.path());
    }
}

/// Keep a copy of a process's log in `$AUTOMATIONS_TEST_LOGS` when set (`scripts/test` sets it
/// and then searches every log for the tests' secrets: `scripts/check_test_logs.py`).
fn keep_log(name: &str, log: &std::path::Path) {
    let Some(dir) = std::env::var_os("AUTOMATIONS_TEST_LOGS") else { return };
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let safe: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    // A copy that fails only makes the search miss one log.
    std::fs::create_dir_all(&dir).ok();
    std::fs::copy(log, std::path::Path::new(&dir).join(format!("{safe}-{}-{n}.log", std::process::id()))).ok();
}

/// Send one HTTP/1.0 request to 127.0.0.1:`port`; the status and body, or `None` if nothing answered.
pub fn http(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Option<(u16, String)> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok()?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((status, body))
}
