//! The kinds of event an automation can be triggered by, and which scopes allow each.

use super::scope::ScopeKind;

/// What an automation reacts to. The names are this product's (W&B's `RUN_METRIC` is
/// [`TriggerKind::RunMetricThreshold`], its `LINK_MODEL` is [`TriggerKind::LinkArtifact`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TriggerKind {
    /// `CREATE_ARTIFACT`: a new artifact version (`artifact.version.created`).
    CreateArtifact,
    /// `LINK_ARTIFACT`: a version linked into a registry (`artifact.version.linked`).
    LinkArtifact,
    /// `UNLINK_ARTIFACT`: a version unlinked from a registry (`artifact.version.unlinked`).
    UnlinkArtifact,
    /// `ADD_ARTIFACT_ALIAS`: an alias added to a version (`artifact.alias.added`).
    AddArtifactAlias,
    /// `ADD_ARTIFACT_TAG`: a tag added to a version (`artifact.tag.added`).
    AddArtifactTag,
    /// `REMOVE_ARTIFACT_TAG`: a tag removed from a version (`artifact.tag.removed`).
    RemoveArtifactTag,
    /// `ADD_COLLECTION_TAG`: a tag added to a collection (`collection.tag.added`).
    AddCollectionTag,
    /// `REMOVE_COLLECTION_TAG`: a tag removed from a collection (`collection.tag.removed`).
    RemoveCollectionTag,
    /// `RUN_STATE`: a run changed state (`run.state.changed`).
    RunState,
    /// `RUN_METRIC_THRESHOLD`: the aggregate of a metric's latest values compares with a threshold as `cmp` says.
    RunMetricThreshold,
    /// `RUN_METRIC_CHANGE`: a metric's window changed by an amount from the window before it.
    RunMetricChange,
    /// `RUN_METRIC_ZSCORE`: a metric's new value lies far from its window's mean.
    RunMetricZscore,
}

impl TriggerKind {
    /// Every kind, artifact and collection events first.
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

    /// The kind's name in documents and fire lines, e.g. `RUN_METRIC_THRESHOLD`.
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

    /// The kind named `s` (as [`TriggerKind::as_str`] writes it), if there is one.
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
