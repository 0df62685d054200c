//! The Lambda runtime emulator of `cargo lambda watch`, and `cargo lambda invoke`.
//!
//! The emulator runs with `--only-lambda-apis`: it serves the Runtime API and the invoke API but
//! does not build functions. A test runs the function binary that Cargo already built for it
//! (`CARGO_BIN_EXE_*`), pointed at the emulator. Letting `cargo lambda watch` build the function
//! would run Cargo inside `cargo test`, which waits forever on the build-directory lock that the
//! outer Cargo holds.

use crate::process::Server;
use crate::tools::{free_port, tool};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// A running `cargo lambda watch --only-lambda-apis`, stopped when dropped.
pub struct Emulator {
    server: Server,
    port: u16,
    /// A throwaway Cargo package to run in: `cargo lambda watch` reads `cargo metadata` on start,
    /// which must not depend on the state of the workspace under test.
    _dir: tempfile::TempDir,
}

impl Emulator {
    /// Start the emulator on a free port of 127.0.0.1 for the functions `names`, and wait until
    /// it answers.
    pub fn start(names: &[&str]) -> Emulator {
        let bin = tool("cargo-lambda");
        let dir = tempfile::tempdir().expect("create a directory for the emulator");
        std::fs::create_dir(dir.path().join("src")).expect("create src/");
        // The emulator invokes only functions its package has a binary for: one stub per name.
        let mut manifest =
            String::from("[package]\nname = \"emulator\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n[workspace]\n");
        for name in names {
            manifest.push_str(&format!("\n[[bin]]\nname = \"{name}\"\npath = \"src/main.rs\"\n"));
        }
        std::fs::write(dir.path().join("Cargo.toml"), manifest).expect("write the emulator's Cargo.toml");
        std::fs::write(dir.path().join("src/main.rs"), "fn main() {}\n").expect("write src/main.rs");
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            let mut cmd = Command::new(&bin);
            cmd.current_dir(dir.path()).args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "-A",
                "127.0.0.1",
                "-P",
                &port.to_string(),
            ]);
            let mut server = Server::spawn("cargo lambda watch", cmd);
            let ready = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                // Any HTTP request to the emulator is an invocation that waits for a function, so
                // readiness is the port accepting connections.
                server
                    .wait_until(Duration::from_secs(60), |_| std::net::TcpStream::connect(("127.0.0.1", port)).is_ok())
            }));
            match ready {
                Ok(()) => return Emulator { server, port, _dir: dir },
                Err(_) => last = server.output(),
            }
        }
        panic!("cargo lambda watch did not start on three ports; its last output:\n{last}")
    }

    /// The emulator's process id.
    pub fn pid(&self) -> u32 {
        self.server.pid()
    }

    /// The emulator's port on 127.0.0.1 (Runtime API and invoke API both).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Run a function binary against this emulator under `name` (what `invoke` addresses), with
    /// `env` added to its environment. The process stops when the returned guard drops.
    pub fn run_function(&self, name: &str, bin: &Path, env: &[(String, String)]) -> Server {
        let mut cmd = Command::new(bin);
        // The emulator serves each function's Runtime API under `/.rt/NAME`.
        cmd.env("AWS_LAMBDA_RUNTIME_API", format!("http://127.0.0.1:{}/.rt/{name}", self.port))
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("RUST_LOG", "info");
        for (k, v) in env {
            cmd.env(k, v);
        }
        Server::spawn(name, cmd)
    }

    /// `cargo lambda invoke NAME --data-file FILE`: the function's JSON answer. Panics with the
    /// function's output when the invocation fails, or takes over two minutes (a function that
    /// died at start leaves the invocation waiting).
    pub fn invoke(&self, function: &Server, name: &str, data_file: &Path) -> serde_json::Value {
        let out_file = tempfile::NamedTempFile::new().expect("a file for the answer");
        let err_file = tempfile::NamedTempFile::new().expect("a file for errors");
        let mut child = Command::new(tool("cargo-lambda"))
            .args(["lambda", "invoke", name, "--output-format", "json", "-A", "127.0.0.1", "-P"])
            .arg(self.port.to_string())
            .arg("--data-file")
            .arg(data_file)
            .stdout(out_file.reopen().expect("reopen"))
            .stderr(err_file.reopen().expect("reopen"))
            .spawn()
            .unwrap_or_else(|e| panic!("run cargo lambda invoke: {e}"));
        let start = std::time::Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for cargo lambda invoke") {
                break Some(status);
            }
            if start.elapsed() > Duration::from_secs(120) {
                child.kill().ok();
                child.wait().ok();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let read = |f: &tempfile::NamedTempFile| std::fs::read_to_string(f.path()).unwrap_or_default();
        let (stdout, stderr) = (read(&out_file), read(&err_file));
        match status {
            Some(s) if s.success() => serde_json::from_str(&stdout)
                .unwrap_or_else(|e| panic!("cargo lambda invoke {name} answered non-JSON ({e}): {stdout}")),
            other => panic!(
                "cargo lambda invoke {name} failed ({}):\n{stdout}{stderr}\nfunction output:\n{}\nemulator output:\n{}",
                other.map_or("no answer in 120 s".to_string(), |s| s.to_string()),
                function.output(),
                self.server.output()
            ),
        }
    }
}
