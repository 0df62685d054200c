//! `automations serve`: the local deployment in one process, on one SQLite file: the
//! configuration API, event intake at `/v1/events`, and inline evaluation (the same router the
//! AWS `config-api` function serves), delivery and the sweeper (`delivery.rs`). And
//! `automations keys create`.

use anyhow::{Context, Result};
use automations_api::{Api, SystemClock, auth};
use automations_core::EntityId;
use automations_core::store::ApiKeyStore;
use automations_core::time::Clock;
use automations_sqlite::secrets::SecretKeys;
use automations_sqlite::{Checkpointer, SqliteStore};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How `serve` reports on itself: its log and its metrics.
#[derive(clap::Args, Debug, Clone)]
pub struct OpsArgs {
    /// The log's format on standard error: `text` for people, `json` (one object a line) for a
    /// log collector. The level comes from RUST_LOG (`info` when unset; e.g.
    /// `RUST_LOG=automations_delivery=debug,info`).
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Serve `GET /metrics` (Prometheus text format) on this address. Off by default. A
    /// separate listener because every route of the main address requires an API key, which a
    /// Prometheus scraper does not hold (and the metrics are the whole deployment's, not one
    /// entity's); bind it where only the monitoring can reach it.
    #[arg(long)]
    pub metrics_addr: Option<SocketAddr>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Install the log subscriber: to standard error, level from RUST_LOG (default `info`). Lines
/// are written by a thread of their own: a write to a slow disk or pipe (the database's own
/// writes compete for the disk) must not stall the async worker serving a request. Nothing is
/// dropped: when the queue is full, logging waits. The guard flushes it when dropped.
fn init_logs(format: LogFormat) -> Result<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => {
            EnvFilter::try_new(&spec).with_context(|| format!("RUST_LOG={spec:?} is not a log filter"))?
        }
        _ => EnvFilter::new("info"),
    };
    let (writer, guard) =
        tracing_appender::non_blocking::NonBlockingBuilder::default().lossy(false).finish(std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("cannot install the log subscriber: {e}"))?;
    Ok(guard)
}

/// How often the WAL is checkpointed into the database file.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(50);

/// Serve the API on `addr` over the database at `db` (created if absent) until Ctrl-C or
/// SIGTERM. Prints `listening on http://ADDR` on standard error once ready (with the port
/// chosen when `addr` has port 0).
pub fn serve(
    addr: SocketAddr,
    db: &Path,
    max_automations: usize,
    delivery: &crate::delivery::DeliveryArgs,
    ops: &OpsArgs,
    tracking: &crate::mlflow::TrackingArgs,
) -> Result<()> {
    let _log_writer = init_logs(ops.log_format)?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(async {
        // Integration credentials are sealed at rest with the key ring of
        // AUTOMATIONS_SECRET_KEYS, or of the key file beside the database (made on first start).
        let keys = SecretKeys::from_env_or_file(db).context("cannot load the key that seals integration secrets")?;
        let (store, resealed) =
            open(db)?.with_secret_keys(keys).context("cannot seal the integration secrets under the current key")?;
        if resealed > 0 {
            eprintln!("automations: sealed {resealed} integration document(s) under the current key");
        }
        let store = Arc::new(store);
        // WAL checkpoints on a thread of their own, not inside a request's commit (see
        // `Checkpointer`); it stops, after a last checkpoint, when this block ends.
        let _checkpoints = Checkpointer::start(&store, db, CHECKPOINT_INTERVAL)
            .with_context(|| format!("cannot start checkpoints of {}", db.display()))?;
        // Delivery: the outbox's deliverer and the sweeper run beside the API, and the sink
        // wakes the deliverer when a batch records fires.
        let allow_private = !delivery.deny_private_targets;
        let hooks = automations_mlflow::Hooks {
            store: store.clone(),
            timeout: Duration::from_millis(u64::try_from(tracking.mlflow_timeout).unwrap_or(10_000)),
            allow_private,
        };
        let mut wiring = crate::delivery::start(store.clone(), delivery, Some(Arc::new(hooks)))
            .await
            .with_context(|| format!("cannot start delivery over {}", db.display()))?;
        let metrics = match ops.metrics_addr {
            Some(at) => Some(serve_metrics(at, store.clone()).await?),
            None => None,
        };
        // MLflow tracking in: a source of envelopes for the same sink.
        wiring.background.tasks.push(crate::mlflow::start(store.clone(), wiring.sink.clone(), tracking, allow_private));
        let mut api = Api::new(store, wiring.sink, wiring.api);
        api.limits.max_automations = max_automations.max(1);
        let app = automations_api::router(api);
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        let bound = listener.local_addr().context("cannot read the bound address")?;
        eprintln!("automations: listening on http://{bound} (database {})", db.display());
        let served = axum::serve(listener, app).with_graceful_shutdown(shutdown()).await;
        wiring.background.stop();
        if let Some(task) = metrics {
            task.abort();
        }
        served.context("the server stopped")?;
        eprintln!("automations: stopped");
        Ok(())
    })
}

/// Start the metrics listener on `addr`; `GET /metrics` refreshes the outbox gauges from the
/// store, then answers every metric.
async fn serve_metrics(addr: SocketAddr, store: Arc<SqliteStore>) -> Result<tokio::task::JoinHandle<()>> {
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;
    let scrape = move || {
        let store = store.clone();
        async move {
            let now = SystemClock.now();
            // One indexed query per scrape (every 15 s or so), cheaper than keeping counts in step
            // with every claim and save.
            match store.pending_executions(now) {
                Ok((pending, oldest)) => {
                    let m = automations_telemetry::metrics();
                    m.outbox_pending.set(i64::try_from(pending).unwrap_or(i64::MAX));
                    let age = oldest.map_or(0.0, |t| now.since(t).max(0) as f64 / 1000.0);
                    m.outbox_oldest_pending_seconds.set(age);
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the outbox for the metrics");
                    return (StatusCode::SERVICE_UNAVAILABLE, format!("cannot read the outbox: {e}\n")).into_response();
                }
            }
            ([(header::CONTENT_TYPE, automations_telemetry::CONTENT_TYPE)], automations_telemetry::encode())
                .into_response()
        }
    };
    let app = axum::Router::new().route("/metrics", axum::routing::get(scrape));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (--metrics-addr)"))?;
    let bound = listener.local_addr().context("cannot read the metrics address")?;
    eprintln!("automations: metrics on http://{bound}/metrics");
    Ok(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    }))
}

fn open(db: &Path) -> Result<SqliteStore> {
    SqliteStore::open(db).with_context(|| format!("cannot open the database {}", db.display()))
}

/// Resolves on Ctrl-C or SIGTERM. If a signal handler cannot be installed the server runs until
/// killed, which is what it would do without one.
pub(crate) async fn shutdown() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            eprintln!("automations: cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                eprintln!("automations: cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// `automations keys create`: make a key granting `entity`, store its hash in `db`, and print the
/// key on standard output (once: it is not kept). The hash goes to standard error, for the SAM
/// template's first-key parameter.
pub fn create_key(entity: &str, db: &Path) -> Result<()> {
    let entity = entity.trim();
    if entity.is_empty() || entity.chars().any(char::is_control) {
        anyhow::bail!("--entity must be a non-empty entity name without control characters");
    }
    let store = open(db)?;
    let (key, record) = auth::issue_key(&EntityId::new(entity), SystemClock.now())
        .map_err(|e| anyhow::anyhow!("no randomness for a key: {e}"))?;
    automations_core::store::ready_now(store.put_api_key(&record))
        .with_context(|| format!("cannot store the key in {}", db.display()))?;
    println!("{key}");
    eprintln!(
        "automations: key for entity {entity:?} stored (as its SHA-256 {}) in {}; it is shown only this once",
        record.hash,
        db.display()
    );
    Ok(())
}
