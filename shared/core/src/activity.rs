//! Run activity: which runs are alive, for the sweeper's stalled-run check (SPEC section 8).
//!
//! A run that has sent nothing for the stall period (default 10 minutes) while `running` is
//! marked `crashed`, as W&B does. That needs the last time every run was heard from, including
//! runs no metric automation watches (whose metrics the pipeline never loads a record for), so
//! it is kept apart from run records: one small [`RunActivity`] row per run, written once per
//! batch that mentions the run ([`updates`] folds a batch into one update per run) and read only
//! by the sweeper. Metrics and heartbeats say "alive"; state changes say which state.
//!
//! A run's state follows event times, so a redelivered old batch cannot revive a finished run:
//! a state change applies when it is not older than the state already known, and an alive signal
//! makes a run `running` again only when it is newer than its last state change (a resumed
//! run). Silence is measured in arrival time (`last_seen`, the intake's clock), since a tracker's
//! clock says nothing about when it last got through.
//!
//! The sweeper turns a stalled run into a normal `run.state.changed` envelope
//! ([`crash_envelope`]) and feeds it to the pipeline like any other; its id is derived from the
//! run and its `last_seen`, so two overlapping sweeps produce the same envelope and its fires are
//! recorded once.

use crate::engine::RUN_RECORD_TTL;
use crate::event::{Envelope, EventData, RunInfo, RunKey, RunStateEvent};
use crate::model::RunState;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// The `source` of the envelopes the sweeper emits.
pub const SWEEPER_SOURCE: &str = "automations/sweeper";

/// What is known of a run's liveness.
#[derive(Debug, Clone, PartialEq)]
pub struct RunActivity {
    /// The run this row is about.
    pub key: RunKey,
    /// The run's state as last known: `running` after an alive signal, else the last state change.
    pub state: RunState,
    /// The event time of the state change (or of the alive signal that made it `running`).
    pub state_at: Timestamp,
    /// When the run was last heard from, by the intake's clock.
    pub last_seen: Timestamp,
    /// The run's name, user, tags and config as last sent (heartbeats carry none), so a
    /// `crashed` event passes the same run filters as the run's other events.
    pub info: Option<RunInfo>,
    /// When the row expires ([`RUN_RECORD_TTL`] after `last_seen`); an expired row counts as absent.
    pub expires_at: Timestamp,
}

/// What one batch says about one run.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityUpdate {
    /// The run the update is about.
    pub key: RunKey,
    /// The newest state change of the batch, with its event time.
    pub state: Option<(RunState, Timestamp)>,
    /// The newest event time of the batch's metrics and heartbeats.
    pub alive_at: Option<Timestamp>,
    /// The run's info from the batch's last metrics or state envelope.
    pub info: Option<RunInfo>,
    /// The batch's arrival.
    pub seen_at: Timestamp,
}

/// One update per run mentioned by `envelopes` (arrived at `now`), in first-mention order.
pub fn updates(envelopes: &[Envelope], now: Timestamp) -> Vec<ActivityUpdate> {
    updates_of(envelopes, now, |_| true)
}

/// One update per run mentioned by `envelopes` that `keep` keeps, in first-mention order. Each
/// run's info is cloned once, from its last envelope that carries one.
pub fn updates_of<'a>(
    envelopes: &'a [Envelope],
    now: Timestamp,
    mut keep: impl FnMut(&'a RunKey) -> bool,
) -> Vec<ActivityUpdate> {
    let mut index: HashMap<&'a RunKey, Option<usize>> = HashMap::new();
    let mut out: Vec<ActivityUpdate> = Vec::new();
    let mut infos: Vec<Option<&'a RunInfo>> = Vec::new();
    for env in envelopes {
        let Some(key) = env.run_key() else { continue };
        let slot = *index.entry(key).or_insert_with(|| {
            keep(key).then(|| {
                out.push(ActivityUpdate { key: key.clone(), state: None, alive_at: None, info: None, seen_at: now });
                infos.push(None);
                out.len() - 1
            })
        });
        let Some(i) = slot else { continue };
        let u = &mut out[i];
        match &env.data {
            EventData::RunState(s) => {
                if u.state.is_none_or(|(_, t)| env.time >= t) {
                    u.state = Some((s.state, env.time));
                }
                infos[i] = Some(&s.run);
            }
            EventData::Metrics(m) => {
                u.alive_at = Some(u.alive_at.map_or(env.time, |t| t.max(env.time)));
                infos[i] = Some(&m.run);
            }
            EventData::Heartbeat(_) => u.alive_at = Some(u.alive_at.map_or(env.time, |t| t.max(env.time))),
            EventData::Artifact(_) => {}
        }
    }
    for (u, info) in out.iter_mut().zip(infos) {
        u.info = info.cloned();
    }
    out
}

/// The activity after `update`, given what was known (`None`: nothing, or expired).
pub fn apply(old: Option<&RunActivity>, update: &ActivityUpdate) -> RunActivity {
    let mut state = old.map(|o| (o.state, o.state_at));
    if let Some((s, t)) = update.state
        && state.is_none_or(|(_, known)| t >= known)
    {
        state = Some((s, t));
    }
    if let Some(alive) = update.alive_at
        && state.is_none_or(|(s, known)| s != RunState::Running && alive > known)
    {
        state = Some((RunState::Running, alive));
    }
    // A state change with no alive signal for an unknown run still gives a row: its state.
    let (state, state_at) = state.unwrap_or((RunState::Running, update.seen_at));
    let last_seen = old.map_or(update.seen_at, |o| o.last_seen.max(update.seen_at));
    RunActivity {
        key: update.key.clone(),
        state,
        state_at,
        last_seen,
        info: update.info.clone().or_else(|| old.and_then(|o| o.info.clone())),
        expires_at: last_seen.plus(RUN_RECORD_TTL),
    }
}

/// Whether the run counts as stalled at `now` for a stall period of `stall` milliseconds.
pub fn is_stalled(a: &RunActivity, stall: i64, now: Timestamp) -> bool {
    a.state == RunState::Running && a.last_seen.plus(stall) <= now && a.expires_at > now
}

/// The `run.state.changed` envelope that marks a stalled run `crashed`, emitted at `now`. Its
/// id depends only on the run and `last_seen`, so every sweep that finds the run in the same
/// silence emits the same envelope.
pub fn crash_envelope(a: &RunActivity, now: Timestamp) -> Envelope {
    let mut h = Sha256::new();
    for part in [&a.key.entity, &a.key.project, &a.key.run_id] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.update(a.last_seen.0.to_le_bytes());
    let digest = h.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    let run = a.info.clone().unwrap_or_else(|| RunInfo {
        key: a.key.clone(),
        run_name: None,
        user: None,
        tags: Vec::new(),
        config: Map::new(),
        author: None,
    });
    Envelope {
        id: format!("stalled-{hex}"),
        source: SWEEPER_SOURCE.to_string(),
        // Never before the state it replaces: a tracker whose clock runs ahead of ours must not
        // leave the crash unapplied (and the run stalled for every sweep after).
        time: now.max(a.state_at),
        data: EventData::RunState(RunStateEvent {
            run: RunInfo { key: a.key.clone(), author: None, ..run },
            state: RunState::Crashed,
            previous: Some(RunState::Running),
        }),
    }
}

/// A run's info as stores keep it (the run's key is the store's own).
#[derive(Debug, Serialize, Deserialize)]
pub struct StoredRunInfo {
    run_name: Option<String>,
    user: Option<String>,
    tags: Vec<String>,
    config: Map<String, Value>,
    author: Option<String>,
}

impl StoredRunInfo {
    /// The stored form of `info` (its key left out).
    pub fn of(info: &RunInfo) -> StoredRunInfo {
        StoredRunInfo {
            run_name: info.run_name.clone(),
            user: info.user.clone(),
            tags: info.tags.clone(),
            config: info.config.clone(),
            author: info.author.clone(),
        }
    }

    /// The info of run `key`.
    pub fn into_info(self, key: RunKey) -> RunInfo {
        RunInfo {
            key,
            run_name: self.run_name,
            user: self.user,
            tags: self.tags,
            config: self.config,
            author: self.author,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::parse_envelope;
    use crate::time::MINUTE;

    fn env(text: &str) -> Envelope {
        parse_envelope(text).unwrap()
    }

    fn metrics(id: &str, time: &str) -> Envelope {
        env(&format!(
            r#"{{"specversion":"1.0","id":"{id}","source":"t","type":"run.metrics.logged","time":"{time}",
               "data":{{"entity":"acme","project":"mnist","run_id":"r1","run_name":"train","user":"ana","tags":["x"],
                        "config":{{"lr":0.1}},"rows":[{{"step":1,"values":{{"loss":1}}}}]}}}}"#
        ))
    }

    fn state(id: &str, time: &str, s: &str) -> Envelope {
        env(&format!(
            r#"{{"specversion":"1.0","id":"{id}","source":"t","type":"run.state.changed","time":"{time}",
               "data":{{"entity":"acme","project":"mnist","run_id":"r1","state":"{s}"}}}}"#
        ))
    }

    fn heartbeat(id: &str, time: &str) -> Envelope {
        env(&format!(
            r#"{{"specversion":"1.0","id":"{id}","source":"t","type":"run.heartbeat","time":"{time}",
               "data":{{"entity":"acme","project":"mnist","run_id":"r1"}}}}"#
        ))
    }

    fn fold(batches: &[(&[Envelope], i64)]) -> RunActivity {
        let mut a: Option<RunActivity> = None;
        for (b, now) in batches {
            for u in updates(b, Timestamp(*now)) {
                a = Some(apply(a.as_ref(), &u));
            }
        }
        a.unwrap()
    }

    #[test]
    fn metrics_and_heartbeats_keep_a_run_alive() {
        let a = fold(&[
            (&[metrics("e1", "2026-11-01T12:00:00Z")], 1_000),
            (&[heartbeat("h1", "2026-11-01T12:05:00Z")], 5_000),
        ]);
        assert_eq!(a.state, RunState::Running);
        assert_eq!(a.last_seen, Timestamp(5_000));
        assert_eq!(a.info.as_ref().unwrap().run_name.as_deref(), Some("train"), "a heartbeat keeps the last info");
        assert!(!is_stalled(&a, 10 * MINUTE, Timestamp(5_000 + 10 * MINUTE - 1)));
        assert!(is_stalled(&a, 10 * MINUTE, Timestamp(5_000 + 10 * MINUTE)));
    }

    #[test]
    fn finished_runs_never_stall_and_late_metrics_do_not_revive_them() {
        let a = fold(&[
            (&[metrics("e1", "2026-11-01T12:00:00Z"), state("s1", "2026-11-01T12:00:10Z", "finished")], 1_000),
            // A redelivery of the earlier metrics, arriving late.
            (&[metrics("e1", "2026-11-01T12:00:00Z")], 2_000),
        ]);
        assert_eq!(a.state, RunState::Finished);
        assert!(!is_stalled(&a, MINUTE, Timestamp(100 * MINUTE)));
        // A resumed run logs newer metrics: running again.
        let b = fold(&[
            (&[state("s1", "2026-11-01T12:00:10Z", "finished")], 1_000),
            (&[metrics("e2", "2026-11-01T13:00:00Z")], 2_000),
        ]);
        assert_eq!(b.state, RunState::Running);
    }

    #[test]
    fn crash_envelopes_are_deterministic_per_silence() {
        let a = fold(&[(&[metrics("e1", "2026-11-01T12:00:00Z")], 1_000)]);
        let e1 = crash_envelope(&a, Timestamp(700_000));
        let e2 = crash_envelope(&a, Timestamp(760_000));
        assert_eq!(e1.id, e2.id, "two sweeps of the same silence emit the same envelope id");
        assert_eq!(e1.source, SWEEPER_SOURCE);
        let EventData::RunState(s) = &e1.data else { panic!() };
        assert_eq!(s.state, RunState::Crashed);
        assert_eq!(s.run.run_name.as_deref(), Some("train"), "run filters see the run's name");
        let later = fold(&[
            (&[metrics("e1", "2026-11-01T12:00:00Z")], 1_000),
            (&[heartbeat("h", "2026-11-01T12:30:00Z")], 2_000),
        ]);
        assert_ne!(crash_envelope(&later, Timestamp(900_000)).id, e1.id, "a new silence is a new crash");
        // After the crash is applied, the run no longer stalls.
        let crashed = apply(Some(&a), &updates(&[e1], Timestamp(700_000))[0]);
        assert_eq!(crashed.state, RunState::Crashed);
        assert!(!is_stalled(&crashed, MINUTE, Timestamp(10_000_000)));
    }

    #[test]
    fn info_round_trips() {
        let a = fold(&[(&[metrics("e1", "2026-11-01T12:00:00Z")], 1_000)]);
        let info = a.info.unwrap();
        let text = serde_json::to_string(&StoredRunInfo::of(&info)).unwrap();
        assert!(
            text.starts_with(r#"{"run_name":"train","user":"ana","tags":["x"],"config":{"lr":0.1},"author":"#),
            "{text}"
        );
        let back: StoredRunInfo = serde_json::from_str(&text).unwrap();
        assert_eq!(back.into_info(info.key.clone()), info);
        assert!(serde_json::from_str::<StoredRunInfo>(r#"{"tags": [1], "config": {}}"#).is_err());
    }
}
