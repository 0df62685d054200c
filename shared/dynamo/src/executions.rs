//! Fires and their executions (the outbox): one item per fire id, written once while it lives,
//! which is also the fire's delivery record. While `PENDING` it sits in the sparse `due` index;
//! workers claim it with a conditional update of its version.

use crate::api::{DynamoApi, DynamoError, Item, Params, Put, Query, Read, Update};
use crate::keys::{
    self, AUTOMATION_ID, BY_AUTOMATION, CREATED_ID, DOCUMENT, DUE, DUE_AT, DUE_SHARD, ENTITY, EXPIRES_AT, PK, STATE,
    TOKEN, TOKEN_VALUE, VERSION, get_i64, get_s, n, s,
};
use crate::retry::retrying;
use crate::{DynamoStore, corrupt, own_write, unavailable};
use automations_core::BoxFuture;
use automations_core::delivery::{Execution, ExecutionState};
use automations_core::fire::Fire;
use automations_core::ingest::NewFire;
use automations_core::store::ReadExecution;
use automations_core::store::{ExecutionStore, FireStore, Page, StoreError, execution_cursor, parse_execution_cursor};
use automations_core::time::Timestamp;
use automations_core::{AutomationId, FireId};
use futures_util::{StreamExt, stream};
use std::collections::{HashMap, HashSet};

/// The item that stores `e` at version `version`.
fn execution_item(e: &Execution, version: u64, token: &str) -> Item {
    let mut item = keys::fire_key(&e.fire_id);
    item.insert(DOCUMENT.into(), s(e.to_json().to_string()));
    item.insert(AUTOMATION_ID.into(), s(e.automation_id.clone()));
    item.insert(CREATED_ID.into(), s(created_id(e.created_at, e.fire_id.as_str())));
    item.insert(ENTITY.into(), s(e.entity.clone()));
    item.insert(STATE.into(), s(e.state.as_str()));
    item.insert(VERSION.into(), n(version));
    item.insert(EXPIRES_AT.into(), n(keys::ttl_seconds(e.expires_at)));
    item.insert(TOKEN.into(), s(token));
    if let (ExecutionState::Pending, Some(due)) = (e.state, e.next_attempt_at) {
        item.insert(DUE_AT.into(), n(due.0));
        item.insert(DUE_SHARD.into(), s(keys::due_shard(&e.fire_id)));
    }
    item
}

/// The `by_automation` index's sort key: creation time, then the fire id, so the order is total.
fn created_id(created_at: Timestamp, fire_id: &str) -> String {
    format!("{:013}#{}", created_at.0.max(0), fire_id)
}

/// Read an execution item. The top-level `v` and `due_at` are the truth: claims update them
/// without rewriting the document.
fn decode(item: &Item) -> Result<Execution, StoreError> {
    let pk = get_s(item, PK).unwrap_or_default();
    let bad = |why: String| corrupt(format!("execution {pk}: {why}"));
    let text = get_s(item, DOCUMENT).ok_or_else(|| bad("no document".into()))?;
    let doc: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let mut e = Execution::from_json(&doc).map_err(bad)?;
    e.version = get_i64(item, VERSION).and_then(|v| u64::try_from(v).ok()).ok_or_else(|| bad("bad version".into()))?;
    if let Some(due) = get_i64(item, DUE_AT) {
        e.next_attempt_at = Some(Timestamp(due));
    }
    Ok(e)
}

impl<D: DynamoApi> FireStore for DynamoStore<D> {
    fn record_fires<'a>(&'a self, fires: &'a [Fire], now: Timestamp) -> BoxFuture<'a, Result<Vec<bool>, StoreError>> {
        Box::pin(async move {
            let fires: Vec<NewFire> = fires.iter().map(|f| NewFire::new(f.clone(), now)).collect();
            self.record_new_fires(&fires).await
        })
    }
}

impl<D: DynamoApi> DynamoStore<D> {
    /// One conditional PutItem per fire (up to 16 at once), writing the fire's execution. A
    /// repeated id within the call is a duplicate without asking DynamoDB.
    pub(crate) async fn record_new_fires(&self, fires: &[NewFire]) -> Result<Vec<bool>, StoreError> {
        let mut seen = HashSet::new();
        let first: Vec<bool> = fires.iter().map(|f| seen.insert(f.fire.id.as_str())).collect();
        // The futures are made up front: a stream that maps borrowed items to futures trips the
        // compiler's proof that the whole future is `Send`.
        let writes: Vec<_> = fires.iter().zip(first).map(|(fire, first)| self.record_new(fire, first)).collect();
        stream::iter(writes).buffered(self.concurrency).collect::<Vec<_>>().await.into_iter().collect()
    }

    async fn record_new(&self, fire: &NewFire, first: bool) -> Result<bool, StoreError> {
        if first { self.record_fire(fire).await } else { Ok(false) }
    }

    async fn record_fire(&self, fire: &NewFire) -> Result<bool, StoreError> {
        let token = self.tokens.next();
        let item = execution_item(&fire.execution, 0, &token);
        // An expired fire with the same id reads as absent, so it may be written over.
        let put = Put {
            item,
            condition: Some("attribute_not_exists(#pk) OR #exp <= :now".into()),
            params: Params::default()
                .name("#pk", PK)
                .name("#exp", EXPIRES_AT)
                .value(":now", n(keys::now_seconds(fire.at))),
        };
        match retrying(&self.backoff, "PutItem (fire)", || self.api.put_item(&self.table, put.clone())).await {
            Ok(()) => Ok(true),
            Err(e) if own_write(&e, &token) => Ok(true),
            Err(DynamoError::ConditionFailed(_)) => Ok(false),
            Err(e) => Err(unavailable("record fire", e)),
        }
    }

    /// Claim one execution with `condition` (which may use `:now`, `:pending` and the names
    /// `#v`, `#due`, `#state`, `#exp`): `None` when the condition does not hold.
    async fn claim_with(
        &self,
        fire_id: &FireId,
        condition: &str,
        extra: Params,
        lease_until: Timestamp,
        now: Timestamp,
    ) -> Result<Option<Execution>, StoreError> {
        let token = self.tokens.next();
        let expr = "SET #due = :lease, #tok = :tok ADD #v :one".to_string();
        let mut params = Params::default()
            .name("#due", DUE_AT)
            .name("#tok", TOKEN)
            .name("#v", VERSION)
            .name("#state", STATE)
            .name("#exp", EXPIRES_AT)
            .value(":lease", n(lease_until.0))
            .value(TOKEN_VALUE, s(token.clone()))
            .value(":one", n(1))
            .value(":pending", s(ExecutionState::Pending.as_str()))
            .value(":now", n(keys::now_seconds(now)));
        params.names.extend(extra.names);
        params.values.extend(extra.values);
        let full = format!("#state = :pending AND #exp > :now AND {condition}");
        params.retain_used(&[&expr, &full]);
        let update =
            Update { key: keys::fire_key(fire_id), update: expr, condition: Some(full), params, return_new: true };
        match retrying(&self.backoff, "UpdateItem (claim)", || self.api.update_item(&self.table, update.clone())).await
        {
            Ok(Some(item)) => decode(&item).map(Some),
            Ok(None) => Err(corrupt(format!("claim of {fire_id}: DynamoDB returned no item"))),
            // Our own claim landed before a timeout: the item as it is now is the claim.
            Err(e) if own_write(&e, &token) => match e {
                DynamoError::ConditionFailed(Some(item)) => decode(&item).map(Some),
                _ => Ok(None),
            },
            Err(DynamoError::ConditionFailed(_)) => Ok(None),
            Err(e) => Err(unavailable("claim execution", e)),
        }
    }

    /// A page of one shard of the `due` index: (due_at, fire id, version) of pending executions
    /// due by `due_by`, soonest first.
    async fn due_page(
        &self,
        shard: u64,
        due_by: Timestamp,
        limit: usize,
        now: Timestamp,
    ) -> Result<Vec<(i64, FireId, u64)>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let q = Query {
                index: Some(DUE.into()),
                key_condition: "#shard = :shard AND #due <= :due_by".into(),
                params: Params::default()
                    .name("#shard", DUE_SHARD)
                    .name("#due", DUE_AT)
                    .value(":shard", s(format!("DUE#{shard}")))
                    .value(":due_by", n(due_by.0)),
                start: start.take(),
                limit: Some(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000)),
                read: Read::Eventual,
                forward: true,
                ..Query::default()
            };
            let page = retrying(&self.backoff, "Query (due)", || self.api.query(&self.table, q.clone()))
                .await
                .map_err(|e| unavailable("list due executions", e))?;
            for item in &page.items {
                if !keys::is_live(item, now) {
                    continue;
                }
                let id = get_s(item, PK).and_then(|pk| pk.strip_prefix("FIRE#")).unwrap_or_default();
                let (Some(due), Some(v)) = (get_i64(item, DUE_AT), get_i64(item, VERSION)) else { continue };
                out.push((due, FireId::new(unescape(id)), u64::try_from(v).unwrap_or_default()));
            }
            match page.last_key {
                Some(k) if out.len() < limit => start = Some(k),
                _ => return Ok(out),
            }
        }
    }
}

/// Undo [`keys::enc`].
fn unescape(part: &str) -> String {
    part.replace("%23", "#").replace("%25", "%")
}

impl<D: DynamoApi> ExecutionStore for DynamoStore<D> {
    /// The `due` index, shard by shard, merged soonest due first; then a conditional claim of
    /// each (another worker may win some: those are skipped).
    fn claim_due<'a>(
        &'a self,
        due_by: Timestamp,
        limit: usize,
        lease_until: Timestamp,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Execution>, StoreError>> {
        Box::pin(async move {
            let mut due = Vec::new();
            for shard in 0..keys::SHARDS {
                due.extend(self.due_page(shard, due_by, limit, now).await?);
            }
            due.sort();
            due.truncate(limit);
            let mut claimed = Vec::with_capacity(due.len());
            for (_, fire_id, seen) in due {
                let extra = Params::default().value(":seen", n(seen)).value(":due_by", n(due_by.0));
                if let Some(e) =
                    self.claim_with(&fire_id, "#v = :seen AND #due <= :due_by", extra, lease_until, now).await?
                {
                    claimed.push(e);
                }
            }
            Ok(claimed)
        })
    }

    fn claim<'a>(
        &'a self,
        fire_id: &'a FireId,
        version: Option<u64>,
        lease_until: Timestamp,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Option<Execution>, StoreError>> {
        Box::pin(async move {
            match version {
                Some(v) => {
                    self.claim_with(fire_id, "#v = :seen", Params::default().value(":seen", n(v)), lease_until, now)
                        .await
                }
                None => {
                    let extra = Params::default().value(":now_ms", n(now.0));
                    self.claim_with(fire_id, "#due <= :now_ms", extra, lease_until, now).await
                }
            }
        })
    }

    /// A PutItem of the whole execution at `version + 1`, if the stored version is still the
    /// claimed one.
    fn save_execution<'a>(
        &'a self,
        execution: &'a Execution,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let token = self.tokens.next();
            let put = Put {
                item: execution_item(execution, execution.version + 1, &token),
                condition: Some("#v = :claimed AND #exp > :now".into()),
                params: Params::default()
                    .name("#v", VERSION)
                    .name("#exp", EXPIRES_AT)
                    .value(":claimed", n(execution.version))
                    .value(":now", n(keys::now_seconds(now))),
            };
            match retrying(&self.backoff, "PutItem (execution)", || self.api.put_item(&self.table, put.clone())).await {
                Ok(()) => Ok(true),
                Err(e) if own_write(&e, &token) => Ok(true),
                Err(DynamoError::ConditionFailed(_)) => Ok(false),
                Err(e) => Err(unavailable("save execution", e)),
            }
        })
    }

    /// The `by_automation` index newest first (keys only), then one BatchGetItem for the page.
    fn list_executions<'a>(
        &'a self,
        automation_id: &'a AutomationId,
        cursor: Option<&'a str>,
        limit: usize,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Page<Execution>, StoreError>> {
        Box::pin(async move {
            let mut before = match cursor {
                None => None,
                Some(c) => match parse_execution_cursor(c) {
                    Some((t, id)) => Some(created_id(t, id.as_str())),
                    None => return Ok(Page { items: Vec::new(), next: None }),
                },
            };
            let limit = limit.max(1);
            let mut items: Vec<Execution> = Vec::new();
            // Expired executions are dropped on read, so a page may take more than one round.
            loop {
                let mut params = Params::default().name("#aid", AUTOMATION_ID).value(":aid", s(automation_id));
                let key_condition = match &before {
                    Some(b) => {
                        params = params.name("#at", CREATED_ID).value(":before", s(b.clone()));
                        "#aid = :aid AND #at < :before"
                    }
                    None => "#aid = :aid",
                };
                let want = limit + 1 - items.len();
                let q = Query {
                    index: Some(BY_AUTOMATION.into()),
                    key_condition: key_condition.into(),
                    params,
                    limit: Some(i32::try_from(want.min(100)).unwrap_or(100)),
                    read: Read::Eventual,
                    forward: false,
                    ..Query::default()
                };
                let page = retrying(&self.backoff, "Query (executions)", || self.api.query(&self.table, q.clone()))
                    .await
                    .map_err(|e| unavailable("list executions", e))?;
                let keys: Vec<Item> =
                    page.items.iter().map(|i| keys::key(get_s(i, PK).unwrap_or_default(), keys::FIRE_SK)).collect();
                let order: Vec<String> = page.items.iter().filter_map(|i| get_s(i, PK).map(str::to_string)).collect();
                let mut got: HashMap<String, Item> = self
                    .batch_get(keys, Read::Eventual)
                    .await
                    .map_err(|e| unavailable("read executions", e))?
                    .into_iter()
                    .map(|i| (get_s(&i, PK).unwrap_or_default().to_string(), i))
                    .collect();
                for pk in order {
                    if let Some(item) = got.remove(&pk).filter(|i| keys::is_live(i, now)) {
                        items.push(decode(&item)?);
                    }
                }
                before = page.items.last().and_then(|i| get_s(i, CREATED_ID)).map(str::to_string);
                if items.len() > limit || page.last_key.is_none() {
                    break;
                }
            }
            let more = items.len() > limit;
            items.truncate(limit);
            let next = if more { items.last().map(execution_cursor) } else { None };
            Ok(Page { items, next })
        })
    }

    /// The soonest `due_at` of each shard of the `due` index.
    fn next_due<'a>(&'a self, now: Timestamp) -> BoxFuture<'a, Result<Option<Timestamp>, StoreError>> {
        Box::pin(async move {
            let mut soonest = None;
            for shard in 0..keys::SHARDS {
                let first = self.due_page(shard, Timestamp(i64::MAX), 1, now).await?;
                if let Some((due, _, _)) = first.first() {
                    soonest = Some(soonest.map_or(*due, |s: i64| s.min(*due)));
                }
            }
            Ok(soonest.map(Timestamp))
        })
    }
}

impl<D: DynamoApi> ReadExecution for DynamoStore<D> {
    fn get_execution<'a>(
        &'a self,
        fire_id: &'a FireId,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Option<Execution>, StoreError>> {
        Box::pin(async move {
            let item = retrying(&self.backoff, "GetItem (execution)", || {
                self.api.get_item(&self.table, keys::fire_key(fire_id), Read::Consistent)
            })
            .await
            .map_err(|e| unavailable("read execution", e))?;
            item.filter(|i| keys::is_live(i, now)).map(|i| decode(&i)).transpose()
        })
    }
}
