//! `/v1/integrations`: create, list, get, change (a merge patch), enable, delete. Credentials are write-only: every response is
//! [`Integration::to_public_json`].

use super::view;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::{Query, RawBody, new_id, parse_json};
use crate::{Api, ApiStore};
use automations_core::model::Integration;
use automations_core::store::AutomationQuery;
use automations_core::{EntityId, IntegrationName};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

type St = State<Arc<Api>>;

pub async fn create(State(api): St, caller: Caller, RawBody(body): RawBody) -> Result<Response, ApiError> {
    let doc = parse_json(&body)?;
    let now = api.now();
    let integration = Integration::from_create(new_id("in", now)?, caller.entity.as_str(), &doc, now)?;
    if api.store.get_integration(&caller.entity, &integration.name).await?.is_none() {
        api.sink.check_integration(&integration).await?;
    }
    api.store.create_integration(&integration).await?;
    let mut res = (StatusCode::CREATED, axum::Json(integration.view())).into_response();
    if let Ok(loc) = HeaderValue::from_str(&format!("/v1/integrations/{}", path_segment(integration.name.as_str()))) {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(res)
}

/// A name as a path segment: percent-encode what a path cannot hold as it is.
fn path_segment(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub async fn list(State(api): St, caller: Caller, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref(), &["limit", "cursor"])?;
    let limit = q.limit(api.limits.default_list, api.limits.max_list)?;
    let page = api.store.list_integrations(&caller.entity, q.cursor()?.as_deref(), limit).await?;
    let items: Vec<_> = page.items.iter().map(Integration::view).collect();
    Ok(axum::Json(view::page(items, page.next)).into_response())
}

pub async fn get_one(State(api): St, caller: Caller, Path(name): Path<IntegrationName>) -> Result<Response, ApiError> {
    match api.store.get_integration(&caller.entity, &name).await? {
        Some(i) => {
            let mut doc = i.to_public_json();
            if let (Some(extra), Some(o)) = (api.sink.integration_status(&i).await?, doc.as_object_mut()) {
                o.extend(extra);
            }
            Ok(axum::Json(doc).into_response())
        }
        None => Err(not_found(name.as_str())),
    }
}

/// Deleting an integration that an automation still uses is a 409 naming the automations:
/// deleting it would make them fail at delivery time instead of now.
pub async fn delete(State(api): St, caller: Caller, Path(name): Path<IntegrationName>) -> Result<Response, ApiError> {
    let Some(existing) = api.store.get_integration(&caller.entity, &name).await? else {
        return Err(not_found(name.as_str()));
    };
    let users = automations_using(&*api.store, &caller.entity, &name).await?;
    if !users.is_empty() {
        return Err(ApiError::Conflict(format!(
            "integration {name:?} is used by automations {}; change or delete them first",
            users.join(", ")
        )));
    }
    if !api.store.delete_integration(&caller.entity, &name).await? {
        return Err(not_found(name.as_str()));
    }
    // Checked again after the write: an automation created meanwhile with this integration
    // (its create re-checks too, so at least one of the two backs out) gets it back.
    let users = automations_using(&*api.store, &caller.entity, &name).await?;
    if !users.is_empty() {
        api.store.create_integration(&existing).await?;
        return Err(ApiError::Conflict(format!(
            "integration {name:?} came into use by automations {} while it was deleted; it was kept",
            users.join(", ")
        )));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PATCH`: a JSON merge patch (RFC 7396) over the integration's document, credentials
/// included, validated whole like a create: replace a URL, rotate a secret or a token in place,
/// without deleting an integration that automations use. The name and type cannot change. A
/// disabled integration stays disabled (see `enable`).
pub async fn patch(
    State(api): St,
    caller: Caller,
    Path(name): Path<IntegrationName>,
    RawBody(body): RawBody,
) -> Result<Response, ApiError> {
    let patch = parse_json(&body)?;
    let Some(fields) = patch.as_object() else {
        return Err(ApiError::field("", "a patch must be a JSON object (a JSON merge patch, RFC 7396)"));
    };
    let existing = api.store.get_integration(&caller.entity, &name).await?.ok_or_else(|| not_found(name.as_str()))?;
    for (field, what) in [("name", existing.name.as_str()), ("type", existing.kind.type_name())] {
        if fields.get(field).is_some_and(|v| v.as_str() != Some(what)) {
            return Err(ApiError::field(
                field,
                format!("an integration's {field} cannot change (it is {what:?}); create another"),
            ));
        }
    }
    let mut doc = existing.to_stored_json();
    super::automations::merge_patch(&mut doc, &patch);
    let updated = Integration::from_stored(
        existing.id.clone(),
        caller.entity.as_str(),
        &doc,
        existing.disabled.clone(),
        existing.created_at,
    )?;
    // A tracking server moved (or its credentials changed) is checked as a new one is: a patch
    // that points the poller somewhere that does not answer is refused, and nothing changes.
    let tracking_moved = updated
        .tracking()
        .is_some_and(|t| existing.tracking().is_none_or(|was| was.uri != t.uri || was.auth != t.auth));
    if tracking_moved {
        api.sink.check_integration(&updated).await?;
    }
    if !api.store.update_integration(&updated).await? {
        return Err(not_found(name.as_str()));
    }
    Ok(axum::Json(updated.view()).into_response())
}

/// `POST .../enable`: deliver to it again after it was disabled (by a 410 Gone answer).
pub async fn enable(State(api): St, caller: Caller, Path(name): Path<IntegrationName>) -> Result<Response, ApiError> {
    if !api.store.set_integration_disabled(&caller.entity, &name, None).await? {
        return Err(not_found(name.as_str()));
    }
    match api.store.get_integration(&caller.entity, &name).await? {
        Some(i) => Ok(axum::Json(i.view()).into_response()),
        None => Err(not_found(name.as_str())),
    }
}

fn not_found(name: &str) -> ApiError {
    ApiError::NotFound(format!("there is no integration named {name:?}"))
}

/// The names of the entity's automations whose action uses integration `name` (at most 10).
async fn automations_using(
    store: &dyn ApiStore,
    entity: &EntityId,
    name: &IntegrationName,
) -> Result<Vec<String>, ApiError> {
    let mut query = AutomationQuery { entity: entity.clone(), limit: 200, ..Default::default() };
    let mut users = Vec::new();
    loop {
        let page = store.find_automations(&query).await?;
        users.extend(
            page.items
                .iter()
                .filter(|r| r.automation.action.integration() == Some(name))
                .map(|r| format!("{:?}", r.automation.name)),
        );
        match page.next {
            Some(next) if users.len() < 10 => query.cursor = Some(next),
            _ => break,
        }
    }
    users.truncate(10);
    Ok(users)
}
