//! Automations: one item each in the `AUTOS` partition, with a name-claim item per (entity,
//! name) that keeps names unique, both written in one transaction.

use crate::api::{DynamoApi, DynamoError, Item, Params, Put, Query, Read, TransactItem};
use crate::keys::{
    self, AUTOS_PK, CREATED_AT, DOCUMENT, ENTITY, ID, NAME, PK, SK, TOKEN, UPDATED_AT, get_i64, get_s, n, s,
};
use crate::retry::retrying;
use crate::{DynamoStore, corrupt, unavailable};
use automations_core::BoxFuture;
use automations_core::model::Automation;
use automations_core::store::SeedAutomations;
use automations_core::store::{AutomationStore, StoreError};
use automations_core::time::Timestamp;

/// How many times a put that lost to a concurrent change of the same automation starts over.
const PUT_ATTEMPTS: usize = 5;

impl<D: DynamoApi> DynamoStore<D> {
    /// Every item of a query, page after page.
    pub(crate) async fn query_all(&self, query: Query) -> Result<Vec<Item>, DynamoError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let q = Query { start: start.take(), ..query.clone() };
            let page = retrying(&self.backoff, "Query", || self.api.query(&self.table, q.clone())).await?;
            items.extend(page.items);
            match page.last_key {
                Some(k) => start = Some(k),
                None => return Ok(items),
            }
        }
    }

    /// The automation items whose sort key starts with `prefix`, in sort-key order.
    pub(crate) async fn automation_items(&self, prefix: &str) -> Result<Vec<Item>, StoreError> {
        self.query_all(Query {
            key_condition: "#pk = :pk AND begins_with(#sk, :prefix)".into(),
            params: Params::default()
                .name("#pk", PK)
                .name("#sk", SK)
                .value(":pk", s(AUTOS_PK))
                .value(":prefix", s(prefix)),
            read: Read::Consistent,
            forward: true,
            ..Query::default()
        })
        .await
        .map_err(|e| unavailable("list automations", e))
    }

    /// Write `automation` (insert or replace by id) and its name claim in one transaction.
    /// `Conflict` when another automation of the entity holds the name. `expect_new` refuses to
    /// replace an existing automation (`Conflict`); `expect_existing` refuses to create one
    /// (`Ok(false)`).
    pub(crate) async fn write_automation(
        &self,
        automation: &Automation,
        now: Timestamp,
        mode: WriteMode,
    ) -> Result<bool, StoreError> {
        let entity = automation.entity();
        let key = keys::automation_key(entity, &automation.id);
        for _ in 0..PUT_ATTEMPTS {
            let existing = retrying(&self.backoff, "GetItem (automation)", || {
                self.api.get_item(&self.table, key.clone(), Read::Consistent)
            })
            .await
            .map_err(|e| unavailable("read automation", e))?;
            match (&existing, mode) {
                (Some(_), WriteMode::Create) => {
                    return Err(StoreError::Conflict(format!("an automation with id {:?} exists", automation.id)));
                }
                (None, WriteMode::Update) => return Ok(false),
                _ => {}
            }
            let token = self.tokens.next();
            let created = existing.as_ref().and_then(|e| get_i64(e, CREATED_AT)).unwrap_or(now.0);
            let mut item = key.clone();
            item.insert(ID.into(), s(automation.id.clone()));
            item.insert(ENTITY.into(), s(entity));
            item.insert(NAME.into(), s(automation.name.clone()));
            item.insert(DOCUMENT.into(), s(automation.to_document().to_string()));
            item.insert(CREATED_AT.into(), n(created));
            item.insert(UPDATED_AT.into(), n(now.0));
            item.insert(TOKEN.into(), s(token.clone()));
            // The automation item must be as read: a concurrent writer in between starts us over.
            let guard = match existing.as_ref().and_then(|e| get_s(e, TOKEN)) {
                Some(old) => Put {
                    item,
                    condition: Some("#tok = :old".into()),
                    params: Params::default().name("#tok", TOKEN).value(":old", s(old)),
                },
                None => Put {
                    item,
                    condition: Some("attribute_not_exists(#pk)".into()),
                    params: Params::default().name("#pk", PK),
                },
            };
            let mut claim = keys::name_claim_key(entity, &automation.name);
            claim.insert(ID.into(), s(automation.id.clone()));
            let mut actions = vec![
                TransactItem::Put(guard),
                TransactItem::Put(Put {
                    item: claim,
                    condition: Some("attribute_not_exists(#pk) OR #id = :id".into()),
                    params: Params::default().name("#pk", PK).name("#id", ID).value(":id", s(automation.id.clone())),
                }),
            ];
            if let Some(old_name) = existing.as_ref().and_then(|e| get_s(e, NAME)).filter(|n| *n != automation.name) {
                actions.push(TransactItem::Delete(crate::api::Delete {
                    key: keys::name_claim_key(entity, old_name),
                    condition: Some("#id = :id".into()),
                    params: Params::default().name("#id", ID).value(":id", s(automation.id.clone())),
                }));
            }
            match retrying(&self.backoff, "TransactWriteItems (automation)", || {
                self.api.transact_write_items(&self.table, actions.clone())
            })
            .await
            {
                Ok(()) => return Ok(true),
                Err(DynamoError::Cancelled(reasons)) => {
                    let failed = |i: usize| reasons.get(i).and_then(Option::as_deref) == Some("ConditionalCheckFailed");
                    if failed(1) {
                        return Err(StoreError::automation_name_taken(entity, &automation.name));
                    }
                    // Our own earlier attempt may have landed (a timeout, then a retry that found
                    // the item changed): the item then carries our token.
                    let now_item = retrying(&self.backoff, "GetItem (automation)", || {
                        self.api.get_item(&self.table, key.clone(), Read::Consistent)
                    })
                    .await
                    .map_err(|e| unavailable("read automation", e))?;
                    if now_item.as_ref().and_then(|i| get_s(i, TOKEN)) == Some(token.as_str()) {
                        return Ok(true);
                    }
                    tracing::info!(automation = %automation.id, ?reasons, "automation changed concurrently; writing again");
                }
                Err(e) => return Err(unavailable("write automation", e)),
            }
        }
        Err(StoreError::Unavailable(format!("automation {:?} kept changing concurrently", automation.id)))
    }
}

/// What a write of an automation may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteMode {
    /// Insert or replace.
    Upsert,
    /// Insert only.
    Create,
    /// Replace only.
    Update,
}

/// Read an automation item back. A document that no longer reads is an error naming the id:
/// dropping it silently would stop it firing unnoticed.
pub(crate) fn decode(item: &Item) -> Result<(Automation, Timestamp, Timestamp), StoreError> {
    let id = get_s(item, ID).unwrap_or("?");
    let bad = |why: String| corrupt(format!("automation {id:?}: {why}"));
    let text = get_s(item, DOCUMENT).ok_or_else(|| bad("no document".into()))?;
    let doc: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let automation = Automation::from_create(id, &doc).map_err(|e| bad(e.to_string()))?;
    let created = Timestamp(get_i64(item, CREATED_AT).unwrap_or_default());
    let updated = Timestamp(get_i64(item, UPDATED_AT).unwrap_or(created.0));
    Ok((automation, created, updated))
}

impl<D: DynamoApi> AutomationStore for DynamoStore<D> {
    /// Every automation of every entity: one strongly consistent Query (paged past 1 MB).
    fn list_automations<'a>(&'a self) -> BoxFuture<'a, Result<Vec<Automation>, StoreError>> {
        Box::pin(
            async move { self.automation_items("A#").await?.iter().map(|i| decode(i).map(|(a, _, _)| a)).collect() },
        )
    }
}

impl<D: DynamoApi> SeedAutomations for DynamoStore<D> {
    fn put_automation<'a>(
        &'a self,
        automation: &'a Automation,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move { self.write_automation(automation, now, WriteMode::Upsert).await.map(|_| ()) })
    }
}
