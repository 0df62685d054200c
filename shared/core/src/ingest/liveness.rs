//! Which runs' liveness a batch records: one policy for both deployments.

use crate::activity::{self, ActivityUpdate};
use crate::engine::Engine;
use crate::event::{Envelope, EventData, RunKey};
use crate::model::{RunState, Trigger};
use crate::time::Timestamp;
use std::collections::{HashMap, HashSet};

/// Does some enabled automation fire on a `crashed` run of this project? Only then is it worth
/// keeping the project's runs' liveness: a stalled run's crash changes nothing else.
pub fn tracks_liveness(engine: &Engine, key: &RunKey) -> bool {
    engine.automations().iter().any(|a| {
        matches!(&a.trigger, Trigger::RunState { states, .. } if states.contains(&RunState::Crashed))
            && a.scope.covers_run(&key.entity, &key.project)
    })
}

/// The activity updates of a batch worth recording: every run with a state change (so a run
/// that ends leaves the stalled set even if its automation went away), and liveness where it is
/// tracked.
pub fn updates(engine: &Engine, envelopes: &[Envelope], now: Timestamp) -> Vec<ActivityUpdate> {
    let changed: HashSet<&RunKey> = envelopes
        .iter()
        .filter_map(|e| match &e.data {
            EventData::RunState(s) => Some(&s.run.key),
            _ => None,
        })
        .collect();
    // Per project, whether it is tracked: asked once per project, not once per run.
    let mut tracked: HashMap<(&str, &str), bool> = HashMap::new();
    activity::updates_of(envelopes, now, |key| {
        changed.contains(key)
            || *tracked
                .entry((key.entity.as_str(), key.project.as_str()))
                .or_insert_with(|| tracks_liveness(engine, key))
    })
}
