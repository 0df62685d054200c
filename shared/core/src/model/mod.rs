//! The domain model: scopes, triggers, metric conditions, actions and the automation itself.

pub mod action;
pub mod automation;
pub mod condition;
pub mod integration;
pub mod reader;
pub mod run;
pub mod scope;
pub mod trigger;

pub use action::{Action, Severity};
pub use automation::{Automation, CompiledFilter, Trigger};
pub use condition::{Agg, ChangeDir, ChangeType, Cmp, MetricCondition};
pub use integration::{Integration, IntegrationKind, IntegrationView, Secret};
pub use run::RunState;
pub use scope::{Location, Scope, ScopeKind};
pub use trigger::TriggerKind;
