//! Start-up: JSON logs and the AWS clients, made once per cold start and shared by every
//! invocation of the warm function.

use crate::settings::Settings;
use automations_dynamo::{DynamoStore, SdkDynamo};
use automations_sqs::Sqs;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use std::sync::Arc;
use std::time::Duration;

/// Log JSON lines to standard output (CloudWatch keeps them), at `RUST_LOG` (default `info`).
pub fn logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second call (tests) leaves the first subscriber in place.
    tracing_subscriber::fmt().json().with_env_filter(filter).with_current_span(true).with_target(false).try_init().ok();
}

/// The SDK configuration from the environment (the Lambda role's credentials, the region,
/// `AWS_ENDPOINT_URL` when set), with timeouts well inside an invocation and the SDK's standard
/// retries.
pub async fn aws() -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(15))
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .load()
        .await
}

/// What every function holds: its settings, the store and the SQS client.
pub struct Clients {
    /// The function's environment, read.
    pub settings: Settings,
    /// The table.
    pub store: Arc<DynamoStore>,
    /// The SQS client.
    pub sqs: Sqs,
}

/// Read the settings and build the clients.
pub async fn clients() -> Result<Clients, crate::Error> {
    let settings = Settings::from_env()?;
    let config = aws().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&config);
    let store = Arc::new(DynamoStore::new(SdkDynamo::new(dynamo), settings.table.clone()));
    let sqs = Sqs::new(aws_sdk_sqs::Client::new(&config));
    Ok(Clients { settings, store, sqs })
}

/// Print what the process's metrics did since the last call as CloudWatch Embedded Metric
/// Format lines (namespace `automations`, the Prometheus names, dimension `function` = `name`)
/// on standard output, which CloudWatch Logs keeps and turns into metrics. Called at the end of
/// every invocation.
pub fn emit_metrics(name: &str) {
    use std::io::Write;
    let lines = automations_telemetry::emf::flush(name, crate::now().0);
    let mut out = std::io::stdout().lock();
    for line in lines {
        // A metric line that cannot be written is lost like a log line would be.
        writeln!(out, "{line}").ok();
    }
    out.flush().ok();
}
