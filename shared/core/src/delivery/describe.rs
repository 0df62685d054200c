//! Words and short strings about a fire, shared by the payload template, the default payload and
//! the Slack message: the artifact's path, what a metric condition checks, what it saw.

use crate::fire::{Fire, Subject};
use crate::model::condition::{Agg, ChangeDir, ChangeType, Cmp, MetricCondition};
use crate::model::{Location, RunState};
use crate::window::Observed;

/// The project an artifact event's location stands for, named as W&B names it: a registry
/// `model` lives in the project `wandb-registry-model`.
pub fn project_name(location: &Location) -> String {
    match location {
        Location::Project(p) => p.clone(),
        Location::Registry(r) => format!("wandb-registry-{r}"),
    }
}

/// The version's name, `v7`.
pub fn version_name(version: u64) -> String {
    format!("v{version}")
}

/// `entity/project/collection:v7`, the path W&B's client library takes (`api.artifact(...)`).
pub fn version_string(entity: &str, location: &Location, collection: &str, version: u64) -> String {
    format!("{entity}/{}/{collection}:{}", project_name(location), version_name(version))
}

/// The user behind the event: its `author`, else (run events) the run's user.
pub fn author(fire: &Fire) -> Option<&str> {
    match &fire.subject {
        Subject::Artifact { author, .. } => author.as_deref(),
        Subject::RunState { run, .. } | Subject::Metric { run, .. } => run.author.as_deref().or(run.user.as_deref()),
    }
}

/// The run's state as the fire saw it: the new state of a state change, `running` for metrics.
pub fn run_status(fire: &Fire) -> Option<RunState> {
    match &fire.subject {
        Subject::RunState { state, .. } => Some(*state),
        Subject::Metric { .. } => Some(RunState::Running),
        Subject::Artifact { .. } => None,
    }
}

/// A number the way a person writes it: `1`, `0.25`, `1e-9`.
pub fn num(x: f64) -> String {
    format!("{x}")
}

fn agg_word(a: Agg) -> &'static str {
    match a {
        Agg::Max => "max",
        Agg::Min => "min",
        Agg::Average => "average",
    }
}

fn cmp_symbol(c: Cmp) -> &'static str {
    match c {
        Cmp::Gt => ">",
        Cmp::Gte => ">=",
        Cmp::Lt => "<",
        Cmp::Lte => "<=",
        Cmp::Eq => "==",
        Cmp::Ne => "!=",
    }
}

/// What the condition checks, in one line (`${metric_filter}`), e.g. `average of the last 5
/// values of loss > 1`.
pub fn condition(c: &MetricCondition) -> String {
    match c {
        MetricCondition::Threshold(t) => match t.agg {
            None => format!("{} {} {}", t.name, cmp_symbol(t.cmp), num(t.threshold)),
            Some(a) => format!(
                "{} of the last {} values of {} {} {}",
                agg_word(a),
                t.window,
                t.name,
                cmp_symbol(t.cmp),
                num(t.threshold)
            ),
        },
        MetricCondition::Change(ch) => {
            let verb = match ch.change_dir {
                ChangeDir::Increase => "increases",
                ChangeDir::Decrease => "decreases",
                ChangeDir::Any => "changes",
            };
            let amount = match ch.change_type {
                ChangeType::Relative => format!("{}%", num(round(ch.amount * 100.0))),
                ChangeType::Absolute => num(ch.amount),
            };
            match ch.agg {
                None => format!("{} {verb} by at least {amount} from one value to the next", ch.name),
                Some(a) => format!(
                    "{} of the last {} values of {} {verb} by at least {amount} against the {} values before",
                    agg_word(a),
                    ch.current_window,
                    ch.name,
                    ch.prior_window
                ),
            }
        }
        MetricCondition::ZScore(z) => {
            let test = match z.change_dir {
                ChangeDir::Increase => format!(">= {}", num(z.threshold)),
                ChangeDir::Decrease => format!("<= -{}", num(z.threshold)),
                ChangeDir::Any => format!("beyond ±{}", num(z.threshold)),
            };
            format!("z-score of {} against its last {} values {test}", z.name, z.window)
        }
    }
}

/// What the condition saw when it held (`${metric_current_status}`), e.g. `loss = 1.3` or
/// `loss went from 0.5 to 0.9 (+80%)`.
pub fn observed(metric: &str, c: &MetricCondition, o: &Observed) -> String {
    match *o {
        Observed::Threshold { value } => match c {
            MetricCondition::Threshold(t) if t.agg.is_some() => {
                format!("{} of {metric} = {}", agg_word(t.agg.unwrap_or(Agg::Average)), num(value))
            }
            _ => format!("{metric} = {}", num(value)),
        },
        Observed::Change { prior, current, delta } => {
            let relative = matches!(c, MetricCondition::Change(ch) if ch.change_type == ChangeType::Relative);
            let change = if relative { format!("{:+}%", round(delta * 100.0)) } else { format!("{:+}", round(delta)) };
            format!("{metric} went from {} to {} ({change})", num(prior), num(current))
        }
        Observed::ZScore { value, mean, stddev, z } => format!(
            "{metric} = {} against mean {} and stddev {}: z-score {}",
            num(value),
            num(round(mean)),
            num(round(stddev)),
            num(round(z))
        ),
    }
}

/// Four decimals are plenty for a message; exact values are in `metric_values`.
fn round(x: f64) -> f64 {
    if x.abs() >= 1e-4 || x == 0.0 { (x * 10_000.0).round() / 10_000.0 } else { x }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::condition::{Change, Threshold, ZScore};

    #[test]
    fn describes_conditions_and_observations() {
        let t = MetricCondition::Threshold(Threshold {
            name: "loss".into(),
            agg: Some(Agg::Average),
            window: 5,
            cmp: Cmp::Gt,
            threshold: 1.0,
        });
        assert_eq!(condition(&t), "average of the last 5 values of loss > 1");
        assert_eq!(observed("loss", &t, &Observed::Threshold { value: 1.3 }), "average of loss = 1.3");
        let c = MetricCondition::Change(Change {
            name: "loss".into(),
            agg: Some(Agg::Min),
            current_window: 2,
            prior_window: 3,
            change_type: ChangeType::Relative,
            change_dir: ChangeDir::Increase,
            amount: 0.25,
        });
        assert_eq!(
            condition(&c),
            "min of the last 2 values of loss increases by at least 25% against the 3 values before"
        );
        assert_eq!(
            observed("loss", &c, &Observed::Change { prior: 0.5, current: 0.9, delta: 0.8 }),
            "loss went from 0.5 to 0.9 (+80%)"
        );
        let z = MetricCondition::ZScore(ZScore {
            name: "acc".into(),
            window: 30,
            threshold: 3.0,
            change_dir: ChangeDir::Decrease,
        });
        assert_eq!(condition(&z), "z-score of acc against its last 30 values <= -3");
        assert_eq!(
            observed("acc", &z, &Observed::ZScore { value: 0.2, mean: 0.5425, stddev: 0.0148, z: -23.123456 }),
            "acc = 0.2 against mean 0.5425 and stddev 0.0148: z-score -23.1235"
        );
    }

    #[test]
    fn registries_read_as_their_wandb_project() {
        let l = Location::Registry("model".into());
        assert_eq!(version_string("acme", &l, "classifier", 3), "acme/wandb-registry-model/classifier:v3");
        assert_eq!(project_name(&Location::Project("mnist".into())), "mnist");
    }
}
