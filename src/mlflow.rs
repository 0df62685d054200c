//! MLflow tracking in for `automations serve`: a task that polls every `mlflow` integration with
//! a `tracking_uri` on its own interval, hands what changed to the one ingest path (the
//! [`LocalSink`], like the sweeper's envelopes), keeps each poll's outcome for
//! `GET /v1/integrations/{name}`, and backs off while a server fails.

use automations_api::LocalSink;
use automations_core::store::TrackingStore;
use automations_core::time::{Clock, Millis, SECOND};
use automations_delivery::SystemClock;
use automations_mlflow::{backoff, interval, poll_integration};
use automations_sqlite::SqliteStore;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The MLflow tracking settings of `automations serve`.
#[derive(clap::Args, Debug, Clone)]
pub struct TrackingArgs {
    /// How long one request to an MLflow tracking server may take.
    #[arg(long, default_value = "10s", value_parser = crate::delivery::parse_duration)]
    pub mlflow_timeout: Millis,
    /// Poll every tracking integration this often instead of its `poll_seconds` (for tests).
    #[arg(long, hide = true, value_parser = crate::delivery::parse_duration)]
    pub mlflow_poll_every: Option<Millis>,
}

fn duration(ms: Millis) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// Start the poller on the current runtime.
pub fn start(
    store: Arc<SqliteStore>,
    sink: Arc<LocalSink<SqliteStore>>,
    args: &TrackingArgs,
    allow_private: bool,
) -> tokio::task::JoinHandle<()> {
    let timeout = duration(args.mlflow_timeout.max(SECOND));
    let every = args.mlflow_poll_every;
    let tick = every.map_or(Duration::from_secs(1), duration).min(Duration::from_secs(1));
    tokio::spawn(async move {
        let mut due: HashMap<String, Instant> = HashMap::new();
        loop {
            match store.tracking_integrations().await {
                Ok(integrations) => {
                    for i in integrations.iter().filter(|i| i.disabled.is_none()) {
                        if due.get(&i.id).is_some_and(|at| *at > Instant::now()) {
                            continue;
                        }
                        let record =
                            poll_integration(&*store, &*sink, i, timeout, allow_private, SystemClock.now()).await;
                        let wait = backoff(interval(i, every), record.failures);
                        due.insert(i.id.clone(), Instant::now() + duration(wait));
                    }
                    due.retain(|id, _| integrations.iter().any(|i| &i.id == id));
                }
                Err(e) => tracing::error!(error = %e, "mlflow: cannot list the tracking integrations"),
            }
            tokio::time::sleep(tick).await;
        }
    })
}
