//! The table's key design: one table, a string partition key `pk` and sort key `sk` on every
//! item, the kind of item spelled in its keys.
//!
//! | item | `pk` | `sk` | expires (`expires_at`) |
//! |---|---|---|---|
//! | run: windows and cooldowns (`rec`), liveness (`act`) | `RUN#{entity}#{project}#{run_id}` | `RUN` | 30 days after the run's last event |
//! | fire, which is its execution (the outbox) | `FIRE#{fire_id}` | `FIRE` | 30 days after it fired |
//! | automation | `AUTOS` | `A#{entity}#{id}` | never |
//! | automation name claim | `AUTOS` | `N#{entity}#{name}` | never |
//! | integration (with its credentials) | `INTEG#{entity}` | `N#{name}` | never |
//! | API key (its SHA-256) | `KEY#{hash}` | `KEY` | never |
//! | rejected envelope | `REJECTS` | `{received_at_ms:013}#{token}` | 30 days after it came |
//! | MLflow tracking cursor of one run | `MLFLOW#{integration_id}` | `RUN#{run_id}` | never (deleted with the integration) |
//! | MLflow tracking integration's last poll | `MLFLOW#{integration_id}` | `POLL` | never (deleted with the integration) |
//!
//! Four global secondary indexes, all sparse (only the items that carry their keys are in them):
//!
//! | index | partition key | sort key | projection | lists |
//! |---|---|---|---|---|
//! | `by_automation` | `aid` | `at_id` (`{created_ms:013}#{fire_id}`) | keys | an automation's executions, newest first |
//! | `due` | `due_shard` (`DUE#0`..`DUE#3`) | `due_at` (ms) | `v`, `expires_at` | pending executions, soonest due first (the sweeper's relay) |
//! | `stalled` | `stall_shard` (`RUN#0`..`RUN#3`) | `seen` (ms) | `act`, `act_exp` | running runs, longest silent first (stalled-run detection) |
//! | `tracking` | `trk` (`MLFLOW`) | `id` | keys | the `mlflow` integrations with a tracking side, of every entity (the poller's list) |
//!
//! Key parts that come from users are escaped (`%` as `%25`, `#` as `%23`), so no two different
//! tuples give the same key. The `due` and `stalled` partition keys are spread over 4 shards (by a
//! hash of the item's key) so no single index partition takes every write.
//!
//! Why this shape:
//! - A batch of run events reads every touched run with one BatchGetItem (a run is one item:
//!   all its windows, cooldowns and liveness together) and writes each with at most one
//!   conditional UpdateItem (`v` is the item's optimistic version, bumped by every write).
//! - A fire is one conditional PutItem on a key derived from the fire id alone, and that item is
//!   the fire's execution, `PENDING` and in the `due` index: recording the fire and owing its
//!   delivery are one write. Whichever consumer writes it first owns it, so an event processed
//!   twice fires once.
//! - Automations share one partition: the engine reads them all with one Query, and the
//!   configuration API pages through one entity's in id order with a sort-key range. They are
//!   few and read through a cache, far below one partition's throughput.
//! - An integration is read by name on every delivery: one GetItem.
//!
//! Every item that expires carries the TTL attribute `expires_at` (epoch seconds). DynamoDB
//! deletes expired items up to days late, so reads also treat `expires_at <= now` as absent; a
//! run item's two parts carry their own expiry (`rec_exp`, `act_exp`) and `expires_at` is that of
//! the part written last. `tok` is the token of the last write: a retried write that timed out
//! finds its own token in the item when its first attempt landed.

use automations_core::event::RunKey;
use automations_core::time::Timestamp;
use automations_core::{AutomationId, EntityId, FireId, IntegrationName};
use aws_sdk_dynamodb::types::AttributeValue;
use std::borrow::Cow;

use crate::api::Item;

/// The partition key attribute (a string) of every item.
pub const PK: &str = "pk";
/// The sort key attribute (a string) of every item.
pub const SK: &str = "sk";
/// The TTL attribute: epoch seconds.
pub const EXPIRES_AT: &str = "expires_at";
/// The write token of the last write.
pub const TOKEN: &str = "tok";
/// The expression value placeholder that carries a write's token (fault injection rewrites it).
pub const TOKEN_VALUE: &str = ":tok";

/// Every versioned item's optimistic version.
pub const VERSION: &str = "v";

/// A run item's record (windows and cooldowns) as JSON, values packed (see `record_codec`).
pub const RECORD: &str = "rec";
/// When a run item's record expires (epoch seconds).
pub const RECORD_EXPIRES: &str = "rec_exp";
/// A run item's activity (liveness) as JSON.
pub const ACTIVITY: &str = "act";
/// When a run item's activity expires (epoch seconds).
pub const ACTIVITY_EXPIRES: &str = "act_exp";
/// When the run was last seen (ms): the `stalled` index's sort key.
pub const SEEN: &str = "seen";
/// The `stalled` index's partition key (`RUN#0`..`RUN#3`), set only while the run is running.
pub const STALL_SHARD: &str = "stall_shard";
/// The sort key of every run item.
pub const RUN_SK: &str = "RUN";

/// The item's document as JSON: an execution, an automation or an integration (with its credentials).
pub const DOCUMENT: &str = "doc";
/// An execution's automation id: the `by_automation` index's partition key.
pub const AUTOMATION_ID: &str = "aid";
/// `{created_ms:013}#{fire_id}`: the `by_automation` index's sort key.
pub const CREATED_ID: &str = "at_id";
/// An execution's state (such as `PENDING`).
pub const STATE: &str = "state";
/// When a pending execution is next due (ms): the `due` index's sort key; it overrides the document's.
pub const DUE_AT: &str = "due_at";
/// The `due` index's partition key (`DUE#0`..`DUE#3`), set only on a pending execution with a next attempt.
pub const DUE_SHARD: &str = "due_shard";
/// The sort key of every fire (execution) item.
pub const FIRE_SK: &str = "FIRE";

/// The index of an automation's executions, newest first.
pub const BY_AUTOMATION: &str = "by_automation";
/// The index of pending executions by when they are due (the sweeper's relay).
pub const DUE: &str = "due";
/// The index of running runs by when they were last seen (stalled-run detection).
pub const STALLED: &str = "stalled";
/// The index of the integrations with an MLflow tracking side (the poller's list).
pub const TRACKING: &str = "tracking";
/// The `tracking` index's partition key attribute, set (to [`TRACKING_PK`]) only on the items of
/// integrations with a tracking side.
pub const TRACKED: &str = "trk";
/// The value of [`TRACKED`]: the one partition of the `tracking` index.
pub const TRACKING_PK: &str = "MLFLOW";
/// Shards of the `due` and `stalled` indexes.
pub const SHARDS: u64 = 4;

/// The entity an automation, integration, API key or execution belongs to.
pub const ENTITY: &str = "ent";
/// When an automation, integration or API key was created (ms).
pub const CREATED_AT: &str = "at";

/// The one partition of every entity's automations and name claims.
pub const AUTOS_PK: &str = "AUTOS";
/// An automation's or integration's name.
pub const NAME: &str = "name";
/// An automation's or integration's id (on a name claim, the automation holding the name; the `tracking`
/// index's sort key).
pub const ID: &str = "id";
/// When an automation was last updated (ms).
pub const UPDATED_AT: &str = "upd";

/// The one partition of the rejected envelopes.
pub const REJECTS_PK: &str = "REJECTS";

/// Escape a user-given key part so `#` always separates parts.
pub fn enc(part: &str) -> Cow<'_, str> {
    if part.contains(['%', '#']) {
        Cow::Owned(part.replace('%', "%25").replace('#', "%23"))
    } else {
        Cow::Borrowed(part)
    }
}

/// A string attribute value.
pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// A number attribute value.
pub fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// A primary key.
pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    [(PK.to_string(), s(pk)), (SK.to_string(), s(sk))].into_iter().collect()
}

/// The partition key of a run's item.
pub fn run_pk(k: &RunKey) -> String {
    format!("RUN#{}#{}#{}", enc(&k.entity), enc(&k.project), enc(&k.run_id))
}

/// The primary key of a run's item.
pub fn run_key(k: &RunKey) -> Item {
    key(run_pk(k), RUN_SK)
}

/// The primary key of a fire's (execution's) item.
pub fn fire_key(fire_id: &FireId) -> Item {
    key(format!("FIRE#{}", enc(fire_id.as_str())), FIRE_SK)
}

/// The shard (0..[`SHARDS`]) of an item, by its partition key (FNV-1a: stable across builds).
pub fn shard(pk: &str) -> u64 {
    pk.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)) % SHARDS
}

/// The `due` index partition of a pending execution.
pub fn due_shard(fire_id: &FireId) -> String {
    format!("DUE#{}", shard(fire_id.as_str()))
}

/// The `stalled` index partition of a running run.
pub fn stall_shard(run_pk: &str) -> String {
    format!("RUN#{}", shard(run_pk))
}

/// The primary key of an integration's item.
pub fn integration_key(entity: &EntityId, name: &IntegrationName) -> Item {
    key(integrations_pk(entity), format!("N#{}", enc(name.as_str())))
}

/// The partition holding an entity's integrations.
pub fn integrations_pk(entity: &EntityId) -> String {
    format!("INTEG#{}", enc(entity.as_str()))
}

/// The partition of an MLflow tracking integration's cursors and poll record.
pub fn tracking_pk(integration_id: &str) -> String {
    format!("MLFLOW#{}", enc(integration_id))
}

/// The primary key of one run's tracking cursor.
pub fn cursor_key(integration_id: &str, run_id: &str) -> Item {
    key(tracking_pk(integration_id), format!("RUN#{}", enc(run_id)))
}

/// The primary key of an integration's last poll.
pub fn poll_key(integration_id: &str) -> Item {
    key(tracking_pk(integration_id), "POLL")
}

/// The primary key of an API key's item.
pub fn api_key_key(hash: &str) -> Item {
    key(format!("KEY#{}", enc(hash)), "KEY")
}

/// The sort key prefix of an entity's automations.
pub fn automation_prefix(entity: &EntityId) -> String {
    format!("A#{}#", enc(entity.as_str()))
}

/// The primary key of an automation's item.
pub fn automation_key(entity: &EntityId, id: &AutomationId) -> Item {
    key(AUTOS_PK, format!("{}{}", automation_prefix(entity), enc(id.as_str())))
}

/// The primary key of the item that reserves an automation name in an entity.
pub fn name_claim_key(entity: &EntityId, name: &str) -> Item {
    key(AUTOS_PK, format!("N#{}#{}", enc(entity.as_str()), enc(name)))
}

/// Epoch seconds for the TTL attribute, rounded up: DynamoDB's TTL counts whole seconds, and an
/// item may live up to a second longer than asked, never shorter.
pub fn ttl_seconds(t: Timestamp) -> i64 {
    t.0.div_euclid(1000) + i64::from(t.0.rem_euclid(1000) != 0)
}

/// The `:now` of expiry conditions: an item is live while `expires_at > now_seconds(now)`.
pub fn now_seconds(now: Timestamp) -> i64 {
    now.0.div_euclid(1000)
}

/// Is an item with this `expires_at` still live at `now`?
pub fn is_live(item: &Item, now: Timestamp) -> bool {
    is_live_by(item, EXPIRES_AT, now)
}

/// Is the expiry attribute `attr` (epoch seconds) of `item` still in the future at `now`? An
/// item without it never expires.
pub fn is_live_by(item: &Item, attr: &str, now: Timestamp) -> bool {
    get_i64(item, attr).is_none_or(|exp| exp > now_seconds(now))
}

/// A string attribute.
pub fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}

/// A number attribute, as i64.
pub fn get_i64(item: &Item, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_parts_cannot_forge_keys() {
        let a = RunKey { entity: "a#b".into(), project: "c".into(), run_id: "d".into() };
        let b = RunKey { entity: "a".into(), project: "b#c".into(), run_id: "d".into() };
        assert_ne!(run_pk(&a), run_pk(&b));
        assert_eq!(run_pk(&a), "RUN#a%23b#c#d");
        assert_eq!(enc("50%#"), "50%25%23");
        assert_ne!(
            automation_key(&EntityId::new("a#b"), &AutomationId::new("c")),
            automation_key(&EntityId::new("a"), &AutomationId::new("b#c"))
        );
    }

    #[test]
    fn ttl_rounds_up_and_liveness_is_exclusive() {
        assert_eq!(ttl_seconds(Timestamp(5_000)), 5);
        assert_eq!(ttl_seconds(Timestamp(5_001)), 6);
        let mut item = Item::new();
        item.insert(EXPIRES_AT.into(), n(5));
        assert!(is_live(&item, Timestamp(4_999)));
        assert!(!is_live(&item, Timestamp(5_000)), "expires_at <= now is absent");
        assert!(!is_live(&item, Timestamp(5_500)));
    }
}
