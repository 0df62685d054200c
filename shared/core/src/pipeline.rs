//! One batch of envelopes through the engine and the store: load the touched runs' records,
//! evaluate every envelope in order, record the fires (conditionally: a fire already recorded is
//! not new), then save the records that changed if nobody else saved them meanwhile.
//!
//! Fires are recorded before records are saved: if the process dies between the two, the batch
//! is delivered again, evaluates to the same fire ids, and the fire store refuses the repeats.

use crate::engine::{Engine, RUN_RECORD_TTL, RunRecord};
use crate::event::{Envelope, EventData, RunKey};
use crate::fire::Fire;
use crate::store::{FireStore, RunSave, RunStore, StoreError};
use crate::time::Timestamp;
use std::collections::HashMap;

/// How many times a run whose record was saved concurrently is evaluated again.
const MAX_ATTEMPTS: usize = 5;

/// What one batch did.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    /// Fires recorded by this batch, in event order.
    pub fires: Vec<Fire>,
    /// Fires this batch evaluated that were already recorded (redeliveries).
    pub duplicates: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("run {0:?} kept being updated concurrently; the batch should be retried")]
    Contention(RunKey),
}

/// The engine and a store, wired.
pub struct Pipeline<'a, S> {
    pub engine: &'a Engine,
    pub store: &'a S,
}

struct Loaded {
    expected: Option<u64>,
    record: RunRecord,
    changed: bool,
}

impl<S: RunStore + FireStore> Pipeline<'_, S> {
    /// Evaluate a batch of valid envelopes.
    pub async fn process(&self, envelopes: &[Envelope], now: Timestamp) -> Result<BatchOutcome, PipelineError> {
        let mut keys: Vec<RunKey> = Vec::new();
        for env in envelopes {
            if let EventData::Metrics(m) = &env.data {
                let k = &m.run.key;
                if self.engine.watches_project(&k.entity, &k.project) && !keys.contains(k) {
                    keys.push(k.clone());
                }
            }
        }
        let mut out = BatchOutcome::default();
        let mut pending = keys;
        let mut first = true;
        for _ in 0..MAX_ATTEMPTS {
            let mut loaded = self.load(&pending, now).await?;
            let mut candidates = Vec::new();
            for env in envelopes {
                match (&env.data, env.run_key().and_then(|k| loaded.get_mut(k))) {
                    (EventData::Metrics(m), Some(l)) => {
                        let r = self.engine.metric_fires(env, m, &mut l.record);
                        l.changed |= r.changed;
                        candidates.extend(r.fires);
                    }
                    // Artifact and state events fire on the first pass only; a retry is about
                    // the runs that conflicted.
                    (EventData::Metrics(_), None) => {}
                    _ if first => candidates.extend(self.engine.evaluate(env, None).fires),
                    _ => {}
                }
            }
            first = false;
            self.record(candidates, now, &mut out).await?;
            let saves: Vec<RunSave> = pending
                .iter()
                .filter_map(|k| {
                    let l = loaded.remove(k)?;
                    l.changed.then(|| RunSave {
                        key: k.clone(),
                        expected: l.expected,
                        expires_at: now.plus(RUN_RECORD_TTL),
                        record: l.record,
                    })
                })
                .collect();
            if saves.is_empty() {
                return Ok(out);
            }
            let written = self.store.save_runs(&saves, now).await?;
            pending = saves.into_iter().zip(written).filter(|(_, ok)| !ok).map(|(s, _)| s.key).collect();
            if pending.is_empty() {
                return Ok(out);
            }
        }
        Err(PipelineError::Contention(pending.swap_remove(0)))
    }

    async fn load(&self, keys: &[RunKey], now: Timestamp) -> Result<HashMap<RunKey, Loaded>, StoreError> {
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let records = self.store.load_runs(keys, now).await?;
        Ok(keys
            .iter()
            .cloned()
            .zip(records)
            .map(|(k, r)| {
                let l = match r {
                    Some(v) => Loaded { expected: Some(v.version), record: v.value, changed: false },
                    None => Loaded { expected: None, record: RunRecord::default(), changed: false },
                };
                (k, l)
            })
            .collect())
    }

    async fn record(&self, candidates: Vec<Fire>, now: Timestamp, out: &mut BatchOutcome) -> Result<(), StoreError> {
        if candidates.is_empty() {
            return Ok(());
        }
        let fresh = self.store.record_fires(&candidates, now).await?;
        for (fire, new) in candidates.into_iter().zip(fresh) {
            if new {
                out.fires.push(fire);
            } else {
                out.duplicates += 1;
            }
        }
        Ok(())
    }
}
