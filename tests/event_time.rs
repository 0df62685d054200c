//! Time, defined once: the fires of a file do not depend on how it is cut into batches.
//!
//! Random files spanning more than 90 days of event time (slow runs, bursts, gaps of days and
//! of more than the 30 days a run is remembered, steps that restart, envelopes that arrive late,
//! redeliveries months later) are evaluated by the one ingest service on its event-time clock
//! whole, in batches of 1, 7 and 1,024, and by the `replay` binary from a file and from standard
//! input: the same fires every time. On the arrival clock (live), the same batches through
//! `POST /v1/events` on SQLite, cut anywhere, give the same fires too. And what a run idle for
//! more than 30 days forgets is exactly its windows, its steps and its cooldowns.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_api::{Api, LocalSink, NoDelivery, auth};
use automations_core::engine::Engine;
use automations_core::event::{Envelope, parse_envelope};
use automations_core::fire::Fire;
use automations_core::ingest::{Ingest, IngestClock};
use automations_core::model::Automation;
use automations_core::store::{ApiKeyStore, MemoryStore, ready_now};
use automations_core::time::{DAY, FixedClock, HOUR, MINUTE, SECOND, Timestamp};
use automations_core::{AutomationId, EntityId};
use automations_sqlite::SqliteStore;
use axum::body::Body;
use axum::http::Request;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use tower::ServiceExt;

/// 2026-01-01T00:00:00Z.
const BASE: i64 = 1_767_225_600_000;

fn automations() -> Vec<Value> {
    let scope = json!({"type": "project", "entity": "acme", "project": "p1"});
    let none = json!({"type": "none"});
    vec![
        json!({"name": "avg-high", "scope": scope, "action": none, "event": {"type": "RUN_METRIC_THRESHOLD", "cooldown": "1h",
               "metric": {"name": "loss", "agg": "AVERAGE", "window": 3, "cmp": "$gt", "threshold": 0.5}}}),
        json!({"name": "turned-up", "scope": scope, "action": none, "event": {"type": "RUN_METRIC_CHANGE", "cooldown": "2d",
               "metric": {"name": "loss", "agg": "MIN", "current_window": 2, "prior_window": 3,
                          "change_type": "ABSOLUTE", "change_dir": "INCREASE", "amount": 0.5}}}),
        json!({"name": "spike", "scope": scope, "action": none, "event": {"type": "RUN_METRIC_ZSCORE", "cooldown": "1m",
               "metric": {"name": "loss", "window": 4, "threshold": 1.5, "change_dir": "ANY"}}}),
        json!({"name": "month-quiet", "scope": scope, "action": none, "event": {"type": "RUN_METRIC_THRESHOLD", "cooldown": "30d",
               "metric": {"name": "loss", "cmp": "$gt", "threshold": 1.5}}}),
        json!({"name": "to-prod", "scope": scope, "action": none, "event": {"type": "ADD_ARTIFACT_ALIAS",
               "filter": {"alias": {"$regex": "^prod"}}}}),
        json!({"name": "ended", "scope": scope, "action": none, "event": {"type": "RUN_STATE", "states": ["finished", "failed"]}}),
    ]
}

fn engine() -> Engine {
    Engine::new(automations().iter().map(|d| Automation::from_create(d["name"].as_str().unwrap(), d).unwrap()))
}

// ---------------------------------------------------------------------------------------------
// Long files.
// ---------------------------------------------------------------------------------------------

/// Gaps between a run's sessions, in seconds: minutes to more than the 30 days it is remembered.
const GAPS: [i64; 9] =
    [60, 3_600, 86_400, 10 * 86_400, 29 * 86_400, 30 * 86_400 - 1, 30 * 86_400 + 1, 31 * 86_400, 45 * 86_400];

#[derive(Debug, Clone)]
struct Session {
    gap: usize,
    /// Seconds between envelopes: a burst (1) or a slow run (minutes to hours).
    every: i64,
    /// Each envelope's values, as multiples of 0.25.
    envelopes: Vec<Vec<i8>>,
    /// The steps start again from 0 (a run resumed from scratch under the same id).
    restart: bool,
    /// The session ends with a state change.
    ends: Option<bool>,
}

#[derive(Debug, Clone)]
struct Plan {
    runs: Vec<Vec<Session>>,
    /// Artifact alias events: (day, alias index, redelivered this many days later).
    aliases: Vec<(i64, usize, Option<i64>)>,
    /// Envelope indexes moved a few places later (late arrivals).
    late: Vec<(usize, usize)>,
}

fn session() -> impl Strategy<Value = Session> {
    (
        0..GAPS.len(),
        prop_oneof![Just(1i64), Just(60), Just(3_600), Just(6 * 3_600)],
        prop::collection::vec(prop::collection::vec(-4i8..=8, 1..4), 1..8),
        prop::bool::weighted(0.3),
        prop_oneof![Just(None), Just(Some(true)), Just(Some(false))],
    )
        .prop_map(|(gap, every, envelopes, restart, ends)| Session { gap, every, envelopes, restart, ends })
}

fn plan() -> impl Strategy<Value = Plan> {
    (
        prop::collection::vec(prop::collection::vec(session(), 3..7), 1..4),
        prop::collection::vec((0i64..100, 0..3usize, prop::option::weighted(0.4, 1i64..45)), 0..6),
        prop::collection::vec((0..400usize, 1..4usize), 0..6),
    )
        .prop_map(|(runs, aliases, late)| Plan { runs, aliases, late })
}

fn metrics(id: &str, run: usize, t: i64, rows: &[(i64, f64)]) -> Value {
    let rows: Vec<Value> = rows.iter().map(|(s, v)| json!({"step": s, "values": {"loss": v}})).collect();
    json!({"specversion": "1.0", "id": id, "source": "trainer", "type": "run.metrics.logged",
           "time": Timestamp(t).to_string(),
           "data": {"entity": "acme", "project": "p1", "run_id": format!("r{run}"), "rows": rows}})
}

/// The envelopes of a plan, in arrival order, as JSON.
fn build(plan: &Plan) -> Vec<Value> {
    let mut timed: Vec<(i64, Value)> = Vec::new();
    for (r, sessions) in plan.runs.iter().enumerate() {
        let mut t = BASE + r as i64 * 17 * SECOND;
        let mut step = 0i64;
        let mut span = 0i64;
        let mut n = 0;
        for (i, s) in sessions.iter().enumerate() {
            let mut gap = GAPS[s.gap] * SECOND;
            // Every run spans more than 90 days of event time.
            if i == sessions.len() - 1 && span + gap < 91 * DAY {
                gap = 91 * DAY - span;
            }
            t += gap;
            span += gap;
            if s.restart {
                step = 0;
            }
            for values in &s.envelopes {
                let rows: Vec<(i64, f64)> = values
                    .iter()
                    .map(|v| {
                        step += 1;
                        (step, f64::from(*v) / 4.0)
                    })
                    .collect();
                n += 1;
                timed.push((t, metrics(&format!("m-{r}-{n}"), r, t, &rows)));
                t += s.every * SECOND;
                span += s.every * SECOND;
            }
            if let Some(finished) = s.ends {
                n += 1;
                let state = if finished { "finished" } else { "failed" };
                timed.push((
                    t,
                    json!({"specversion": "1.0", "id": format!("s-{r}-{n}"), "source": "trainer",
                    "type": "run.state.changed", "time": Timestamp(t).to_string(),
                    "data": {"entity": "acme", "project": "p1", "run_id": format!("r{r}"), "state": state}}),
                ));
            }
        }
    }
    for (i, (day, alias, again)) in plan.aliases.iter().enumerate() {
        let t = BASE + day * DAY + 5 * HOUR;
        let alias = ["production", "staging", "prod-eu"][*alias];
        let env = |t: i64| {
            json!({"specversion": "1.0", "id": format!("a-{i}"), "source": "registry", "type": "artifact.alias.added",
                   "time": Timestamp(t).to_string(),
                   "data": {"entity": "acme", "project": "p1", "collection": "model", "collection_type": "model",
                            "version": i, "alias": alias}})
        };
        timed.push((t, env(t)));
        if let Some(days) = again {
            // The same envelope (same id and time), delivered again much later.
            let mut late = env(t);
            late["time"] = Timestamp(t).to_string().into();
            timed.push((t + days * DAY, late));
        }
    }
    timed.sort_by_key(|(t, _)| *t);
    let mut out: Vec<Value> = timed.into_iter().map(|(_, v)| v).collect();
    for &(i, by) in &plan.late {
        if i + by < out.len() {
            let v = out.remove(i);
            out.insert(i + by, v);
        }
    }
    out
}

fn parse(docs: &[Value]) -> Vec<Envelope> {
    docs.iter().map(|d| parse_envelope(&d.to_string()).expect("generated envelopes are valid")).collect()
}

/// The fires of `envs` cut into batches of `size`, on the event-time clock.
fn on_event_time(engine: &Engine, envs: &[Envelope], size: usize) -> Vec<Value> {
    let store = MemoryStore::new();
    let ingest = Ingest { engine, store: &store };
    let mut clock = Timestamp::MIN;
    let mut fires = Vec::new();
    for batch in envs.chunks(size.max(1)) {
        let c = IngestClock::EventTime { floor: clock };
        fires.extend(ready_now(ingest.process(batch, c)).expect("the memory store never fails").fires);
        clock = c.after(batch);
    }
    fires.iter().map(Fire::to_value).collect()
}

fn replay_binary(docs: &[Value], stdin: bool) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let autos = dir.path().join("automations.json");
    std::fs::write(&autos, Value::Array(automations()).to_string()).unwrap();
    let text: String = docs.iter().map(|d| format!("{d}\n")).collect();
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, &text).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_automations"));
    cmd.arg("replay").arg("--automations").arg(&autos).arg("--events");
    let out = if stdin {
        let mut child = cmd.arg("-").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    } else {
        cmd.arg(&events).output().unwrap()
    };
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn fires_do_not_depend_on_batches(plan in plan()) {
        let docs = build(&plan);
        let envs = parse(&docs);
        let engine = engine();
        let one = on_event_time(&engine, &envs, 1);
        for size in [7, 1024, envs.len()] {
            prop_assert_eq!(&on_event_time(&engine, &envs, size), &one, "batches of {}", size);
        }
    }
}

fn without_ids(mut fires: Vec<Value>) -> Vec<Value> {
    for f in &mut fires {
        let o = f.as_object_mut().unwrap();
        o.remove("automation_id");
        o.remove("fire_id");
    }
    fires
}

/// The binary, from a file and from a pipe, and the in-process service agree, on a few long
/// files (each run of the binary costs a process, so fewer cases).
#[test]
fn replay_from_a_file_and_from_standard_input_gives_the_same_fires() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    for _ in 0..4 {
        let plan = plan().new_tree(&mut runner).unwrap().current();
        let docs = build(&plan);
        let want = on_event_time(&engine(), &parse(&docs), 1);
        assert!(!want.is_empty() || docs.len() < 10, "the generator makes files that fire");
        // Replay names its automations' ids by a digest of entity and name, so fire ids differ
        // from the in-process run's: everything else must be the same.
        let want = without_ids(want);
        assert_eq!(without_ids(replay_binary(&docs, false)), want);
        assert_eq!(without_ids(replay_binary(&docs, true)), want);
    }
}

// ---------------------------------------------------------------------------------------------
// Live: POST /v1/events on SQLite, on a fixed arrival clock, cut anywhere.
// ---------------------------------------------------------------------------------------------

async fn through_the_api(docs: &[Value], cuts: &[usize], now: Timestamp) -> Vec<Value> {
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let sink = Arc::new(LocalSink::new(store.clone()).await.unwrap());
    let mut api = Api::new(store.clone(), sink, Arc::new(NoDelivery));
    api.clock = Arc::new(FixedClock(now));
    let router = automations_api::router(api);
    let (key, rec) = auth::issue_key(&EntityId::new("acme"), now).unwrap();
    store.put_api_key(&rec).await.unwrap();
    let call = |method: &str, path: &str, body: String| {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        let router = router.clone();
        async move {
            let resp = router.oneshot(req).await.unwrap();
            let status = resp.status().as_u16();
            let bytes = http_body_util::BodyExt::collect(resp.into_body()).await.unwrap().to_bytes();
            (status, String::from_utf8(bytes.to_vec()).unwrap())
        }
    };
    let mut ids = Vec::new();
    for a in automations() {
        let (status, body) = call("POST", "/v1/automations", a.to_string()).await;
        assert_eq!(status, 201, "{body}");
        ids.push(serde_json::from_str::<Value>(&body).unwrap()["id"].as_str().unwrap().to_string());
    }
    let mut start = 0;
    for end in cuts.iter().copied().chain([docs.len()]) {
        let end = end.clamp(start, docs.len());
        if end > start {
            let (status, body) = call("POST", "/v1/events", Value::Array(docs[start..end].to_vec()).to_string()).await;
            assert_eq!(status, 202, "{body}");
            assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["accepted"], end - start, "{body}");
        }
        start = end;
    }
    // Every fire, by automation, in the order recorded.
    let mut fires = Vec::new();
    for id in ids {
        for f in store.fires_for(&AutomationId::new(id.as_str())).unwrap() {
            fires.push(json!([f["automation"].clone(), f["event_id"].clone(), f["step"].clone(), f["time"].clone()]));
        }
    }
    fires
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn live_batches_of_any_size_fire_the_same(plan in plan(), cuts in prop::collection::vec(0..400usize, 0..12)) {
        let docs = build(&plan);
        let mut cuts = cuts;
        cuts.sort_unstable();
        // Live, every batch arrives "now": after the whole file, so nothing has expired yet.
        let now = Timestamp(BASE + 400 * DAY);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let whole = rt.block_on(through_the_api(&docs, &[], now));
        let cut = rt.block_on(through_the_api(&docs, &cuts, now));
        let ones: Vec<usize> = (1..docs.len()).collect();
        let one_by_one = rt.block_on(through_the_api(&docs, &ones, now));
        prop_assert_eq!(&cut, &whole);
        prop_assert_eq!(&one_by_one, &whole);
        // The same on the memory store.
        let envs = parse(&docs);
        let engine = engine();
        let store = MemoryStore::new();
        let mem: usize = envs
            .chunks(7)
            .map(|b| ready_now(Ingest { engine: &engine, store: &store }.process(b, IngestClock::Arrival(now))).unwrap().fires.len())
            .sum();
        prop_assert_eq!(mem, whole.len());
    }
}

// ---------------------------------------------------------------------------------------------
// What a run idle for more than 30 days forgets.
// ---------------------------------------------------------------------------------------------

/// Loss values logged at `t` (one envelope), at steps from `first`.
fn logged(id: &str, t: i64, first: i64, values: &[f64]) -> Envelope {
    let rows: Vec<(i64, f64)> = values.iter().enumerate().map(|(i, v)| (first + i as i64, *v)).collect();
    parse_envelope(&metrics(id, 0, t, &rows).to_string()).unwrap()
}

fn names(fires: &[Fire]) -> Vec<(String, i64)> {
    fires.iter().map(|f| (f.automation_name.clone(), f.to_value()["step"].as_i64().unwrap_or(-1))).collect()
}

/// Run `envs` one batch at a time on the event-time clock; the fires of each.
fn each(envs: &[Envelope]) -> Vec<Vec<(String, i64)>> {
    let engine = engine();
    let store = MemoryStore::new();
    let ingest = Ingest { engine: &engine, store: &store };
    let mut clock = Timestamp::MIN;
    envs.iter()
        .map(|e| {
            let c = IngestClock::EventTime { floor: clock };
            let out = ready_now(ingest.process(std::slice::from_ref(e), c)).unwrap();
            clock = c.after(std::slice::from_ref(e));
            names(&out.fires)
        })
        .collect()
}

#[test]
fn a_run_idle_for_30_days_forgets_its_windows_steps_and_cooldowns_and_nothing_sooner() {
    let t0 = BASE;
    // Two values of a window of 3, and a fire of the 30-day cooldown automation.
    let first = logged("e1", t0, 1, &[0.9, 2.0]);
    // Idle exactly 30 days less a millisecond: still remembered.
    let kept = each(&[first.clone(), logged("e2", t0 + 30 * DAY - 1, 1, &[0.9, 2.0])]);
    assert_eq!(kept[0], vec![("month-quiet".to_string(), 2)]);
    assert_eq!(kept[1], vec![], "steps 1 and 2 again are duplicates, and the cooldown holds");
    let kept = each(&[first.clone(), logged("e2", t0 + 30 * DAY - 1, 3, &[0.9])]);
    assert_eq!(kept[1], vec![("avg-high".to_string(), 3)], "the window of 3 was kept: [0.9, 2.0, 0.9]");

    // Idle exactly 30 days: forgotten. The same steps are new again, the window starts empty
    // (two values are not a window of 3), and the 30-day cooldown no longer holds.
    let forgot = each(&[first.clone(), logged("e2", t0 + 30 * DAY, 1, &[0.9, 2.0])]);
    assert_eq!(forgot[1], vec![("month-quiet".to_string(), 2)]);
    let forgot = each(&[first.clone(), logged("e2", t0 + 30 * DAY, 3, &[0.9])]);
    assert_eq!(forgot[1], vec![], "a window of one value after the gap");

    // Only envelopes that add a value keep a run alive: a duplicate step is not activity.
    let dup = logged("e2", t0 + 20 * DAY, 2, &[5.0]);
    let forgot = each(&[first.clone(), dup, logged("e3", t0 + 30 * DAY, 1, &[0.9, 2.0])]);
    assert_eq!(forgot[2], vec![("month-quiet".to_string(), 2)]);

    // The clock is the latest event time: another run's envelope 30 days on makes this run's
    // late-arriving envelope (dated earlier) read the forgotten state all the same.
    let other = parse_envelope(&metrics("o1", 1, t0 + 31 * DAY, &[(1, 0.0)]).to_string()).unwrap();
    let late = logged("e2", t0 + DAY, 1, &[0.9, 2.0]);
    let forgot = each(&[first, other, late]);
    assert_eq!(forgot[2], vec![("month-quiet".to_string(), 2)]);
}

#[test]
fn a_fire_id_is_remembered_for_30_days() {
    let alias = || {
        parse_envelope(
            &json!({"specversion": "1.0", "id": "a-1", "source": "registry", "type": "artifact.alias.added",
                    "time": Timestamp(BASE).to_string(),
                    "data": {"entity": "acme", "project": "p1", "collection": "model", "collection_type": "model",
                             "version": 1, "alias": "production"}})
            .to_string(),
        )
        .unwrap()
    };
    let clock_at = |t: i64| parse_envelope(&metrics("tick", 9, t, &[(1, 0.0)]).to_string()).unwrap();
    // The same envelope again, after another one moved the clock on.
    let fired = each(&[alias(), clock_at(BASE + 30 * DAY - MINUTE), alias()]);
    assert_eq!(fired[0].len(), 1);
    assert!(fired[2].is_empty(), "redelivered within 30 days: a duplicate");
    let fired = each(&[alias(), clock_at(BASE + 30 * DAY), alias()]);
    assert_eq!(fired[2].len(), 1, "redelivered after 30 days: the fire id was forgotten");
}
