//! One poll of one tracking integration.

use crate::client::{TrackingClient, TrackingError};
use automations_core::IntegrationName;
use automations_core::mlflow::tracking::{self, MlflowRun, TrackingTarget};
use automations_core::model::Integration;
use automations_core::store::{StoreError, TrackingStore};
use automations_core::time::Timestamp;
use automations_delivery::EnvelopeFeed;
use std::collections::{BTreeMap, HashMap};

/// What one poll did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PollOutcome {
    /// HTTP requests made to the tracking server.
    pub requests: u64,
    /// Runs seen (running, or ended since the last poll).
    pub runs: usize,
    /// Envelopes handed to ingest.
    pub envelopes: u64,
}

/// Why a poll stopped; the cursors of the runs not yet read stay where they were.
#[derive(Debug, thiserror::Error)]
pub enum PollError {
    /// The tracking server failed or refused.
    #[error(transparent)]
    Tracking(#[from] TrackingError),
    /// The store failed.
    #[error("the store failed: {0}")]
    Store(#[from] StoreError),
    /// Evaluating the polled envelopes failed.
    #[error("ingest failed: {0}")]
    Ingest(#[source] automations_delivery::SeamError),
    /// The integration is not a tracking one.
    #[error("integration {0:?} has no tracking_uri")]
    NotTracking(IntegrationName),
}

/// Poll `integration` once at `now` (its last successful poll started at `last_success`):
/// find what moved, fetch it, hand its envelopes to `feed` run by run, and store each run's
/// cursor after its envelopes were taken. `outcome` is filled in as the poll goes, so a failed
/// poll still says how far it got.
pub async fn poll_once<S: TrackingStore, F: EnvelopeFeed>(
    client: &TrackingClient,
    store: &S,
    feed: &F,
    integration: &Integration,
    last_success: Option<Timestamp>,
    now: Timestamp,
    outcome: &mut PollOutcome,
) -> Result<(), PollError> {
    let result = poll(client, store, feed, integration, last_success, now, outcome).await;
    outcome.requests = client.requests();
    result
}

async fn poll<S: TrackingStore, F: EnvelopeFeed>(
    client: &TrackingClient,
    store: &S,
    feed: &F,
    integration: &Integration,
    last_success: Option<Timestamp>,
    now: Timestamp,
    outcome: &mut PollOutcome,
) -> Result<(), PollError> {
    let tracking = integration.tracking().ok_or_else(|| PollError::NotTracking(integration.name.clone()))?;
    let experiments: HashMap<String, String> = client
        .experiments()
        .await?
        .into_iter()
        .filter(|e| tracking.experiments.as_ref().is_none_or(|names| names.contains(&e.name)))
        .map(|e| (e.id, e.name))
        .collect();
    if experiments.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<String> = experiments.keys().cloned().collect();
    ids.sort();
    let since = tracking::ended_since(last_success, integration.created_at);
    let mut runs: BTreeMap<String, MlflowRun> = BTreeMap::new();
    for filter in tracking::run_filters(since) {
        for run in client.search_runs(&ids, &filter).await? {
            runs.insert(run.run_id.clone(), run);
        }
    }
    outcome.runs = runs.len();
    let run_ids: Vec<String> = runs.keys().cloned().collect();
    let cursors = store.load_cursors(&integration.id, &run_ids).await?;
    let target = TrackingTarget { integration: integration.name.as_str(), entity: integration.entity.as_str() };
    for (run, cursor) in runs.values().zip(cursors) {
        let Some(project) = experiments.get(&run.experiment_id) else { continue };
        let moved = tracking::moved_metrics(run, &cursor);
        if moved.is_empty() && cursor.status.as_deref() == Some(run.status.as_str()) {
            continue;
        }
        let mut histories = BTreeMap::new();
        for key in moved {
            histories.insert(key.to_string(), client.history(&run.run_id, key).await?);
        }
        let update = tracking::run_envelopes(&target, project, run, &cursor, &histories, now);
        if !update.envelopes.is_empty() {
            let n = update.envelopes.len() as u64;
            feed.feed(update.envelopes, now).await.map_err(|e| PollError::Ingest(Box::new(e)))?;
            outcome.envelopes += n;
        }
        if update.cursor != cursor {
            store.save_cursor(&integration.id, &run.run_id, &update.cursor).await?;
        }
    }
    Ok(())
}
