//! Which automations can see an event: by entity, then by kind of trigger, then by where they
//! watch. An event's cost then depends on the automations of its own entity and place, not on
//! how many every other tenant has (issue 14).

use crate::event::ArtifactEvent;
use crate::model::{Automation, Location, Scope, Trigger, TriggerKind};
use std::collections::HashMap;

/// Positions into the engine's automations, each list ascending (so that fires come out in the
/// engine's order, whatever the index).
#[derive(Debug, Default)]
pub(super) struct Index {
    entities: HashMap<String, EntityIndex>,
}

#[derive(Debug, Default)]
struct EntityIndex {
    artifact: HashMap<TriggerKind, Places>,
    run_state: Places,
    metric: Places,
}

/// The automations of one entity and trigger kind: those watching the whole entity, and the
/// rest by the project or registry they watch (a collection scope under its location).
#[derive(Debug, Default)]
struct Places {
    entity_wide: Vec<usize>,
    projects: HashMap<String, Vec<usize>>,
    registries: HashMap<String, Vec<usize>>,
}

impl Places {
    fn add(&mut self, scope: &Scope, i: usize) {
        let list = match scope {
            Scope::Entity { .. } => &mut self.entity_wide,
            Scope::Project { project, .. } | Scope::Collection { location: Location::Project(project), .. } => {
                self.projects.entry(project.clone()).or_default()
            }
            Scope::Registry { registry, .. } | Scope::Collection { location: Location::Registry(registry), .. } => {
                self.registries.entry(registry.clone()).or_default()
            }
        };
        list.push(i);
    }

    fn at(&self, location: &Location) -> impl Iterator<Item = usize> + '_ {
        let here = match location {
            Location::Project(p) => self.projects.get(p.as_str()),
            Location::Registry(r) => self.registries.get(r.as_str()),
        };
        merged(&self.entity_wide, here.map_or(&[][..], Vec::as_slice))
    }

    fn in_project(&self, project: &str) -> impl Iterator<Item = usize> + '_ {
        merged(&self.entity_wide, self.projects.get(project).map_or(&[][..], Vec::as_slice))
    }
}

impl Index {
    pub(super) fn new(automations: &[Automation]) -> Index {
        let mut index = Index::default();
        for (i, a) in automations.iter().enumerate() {
            let e = index.entities.entry(a.entity().to_string()).or_default();
            let places = match &a.trigger {
                Trigger::Artifact { kind, .. } => e.artifact.entry(*kind).or_default(),
                Trigger::RunState { .. } => &mut e.run_state,
                Trigger::Metric { .. } => &mut e.metric,
            };
            places.add(&a.scope, i);
        }
        index
    }

    /// Automations that may match an artifact event: its entity, trigger and place (a
    /// collection scope still has to be checked against the event's collection).
    pub(super) fn artifact<'a>(&'a self, ev: &'a ArtifactEvent) -> impl Iterator<Item = usize> + 'a {
        self.entities
            .get(ev.entity.as_str())
            .and_then(|e| e.artifact.get(&ev.trigger))
            .into_iter()
            .flat_map(|p| p.at(&ev.location))
    }

    pub(super) fn run_state<'a>(&'a self, entity: &str, project: &'a str) -> impl Iterator<Item = usize> + 'a {
        self.entities.get(entity).into_iter().flat_map(move |e| e.run_state.in_project(project))
    }

    pub(super) fn metric<'a>(&'a self, entity: &str, project: &'a str) -> impl Iterator<Item = usize> + 'a {
        self.entities.get(entity).into_iter().flat_map(move |e| e.metric.in_project(project))
    }
}

/// Two ascending lists as one ascending sequence.
fn merged<'a>(a: &'a [usize], b: &'a [usize]) -> impl Iterator<Item = usize> + 'a {
    let (mut i, mut j) = (0, 0);
    std::iter::from_fn(move || {
        let next = match (a.get(i), b.get(j)) {
            (Some(&x), Some(&y)) if x <= y => x,
            (_, Some(&y)) => y,
            (Some(&x), None) => x,
            (None, None) => return None,
        };
        if a.get(i) == Some(&next) {
            i += 1;
        } else {
            j += 1;
        }
        Some(next)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_lists_stay_ascending() {
        let got: Vec<usize> = merged(&[1, 4, 9], &[0, 2, 4, 10]).collect();
        assert_eq!(got, [0, 1, 2, 4, 4, 9, 10]);
        assert_eq!(merged(&[], &[3]).collect::<Vec<_>>(), [3]);
        assert_eq!(merged(&[3], &[]).collect::<Vec<_>>(), [3]);
    }
}
