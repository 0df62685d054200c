//! Which runs' liveness a batch records: one policy for both deployments.

use crate::activity::{self, ActivityUpdate};
use crate::engine::Engine;
use crate::event::{Envelope, RunKey};
use crate::model::{RunState, Trigger};
use crate::time::Timestamp;

/// Does some enabled automation fire on a `crashed` run of this project? Only then is it worth
/// keeping the project's runs' liveness: a stalled run's crash changes nothing else.
pub fn tracks_liveness(engine: &Engine, key: &RunKey) -> bool {
    engine.automations().iter().any(|a| {
        matches!(&a.trigger, Trigger::RunState { states, .. } if states.contains(&RunState::Crashed))
            && a.scope.covers_run(&key.entity, &key.project)
    })
}

/// The activity updates of a batch worth recording: every state change (so a run that ends
/// leaves the stalled set even if its automation went away), and liveness where it is tracked.
pub fn updates(engine: &Engine, envelopes: &[Envelope], now: Timestamp) -> Vec<ActivityUpdate> {
    activity::updates(envelopes, now)
        .into_iter()
        .filter(|u| u.state.is_some() || tracks_liveness(engine, &u.key))
        .collect()
}
