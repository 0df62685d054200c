//! What tests and tools do to a store that no deployment does through its ports: put an
//! automation straight into the engine's view (past the API's checks), and read one execution
//! back by its fire id. Kept out of [`super::AutomationStore`] and [`super::ExecutionStore`] so a
//! production caller holding those ports cannot reach them.

use super::StoreError;
use crate::BoxFuture;
use crate::FireId;
use crate::delivery::Execution;
use crate::model::Automation;
use crate::time::Timestamp;

/// Seeding automations without the configuration API (its name and cap checks do not apply).
pub trait SeedAutomations: Send + Sync {
    /// Insert or replace an automation (by id).
    fn put_automation<'a>(
        &'a self,
        automation: &'a Automation,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// Reading one execution back, to check what delivery saved.
pub trait ReadExecution: Send + Sync {
    /// The execution of a fire, if it exists and has not expired.
    fn get_execution<'a>(
        &'a self,
        fire_id: &'a FireId,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Option<Execution>, StoreError>>;
}
