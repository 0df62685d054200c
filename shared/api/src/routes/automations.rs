//! `/v1/automations`: create, list, get, patch, delete, enable/disable, executions, test; and
//! `/v1/import/wandb`, which creates an automation from a W&B import.
//!
//! Every write validates the whole resulting document ([`Automation::from_create`]), checks that
//! its scope is in the caller's entity and that its action names an integration of the right
//! type, and only then stores it; then the sink is told, so the engine sees the change at once.

use super::view;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::{Query, RawBody, new_id, parse_json};
use crate::{Api, ApiStore};
use automations_core::error::FieldError;
use automations_core::model::{Action, Automation, Integration, ScopeKind, TriggerKind};
use automations_core::store::{AutomationQuery, AutomationRecord};
use automations_core::wandb;
use automations_core::{AutomationId, EntityId};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use std::sync::Arc;

type St = State<Arc<Api>>;

pub async fn create(State(api): St, caller: Caller, RawBody(body): RawBody) -> Result<Response, ApiError> {
    let doc = parse_json(&body)?;
    let record = create_from(&api, &caller, doc).await?;
    Ok(created(&record))
}

/// `POST /v1/import/wandb`: convert (SPEC section 10, every W&B integration id must be mapped),
/// then create like any other automation.
pub async fn import_wandb(State(api): St, caller: Caller, RawBody(body): RawBody) -> Result<Response, ApiError> {
    let import = parse_json(&body)?;
    let doc = wandb::import(&import, wandb::Integrations::Strict)?;
    let record = create_from(&api, &caller, doc).await?;
    Ok(created(&record))
}

fn created(record: &AutomationRecord) -> Response {
    let mut res = (StatusCode::CREATED, axum::Json(view::automation(record))).into_response();
    if let Ok(loc) = HeaderValue::from_str(&format!("/v1/automations/{}", record.automation.id)) {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    res
}

pub(super) async fn create_from(api: &Api, caller: &Caller, mut doc: Value) -> Result<AutomationRecord, ApiError> {
    default_entity(&mut doc, &caller.entity);
    let now = api.now();
    let automation = Automation::from_create(new_id("au", now)?, &doc)?;
    check_entity(caller, &automation)?;
    check_action(&*api.store, &caller.entity, &automation).await?;
    check_room(api, &caller.entity).await?;
    api.store.create_automation(&automation, now).await?;
    // Checked again after the write: a delete of the integration that ran between the check and
    // the write must not leave an automation whose every delivery fails. (The delete re-checks
    // after its own write too, so at least one of the two sees the other and backs out.)
    if let Err(e) = check_action(&*api.store, &caller.entity, &automation).await {
        api.store.delete_automation(&caller.entity, &automation.id).await?;
        return Err(raced(e));
    }
    api.sink.automations_changed(&caller.entity).await?;
    Ok(AutomationRecord { automation, created_at: now, updated_at: now })
}

/// Refuse a create when the entity already has [`crate::Limits::max_automations`]. (Two creates
/// at the same instant may both pass: the cap bounds a runaway client, not an exact count.)
async fn check_room(api: &Api, entity: &EntityId) -> Result<(), ApiError> {
    let max = api.limits.max_automations;
    let count = entity_automations(&*api.store, entity, max).await?.len();
    if count >= max {
        return Err(ApiError::Conflict(format!(
            "entity {entity:?} has {max} automations, the most allowed (automations serve \
             --max-automations-per-entity, MAX_AUTOMATIONS_PER_ENTITY on AWS); delete some first"
        )));
    }
    Ok(())
}

/// `entity`'s automations, page by page, until there are none left or at least `at_most`.
pub(super) async fn entity_automations(
    store: &dyn ApiStore,
    entity: &EntityId,
    at_most: usize,
) -> Result<Vec<AutomationRecord>, ApiError> {
    let mut query = AutomationQuery { entity: entity.clone(), limit: 200, ..Default::default() };
    let mut out = Vec::new();
    loop {
        let page = store.find_automations(&query).await?;
        out.extend(page.items);
        match page.next {
            Some(next) if out.len() < at_most => query.cursor = Some(next),
            _ => return Ok(out),
        }
    }
}

/// A scope without an entity is in the caller's entity (the key grants only that one).
fn default_entity(doc: &mut Value, entity: &EntityId) {
    if let Some(Value::Object(scope)) = doc.get_mut("scope")
        && !scope.contains_key("entity")
    {
        scope.insert("entity".into(), entity.into());
    }
}

fn check_entity(caller: &Caller, a: &Automation) -> Result<(), ApiError> {
    if a.entity() == caller.entity {
        return Ok(());
    }
    Err(ApiError::Forbidden(FieldError::new(
        "scope.entity",
        format!("the API key grants entity {:?}, not {:?}", caller.entity, a.entity()),
    )))
}

/// The action's integration must exist in the entity and be of the action's type. Returns it.
pub(super) async fn check_action(
    store: &dyn ApiStore,
    entity: &EntityId,
    a: &Automation,
) -> Result<Option<Integration>, ApiError> {
    let (name, want) = match &a.action {
        Action::Webhook { integration, .. } => (integration, "webhook"),
        Action::Slack { integration, .. } => (integration, "slack"),
        Action::None => return Ok(None),
    };
    match store.get_integration(entity, name).await? {
        None => Err(ApiError::field(
            "action.integration",
            format!("there is no integration named {name:?}; create it first (POST /v1/integrations)"),
        )),
        Some(i) if i.kind.type_name() != want => Err(ApiError::field(
            "action.integration",
            format!("{name:?} is a {} integration; a {want} action needs a {want} integration", i.kind.type_name()),
        )),
        Some(i) => Ok(Some(i)),
    }
}

/// The action's integration went away while the automation was written.
fn raced(e: ApiError) -> ApiError {
    match e {
        ApiError::Invalid(invalid) => ApiError::Conflict(format!(
            "the integration was deleted or changed while this automation was saved; nothing was saved ({invalid})"
        )),
        other => other,
    }
}

/// The caller's automation `id`, or 404 (also when it is another entity's).
pub(super) async fn find(api: &Api, caller: &Caller, id: &AutomationId) -> Result<AutomationRecord, ApiError> {
    api.store
        .get_automation(&caller.entity, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("there is no automation {id:?}")))
}

pub async fn list(State(api): St, caller: Caller, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref(), &["scope", "event_type", "enabled", "limit", "cursor"])?;
    const SCOPES: [ScopeKind; 4] = [ScopeKind::Project, ScopeKind::Registry, ScopeKind::Collection, ScopeKind::Entity];
    let scope = match q.get("scope") {
        None => None,
        Some(s) => Some(
            SCOPES
                .into_iter()
                .find(|k| k.as_str() == s)
                .ok_or_else(|| ApiError::field("scope", "must be one of project, registry, collection, entity"))?,
        ),
    };
    let event_type = match q.get("event_type") {
        None => None,
        Some(t) => Some(TriggerKind::parse(t).ok_or_else(|| {
            let names: Vec<&str> = TriggerKind::ALL.iter().map(|k| k.as_str()).collect();
            ApiError::field("event_type", format!("must be one of {}", names.join(", ")))
        })?),
    };
    let query = AutomationQuery {
        entity: caller.entity.clone(),
        scope,
        event_type,
        enabled: q.bool("enabled")?,
        cursor: q.cursor()?,
        limit: q.limit(api.limits.default_list, api.limits.max_list)?,
    };
    let page = api.store.find_automations(&query).await?;
    let items = page.items.iter().map(view::automation).collect();
    Ok(axum::Json(view::page(items, page.next)).into_response())
}

pub async fn get_one(State(api): St, caller: Caller, Path(id): Path<AutomationId>) -> Result<Response, ApiError> {
    let record = find(&api, &caller, &id).await?;
    Ok(axum::Json(view::automation(&record)).into_response())
}

/// `PATCH`: a JSON merge patch (RFC 7396) over the automation's document; the result is
/// validated whole, like a create.
pub async fn patch(
    State(api): St,
    caller: Caller,
    Path(id): Path<AutomationId>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let patch = parse_json(&body)?;
    if !patch.is_object() {
        return Err(ApiError::field("", "a patch must be a JSON object (a JSON merge patch, RFC 7396)"));
    }
    let existing = find(&api, &caller, &id).await?;
    let mut doc = existing.automation.to_document();
    merge_patch(&mut doc, &patch);
    let record = replace(&api, &caller, existing, &doc).await?;
    Ok(axum::Json(view::automation(&record)).into_response())
}

pub async fn enable(state: St, caller: Caller, id: Path<AutomationId>) -> Result<Response, ApiError> {
    set_enabled(state, caller, id, true).await
}

pub async fn disable(state: St, caller: Caller, id: Path<AutomationId>) -> Result<Response, ApiError> {
    set_enabled(state, caller, id, false).await
}

async fn set_enabled(
    State(api): St,
    caller: Caller,
    Path(id): Path<AutomationId>,
    enabled: bool,
) -> Result<Response, ApiError> {
    let existing = find(&api, &caller, &id).await?;
    let mut doc = existing.automation.to_document();
    doc["enabled"] = enabled.into();
    let record = replace(&api, &caller, existing, &doc).await?;
    Ok(axum::Json(view::automation(&record)).into_response())
}

pub(super) async fn replace(
    api: &Api,
    caller: &Caller,
    existing: AutomationRecord,
    doc: &Value,
) -> Result<AutomationRecord, ApiError> {
    let automation = Automation::from_create(existing.automation.id.as_str(), doc)?;
    check_entity(caller, &automation)?;
    check_action(&*api.store, &caller.entity, &automation).await?;
    let now = api.now();
    if !api.store.update_automation(&automation, now).await? {
        return Err(ApiError::NotFound(format!("there is no automation {:?}", automation.id)));
    }
    // As for a create: an integration deleted meanwhile puts the automation back as it was.
    if let Err(e) = check_action(&*api.store, &caller.entity, &automation).await {
        api.store.update_automation(&existing.automation, now).await?;
        return Err(raced(e));
    }
    api.sink.automations_changed(&caller.entity).await?;
    Ok(AutomationRecord { automation, created_at: existing.created_at, updated_at: now })
}

/// RFC 7396: objects merge member by member, `null` removes, anything else replaces.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else { return };
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

pub async fn delete(State(api): St, caller: Caller, Path(id): Path<AutomationId>) -> Result<Response, ApiError> {
    remove(&api, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Delete the caller's automation `id` (404 when there is none), and tell the engine.
pub(super) async fn remove(api: &Api, caller: &Caller, id: &AutomationId) -> Result<(), ApiError> {
    if !api.store.delete_automation(&caller.entity, id).await? {
        return Err(ApiError::NotFound(format!("there is no automation {id:?}")));
    }
    api.sink.automations_changed(&caller.entity).await?;
    Ok(())
}

pub async fn executions(
    State(api): St,
    caller: Caller,
    Path(id): Path<AutomationId>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref(), &["limit", "cursor"])?;
    let limit = q.limit(api.limits.default_list, api.limits.max_list)?;
    let cursor = q.cursor()?;
    find(&api, &caller, &id).await?;
    let page = api.deliverer.executions(&caller.entity, &id, cursor.as_deref(), limit).await?;
    Ok(axum::Json(view::page(page.items, page.next)).into_response())
}

pub async fn test(State(api): St, caller: Caller, Path(id): Path<AutomationId>) -> Result<Response, ApiError> {
    let record = find(&api, &caller, &id).await?;
    let integration = check_action(&*api.store, &caller.entity, &record.automation).await?;
    let outcome = api.deliverer.test(&record.automation, integration.as_ref(), api.now()).await?;
    Ok(axum::Json(outcome).into_response())
}

/// `POST /v1/automations/preview`: an automation document checked as a create checks it (the
/// same errors at the same paths), nothing stored; the answer is what a sample fire of it would
/// send (`body`, as the Test button's) and the value of every template variable for that fire.
pub async fn preview(State(api): St, caller: Caller, RawBody(body): RawBody) -> Result<Response, ApiError> {
    let mut doc = parse_json(&body)?;
    default_entity(&mut doc, &caller.entity);
    let now = api.now();
    let automation = Automation::from_create("au_preview", &doc)?;
    check_entity(&caller, &automation)?;
    check_action(&*api.store, &caller.entity, &automation).await?;
    let fire = automations_core::delivery::sample::fire(&automation, now);
    let mut variables = Map::new();
    for name in automations_core::model::action::TEMPLATE_VARIABLES {
        variables.insert(name.into(), automations_core::delivery::template::variable(&fire, name).into());
    }
    Ok(axum::Json(serde_json::json!({
        "body": automations_core::delivery::payload::body(&fire),
        "variables": variables,
    }))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}, "keep": [1]});
        merge_patch(&mut doc, &json!({"a": "z", "c": {"f": null, "h": 1}, "new": {"x": 1}}));
        assert_eq!(doc, json!({"a": "z", "c": {"d": "e", "h": 1}, "keep": [1], "new": {"x": 1}}));
        merge_patch(&mut doc, &json!({"keep": [2, 3]}));
        assert_eq!(doc["keep"], json!([2, 3]));
    }
}
