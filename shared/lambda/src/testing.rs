//! Test support for the function crates (feature `testing`): the whole stack on this machine.
//! A moto server with the table and the queues as `template.yaml` declares them, the Lambda
//! runtime emulator of `cargo lambda watch`, and the environment a function binary needs to run
//! against them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_dynamo::{Backoff, DynamoStore, SdkDynamo, create_table};
use automations_testkit::lambda::Emulator;
use automations_testkit::moto::Moto;
use automations_testkit::process::Server;
use automations_testkit::queues::{Queues, create_queues, drain};
use automations_testkit::tools::workspace_root;
use std::path::Path;

/// The table's name, as `template.yaml` names it.
pub const TABLE: &str = "automations";

/// Everything a function test runs against.
pub struct Stack {
    /// The table, on moto.
    pub store: DynamoStore,
    /// An SQS client of moto.
    pub sqs: aws_sdk_sqs::Client,
    /// The queues' URLs.
    pub queues: Queues,
    /// The Lambda runtime emulator.
    pub emulator: Emulator,
    /// The moto server (stopped when the stack drops).
    pub moto: Moto,
}

impl Stack {
    /// Start moto with the table and queues, and the emulator for the six functions.
    pub async fn start() -> Stack {
        let moto = Moto::start();
        create_table(&moto.dynamodb(), TABLE).await.expect("create the table");
        let sqs = moto.sqs();
        let queues = create_queues(&sqs).await;
        let store = DynamoStore::new(SdkDynamo::new(moto.dynamodb()), TABLE).with_backoff(Backoff::fast());
        let functions = ["artifact-events", "metric-ingest", "sweeper", "config-api", "dispatcher", "mlflow-poller"];
        Stack { store, sqs, queues, emulator: Emulator::start(&functions), moto }
    }

    /// The environment of a function whose source queue's dead-letter queue is `dead_letters`.
    pub fn env(&self, dead_letters: &str) -> Vec<(String, String)> {
        let mut env = self.moto.env();
        let q = &self.queues;
        for (k, v) in [
            ("TABLE_NAME", TABLE),
            ("ARTIFACT_QUEUE_URL", &q.artifacts),
            ("RUN_QUEUE_URL", &q.runs),
            ("DELIVERY_QUEUE_URL", &q.deliveries),
            ("DEAD_LETTER_QUEUE_URL", dead_letters),
            // Receivers in tests listen on 127.0.0.1.
            ("ALLOW_PRIVATE_TARGETS", "true"),
            ("AUTOMATIONS_CACHE_SECONDS", "0"),
        ] {
            env.push((k.to_string(), v.to_string()));
        }
        env
    }

    /// Run a function binary against the emulator, as `name`.
    pub fn run(&self, name: &str, binary: &str, env: &[(String, String)]) -> Server {
        self.emulator.run_function(name, Path::new(binary), env)
    }

    /// `cargo lambda invoke NAME --data-file events/FILE`: the function's answer.
    pub fn invoke(&self, function: &Server, name: &str, events_file: &str) -> serde_json::Value {
        self.emulator.invoke(function, name, &workspace_root().join("events").join(events_file))
    }

    /// Every message now in a queue (received and deleted).
    pub async fn drain(&self, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
        drain(&self.sqs, url).await
    }
}
