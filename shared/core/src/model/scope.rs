//! Where an automation watches: a project, a registry, one collection, or a whole entity.

use super::reader::{ObjReader, one_of};
use crate::error::{Errors, Invalid};
use crate::id::EntityId;
use serde::Serialize;
use serde_json::Value;

/// Where an artifact event happens: a project or a registry. They are separate namespaces, so a
/// project and a registry of the same name are different places.
/// Serialized as `"project": name` or `"registry": name` (flattened into its holder).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Location {
    /// A project of the entity.
    Project(String),
    /// A registry of the entity (where artifact versions are linked).
    Registry(String),
}

impl Location {
    /// The project's or registry's name.
    pub fn name(&self) -> &str {
        match self {
            Location::Project(p) | Location::Registry(p) => p,
        }
    }
}

/// The scope of an automation. Serialized as the create document's `scope`, the inverse of
/// [`Scope::parse`]: `{"type": "collection", "entity": ..., "project": ..., "collection": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Scope {
    /// Artifact and run events of one project.
    Project {
        /// The entity the project belongs to.
        entity: EntityId,
        /// The project's name.
        project: String,
    },
    /// Artifact events of one registry (links into it included).
    Registry {
        /// The entity the registry belongs to.
        entity: EntityId,
        /// The registry's name.
        registry: String,
    },
    /// Artifact events of one artifact collection.
    Collection {
        /// The entity the collection belongs to.
        entity: EntityId,
        /// The project or registry the collection is in.
        #[serde(flatten)]
        location: Location,
        /// The collection's name.
        collection: String,
    },
    /// Artifact and run events of every project and registry of the entity.
    Entity {
        /// The entity.
        entity: EntityId,
    },
}

/// The four kinds of scope, for the rules of which events each allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeKind {
    /// A [`Scope::Project`].
    Project,
    /// A [`Scope::Registry`].
    Registry,
    /// A [`Scope::Collection`].
    Collection,
    /// A [`Scope::Entity`].
    Entity,
}

impl ScopeKind {
    /// The scope document's `type`: `project`, `registry`, `collection` or `entity`.
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeKind::Project => "project",
            ScopeKind::Registry => "registry",
            ScopeKind::Collection => "collection",
            ScopeKind::Entity => "entity",
        }
    }
}

impl Scope {
    /// Which of the four kinds this scope is.
    pub fn kind(&self) -> ScopeKind {
        match self {
            Scope::Project { .. } => ScopeKind::Project,
            Scope::Registry { .. } => ScopeKind::Registry,
            Scope::Collection { .. } => ScopeKind::Collection,
            Scope::Entity { .. } => ScopeKind::Entity,
        }
    }

    /// The entity the scope belongs to.
    pub fn entity(&self) -> &EntityId {
        match self {
            Scope::Project { entity, .. }
            | Scope::Registry { entity, .. }
            | Scope::Collection { entity, .. }
            | Scope::Entity { entity } => entity,
        }
    }

    /// Does an artifact event at (entity, location, collection) fall in this scope?
    pub fn covers_artifact(&self, entity: &str, location: &Location, collection: &str) -> bool {
        if self.entity() != entity {
            return false;
        }
        match self {
            Scope::Project { project, .. } => matches!(location, Location::Project(p) if p == project),
            Scope::Registry { registry, .. } => matches!(location, Location::Registry(r) if r == registry),
            Scope::Collection { location: l, collection: c, .. } => l == location && c == collection,
            Scope::Entity { .. } => true,
        }
    }

    /// Does a run of (entity, project) fall in this scope?
    pub fn covers_run(&self, entity: &str, project: &str) -> bool {
        if self.entity() != entity {
            return false;
        }
        match self {
            Scope::Project { project: p, .. } => p == project,
            Scope::Entity { .. } => true,
            Scope::Registry { .. } | Scope::Collection { .. } => false,
        }
    }

    /// Read a scope document (`{"type": "project", "entity": ..., "project": ...}`).
    pub fn parse(v: &Value, path: &str) -> Result<Scope, Invalid> {
        let mut errors = Errors::default();
        let Some(mut r) = ObjReader::new(v, path, &mut errors) else {
            return errors.finish(Scope::Entity { entity: EntityId::default() });
        };
        let ty = r
            .required("type", &mut errors)
            .and_then(|t| one_of(t, &r.path_of("type"), &["project", "registry", "collection", "entity"], &mut errors));
        let entity = r.str("entity", &mut errors).map(EntityId::from);
        let scope = match ty {
            Some("project") => r
                .str("project", &mut errors)
                .map(|p| Scope::Project { entity: entity.clone().unwrap_or_default(), project: p.to_string() }),
            Some("registry") => r
                .str("registry", &mut errors)
                .map(|reg| Scope::Registry { entity: entity.clone().unwrap_or_default(), registry: reg.to_string() }),
            Some("collection") => {
                let project = r.opt_str("project", &mut errors);
                let registry = r.opt_str("registry", &mut errors);
                let collection = r.str("collection", &mut errors);
                let location = match (project, registry) {
                    (Some(p), None) if !p.is_empty() => Some(Location::Project(p.to_string())),
                    (None, Some(g)) if !g.is_empty() => Some(Location::Registry(g.to_string())),
                    (Some(_), Some(_)) => {
                        errors.push(r.path_of("registry"), "a collection scope has a project or a registry, not both");
                        None
                    }
                    _ => {
                        errors.push(r.path_of("project"), "a collection scope needs a project or a registry");
                        None
                    }
                };
                match (location, collection) {
                    (Some(location), Some(c)) => Some(Scope::Collection {
                        entity: entity.clone().unwrap_or_default(),
                        location,
                        collection: c.to_string(),
                    }),
                    _ => None,
                }
            }
            Some(_) => Some(Scope::Entity { entity: entity.clone().unwrap_or_default() }),
            None => None,
        };
        r.deny_unknown(&mut errors);
        match scope {
            Some(s) if errors.is_empty() => Ok(s),
            _ => errors.finish(Scope::Entity { entity: EntityId::default() }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_each_kind_and_round_trips() {
        for doc in [
            json!({"type": "project", "entity": "acme", "project": "mnist"}),
            json!({"type": "registry", "entity": "acme", "registry": "model"}),
            json!({"type": "collection", "entity": "acme", "project": "mnist", "collection": "clf"}),
            json!({"type": "collection", "entity": "acme", "registry": "model", "collection": "clf"}),
            json!({"type": "entity", "entity": "acme"}),
        ] {
            let s = Scope::parse(&doc, "scope").unwrap();
            assert_eq!(serde_json::to_value(&s).unwrap(), doc);
        }
    }

    #[test]
    fn errors_name_the_field() {
        let e = Scope::parse(&json!({"type": "project", "entity": "acme"}), "scope").unwrap_err();
        assert_eq!(e.errors[0].path, "scope.project");
        let e = Scope::parse(&json!({"type": "galaxy", "entity": "acme"}), "scope").unwrap_err();
        assert_eq!(e.errors[0].path, "scope.type");
        let e = Scope::parse(&json!({"type": "collection", "entity": "a", "collection": "c"}), "scope").unwrap_err();
        assert_eq!(e.errors[0].path, "scope.project");
        let e = Scope::parse(&json!({"type": "entity", "entity": "a", "projekt": 1}), "scope").unwrap_err();
        assert_eq!(e.errors[0].path, "scope.projekt");
    }

    #[test]
    fn projects_and_registries_are_separate_namespaces() {
        let p = Scope::Project { entity: "a".into(), project: "m".into() };
        assert!(p.covers_artifact("a", &Location::Project("m".into()), "c"));
        assert!(!p.covers_artifact("a", &Location::Registry("m".into()), "c"));
        assert!(!p.covers_artifact("b", &Location::Project("m".into()), "c"));
        let c =
            Scope::Collection { entity: "a".into(), location: Location::Registry("m".into()), collection: "c".into() };
        assert!(c.covers_artifact("a", &Location::Registry("m".into()), "c"));
        assert!(!c.covers_artifact("a", &Location::Registry("m".into()), "d"));
        assert!(!c.covers_run("a", "m"));
        assert!(Scope::Entity { entity: "a".into() }.covers_run("a", "x"));
    }
}
