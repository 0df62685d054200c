//! The kinds of event an automation can be triggered by, and which scopes allow each.

use super::scope::ScopeKind;

/// What an automation reacts to. The names are this product's (W&B's `RUN_METRIC` is
/// [`TriggerKind::RunMetricThreshold`], its `LINK_MODEL` is [`TriggerKind::LinkArtifact`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TriggerKind {
    CreateArtifact,
    LinkArtifact,
    UnlinkArtifact,
    AddArtifactAlias,
    AddArtifactTag,
    RemoveArtifactTag,
    AddCollectionTag,
    RemoveCollectionTag,
    RunState,
    RunMetricThreshold,
    RunMetricChange,
    RunMetricZscore,
}

impl TriggerKind {
    pub const ALL: [TriggerKind; 12] = [
        TriggerKind::CreateArtifact,
        TriggerKind::LinkArtifact,
        TriggerKind::UnlinkArtifact,
        TriggerKind::AddArtifactAlias,
        TriggerKind::AddArtifactTag,
        TriggerKind::RemoveArtifactTag,
        TriggerKind::AddCollectionTag,
        TriggerKind::RemoveCollectionTag,
        TriggerKind::RunState,
        TriggerKind::RunMetricThreshold,
        TriggerKind::RunMetricChange,
        TriggerKind::RunMetricZscore,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::CreateArtifact => "CREATE_ARTIFACT",
            TriggerKind::LinkArtifact => "LINK_ARTIFACT",
            TriggerKind::UnlinkArtifact => "UNLINK_ARTIFACT",
            TriggerKind::AddArtifactAlias => "ADD_ARTIFACT_ALIAS",
            TriggerKind::AddArtifactTag => "ADD_ARTIFACT_TAG",
            TriggerKind::RemoveArtifactTag => "REMOVE_ARTIFACT_TAG",
            TriggerKind::AddCollectionTag => "ADD_COLLECTION_TAG",
            TriggerKind::RemoveCollectionTag => "REMOVE_COLLECTION_TAG",
            TriggerKind::RunState => "RUN_STATE",
            TriggerKind::RunMetricThreshold => "RUN_METRIC_THRESHOLD",
            TriggerKind::RunMetricChange => "RUN_METRIC_CHANGE",
            TriggerKind::RunMetricZscore => "RUN_METRIC_ZSCORE",
        }
    }

    pub fn parse(s: &str) -> Option<TriggerKind> {
        TriggerKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Run events (state and metrics), as opposed to artifact and collection events.
    pub fn is_run_event(self) -> bool {
        matches!(
            self,
            TriggerKind::RunState
                | TriggerKind::RunMetricThreshold
                | TriggerKind::RunMetricChange
                | TriggerKind::RunMetricZscore
        )
    }

    /// SPEC section 2: run events on project and entity scopes only; `CREATE_ARTIFACT` on project
    /// (with an optional collection filter) and collection; other artifact events anywhere.
    pub fn allowed_on(self, scope: ScopeKind) -> bool {
        if self.is_run_event() {
            return matches!(scope, ScopeKind::Project | ScopeKind::Entity);
        }
        match self {
            TriggerKind::CreateArtifact => matches!(scope, ScopeKind::Project | ScopeKind::Collection),
            _ => true,
        }
    }
}

impl std::fmt::Display for TriggerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in TriggerKind::ALL {
            assert_eq!(TriggerKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(TriggerKind::parse("RUN_METRIC"), None);
    }

    #[test]
    fn scope_rules() {
        use ScopeKind::*;
        assert!(TriggerKind::RunState.allowed_on(Project));
        assert!(TriggerKind::RunMetricZscore.allowed_on(Entity));
        assert!(!TriggerKind::RunMetricThreshold.allowed_on(Collection));
        assert!(!TriggerKind::RunState.allowed_on(Registry));
        assert!(TriggerKind::CreateArtifact.allowed_on(Collection));
        assert!(!TriggerKind::CreateArtifact.allowed_on(Registry));
        assert!(!TriggerKind::CreateArtifact.allowed_on(Entity));
        assert!(TriggerKind::LinkArtifact.allowed_on(Registry));
        assert!(TriggerKind::AddArtifactAlias.allowed_on(Entity));
    }
}
