//! Property tests: the incremental engine, run through [`Ingest::process`] on a [`MemoryStore`],
//! fires exactly what a naive recomputation of SPEC sections 5 and 6 over the full history of
//! every (run, metric) fires, whatever the stream looks like (duplicate and out-of-order steps,
//! nulls, non-finite values, row times going backwards, rows without a time, redelivered
//! envelopes) and however it is cut into batches.
//!
//! Values are multiples of 0.25 in [-4, 4], so every partial sum is exact and the naive model and
//! the engine agree bit for bit without sharing code. A second flavour of stream ("rough") takes
//! arbitrary floats and longer windows: the engine's running aggregates are then not exact, and
//! its fires must still be the model's, bit for bit (the engine settles every condition that may
//! hold with the same left-to-right fold as the model).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_core::engine::Engine;
use automations_core::event::{Envelope, parse_envelope};
use automations_core::fire::{Fire, Subject};
use automations_core::ingest::{Ingest, IngestClock};
use automations_core::model::Automation;
use automations_core::store::{MemoryStore, ready_now};
use automations_core::time::{DAY, Timestamp};
use proptest::prelude::*;
use serde_json::{Value, json};
use std::collections::HashMap;

/// The metric names a stream may log (a system metric is a metric like any other).
const METRICS: [&str; 2] = ["loss", "system/cpu"];
/// Where a run may live: (entity, project). Automations are all in entity `acme`, scoped to
/// project `p1` or to the whole entity.
const PLACES: [(&str, &str); 3] = [("acme", "p1"), ("acme", "p2"), ("zeta", "p1")];
/// 2026-11-01T00:00:00Z.
const BASE: i64 = 1_793_491_200_000;
/// The pipeline's "now": after every event of a stream, well inside every retention period.
const NOW: Timestamp = Timestamp(BASE + 2 * DAY);

// ---------------------------------------------------------------------------------------------
// The scenario: automations and a stream of envelopes, generated raw and then built.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum Agg {
    Max,
    Min,
    Average,
}

#[derive(Debug, Clone, Copy)]
enum Dir {
    Increase,
    Decrease,
    Any,
}

#[derive(Debug, Clone, Copy)]
enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
    Ne,
}

#[derive(Debug, Clone)]
enum Cond {
    Threshold { agg: Option<Agg>, window: usize, cmp: Cmp, threshold: f64 },
    Change { agg: Option<Agg>, current: usize, prior: usize, relative: bool, dir: Dir, amount: f64 },
    ZScore { window: usize, threshold: f64, dir: Dir },
}

#[derive(Debug, Clone)]
struct AutoSpec {
    /// Index into [`METRICS`] (reduced modulo the number of metrics of the scenario).
    metric: usize,
    cond: Cond,
    cooldown_secs: i64,
    /// Write the cooldown as `"90s"` rather than `90`.
    cooldown_as_text: bool,
    /// Entity scope (`acme`) rather than project scope (`acme`/`p1`).
    entity_scope: bool,
    /// A run filter that keeps runs whose display name starts with `alpha`.
    alpha_only: bool,
    enabled: bool,
}

#[derive(Debug, Clone, Copy)]
enum RawVal {
    Null,
    /// A multiple of 0.25: the value is `k / 4`.
    Num(i32),
    /// Any finite float (rough streams).
    Float(f64),
    NaN,
    Inf,
    NegInf,
}

#[derive(Debug, Clone)]
struct RawRow {
    /// Added to the run's last step (clamped at 0): mostly +1, sometimes 0 or negative.
    dstep: i64,
    /// Seconds the stream's clock moves before this row: mostly forward, sometimes back.
    dt: i64,
    /// Whether the row carries its own `time` (else the envelope's applies).
    timed: bool,
    /// Per metric: absent, or a value (which may be `null`).
    vals: [Option<RawVal>; 2],
    /// Write the metrics in reverse order in the row's `values` object.
    reverse: bool,
    /// Write non-finite values bare (`NaN`) rather than as strings (`"NaN"`).
    bare: bool,
}

#[derive(Debug, Clone)]
enum Item {
    Env {
        run: usize,
        dt: i64,
        rows: Vec<RawRow>,
    },
    /// Send an earlier envelope again, byte for byte (same source and id).
    Redeliver(usize),
}

#[derive(Debug, Clone)]
struct Scenario {
    /// Per run: index into [`PLACES`], and whether its display name starts with `alpha`.
    runs: Vec<(usize, bool)>,
    metrics: usize,
    autos: Vec<AutoSpec>,
    items: Vec<Item>,
    /// Batch boundaries (positions reduced modulo the stream's length + 1).
    cuts: Vec<usize>,
    cuts2: Vec<usize>,
}

fn agg_s() -> impl Strategy<Value = Option<Agg>> {
    prop_oneof![Just(None), Just(Some(Agg::Max)), Just(Some(Agg::Min)), Just(Some(Agg::Average))]
}

fn dir_s() -> impl Strategy<Value = Dir> {
    prop_oneof![Just(Dir::Increase), Just(Dir::Decrease), Just(Dir::Any)]
}

fn cmp_s() -> impl Strategy<Value = Cmp> {
    prop_oneof![Just(Cmp::Gt), Just(Cmp::Gte), Just(Cmp::Lt), Just(Cmp::Lte), Just(Cmp::Eq), Just(Cmp::Ne)]
}

/// `k / 4` for `k` in `lo..=hi`.
fn quarter(lo: i32, hi: i32) -> impl Strategy<Value = f64> {
    (lo..=hi).prop_map(|k| f64::from(k) / 4.0)
}

fn cond_s(rough: bool) -> impl Strategy<Value = Cond> {
    let w = if rough { 12 } else { 6 };
    let cw = if rough { 8 } else { 3 };
    prop_oneof![
        (agg_s(), 1usize..=w, cmp_s(), quarter(-8, 8)).prop_map(|(agg, window, cmp, threshold)| Cond::Threshold {
            agg,
            window,
            cmp,
            threshold
        }),
        (agg_s(), 1usize..=cw, 1usize..=cw, any::<bool>(), dir_s(), quarter(1, 8)).prop_map(
            |(agg, current, prior, relative, dir, amount)| Cond::Change { agg, current, prior, relative, dir, amount }
        ),
        (1usize..=w, quarter(2, 8), dir_s()).prop_map(|(window, threshold, dir)| Cond::ZScore {
            window,
            threshold,
            dir
        }),
    ]
}

fn auto_s(rough: bool) -> impl Strategy<Value = AutoSpec> {
    (
        0usize..2,
        cond_s(rough),
        2i64..=10,
        any::<bool>(),
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.9),
    )
        .prop_map(|(metric, cond, half_minutes, cooldown_as_text, entity_scope, alpha_only, enabled)| AutoSpec {
            metric,
            cond,
            cooldown_secs: half_minutes * 30,
            cooldown_as_text,
            entity_scope,
            alpha_only,
            enabled,
        })
}

fn raw_val_s(rough: bool) -> impl Strategy<Value = RawVal> {
    // Rough: arbitrary floats around 0, around 1e6 with tiny noise, and a constant that may
    // repeat long enough to fill a window with equal values.
    let float = prop_oneof![
        6 => -4.0f64..4.0,
        2 => (-1.0f64..1.0).prop_map(|x| 1e6 + x * 1e-4),
        3 => Just(0.1),
    ]
    .prop_map(RawVal::Float);
    let num = (-16i32..=16).prop_map(RawVal::Num);
    let finite = if rough { float.boxed() } else { num.boxed() };
    prop_oneof![
        1 => Just(RawVal::Null),
        14 => finite,
        1 => Just(RawVal::NaN),
        1 => Just(RawVal::Inf),
        1 => Just(RawVal::NegInf),
    ]
}

fn row_s(rough: bool) -> impl Strategy<Value = RawRow> {
    let dstep = prop_oneof![10 => Just(1i64), 2 => 2i64..=4, 2 => Just(0i64), 2 => -4i64..=-1];
    // Mostly whole quarter minutes, so that a row lands exactly on a cooldown's end now and then.
    let dt = prop_oneof![
        8 => (1i64..=6).prop_map(|k| 15 * k),
        3 => 1i64..=90,
        2 => (-10i64..=-1).prop_map(|k| 15 * k),
        1 => -150i64..=-1,
        1 => Just(0i64),
    ];
    let val = || prop::option::weighted(0.85, raw_val_s(rough));
    (dstep, dt, prop::bool::weighted(0.8), val(), val(), any::<bool>(), any::<bool>())
        .prop_map(|(dstep, dt, timed, a, b, reverse, bare)| RawRow { dstep, dt, timed, vals: [a, b], reverse, bare })
}

fn item_s(rough: bool) -> impl Strategy<Value = Item> {
    prop_oneof![
        8 => (0usize..3, (-2i64..=4).prop_map(|k| 15 * k), prop::collection::vec(row_s(rough), 0..=5))
            .prop_map(|(run, dt, rows)| Item::Env { run, dt, rows }),
        1 => any::<usize>().prop_map(Item::Redeliver),
    ]
}

/// A scenario; `rough` streams carry arbitrary floats, longer windows and longer streams.
fn scenario_s(rough: bool) -> impl Strategy<Value = Scenario> {
    (
        prop::collection::vec((0usize..PLACES.len(), any::<bool>()), 1..=3),
        1usize..=2,
        prop::collection::vec(auto_s(rough), 1..=5),
        prop::collection::vec(item_s(rough), 1..=if rough { 60 } else { 24 }),
        prop::collection::vec(any::<usize>(), 0..6),
        prop::collection::vec(any::<usize>(), 0..6),
    )
        .prop_map(|(runs, metrics, autos, items, cuts, cuts2)| Scenario {
            runs,
            metrics,
            autos,
            items,
            cuts,
            cuts2,
        })
}

// ---------------------------------------------------------------------------------------------
// Building the scenario: automation documents, envelope texts, and the model's view of both.
// ---------------------------------------------------------------------------------------------

struct Run {
    id: String,
    entity: &'static str,
    project: &'static str,
    name: String,
}

/// A row as the model sees it: values in the order they were written, nulls left out.
#[derive(Debug, Clone)]
struct Row {
    step: i64,
    time: Option<i64>,
    values: Vec<(usize, f64)>,
}

/// An envelope: its text (what the engine parses) and the model's view of it.
#[derive(Debug, Clone)]
struct Env {
    text: String,
    run: usize,
    time: i64,
    rows: Vec<Row>,
}

struct Built {
    runs: Vec<Run>,
    autos: Vec<AutoSpec>,
    automations: Vec<Automation>,
    envs: Vec<Env>,
}

fn agg_doc(agg: Option<Agg>) -> Value {
    match agg {
        None => Value::Null,
        Some(Agg::Max) => json!("MAX"),
        Some(Agg::Min) => json!("MIN"),
        Some(Agg::Average) => json!("AVERAGE"),
    }
}

fn dir_doc(dir: Dir) -> &'static str {
    match dir {
        Dir::Increase => "INCREASE",
        Dir::Decrease => "DECREASE",
        Dir::Any => "ANY",
    }
}

fn cmp_doc(cmp: Cmp) -> &'static str {
    match cmp {
        Cmp::Gt => "$gt",
        Cmp::Gte => "$gte",
        Cmp::Lt => "$lt",
        Cmp::Lte => "$lte",
        Cmp::Eq => "$eq",
        Cmp::Ne => "$ne",
    }
}

/// The automation's create document (docs/automation.md).
fn automation_doc(i: usize, a: &AutoSpec, metric: &str) -> Value {
    let (kind, condition) = match &a.cond {
        // With no aggregation the window fields are ignored (1): they are sent anyway.
        Cond::Threshold { agg, window, cmp, threshold } => (
            "RUN_METRIC_THRESHOLD",
            json!({"name": metric, "agg": agg_doc(*agg), "window": window, "cmp": cmp_doc(*cmp), "threshold": threshold}),
        ),
        Cond::Change { agg, current, prior, relative, dir, amount } => (
            "RUN_METRIC_CHANGE",
            json!({
                "name": metric, "agg": agg_doc(*agg), "current_window": current, "prior_window": prior,
                "change_type": if *relative { "RELATIVE" } else { "ABSOLUTE" },
                "change_dir": dir_doc(*dir), "amount": amount,
            }),
        ),
        Cond::ZScore { window, threshold, dir } => (
            "RUN_METRIC_ZSCORE",
            json!({"name": metric, "window": window, "threshold": threshold, "change_dir": dir_doc(*dir)}),
        ),
    };
    let mut event = json!({"type": kind, "metric": condition});
    event["cooldown"] =
        if a.cooldown_as_text { json!(format!("{}s", a.cooldown_secs)) } else { json!(a.cooldown_secs) };
    if a.alpha_only {
        event["run_filter"] = json!({"display_name": {"$regex": "^alpha"}});
    }
    let scope = if a.entity_scope {
        json!({"type": "entity", "entity": "acme"})
    } else {
        json!({"type": "project", "entity": "acme", "project": "p1"})
    };
    json!({"name": format!("auto-{i}"), "enabled": a.enabled, "scope": scope, "event": event, "action": {"type": "none"}})
}

fn value_text(v: RawVal, bare: bool) -> (String, Option<f64>) {
    let non_finite = |token: &str, x: f64| {
        let text = if bare { token.to_string() } else { format!("\"{token}\"") };
        (text, Some(x))
    };
    match v {
        RawVal::Null => ("null".into(), None),
        RawVal::Float(x) => (format!("{x}"), Some(x)),
        RawVal::Num(k) => {
            let x = f64::from(k) / 4.0;
            (format!("{x}"), Some(x))
        }
        RawVal::NaN => non_finite("NaN", f64::NAN),
        RawVal::Inf => non_finite("Infinity", f64::INFINITY),
        RawVal::NegInf => non_finite("-Infinity", f64::NEG_INFINITY),
    }
}

fn build(s: &Scenario) -> Built {
    let runs: Vec<Run> = s
        .runs
        .iter()
        .enumerate()
        .map(|(i, &(place, alpha))| Run {
            id: format!("r{i}"),
            entity: PLACES[place].0,
            project: PLACES[place].1,
            name: format!("{}-{i}", if alpha { "alpha" } else { "beta" }),
        })
        .collect();
    let autos: Vec<AutoSpec> = s.autos.iter().map(|a| AutoSpec { metric: a.metric % s.metrics, ..a.clone() }).collect();
    let automations = autos
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let doc = automation_doc(i, a, METRICS[a.metric]);
            Automation::from_create(format!("a{i}"), &doc).unwrap_or_else(|e| panic!("{doc}: {e}"))
        })
        .collect();

    let mut clock = BASE;
    let mut last_step = vec![0i64; runs.len()];
    let mut sent: Vec<Env> = Vec::new();
    let mut envs: Vec<Env> = Vec::new();
    for item in &s.items {
        let raw_rows = match item {
            Item::Redeliver(k) => {
                if !sent.is_empty() {
                    envs.push(sent[k % sent.len()].clone());
                }
                continue;
            }
            Item::Env { run, dt, rows } => {
                clock += dt * 1000;
                (run % runs.len(), clock, rows)
            }
        };
        let (run, env_time, raw) = raw_rows;
        let mut rows = Vec::new();
        let mut rows_text = Vec::new();
        for r in raw {
            let step = (last_step[run] + r.dstep).max(0);
            last_step[run] = step;
            clock += r.dt * 1000;
            let time = r.timed.then_some(clock);
            let mut order: Vec<usize> = (0..s.metrics).collect();
            if r.reverse {
                order.reverse();
            }
            let mut values = Vec::new();
            let mut values_text = Vec::new();
            for m in order {
                let Some(v) = r.vals[m] else { continue };
                let (text, x) = value_text(v, r.bare);
                values_text.push(format!("{}:{text}", json!(METRICS[m])));
                if let Some(x) = x {
                    values.push((m, x));
                }
            }
            let mut fields = vec![format!("\"step\":{step}")];
            if let Some(t) = time {
                fields.push(format!("\"time\":\"{}\"", Timestamp(t)));
            }
            fields.push(format!("\"values\":{{{}}}", values_text.join(",")));
            rows_text.push(format!("{{{}}}", fields.join(",")));
            rows.push(Row { step, time, values });
        }
        let n = sent.len();
        let source = if n.is_multiple_of(3) { "sdk" } else { "tracker" };
        let r = &runs[run];
        let data = format!(
            r#"{{"entity":{},"project":{},"run_id":{},"run_name":{},"user":"ana","tags":[],"config":{{}},"rows":[{}]}}"#,
            json!(r.entity),
            json!(r.project),
            json!(r.id),
            json!(r.name),
            rows_text.join(",")
        );
        let text = format!(
            r#"{{"specversion":"1.0","id":"evt-{n}","source":"{source}","type":"run.metrics.logged","time":"{}","data":{data}}}"#,
            Timestamp(env_time)
        );
        let env = Env { text, run, time: env_time, rows };
        sent.push(env.clone());
        envs.push(env);
    }
    Built { runs, autos, automations, envs }
}

// ---------------------------------------------------------------------------------------------
// The naive model: full histories, every condition recomputed from scratch after every value.
// ---------------------------------------------------------------------------------------------

/// What a fire is about, in the terms both sides can produce.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    automation: String,
    run: String,
    metric: String,
    step: i64,
    values: Vec<f64>,
    time: i64,
}

fn aggregate(agg: Option<Agg>, xs: &[f64]) -> f64 {
    match agg {
        None => xs[xs.len() - 1],
        Some(Agg::Max) => xs.iter().fold(f64::NEG_INFINITY, |m, &x| if x > m { x } else { m }),
        Some(Agg::Min) => xs.iter().fold(f64::INFINITY, |m, &x| if x < m { x } else { m }),
        Some(Agg::Average) => xs.iter().fold(0.0, |s, &x| s + x) / xs.len() as f64,
    }
}

fn directed(dir: Dir, d: f64, amount: f64) -> bool {
    match dir {
        Dir::Increase => d >= amount,
        Dir::Decrease => -d >= amount,
        Dir::Any => d.abs() >= amount,
    }
}

/// How many of the latest values the condition reads (with no aggregation, windows are 1).
fn needed(c: &Cond) -> usize {
    match *c {
        Cond::Threshold { agg: None, .. } => 1,
        Cond::Threshold { window, .. } => window,
        Cond::Change { agg: None, .. } => 2,
        Cond::Change { current, prior, .. } => current + prior,
        Cond::ZScore { window, .. } => window + 1,
    }
}

/// Does the condition hold over the full history `h` (oldest first) right after its last value?
fn holds(c: &Cond, h: &[f64]) -> bool {
    let n = needed(c);
    if h.len() < n {
        return false;
    }
    match *c {
        Cond::Threshold { agg, cmp, threshold, .. } => {
            let v = aggregate(agg, &h[h.len() - n..]);
            match cmp {
                Cmp::Gt => v > threshold,
                Cmp::Gte => v >= threshold,
                Cmp::Lt => v < threshold,
                Cmp::Lte => v <= threshold,
                Cmp::Eq => v == threshold,
                Cmp::Ne => v != threshold,
            }
        }
        Cond::Change { agg, relative, dir, amount, .. } => {
            let (cur_w, prior_w) = match *c {
                Cond::Change { agg: None, .. } => (1, 1),
                Cond::Change { current, prior, .. } => (current, prior),
                _ => unreachable!(),
            };
            let end = h.len();
            let cur = aggregate(agg, &h[end - cur_w..end]);
            let prior = aggregate(agg, &h[end - cur_w - prior_w..end - cur_w]);
            let d = if relative {
                if prior == 0.0 {
                    return false;
                }
                (cur - prior) / prior.abs()
            } else {
                cur - prior
            };
            directed(dir, d, amount)
        }
        Cond::ZScore { window, threshold, dir } => {
            let before = &h[h.len() - 1 - window..h.len() - 1];
            let v = h[h.len() - 1];
            if before.iter().all(|&x| x == before[0]) {
                return false;
            }
            let k = before.len() as f64;
            let mean = before.iter().fold(0.0, |s, &x| s + x) / k;
            let var = before.iter().fold(0.0, |s, &x| s + (x - mean) * (x - mean)) / k;
            let sd = var.sqrt();
            if sd == 0.0 {
                return false;
            }
            directed(dir, (v - mean) / sd, threshold)
        }
    }
}

fn model(b: &Built) -> Vec<Seen> {
    // (run, metric) → (taken values, last step taken).
    let mut history: HashMap<(usize, usize), (Vec<f64>, Option<i64>)> = HashMap::new();
    // (automation, run) → time of its last fire.
    let mut last_fire: HashMap<(usize, usize), i64> = HashMap::new();
    let mut out = Vec::new();
    for env in &b.envs {
        let run = &b.runs[env.run];
        for row in &env.rows {
            let t = row.time.unwrap_or(env.time);
            for &(m, x) in &row.values {
                let (h, last_step) = history.entry((env.run, m)).or_default();
                if !x.is_finite() || last_step.is_some_and(|s| row.step <= s) {
                    continue;
                }
                h.push(x);
                *last_step = Some(row.step);
                for (ai, a) in b.autos.iter().enumerate() {
                    let in_scope = run.entity == "acme" && (a.entity_scope || run.project == "p1");
                    let filtered_in = !a.alpha_only || run.name.starts_with("alpha");
                    if !a.enabled || a.metric != m || !in_scope || !filtered_in || !holds(&a.cond, h) {
                        continue;
                    }
                    if last_fire.get(&(ai, env.run)).is_some_and(|&l| t - l < a.cooldown_secs * 1000) {
                        continue;
                    }
                    last_fire.insert((ai, env.run), t);
                    out.push(Seen {
                        automation: format!("a{ai}"),
                        run: run.id.clone(),
                        metric: METRICS[m].to_string(),
                        step: row.step,
                        values: h[h.len() - needed(&a.cond)..].to_vec(),
                        time: t,
                    });
                }
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The engine side.
// ---------------------------------------------------------------------------------------------

fn parse_all(b: &Built) -> Vec<Envelope> {
    b.envs.iter().map(|e| parse_envelope(&e.text).unwrap_or_else(|r| panic!("{}: {r}", e.text))).collect()
}

/// Cut `envs` at the given positions (each reduced modulo `len + 1`).
fn split<'a>(envs: &'a [Envelope], cuts: &[usize]) -> Vec<&'a [Envelope]> {
    let mut at: Vec<usize> = cuts.iter().map(|c| c % (envs.len() + 1)).collect();
    at.push(0);
    at.push(envs.len());
    at.sort_unstable();
    at.dedup();
    at.windows(2).map(|w| &envs[w[0]..w[1]]).collect()
}

/// Process the batches in order on `store`; with `rebuild`, a fresh engine for every batch (as a
/// new process would).
fn process(automations: &[Automation], batches: &[&[Envelope]], store: &MemoryStore, rebuild: bool) -> Vec<Fire> {
    let mut engine = Engine::new(automations.to_vec());
    let mut fires = Vec::new();
    for batch in batches {
        if rebuild {
            engine = Engine::new(automations.to_vec());
        }
        let out = ready_now(Ingest { engine: &engine, store }.process(batch, IngestClock::Arrival(NOW)))
            .expect("memory store never fails");
        fires.extend(out.fires);
    }
    fires
}

fn seen(f: &Fire) -> Seen {
    let Subject::Metric { run, metric, step, values, .. } = &f.subject else { panic!("not a metric fire: {f:?}") };
    Seen {
        automation: f.automation_id.to_string(),
        run: run.key.run_id.clone(),
        metric: metric.clone(),
        step: *step,
        values: values.clone(),
        time: f.time.0,
    }
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    /// The fires, in order, are the naive model's.
    #[test]
    fn incremental_engine_matches_naive_recomputation(s in scenario_s(false)) {
        let b = build(&s);
        let envs = parse_all(&b);
        let store = MemoryStore::new();
        let fires = process(&b.automations, &split(&envs, &s.cuts), &store, false);
        let got: Vec<Seen> = fires.iter().map(seen).collect();
        prop_assert_eq!(&got, &model(&b));
        let recorded: Vec<Seen> = store.fires().iter().map(seen).collect();
        prop_assert_eq!(recorded, got);
    }

    /// The same on rough streams: arbitrary floats, where running aggregates are not exact.
    #[test]
    fn incremental_engine_matches_naive_recomputation_on_rough_values(s in scenario_s(true)) {
        let b = build(&s);
        let envs = parse_all(&b);
        let store = MemoryStore::new();
        let fires = process(&b.automations, &split(&envs, &s.cuts), &store, true);
        let got: Vec<Seen> = fires.iter().map(seen).collect();
        prop_assert_eq!(&got, &model(&b));
    }

    /// Processing the whole stream again (a full redelivery) fires nothing new.
    #[test]
    fn full_redelivery_fires_nothing_new(s in scenario_s(false)) {
        let b = build(&s);
        let envs = parse_all(&b);
        let store = MemoryStore::new();
        let batches = split(&envs, &s.cuts);
        let first = process(&b.automations, &batches, &store, false);
        let again = process(&b.automations, &batches, &store, true);
        prop_assert!(again.is_empty(), "redelivery fired {:?}", again.iter().map(seen).collect::<Vec<_>>());
        prop_assert_eq!(store.fires().len(), first.len());
    }

    /// Where the batch boundaries fall changes nothing, ids included, even with the engine
    /// rebuilt for every batch.
    #[test]
    fn batch_boundaries_do_not_matter(s in scenario_s(false)) {
        let b = build(&s);
        let envs = parse_all(&b);
        let one = process(&b.automations, &split(&envs, &s.cuts), &MemoryStore::new(), false);
        let other = process(&b.automations, &split(&envs, &s.cuts2), &MemoryStore::new(), true);
        let whole = process(&b.automations, &[&envs[..]], &MemoryStore::new(), false);
        let ids = |fs: &[Fire]| fs.iter().map(|f| (f.id.clone(), seen(f))).collect::<Vec<_>>();
        prop_assert_eq!(ids(&one), ids(&other));
        prop_assert_eq!(ids(&one), ids(&whole));
    }
}

/// The generator is not vacuous: over a fixed sample of scenarios, every kind of condition fires
/// and non-finite values, duplicate steps, redeliveries and cooldown suppressions all occur.
#[test]
fn generated_streams_exercise_every_rule() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]));
    let (mut kinds, mut non_finite, mut dup_steps, mut redelivered, mut suppressed) = ([0usize; 3], 0, 0, 0, 0);
    for _ in 0..200 {
        let s = scenario_s(false).new_tree(&mut runner).unwrap().current();
        let b = build(&s);
        for f in model(&b) {
            let i: usize = f.automation[1..].parse().unwrap();
            kinds[match b.autos[i].cond {
                Cond::Threshold { .. } => 0,
                Cond::Change { .. } => 1,
                Cond::ZScore { .. } => 2,
            }] += 1;
        }
        let mut texts = std::collections::HashSet::new();
        for e in &b.envs {
            redelivered += usize::from(!texts.insert(e.text.clone()));
            non_finite += e.rows.iter().flat_map(|r| &r.values).filter(|(_, x)| !x.is_finite()).count();
        }
        let mut last: HashMap<usize, i64> = HashMap::new();
        for e in &b.envs {
            for r in &e.rows {
                dup_steps += usize::from(last.get(&e.run).is_some_and(|&s| r.step <= s));
                last.insert(e.run, r.step);
            }
        }
        // Cooldown suppressions: the model with every cooldown at its minimum fires more.
        let mut quick = Built {
            runs: b
                .runs
                .iter()
                .map(|r| Run { id: r.id.clone(), entity: r.entity, project: r.project, name: r.name.clone() })
                .collect(),
            autos: b.autos.clone(),
            automations: Vec::new(),
            envs: b.envs.clone(),
        };
        for a in &mut quick.autos {
            a.cooldown_secs = -1_000_000_000;
        }
        suppressed += model(&quick).len() - model(&b).len();
    }
    assert!(kinds.iter().all(|&k| k > 20), "fires per kind (threshold, change, zscore): {kinds:?}");
    assert!(
        non_finite > 50 && dup_steps > 50 && redelivered > 20 && suppressed > 50,
        "{non_finite} {dup_steps} {redelivered} {suppressed}"
    );
}
