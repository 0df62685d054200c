//! The states of a run.

/// A run's state. A change to `Killed` never triggers an automation (W&B's rule: an admin
/// stopped the run on purpose).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunState {
    Pending,
    Running,
    Finished,
    Failed,
    Crashed,
    Killed,
}

impl RunState {
    pub const ALL: [RunState; 6] = [
        RunState::Pending,
        RunState::Running,
        RunState::Finished,
        RunState::Failed,
        RunState::Crashed,
        RunState::Killed,
    ];

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

    pub fn parse(s: &str) -> Option<RunState> {
        RunState::ALL.into_iter().find(|st| st.as_str() == s)
    }
}
