//! The configuration port: what the configuration API keeps (automations per entity,
//! integrations, API keys), in the same style as the engine's ports.
//!
//! Everything here is scoped by entity: an API key grants one entity, and every read and write
//! names it, so an adapter never returns or touches another entity's objects (the API answers
//! 404 for them, as if they did not exist). The engine keeps reading every entity's automations
//! through [`super::AutomationStore::list_automations`]; both ports see the same automations.
//!
//! Listing order is by id, ascending (the API's ids start with a time prefix, so this is
//! creation order). A page's `next` cursor is opaque to callers; adapters give back whatever
//! they can resume from (the memory and SQLite stores use the last id returned). Any string is
//! accepted as a cursor: an unknown one resumes after its position in id order.

use super::StoreError;
use crate::BoxFuture;
use crate::model::{Automation, Integration, ScopeKind, TriggerKind};
use crate::time::Timestamp;
use crate::{AutomationId, EntityId, IntegrationName};

/// An automation with its bookkeeping times.
#[derive(Debug, Clone)]
pub struct AutomationRecord {
    /// The automation as configured.
    pub automation: Automation,
    /// When the automation was created.
    pub created_at: Timestamp,
    /// When the automation was last changed (its creation time until then).
    pub updated_at: Timestamp,
}

/// Which automations of an entity to list, and where to resume.
#[derive(Debug, Clone, Default)]
pub struct AutomationQuery {
    /// The entity whose automations to list; no other entity's are ever listed.
    pub entity: EntityId,
    /// Only automations with this kind of scope.
    pub scope: Option<ScopeKind>,
    /// Only automations triggered by this event type.
    pub event_type: Option<TriggerKind>,
    /// Only enabled (`true`) or disabled (`false`) automations.
    pub enabled: Option<bool>,
    /// A `next` cursor from the previous page.
    pub cursor: Option<String>,
    /// At most this many items (the API bounds it; adapters take it as given, at least 1).
    pub limit: usize,
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The page's items, in the listing's order; at most the query's limit.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `None` when this page is the last.
    pub next: Option<String>,
}

/// An API key as stored: the SHA-256 of the key (lower-case hex), never the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Lower-case hex SHA-256 of the key: what a presented key is looked up by.
    pub hash: String,
    /// The one entity the key grants.
    pub entity: EntityId,
    /// When the key was created.
    pub created_at: Timestamp,
}

/// One automation by id: what delivery checks before sending (a deleted automation's fires
/// are not delivered) and what the API reads before a change.
pub trait AutomationLookup: Send + Sync {
    /// The automation `id` of `entity`; `None` when there is none, or it belongs to another entity.
    fn get_automation<'a>(
        &'a self,
        entity: &'a EntityId,
        id: &'a AutomationId,
    ) -> BoxFuture<'a, Result<Option<AutomationRecord>, StoreError>>;
}

/// An entity's automations, as the configuration API reads and writes them (the engine reads
/// them through [`super::AutomationStore`]).
pub trait AutomationCatalog: AutomationLookup {
    /// Store a new automation. [`StoreError::NameTaken`] when its entity already has an
    /// automation of that name, [`StoreError::Conflict`] when the id is taken.
    fn create_automation<'a>(
        &'a self,
        automation: &'a Automation,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// One page of an entity's automations matching the query, in id order.
    fn find_automations<'a>(
        &'a self,
        query: &'a AutomationQuery,
    ) -> BoxFuture<'a, Result<Page<AutomationRecord>, StoreError>>;

    /// Replace an automation of `automation.entity()` by id, keeping its `created_at`. Returns
    /// `false` when the entity has no automation of that id. [`StoreError::NameTaken`] when
    /// another automation of the entity has the new name.
    fn update_automation<'a>(
        &'a self,
        automation: &'a Automation,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Delete an automation; `false` when the entity has none of that id.
    fn delete_automation<'a>(
        &'a self,
        entity: &'a EntityId,
        id: &'a AutomationId,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
}

/// The little of integrations that delivery needs: read one to send through it, and disable it
/// when its receiver says it is gone.
pub trait IntegrationLookup: Send + Sync {
    /// The integration `name` of `entity`, with its credentials (for delivery; the API shows
    /// only [`Integration::to_public_json`]).
    fn get_integration<'a>(
        &'a self,
        entity: &'a EntityId,
        name: &'a IntegrationName,
    ) -> BoxFuture<'a, Result<Option<Integration>, StoreError>>;

    /// Mark an integration disabled with a reason (delivery does, on HTTP 410 Gone), or enable it
    /// again with `None`. `false` when the entity has no integration of that name.
    fn set_integration_disabled<'a>(
        &'a self,
        entity: &'a EntityId,
        name: &'a IntegrationName,
        reason: Option<&'a str>,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
}

/// An entity's integrations, as the configuration API reads and writes them.
pub trait IntegrationStore: IntegrationLookup {
    /// Store a new integration. [`StoreError::NameTaken`] when the entity already has one of that name.
    fn create_integration<'a>(&'a self, integration: &'a Integration) -> BoxFuture<'a, Result<(), StoreError>>;

    /// One page of an entity's integrations, in id order.
    fn list_integrations<'a>(
        &'a self,
        entity: &'a EntityId,
        cursor: Option<&'a str>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Page<Integration>, StoreError>>;

    /// Replace the integration of `integration.entity()` named `integration.name` (its
    /// document: URL, credentials, channel or registry; and its `disabled` state), keeping its
    /// id and `created_at`. `false` when the entity has no integration of that name.
    fn update_integration<'a>(&'a self, integration: &'a Integration) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Delete an integration by name; `false` when the entity has none of that name.
    fn delete_integration<'a>(
        &'a self,
        entity: &'a EntityId,
        name: &'a IntegrationName,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;
}

/// API keys (only their hashes), as `keys create` writes them and authentication reads them.
pub trait ApiKeyStore: Send + Sync {
    /// Store an API key record (replacing one with the same hash).
    fn put_api_key<'a>(&'a self, key: &'a ApiKeyRecord) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The key record whose hash is `hash`, if any.
    fn find_api_key<'a>(&'a self, hash: &'a str) -> BoxFuture<'a, Result<Option<ApiKeyRecord>, StoreError>>;
}

/// Everything the configuration API keeps: automations, integrations and API keys.
pub trait ConfigStore: AutomationCatalog + IntegrationStore + ApiKeyStore {}
impl<T: AutomationCatalog + IntegrationStore + ApiKeyStore + ?Sized> ConfigStore for T {}

/// Does an automation pass the query's filters (entity included)? For adapters that filter in
/// memory.
pub fn query_matches(query: &AutomationQuery, a: &Automation) -> bool {
    *a.entity() == query.entity
        && query.scope.is_none_or(|s| a.scope.kind() == s)
        && query.event_type.is_none_or(|t| a.trigger.kind() == t)
        && query.enabled.is_none_or(|e| a.enabled == e)
}
