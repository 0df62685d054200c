//! The rules of SPEC sections 5 (run metric conditions) and 6 (firing and cooldown), one test
//! each, through the public API only: automations from create documents, envelopes from JSON
//! text, evaluated by the pipeline on a memory store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_core::engine::Engine;
use automations_core::event::{Envelope, parse_envelope};
use automations_core::fire::{Fire, Subject};
use automations_core::ingest::{Ingest, IngestClock, Ingested};
use automations_core::model::Automation;
use automations_core::store::{MemoryStore, ready_now};
use automations_core::time::{DAY, HOUR, MINUTE, SECOND, Timestamp};
use serde_json::{Value, json};

/// 2026-11-01T00:00:00Z.
const BASE: i64 = 1_793_491_200_000;

/// An RFC 3339 time `ms` milliseconds after [`BASE`].
fn at(ms: i64) -> String {
    Timestamp(BASE + ms).to_string()
}

fn automation(id: &str, doc: Value) -> Automation {
    Automation::from_create(id, &doc).unwrap_or_else(|e| panic!("{doc}: {e}"))
}

/// A metric automation on project acme/mnist (`event` is the whole `event` object).
fn metric_automation(id: &str, event: Value) -> Automation {
    automation(
        id,
        json!({
            "name": id,
            "scope": {"type": "project", "entity": "acme", "project": "mnist"},
            "event": event,
            "action": {"type": "none"},
        }),
    )
}

fn threshold(id: &str, metric: Value) -> Automation {
    metric_automation(id, json!({"type": "RUN_METRIC_THRESHOLD", "metric": metric}))
}

fn envelope(text: &str) -> Envelope {
    parse_envelope(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// The identity of a run: (entity, project, run_id), with its name, user, tags and config.
struct Run {
    entity: &'static str,
    project: &'static str,
    id: &'static str,
    extra: Value,
}

const R1: Run = Run { entity: "acme", project: "mnist", id: "r1", extra: Value::Null };

/// A `run.metrics.logged` envelope from `tracker`; `rows` is the JSON of the rows array.
fn metrics_for(run: &Run, id: &str, time_ms: i64, rows: &str) -> Envelope {
    let mut data =
        json!({"entity": run.entity, "project": run.project, "run_id": run.id, "run_name": "train-1", "user": "ana"});
    if let Value::Object(extra) = &run.extra {
        for (k, v) in extra {
            data[k] = v.clone();
        }
    }
    let data = data.to_string();
    // Splice the rows in as text, so they may hold bare NaN and Infinity.
    let data = format!("{},\"rows\":{rows}}}", &data[..data.len() - 1]);
    envelope(&format!(
        r#"{{"specversion":"1.0","id":"{id}","source":"tracker","type":"run.metrics.logged","time":"{}","data":{data}}}"#,
        at(time_ms)
    ))
}

fn metrics(id: &str, time_ms: i64, rows: &str) -> Envelope {
    metrics_for(&R1, id, time_ms, rows)
}

/// Rows `{step, time, values: {loss: v}}` for `(step, time_ms, value)` triples.
fn loss_rows(rows: &[(i64, i64, f64)]) -> String {
    let rows: Vec<Value> =
        rows.iter().map(|&(step, t, v)| json!({"step": step, "time": at(t), "values": {"loss": v}})).collect();
    Value::Array(rows).to_string()
}

/// One envelope per value of `loss`, at steps 1, 2, ... and one minute apart.
fn loss_series(first_id: usize, values: &[f64]) -> Vec<Envelope> {
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let step = (first_id + i) as i64;
            metrics(&format!("evt-{step}"), step * MINUTE, &loss_rows(&[(step, step * MINUTE, v)]))
        })
        .collect()
}

fn process(engine: &Engine, store: &MemoryStore, envs: &[Envelope]) -> Ingested {
    let now = envs.iter().map(|e| e.time).max().unwrap_or(Timestamp(BASE));
    ready_now(Ingest { engine, store }.process(envs, IngestClock::Arrival(now))).expect("the memory store never fails")
}

/// Process each envelope as its own batch; the fires of all.
fn process_each(engine: &Engine, store: &MemoryStore, envs: &[Envelope]) -> Vec<Fire> {
    envs.iter().flat_map(|e| process(engine, store, std::slice::from_ref(e)).fires).collect()
}

/// (step, metric values) of metric fires.
fn steps_values(fires: &[Fire]) -> Vec<(i64, Vec<f64>)> {
    fires
        .iter()
        .map(|f| match &f.subject {
            Subject::Metric { step, values, .. } => (*step, values.clone()),
            other => panic!("not a metric fire: {other:?}"),
        })
        .collect()
}

/// (automation id, run id) of fires.
fn who(fires: &[Fire]) -> Vec<(String, String)> {
    fires
        .iter()
        .map(|f| (f.automation_id.to_string(), f.run().map_or(String::new(), |r| r.key.run_id.clone())))
        .collect()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter().map(|(a, r)| (a.to_string(), r.to_string())).collect()
}

// ---------------------------------------------------------------------------------------------
// Section 5: conditions.
// ---------------------------------------------------------------------------------------------

#[test]
fn threshold_waits_for_a_full_window() {
    let engine = Engine::new([threshold(
        "avg",
        json!({"name": "loss", "agg": "AVERAGE", "window": 3, "cmp": "$gt", "threshold": 0}),
    )]);
    let store = MemoryStore::new();
    let early = process_each(&engine, &store, &loss_series(1, &[5.0, 5.0]));
    assert!(early.is_empty(), "two values of a window of 3 are not evaluated: {early:?}");
    let fires = process_each(&engine, &store, &loss_series(3, &[5.0]));
    assert_eq!(steps_values(&fires), vec![(3, vec![5.0, 5.0, 5.0])]);
}

#[test]
fn threshold_without_agg_reads_the_last_value_alone() {
    // The window given is ignored without an aggregation: no waiting for 5 values.
    let engine = Engine::new([threshold("last", json!({"name": "loss", "window": 5, "cmp": "$gt", "threshold": 5}))]);
    let store = MemoryStore::new();
    let fires = process_each(&engine, &store, &loss_series(1, &[1.0, 10.0]));
    assert_eq!(steps_values(&fires), vec![(2, vec![10.0])]);
}

#[test]
fn each_aggregation_and_comparison() {
    let mk = |id: &str, agg: &str, cmp: &str, value: f64| {
        threshold(id, json!({"name": "loss", "agg": agg, "window": 3, "cmp": cmp, "threshold": value}))
    };
    let engine = Engine::new([
        mk("max", "MAX", "$gte", 9.0),
        mk("min", "MIN", "$gte", 2.0),
        mk("avg", "AVERAGE", "$eq", 5.0),
        mk("avg-ne", "AVERAGE", "$ne", 5.0),
        mk("max-lt", "MAX", "$lt", 9.0),
        mk("min-lte", "MIN", "$lte", 1.0),
    ]);
    let store = MemoryStore::new();
    // Windows: [1, 9, 2] (max 9, min 1, average 4), then [9, 2, 4] (max 9, min 2, average 5).
    // `max` holds twice but fires once: the default cooldown is 24 hours.
    let fires = process_each(&engine, &store, &loss_series(1, &[1.0, 9.0, 2.0, 4.0]));
    let got: Vec<(&str, i64)> = fires
        .iter()
        .map(|f| match &f.subject {
            Subject::Metric { step, .. } => (f.automation_id.as_str(), *step),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(got, [("max", 3), ("avg-ne", 3), ("min-lte", 3), ("min", 4), ("avg", 4)]);
}

#[test]
fn change_windows_do_not_overlap_and_both_must_be_full() {
    // prior = MAX of the 2 values before the current 2.
    let engine = Engine::new([metric_automation(
        "drop",
        json!({"type": "RUN_METRIC_CHANGE", "metric": {"name": "loss", "agg": "MAX", "current_window": 2,
               "prior_window": 2, "change_type": "ABSOLUTE", "change_dir": "DECREASE", "amount": 4}}),
    )]);
    let store = MemoryStore::new();
    let early = process_each(&engine, &store, &loss_series(1, &[5.0, 1.0, 1.0]));
    assert!(early.is_empty(), "a prior window of 1 value out of 2 is not evaluated: {early:?}");
    // Prior [5, 1] (max 5), current [1, 1] (max 1): a decrease of 4. Overlapping windows
    // (both the last 2 values) would see no change at all.
    let fires = process_each(&engine, &store, &loss_series(4, &[1.0]));
    assert_eq!(steps_values(&fires), vec![(4, vec![5.0, 1.0, 1.0, 1.0])]);
    let Subject::Metric { observed, .. } = &fires[0].subject else { unreachable!() };
    assert_eq!(
        *observed,
        automations_core::window::Observed::Change { prior: 5.0, current: 1.0, delta: -4.0 },
        "prior first, then current"
    );
}

#[test]
fn change_without_agg_compares_the_last_two_values() {
    let engine = Engine::new([metric_automation(
        "jump",
        json!({"type": "RUN_METRIC_CHANGE", "metric": {"name": "loss", "current_window": 10, "prior_window": 50,
               "change_type": "ABSOLUTE", "change_dir": "INCREASE", "amount": 2}}),
    )]);
    let store = MemoryStore::new();
    let fires = process_each(&engine, &store, &loss_series(1, &[1.0, 2.0, 4.0]));
    assert_eq!(steps_values(&fires), vec![(3, vec![2.0, 4.0])]);
}

#[test]
fn relative_change_from_zero_is_not_evaluated() {
    let engine = Engine::new([metric_automation(
        "rel",
        json!({"type": "RUN_METRIC_CHANGE", "metric": {"name": "loss", "change_type": "RELATIVE",
               "change_dir": "ANY", "amount": 0.1}}),
    )]);
    let store = MemoryStore::new();
    // 0 → 5 is an infinite relative change: not evaluated. 5 → 10 is +100%: fires.
    let fires = process_each(&engine, &store, &loss_series(1, &[0.0, 5.0, 10.0]));
    assert_eq!(steps_values(&fires), vec![(3, vec![5.0, 10.0])]);
}

#[test]
fn relative_change_is_a_fraction_of_the_prior_magnitude() {
    let engine = Engine::new([metric_automation(
        "rel",
        json!({"type": "RUN_METRIC_CHANGE", "cooldown": 60, "metric": {"name": "loss", "change_dir": "INCREASE", "amount": 0.5}}),
    )]);
    let store = MemoryStore::new();
    // -2 → -1 is +50% of |−2|; -1 → -0.75 is +25%; -0.75 → 0 is +100%.
    let fires = process_each(&engine, &store, &loss_series(1, &[-2.0, -1.0, -0.75, 0.0]));
    assert_eq!(steps_values(&fires), vec![(2, vec![-2.0, -1.0]), (4, vec![-0.75, 0.0])]);
}

#[test]
fn zscore_over_a_constant_window_never_fires() {
    // A window of 3: 0.1 + 0.1 + 0.1 is 0.30000000000000004, so a computed mean and stddev of
    // a constant 0.1 leave a residue of about 1e-17, and 0.1 would be about one of those
    // "stddevs" from the mean.
    let engine = Engine::new([metric_automation(
        "lr",
        json!({"type": "RUN_METRIC_ZSCORE", "metric": {"name": "lr", "window": 3, "threshold": 0.001, "change_dir": "ANY"}}),
    )]);
    let store = MemoryStore::new();
    let lr = |first: i64, values: &[f64]| -> Vec<Envelope> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let step = first + i as i64;
                let rows = json!([{"step": step, "time": at(step * MINUTE), "values": {"lr": v}}]).to_string();
                metrics(&format!("lr-{step}"), step * MINUTE, &rows)
            })
            .collect()
    };
    // A constant learning rate, then a jump right after a constant window: not evaluated.
    let mut values = vec![0.1; 12];
    values.push(0.2);
    let quiet = process_each(&engine, &store, &lr(1, &values));
    assert!(quiet.is_empty(), "a constant window fired: {quiet:?}");
    // Window [0.1, 0.1, 0.2] is not constant: 0.1 is 0.7 stddev below its mean.
    let fires = process_each(&engine, &store, &lr(14, &[0.1]));
    assert_eq!(steps_values(&fires), vec![(14, vec![0.1, 0.1, 0.2, 0.1])]);
}

#[test]
fn zscore_against_the_window_before_the_value() {
    let engine = Engine::new([
        metric_automation(
            "up",
            json!({"type": "RUN_METRIC_ZSCORE", "metric": {"name": "loss", "window": 4, "threshold": 3, "change_dir": "INCREASE"}}),
        ),
        metric_automation(
            "down",
            json!({"type": "RUN_METRIC_ZSCORE", "metric": {"name": "loss", "window": 4, "threshold": 3, "change_dir": "DECREASE"}}),
        ),
    ]);
    let store = MemoryStore::new();
    // Window [1, 3, 1, 3]: mean 2, population stddev 1. 4.9 is z 2.9; 5 is z 3 exactly.
    let mut envs = loss_series(1, &[1.0, 3.0, 1.0, 3.0, 4.9]);
    let fires = process_each(&engine, &store, &envs);
    assert!(fires.is_empty(), "{fires:?}");
    // A fresh run: [1, 3, 1, 3] then 5.
    let store = MemoryStore::new();
    envs.truncate(4);
    envs.extend(loss_series(5, &[5.0]));
    let fires = process_each(&engine, &store, &envs);
    assert_eq!(who(&fires), pairs(&[("up", "r1")]));
    assert_eq!(steps_values(&fires), vec![(5, vec![1.0, 3.0, 1.0, 3.0, 5.0])]);
}

#[test]
fn non_finite_values_are_skipped_and_not_counted() {
    let engine = Engine::new([threshold(
        "avg",
        json!({"name": "loss", "agg": "AVERAGE", "window": 2, "cmp": "$gt", "threshold": 0}),
    )]);
    let store = MemoryStore::new();
    let rows = format!(
        r#"[{{"step": 1, "time": "{t1}", "values": {{"loss": 1}}}},
           {{"step": 2, "time": "{t1}", "values": {{"loss": NaN}}}},
           {{"step": 3, "time": "{t1}", "values": {{"loss": "Infinity"}}}},
           {{"step": 4, "time": "{t1}", "values": {{"loss": -Infinity}}}},
           {{"step": 5, "time": "{t1}", "values": {{"loss": null}}}},
           {{"step": 6, "time": "{t1}", "values": {{"loss": "NaN"}}}}]"#,
        t1 = at(MINUTE)
    );
    let fires = process(&engine, &store, &[metrics("evt-1", MINUTE, &rows)]).fires;
    assert!(fires.is_empty(), "non-finite values filled the window: {fires:?}");
    // A skipped NaN does not take its step: a finite value at step 6 is still new.
    let fires = process(&engine, &store, &[metrics("evt-2", 2 * MINUTE, &loss_rows(&[(6, 2 * MINUTE, 3.0)]))]).fires;
    assert_eq!(steps_values(&fires), vec![(6, vec![1.0, 3.0])]);
}

#[test]
fn duplicate_and_older_steps_are_skipped() {
    let engine = Engine::new([metric_automation(
        "avg",
        json!({"type": "RUN_METRIC_THRESHOLD", "cooldown": "1m",
               "metric": {"name": "loss", "agg": "AVERAGE", "window": 3, "cmp": "$gte", "threshold": -1000}}),
    )]);
    let store = MemoryStore::new();
    // Step 2 again and step 1 again carry values that would show in the window if taken.
    let rows = loss_rows(&[
        (1, 0, 1.0),
        (2, 2 * MINUTE, 2.0),
        (2, 4 * MINUTE, 100.0),
        (1, 6 * MINUTE, 100.0),
        (3, 8 * MINUTE, 3.0),
    ]);
    let first = metrics("evt-1", 0, &rows);
    let fires = process(&engine, &store, std::slice::from_ref(&first)).fires;
    assert_eq!(steps_values(&fires), vec![(3, vec![1.0, 2.0, 3.0])]);
    // The same rows again in another envelope (a client resending): nothing new is taken.
    let out = process(&engine, &store, &[metrics("evt-2", 20 * MINUTE, &rows)]);
    assert!(out.fires.is_empty() && out.duplicates == 0, "{:?}", out.fires);
    // And an older step later on, well past the cooldown.
    let out = process(&engine, &store, &[metrics("evt-3", 30 * MINUTE, &loss_rows(&[(2, 30 * MINUTE, 5.0)]))]);
    assert!(out.fires.is_empty(), "{:?}", out.fires);
    let fires = process(&engine, &store, &[metrics("evt-4", 40 * MINUTE, &loss_rows(&[(4, 40 * MINUTE, 7.0)]))]).fires;
    assert_eq!(steps_values(&fires), vec![(4, vec![2.0, 3.0, 7.0])]);
}

#[test]
fn conditions_are_checked_after_every_value_not_once_per_batch() {
    let engine = Engine::new([metric_automation(
        "high",
        json!({"type": "RUN_METRIC_THRESHOLD", "cooldown": "1m", "metric": {"name": "loss", "cmp": "$gt", "threshold": 1}}),
    )]);
    let store = MemoryStore::new();
    // Two crossings in one envelope, then two more in two envelopes of one batch.
    let one = metrics("evt-1", 0, &loss_rows(&[(1, 0, 2.0), (2, 2 * MINUTE, 0.0), (3, 4 * MINUTE, 2.0)]));
    let fires = process(&engine, &store, &[one]).fires;
    assert_eq!(steps_values(&fires), vec![(1, vec![2.0]), (3, vec![2.0])]);
    let batch = [
        metrics("evt-2", 6 * MINUTE, &loss_rows(&[(4, 6 * MINUTE, 3.0)])),
        metrics("evt-3", 8 * MINUTE, &loss_rows(&[(5, 8 * MINUTE, 0.5), (6, 10 * MINUTE, 4.0)])),
    ];
    let fires = process(&engine, &store, &batch).fires;
    assert_eq!(steps_values(&fires), vec![(4, vec![3.0]), (6, vec![4.0])]);
    // The last value is not the only one looked at: a batch ending below the threshold fires
    // for the value above it.
    let fires = process(
        &engine,
        &store,
        &[metrics("evt-4", 12 * MINUTE, &loss_rows(&[(7, 12 * MINUTE, 9.0), (8, 14 * MINUTE, 0.0)]))],
    )
    .fires;
    assert_eq!(steps_values(&fires), vec![(7, vec![9.0])]);
}

// ---------------------------------------------------------------------------------------------
// Section 6: firing and cooldown.
// ---------------------------------------------------------------------------------------------

#[test]
fn default_cooldown_is_24_hours_and_level_triggered() {
    let engine = Engine::new([threshold("pos", json!({"name": "loss", "cmp": "$gt", "threshold": 0}))]);
    let store = MemoryStore::new();
    let t0 = HOUR;
    let step = |id: &str, step: i64, t: i64| metrics(id, t, &loss_rows(&[(step, t, 1.0)]));
    let fire_times = |fires: Vec<Fire>| fires.iter().map(|f| f.time.since(Timestamp(BASE))).collect::<Vec<_>>();
    assert_eq!(fire_times(process(&engine, &store, &[step("e1", 1, t0)]).fires), vec![t0]);
    // The condition keeps holding: nothing until 24 hours have passed, to the millisecond.
    assert!(process(&engine, &store, &[step("e2", 2, t0 + MINUTE)]).fires.is_empty());
    assert!(process(&engine, &store, &[step("e3", 3, t0 + DAY - 1)]).fires.is_empty());
    assert_eq!(fire_times(process(&engine, &store, &[step("e4", 4, t0 + DAY)]).fires), vec![t0 + DAY]);
    // A row older than the last fire (a later step logged with an earlier time) stays inside
    // the cooldown, even though it is more than 24 hours after the fire before.
    assert!(process(&engine, &store, &[step("e5", 5, t0 + DAY - HOUR)]).fires.is_empty());
    assert!(process(&engine, &store, &[step("e6", 6, t0 + 2 * DAY - SECOND)]).fires.is_empty());
    assert_eq!(fire_times(process(&engine, &store, &[step("e7", 7, t0 + 2 * DAY)]).fires), vec![t0 + 2 * DAY]);
}

#[test]
fn a_row_without_time_takes_the_envelope_time() {
    let engine = Engine::new([metric_automation(
        "pos",
        json!({"type": "RUN_METRIC_THRESHOLD", "cooldown": "10m", "metric": {"name": "loss", "cmp": "$gt", "threshold": 0}}),
    )]);
    let store = MemoryStore::new();
    let rows = r#"[{"step": 1, "values": {"loss": 1}}]"#;
    let fires = process(&engine, &store, &[metrics("e1", 5 * MINUTE, rows)]).fires;
    assert_eq!(fires[0].time, Timestamp(BASE + 5 * MINUTE));
    // The row's own time counts for the cooldown, not the envelope's: the envelope says 30
    // minutes later, the row says 9 minutes, still inside 10.
    let fires = process(&engine, &store, &[metrics("e2", 35 * MINUTE, &loss_rows(&[(2, 14 * MINUTE, 1.0)]))]).fires;
    assert!(fires.is_empty(), "{fires:?}");
    let fires =
        process(&engine, &store, &[metrics("e3", 36 * MINUTE, r#"[{"step": 3, "values": {"loss": 1}}]"#)]).fires;
    assert_eq!(fires.len(), 1);
    assert_eq!(fires[0].time, Timestamp(BASE + 36 * MINUTE));
}

#[test]
fn cooldown_is_per_automation_and_run() {
    let pos = |id: &str| {
        metric_automation(
            id,
            json!({"type": "RUN_METRIC_THRESHOLD", "cooldown": "1h", "metric": {"name": "loss", "cmp": "$gt", "threshold": 0}}),
        )
    };
    let engine = Engine::new([pos("a"), pos("b")]);
    let store = MemoryStore::new();
    let r2 = Run { id: "r2", ..R1 };
    let fires = process(&engine, &store, &[metrics("e1", 0, &loss_rows(&[(1, 0, 1.0)]))]).fires;
    assert_eq!(who(&fires), pairs(&[("a", "r1"), ("b", "r1")]), "each automation has its own cooldown");
    // Another run fires independently, with its own steps (step 1 again is new for it).
    let batch = [
        metrics_for(&r2, "e2", MINUTE, &loss_rows(&[(1, MINUTE, 1.0)])),
        metrics("e3", 2 * MINUTE, &loss_rows(&[(2, 2 * MINUTE, 1.0)])),
    ];
    let fires = process(&engine, &store, &batch).fires;
    assert_eq!(who(&fires), pairs(&[("a", "r2"), ("b", "r2")]));
    let fires = process(&engine, &store, &[metrics("e4", HOUR, &loss_rows(&[(3, HOUR, 1.0)]))]).fires;
    assert_eq!(who(&fires), pairs(&[("a", "r1"), ("b", "r1")]));
}

#[test]
fn windows_are_shared_and_survive_adding_an_automation() {
    let never =
        threshold("never", json!({"name": "loss", "agg": "AVERAGE", "window": 3, "cmp": "$gt", "threshold": 100}));
    let store = MemoryStore::new();
    let engine = Engine::new([never.clone()]);
    assert!(process_each(&engine, &store, &loss_series(1, &[1.0, 2.0, 3.0, 4.0, 5.0])).is_empty());
    // A new automation with a larger window, on a new engine over the same store: it reads the
    // values already logged, so one more value fills its window of 4.
    let wide =
        threshold("wide", json!({"name": "loss", "agg": "AVERAGE", "window": 4, "cmp": "$gte", "threshold": -100}));
    let same = threshold("same", json!({"name": "loss", "agg": "MIN", "window": 3, "cmp": "$gte", "threshold": -100}));
    let engine = Engine::new([never, wide, same]);
    let fires = process_each(&engine, &store, &loss_series(6, &[6.0]));
    assert_eq!(who(&fires), pairs(&[("wide", "r1"), ("same", "r1")]));
    assert_eq!(steps_values(&fires), vec![(6, vec![3.0, 4.0, 5.0, 6.0]), (6, vec![4.0, 5.0, 6.0])]);
}

#[test]
fn a_disabled_automation_never_fires() {
    let doc = |id: &str, enabled: bool| {
        json!({"name": id, "enabled": enabled, "scope": {"type": "project", "entity": "acme", "project": "mnist"},
               "event": {"type": "RUN_METRIC_THRESHOLD", "metric": {"name": "loss", "cmp": "$gt", "threshold": 0}},
               "action": {"type": "none"}})
    };
    let state_doc = json!({"name": "st", "enabled": false, "scope": {"type": "project", "entity": "acme", "project": "mnist"},
                           "event": {"type": "RUN_STATE", "states": ["failed"]}, "action": {"type": "none"}});
    let engine = Engine::new([
        automation("on", doc("on", true)),
        automation("off", doc("off", false)),
        automation("st", state_doc),
    ]);
    let store = MemoryStore::new();
    let fires = process_each(&engine, &store, &loss_series(1, &[1.0]));
    assert_eq!(who(&fires), pairs(&[("on", "r1")]));
    let failed = run_state("s1", "acme", "mnist", "failed");
    assert!(process(&engine, &store, &[failed]).fires.is_empty());
}

#[test]
fn run_filters_select_runs() {
    let filtered = |id: &str, filter: Value| {
        metric_automation(
            id,
            json!({"type": "RUN_METRIC_THRESHOLD", "run_filter": filter, "metric": {"name": "loss", "cmp": "$gt", "threshold": 0}}),
        )
    };
    let engine = Engine::new([
        filtered("name", json!({"display_name": {"$regex": "^train-"}})),
        filtered("user", json!({"username": "ana"})),
        filtered("lr", json!({"config.lr": {"$lt": 0.01}})),
        filtered("tag", json!({"tags": {"$in": ["sweep"]}})),
    ]);
    let run = |id: &'static str, name: &str, user: &str, lr: f64, tags: Value| Run {
        id,
        extra: json!({"run_name": name, "user": user, "config": {"lr": lr}, "tags": tags}),
        ..R1
    };
    let runs = [
        run("all", "train-a", "ana", 0.001, json!(["sweep"])),
        run("by-name", "train-b", "bob", 0.1, json!([])),
        run("by-user", "eval-c", "ana", 0.1, json!([])),
        run("by-lr", "eval-d", "bob", 0.001, json!(["x"])),
        run("by-tag", "eval-e", "bob", 0.1, json!(["x", "sweep"])),
        run("none", "my-train-f", "anabel", 0.1, json!(["sweeps"])),
    ];
    let store = MemoryStore::new();
    let envs: Vec<Envelope> =
        runs.iter().enumerate().map(|(i, r)| metrics_for(r, &format!("e{i}"), 0, &loss_rows(&[(1, 0, 1.0)]))).collect();
    let fires = process(&engine, &store, &envs).fires;
    assert_eq!(
        who(&fires),
        pairs(&[
            ("name", "all"),
            ("user", "all"),
            ("lr", "all"),
            ("tag", "all"),
            ("name", "by-name"),
            ("user", "by-user"),
            ("lr", "by-lr"),
            ("tag", "by-tag"),
        ])
    );
}

// ---------------------------------------------------------------------------------------------
// Scopes, artifact and run-state events, ids.
// ---------------------------------------------------------------------------------------------

#[test]
fn a_project_scope_sees_only_its_project_and_an_entity_scope_every_project() {
    let scoped = |id: &str, scope: Value| {
        automation(
            id,
            json!({"name": id, "scope": scope,
                   "event": {"type": "RUN_METRIC_THRESHOLD", "metric": {"name": "loss", "cmp": "$gt", "threshold": 0}},
                   "action": {"type": "none"}}),
        )
    };
    let engine = Engine::new([
        scoped("proj", json!({"type": "project", "entity": "acme", "project": "mnist"})),
        scoped("ent", json!({"type": "entity", "entity": "acme"})),
    ]);
    let store = MemoryStore::new();
    let runs = [
        Run { entity: "acme", project: "mnist", id: "in-mnist", extra: Value::Null },
        Run { entity: "acme", project: "cifar", id: "in-cifar", extra: Value::Null },
        Run { entity: "zeta", project: "mnist", id: "other-entity", extra: Value::Null },
    ];
    let envs: Vec<Envelope> =
        runs.iter().enumerate().map(|(i, r)| metrics_for(r, &format!("e{i}"), 0, &loss_rows(&[(1, 0, 1.0)]))).collect();
    let fires = process(&engine, &store, &envs).fires;
    assert_eq!(who(&fires), pairs(&[("proj", "in-mnist"), ("ent", "in-mnist"), ("ent", "in-cifar")]));
    // Same for run state changes.
    let state = |id: &str, scope: Value| {
        automation(
            id,
            json!({"name": id, "scope": scope, "event": {"type": "RUN_STATE", "states": ["finished"]}, "action": {"type": "none"}}),
        )
    };
    let engine = Engine::new([
        state("proj", json!({"type": "project", "entity": "acme", "project": "mnist"})),
        state("ent", json!({"type": "entity", "entity": "acme"})),
    ]);
    let envs = [
        run_state("s1", "acme", "mnist", "finished"),
        run_state("s2", "acme", "cifar", "finished"),
        run_state("s3", "zeta", "mnist", "finished"),
    ];
    let fires = process(&engine, &store, &envs).fires;
    let got: Vec<(String, String)> = fires
        .iter()
        .map(|f| (f.automation_id.to_string(), f.run().unwrap().key.project.clone() + "/" + f.entity.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("proj".into(), "mnist/acme".into()),
            ("ent".into(), "mnist/acme".into()),
            ("ent".into(), "cifar/acme".into())
        ]
    );
}

fn link(id: &str, registry: &str, from_project: &str) -> Envelope {
    envelope(
        &json!({"specversion": "1.0", "id": id, "source": "tracker", "type": "artifact.version.linked", "time": at(0),
                "data": {"entity": "acme", "registry": registry, "collection": "classifier", "collection_type": "model",
                         "version": 3, "source": {"project": from_project, "collection": "clf", "version": 7}}})
        .to_string(),
    )
}

#[test]
fn a_link_belongs_to_the_registry_it_links_into() {
    let scoped = |id: &str, scope: Value| {
        automation(
            id,
            json!({"name": id, "scope": scope, "event": {"type": "LINK_ARTIFACT"}, "action": {"type": "none"}}),
        )
    };
    let engine = Engine::new([
        // A project that happens to share the registry's name: a different namespace.
        scoped("project-named-like-registry", json!({"type": "project", "entity": "acme", "project": "models"})),
        // The project the artifact was linked from.
        scoped("source-project", json!({"type": "project", "entity": "acme", "project": "mnist"})),
        scoped("registry", json!({"type": "registry", "entity": "acme", "registry": "models"})),
        scoped("entity", json!({"type": "entity", "entity": "acme"})),
        scoped(
            "collection",
            json!({"type": "collection", "entity": "acme", "registry": "models", "collection": "classifier"}),
        ),
        scoped(
            "other-collection",
            json!({"type": "collection", "entity": "acme", "project": "models", "collection": "classifier"}),
        ),
    ]);
    let store = MemoryStore::new();
    let fires = process(&engine, &store, &[link("l1", "models", "mnist")]).fires;
    let ids: Vec<&str> = fires.iter().map(|f| f.automation_id.as_str()).collect();
    assert_eq!(ids, ["registry", "entity", "collection"]);
}

fn alias(id: &str, source: &str, version: u64, alias: &str) -> Envelope {
    envelope(
        &json!({"specversion": "1.0", "id": id, "source": source, "type": "artifact.alias.added", "time": at(0),
                "data": {"entity": "acme", "project": "mnist", "collection": "classifier", "collection_type": "model",
                         "version": version, "alias": alias, "author": "ana"}})
        .to_string(),
    )
}

#[test]
fn artifact_events_fire_once_each_and_redeliveries_fire_nothing_new() {
    let engine = Engine::new([automation(
        "prod",
        json!({"name": "prod", "scope": {"type": "project", "entity": "acme", "project": "mnist"},
               "event": {"type": "ADD_ARTIFACT_ALIAS", "filter": {"alias": {"$regex": "^prod"}}}, "action": {"type": "none"}}),
    )]);
    let store = MemoryStore::new();
    let a1 = alias("a1", "tracker", 1, "production");
    let a2 = alias("a2", "tracker", 2, "production");
    let staging = alias("a3", "tracker", 3, "staging");
    let out = process(&engine, &store, &[a1.clone(), a2.clone(), staging]);
    assert_eq!(out.fires.len(), 2);
    assert_eq!(out.duplicates, 0);
    // The same envelope again, in the same batch and in a later one: nothing new.
    let out = process(&engine, &store, &[a1.clone(), a1.clone()]);
    assert!(out.fires.is_empty());
    assert_eq!(out.duplicates, 2);
    let out = process(&engine, &store, &[a2]);
    assert!(out.fires.is_empty());
    // The idempotency key is (source, id): the same id from another source is another event.
    let out = process(&engine, &store, &[alias("a1", "registry-ui", 1, "production")]);
    assert_eq!(out.fires.len(), 1);
    assert_eq!(store.fires().len(), 3);
}

#[test]
fn a_redelivered_metrics_envelope_fires_nothing_new() {
    let engine = Engine::new([metric_automation(
        "high",
        json!({"type": "RUN_METRIC_THRESHOLD", "cooldown": "1m", "metric": {"name": "loss", "cmp": "$gt", "threshold": 1}}),
    )]);
    let store = MemoryStore::new();
    let env = metrics("m1", 0, &loss_rows(&[(1, 0, 2.0), (2, 2 * MINUTE, 2.0)]));
    assert_eq!(process(&engine, &store, std::slice::from_ref(&env)).fires.len(), 2);
    let out = process(&engine, &store, &[env.clone(), env]);
    assert!(out.fires.is_empty(), "{:?}", out.fires);
    assert_eq!(store.fires().len(), 2);
}

fn run_state(id: &str, entity: &str, project: &str, state: &str) -> Envelope {
    envelope(
        &json!({"specversion": "1.0", "id": id, "source": "tracker", "type": "run.state.changed", "time": at(0),
                "data": {"entity": entity, "project": project, "run_id": format!("run-{id}"), "run_name": "train-1",
                         "user": "ana", "state": state, "previous_state": "running"}})
        .to_string(),
    )
}

#[test]
fn run_state_killed_never_fires_and_failed_covers_failed_and_crashed() {
    let states = |id: &str, states: Value| {
        automation(
            id,
            json!({"name": id, "scope": {"type": "project", "entity": "acme", "project": "mnist"},
                   "event": {"type": "RUN_STATE", "states": states}, "action": {"type": "none"}}),
        )
    };
    let engine = Engine::new([
        states("failed", json!(["failed", "crashed"])),
        states("any", json!(["pending", "running", "finished", "failed", "crashed"])),
    ]);
    let store = MemoryStore::new();
    let envs = [
        run_state("s1", "acme", "mnist", "killed"),
        run_state("s2", "acme", "mnist", "failed"),
        run_state("s3", "acme", "mnist", "crashed"),
        run_state("s4", "acme", "mnist", "finished"),
    ];
    let fires = process(&engine, &store, &envs).fires;
    let got: Vec<(&str, &str)> = fires.iter().map(|f| (f.automation_id.as_str(), f.event_id.as_str())).collect();
    assert_eq!(got, [("failed", "s2"), ("any", "s2"), ("failed", "s3"), ("any", "s3"), ("any", "s4")]);
}

#[test]
fn fire_ids_are_deterministic_across_fresh_stores() {
    let automations = [
        threshold("t", json!({"name": "loss", "cmp": "$gt", "threshold": 0})),
        automation(
            "alias",
            json!({"name": "alias", "scope": {"type": "project", "entity": "acme", "project": "mnist"},
                   "event": {"type": "ADD_ARTIFACT_ALIAS"}, "action": {"type": "none"}}),
        ),
        automation(
            "state",
            json!({"name": "state", "scope": {"type": "entity", "entity": "acme"},
                   "event": {"type": "RUN_STATE", "states": ["failed"]}, "action": {"type": "none"}}),
        ),
    ];
    let envs = || {
        vec![
            metrics("m1", 0, &loss_rows(&[(1, 0, 1.0)])),
            alias("a1", "tracker", 1, "production"),
            run_state("s1", "acme", "mnist", "failed"),
            metrics_for(&Run { id: "r2", ..R1 }, "m2", 0, &loss_rows(&[(1, 0, 1.0)])),
        ]
    };
    let ids = || {
        let engine = Engine::new(automations.clone());
        let store = MemoryStore::new();
        process(&engine, &store, &envs()).fires.into_iter().map(|f| f.id).collect::<Vec<_>>()
    };
    let first = ids();
    assert_eq!(first.len(), 4);
    assert_eq!(first, ids());
    let mut distinct = first.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), first.len(), "{first:?}");
    // The id does not depend on how events are batched.
    let engine = Engine::new(automations.clone());
    let store = MemoryStore::new();
    let one_by_one: Vec<String> =
        process_each(&engine, &store, &envs()).into_iter().map(|f| f.id.into_string()).collect();
    assert_eq!(one_by_one, first);
}

#[test]
fn a_metric_run_filter_sees_the_state_running() {
    let by_state = |id: &str, state: &str| {
        metric_automation(
            id,
            json!({"type": "RUN_METRIC_THRESHOLD", "run_filter": {"state": state},
                   "metric": {"name": "loss", "cmp": "$gt", "threshold": 0}}),
        )
    };
    let engine = Engine::new([by_state("running", "running"), by_state("finished", "finished")]);
    let fires = process_each(&engine, &MemoryStore::new(), &loss_series(1, &[1.0]));
    assert_eq!(who(&fires), pairs(&[("running", "r1")]));
}

#[test]
fn a_larger_window_added_later_refills_from_the_values_kept() {
    // Windows keep only as many values as the largest reader needs (issue 2): after 5 values
    // with a window of 3 watched, 3 are kept, so a window of 5 added later is full after two
    // more values, not one, and reads the kept values first.
    let small =
        threshold("small", json!({"name": "loss", "agg": "AVERAGE", "window": 3, "cmp": "$gt", "threshold": 100}));
    let store = MemoryStore::new();
    assert!(
        process_each(&Engine::new([small.clone()]), &store, &loss_series(1, &[1.0, 2.0, 3.0, 4.0, 5.0])).is_empty()
    );
    let wide =
        threshold("wide", json!({"name": "loss", "agg": "AVERAGE", "window": 5, "cmp": "$gte", "threshold": -100}));
    let engine = Engine::new([small, wide]);
    assert!(process_each(&engine, &store, &loss_series(6, &[6.0])).is_empty(), "4 values kept: not full yet");
    let fires = process_each(&engine, &store, &loss_series(7, &[7.0]));
    assert_eq!(steps_values(&fires), vec![(7, vec![3.0, 4.0, 5.0, 6.0, 7.0])]);
}

#[test]
fn a_backdated_row_stays_inside_a_long_cooldown() {
    let engine = Engine::new([metric_automation(
        "month",
        json!({"type": "RUN_METRIC_THRESHOLD", "cooldown": "30d", "metric": {"name": "loss", "cmp": "$gt", "threshold": 0}}),
    )]);
    let store = MemoryStore::new();
    let fires = process(&engine, &store, &[metrics("e1", 0, &loss_rows(&[(1, 0, 1.0)]))]).fires;
    assert_eq!(fires.len(), 1);
    // Values below the threshold 20 and 40 days later (the run is never idle for 30 days, so its
    // record lives on), then a row dated 2 days after the fire (a backfill): 2 days is inside
    // the 30-day cooldown, however late the envelope carrying it.
    let later = 40 * DAY;
    assert!(process(&engine, &store, &[metrics("e2", 20 * DAY, &loss_rows(&[(2, 20 * DAY, -1.0)]))]).fires.is_empty());
    assert!(process(&engine, &store, &[metrics("e2b", later, &loss_rows(&[(3, later, -1.0)]))]).fires.is_empty());
    let fires = process(&engine, &store, &[metrics("e3", later, &loss_rows(&[(4, 2 * DAY, 1.0)]))]).fires;
    assert!(
        fires.is_empty(),
        "fired {:?} at {} though the last fire was at {}",
        steps_values(&fires),
        fires[0].time,
        at(0)
    );
}
