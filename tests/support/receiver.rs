//! A webhook receiver: a real HTTP server on 127.0.0.1 that records every request and answers
//! with a scripted status (200 unless told to fail the next requests).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Header names in lower case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The status it was answered with.
    pub status: u16,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers.iter().find(|(k, _)| *k == name).map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("request body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

#[derive(Default)]
struct Shared {
    requests: Mutex<Vec<Request>>,
    /// Statuses for the next requests, in order; 200 once empty.
    script: Mutex<VecDeque<u16>>,
    /// Paths that always answer this status (the script does not apply to them).
    failing: Mutex<Vec<(String, u16)>>,
    stop: AtomicBool,
}

/// The receiver; dropping it stops accepting.
pub struct Receiver {
    port: u16,
    shared: Arc<Shared>,
}

impl Receiver {
    pub fn start() -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind the receiver");
        let port = listener.local_addr().expect("receiver address").port();
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let s = s.clone();
                std::thread::spawn(move || serve(conn, &s));
            }
        });
        Receiver { port, shared }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Answer the next `n` requests with `status`.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.shared.script.lock().unwrap().extend(std::iter::repeat_n(status, n));
    }

    /// Answer every request to `path` with `status`, always.
    pub fn always_fail(&self, path: &str, status: u16) {
        self.shared.failing.lock().unwrap().push((path.to_string(), status));
    }

    pub fn requests(&self) -> Vec<Request> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// Wait until at least `n` requests arrived; panics after `limit` with what did arrive.
    pub fn wait_for(&self, n: usize, limit: Duration) -> Vec<Request> {
        let start = Instant::now();
        loop {
            let got = self.requests();
            if got.len() >= n {
                return got;
            }
            assert!(
                start.elapsed() < limit,
                "expected {n} requests within {limit:?}, got {}: {:#?}",
                got.len(),
                got.iter().map(|r| String::from_utf8_lossy(&r.body).into_owned()).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        TcpStream::connect(("127.0.0.1", self.port)).ok();
    }
}

fn serve(conn: TcpStream, shared: &Shared) {
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || line.is_empty() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() {
            return;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let fixed = shared.failing.lock().unwrap().iter().find(|(p, _)| *p == path).map(|(_, s)| *s);
    let status = fixed.unwrap_or_else(|| shared.script.lock().unwrap().pop_front().unwrap_or(200));
    shared.requests.lock().unwrap().push(Request { method, path, headers, body, status });
    let reason = if status < 400 { "OK" } else { "Failure" };
    let answer = format!("HTTP/1.1 {status} {reason}\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    // The sender may have given up already; nothing to do about it here.
    reader.get_mut().write_all(answer.as_bytes()).ok();
}
