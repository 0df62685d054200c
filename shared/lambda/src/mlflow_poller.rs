//! The scheduled MLflow poller: every `mlflow` integration with a tracking side, of every
//! entity, polled through the same use case as `automations serve`
//! ([`automations_mlflow::poll_integration`]), with its cursors and poll records in DynamoDB.
//!
//! Its envelopes are evaluated here, by the [`Evaluator`] the input queues' consumers use (the
//! core's `Ingest::process` on DynamoDB, new fires' deliveries onto the delivery queue), as the
//! sweeper's `crashed` envelopes are, rather than sent to the metric-ingest FIFO queue. Both are
//! the one ingest path; evaluating here keeps it to one hop: a run's envelopes are produced by one
//! poll in step order (the order the FIFO queue would keep), a cursor is saved only after its
//! envelopes' fires are recorded (so a crash in between re-sends them under the same ids, and
//! nothing fires twice), and a value reaches the engine without a queue's extra latency, or a
//! second place where a message may wait or be dead-lettered.

use crate::evaluate::Evaluator;
use automations_core::store::TrackingStore;
use automations_core::time::{Millis, SECOND, Timestamp};
use automations_dynamo::DynamoApi;
use automations_mlflow::{due, interval, poll_integration};
use futures_util::StreamExt;
use std::time::Duration;

/// Integrations polled at once.
const CONCURRENCY: usize = 8;

/// How the poller runs.
#[derive(Debug, Clone, Copy)]
pub struct PollerConfig {
    /// One request to a tracking server may take this long.
    pub timeout: Millis,
    /// Keep polling this long in one invocation (0: one pass).
    pub window: Millis,
    /// Tracking servers may be on private addresses (tests).
    pub allow_private: bool,
}

/// What one invocation did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PollerReport {
    /// Tracking integrations found (enabled or not).
    pub integrations: usize,
    /// Polls made (integrations that were due).
    pub polls: u64,
    /// Polls that failed (their cursors stay where they were).
    pub failed: u64,
    /// HTTP requests to tracking servers.
    pub requests: u64,
    /// Envelopes the polls produced and evaluated.
    pub envelopes: u64,
}

/// Poll every due tracking integration, in passes until `config.window` has passed since
/// `start()` (one pass when it is 0). `now` is the clock. Fails only when the integrations
/// cannot be listed; a tracking server that fails is recorded on its integration and retried
/// with backoff.
pub async fn poll_all<D: DynamoApi>(
    evaluator: &Evaluator<D>,
    config: PollerConfig,
    now: impl Fn() -> Timestamp,
) -> Result<PollerReport, crate::Error> {
    let started = now();
    let timeout = Duration::from_millis(u64::try_from(config.timeout.max(SECOND)).unwrap_or(10_000));
    let store = &*evaluator.store;
    let mut report = PollerReport::default();
    loop {
        let integrations = store.tracking_integrations().await?;
        report.integrations = integrations.len();
        let pass = now();
        // How early a poll may run: a pass of a window comes every second; a lone pass comes
        // once per schedule tick (a minute), so what is due before the next tick runs now.
        let slack = if config.window > 0 { SECOND } else { 50 * SECOND };
        let mut due_now = Vec::new();
        for i in integrations.iter().filter(|i| i.disabled.is_none()) {
            let last = store.poll_record(&i.id).await?;
            if due(last.as_ref(), interval(i, None), pass, slack) {
                due_now.push(i);
            }
        }
        let records: Vec<_> = futures_util::stream::iter(due_now)
            .map(|i| poll_integration(store, evaluator, i, timeout, config.allow_private, now()))
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for r in &records {
            report.polls += 1;
            report.failed += u64::from(r.error.is_some());
            report.requests += r.requests;
            report.envelopes += r.envelopes;
        }
        if now() >= started.plus(config.window) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    tracing::info!(
        integrations = report.integrations,
        polls = report.polls,
        failed = report.failed,
        requests = report.requests,
        envelopes = report.envelopes,
        "mlflow polled"
    );
    Ok(report)
}
