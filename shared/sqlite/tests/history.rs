//! Stored metric history in SQLite: appended once per step, bounded per (run, metric), listed by run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_core::EntityId;
use automations_core::event::RunKey;
use automations_core::history::{Point, Series};
use automations_core::store::{HistoryStore, ready_now};
use automations_core::time::Timestamp;
use automations_sqlite::SqliteStore;

fn run(id: &str) -> RunKey {
    RunKey { entity: "acme".into(), project: "mnist".into(), run_id: id.into() }
}

fn series(run_id: &str, metric: &str, steps: std::ops::Range<i64>) -> Series {
    Series {
        run: run(run_id),
        run_name: Some(format!("name-{run_id}")),
        metric: metric.into(),
        points: steps.map(|s| Point { step: s, time: Timestamp(s * 1000), value: s as f64 / 2.0 }).collect(),
    }
}

#[test]
fn appends_past_the_last_step_only_and_thins_the_older_half() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("h.db")).unwrap();
    store.append_history_bounded(&[series("r1", "loss", 0..10)], 10, Timestamp(1)).unwrap();
    // A redelivery and an overlap: only 10..12 are new; 12 points > 10, so the older half thins.
    store.append_history_bounded(&[series("r1", "loss", 0..5), series("r1", "loss", 8..12)], 10, Timestamp(2)).unwrap();
    let points = ready_now(store.metric_history(&run("r1"), "loss")).unwrap();
    let steps: Vec<i64> = points.iter().map(|p| p.step).collect();
    assert_eq!(steps, vec![0, 2, 4, 6, 7, 8, 9, 10, 11]);
    assert_eq!(points[1].value, 1.0);
    assert_eq!(points[1].time, Timestamp(2000));
    // The count kept in history_series is right: another append past the bound thins again.
    store.append_history_bounded(&[series("r1", "loss", 12..14)], 10, Timestamp(3)).unwrap();
    let n = ready_now(store.metric_history(&run("r1"), "loss")).unwrap().len();
    assert!(n <= 10, "{n} points");
    // Survives reopening.
    drop(store);
    let store = SqliteStore::open(&dir.path().join("h.db")).unwrap();
    let last = ready_now(store.metric_history(&run("r1"), "loss")).unwrap().last().map(|p| p.step);
    assert_eq!(last, Some(13));
}

#[test]
fn lists_runs_with_their_metrics_most_recent_first() {
    let store = SqliteStore::in_memory().unwrap();
    ready_now(store.append_history(&[series("r1", "loss", 0..3), series("r1", "acc", 0..3)], Timestamp(10))).unwrap();
    ready_now(store.append_history(&[series("r2", "loss", 0..3)], Timestamp(20))).unwrap();
    let runs = ready_now(store.history_runs(&EntityId::new("acme"), "mnist", 10)).unwrap();
    let ids: Vec<&str> = runs.iter().map(|r| r.run.run_id.as_str()).collect();
    assert_eq!(ids, vec!["r2", "r1"]);
    assert_eq!(runs[1].metrics, vec!["acc", "loss"]);
    assert_eq!(runs[1].run_name.as_deref(), Some("name-r1"));
    assert_eq!(ready_now(store.history_runs(&EntityId::new("acme"), "mnist", 1)).unwrap().len(), 1);
    assert!(ready_now(store.history_runs(&EntityId::new("acme"), "other", 10)).unwrap().is_empty());
    assert!(ready_now(store.metric_history(&run("r3"), "loss")).unwrap().is_empty());
}

#[test]
fn history_that_logs_nothing_for_30_days_is_swept() {
    let store = SqliteStore::in_memory().unwrap();
    let day = automations_core::time::DAY;
    ready_now(store.append_history(&[series("old", "loss", 0..3)], Timestamp(0))).unwrap();
    ready_now(store.append_history(&[series("new", "loss", 0..3)], Timestamp(20 * day))).unwrap();
    assert_eq!(store.delete_expired(Timestamp(30 * day)).unwrap(), 2, "the chunk and the series of run old");
    assert!(ready_now(store.metric_history(&run("old"), "loss")).unwrap().is_empty());
    assert_eq!(ready_now(store.metric_history(&run("new"), "loss")).unwrap().len(), 3);
    let runs = ready_now(store.history_runs(&EntityId::new("acme"), "mnist", 10)).unwrap();
    assert_eq!(runs.iter().map(|r| r.run.run_id.as_str()).collect::<Vec<_>>(), vec!["new"]);
}

#[test]
fn points_across_many_chunks_and_batches_read_back_in_order() {
    let store = SqliteStore::in_memory().unwrap();
    // Batches of odd sizes, so chunks are refilled part-way again and again; 1000 < the bound.
    let mut step = 0;
    for size in [1, 127, 1, 130, 300, 7, 434] {
        ready_now(store.append_history(&[series("r1", "loss", step..step + size)], Timestamp(step))).unwrap();
        step += size;
    }
    let points = ready_now(store.metric_history(&run("r1"), "loss")).unwrap();
    assert_eq!(points.len(), 1000);
    assert!(points.iter().enumerate().all(|(i, p)| p.step == i as i64 && p.value == i as f64 / 2.0));
    // Past a bound of 600 (in chunks too): thinned, still ordered, the newest kept.
    store.append_history_bounded(&[series("r1", "loss", 1000..1100)], 600, Timestamp(2)).unwrap();
    let points = ready_now(store.metric_history(&run("r1"), "loss")).unwrap();
    assert!(points.len() <= 600, "{}", points.len());
    assert!(points.windows(2).all(|w| w[0].step < w[1].step));
    assert_eq!(points.last().map(|p| p.step), Some(1099));
    // And appends after the rewrite carry on from its last chunk.
    store.append_history_bounded(&[series("r1", "loss", 1100..1105)], 600, Timestamp(3)).unwrap();
    let again = ready_now(store.metric_history(&run("r1"), "loss")).unwrap();
    assert_eq!(again.len(), points.len() + 5);
    assert_eq!(&again[..points.len()], &points[..]);
}
