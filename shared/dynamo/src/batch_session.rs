//! One batch of run events against DynamoDB, with every run it touches read once and written at
//! most once: the run's record (windows, cooldowns) and its activity (liveness) share an item,
//! and [`RunBatch`] writes both parts in one UpdateItem when both change.
//!
//! A [`RunBatch`] is the DynamoDB store's [`IngestSession`]: its `load_runs` also reads the runs
//! whose activity the batch updates (one BatchGetItem for all of them), and its `commit` records
//! the fires, then saves each changed run with its activity in the record's conditional write
//! (when it is worth writing, as below), then writes the activity of the runs whose records did
//! not change, skipping those whose only news is a `last_seen` less than
//! [`ACTIVITY_GRANULARITY`] newer than the stored one (a run logging every second costs one
//! activity write a minute, not one per batch).

use crate::DynamoStore;
use crate::activity::{activity_of, activity_write};
use crate::api::{DynamoApi, Item};
use crate::keys;
use crate::runs::{Also, item_version, record_of};
use automations_core::BoxFuture;
use automations_core::activity::{self, ActivityUpdate, RunActivity};
use automations_core::engine::RunRecord;
use automations_core::event::RunKey;
use automations_core::ingest::{Committed, IngestSession, IngestStore, UnitOfWork};
use automations_core::store::{RunSave, StoreError, Versioned};
use automations_core::time::{MINUTE, Millis, Timestamp};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// How stale a stored `last_seen` may get before an activity write that changes nothing else is
/// made anyway. Stalled-run detection is as precise as this (the stall period is 10 minutes).
pub const ACTIVITY_GRANULARITY: Millis = MINUTE;

#[derive(Default)]
struct Seen {
    /// Run items as last read, by partition key (`None`: no item).
    items: HashMap<String, Option<Item>>,
    /// Runs whose activity is written.
    written: HashSet<String>,
    /// The batch's activity updates, by partition key.
    updates: HashMap<String, ActivityUpdate>,
}

/// The store of one batch of run events: see the module documentation.
pub struct RunBatch<'a, D> {
    store: &'a DynamoStore<D>,
    seen: Mutex<Seen>,
}

impl<D: DynamoApi> IngestStore for DynamoStore<D> {
    fn session(&self) -> Box<dyn IngestSession + '_> {
        Box::new(RunBatch { store: self, seen: Mutex::new(Seen::default()) })
    }
}

impl<'a, D: DynamoApi> RunBatch<'a, D> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Take the batch's activity updates (one per run, as ingest makes them), once.
    fn expect(&self, updates: &[ActivityUpdate]) {
        let mut seen = self.lock();
        for u in updates {
            seen.updates.entry(keys::run_pk(&u.key)).or_insert_with(|| u.clone());
        }
    }

    /// Read these runs (and, the first time, every run of the batch's activity) in one go.
    async fn read(&self, keys: &[RunKey]) -> Result<HashMap<String, Option<Item>>, StoreError> {
        let mut wanted: Vec<RunKey> = keys.to_vec();
        {
            let seen = self.lock();
            for (pk, u) in &seen.updates {
                if !seen.items.contains_key(pk) && !keys.contains(&u.key) {
                    wanted.push(u.key.clone());
                }
            }
        }
        let mut found = self.store.run_items(&wanted).await?;
        let read: HashMap<String, Option<Item>> =
            wanted.iter().map(keys::run_pk).map(|pk| (pk.clone(), found.remove(&pk))).collect();
        self.lock().items.extend(read.clone());
        Ok(read)
    }

    /// Write the activity of the runs whose records were not saved with it, but for the runs
    /// about to be evaluated again: the last step of every commit.
    async fn write_rest(&self, now: Timestamp, retried: &HashSet<String>) -> Result<(), StoreError> {
        let unread: Vec<RunKey> = {
            let seen = self.lock();
            seen.updates
                .iter()
                .filter(|(pk, _)| {
                    !seen.items.contains_key(*pk) && !seen.written.contains(*pk) && !retried.contains(*pk)
                })
                .map(|(_, u)| u.key.clone())
                .collect()
        };
        if !unread.is_empty() {
            self.read(&unread).await?;
        }
        let (items, pending) = {
            let seen = self.lock();
            let mut items = HashMap::new();
            let mut pending = Vec::new();
            for (pk, u) in &seen.updates {
                if seen.written.contains(pk) || retried.contains(pk) {
                    continue;
                }
                let item = seen.items.get(pk).cloned().flatten();
                let old = match &item {
                    Some(i) => activity_of(i, now)?,
                    None => None,
                };
                if !worth_writing(old.as_ref(), &activity::apply(old.as_ref(), u)) {
                    continue;
                }
                if let Some(i) = item {
                    items.insert(pk.clone(), i);
                }
                pending.push(u.clone());
            }
            (items, pending)
        };
        if pending.is_empty() {
            return Ok(());
        }
        let refs: Vec<&ActivityUpdate> = pending.iter().collect();
        self.store.write_activities(&refs, items, now).await?;
        self.lock().written.extend(pending.iter().map(|u| keys::run_pk(&u.key)));
        Ok(())
    }
}

/// Does `new` say something the stored `old` does not, beyond a slightly later `last_seen`?
fn worth_writing(old: Option<&RunActivity>, new: &RunActivity) -> bool {
    let Some(old) = old else { return true };
    old.state != new.state
        || old.state_at != new.state_at
        || old.info != new.info
        || new.last_seen.since(old.last_seen) >= ACTIVITY_GRANULARITY
}

impl<D: DynamoApi> IngestSession for RunBatch<'_, D> {
    fn load_runs<'a>(
        &'a self,
        keys: &'a [RunKey],
        activity: &'a [ActivityUpdate],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Option<Versioned<RunRecord>>>, StoreError>> {
        Box::pin(async move {
            self.expect(activity);
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let read = self.read(keys).await?;
            keys.iter()
                .map(|k| match read.get(&keys::run_pk(k)) {
                    Some(Some(item)) => record_of(item, now),
                    _ => Ok(None),
                })
                .collect()
        })
    }

    /// Fires first, then each run save with its run's activity when the batch has some not yet
    /// written, then the rest of the activity.
    fn commit(&self, work: UnitOfWork) -> BoxFuture<'_, Result<Committed, StoreError>> {
        Box::pin(async move {
            self.expect(&work.activity);
            let fresh = self.store.record_new_fires(&work.fires).await?;
            let saved = self.save_runs(&work.runs, work.now).await?;
            // A run whose save lost is evaluated again, and its activity goes with that save (or
            // with the next commit's rest): writing it now would cost a read of the changed item.
            let retried: HashSet<String> =
                work.runs.iter().zip(&saved).filter(|(_, ok)| !**ok).map(|(r, _)| keys::run_pk(&r.key)).collect();
            self.write_rest(work.now, &retried).await?;
            Ok(Committed { fresh, saved })
        })
    }
}

impl<D: DynamoApi> RunBatch<'_, D> {
    /// Each save carries its run's activity too, when the batch has some not yet written.
    async fn save_runs(&self, saves: &[RunSave], now: Timestamp) -> Result<Vec<bool>, StoreError> {
        let mut out = Vec::with_capacity(saves.len());
        // Prepared first, so no lock is held across a write.
        let mut prepared = Vec::with_capacity(saves.len());
        {
            let seen = self.lock();
            for save in saves {
                let pk = keys::run_pk(&save.key);
                let (also, covers) = match seen.updates.get(&pk) {
                    Some(u) if !seen.written.contains(&pk) => {
                        let item = seen.items.get(&pk).cloned().flatten();
                        let old = match &item {
                            Some(i) => activity_of(i, now)?,
                            None => None,
                        };
                        let new = activity::apply(old.as_ref(), u);
                        // Nothing worth writing: leave the activity (and the `stalled` index,
                        // which each change of `seen` also writes) as it is.
                        if !worth_writing(old.as_ref(), &new) {
                            (None, true)
                        } else {
                            let write = activity_write(&new)?;
                            let also = Also {
                                item_version: item.as_ref().and_then(item_version),
                                set: write.set,
                                remove: write.remove,
                                params: write.params,
                            };
                            (Some(also), true)
                        }
                    }
                    _ => (None, false),
                };
                prepared.push((pk, also, covers));
            }
        }
        let writes: Vec<_> = saves
            .iter()
            .zip(prepared)
            .map(|(save, (pk, also, covers))| async move {
                let ok = self.store.save_run(save, also, now).await?;
                Ok::<_, StoreError>((pk, ok && covers, ok))
            })
            .collect();
        use futures_util::{StreamExt, stream};
        let results: Vec<Result<(String, bool, bool), StoreError>> =
            stream::iter(writes).buffered(self.store.concurrency).collect().await;
        for r in results {
            let (pk, activity_written, ok) = r?;
            if activity_written {
                self.lock().written.insert(pk);
            }
            out.push(ok);
        }
        Ok(out)
    }
}
