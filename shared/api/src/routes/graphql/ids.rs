//! W&B ids for what this product addresses by name: projects, registries and collections have
//! no table here, so their ids are their names, encoded (stateless, stable, and opaque to the
//! SDK, which decodes none of them in its automation calls).

use automations_core::model::{Location, Scope};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A registry is the project `wandb-registry-NAME` (W&B's naming).
pub const REGISTRY_PREFIX: &str = "wandb-registry-";

const PROJECT: &str = "prj_";
const COLLECTION: &str = "col_";

fn encode(parts: &[&str]) -> String {
    // `/` cannot be in an entity or project name, so it separates them unambiguously.
    URL_SAFE_NO_PAD.encode(parts.join("/"))
}

fn decode(s: &str) -> Option<Vec<String>> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(s).ok()?).ok()?;
    Some(text.split('/').map(str::to_string).collect())
}

pub fn project(entity: &str, project: &str) -> String {
    format!("{PROJECT}{}", encode(&[entity, project]))
}

pub fn collection(entity: &str, project: &str, collection: &str) -> String {
    format!("{COLLECTION}{}", encode(&[entity, project, collection]))
}

pub fn organization(entity: &str) -> String {
    format!("org_{}", encode(&[entity]))
}

pub fn entity(entity: &str) -> String {
    format!("ent_{}", encode(&[entity]))
}

/// The project (or registry) a location is in W&B's terms.
pub fn project_name(location: &Location) -> String {
    match location {
        Location::Project(p) => p.clone(),
        Location::Registry(r) => format!("{REGISTRY_PREFIX}{r}"),
    }
}

fn location(project: String) -> Location {
    match project.strip_prefix(REGISTRY_PREFIX) {
        Some(r) if !r.is_empty() => Location::Registry(r.to_string()),
        _ => Location::Project(project),
    }
}

/// The scope a W&B `scopeType`/`scopeID` names, or `None` when the id is not one of ours.
pub fn scope(scope_type: &str, id: &str) -> Option<Scope> {
    match scope_type {
        "PROJECT" => {
            let [entity, project] = <[String; 2]>::try_from(decode(id.strip_prefix(PROJECT)?)?).ok()?;
            Some(match location(project) {
                Location::Project(project) => Scope::Project { entity: entity.into(), project },
                Location::Registry(registry) => Scope::Registry { entity: entity.into(), registry },
            })
        }
        "ARTIFACT_COLLECTION" => {
            let [entity, project, collection] = <[String; 3]>::try_from(decode(id.strip_prefix(COLLECTION)?)?).ok()?;
            Some(Scope::Collection { entity: entity.into(), location: location(project), collection })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_decode_to_the_scope_they_name() {
        let id = project("acme", "mnist");
        assert_eq!(scope("PROJECT", &id), Some(Scope::Project { entity: "acme".into(), project: "mnist".into() }));
        let id = project("acme", "wandb-registry-models");
        assert_eq!(scope("PROJECT", &id), Some(Scope::Registry { entity: "acme".into(), registry: "models".into() }));
        let id = collection("acme", "wandb-registry-models", "clf");
        assert_eq!(
            scope("ARTIFACT_COLLECTION", &id),
            Some(Scope::Collection {
                entity: "acme".into(),
                location: Location::Registry("models".into()),
                collection: "clf".into()
            })
        );
        for (ty, bad) in [("PROJECT", "UHJvamVjdDo3"), ("PROJECT", &collection("a", "b", "c")), ("ENTITY", &id)] {
            assert_eq!(scope(ty, bad), None, "{ty} {bad}");
        }
    }
}
