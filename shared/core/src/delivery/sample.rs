//! A made-up fire of an automation, for test deliveries (`POST /v1/automations/{id}/test`, W&B's
//! Test button): the automation's own scope, trigger, condition and action, with example values
//! where an event would bring real ones, so the receiver sees the shape it will get.

use crate::event::{RunInfo, RunKey};
use crate::fire::{Fire, Subject, fire_id};
use crate::model::condition::{ChangeDir, ChangeType};
use crate::model::{Automation, Location, MetricCondition, RunState, Scope, Trigger, TriggerKind};
use crate::time::Timestamp;
use crate::window::Observed;
use serde_json::Map;

/// The `source` of test deliveries' events.
pub const TEST_SOURCE: &str = "automations/test";

/// A fire of `automation` made at `now`, with example values. Its id is new at every
/// millisecond, so receivers do not take it for a redelivery.
pub fn fire(automation: &Automation, now: Timestamp) -> Fire {
    let event_id = format!("test-{}", now.0);
    let entity = automation.entity().to_string();
    let (project, location, collection) = match &automation.scope {
        Scope::Project { project, .. } => (project.clone(), Location::Project(project.clone()), None),
        Scope::Registry { registry, .. } => ("example-project".into(), Location::Registry(registry.clone()), None),
        Scope::Collection { location, collection, .. } => {
            (location.name().to_string(), location.clone(), Some(collection.clone()))
        }
        Scope::Entity { .. } => ("example-project".into(), Location::Project("example-project".into()), None),
    };
    let run = RunInfo {
        key: RunKey { entity: entity.clone(), project, run_id: "example-run".into() },
        run_name: Some("example-run-name".into()),
        user: Some("example-user".into()),
        tags: vec![],
        config: Map::new(),
        author: None,
    };
    let kind = automation.trigger.kind();
    let (subject, metric) = match &automation.trigger {
        Trigger::Artifact { .. } => {
            let collection_tag = matches!(kind, TriggerKind::AddCollectionTag | TriggerKind::RemoveCollectionTag);
            let subject = Subject::Artifact {
                location,
                collection: collection.unwrap_or_else(|| "example-collection".into()),
                collection_type: "model".into(),
                version: (!collection_tag).then_some(0),
                alias: (kind == TriggerKind::AddArtifactAlias).then(|| "example-alias".into()),
                tag: matches!(
                    kind,
                    TriggerKind::AddArtifactTag
                        | TriggerKind::RemoveArtifactTag
                        | TriggerKind::AddCollectionTag
                        | TriggerKind::RemoveCollectionTag
                )
                .then(|| "example-tag".into()),
                aliases: vec!["latest".into()],
                tags: vec![],
                author: Some("example-user".into()),
                metadata: Map::new(),
                source: None,
            };
            (subject, None)
        }
        Trigger::RunState { states, .. } => {
            let state = states.first().copied().unwrap_or(RunState::Finished);
            (Subject::RunState { run, state, previous: Some(RunState::Running) }, None)
        }
        Trigger::Metric { condition, .. } => {
            let (values, observed) = example_values(condition);
            let metric = condition.metric().to_string();
            let subject = Subject::Metric {
                run,
                metric: metric.clone(),
                step: 1,
                values,
                observed,
                condition: condition.clone(),
            };
            (subject, Some(metric))
        }
    };
    Fire {
        id: fire_id(&automation.id, TEST_SOURCE, &event_id, metric.as_deref().map(|m| (m, 1))),
        automation_id: automation.id.clone(),
        automation_name: automation.name.clone(),
        trigger: kind,
        entity: entity.into(),
        event_id,
        event_source: TEST_SOURCE.into(),
        event_type: event_type(kind),
        time: now,
        subject,
        action: automation.action.clone(),
    }
}

fn event_type(kind: TriggerKind) -> &'static str {
    match kind {
        TriggerKind::CreateArtifact => "artifact.version.created",
        TriggerKind::LinkArtifact => "artifact.version.linked",
        TriggerKind::UnlinkArtifact => "artifact.version.unlinked",
        TriggerKind::AddArtifactAlias => "artifact.alias.added",
        TriggerKind::AddArtifactTag => "artifact.tag.added",
        TriggerKind::RemoveArtifactTag => "artifact.tag.removed",
        TriggerKind::AddCollectionTag => "collection.tag.added",
        TriggerKind::RemoveCollectionTag => "collection.tag.removed",
        TriggerKind::RunState => "run.state.changed",
        TriggerKind::RunMetricThreshold | TriggerKind::RunMetricChange | TriggerKind::RunMetricZscore => {
            "run.metrics.logged"
        }
    }
}

/// Values for which the condition holds exactly at its threshold.
fn example_values(c: &MetricCondition) -> (Vec<f64>, Observed) {
    match c {
        MetricCondition::Threshold(t) => (vec![t.threshold; t.window], Observed::Threshold { value: t.threshold }),
        MetricCondition::Change(ch) => {
            let sign = if ch.change_dir == ChangeDir::Decrease { -1.0 } else { 1.0 };
            let (prior, delta) = (1.0, sign * ch.amount);
            let current = if ch.change_type == ChangeType::Relative { prior * (1.0 + delta) } else { prior + delta };
            let mut values = vec![prior; ch.prior_window];
            values.extend(std::iter::repeat_n(current, ch.current_window));
            (values, Observed::Change { prior, current, delta })
        }
        MetricCondition::ZScore(z) => {
            // Alternating 0 and 1: mean 0.5, population stddev 0.5.
            let mut values: Vec<f64> = (0..z.window).map(|i| (i % 2) as f64).collect();
            let sign = if z.change_dir == ChangeDir::Decrease { -1.0 } else { 1.0 };
            let value = 0.5 + sign * z.threshold * 0.5;
            values.push(value);
            (values, Observed::ZScore { value, mean: 0.5, stddev: 0.5, z: sign * z.threshold })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::payload;
    use serde_json::{Value, json};

    fn automation(event: Value, scope: Value) -> Automation {
        Automation::from_create(
            "a1",
            &json!({"name": "n", "scope": scope, "event": event, "action": {"type": "webhook", "integration": "h"}}),
        )
        .unwrap()
    }

    #[test]
    fn sample_fires_follow_the_automation() {
        let project = json!({"type": "project", "entity": "acme", "project": "mnist"});
        let a = automation(json!({"type": "ADD_ARTIFACT_ALIAS"}), project.clone());
        let f = fire(&a, Timestamp(1_000));
        assert_eq!(f.event_type, "artifact.alias.added");
        let body: Value = serde_json::from_str(&payload::body(&f).unwrap()).unwrap();
        assert_eq!(body["artifact"]["version_string"], "acme/mnist/example-collection:v0");
        assert_eq!(body["artifact"]["alias"], "example-alias");
        assert_ne!(fire(&a, Timestamp(1_001)).id, f.id);

        let m = automation(
            json!({"type": "RUN_METRIC_CHANGE", "metric": {"name": "loss", "agg": "MIN", "current_window": 2, "prior_window": 3, "change_dir": "DECREASE", "amount": 0.25}}),
            project.clone(),
        );
        let f = fire(&m, Timestamp(1_000));
        let body: Value = serde_json::from_str(&payload::body(&f).unwrap()).unwrap();
        assert_eq!(body["metric"]["values"], json!([1.0, 1.0, 1.0, 0.75, 0.75]));
        assert_eq!(body["metric"]["status"], "loss went from 1 to 0.75 (-25%)");
        let Trigger::Metric { condition, .. } = &m.trigger else { unreachable!() };
        let Subject::Metric { values, .. } = &f.subject else { unreachable!() };
        assert!(condition.check(values).is_some(), "the example values satisfy the condition");

        let z = automation(
            json!({"type": "RUN_METRIC_ZSCORE", "metric": {"name": "acc", "window": 4, "threshold": 2, "change_dir": "INCREASE"}}),
            project,
        );
        let Trigger::Metric { condition, .. } = &z.trigger else { unreachable!() };
        let Subject::Metric { values, .. } = &fire(&z, Timestamp(0)).subject else { unreachable!() };
        assert!(condition.check(values).is_some());
    }
}
