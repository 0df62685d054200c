//! Child processes owned by a test: output captured to a file, killed and reaped on drop.

use std::fs::File;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running child process. Dropping it kills the process and waits for it.
pub struct Server {
    name: String,
    child: Child,
    log: tempfile::NamedTempFile,
    /// The child leads a process group of its own, killed whole on drop.
    group: bool,
}

impl Server {
    /// Start `cmd` with its standard output and error going to a temporary log file. The child
    /// also dies with the thread that started it (`PR_SET_PDEATHSIG`), so a test process that is
    /// killed outright leaves no server behind.
    pub fn spawn(name: &str, cmd: Command) -> Server {
        Server::start(name, cmd, false)
    }

    /// [`Server::spawn`] for a server that forks workers (`mlflow server`): the child leads a
    /// process group, and dropping the guard kills the whole group.
    pub fn spawn_group(name: &str, mut cmd: Command) -> Server {
        cmd.process_group(0);
        Server::start(name, cmd, true)
    }

    fn start(name: &str, mut cmd: Command, group: bool) -> Server {
        let log = tempfile::NamedTempFile::new().expect("create a log file for a test server");
        let out = log.reopen().expect("reopen the log file");
        let err = log.reopen().expect("reopen the log file");
        cmd.stdin(Stdio::null()).stdout(Stdio::from(out)).stderr(Stdio::from(err));
        // SAFETY: prctl is async-signal-safe and touches nothing of the parent's state.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("start {name} ({cmd:?}): {e}"));
        Server { name: name.to_string(), child, log, group }
    }

    /// The process id (a load test reads the CPU time each process used from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the process wrote so far (standard output and error, interleaved).
    pub fn output(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = File::open(self.log.path()) {
            // A log that cannot be read only shortens a failure message.
            f.read_to_string(&mut text).ok();
        }
        text
    }

    /// The log file's path, for tests that watch for a line.
    pub fn log_path(&self) -> PathBuf {
        self.log.path().to_path_buf()
    }

    /// Panics with the process's output if it has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited ({status}) before it was ready; its output:\n{}", self.name, self.output());
        }
    }

    /// Wait until `ready()` holds, checking that the process still runs; panics after `limit`.
    pub fn wait_until(&mut self, limit: Duration, mut ready: impl FnMut(&Server) -> bool) {
        let start = Instant::now();
        loop {
            self.assert_running();
            if ready(self) {
                return;
            }
            if start.elapsed() > limit {
                panic!("{} was not ready after {limit:?}; its output:\n{}", self.name, self.output());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Keep a copy of a test process's log in `$AUTOMATIONS_TEST_LOGS` (when set: `scripts/test`
/// sets it), so that every log the suite writes can be searched for the tests' secrets
/// (`scripts/check_test_logs.py`).
pub fn keep_log(name: &str, log: &std::path::Path) {
    let Some(dir) = std::env::var_os("AUTOMATIONS_TEST_LOGS") else { return };
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let safe: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    let to = std::path::Path::new(&dir).join(format!("{safe}-{}-{n}.log", std::process::id()));
    // A copy that fails only makes the search miss one log; the check counts the logs it read.
    std::fs::create_dir_all(&dir).ok();
    std::fs::copy(log, to).ok();
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.group
            && let Ok(pid) = libc::pid_t::try_from(self.child.id())
        {
            // SAFETY: a plain syscall; the group id is the child's pid (process_group(0)).
            unsafe {
                libc::killpg(pid, libc::SIGKILL);
            }
        }
        // Already exited is fine; either way it is reaped below.
        self.child.kill().ok();
        self.child.wait().ok();
        keep_log(&self.name, self.log.path());
    }
}

/// Does an HTTP GET of `path` on 127.0.0.1:`port` get any HTTP answer?
pub fn http_answers(port: u16, path: &str) -> bool {
    use std::io::Write;
    use std::net::TcpStream;
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    s.set_read_timeout(Some(Duration::from_secs(2))).ok();
    if write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}
