//! Run records: the `rec` part of a run's item, read in batches, saved with the item's
//! optimistic version.

use crate::api::{DynamoApi, DynamoError, Item, Params, Read, Update};
use crate::keys::{self, EXPIRES_AT, PK, RECORD, RECORD_EXPIRES, TOKEN, TOKEN_VALUE, VERSION, get_i64, get_s, n, s};
use crate::retry::retrying;
use crate::{DynamoStore, corrupt, own_write, unavailable};
use automations_core::BoxFuture;
use automations_core::engine::RunRecord;
use automations_core::event::RunKey;
use automations_core::store::{RunSave, RunStore, StoreError, Versioned};
use automations_core::time::Timestamp;
use futures_util::{StreamExt, stream};
use std::collections::{HashMap, HashSet};

impl<D: DynamoApi> RunStore for DynamoStore<D> {
    /// One strongly consistent BatchGetItem per 100 runs. Consistent, because a stale read would
    /// only lose its conditional save and be evaluated again.
    fn load_runs<'a>(
        &'a self,
        keys: &'a [RunKey],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Option<Versioned<RunRecord>>>, StoreError>> {
        Box::pin(async move {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let items = self.run_items(keys).await?;
            keys.iter().map(|k| items.get(&keys::run_pk(k)).map_or(Ok(None), |item| record_of(item, now))).collect()
        })
    }

    /// One conditional UpdateItem per run, up to 16 at once; saves of the same run in one call
    /// go in order.
    fn save_runs<'a>(&'a self, saves: &'a [RunSave], now: Timestamp) -> BoxFuture<'a, Result<Vec<bool>, StoreError>> {
        Box::pin(async move {
            let mut distinct = HashSet::new();
            if !saves.iter().all(|s| distinct.insert(&s.key)) {
                let mut out = Vec::with_capacity(saves.len());
                for save in saves {
                    out.push(self.save_run(save, None, now).await?);
                }
                return Ok(out);
            }
            // The futures are made up front: a stream that maps borrowed items to futures trips the
            // compiler's proof that the whole future is `Send`.
            let writes: Vec<_> = saves.iter().map(|save| self.save_run(save, None, now)).collect();
            stream::iter(writes).buffered(self.concurrency).collect::<Vec<_>>().await.into_iter().collect()
        })
    }
}

/// What else a run save writes: the run's activity, when a batch carries both (see
/// [`crate::RunBatch`]).
pub(crate) struct Also {
    /// The item's version as loaded, `None` when there was no item: the save then also requires
    /// it unchanged, since the activity was computed from it.
    pub item_version: Option<u64>,
    pub set: String,
    pub remove: Option<String>,
    pub params: Params,
}

impl<D: DynamoApi> DynamoStore<D> {
    /// The run items of `keys` (whole, expired or not), by partition key.
    pub(crate) async fn run_items(&self, keys: &[RunKey]) -> Result<HashMap<String, Item>, StoreError> {
        let items = self
            .batch_get(keys.iter().map(keys::run_key).collect(), Read::Consistent)
            .await
            .map_err(|e| unavailable("load runs", e))?;
        Ok(items.into_iter().map(|item| (get_s(&item, PK).unwrap_or_default().to_string(), item)).collect())
    }

    /// Save one run record. `Ok(false)` when the condition failed because another writer got
    /// there first.
    pub(crate) async fn save_run(
        &self,
        save: &RunSave,
        also: Option<Also>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let record = crate::record_codec::encode(&save.record)
            .map_err(|e| StoreError::Corrupt(format!("run {}: {e}", save.key.run_id)))?;
        let token = self.tokens.next();
        let mut params = Params::default()
            .name("#v", VERSION)
            .name("#rec", RECORD)
            .name("#rexp", RECORD_EXPIRES)
            .name("#exp", EXPIRES_AT)
            .name("#tok", TOKEN)
            .value(":rec", s(record))
            .value(":rexp", n(keys::ttl_seconds(save.expires_at)))
            .value(TOKEN_VALUE, s(token.clone()))
            .value(":one", n(1))
            .value(":now", n(keys::now_seconds(now)));
        // A version carries on past an expired record rather than restarting, so a writer still
        // holding a load from before the expiry can never match the new item's version.
        let mut condition = match save.expected {
            Some(v) => {
                params = params.value(":v", n(v));
                "#v = :v AND #rexp > :now".to_string()
            }
            None => "(attribute_not_exists(#rec) OR #rexp <= :now)".to_string(),
        };
        let mut set = "SET #rec = :rec, #rexp = :rexp, #exp = :rexp, #tok = :tok".to_string();
        let mut remove = None;
        if let Some(also) = also {
            set.push_str(", ");
            set.push_str(&also.set);
            remove = also.remove;
            params.names.extend(also.params.names);
            params.values.extend(also.params.values);
            match (save.expected, also.item_version) {
                (Some(_), _) => {}
                (None, Some(v)) => {
                    params = params.value(":iv", n(v));
                    condition.push_str(" AND #v = :iv");
                }
                (None, None) => {
                    params = params.name("#pk", PK);
                    condition = "attribute_not_exists(#pk)".into();
                }
            }
        }
        let mut update_expr = format!("{set} ADD #v :one");
        if let Some(r) = remove {
            update_expr.push_str(" REMOVE ");
            update_expr.push_str(&r);
        }
        params.retain_used(&[&update_expr, &condition]);
        let update = Update {
            key: keys::run_key(&save.key),
            update: update_expr,
            condition: Some(condition),
            params,
            return_new: false,
        };
        match retrying(&self.backoff, "UpdateItem (run)", || self.api.update_item(&self.table, update.clone())).await {
            Ok(_) => Ok(true),
            Err(e) if own_write(&e, &token) => Ok(true),
            Err(DynamoError::ConditionFailed(_)) => Ok(false),
            Err(e) => Err(unavailable("save run", e)),
        }
    }
}

/// The live record of a run item, if it has one.
pub(crate) fn record_of(item: &Item, now: Timestamp) -> Result<Option<Versioned<RunRecord>>, StoreError> {
    if !item.contains_key(RECORD) || !keys::is_live_by(item, RECORD_EXPIRES, now) {
        return Ok(None);
    }
    let pk = get_s(item, PK).unwrap_or_default();
    let bad = |why: &str| corrupt(format!("run item {pk}: {why}"));
    let version = item_version(item).ok_or_else(|| bad("bad version"))?;
    let text = get_s(item, RECORD).ok_or_else(|| bad("bad record"))?;
    let record = crate::record_codec::decode(text).map_err(|e| bad(&e))?;
    let expires = keys::get_i64(item, RECORD_EXPIRES).ok_or_else(|| bad("bad expiry"))?;
    Ok(Some(Versioned { version, value: record, expires_at: Timestamp(expires.saturating_mul(1000)) }))
}

pub(crate) fn item_version(item: &Item) -> Option<u64> {
    get_i64(item, VERSION).and_then(|v| u64::try_from(v).ok())
}
