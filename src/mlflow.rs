//! MLflow tracking in for `automations serve`: a task that polls every `mlflow` integration with
//! a `tracking_uri` on its own interval, hands what changed to the one ingest path (the
//! [`LocalSink`], like the sweeper's envelopes), keeps each poll's outcome for
//! `GET /v1/integrations/{name}`, and backs off while a server fails.

use automations_api::{BoxFuture, LocalSink, TrackingHooks};
use automations_core::model::Integration;
use automations_core::store::{PollRecord, TrackingStore};
use automations_core::time::{Clock, Millis, SECOND};
use automations_delivery::SystemClock;
use automations_mlflow::{PollOutcome, TrackingClient, poll_once};
use automations_sqlite::SqliteStore;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest wait between two polls of a failing server.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

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

/// A client of `integration`'s tracking server.
fn client(integration: &Integration, timeout: Duration, allow_private: bool) -> Result<TrackingClient, String> {
    let tracking = integration.tracking().ok_or_else(|| "the integration has no tracking_uri".to_string())?;
    TrackingClient::new(tracking, timeout, allow_private).map_err(|e| e.to_string())
}

/// The API's side: check a new integration's server, show its last poll.
pub struct Hooks {
    pub store: Arc<SqliteStore>,
    pub timeout: Duration,
    pub allow_private: bool,
}

impl TrackingHooks for Hooks {
    fn check<'a>(&'a self, integration: &'a Integration) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let c = client(integration, self.timeout, self.allow_private)?;
            c.check().await.map_err(|e| format!("{e}; the integration was not created"))
        })
    }

    fn status<'a>(&'a self, integration: &'a Integration) -> BoxFuture<'a, Result<Option<Map<String, Value>>, String>> {
        Box::pin(async move {
            let record = self.store.poll_record(&integration.id).await.map_err(|e| e.to_string())?;
            let mut out = Map::new();
            out.insert("last_poll".into(), record.map_or(Value::Null, |r| r.to_json()));
            Ok(Some(out))
        })
    }
}

/// Start the poller on the current runtime.
pub fn start(
    store: Arc<SqliteStore>,
    sink: Arc<LocalSink<SqliteStore>>,
    args: &TrackingArgs,
    allow_private: bool,
) -> tokio::task::JoinHandle<()> {
    let timeout = duration(args.mlflow_timeout.max(SECOND));
    let every = args.mlflow_poll_every.map(duration);
    let tick = every.unwrap_or(Duration::from_secs(1)).min(Duration::from_secs(1));
    tokio::spawn(async move {
        let mut due: HashMap<String, Instant> = HashMap::new();
        loop {
            match store.tracking_integrations().await {
                Ok(integrations) => {
                    for i in integrations.iter().filter(|i| i.disabled.is_none()) {
                        if due.get(&i.id).is_some_and(|at| *at > Instant::now()) {
                            continue;
                        }
                        let interval = every.unwrap_or_else(|| {
                            Duration::from_secs(i.tracking().map_or(15, |t| u64::from(t.poll_seconds)))
                        });
                        let failures = poll(&store, &sink, i, timeout, allow_private).await;
                        let wait = if failures == 0 {
                            interval
                        } else {
                            (interval * 2u32.saturating_pow(failures.min(6))).min(MAX_BACKOFF.max(interval))
                        };
                        due.insert(i.id.clone(), Instant::now() + wait);
                    }
                    due.retain(|id, _| integrations.iter().any(|i| &i.id == id));
                }
                Err(e) => eprintln!("automations: mlflow: cannot list the tracking integrations: {e}"),
            }
            tokio::time::sleep(tick).await;
        }
    })
}

/// One poll of `integration`, recorded; the failures in a row after it.
async fn poll(
    store: &Arc<SqliteStore>,
    sink: &Arc<LocalSink<SqliteStore>>,
    integration: &Integration,
    timeout: Duration,
    allow_private: bool,
) -> u32 {
    let previous = match store.poll_record(&integration.id).await {
        Ok(p) => p.unwrap_or_default(),
        Err(e) => {
            eprintln!("automations: mlflow {:?}: cannot read its last poll: {e}", integration.name);
            return 1;
        }
    };
    let started = SystemClock.now();
    let mut outcome = PollOutcome::default();
    let result = match client(integration, timeout, allow_private) {
        Ok(c) => poll_once(&c, &**store, &**sink, integration, previous.last_success, started, &mut outcome)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    let ok = result.is_ok();
    let record = PollRecord {
        at: started,
        error: result.err(),
        requests: outcome.requests,
        envelopes: outcome.envelopes,
        last_success: if ok { Some(started) } else { previous.last_success },
        failures: if ok { 0 } else { previous.failures.saturating_add(1) },
    };
    if let Some(e) = &record.error {
        eprintln!(
            "automations: mlflow {:?}: poll failed ({} in a row; retried with backoff): {e}",
            integration.name, record.failures
        );
    } else if previous.error.is_some() {
        eprintln!("automations: mlflow {:?}: polling again after {} failures", integration.name, previous.failures);
    }
    if let Err(e) = store.save_poll_record(&integration.id, &record).await {
        eprintln!("automations: mlflow {:?}: cannot record the poll: {e}", integration.name);
    }
    record.failures
}
