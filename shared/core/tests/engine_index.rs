//! The engine's index (by entity, trigger and place) leaves out no automation that can see an
//! event and lets in none that cannot: whatever the automations and events, the engine fires
//! exactly what an engine holding only the automations whose scope covers the event fires,
//! found by scanning every scope.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_core::engine::{Engine, RunRecord};
use automations_core::event::{Envelope, EventData, parse_envelope};
use automations_core::model::{Automation, Location};
use proptest::prelude::*;
use serde_json::json;

const ENTITIES: [&str; 3] = ["acme", "zeta", "beta"];
const PLACES: [&str; 3] = ["p1", "p2", "models"];
const COLLECTIONS: [&str; 2] = ["clf", "data"];
const ARTIFACT_EVENTS: [(&str, &str); 3] = [
    ("artifact.alias.added", "ADD_ARTIFACT_ALIAS"),
    ("artifact.version.linked", "LINK_ARTIFACT"),
    ("artifact.version.created", "CREATE_ARTIFACT"),
];

/// One automation: (entity, scope kind, place, collection, trigger); all indexes.
type Raw = (usize, usize, usize, usize, usize);

fn automation(i: usize, (e, scope, place, coll, trigger): Raw) -> Option<Automation> {
    let entity = ENTITIES[e];
    let scope = match scope {
        0 => json!({"type": "project", "entity": entity, "project": PLACES[place]}),
        1 => json!({"type": "registry", "entity": entity, "registry": PLACES[place]}),
        2 => json!({"type": "collection", "entity": entity, "project": PLACES[place], "collection": COLLECTIONS[coll]}),
        3 => {
            json!({"type": "collection", "entity": entity, "registry": PLACES[place], "collection": COLLECTIONS[coll]})
        }
        _ => json!({"type": "entity", "entity": entity}),
    };
    let event = match trigger {
        0..=2 => json!({"type": ARTIFACT_EVENTS[trigger].1}),
        3 => json!({"type": "RUN_STATE", "states": ["finished"]}),
        _ => {
            json!({"type": "RUN_METRIC_THRESHOLD", "metric": {"name": "loss", "window": 1, "cmp": "$gt", "threshold": 0}})
        }
    };
    let doc = json!({"name": format!("a{i}"), "scope": scope, "event": event, "action": {"type": "none"}});
    // Combinations the model refuses (a run event on a registry) are simply not generated.
    Automation::from_create(format!("au_{i:03}"), &doc).ok()
}

/// One event: (kind, entity, place, in a registry, collection).
fn envelope(n: usize, (kind, e, place, registry, coll): (usize, usize, usize, bool, usize)) -> Envelope {
    let entity = ENTITIES[e];
    let (ty, data) = match kind {
        0..=2 => {
            let mut d = json!({"entity": entity, "collection": COLLECTIONS[coll], "collection_type": "model",
                               "version": 1, "alias": "prod"});
            // A link's location is the registry it links into.
            let registry = registry || kind == 1;
            d[if registry { "registry" } else { "project" }] = json!(PLACES[place]);
            if kind == 1 {
                d["source"] = json!({"project": "p1", "collection": "clf", "version": 0});
            }
            (ARTIFACT_EVENTS[kind].0, d)
        }
        3 => (
            "run.state.changed",
            json!({"entity": entity, "project": PLACES[place], "run_id": "r1", "state": "finished", "previous_state": "running"}),
        ),
        _ => (
            "run.metrics.logged",
            json!({"entity": entity, "project": PLACES[place], "run_id": "r1", "rows": [{"step": 1, "values": {"loss": 1.0}}]}),
        ),
    };
    let env = json!({"specversion": "1.0", "id": format!("e{n}"), "source": "t", "type": ty,
                     "time": "2026-11-01T12:00:00Z", "data": data});
    parse_envelope(&env.to_string()).expect("generated envelopes are valid")
}

/// The scopes that can see `env`, by scanning every automation.
fn covering(automations: &[Automation], env: &Envelope) -> Vec<Automation> {
    automations
        .iter()
        .filter(|a| match &env.data {
            EventData::Artifact(ev) => a.scope.covers_artifact(&ev.entity, &ev.location, &ev.collection),
            EventData::RunState(ev) => a.scope.covers_run(&ev.run.key.entity, &ev.run.key.project),
            EventData::Metrics(ev) => a.scope.covers_run(&ev.run.key.entity, &ev.run.key.project),
            EventData::Heartbeat(_) => false,
        })
        .cloned()
        .collect()
}

fn fired(engine: &Engine, env: &Envelope) -> Vec<String> {
    let mut record = RunRecord::default();
    engine.evaluate(env, Some(&mut record)).fires.iter().map(|f| f.automation_id.to_string()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn the_index_sees_what_every_scope_sees(
        raws in prop::collection::vec((0..3usize, 0..5usize, 0..3usize, 0..2usize, 0..5usize), 0..60),
        events in prop::collection::vec((0..5usize, 0..3usize, 0..3usize, any::<bool>(), 0..2usize), 1..20),
    ) {
        let automations: Vec<Automation> =
            raws.into_iter().enumerate().filter_map(|(i, r)| automation(i, r)).collect();
        let engine = Engine::new(automations.clone());
        for (n, raw) in events.into_iter().enumerate() {
            let env = envelope(n, raw);
            let only_covering = Engine::new(covering(&automations, &env));
            prop_assert_eq!(fired(&engine, &env), fired(&only_covering, &env), "{:?}", raw);
        }
    }
}

#[test]
fn an_entity_wide_automation_and_a_place_interleave_in_engine_order() {
    let docs = [
        json!({"type": "project", "entity": "acme", "project": "p1"}),
        json!({"type": "entity", "entity": "acme"}),
        json!({"type": "project", "entity": "acme", "project": "p1"}),
        json!({"type": "project", "entity": "acme", "project": "p2"}),
    ];
    let automations: Vec<Automation> = docs
        .iter()
        .enumerate()
        .map(|(i, scope)| {
            let doc = json!({"name": format!("a{i}"), "scope": scope, "event": {"type": "ADD_ARTIFACT_ALIAS"},
                             "action": {"type": "none"}});
            Automation::from_create(format!("au_{i}"), &doc).unwrap()
        })
        .collect();
    let env = envelope(0, (0, 0, 0, false, 0));
    let EventData::Artifact(ev) = &env.data else { unreachable!() };
    assert_eq!(ev.location, Location::Project("p1".into()));
    assert_eq!(fired(&Engine::new(automations), &env), ["au_0", "au_1", "au_2"]);
}
