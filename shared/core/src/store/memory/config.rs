//! The configuration port on the in-memory store: the reference behaviour the SQLite and
//! DynamoDB adapters are compared against.

use super::Inner;
use crate::BoxFuture;
use crate::mlflow::tracking::RunCursor;
use crate::model::Integration;
use crate::store::*;
use crate::{AutomationId, EntityId, IntegrationName};
use std::collections::HashMap;

/// The configuration data the engine's ports do not need. Automations themselves stay in
/// `Inner::automations`, shared with [`AutomationStore`].
#[derive(Debug, Default)]
pub(in crate::store) struct ConfigData {
    /// (created_at, updated_at) per automation id.
    times: HashMap<AutomationId, (Timestamp, Timestamp)>,
    integrations: Vec<Integration>,
    api_keys: HashMap<String, ApiKeyRecord>,
    /// The tracking poller's cursors per (integration id, run id), and poll records.
    cursors: HashMap<(String, String), RunCursor>,
    polls: HashMap<String, PollRecord>,
}

fn record(inner: &Inner, a: &Automation) -> AutomationRecord {
    let (created_at, updated_at) = inner.config.times.get(&a.id).copied().unwrap_or_default();
    AutomationRecord { automation: a.clone(), created_at, updated_at }
}

/// Take up to `limit` items after `cursor` from items sorted by `id`, with the next cursor.
fn page<T: Clone>(mut items: Vec<&T>, id: impl Fn(&T) -> &str, cursor: Option<&str>, limit: usize) -> Page<T> {
    items.sort_by(|a, b| id(a).cmp(id(b)));
    let rest: Vec<&T> = items.into_iter().filter(|t| cursor.is_none_or(|c| id(t) > c)).collect();
    let limit = limit.max(1);
    let more = rest.len() > limit;
    let items: Vec<T> = rest.into_iter().take(limit).cloned().collect();
    let next = if more { items.last().map(|t| id(t).to_string()) } else { None };
    Page { items, next }
}

impl AutomationLookup for MemoryStore {
    fn get_automation<'a>(
        &'a self,
        entity: &'a EntityId,
        id: &'a AutomationId,
    ) -> BoxFuture<'a, Result<Option<AutomationRecord>, StoreError>> {
        Box::pin(async move {
            let inner = self.lock();
            Ok(inner.automations.iter().find(|a| a.id == id && a.entity() == entity).map(|a| record(&inner, a)))
        })
    }
}

impl AutomationCatalog for MemoryStore {
    fn create_automation<'a>(
        &'a self,
        automation: &'a Automation,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut inner = self.lock();
            if inner.automations.iter().any(|a| a.id == automation.id) {
                return Err(StoreError::Conflict(format!("an automation with id {:?} exists", automation.id)));
            }
            if inner.automations.iter().any(|a| a.entity() == automation.entity() && a.name == automation.name) {
                return Err(StoreError::automation_name_taken(automation.entity(), &automation.name));
            }
            inner.automations.push(automation.clone());
            inner.config.times.insert(automation.id.clone(), (now, now));
            Ok(())
        })
    }

    fn find_automations<'a>(
        &'a self,
        query: &'a AutomationQuery,
    ) -> BoxFuture<'a, Result<Page<AutomationRecord>, StoreError>> {
        Box::pin(async move {
            let inner = self.lock();
            let matching: Vec<AutomationRecord> =
                inner.automations.iter().filter(|a| query_matches(query, a)).map(|a| record(&inner, a)).collect();
            Ok(page(matching.iter().collect(), |r| r.automation.id.as_str(), query.cursor.as_deref(), query.limit))
        })
    }

    fn update_automation<'a>(
        &'a self,
        automation: &'a Automation,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut inner = self.lock();
            let entity = automation.entity();
            if inner
                .automations
                .iter()
                .any(|a| a.entity() == entity && a.name == automation.name && a.id != automation.id)
            {
                return Err(StoreError::automation_name_taken(automation.entity(), &automation.name));
            }
            let Some(slot) = inner.automations.iter_mut().find(|a| a.id == automation.id && a.entity() == entity)
            else {
                return Ok(false);
            };
            *slot = automation.clone();
            let times = inner.config.times.entry(automation.id.clone()).or_insert((now, now));
            times.1 = now;
            Ok(true)
        })
    }

    fn delete_automation<'a>(
        &'a self,
        entity: &'a EntityId,
        id: &'a AutomationId,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut inner = self.lock();
            let before = inner.automations.len();
            inner.automations.retain(|a| !(a.id == id && a.entity() == entity));
            let deleted = inner.automations.len() < before;
            if deleted {
                inner.config.times.remove(id);
            }
            Ok(deleted)
        })
    }
}

impl IntegrationLookup for MemoryStore {
    fn get_integration<'a>(
        &'a self,
        entity: &'a EntityId,
        name: &'a IntegrationName,
    ) -> BoxFuture<'a, Result<Option<Integration>, StoreError>> {
        Box::pin(async move {
            Ok(self.lock().config.integrations.iter().find(|i| i.entity == entity && i.name == name).cloned())
        })
    }

    fn set_integration_disabled<'a>(
        &'a self,
        entity: &'a EntityId,
        name: &'a IntegrationName,
        reason: Option<&'a str>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut inner = self.lock();
            match inner.config.integrations.iter_mut().find(|i| i.entity == entity && i.name == name) {
                Some(i) => {
                    i.disabled = reason.map(str::to_string);
                    Ok(true)
                }
                None => Ok(false),
            }
        })
    }
}

impl IntegrationStore for MemoryStore {
    fn create_integration<'a>(&'a self, integration: &'a Integration) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut inner = self.lock();
            let list = &mut inner.config.integrations;
            if list.iter().any(|i| i.entity == integration.entity && i.name == integration.name) {
                return Err(StoreError::integration_name_taken(&integration.entity, integration.name.as_str()));
            }
            if list.iter().any(|i| i.id == integration.id) {
                return Err(StoreError::Conflict(format!("an integration with id {:?} exists", integration.id)));
            }
            list.push(integration.clone());
            Ok(())
        })
    }

    fn list_integrations<'a>(
        &'a self,
        entity: &'a EntityId,
        cursor: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Page<Integration>, StoreError>> {
        Box::pin(async move {
            let inner = self.lock();
            let mine: Vec<&Integration> = inner.config.integrations.iter().filter(|i| i.entity == entity).collect();
            Ok(page(mine, |i| i.id.as_str(), cursor, limit))
        })
    }

    fn update_integration<'a>(&'a self, integration: &'a Integration) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut inner = self.lock();
            let list = &mut inner.config.integrations;
            match list.iter_mut().find(|i| i.entity == integration.entity && i.name == integration.name) {
                Some(i) => {
                    let (id, created_at) = (i.id.clone(), i.created_at);
                    *i = Integration { id, created_at, ..integration.clone() };
                    Ok(true)
                }
                None => Ok(false),
            }
        })
    }

    fn delete_integration<'a>(
        &'a self,
        entity: &'a EntityId,
        name: &'a IntegrationName,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut inner = self.lock();
            let config = &mut inner.config;
            let Some(at) = config.integrations.iter().position(|i| i.entity == entity && i.name == name) else {
                return Ok(false);
            };
            // A deleted tracking integration forgets its cursors and polls.
            let id = config.integrations.remove(at).id;
            config.cursors.retain(|(i, _), _| *i != id);
            config.polls.remove(&id);
            Ok(true)
        })
    }
}

impl ApiKeyStore for MemoryStore {
    fn put_api_key<'a>(&'a self, key: &'a ApiKeyRecord) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.lock().config.api_keys.insert(key.hash.clone(), key.clone());
            Ok(())
        })
    }

    fn find_api_key<'a>(&'a self, hash: &'a str) -> BoxFuture<'a, Result<Option<ApiKeyRecord>, StoreError>> {
        Box::pin(async move { Ok(self.lock().config.api_keys.get(hash).cloned()) })
    }
}

impl TrackingStore for MemoryStore {
    fn tracking_integrations<'a>(&'a self) -> BoxFuture<'a, Result<Vec<Integration>, StoreError>> {
        Box::pin(async move {
            Ok(self.lock().config.integrations.iter().filter(|i| i.tracking().is_some()).cloned().collect())
        })
    }

    fn load_cursors<'a>(
        &'a self,
        integration_id: &'a str,
        run_ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<RunCursor>, StoreError>> {
        Box::pin(async move {
            let inner = self.lock();
            Ok(run_ids
                .iter()
                .map(|r| {
                    inner.config.cursors.get(&(integration_id.to_string(), r.clone())).cloned().unwrap_or_default()
                })
                .collect())
        })
    }

    fn save_cursor<'a>(
        &'a self,
        integration_id: &'a str,
        run_id: &'a str,
        cursor: &'a RunCursor,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.lock().config.cursors.insert((integration_id.to_string(), run_id.to_string()), cursor.clone());
            Ok(())
        })
    }

    fn poll_record<'a>(&'a self, integration_id: &'a str) -> BoxFuture<'a, Result<Option<PollRecord>, StoreError>> {
        Box::pin(async move { Ok(self.lock().config.polls.get(integration_id).cloned()) })
    }

    fn save_poll_record<'a>(
        &'a self,
        integration_id: &'a str,
        record: &'a PollRecord,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.lock().config.polls.insert(integration_id.to_string(), record.clone());
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn automation(id: &str, entity: &str, name: &str, enabled: bool) -> Automation {
        Automation::from_create(
            id,
            &json!({"name": name, "enabled": enabled, "scope": {"type": "entity", "entity": entity},
                    "event": {"type": "ADD_ARTIFACT_ALIAS"}, "action": {"type": "none"}}),
        )
        .unwrap()
    }

    #[test]
    fn names_are_unique_per_entity_and_entities_are_isolated() {
        let s = MemoryStore::new();
        ready_now(s.create_automation(&automation("a1", "acme", "n", true), Timestamp(1))).unwrap();
        let dup = ready_now(s.create_automation(&automation("a2", "acme", "n", true), Timestamp(2)));
        assert!(matches!(dup, Err(StoreError::NameTaken { .. })));
        ready_now(s.create_automation(&automation("a3", "other", "n", true), Timestamp(3))).unwrap();
        assert!(ready_now(s.get_automation(&EntityId::new("other"), &AutomationId::new("a1"))).unwrap().is_none());
        assert!(!ready_now(s.delete_automation(&EntityId::new("other"), &AutomationId::new("a1"))).unwrap());
        assert!(!ready_now(s.update_automation(&automation("a1", "other", "m", true), Timestamp(4))).unwrap());
        let r = ready_now(s.get_automation(&EntityId::new("acme"), &AutomationId::new("a1"))).unwrap().unwrap();
        assert_eq!((r.created_at, r.automation.name.as_str()), (Timestamp(1), "n"));
        // Both ports see the same automations.
        assert_eq!(ready_now(s.list_automations()).unwrap().len(), 2);
    }

    #[test]
    fn pages_and_filters() {
        let s = MemoryStore::new();
        for i in 0..5 {
            let a = automation(&format!("a{i}"), "acme", &format!("n{i}"), i % 2 == 0);
            ready_now(s.create_automation(&a, Timestamp(i))).unwrap();
        }
        let mut q = AutomationQuery { entity: "acme".into(), limit: 2, ..Default::default() };
        let mut seen = Vec::new();
        loop {
            let p = ready_now(s.find_automations(&q)).unwrap();
            seen.extend(p.items.iter().map(|r| r.automation.id.clone()));
            match p.next {
                Some(n) => q.cursor = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, vec!["a0", "a1", "a2", "a3", "a4"]);
        let q = AutomationQuery { entity: "acme".into(), enabled: Some(false), limit: 10, ..Default::default() };
        let p = ready_now(s.find_automations(&q)).unwrap();
        assert_eq!(p.items.len(), 2);
        assert!(p.next.is_none());
    }
}
