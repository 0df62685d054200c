//! `POST /graphql`: the W&B SDK's own automation calls, unchanged (issue 17;
//! `shared/reference/wandb-graphql.md` holds what `wandb` 0.31.0 sends and accepts).
//!
//! `wandb.Api(overrides={"base_url": URL}, api_key=KEY)` then lists, creates, updates and
//! deletes automations and lists integrations here, over the same store and validation as the
//! REST API: a create is W&B's input through the importer, then the REST create; an update is
//! merged onto the stored automation, so what W&B's model cannot say survives it. The answer's
//! status is what the SDK acts on: 409 for a taken name (its `fetch_existing`), 404 for a
//! missing automation, 400 for bad input, never a 5xx for a client's mistake (it retries those
//! for 20 s).
//!
//! A hand-written projector over `graphql-parser`'s syntax tree, not a schema library: the
//! SDK's 13 documents select 105 fields over 38 types, most of them stubs, and a typed schema
//! would be proc-macro build time for types whose only job is to exist. The schema subset the
//! SDK's documents are validated against, in the tests, is `schema.graphql` beside this file.

mod exec;
mod ids;
mod objects;

use super::automations as rest;
use crate::Api;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::input::RawBody;
use automations_core::AutomationId;
use automations_core::model::{Location, Scope};
use automations_core::store::AutomationRecord;
use automations_core::wandb;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use exec::{Kind, Operation};
use objects::View;
use serde_json::{Map, Value, json};
use std::sync::Arc;

pub async fn graphql(
    State(api): State<Arc<Api>>,
    caller: Result<Caller, ApiError>,
    body: Result<RawBody, ApiError>,
) -> Response {
    match run(&api, caller, body).await {
        Ok(data) => axum::Json(json!({"data": data})).into_response(),
        Err(e) => error_response(&e),
    }
}

/// GraphQL's error shape, with the status the SDK reads and the field errors of a 400.
fn error_response(e: &ApiError) -> Response {
    let status = e.status();
    let problem = e.to_problem();
    let message = problem["detail"].as_str().unwrap_or("error").to_string();
    let mut error = json!({"message": message, "extensions": {"code": status.as_u16()}});
    if let Some(fields) = problem.get("errors") {
        error["extensions"]["errors"] = fields.clone();
    }
    let mut res = (status, axum::Json(json!({"errors": [error], "data": null}))).into_response();
    if status == axum::http::StatusCode::UNAUTHORIZED {
        res.headers_mut().insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
    }
    res
}

async fn run(api: &Api, caller: Result<Caller, ApiError>, body: Result<RawBody, ApiError>) -> Result<Value, ApiError> {
    let caller = caller?;
    let RawBody(body) = body?;
    let request: Value = crate::input::parse_json(&body)?;
    let Value::Object(request) = request else {
        return Err(ApiError::field(
            "",
            "a GraphQL request is an object: {\"query\", \"variables\", \"operationName\"}",
        ));
    };
    let query = request
        .get("query")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::field("query", "is required (a string)"))?;
    let variables = match request.get("variables") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(v)) => v.clone(),
        Some(_) => return Err(ApiError::field("variables", "must be an object")),
    };
    let name = match request.get("operationName") {
        None | Some(Value::Null) => None,
        Some(Value::String(n)) => Some(n.as_str()),
        Some(_) => return Err(ApiError::field("operationName", "must be a string")),
    };
    // The syntax tree borrows the query, so it lives in synchronous code only: read once to
    // plan the root fields, and again to project their values.
    let (kind, fields) = plan(query, name, &variables)?;
    // Only what the document can read is loaded: most of the SDK's calls (the viewer, server
    // features, a project) need no listing.
    let needs_listing = kind == Kind::Mutation || query.contains("triggers") || query.contains("integrations");
    let view = load(api, &caller, needs_listing).await?;
    let mut values = Vec::with_capacity(fields.len());
    for (field, args) in fields {
        values.push(match kind {
            Kind::Query => query_root(&view, &field, &args)?,
            Kind::Mutation => {
                let input = args.get("input").cloned().unwrap_or(Value::Null);
                let m = Mutations { api, caller: &caller, view: &view };
                match field.as_str() {
                    "createFilterTrigger" => m.create(&input).await?,
                    "updateFilterTrigger" => m.update(&input).await?,
                    "deleteTrigger" => m.delete(&input).await?,
                    other => return Err(ApiError::field("query", format!("mutation {other} is not served here"))),
                }
            }
        });
    }
    answer(query, name, &variables, &values, &view)
}

fn parse(query: &str) -> Result<graphql_parser::query::Document<'_, &str>, ApiError> {
    graphql_parser::parse_query::<&str>(query).map_err(|e| ApiError::field("query", format!("{e}")))
}

/// A root field's name and arguments.
type Planned = (String, Map<String, Value>);

/// The operation's kind and its root fields.
fn plan(query: &str, name: Option<&str>, variables: &Map<String, Value>) -> Result<(Kind, Vec<Planned>), ApiError> {
    let doc = parse(query)?;
    let op = Operation::new(&doc, name, variables)?;
    let fields = op.root_fields()?.into_iter().map(|f| (f.name.to_string(), f.args)).collect();
    Ok((op.kind, fields))
}

/// `data`: each root field's value through its selection.
fn answer(
    query: &str,
    name: Option<&str>,
    variables: &Map<String, Value>,
    values: &[Value],
    view: &View,
) -> Result<Value, ApiError> {
    let doc = parse(query)?;
    let op = Operation::new(&doc, name, variables)?;
    let mut data = Map::new();
    for (field, value) in op.root_fields()?.iter().zip(values) {
        data.insert(field.key.to_string(), op.project(field, value, view)?);
    }
    Ok(Value::Object(data))
}

/// The caller's automations and integrations, every page.
async fn load(api: &Api, caller: &Caller, listing: bool) -> Result<View, ApiError> {
    let mut automations = Vec::new();
    let mut integrations = Vec::new();
    if listing {
        automations = rest::entity_automations(&*api.store, &caller.entity, usize::MAX).await?;
        let mut cursor = None;
        loop {
            let page = api.store.list_integrations(&caller.entity, cursor.as_deref(), 200).await?;
            integrations.extend(page.items);
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok(View::new(caller.entity.clone().into(), automations, integrations))
}

fn query_root(view: &View, name: &str, args: &Map<String, Value>) -> Result<Value, ApiError> {
    let arg = |k: &str| args.get(k).and_then(Value::as_str);
    // Another entity's objects are null, as W&B answers what a key cannot see.
    let mine = |e: Option<&str>| e == Some(view.entity.as_str());
    Ok(match name {
        "viewer" => view.viewer(),
        "serverInfo" => View::server_info(),
        "entity" if mine(arg("name")) => view.entity_object(true),
        "project" if mine(arg("entityName")) => arg("name").map_or(Value::Null, |n| view.project(n)),
        "organization" if mine(arg("name")) => view.organization(),
        "entity" | "project" | "organization" => Value::Null,
        other => return Err(ApiError::field("query", format!("field {other} is not served here"))),
    })
}

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, ApiError> {
    v.as_object().ok_or_else(|| ApiError::field(path, "must be an object"))
}

/// The native document of a W&B `createFilterTrigger` input: its scope and integration ids
/// resolved here, then the importer (every problem with its `input.` path).
fn native(view: &View, input: &Map<String, Value>) -> Result<Value, ApiError> {
    let str_of = |k: &str| {
        input
            .get(k)
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::field(format!("input.{k}"), "is required (a string)"))
    };
    let (scope_type, scope_id) = (str_of("scopeType")?, str_of("scopeID")?);
    let scope = ids::scope(scope_type, scope_id)
        .filter(|s| *s.entity() == view.entity)
        .ok_or_else(|| ApiError::NotFound(format!("there is no {scope_type} with id {scope_id:?} here")))?;
    let mut names = Map::new();
    if let Some(Value::Object(config)) = input.get("triggeredActionConfig") {
        for key in ["genericWebhookActionInput", "notificationActionInput"] {
            if let Some(id) = config.get(key).and_then(|c| c.get("integrationID")).and_then(Value::as_str) {
                let i = view.integration_by_id(id).ok_or_else(|| {
                    ApiError::NotFound(format!("there is no webhook or Slack integration with id {id:?}"))
                })?;
                names.insert(id.to_string(), i.name.clone().into());
            }
        }
    }
    let doc = json!({"scope": scope, "integrations": names, "input": input});
    // The library writes "no filter" out in full; stored, it is no filter.
    Ok(wandb::without_match_all(wandb::import(&doc, wandb::Integrations::Strict)?))
}

/// The three mutations, over the caller's view.
struct Mutations<'a> {
    api: &'a Api,
    caller: &'a Caller,
    view: &'a View,
}

impl Mutations<'_> {
    async fn create(&self, input: &Value) -> Result<Value, ApiError> {
        let (api, caller, view) = (self.api, self.caller, self.view);
        let input = object(input, "input")?;
        let record = rest::create_from(api, caller, native(view, input)?).await?;
        Ok(json!({
            "__typename": "CreateFilterTriggerPayload",
            "trigger": view.trigger(&record).ok(),
            "clientMutationId": input.get("clientMutationId"),
        }))
    }

    async fn update(&self, input: &Value) -> Result<Value, ApiError> {
        let (api, caller, view) = (self.api, self.caller, self.view);
        let input = object(input, "input")?;
        let id = input.get("id").and_then(Value::as_str).ok_or_else(|| ApiError::field("input.id", "is required"))?;
        let (record, _) = view.find(id).ok_or_else(|| ApiError::NotFound(format!("there is no automation {id:?}")))?;
        let mut wandb_input = current_input(view, record)?;
        for (k, v) in input {
            if k != "id" && !v.is_null() {
                wandb_input.insert(k.clone(), v.clone());
            }
        }
        let doc = merged(record.automation.to_document(), native(view, &wandb_input)?);
        let updated = rest::replace(api, caller, record.clone(), &doc).await?;
        Ok(json!({
            "__typename": "UpdateFilterTriggerPayload",
            "trigger": view.trigger(&updated).ok(),
            "clientMutationId": input.get("clientMutationId"),
        }))
    }

    async fn delete(&self, input: &Value) -> Result<Value, ApiError> {
        let (api, caller, view) = (self.api, self.caller, self.view);
        let input = object(input, "input")?;
        let id = input
            .get("triggerID")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::field("input.triggerID", "is required"))?;
        // What the W&B view does not show is not the SDK's to delete either.
        if view.find(id).is_none() {
            return Err(ApiError::NotFound(format!("there is no automation {id:?}")));
        }
        rest::remove(api, caller, &AutomationId::new(id)).await?;
        Ok(
            json!({"__typename": "DeleteTriggerPayload", "success": true, "clientMutationId": input.get("clientMutationId")}),
        )
    }
}

/// The W&B input an automation would be created from; what an update leaves out keeps this.
fn current_input(view: &View, record: &AutomationRecord) -> Result<Map<String, Value>, ApiError> {
    let a = &record.automation;
    let e = wandb::export(a).map_err(|e| ApiError::NotFound(format!("there is no automation {:?} ({e})", a.id)))?;
    let id_of =
        |name: &str| view.integrations.iter().find(|i| i.name == name).map(|i| i.id.clone()).unwrap_or_default();
    let (action_type, config) = wandb::action_input(&e.action, id_of);
    let (scope_type, scope_id) = match &a.scope {
        Scope::Project { entity, project } => ("PROJECT", ids::project(entity.as_str(), project)),
        Scope::Registry { entity, registry } => {
            ("PROJECT", ids::project(entity.as_str(), &ids::project_name(&Location::Registry(registry.clone()))))
        }
        Scope::Collection { entity, location, collection } => {
            ("ARTIFACT_COLLECTION", ids::collection(entity.as_str(), &ids::project_name(location), collection))
        }
        Scope::Entity { .. } => return Err(ApiError::NotFound(format!("there is no automation {:?}", a.id))),
    };
    let mut m = Map::new();
    m.insert("name".into(), a.name.clone().into());
    if let Some(d) = &a.description {
        m.insert("description".into(), d.clone().into());
    }
    m.insert("enabled".into(), a.enabled.into());
    m.insert("scopeType".into(), scope_type.into());
    m.insert("scopeID".into(), scope_id.into());
    m.insert("triggeringEventType".into(), e.event_type.into());
    m.insert("eventFilter".into(), e.event_filter.into());
    m.insert("triggeredActionType".into(), action_type.into());
    m.insert("triggeredActionConfig".into(), config);
    Ok(m)
}

/// The members of the native document that W&B's input sets; any other survives an update.
const WANDB_TOP: &[&str] = &["name", "description", "enabled", "scope", "event", "action"];
const WANDB_EVENT: &[&str] = &["type", "filter", "run_filter", "states", "metric"];
const WANDB_ACTION: &[&str] = &["type", "integration", "payload", "title", "message", "severity"];

/// `new` (from W&B's input) over `stored`: what W&B's model does not have is kept from
/// `stored` (a description the SDK cannot clear, and anything native-only).
fn merged(stored: Value, new: Value) -> Value {
    let (Value::Object(stored), Value::Object(mut out)) = (stored, new) else { return Value::Null };
    for (k, v) in &stored {
        match k.as_str() {
            "event" | "action" => {
                let keep = if k == "event" { WANDB_EVENT } else { WANDB_ACTION };
                if let (Some(Value::Object(have)), Value::Object(old)) = (out.get_mut(k), v)
                    && have.get("type") == old.get("type")
                {
                    for (kk, vv) in old {
                        if !keep.contains(&kk.as_str()) && !have.contains_key(kk) {
                            have.insert(kk.clone(), vv.clone());
                        }
                    }
                }
            }
            _ if !WANDB_TOP.contains(&k.as_str()) || (k == "description" && !out.contains_key(k)) => {
                out.insert(k.clone(), v.clone());
            }
            _ => {}
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_keep_what_wandb_cannot_say() {
        let stored = json!({"name": "a", "description": "d", "enabled": true, "scope": {"type": "project"},
            "event": {"type": "RUN_METRIC_THRESHOLD", "metric": {"name": "loss"}, "cooldown": 3600, "run_filter": {"x": 1}},
            "action": {"type": "webhook", "integration": "h", "payload": "{}", "future": 1}, "labels": ["x"]});
        let new = json!({"name": "b", "enabled": false, "scope": {"type": "project"},
            "event": {"type": "RUN_METRIC_THRESHOLD", "metric": {"name": "acc"}},
            "action": {"type": "webhook", "integration": "h"}});
        let out = merged(stored, new);
        assert_eq!(
            out,
            json!({"name": "b", "enabled": false, "scope": {"type": "project"},
                "event": {"type": "RUN_METRIC_THRESHOLD", "metric": {"name": "acc"}, "cooldown": 3600},
                "action": {"type": "webhook", "integration": "h", "future": 1},
                "description": "d", "labels": ["x"]})
        );
    }
}
