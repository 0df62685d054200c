//! The configuration port on SQLite, run side by side with the memory store (the reference):
//! the same operations give the same answers. Plus what only a file can show: everything
//! survives a reopen, and credentials are stored (delivery needs them) but only there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_core::model::{Automation, Integration, ScopeKind, TriggerKind};
use automations_core::store::{
    ApiKeyRecord, ApiKeyStore, AutomationCatalog, AutomationLookup, AutomationQuery, AutomationStore, ConfigStore,
    IntegrationLookup, IntegrationStore, MemoryStore, StoreError, ready_now,
};
use automations_core::time::Timestamp;
use automations_core::{AutomationId, EntityId, IntegrationName};
use automations_sqlite::SqliteStore;
use serde_json::{Value, json};

const T0: Timestamp = Timestamp(1_793_534_400_000);

fn automation(id: &str, entity: &str, name: &str, scope: Value, event: Value, enabled: bool) -> Automation {
    let mut scope = scope;
    scope["entity"] = entity.into();
    Automation::from_create(
        id,
        &json!({"name": name, "enabled": enabled, "scope": scope, "event": event, "action": {"type": "none"}}),
    )
    .unwrap()
}

fn set() -> Vec<Automation> {
    let project = json!({"type": "project", "project": "mnist"});
    let entity = json!({"type": "entity"});
    let alias = json!({"type": "ADD_ARTIFACT_ALIAS"});
    let state = json!({"type": "RUN_STATE", "states": ["failed"]});
    vec![
        automation("au_1", "acme", "one", project.clone(), alias.clone(), true),
        automation("au_2", "acme", "two", entity.clone(), state.clone(), false),
        automation("au_3", "acme", "three", project.clone(), state.clone(), true),
        automation("au_4", "other", "one", project, alias, true),
        automation("au_5", "acme", "five", entity, state, true),
    ]
}

fn ids(page: &[automations_core::store::AutomationRecord]) -> Vec<&str> {
    page.iter().map(|r| r.automation.id.as_str()).collect()
}

/// Run `check` against both stores.
fn both(check: impl Fn(&dyn Fn() -> Box<dyn Checked>)) {
    check(&|| Box::new(MemoryStore::new()));
    check(&|| Box::new(SqliteStore::in_memory().unwrap()));
}

/// The operations under test, object-safe so one test body drives both stores.
trait Checked {
    fn create(&self, a: &Automation, now: Timestamp) -> Result<(), StoreError>;
    fn update(&self, a: &Automation, now: Timestamp) -> Result<bool, StoreError>;
    fn get(&self, entity: &str, id: &str) -> Option<automations_core::store::AutomationRecord>;
    fn find(&self, q: &AutomationQuery) -> automations_core::store::Page<automations_core::store::AutomationRecord>;
    fn delete(&self, entity: &str, id: &str) -> bool;
    fn all(&self) -> Vec<Automation>;
    fn create_integration(&self, i: &Integration) -> Result<(), StoreError>;
    fn integration(&self, entity: &str, name: &str) -> Option<Integration>;
    fn integrations(&self, entity: &str, cursor: Option<&str>, limit: usize) -> (Vec<String>, Option<String>);
    fn delete_integration(&self, entity: &str, name: &str) -> bool;
    fn disable(&self, entity: &str, name: &str, reason: Option<&str>) -> bool;
    fn put_key(&self, k: &ApiKeyRecord);
    fn key(&self, hash: &str) -> Option<ApiKeyRecord>;
}

impl<S: ConfigStore + AutomationStore> Checked for S {
    fn create(&self, a: &Automation, now: Timestamp) -> Result<(), StoreError> {
        ready_now(self.create_automation(a, now))
    }
    fn update(&self, a: &Automation, now: Timestamp) -> Result<bool, StoreError> {
        ready_now(self.update_automation(a, now))
    }
    fn get(&self, entity: &str, id: &str) -> Option<automations_core::store::AutomationRecord> {
        ready_now(self.get_automation(&EntityId::new(entity), &AutomationId::new(id))).unwrap()
    }
    fn find(&self, q: &AutomationQuery) -> automations_core::store::Page<automations_core::store::AutomationRecord> {
        ready_now(self.find_automations(q)).unwrap()
    }
    fn delete(&self, entity: &str, id: &str) -> bool {
        ready_now(self.delete_automation(&EntityId::new(entity), &AutomationId::new(id))).unwrap()
    }
    fn all(&self) -> Vec<Automation> {
        ready_now(self.list_automations()).unwrap()
    }
    fn create_integration(&self, i: &Integration) -> Result<(), StoreError> {
        ready_now(IntegrationStore::create_integration(self, i))
    }
    fn integration(&self, entity: &str, name: &str) -> Option<Integration> {
        ready_now(self.get_integration(&EntityId::new(entity), &IntegrationName::new(name))).unwrap()
    }
    fn integrations(&self, entity: &str, cursor: Option<&str>, limit: usize) -> (Vec<String>, Option<String>) {
        let p = ready_now(self.list_integrations(&EntityId::new(entity), cursor, limit)).unwrap();
        (p.items.into_iter().map(|i| i.name.into_string()).collect(), p.next)
    }
    fn delete_integration(&self, entity: &str, name: &str) -> bool {
        ready_now(IntegrationStore::delete_integration(self, &EntityId::new(entity), &IntegrationName::new(name)))
            .unwrap()
    }
    fn disable(&self, entity: &str, name: &str, reason: Option<&str>) -> bool {
        ready_now(self.set_integration_disabled(&EntityId::new(entity), &IntegrationName::new(name), reason)).unwrap()
    }
    fn put_key(&self, k: &ApiKeyRecord) {
        ready_now(self.put_api_key(k)).unwrap()
    }
    fn key(&self, hash: &str) -> Option<ApiKeyRecord> {
        ready_now(self.find_api_key(hash)).unwrap()
    }
}

#[test]
fn automations_are_unique_per_entity_filtered_and_paged() {
    both(|make| {
        let s = make();
        for (i, a) in set().iter().enumerate() {
            s.create(a, T0.plus(i as i64)).unwrap();
        }
        // A name taken in the entity, or an id taken anywhere, is a conflict.
        let dup =
            automation("au_9", "acme", "one", json!({"type": "entity"}), json!({"type": "ADD_ARTIFACT_TAG"}), true);
        assert!(matches!(s.create(&dup, T0), Err(StoreError::NameTaken { .. })));
        let same_id =
            automation("au_1", "acme", "new", json!({"type": "entity"}), json!({"type": "ADD_ARTIFACT_TAG"}), true);
        assert!(matches!(s.create(&same_id, T0), Err(StoreError::Conflict(_))));
        assert_eq!(s.all().len(), 5, "both ports see the same automations");

        let q = |scope, event_type, enabled| AutomationQuery {
            entity: "acme".into(),
            scope,
            event_type,
            enabled,
            cursor: None,
            limit: 10,
        };
        assert_eq!(ids(&s.find(&q(None, None, None)).items), ["au_1", "au_2", "au_3", "au_5"]);
        assert_eq!(ids(&s.find(&q(Some(ScopeKind::Entity), None, None)).items), ["au_2", "au_5"]);
        assert_eq!(ids(&s.find(&q(None, Some(TriggerKind::RunState), Some(true))).items), ["au_3", "au_5"]);
        assert_eq!(ids(&s.find(&q(None, None, Some(false))).items), ["au_2"]);
        // Pages of two, resumed by cursor.
        let mut page_q = q(None, None, None);
        page_q.limit = 2;
        let first = s.find(&page_q);
        assert_eq!(ids(&first.items), ["au_1", "au_2"]);
        page_q.cursor = first.next;
        let second = s.find(&page_q);
        assert_eq!(ids(&second.items), ["au_3", "au_5"]);
        assert!(second.next.is_none());

        let r = s.get("acme", "au_3").unwrap();
        assert_eq!((r.created_at, r.updated_at), (T0.plus(2), T0.plus(2)));
        assert!(s.get("other", "au_3").is_none(), "another entity's automation does not exist");
    });
}

#[test]
fn updates_and_deletes_stay_in_their_entity() {
    both(|make| {
        let s = make();
        for a in set() {
            s.create(&a, T0).unwrap();
        }
        let later = T0.plus(1000);
        let mut renamed = set()[0].clone();
        renamed.name = "uno".into();
        assert!(s.update(&renamed, later).unwrap());
        let r = s.get("acme", "au_1").unwrap();
        assert_eq!((r.automation.name.as_str(), r.created_at, r.updated_at), ("uno", T0, later));
        // Onto a taken name: a conflict, and nothing changed.
        renamed.name = "two".into();
        assert!(matches!(s.update(&renamed, later), Err(StoreError::NameTaken { .. })));
        assert_eq!(s.get("acme", "au_1").unwrap().automation.name, "uno");
        // An automation of another entity (same id, other scope) is not there to update or delete.
        let foreign =
            automation("au_1", "other", "x", json!({"type": "entity"}), json!({"type": "ADD_ARTIFACT_TAG"}), true);
        assert!(!s.update(&foreign, later).unwrap());
        assert!(!s.delete("other", "au_1"));
        assert!(s.delete("acme", "au_1"));
        assert!(!s.delete("acme", "au_1"));
        assert!(s.get("acme", "au_1").is_none());
        assert_eq!(s.all().len(), 4);
    });
}

fn integration(id: &str, entity: &str, doc: Value) -> Integration {
    Integration::from_create(id, entity, &doc, T0).unwrap()
}

#[test]
fn integrations_and_keys() {
    both(|make| {
        let s = make();
        let hook = integration(
            "in_1",
            "acme",
            json!({"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/h", "secret": "s3", "access_token": "t0"}),
        );
        s.create_integration(&hook).unwrap();
        let chan = json!({"name": "chan", "type": "slack", "url": "https://hooks.slack.test/x", "channel": "ml"});
        s.create_integration(&integration("in_2", "acme", chan.clone())).unwrap();
        s.create_integration(&integration("in_3", "other", chan.clone())).unwrap();
        assert!(matches!(s.create_integration(&integration("in_4", "acme", chan)), Err(StoreError::NameTaken { .. })));

        assert_eq!(s.integration("acme", "hook").unwrap(), hook, "credentials come back for delivery");
        assert!(s.integration("other", "hook").is_none());
        assert_eq!(s.integrations("acme", None, 10), (vec!["hook".into(), "chan".into()], None));
        let (first, next) = s.integrations("acme", None, 1);
        assert_eq!(first, ["hook"]);
        assert_eq!(s.integrations("acme", next.as_deref(), 1), (vec!["chan".into()], None));

        assert!(s.disable("acme", "hook", Some("410 Gone")));
        assert_eq!(s.integration("acme", "hook").unwrap().disabled.as_deref(), Some("410 Gone"));
        assert!(s.disable("acme", "hook", None));
        assert_eq!(s.integration("acme", "hook").unwrap().disabled, None);
        assert!(!s.disable("other", "hook", Some("x")));

        assert!(!s.delete_integration("other", "hook"));
        assert!(s.delete_integration("acme", "hook"));
        assert!(s.integration("acme", "hook").is_none());

        let key = ApiKeyRecord { hash: "ab".repeat(32), entity: "acme".into(), created_at: T0 };
        s.put_key(&key);
        assert_eq!(s.key(&key.hash), Some(key));
        assert_eq!(s.key(&"cd".repeat(32)), None);
    });
}

#[test]
fn configuration_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    {
        let s = SqliteStore::open(&path).unwrap();
        ready_now(s.create_automation(&set()[0], T0)).unwrap();
        let hook = integration(
            "in_1",
            "acme",
            json!({"name": "hook", "type": "webhook", "url": "http://x.test", "secret": "s3"}),
        );
        ready_now(IntegrationStore::create_integration(&s, &hook)).unwrap();
        ready_now(s.put_api_key(&ApiKeyRecord { hash: "h".into(), entity: "acme".into(), created_at: T0 })).unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(
        ready_now(s.get_automation(&EntityId::new("acme"), &AutomationId::new("au_1")))
            .unwrap()
            .unwrap()
            .automation
            .name,
        "one"
    );
    let hook = ready_now(s.get_integration(&EntityId::new("acme"), &IntegrationName::new("hook"))).unwrap().unwrap();
    assert_eq!(hook.secrets()[0].expose(), "s3");
    assert_eq!(ready_now(s.find_api_key("h")).unwrap().unwrap().entity, "acme");
}
