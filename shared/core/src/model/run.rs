//! The states of a run.

/// A run's state. A change to `Killed` never triggers an automation (W&B's rule: an admin
/// stopped the run on purpose).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunState {
    /// Created, not started yet.
    Pending,
    /// Running: alive and logging.
    Running,
    /// Ended successfully.
    Finished,
    /// Ended with an error.
    Failed,
    /// Ended abnormally; also what the sweeper marks a stalled run (SPEC section 8).
    Crashed,
    /// Stopped on purpose by an admin: never triggers an automation.
    Killed,
}

impl RunState {
    /// Every state, in lifecycle order.
    pub const ALL: [RunState; 6] = [
        RunState::Pending,
        RunState::Running,
        RunState::Finished,
        RunState::Failed,
        RunState::Crashed,
        RunState::Killed,
    ];

    /// The state's name in events and filters, lower case (`running`).
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Pending => "pending",
            RunState::Running => "running",
            RunState::Finished => "finished",
            RunState::Failed => "failed",
            RunState::Crashed => "crashed",
            RunState::Killed => "killed",
        }
    }

    /// The state named `s` (lower case, as [`RunState::as_str`] writes it), if there is one.
    pub fn parse(s: &str) -> Option<RunState> {
        RunState::ALL.into_iter().find(|st| st.as_str() == s)
    }
}
