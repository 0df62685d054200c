//! Run activity (liveness, for stalled-run detection): the `act` part of a run's item, and the
//! sparse `stalled` index over the items of running runs.

use crate::api::{DynamoApi, DynamoError, Item, Params, Query, Read, Update};
use crate::keys::{
    self, ACTIVITY, ACTIVITY_EXPIRES, EXPIRES_AT, PK, SEEN, STALL_SHARD, STALLED, TOKEN, TOKEN_VALUE, VERSION, get_s,
    n, s,
};
use crate::retry::retrying;
use crate::runs::item_version;
use crate::{DynamoStore, corrupt, own_write, unavailable};
use automations_core::BoxFuture;
use automations_core::activity::{self, ActivityUpdate, RunActivity, StoredRunInfo};
use automations_core::event::RunKey;
use automations_core::model::RunState;
use automations_core::store::{PurgeExpired, RunActivityStore, StoreError};
use automations_core::time::Timestamp;
use futures_util::{StreamExt, stream};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// How many times a run whose item changed under an activity write is read and written again.
const ACTIVITY_ATTEMPTS: usize = 5;

/// The attributes that store `a`: what to `SET` (and `REMOVE`), with their placeholders.
pub(crate) struct ActivityWrite {
    pub set: String,
    pub remove: Option<String>,
    pub params: Params,
}

/// The `act` attribute: a run's activity as JSON text (the expiry is its own attribute).
#[derive(Serialize, Deserialize)]
struct ActivityDoc {
    entity: String,
    project: String,
    run_id: String,
    state: String,
    /// Milliseconds.
    state_at: i64,
    last_seen: i64,
    info: Option<StoredRunInfo>,
}

pub(crate) fn activity_write(a: &RunActivity) -> Result<ActivityWrite, StoreError> {
    let doc = ActivityDoc {
        entity: a.key.entity.clone(),
        project: a.key.project.clone(),
        run_id: a.key.run_id.clone(),
        state: a.state.as_str().to_string(),
        state_at: a.state_at.0,
        last_seen: a.last_seen.0,
        info: a.info.as_ref().map(StoredRunInfo::of),
    };
    let doc = serde_json::to_string(&doc).map_err(|e| corrupt(format!("run activity {}: {e}", a.key.run_id)))?;
    let mut params = Params::default()
        .name("#act", ACTIVITY)
        .name("#aexp", ACTIVITY_EXPIRES)
        .name("#seen", SEEN)
        .name("#stall", STALL_SHARD)
        .value(":act", s(doc))
        .value(":aexp", n(keys::ttl_seconds(a.expires_at)))
        .value(":seen", n(a.last_seen.0));
    let mut set = "#act = :act, #aexp = :aexp, #seen = :seen".to_string();
    let mut remove = None;
    // Only running runs are in the `stalled` index: a run that ended leaves it.
    if a.state == RunState::Running {
        params = params.value(":stall", s(keys::stall_shard(&keys::run_pk(&a.key))));
        set.push_str(", #stall = :stall");
    } else {
        remove = Some("#stall".to_string());
    }
    Ok(ActivityWrite { set, remove, params })
}

/// The live activity of a run item (or of an index entry projecting `act` and `act_exp`).
pub(crate) fn activity_of(item: &Item, now: Timestamp) -> Result<Option<RunActivity>, StoreError> {
    let Some(text) = get_s(item, ACTIVITY) else { return Ok(None) };
    if !keys::is_live_by(item, ACTIVITY_EXPIRES, now) {
        return Ok(None);
    }
    let pk = get_s(item, PK).unwrap_or_default();
    let bad = |why: &str| corrupt(format!("run activity {pk}: {why}"));
    let doc: ActivityDoc = serde_json::from_str(text).map_err(|e| bad(&e.to_string()))?;
    let key = RunKey { entity: doc.entity, project: doc.project, run_id: doc.run_id };
    let state = RunState::parse(&doc.state).ok_or_else(|| bad("state"))?;
    let info = doc.info.map(|i| i.into_info(key.clone()));
    let expires = keys::get_i64(item, ACTIVITY_EXPIRES).ok_or_else(|| bad(ACTIVITY_EXPIRES))?;
    Ok(Some(RunActivity {
        key,
        state,
        state_at: Timestamp(doc.state_at),
        last_seen: Timestamp(doc.last_seen),
        info,
        expires_at: Timestamp(expires.saturating_mul(1000)),
    }))
}

impl<D: DynamoApi> DynamoStore<D> {
    /// Write one run's activity over the item as read (`None`: there was none). `Ok(false)` when
    /// the item changed since: read it again and retry.
    pub(crate) async fn write_activity(
        &self,
        update: &ActivityUpdate,
        item: Option<&Item>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let old = match item {
            Some(i) => activity_of(i, now)?,
            None => None,
        };
        let new = activity::apply(old.as_ref(), update);
        let write = activity_write(&new)?;
        let token = self.tokens.next();
        let mut params = write
            .params
            .name("#exp", EXPIRES_AT)
            .name("#tok", TOKEN)
            .name("#v", VERSION)
            .name("#pk", PK)
            .value(":one", n(1))
            .value(TOKEN_VALUE, s(token.clone()));
        let condition = match item.and_then(item_version) {
            Some(v) => {
                params = params.value(":iv", n(v));
                "#v = :iv".to_string()
            }
            None => "attribute_not_exists(#pk)".to_string(),
        };
        let mut expr = format!("SET {}, #exp = :aexp, #tok = :tok ADD #v :one", write.set);
        if let Some(r) = &write.remove {
            expr.push_str(" REMOVE ");
            expr.push_str(r);
        }
        params.retain_used(&[&expr, &condition]);
        let request = Update {
            key: keys::run_key(&update.key),
            update: expr,
            condition: Some(condition),
            params,
            return_new: false,
        };
        match retrying(&self.backoff, "UpdateItem (activity)", || self.api.update_item(&self.table, request.clone()))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if own_write(&e, &token) => Ok(true),
            Err(DynamoError::ConditionFailed(_)) => Ok(false),
            Err(e) => Err(unavailable("record run activity", e)),
        }
    }

    /// Write activity updates over items already read, reading and retrying the runs whose items
    /// changed meanwhile. `items` maps run partition keys to the items as read.
    pub(crate) async fn write_activities(
        &self,
        updates: &[&ActivityUpdate],
        mut items: HashMap<String, Item>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut pending: Vec<&ActivityUpdate> = updates.to_vec();
        for attempt in 0..ACTIVITY_ATTEMPTS {
            if attempt > 0 {
                let keys: Vec<RunKey> = pending.iter().map(|u| u.key.clone()).collect();
                items = self.run_items(&keys).await?;
            }
            let writes: Vec<_> =
                pending.iter().map(|u| self.write_activity(u, items.get(&keys::run_pk(&u.key)), now)).collect();
            let done: Vec<bool> = stream::iter(writes)
                .buffered(self.concurrency)
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<Result<_, _>>()?;
            pending = pending.into_iter().zip(done).filter(|(_, ok)| !ok).map(|(u, _)| u).collect();
            if pending.is_empty() {
                return Ok(());
            }
        }
        Err(StoreError::Unavailable(format!("the activity of {} runs kept changing concurrently", pending.len())))
    }
}

impl<D: DynamoApi> RunActivityStore for DynamoStore<D> {
    /// A BatchGetItem of the runs, then one conditional UpdateItem each.
    fn record_activity<'a>(
        &'a self,
        updates: &'a [ActivityUpdate],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            // Several updates of one run in one call apply in order: fold them round by round.
            let mut rounds: Vec<Vec<&ActivityUpdate>> = Vec::new();
            let mut seen: HashMap<&RunKey, usize> = HashMap::new();
            for u in updates {
                let round = seen.entry(&u.key).and_modify(|r| *r += 1).or_insert(0);
                if rounds.len() <= *round {
                    rounds.push(Vec::new());
                }
                rounds[*round].push(u);
            }
            for round in rounds {
                let keys: Vec<RunKey> = round.iter().map(|u| u.key.clone()).collect();
                let items = self.run_items(&keys).await?;
                self.write_activities(&round, items, now).await?;
            }
            Ok(())
        })
    }

    /// A Query of the `stalled` index per shard, merged, longest silent first.
    fn stalled_runs<'a>(
        &'a self,
        silent_since: Timestamp,
        limit: usize,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<RunActivity>, StoreError>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for shard in 0..keys::SHARDS {
                let mut start = None;
                let mut found = 0;
                // Expired entries are skipped on read, so a shard is read until it gives `limit` live
                // ones or ends.
                loop {
                    let q = Query {
                        index: Some(STALLED.into()),
                        key_condition: "#shard = :shard AND #seen <= :since".into(),
                        params: Params::default()
                            .name("#shard", STALL_SHARD)
                            .name("#seen", SEEN)
                            .value(":shard", s(format!("RUN#{shard}")))
                            .value(":since", n(silent_since.0)),
                        start: start.take(),
                        limit: Some(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000)),
                        read: Read::Eventual,
                        forward: true,
                        ..Query::default()
                    };
                    let page = retrying(&self.backoff, "Query (stalled)", || self.api.query(&self.table, q.clone()))
                        .await
                        .map_err(|e| unavailable("list stalled runs", e))?;
                    for item in &page.items {
                        if let Some(a) = activity_of(item, now)?.filter(|a| a.state == RunState::Running) {
                            out.push(a);
                            found += 1;
                        }
                    }
                    match page.last_key {
                        Some(k) if found < limit => start = Some(k),
                        _ => break,
                    }
                }
            }
            out.sort_by(|a, b| (a.last_seen, &a.key).cmp(&(b.last_seen, &b.key)));
            out.truncate(limit);
            Ok(out)
        })
    }
}

impl<D: DynamoApi> PurgeExpired for DynamoStore<D> {
    /// Nothing to do: DynamoDB's TTL deletes expired items (lazily; every read already treats
    /// them as absent), without the read and write capacity a sweep would spend.
    fn purge_expired<'a>(&'a self, _now: Timestamp) -> BoxFuture<'a, Result<usize, StoreError>> {
        Box::pin(async move { Ok(0) })
    }
}
