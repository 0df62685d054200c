//! The objects of W&B's schema as this product has them: one entity (the key's) that is also
//! its organization, projects and registries by name, the entity's webhook and Slack
//! integrations, and its automations that W&B's model can express, as triggers.

use super::exec::Computed;
use super::ids;
use crate::error::ApiError;
use automations_core::model::{Integration, IntegrationKind, Location, Scope};
use automations_core::store::AutomationRecord;
use automations_core::wandb::{self, ExportAction};
use serde_json::{Map, Value, json};

/// The server features the SDK asks about before it allows an event or a call: every one whose
/// event this product has; not the entity scope, Aria or push notifications, which it has not.
pub const FEATURES: &[&str] = &[
    "QUERY_AUTOMATIONS_ON_ENTITY",
    "ARTIFACT_REGISTRY_SEARCH",
    "AUTOMATION_ACTION_NO_OP",
    "AUTOMATION_EVENT_RUN_METRIC",
    "AUTOMATION_EVENT_RUN_METRIC_CHANGE",
    "AUTOMATION_EVENT_RUN_STATE",
    "AUTOMATION_EVENT_RUN_METRIC_ZSCORE",
    "AUTOMATION_EVENT_ADD_ARTIFACT_TAG",
    "AUTOMATION_EVENT_REMOVE_ARTIFACT_TAG",
    "AUTOMATION_EVENT_ADD_COLLECTION_TAG",
    "AUTOMATION_EVENT_REMOVE_COLLECTION_TAG",
    "AUTOMATION_EVENT_UNLINK_ARTIFACT",
];

/// A creation date for objects that have none here (projects, registries, collections).
const NO_DATE: &str = "1970-01-01T00:00:00Z";

/// Most items one page of a connection holds.
const MAX_PAGE: usize = 200;

/// What one request can see: loaded once, then every field is computed from it.
pub struct View {
    pub entity: String,
    /// Automations with their W&B form, in the store's order.
    pub triggers: Vec<(AutomationRecord, Value)>,
    /// Webhook and Slack integrations (W&B has no MLflow integration: the SDK fails a whole
    /// page on a type it does not know).
    pub integrations: Vec<Integration>,
}

impl View {
    pub fn new(entity: String, automations: Vec<AutomationRecord>, integrations: Vec<Integration>) -> View {
        let integrations: Vec<Integration> = integrations
            .into_iter()
            .filter(|i| matches!(i.kind, IntegrationKind::Webhook { .. } | IntegrationKind::Slack { .. }))
            .collect();
        let mut view = View { entity, triggers: Vec::new(), integrations };
        for record in automations {
            match view.trigger(&record) {
                Ok(t) => view.triggers.push((record, t)),
                Err(why) => {
                    tracing::debug!(automation = %record.automation.id, %why, "left out of the W&B view")
                }
            }
        }
        view
    }

    /// The visible automation `id`.
    pub fn find(&self, id: &str) -> Option<&(AutomationRecord, Value)> {
        self.triggers.iter().find(|(r, _)| r.automation.id == id)
    }

    /// The integration whose W&B id is `id`.
    pub fn integration_by_id(&self, id: &str) -> Option<&Integration> {
        self.integrations.iter().find(|i| i.id == id)
    }

    /// The W&B `Trigger` of an automation, or why it has none.
    pub fn trigger(&self, record: &AutomationRecord) -> Result<Value, String> {
        let a = &record.automation;
        let e = wandb::export(a).map_err(|e| e.to_string())?;
        let action = match &e.action {
            ExportAction::NoOp => json!({"__typename": "NoOpTriggeredAction", "noOp": true}),
            other => {
                let name = other.integration().unwrap_or_default();
                let integration =
                    self.integrations.iter().find(|i| i.name == name).ok_or_else(|| {
                        format!("its integration {name:?} is not a webhook or Slack integration here")
                    })?;
                match other {
                    ExportAction::Webhook { payload, .. } => json!({
                        "__typename": "GenericWebhookTriggeredAction",
                        "integration": integration_object(integration),
                        "requestPayload": payload,
                    }),
                    ExportAction::Notification { title, message, severity, .. } => json!({
                        "__typename": "NotificationTriggeredAction",
                        "integration": integration_object(integration),
                        "title": title, "message": message, "severity": severity,
                    }),
                    ExportAction::NoOp => unreachable!("matched above"),
                }
            }
        };
        Ok(json!({
            "__typename": "Trigger",
            "id": a.id,
            "createdAt": record.created_at.to_string(),
            "updatedAt": record.updated_at.to_string(),
            "name": a.name,
            "description": a.description,
            "enabled": a.enabled,
            "scope": scope_object(&a.scope),
            "triggeringCondition": {
                "__typename": "FilterEventTriggeringCondition", "eventType": e.event_type, "filter": e.saved_filter,
            },
            "triggeredAction": action,
        }))
    }

    pub fn viewer(&self) -> Value {
        json!({
            "__typename": "User", "id": ids::entity(&self.entity), "name": self.entity, "username": self.entity,
            "email": null, "admin": false, "flags": null, "entity": self.entity, "deletedAt": null,
            "apiKeys": {"edges": []}, "teams": {"edges": []}, "organizations": [self.organization()],
        })
    }

    pub fn server_info() -> Value {
        let features: Vec<Value> = FEATURES.iter().map(|f| json!({"name": f, "isEnabled": true})).collect();
        json!({"__typename": "ServerInfo", "features": features})
    }

    /// The key's entity, which is also its organization's entity.
    pub fn entity_object(&self, with_org: bool) -> Value {
        let mut e = json!({
            "__typename": "Entity", "id": ids::entity(&self.entity), "name": self.entity,
            "entityType": "organization", "user": null,
        });
        if with_org {
            e["organization"] = self.organization();
        }
        e
    }

    pub fn organization(&self) -> Value {
        json!({
            "__typename": "Organization", "id": ids::organization(&self.entity), "name": self.entity,
            "orgEntity": self.entity_object(false),
        })
    }

    pub fn project(&self, name: &str) -> Value {
        project_object(&self.entity, name)
    }

    fn visible_in(&self, project: &str) -> Vec<Value> {
        self.triggers
            .iter()
            .filter(|(r, _)| match &r.automation.scope {
                Scope::Project { project: p, .. } => p == project,
                Scope::Registry { registry, .. } => ids::project_name(&Location::Registry(registry.clone())) == project,
                Scope::Collection { location, .. } => ids::project_name(location) == project,
                Scope::Entity { .. } => false,
            })
            .map(|(_, t)| t.clone())
            .collect()
    }

    /// `triggers(after, first, filters)`: W&B's `filters` is JSON in a string; the SDK sends
    /// only `{"name": NAME}`.
    fn triggers_page(&self, args: &Map<String, Value>) -> Result<Value, ApiError> {
        let name = match args.get("filters") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
                Ok(Value::Object(f)) => {
                    if let Some(k) = f.keys().find(|k| *k != "name") {
                        return Err(ApiError::field("filters", format!("filters by {k:?} are not served (only name)")));
                    }
                    f.get("name").and_then(Value::as_str).map(str::to_string)
                }
                _ => {
                    return Err(ApiError::field(
                        "filters",
                        "must be a JSON object in a string, like {\"name\": \"x\"}",
                    ));
                }
            },
            Some(_) => return Err(ApiError::field("filters", "must be a JSON string")),
        };
        let items: Vec<Value> = self
            .triggers
            .iter()
            .filter(|(r, _)| name.as_ref().is_none_or(|n| &r.automation.name == n))
            .map(|(_, t)| t.clone())
            .collect();
        page(items, args)
    }

    fn integrations_page(&self, args: &Map<String, Value>) -> Result<Value, ApiError> {
        page(self.integrations.iter().map(integration_object).collect(), args)
    }

    /// `projects(after, first)`: one project holding every visible trigger is all the SDK's
    /// viewer-wide walk (`automations()` without an entity) needs.
    fn projects_page(&self, args: &Map<String, Value>) -> Result<Value, ApiError> {
        let mut node = self.project("*");
        node["triggers"] = Value::Array(self.triggers.iter().map(|(_, t)| t.clone()).collect());
        page(vec![node], args)
    }
}

impl Computed for View {
    fn field(
        &self,
        parent: &Map<String, Value>,
        name: &str,
        args: &Map<String, Value>,
    ) -> Option<Result<Value, ApiError>> {
        let ty = parent.get("__typename").and_then(Value::as_str)?;
        let arg = |k: &str| args.get(k).and_then(Value::as_str);
        Some(match (ty, name) {
            ("Entity", "triggers") => self.triggers_page(args),
            ("Entity", "integrations") => self.integrations_page(args),
            ("Entity", "project") => Ok(arg("name").map_or(Value::Null, |n| self.project(n))),
            ("Entity" | "User", "projects") => self.projects_page(args),
            ("Project", "triggers") if parent.get("triggers").is_none() => {
                let name = parent.get("name").and_then(Value::as_str).unwrap_or_default();
                Ok(Value::Array(self.visible_in(name)))
            }
            ("Project", "artifactTypes") => Ok(json!({"edges": []})),
            ("Project", "artifactType") => {
                let project = parent.get("name").and_then(Value::as_str).unwrap_or_default();
                Ok(arg("name")
                    .map_or(Value::Null, |n| json!({"__typename": "ArtifactType", "name": n, "project": project})))
            }
            ("ArtifactType", "artifactCollection") => {
                let project = parent.get("project").and_then(Value::as_str).unwrap_or_default();
                let ty = parent.get("name").cloned().unwrap_or(Value::Null);
                Ok(arg("name").map_or(Value::Null, |n| {
                    let mut c = collection_object(&self.entity, project, n);
                    c["defaultArtifactType"] = json!({"__typename": "ArtifactType", "name": ty});
                    c
                }))
            }
            _ => return None,
        })
    }
}

/// A page of a connection: `after` is the offset the previous page ended at.
fn page(items: Vec<Value>, args: &Map<String, Value>) -> Result<Value, ApiError> {
    let start = match args.get("after") {
        None | Some(Value::Null) => 0,
        Some(Value::String(s)) => {
            s.parse::<usize>().map_err(|_| ApiError::field("after", "is not a cursor of this server"))?
        }
        Some(_) => return Err(ApiError::field("after", "must be a cursor (a string)")),
    };
    let first = match args.get("first") {
        None | Some(Value::Null) => 50,
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=MAX_PAGE as u64).contains(n))
            .ok_or_else(|| ApiError::field("first", format!("must be 1 to {MAX_PAGE}")))? as usize,
    };
    let total = items.len();
    let end = start.saturating_add(first).min(total);
    let edges: Vec<Value> = items.into_iter().skip(start).take(first).map(|node| json!({"node": node})).collect();
    Ok(json!({
        "__typename": "Connection",
        "pageInfo": {"__typename": "PageInfo", "endCursor": end.max(start).to_string(), "hasNextPage": end < total},
        "edges": edges,
    }))
}

fn project_object(entity: &str, name: &str) -> Value {
    let id = ids::project(entity, name);
    json!({
        "__typename": "Project", "id": id, "internalId": id, "name": name, "entityName": entity,
        "createdAt": NO_DATE, "updatedAt": null, "isBenchmark": false, "user": null,
        "entity": {"__typename": "Entity", "id": ids::entity(entity), "name": entity,
                   "organization": {"__typename": "Organization", "id": ids::organization(entity), "name": entity}},
        "description": null, "access": null, "allowAllArtifactTypesInRegistry": true,
    })
}

fn collection_object(entity: &str, project: &str, name: &str) -> Value {
    // W&B: a collection of a registry is a portfolio (of linked versions), of a project a sequence.
    let ty = if project.starts_with(ids::REGISTRY_PREFIX) { "ArtifactPortfolio" } else { "ArtifactSequence" };
    json!({
        "__typename": ty, "id": ids::collection(entity, project, name), "name": name, "description": null,
        "createdAt": NO_DATE, "updatedAt": null, "project": project_object(entity, project),
        "defaultArtifactType": null, "tags": {"edges": []},
    })
}

fn scope_object(scope: &Scope) -> Value {
    match scope {
        Scope::Project { entity, project } => project_object(entity.as_str(), project),
        Scope::Registry { entity, registry } => {
            project_object(entity.as_str(), &ids::project_name(&Location::Registry(registry.clone())))
        }
        Scope::Collection { entity, location, collection } => {
            collection_object(entity.as_str(), &ids::project_name(location), collection)
        }
        Scope::Entity { entity } => json!({"__typename": "Entity", "id": ids::entity(entity.as_str()), "name": entity}),
    }
}

/// An integration as W&B shows it; never a credential (the webhook URL is masked as the REST
/// API masks it).
fn integration_object(i: &Integration) -> Value {
    match &i.kind {
        IntegrationKind::Slack { channel, .. } => json!({
            "__typename": "SlackIntegration", "id": i.id, "teamName": i.name, "channelName": channel,
        }),
        IntegrationKind::Webhook { url, .. } => json!({
            "__typename": "GenericWebhookIntegration", "id": i.id, "name": i.name,
            "urlEndpoint": automations_core::delivery::request::mask_url(url, automations_core::delivery::TargetKind::Webhook),
        }),
        IntegrationKind::Mlflow { .. } => Value::Null,
    }
}
