//! `automations serve` for tests and benchmarks: a server on a temporary database with an API
//! key, on a port it chose itself, killed (by its pid) when dropped; and a small keep-alive
//! HTTP/1.1 client for loopback.

#![allow(dead_code)] // each test crate uses part of it

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `automations` binary of this build.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_automations"))
}

/// Make a key for `entity` in `db` with `automations keys create`.
pub fn create_key(db: &Path, entity: &str) -> String {
    let out = Command::new(binary())
        .args(["keys", "create", "--entity", entity, "--db"])
        .arg(db)
        .output()
        .expect("run automations keys create");
    assert!(out.status.success(), "keys create failed: {}", String::from_utf8_lossy(&out.stderr));
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(key.starts_with("ak_"), "{key}");
    key
}

/// A running `automations serve`.
pub struct Served {
    child: Child,
    pub port: u16,
    pub db: PathBuf,
    /// A key of entity `acme`.
    pub key: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Served {
    /// Start on a new database with a key for `acme`; returns once it listens.
    pub fn start() -> Served {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("automations.db");
        let key = create_key(&db, "acme");
        Served::start_on(dir, db, key)
    }

    /// Stop this server (by its pid) and start another on the same database and key.
    pub fn restart(mut self) -> Served {
        self.child.kill().ok();
        self.child.wait().ok();
        let dir = tempfile::tempdir().expect("temp dir");
        let (old_dir, db, key) = (std::mem::replace(&mut self._dir, dir), self.db.clone(), self.key.clone());
        Served::start_on(old_dir, db, key)
    }

    fn start_on(dir: tempfile::TempDir, db: PathBuf, key: String) -> Served {
        let log = dir.path().join("serve.log");
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new(binary())
            .args(["serve", "--addr", "127.0.0.1:0", "--db"])
            .arg(&db)
            // Extra flags for benchmarks that compare configurations (e.g. `--no-metric-history`).
            .args(std::env::var("AUTOMATIONS_SERVE_FLAGS").unwrap_or_default().split_whitespace())
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().expect("log")))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("start automations serve");
        let mut served = Served { child, port: 0, db, key, log, _dir: dir };
        let start = Instant::now();
        while served.port == 0 {
            if let Ok(Some(status)) = served.child.try_wait() {
                panic!("automations serve exited ({status}): {}", served.output());
            }
            assert!(start.elapsed() < Duration::from_secs(30), "serve did not start: {}", served.output());
            served.port = served
                .output()
                .split("listening on http://127.0.0.1:")
                .nth(1)
                .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
                .unwrap_or(0);
            std::thread::sleep(Duration::from_millis(20));
        }
        served
    }

    /// What the server wrote so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn client(&self) -> Client {
        Client::connect(self.port)
    }

    /// One request on a new connection, with the key.
    pub fn call(&self, method: &str, path: &str, body: &str) -> Response {
        self.client().send(method, path, &[("authorization", &format!("Bearer {}", self.key))], body.as_bytes())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // Our own child, by its pid; already exited is fine.
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// An HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Lower-case names, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// A keep-alive HTTP/1.1 connection to 127.0.0.1.
pub struct Client {
    port: u16,
    reader: BufReader<TcpStream>,
}

impl Client {
    pub fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the server");
        stream.set_nodelay(true).expect("nodelay");
        stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
        Client { port, reader: BufReader::new(stream) }
    }

    pub fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            self.port,
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        // Like curl, ask before sending a large body: a server that refuses it (413) answers
        // without reading it, and writing into a connection it is closing would race its reset.
        let ask_first = body.len() > 64 * 1024;
        if ask_first {
            req.push_str("expect: 100-continue\r\n");
        }
        req.push_str("\r\n");
        self.reader.get_mut().write_all(req.as_bytes()).expect("send the request head");
        if ask_first {
            let first = self.read_response();
            if first.status != 100 {
                return first;
            }
        }
        self.reader.get_mut().write_all(body).expect("send the request body");
        self.read_response()
    }

    fn read_response(&mut self) -> Response {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("read the status line");
        let status =
            line.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("status line {line:?}"));
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("read a header");
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let (k, v) = l.split_once(':').expect("a header line");
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        let len: usize = headers.iter().find(|(k, _)| k == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body).expect("read the body");
        Response { status, headers, body }
    }
}
