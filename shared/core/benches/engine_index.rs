//! An event's cost does not grow with other tenants' automations (issue 14): 10,000 automations
//! over 100 entities and 1,000 projects, against the same events with only their own project's
//! automations loaded. Per event kind, the time per event of each and their ratio (target: the
//! full engine within 20% of the project-only one).
//!
//! `cargo bench -p automations-core --bench engine_index`; `cargo test` runs it once, small.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_core::engine::{Engine, RunRecord};
use automations_core::event::{Envelope, parse_envelope};
use automations_core::model::Automation;
use serde_json::{Value, json};
use std::hint::black_box;
use std::time::Instant;

const ENTITIES: usize = 100;
const PROJECTS_PER_ENTITY: usize = 10;

/// The ten automations of one project: four metric conditions, three artifact automations, two
/// on run states, one on the entity's registry.
fn project_automations(e: usize, p: usize) -> Vec<Value> {
    let entity = format!("team-{e}");
    let project = format!("proj-{p}");
    let scope = json!({"type": "project", "entity": entity, "project": project});
    let mut docs = Vec::new();
    for (m, metric) in ["loss", "acc", "grad_norm", "lr"].iter().enumerate() {
        docs.push(json!({"name": format!("{project}-m{m}"), "scope": scope,
            "event": {"type": "RUN_METRIC_THRESHOLD",
                      "metric": {"name": metric, "agg": "AVERAGE", "window": 5, "cmp": "$gt", "threshold": 1e9}},
            "action": {"type": "none"}}));
    }
    for (k, alias) in ["production", "staging", "candidate"].iter().enumerate() {
        docs.push(json!({"name": format!("{project}-a{k}"), "scope": scope,
            "event": {"type": "ADD_ARTIFACT_ALIAS", "filter": {"alias": {"$eq": alias}}}, "action": {"type": "none"}}));
    }
    for (k, state) in ["failed", "finished"].iter().enumerate() {
        docs.push(json!({"name": format!("{project}-s{k}"), "scope": scope,
            "event": {"type": "RUN_STATE", "states": [state]}, "action": {"type": "none"}}));
    }
    docs.push(
        json!({"name": format!("{project}-link"), "scope": {"type": "registry", "entity": entity, "registry": "models"},
        "event": {"type": "LINK_ARTIFACT", "filter": {"collection": {"$eq": project}}}, "action": {"type": "none"}}),
    );
    docs
}

fn engine(docs: impl IntoIterator<Item = Value>) -> Engine {
    Engine::new(
        docs.into_iter()
            .enumerate()
            .map(|(i, d)| Automation::from_create(format!("au_{i}"), &d).expect("bench automations are valid")),
    )
}

fn envelope(v: Value) -> Envelope {
    parse_envelope(&v.to_string()).expect("bench envelopes are valid")
}

/// The events of one project: an alias added, a run finishing, `n` metric envelopes of 10 values.
fn events(e: usize, p: usize, n: usize) -> (Envelope, Envelope, Vec<Envelope>) {
    let (entity, project) = (format!("team-{e}"), format!("proj-{p}"));
    let alias = envelope(json!({"specversion": "1.0", "id": "a", "source": "b", "type": "artifact.alias.added",
        "time": "2026-11-01T12:00:00Z", "data": {"entity": entity, "project": project, "collection": "clf",
        "collection_type": "model", "version": 3, "alias": "production"}}));
    let state = envelope(json!({"specversion": "1.0", "id": "s", "source": "b", "type": "run.state.changed",
        "time": "2026-11-01T12:00:00Z", "data": {"entity": entity, "project": project, "run_id": "r1",
        "state": "finished", "previous_state": "running"}}));
    let metrics = (0..n)
        .map(|i| {
            let rows: Vec<Value> = (0..2)
                .map(|r| json!({"step": i * 2 + r, "values": {"loss": 0.5, "acc": 0.9, "grad_norm": 1.0, "lr": 0.001, "other": 1}}))
                .collect();
            envelope(json!({"specversion": "1.0", "id": format!("m{i}"), "source": "b", "type": "run.metrics.logged",
                "time": "2026-11-01T12:00:00Z", "data": {"entity": entity, "project": project, "run_id": "r1", "rows": rows}}))
        })
        .collect();
    (alias, state, metrics)
}

/// Nanoseconds per event of `a` and of `b`: the best of `rounds` passes of `reps` evaluations
/// each, the two taken in turn so that a busy machine slows both alike.
fn per_event(rounds: usize, reps: usize, mut a: impl FnMut() -> usize, mut b: impl FnMut() -> usize) -> (f64, f64) {
    let time = |f: &mut dyn FnMut() -> usize| {
        let start = Instant::now();
        let mut fires = 0;
        for _ in 0..reps {
            fires += f();
        }
        black_box(fires);
        start.elapsed().as_nanos() as f64 / reps as f64
    };
    let (mut best_a, mut best_b) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..rounds {
        best_a = best_a.min(time(&mut a));
        best_b = best_b.min(time(&mut b));
    }
    (best_a, best_b)
}

/// One pass over a run's envelopes, in step order, into a fresh record: each call takes the next.
fn metric_pass<'a>(engine: &'a Engine, metrics: &'a [Envelope]) -> impl FnMut() -> usize + 'a {
    let mut record = RunRecord::default();
    let mut steps = metrics.iter();
    move || steps.next().map_or(0, |env| engine.evaluate(env, Some(&mut record)).fires.len())
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let (rounds, reps) = if bench { (25, 20_000) } else { (1, 200) };
    let all: Vec<Value> = (0..ENTITIES)
        .flat_map(|e| (0..PROJECTS_PER_ENTITY).map(move |p| (e, p)))
        .flat_map(|(e, p)| project_automations(e, p))
        .collect();
    let (e, p) = (57, 3);
    let full = engine(all.clone());
    let own = engine(project_automations(e, p));
    println!(
        "engine index: {} automations over {ENTITIES} entities and {} projects, against the {} of team-{e}/proj-{p}",
        full.automations().len(),
        ENTITIES * PROJECTS_PER_ENTITY,
        own.automations().len()
    );
    let (alias, state, metrics) = events(e, p, reps);
    let mut worst: f64 = 0.0;
    let mut report = |what: &str, (full_ns, own_ns): (f64, f64)| {
        let ratio = full_ns / own_ns;
        worst = worst.max(ratio);
        println!(
            "  {what:<28} full {full_ns:>8.0} ns/event   own project only {own_ns:>8.0} ns/event   ratio {ratio:.2}"
        );
    };
    let fires = |engine: &Engine, env: &Envelope| engine.evaluate(env, None).fires.len();
    report("artifact.alias.added", per_event(rounds, reps, || fires(&full, &alias), || fires(&own, &alias)));
    report("run.state.changed", per_event(rounds, reps, || fires(&full, &state), || fires(&own, &state)));
    let mut both = (f64::INFINITY, f64::INFINITY);
    for _ in 0..rounds {
        let (f, o) = per_event(1, metrics.len(), metric_pass(&full, &metrics), metric_pass(&own, &metrics));
        both = (both.0.min(f), both.1.min(o));
    }
    report("run.metrics.logged (10 values)", both);
    println!("  worst ratio {worst:.2} (target at most 1.20)");
}
