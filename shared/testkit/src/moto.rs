//! A moto server (DynamoDB and SQS emulation, from PyPI) on a free loopback port.

use crate::process::{Server, http_answers};
use crate::tools::{free_port, tool};
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use std::process::Command;
use std::time::Duration;

/// The region every test client and function uses against moto.
pub const REGION: &str = "us-east-1";

/// A running moto server, stopped when dropped.
pub struct Moto {
    server: Server,
    port: u16,
}

impl Moto {
    /// Start moto's server (from `.venv`, see [`crate::tools::tool`]) on a free port of
    /// 127.0.0.1 and wait until it answers. Panics with its output if it does not start.
    ///
    /// Through `moto_atomic.py`, which applies DynamoDB requests one at a time: moto's own
    /// server can let two conditional writes of one item both succeed, which DynamoDB never does.
    pub fn start() -> Moto {
        let bin = tool("python");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/moto_atomic.py");
        let mut last = String::new();
        // The port was free when chosen; another process may take it before moto binds, so a
        // failed start is retried on a new port.
        for _ in 0..3 {
            let port = free_port();
            let mut cmd = Command::new(&bin);
            cmd.arg(script).args(["-H", "127.0.0.1", "-p", &port.to_string()]);
            let mut server = Server::spawn("moto_server", cmd);
            let ready = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                server.wait_until(Duration::from_secs(60), |_| http_answers(port, "/moto-api/"))
            }));
            match ready {
                Ok(()) => return Moto { server, port },
                Err(_) => last = server.output(),
            }
        }
        panic!("moto_server did not start on three ports; its last output:\n{last}")
    }

    /// The moto server's process id.
    pub fn pid(&self) -> u32 {
        self.server.pid()
    }

    /// The moto server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`: the endpoint of every AWS service moto emulates.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What a process needs in its environment to reach this moto through the AWS SDK's own
    /// configuration loading (dummy credentials; nothing leaves 127.0.0.1).
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_REGION", REGION.to_string()),
            ("AWS_DEFAULT_REGION", REGION.to_string()),
            ("AWS_ACCESS_KEY_ID", "testing".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    fn credentials() -> Credentials {
        Credentials::new("testing", "testing", None, None, "automations-testkit")
    }

    /// A DynamoDB client for this moto.
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(self.endpoint())
            .credentials_provider(Moto::credentials())
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    /// An SQS client for this moto.
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new(REGION))
            .endpoint_url(self.endpoint())
            .credentials_provider(Moto::credentials())
            .build();
        aws_sdk_sqs::Client::from_conf(config)
    }

    /// Wipe every table and queue (`POST /moto-api/reset`).
    pub fn reset(&self) {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect to moto");
        write!(s, "POST /moto-api/reset HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n").expect("reset moto");
        let mut answer = String::new();
        s.read_to_string(&mut answer).expect("read moto's reset answer");
        assert!(answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200"), "moto reset: {answer}");
    }

    /// The server's output so far, for failure messages.
    pub fn output(&self) -> String {
        self.server.output()
    }
}
