//! The unit of work of one batch: everything ingest decided, for the store to commit at once.

use crate::activity::ActivityUpdate;
use crate::delivery::{Execution, ExecutionState};
use crate::fire::Fire;
use crate::store::RunSave;
use crate::time::Timestamp;

/// A fire to record with its execution (the outbox), both made here so that no adapter builds
/// them, and the clock it was decided at (its record lives [`crate::store::FIRE_TTL`] from then).
#[derive(Debug, Clone)]
pub struct NewFire {
    /// The fire, as evaluated.
    pub fire: Fire,
    /// Its execution, made by [`Execution::for_fire`] at `at`.
    pub execution: Execution,
    /// The clock the fire was decided at: its record and execution expire [`crate::store::FIRE_TTL`] after it.
    pub at: Timestamp,
}

impl NewFire {
    /// The fire with its execution, both recorded at `at`.
    pub fn new(fire: Fire, at: Timestamp) -> NewFire {
        let execution = Execution::for_fire(&fire, at);
        NewFire { fire, execution, at }
    }

    /// Does recording this fire leave a delivery to make?
    pub fn to_deliver(&self) -> bool {
        self.execution.state == ExecutionState::Pending
    }
}

/// What one evaluation of a batch writes. A store commits it as one unit: a transaction where
/// the backend has them; where it has only conditional writes (DynamoDB), in this order, so a
/// crash part-way leaves a state the redelivered batch completes: fires (with their executions)
/// first, since a run saved without its fires would read their values as duplicates next time;
/// then run records; then activity.
#[derive(Debug, Default)]
#[must_use = "a unit of work does nothing until a store commits it"]
pub struct UnitOfWork {
    /// Record each unless a live fire with its id exists at its `at`.
    pub fires: Vec<NewFire>,
    /// Save each if its stored version is still the expected one (at `now`).
    pub runs: Vec<RunSave>,
    /// Liveness of the runs the batch mentions, one update per run.
    pub activity: Vec<ActivityUpdate>,
    /// The clock of the commit: the batch's latest.
    pub now: Timestamp,
}

impl UnitOfWork {
    /// Whether there is nothing to write: no fire, run save or activity update.
    pub fn is_empty(&self) -> bool {
        self.fires.is_empty() && self.runs.is_empty() && self.activity.is_empty()
    }
}

/// What a commit did, in the order of the unit's lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Committed {
    /// Per fire: recorded now (`false`: already recorded, a redelivery).
    pub fresh: Vec<bool>,
    /// Per run save: written (`false`: saved by someone else since loaded; evaluate again).
    pub saved: Vec<bool>,
}
