//! The configuration port: automations per entity (see `automations.rs`), integrations and API
//! keys.

use crate::api::{Delete, DynamoApi, DynamoError, Item, Params, Put, Query, Read, TransactItem, Update};
use crate::automations::{WriteMode, decode as decode_automation};
use crate::keys::{
    self, AUTOS_PK, CREATED_AT, DOCUMENT, ENTITY, ID, NAME, PK, SK, TOKEN, TRACKED, TRACKING_PK, get_i64, get_s, n, s,
};
use crate::retry::retrying;
use crate::{DynamoStore, corrupt, unavailable};
use automations_core::BoxFuture;
use automations_core::model::{Automation, Integration};
use automations_core::store::AutomationLookup;
use automations_core::store::{
    ApiKeyRecord, ApiKeyStore, AutomationCatalog, AutomationQuery, AutomationRecord, IntegrationLookup,
    IntegrationStore, Page, StoreError, query_matches,
};
use automations_core::time::Timestamp;
use automations_core::{AutomationId, EntityId, IntegrationName};

const DISABLED: &str = "disabled";

fn record(item: &Item) -> Result<AutomationRecord, StoreError> {
    let (automation, created_at, updated_at) = decode_automation(item)?;
    Ok(AutomationRecord { automation, created_at, updated_at })
}

pub(crate) fn integration_of(item: &Item) -> Result<Integration, StoreError> {
    let name = get_s(item, NAME).unwrap_or("?");
    let bad = |why: String| corrupt(format!("integration {name:?}: {why}"));
    let doc: serde_json::Value = serde_json::from_str(get_s(item, DOCUMENT).ok_or_else(|| bad("no document".into()))?)
        .map_err(|e| bad(e.to_string()))?;
    Integration::from_stored(
        get_s(item, ID).unwrap_or_default(),
        get_s(item, ENTITY).unwrap_or_default(),
        &doc,
        get_s(item, DISABLED).map(str::to_string),
        Timestamp(get_i64(item, CREATED_AT).unwrap_or_default()),
    )
    .map_err(|e| bad(e.to_string()))
}

impl<D: DynamoApi> DynamoStore<D> {
    pub(crate) async fn get(&self, key: Item, what: &str) -> Result<Option<Item>, StoreError> {
        retrying(&self.backoff, "GetItem", || self.api.get_item(&self.table, key.clone(), Read::Consistent))
            .await
            .map_err(|e| unavailable(what, e))
    }
}

impl<D: DynamoApi> AutomationLookup for DynamoStore<D> {
    fn get_automation<'a>(
        &'a self,
        entity: &'a EntityId,
        id: &'a AutomationId,
    ) -> BoxFuture<'a, Result<Option<AutomationRecord>, StoreError>> {
        Box::pin(async move {
            self.get(keys::automation_key(entity, id), "read automation").await?.as_ref().map(record).transpose()
        })
    }
}

impl<D: DynamoApi> AutomationCatalog for DynamoStore<D> {
    fn create_automation<'a>(
        &'a self,
        automation: &'a Automation,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move { self.write_automation(automation, now, WriteMode::Create).await.map(|_| ()) })
    }

    /// A Query of the entity's sort-key range from the cursor on, filtered as it goes.
    fn find_automations<'a>(
        &'a self,
        query: &'a AutomationQuery,
    ) -> BoxFuture<'a, Result<Page<AutomationRecord>, StoreError>> {
        Box::pin(async move {
            let prefix = keys::automation_prefix(&query.entity);
            let from = match &query.cursor {
                Some(c) => format!("{prefix}{}", keys::enc(c)),
                None => prefix.clone(),
            };
            // Every key of the entity sorts below the prefix with its final `#` made `$`.
            let to = format!("{}$", &prefix[..prefix.len() - 1]);
            let limit = query.limit.max(1);
            let mut items = Vec::new();
            let mut start = None;
            loop {
                let q = Query {
                    key_condition: "#pk = :pk AND #sk BETWEEN :from AND :to".into(),
                    params: Params::default()
                        .name("#pk", PK)
                        .name("#sk", SK)
                        .value(":pk", s(AUTOS_PK))
                        .value(":from", s(from.clone()))
                        .value(":to", s(to.clone())),
                    start: start.take(),
                    limit: Some(i32::try_from((limit + 1).min(200)).unwrap_or(200)),
                    read: Read::Consistent,
                    forward: true,
                    ..Query::default()
                };
                let page = retrying(&self.backoff, "Query (automations)", || self.api.query(&self.table, q.clone()))
                    .await
                    .map_err(|e| unavailable("list automations", e))?;
                for item in &page.items {
                    // The cursor's own item, if it still exists, was on the previous page.
                    if query.cursor.is_some() && get_s(item, SK) == Some(from.as_str()) {
                        continue;
                    }
                    let r = record(item)?;
                    if query_matches(query, &r.automation) {
                        items.push(r);
                    }
                }
                match page.last_key {
                    Some(k) if items.len() <= limit => start = Some(k),
                    _ => break,
                }
            }
            let more = items.len() > limit;
            items.truncate(limit);
            let next = if more { items.last().map(|r| r.automation.id.to_string()) } else { None };
            Ok(Page { items, next })
        })
    }

    fn update_automation<'a>(
        &'a self,
        automation: &'a Automation,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move { self.write_automation(automation, now, WriteMode::Update).await })
    }

    /// The automation and its name claim, deleted in one transaction.
    fn delete_automation<'a>(
        &'a self,
        entity: &'a EntityId,
        id: &'a AutomationId,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let key = keys::automation_key(entity, id);
            for _ in 0..5 {
                let Some(item) = self.get(key.clone(), "read automation").await? else { return Ok(false) };
                let name = get_s(&item, NAME).unwrap_or_default();
                let tok = get_s(&item, TOKEN).unwrap_or_default();
                let actions = vec![
                    TransactItem::Delete(Delete {
                        key: key.clone(),
                        condition: Some("#tok = :tok".into()),
                        params: Params::default().name("#tok", TOKEN).value(":tok", s(tok)),
                    }),
                    TransactItem::Delete(Delete {
                        key: keys::name_claim_key(entity, name),
                        condition: Some("#id = :id".into()),
                        params: Params::default().name("#id", ID).value(":id", s(id)),
                    }),
                ];
                match retrying(&self.backoff, "TransactWriteItems (delete automation)", || {
                    self.api.transact_write_items(&self.table, actions.clone())
                })
                .await
                {
                    Ok(()) => return Ok(true),
                    // Changed or deleted meanwhile (perhaps by our own attempt that timed out): look again.
                    Err(DynamoError::Cancelled(_)) => continue,
                    Err(e) => return Err(unavailable("delete automation", e)),
                }
            }
            Err(StoreError::Unavailable(format!("automation {id:?} kept changing concurrently")))
        })
    }
}

impl<D: DynamoApi> IntegrationLookup for DynamoStore<D> {
    fn get_integration<'a>(
        &'a self,
        entity: &'a EntityId,
        name: &'a IntegrationName,
    ) -> BoxFuture<'a, Result<Option<Integration>, StoreError>> {
        Box::pin(async move {
            self.get(keys::integration_key(entity, name), "read integration")
                .await?
                .as_ref()
                .map(integration_of)
                .transpose()
        })
    }

    fn set_integration_disabled<'a>(
        &'a self,
        entity: &'a EntityId,
        name: &'a IntegrationName,
        reason: Option<&'a str>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut params = Params::default().name("#pk", PK).name("#d", DISABLED);
            let expr = match reason {
                Some(r) => {
                    params = params.value(":d", s(r));
                    "SET #d = :d"
                }
                None => "REMOVE #d",
            };
            let update = Update {
                key: keys::integration_key(entity, name),
                update: expr.into(),
                condition: Some("attribute_exists(#pk)".into()),
                params,
                return_new: false,
            };
            match retrying(&self.backoff, "UpdateItem (integration)", || {
                self.api.update_item(&self.table, update.clone())
            })
            .await
            {
                Ok(_) => Ok(true),
                Err(DynamoError::ConditionFailed(_)) => Ok(false),
                Err(e) => Err(unavailable("disable integration", e)),
            }
        })
    }
}

impl<D: DynamoApi> IntegrationStore for DynamoStore<D> {
    fn create_integration<'a>(&'a self, integration: &'a Integration) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut item = keys::integration_key(&integration.entity, &integration.name);
            item.insert(ID.into(), s(integration.id.clone()));
            item.insert(ENTITY.into(), s(integration.entity.clone()));
            item.insert(NAME.into(), s(integration.name.clone()));
            item.insert(DOCUMENT.into(), s(integration.to_stored_json().to_string()));
            item.insert(CREATED_AT.into(), n(integration.created_at.0));
            if let Some(why) = &integration.disabled {
                item.insert(DISABLED.into(), s(why.clone()));
            }
            if integration.tracking().is_some() {
                item.insert(TRACKED.into(), s(TRACKING_PK));
            }
            let put = Put {
                item,
                condition: Some("attribute_not_exists(#pk)".into()),
                params: Params::default().name("#pk", PK),
            };
            match retrying(&self.backoff, "PutItem (integration)", || self.api.put_item(&self.table, put.clone())).await
            {
                Ok(()) => Ok(()),
                // Written by our own attempt that timed out, if its id is ours.
                Err(DynamoError::ConditionFailed(Some(old))) if get_s(&old, ID) == Some(integration.id.as_str()) => {
                    Ok(())
                }
                Err(DynamoError::ConditionFailed(_)) => {
                    Err(StoreError::integration_name_taken(&integration.entity, integration.name.as_str()))
                }
                Err(e) => Err(unavailable("create integration", e)),
            }
        })
    }

    /// Every integration of the entity (one Query; an entity has few), paged in id order.
    fn list_integrations<'a>(
        &'a self,
        entity: &'a EntityId,
        cursor: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Page<Integration>, StoreError>> {
        Box::pin(async move {
            let all = self
                .query_all(Query {
                    key_condition: "#pk = :pk".into(),
                    params: Params::default().name("#pk", PK).value(":pk", s(keys::integrations_pk(entity))),
                    read: Read::Consistent,
                    forward: true,
                    ..Query::default()
                })
                .await
                .map_err(|e| unavailable("list integrations", e))?;
            let mut list: Vec<Integration> = all.iter().map(integration_of).collect::<Result<_, _>>()?;
            list.sort_by(|a, b| a.id.cmp(&b.id));
            let rest: Vec<Integration> =
                list.into_iter().filter(|i| cursor.is_none_or(|c| i.id.as_str() > c)).collect();
            let limit = limit.max(1);
            let more = rest.len() > limit;
            let items: Vec<Integration> = rest.into_iter().take(limit).collect();
            let next = if more { items.last().map(|i| i.id.clone()) } else { None };
            Ok(Page { items, next })
        })
    }

    /// The integration, then its tracking cursors and last poll (if it had a tracking side).
    fn delete_integration<'a>(
        &'a self,
        entity: &'a EntityId,
        name: &'a IntegrationName,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let id = self
                .get(keys::integration_key(entity, name), "read integration")
                .await?
                .and_then(|i| (get_s(&i, TRACKED).is_some()).then(|| get_s(&i, ID).unwrap_or_default().to_string()));
            let delete = Delete {
                key: keys::integration_key(entity, name),
                condition: Some("attribute_exists(#pk)".into()),
                params: Params::default().name("#pk", PK),
            };
            match retrying(&self.backoff, "DeleteItem (integration)", || {
                self.api.delete_item(&self.table, delete.clone())
            })
            .await
            {
                Ok(()) => {
                    if let Some(id) = id {
                        self.forget_tracking(&id).await?;
                    }
                    Ok(true)
                }
                Err(DynamoError::ConditionFailed(_)) => Ok(false),
                Err(e) => Err(unavailable("delete integration", e)),
            }
        })
    }

    fn update_integration<'a>(&'a self, integration: &'a Integration) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut params = Params::default()
                .name("#pk", PK)
                .name("#doc", DOCUMENT)
                .name("#d", DISABLED)
                .name("#trk", TRACKED)
                .value(":doc", s(integration.to_stored_json().to_string()));
            let (mut set, mut remove) = (vec!["#doc = :doc"], vec![]);
            match &integration.disabled {
                Some(why) => {
                    params = params.value(":d", s(why.clone()));
                    set.push("#d = :d");
                }
                None => remove.push("#d"),
            }
            // A patch may add or remove the tracking side: the `tracking` index follows.
            if integration.tracking().is_some() {
                params = params.value(":trk", s(TRACKING_PK));
                set.push("#trk = :trk");
            } else {
                remove.push("#trk");
            }
            let expr = format!("SET {} REMOVE {}", set.join(", "), remove.join(", "));
            let update = Update {
                key: keys::integration_key(&integration.entity, &integration.name),
                update: expr,
                condition: Some("attribute_exists(#pk)".into()),
                params,
                return_new: false,
            };
            match retrying(&self.backoff, "UpdateItem (integration)", || {
                self.api.update_item(&self.table, update.clone())
            })
            .await
            {
                Ok(_) => Ok(true),
                Err(DynamoError::ConditionFailed(_)) => Ok(false),
                Err(e) => Err(unavailable("update integration", e)),
            }
        })
    }
}

impl<D: DynamoApi> ApiKeyStore for DynamoStore<D> {
    fn put_api_key<'a>(&'a self, key: &'a ApiKeyRecord) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut item = keys::api_key_key(&key.hash);
            item.insert(ENTITY.into(), s(key.entity.clone()));
            item.insert(CREATED_AT.into(), n(key.created_at.0));
            let put = Put { item, condition: None, params: Params::default() };
            retrying(&self.backoff, "PutItem (API key)", || self.api.put_item(&self.table, put.clone()))
                .await
                .map_err(|e| unavailable("store API key", e))
        })
    }

    fn find_api_key<'a>(&'a self, hash: &'a str) -> BoxFuture<'a, Result<Option<ApiKeyRecord>, StoreError>> {
        Box::pin(async move {
            Ok(self.get(keys::api_key_key(hash), "read API key").await?.map(|item| ApiKeyRecord {
                hash: hash.to_string(),
                entity: get_s(&item, ENTITY).unwrap_or_default().to_string().into(),
                created_at: Timestamp(get_i64(&item, CREATED_AT).unwrap_or_default()),
            }))
        })
    }
}
