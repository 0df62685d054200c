//! `automations serve`: the local deployment in one process, on one SQLite file: the
//! configuration API, event intake at `/v1/events`, and inline evaluation (the same router the
//! AWS `config-api` function serves), delivery and the sweeper (`delivery.rs`). And
//! `automations keys create`.

use anyhow::{Context, Result};
use automations_api::{Api, SystemClock, auth};
use automations_core::store::ConfigStore;
use automations_core::time::Clock;
use automations_sqlite::{Checkpointer, SqliteStore};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How often the WAL is checkpointed into the database file.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(50);

/// Serve the API on `addr` over the database at `db` (created if absent) until Ctrl-C or
/// SIGTERM. Prints `listening on http://ADDR` on standard error once ready (with the port
/// chosen when `addr` has port 0).
pub fn serve(
    addr: SocketAddr,
    db: &Path,
    delivery: &crate::delivery::DeliveryArgs,
    tracking: &crate::mlflow::TrackingArgs,
) -> Result<()> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let store = Arc::new(open(db)?);
        // WAL checkpoints on a thread of their own, not inside a request's commit (see
        // `Checkpointer`); it stops, after a last checkpoint, when this block ends.
        let _checkpoints = Checkpointer::start(&store, db, CHECKPOINT_INTERVAL)
            .with_context(|| format!("cannot start checkpoints of {}", db.display()))?;
        // Delivery: the outbox's deliverer and the sweeper run beside the API, and the sink
        // wakes the deliverer when a batch records fires.
        let allow_private = !delivery.deny_private_targets;
        let hooks = crate::mlflow::Hooks {
            store: store.clone(),
            timeout: Duration::from_millis(u64::try_from(tracking.mlflow_timeout).unwrap_or(10_000)),
            allow_private,
        };
        let mut wiring = crate::delivery::start(store.clone(), delivery, Some(Arc::new(hooks)))
            .await
            .with_context(|| format!("cannot start delivery over {}", db.display()))?;
        // MLflow tracking in: a source of envelopes for the same sink.
        wiring.background.tasks.push(crate::mlflow::start(store.clone(), wiring.sink.clone(), tracking, allow_private));
        let api = Api::new(store, wiring.sink, wiring.api);
        let app = automations_api::router(api);
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        let bound = listener.local_addr().context("cannot read the bound address")?;
        eprintln!("automations: listening on http://{bound} (database {})", db.display());
        let served = axum::serve(listener, app).with_graceful_shutdown(shutdown()).await;
        wiring.background.stop();
        served.context("the server stopped")?;
        eprintln!("automations: stopped");
        Ok(())
    })
}

fn open(db: &Path) -> Result<SqliteStore> {
    SqliteStore::open(db).with_context(|| format!("cannot open the database {}", db.display()))
}

/// Resolves on Ctrl-C or SIGTERM. If a signal handler cannot be installed the server runs until
/// killed, which is what it would do without one.
async fn shutdown() {
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
    let (key, record) =
        auth::issue_key(entity, SystemClock.now()).map_err(|e| anyhow::anyhow!("no randomness for a key: {e}"))?;
    automations_core::store::block_on(store.put_api_key(&record))
        .with_context(|| format!("cannot store the key in {}", db.display()))?;
    println!("{key}");
    eprintln!(
        "automations: key for entity {entity:?} stored (as its SHA-256 {}) in {}; it is shown only this once",
        record.hash,
        db.display()
    );
    Ok(())
}
