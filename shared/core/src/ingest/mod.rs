//! Ingest: one batch of valid envelopes through the engine and the store, the one use case that
//! every deployment calls (the local server, replay, backtest, the Lambda functions).
//!
//! [`Ingest::process`] loads the records of the runs the batch touches, evaluates every envelope
//! in order on its own clock ([`IngestClock`]), and hands the store one [`UnitOfWork`]: the new
//! fires with their executions, the changed run records with the versions they were loaded at,
//! and the runs' liveness. A run saved concurrently by someone else is loaded and evaluated
//! again; its fire ids are deterministic, so a fire decided twice is recorded once.

mod clock;
mod engines;
pub mod liveness;
mod port;
mod work;

pub use clock::IngestClock;
pub use engines::{EngineCache, Refresh};
pub use port::{IngestSession, IngestStore};
pub use work::{Committed, NewFire, UnitOfWork};

use crate::engine::{Engine, RUN_RECORD_TTL, RunRecord};
use crate::event::{Envelope, EventData, RunKey};
use crate::fire::Fire;
use crate::store::{RunSave, StoreError};
use crate::time::Timestamp;
use std::collections::{HashMap, HashSet};

/// How many times a run whose record was saved concurrently is evaluated again.
const MAX_ATTEMPTS: usize = 5;

/// What one batch did.
#[derive(Debug, Default)]
pub struct Ingested {
    /// Fires recorded by this batch, in event order.
    pub fires: Vec<Fire>,
    /// Ids of the recorded fires that have a delivery to make (not the `none` action).
    pub to_deliver: Vec<crate::FireId>,
    /// Fires this batch decided that were already recorded (redeliveries).
    pub duplicates: usize,
}

/// Why ingesting a batch failed; it may be retried whole (a fire already recorded is not recorded again).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A run's record lost its save to a concurrent writer on every attempt; the key is one such run's.
    #[error("run {0:?} kept being updated concurrently; the batch should be retried")]
    Contention(RunKey),
}

/// The engine and a store, wired.
pub struct Ingest<'a, S: ?Sized> {
    /// The engine evaluating the batch.
    pub engine: &'a Engine,
    /// Where run records, fires and their executions are loaded from and committed to.
    pub store: &'a S,
}

/// A run's record while a batch is evaluated.
struct Loaded {
    /// The stored version and its expiry (`None`: no live record when loaded).
    stored: Option<(u64, Timestamp)>,
    record: RunRecord,
    /// When the working record expires: its stored expiry, then [`RUN_RECORD_TTL`] after the
    /// clock of the last envelope that changed it.
    expires_at: Timestamp,
    changed: bool,
}

impl Loaded {
    /// The record as it reads at `at`: a run idle past its expiry has forgotten everything.
    fn at(&mut self, at: Timestamp) -> &mut RunRecord {
        if self.expires_at <= at {
            self.record = RunRecord::default();
        }
        &mut self.record
    }

    fn touched(&mut self, at: Timestamp) {
        self.changed = true;
        self.expires_at = at.plus(RUN_RECORD_TTL);
    }

    /// The version a save at `now` must find: the store reads a record expired by then as absent.
    fn expected(&self, now: Timestamp) -> Option<u64> {
        self.stored.filter(|(_, exp)| *exp > now).map(|(v, _)| v)
    }
}

impl<S: IngestStore + ?Sized> Ingest<'_, S> {
    /// Evaluate a batch of valid envelopes, in order, and commit what it decided.
    pub async fn process(&self, envelopes: &[Envelope], clock: IngestClock) -> Result<Ingested, IngestError> {
        let clocks = clock.per_envelope(envelopes);
        let now = clock.after(envelopes);
        let start = clocks.first().copied().unwrap_or(now);
        let mut activity = liveness::updates(self.engine, envelopes, now);
        // The watched runs, each once, in order of first appearance. A set beside the list: a
        // batch of a thousand runs would otherwise compare keys half a million times.
        let mut keys: Vec<RunKey> = Vec::new();
        let mut seen: HashSet<&RunKey> = HashSet::new();
        for env in envelopes {
            if let EventData::Metrics(m) = &env.data {
                let k = &m.run.key;
                if !seen.contains(k) && self.engine.watches_project(&k.entity, &k.project) {
                    seen.insert(k);
                    keys.push(k.clone());
                }
            }
        }
        let session = self.store.session();
        let mut out = Ingested::default();
        let mut pending = keys;
        let mut first = true;
        for _ in 0..MAX_ATTEMPTS {
            let mut loaded = load(&*session, &pending, if first { &activity } else { &[] }, start).await?;
            let mut fires = Vec::new();
            for (env, &at) in envelopes.iter().zip(&clocks) {
                match (&env.data, env.run_key().and_then(|k| loaded.get_mut(k))) {
                    (EventData::Metrics(m), Some(l)) => {
                        let r = self.engine.metric_fires(env, m, l.at(at));
                        if r.changed {
                            l.touched(at);
                        }
                        fires.extend(r.fires.into_iter().map(|f| NewFire::new(f, at)));
                    }
                    (EventData::Metrics(_), None) => {}
                    // Artifact and state events fire on the first pass only; a retry is about
                    // the runs that conflicted.
                    _ if first => {
                        fires.extend(self.engine.evaluate(env, None).fires.into_iter().map(|f| NewFire::new(f, at)))
                    }
                    _ => {}
                }
            }
            let runs: Vec<RunSave> = pending
                .iter()
                .filter_map(|k| {
                    let l = loaded.remove(k)?;
                    l.changed.then(|| RunSave {
                        key: k.clone(),
                        expected: l.expected(now),
                        expires_at: l.expires_at,
                        record: l.record,
                    })
                })
                .collect();
            let work = UnitOfWork {
                fires,
                runs,
                activity: if first { std::mem::take(&mut activity) } else { Vec::new() },
                now,
            };
            // A first pass with nothing to write is done; a retry commits even when it has
            // nothing of its own, since the store may hold writes back for it (DynamoDB defers
            // the liveness of a run whose save lost).
            if first && work.is_empty() {
                return Ok(out);
            }
            first = false;
            // What the answer needs of the work once the store has it: fires are few, and keys
            // are small next to the records, which move into the store uncopied.
            let fires = work.fires.clone();
            let saved: Vec<RunKey> = work.runs.iter().map(|s| s.key.clone()).collect();
            let committed = session.commit(work).await?;
            for (new, fresh) in fires.into_iter().zip(committed.fresh) {
                if fresh {
                    if new.to_deliver() {
                        out.to_deliver.push(new.fire.id.clone());
                    }
                    out.fires.push(new.fire);
                } else {
                    out.duplicates += 1;
                }
            }
            pending = saved.into_iter().zip(committed.saved).filter(|(_, ok)| !ok).map(|(k, _)| k).collect();
            if pending.is_empty() {
                return Ok(out);
            }
        }
        Err(IngestError::Contention(pending.swap_remove(0)))
    }
}

async fn load(
    session: &dyn IngestSession,
    keys: &[RunKey],
    activity: &[crate::activity::ActivityUpdate],
    now: Timestamp,
) -> Result<HashMap<RunKey, Loaded>, StoreError> {
    if keys.is_empty() && activity.is_empty() {
        return Ok(HashMap::new());
    }
    let records = session.load_runs(keys, activity, now).await?;
    Ok(keys
        .iter()
        .cloned()
        .zip(records)
        .map(|(k, r)| {
            let l = match r {
                Some(v) => Loaded {
                    stored: Some((v.version, v.expires_at)),
                    record: v.value,
                    expires_at: v.expires_at,
                    changed: false,
                },
                None => {
                    Loaded { stored: None, record: RunRecord::default(), expires_at: Timestamp::MIN, changed: false }
                }
            };
            (k, l)
        })
        .collect())
}
