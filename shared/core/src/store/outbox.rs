//! The outbox: executions, the delivery record of every fire, kept in the same write as the fire.
//!
//! [`super::FireStore::record_fires`] writes each new fire's [`Execution`] (built with
//! [`Execution::for_fire`]) in the same write that records the fire, so a fire is never recorded
//! without its delivery also being owed: if the process dies right after, the execution is still
//! `PENDING` and due, and the next worker to look (the local deliverer, or on AWS the sweeper's
//! relay) picks it up. Nothing depends on two writes both succeeding.
//!
//! Workers take an execution with a *claim*: a conditional write that bumps its `version` and
//! pushes `next_attempt_at` to the end of a lease. Only the holder of that version may save the
//! attempt's outcome ([`ExecutionStore::save_execution`] is a compare-and-swap on `version`), and
//! the execution is not due again until the lease ends, so two deliverers or two sweeps never send
//! the same attempt concurrently. A worker that dies mid-attempt leaves the execution to be taken
//! over when its lease ends: the receiver then gets the delivery again, under the same
//! `webhook-id`.
//!
//! # Design note for the DynamoDB adapter
//!
//! - The fire item *is* the execution item: one `PutItem` with
//!   `attribute_not_exists(pk) OR expires_at <= :now` records both (an expired fire reads as
//!   absent). It holds the fire id (key), `automation_id`, `created_at`, `expires_at` (the TTL
//!   attribute), `state`, `version`, `attempts`, the execution document ([`Execution::to_json`]),
//!   and, while `PENDING`, a `due_at` number (= `next_attempt_at`) plus a constant or sharded
//!   `due_shard` key so a sparse GSI (`due_shard`, `due_at`) lists exactly the pending items.
//!   Leaving `PENDING` removes `due_at`/`due_shard` (`REMOVE`), which drops the item from the GSI.
//! - [`ExecutionStore::claim_due`]: query the GSI for `due_at <= :due_by`, then per item an
//!   `UpdateItem SET due_at = :lease_until, version = version + 1, #doc = ...` with condition
//!   `version = :seen AND due_at <= :due_by AND state = 'PENDING'`; a failed condition means
//!   another worker won, skip the item.
//! - [`ExecutionStore::claim`]: the same update on one key (the dispatcher, with the version the
//!   queue message carries, or `None`: "if due now").
//! - [`ExecutionStore::save_execution`]: `PutItem` (or `UpdateItem`) with condition
//!   `version = :claimed`, writing `version = :claimed + 1`.
//! - [`ExecutionStore::list_executions`]: a GSI (`automation_id`, `created_at`), newest first;
//!   the cursor is the `LastEvaluatedKey`, encoded. Expired items are filtered out on read.
//! - On AWS the evaluator sends a queue message `{fire_id, version: 0}` after recording; the
//!   dispatcher claims with that version, so a message for an execution the sweeper already
//!   relayed (and so claimed, version 1) claims nothing and is dropped. The sweeper relays with
//!   `claim_due(due_by = now - grace)`, where the grace (a minute or two) leaves the queue time
//!   to deliver what it holds, and sends `{fire_id, version}` of each claim.

use super::{Page, StoreError};
use crate::BoxFuture;
use crate::delivery::Execution;
use crate::time::Timestamp;
use crate::{AutomationId, FireId};

/// Executions: what the local deliverer, the AWS dispatcher and sweeper, and the API read and write.
pub trait ExecutionStore: Send + Sync {
    /// Claim up to `limit` pending executions due at or before `due_by`, oldest due first: each
    /// gets `version + 1` and `next_attempt_at = lease_until`, and is returned as claimed.
    fn claim_due<'a>(
        &'a self,
        due_by: Timestamp,
        limit: usize,
        lease_until: Timestamp,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Execution>, StoreError>>;

    /// Claim one execution: if `version` is given, only if it is still at that version (and
    /// pending); if not, only if it is due at `now`. `None` when it is not to be delivered by
    /// this caller (finished, claimed by someone else, unknown or expired).
    fn claim<'a>(
        &'a self,
        fire_id: &'a FireId,
        version: Option<u64>,
        lease_until: Timestamp,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Option<Execution>, StoreError>>;

    /// Save an execution after an attempt if its stored version is still `execution.version`
    /// (the claimed one); the stored copy gets `version + 1`. Returns `false` when the claim was
    /// lost (the lease ran out and another worker claimed it): the outcome is then not saved.
    fn save_execution<'a>(
        &'a self,
        execution: &'a Execution,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// One page of an automation's live executions, newest first. `cursor` is a previous page's
    /// `next`; `limit` is at least 1.
    fn list_executions<'a>(
        &'a self,
        automation_id: &'a AutomationId,
        cursor: Option<&'a str>,
        limit: usize,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Page<Execution>, StoreError>>;

    /// When the earliest pending execution is due (a claimed one: when its lease ends), so a
    /// deliverer can sleep until then. `None` when nothing is pending.
    fn next_due<'a>(&'a self, now: Timestamp) -> BoxFuture<'a, Result<Option<Timestamp>, StoreError>>;
}

/// A listing cursor for executions: the (`created_at`, `fire_id`) of the last item returned,
/// as `<millis>.<fire id>`. Stores that order by these two keys resume strictly after it.
pub fn execution_cursor(e: &Execution) -> String {
    format!("{}.{}", e.created_at.0, e.fire_id)
}

/// Read a cursor made by [`execution_cursor`]; `None` when it is not one. The API checks
/// cursors with this first and answers 400 naming the parameter; a store handed one that does not
/// read returns an empty page.
pub fn parse_execution_cursor(cursor: &str) -> Option<(Timestamp, FireId)> {
    let (ms, id) = cursor.split_once('.')?;
    Some((Timestamp(ms.parse().ok()?), FireId::new(id)))
}
