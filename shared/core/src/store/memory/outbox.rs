//! The outbox and run activity on the in-memory store: the reference behaviour the SQLite and
//! DynamoDB adapters are compared against.

use crate::BoxFuture;
use crate::activity::{self, ActivityUpdate, RunActivity};
use crate::delivery::{Execution, ExecutionState};
use crate::model::RunState;
use crate::store::*;
use crate::{AutomationId, FireId};
use std::collections::HashMap;

/// Executions by fire id, and run activity by run.
#[derive(Debug, Default)]
pub(in crate::store) struct OutboxData {
    executions: HashMap<FireId, Execution>,
    activity: HashMap<RunKey, RunActivity>,
}

impl OutboxData {
    /// Store a new fire's execution (replacing an expired one with the same id).
    pub(in crate::store) fn insert(&mut self, execution: Execution) {
        self.executions.insert(execution.fire_id.clone(), execution);
    }

    fn live(&self, fire_id: &FireId, now: Timestamp) -> Option<&Execution> {
        self.executions.get(fire_id).filter(|e| e.expires_at > now)
    }
}

fn take_claim(e: &mut Execution, lease_until: Timestamp) -> Execution {
    e.version += 1;
    e.next_attempt_at = Some(lease_until);
    e.clone()
}

impl ExecutionStore for MemoryStore {
    fn claim_due<'a>(
        &'a self,
        due_by: Timestamp,
        limit: usize,
        lease_until: Timestamp,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<Execution>, StoreError>> {
        Box::pin(async move {
            let mut inner = self.lock();
            let mut due: Vec<(Timestamp, FireId)> = inner
                .outbox
                .executions
                .values()
                .filter(|e| e.expires_at > now && e.is_due(due_by))
                .map(|e| (e.next_attempt_at.unwrap_or(due_by), e.fire_id.clone()))
                .collect();
            due.sort();
            due.truncate(limit);
            Ok(due
                .into_iter()
                .filter_map(|(_, id)| inner.outbox.executions.get_mut(&id).map(|e| take_claim(e, lease_until)))
                .collect())
        })
    }

    fn claim<'a>(
        &'a self,
        fire_id: &'a FireId,
        version: Option<u64>,
        lease_until: Timestamp,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Option<Execution>, StoreError>> {
        Box::pin(async move {
            let mut inner = self.lock();
            let Some(e) = inner.outbox.executions.get_mut(fire_id).filter(|e| e.expires_at > now) else {
                return Ok(None);
            };
            let ok = e.state == ExecutionState::Pending
                && match version {
                    Some(v) => e.version == v,
                    None => e.is_due(now),
                };
            Ok(ok.then(|| take_claim(e, lease_until)))
        })
    }

    fn save_execution<'a>(
        &'a self,
        execution: &'a Execution,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut inner = self.lock();
            match inner.outbox.executions.get_mut(&execution.fire_id) {
                Some(e) if e.version == execution.version && e.expires_at > now => {
                    *e = execution.clone();
                    e.version += 1;
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
    }

    fn list_executions<'a>(
        &'a self,
        automation_id: &'a AutomationId,
        cursor: Option<&'a str>,
        limit: usize,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Page<Execution>, StoreError>> {
        Box::pin(async move {
            let after = match cursor {
                None => None,
                Some(c) => match parse_execution_cursor(c) {
                    Some(k) => Some(k),
                    None => return Ok(Page { items: Vec::new(), next: None }),
                },
            };
            let inner = self.lock();
            let mut items: Vec<&Execution> = inner
                .outbox
                .executions
                .values()
                .filter(|e| e.automation_id == automation_id && e.expires_at > now)
                .filter(|e| after.as_ref().is_none_or(|(t, id)| (e.created_at, &e.fire_id) < (*t, id)))
                .collect();
            // Newest first; the fire id breaks ties so the order is total and pages never overlap.
            items.sort_by(|a, b| (b.created_at, &b.fire_id).cmp(&(a.created_at, &a.fire_id)));
            let limit = limit.max(1);
            let more = items.len() > limit;
            let items: Vec<Execution> = items.into_iter().take(limit).cloned().collect();
            let next = if more { items.last().map(execution_cursor) } else { None };
            Ok(Page { items, next })
        })
    }

    fn next_due<'a>(&'a self, now: Timestamp) -> BoxFuture<'a, Result<Option<Timestamp>, StoreError>> {
        Box::pin(async move {
            let inner = self.lock();
            Ok(inner
                .outbox
                .executions
                .values()
                .filter(|e| e.expires_at > now && e.state == ExecutionState::Pending)
                .filter_map(|e| e.next_attempt_at)
                .min())
        })
    }
}

impl ReadExecution for MemoryStore {
    fn get_execution<'a>(
        &'a self,
        fire_id: &'a FireId,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Option<Execution>, StoreError>> {
        Box::pin(async move { Ok(self.lock().outbox.live(fire_id, now).cloned()) })
    }
}

impl super::Inner {
    pub(in crate::store) fn record_activity(&mut self, updates: &[ActivityUpdate], now: Timestamp) {
        for u in updates {
            let old = self.outbox.activity.get(&u.key).filter(|a| a.expires_at > now);
            let new = activity::apply(old, u);
            self.outbox.activity.insert(u.key.clone(), new);
        }
    }
}

impl RunActivityStore for MemoryStore {
    fn record_activity<'a>(
        &'a self,
        updates: &'a [ActivityUpdate],
        now: Timestamp,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.lock().record_activity(updates, now);
            Ok(())
        })
    }

    fn stalled_runs<'a>(
        &'a self,
        silent_since: Timestamp,
        limit: usize,
        now: Timestamp,
    ) -> BoxFuture<'a, Result<Vec<RunActivity>, StoreError>> {
        Box::pin(async move {
            let inner = self.lock();
            let mut out: Vec<RunActivity> = inner
                .outbox
                .activity
                .values()
                .filter(|a| a.state == RunState::Running && a.last_seen <= silent_since && a.expires_at > now)
                .cloned()
                .collect();
            out.sort_by(|a, b| (a.last_seen, &a.key).cmp(&(b.last_seen, &b.key)));
            out.truncate(limit);
            Ok(out)
        })
    }
}

impl PurgeExpired for MemoryStore {
    fn purge_expired<'a>(&'a self, now: Timestamp) -> BoxFuture<'a, Result<usize, StoreError>> {
        Box::pin(async move {
            let mut inner = self.lock();
            let before = inner.outbox.executions.len()
                + inner.outbox.activity.len()
                + inner.fires.len()
                + inner.fire_ids.len()
                + inner.runs.len();
            inner.outbox.executions.retain(|_, e| e.expires_at > now);
            inner.fire_ids.retain(|_, exp| *exp > now);
            inner.outbox.activity.retain(|_, a| a.expires_at > now);
            inner.fires.retain(|_, (_, exp)| *exp > now);
            let fires = &inner.fires;
            let order: Vec<FireId> = inner.fire_order.iter().filter(|id| fires.contains_key(*id)).cloned().collect();
            inner.fire_order = order;
            inner.runs.retain(|_, (_, exp)| *exp > now);
            let after = inner.outbox.executions.len()
                + inner.outbox.activity.len()
                + inner.fires.len()
                + inner.fire_ids.len()
                + inner.runs.len();
            Ok(before - after)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::payload::tests::artifact_fire;

    fn store_with(n: usize) -> (MemoryStore, Vec<FireId>) {
        let s = MemoryStore::new();
        let fires: Vec<Fire> = (0..n)
            .map(|i| {
                let mut f = artifact_fire();
                f.id = FireId::new(format!("fire_{i:02}"));
                f
            })
            .collect();
        let new = ready_now(s.record_fires(&fires, Timestamp(100))).unwrap();
        assert!(new.iter().all(|x| *x));
        (s, fires.into_iter().map(|f| f.id).collect())
    }

    #[test]
    fn recording_a_fire_records_its_pending_execution() {
        let (s, ids) = store_with(1);
        let e = ready_now(s.get_execution(&ids[0], Timestamp(100))).unwrap().unwrap();
        assert_eq!(e.state, ExecutionState::Pending);
        assert_eq!(ready_now(s.next_due(Timestamp(100))).unwrap(), Some(Timestamp(100)));
    }

    #[test]
    fn a_claim_leases_and_only_its_holder_saves() {
        let (s, ids) = store_with(3);
        let now = Timestamp(200);
        let claimed = ready_now(s.claim_due(now, 2, Timestamp(1_000), now)).unwrap();
        assert_eq!(claimed.len(), 2);
        // Claimed ones are not due again until the lease ends; the third still is.
        let again = ready_now(s.claim_due(now, 10, Timestamp(1_000), now)).unwrap();
        assert_eq!(again.len(), 1);
        assert!(ready_now(s.claim_due(now, 10, Timestamp(1_000), now)).unwrap().is_empty());
        // A stale holder cannot save over a newer claim.
        let mut first = claimed[0].clone();
        let taken_over =
            ready_now(s.claim(&first.fire_id, Some(first.version), Timestamp(2_000), now)).unwrap().unwrap();
        first.state = ExecutionState::Finished;
        assert!(!ready_now(s.save_execution(&first, now)).unwrap());
        let mut done = taken_over;
        done.state = ExecutionState::Finished;
        assert!(ready_now(s.save_execution(&done, now)).unwrap());
        assert!(ready_now(s.claim(&done.fire_id, None, Timestamp(3_000), Timestamp(5_000))).unwrap().is_none());
        assert_eq!(ids.len(), 3);
    }

    #[test]
    fn lists_newest_first_in_pages() {
        let s = MemoryStore::new();
        for i in 0..5 {
            let mut f = artifact_fire();
            f.id = FireId::new(format!("fire_{i}"));
            ready_now(s.record_fires(&[f], Timestamp(100 + i))).unwrap();
        }
        let p1 = ready_now(s.list_executions(&AutomationId::new("auto-1"), None, 2, Timestamp(200))).unwrap();
        let ids: Vec<_> = p1.items.iter().map(|e| e.fire_id.as_str()).collect();
        assert_eq!(ids, ["fire_4", "fire_3"]);
        let p2 =
            ready_now(s.list_executions(&AutomationId::new("auto-1"), p1.next.as_deref(), 2, Timestamp(200))).unwrap();
        let p3 =
            ready_now(s.list_executions(&AutomationId::new("auto-1"), p2.next.as_deref(), 2, Timestamp(200))).unwrap();
        assert_eq!(p3.items.len(), 1);
        assert!(p3.next.is_none());
        assert!(
            ready_now(s.list_executions(&AutomationId::new("auto-1"), Some("garbage"), 2, Timestamp(200)))
                .unwrap()
                .items
                .is_empty()
        );
        assert!(
            ready_now(s.list_executions(&AutomationId::new("other"), None, 2, Timestamp(200)))
                .unwrap()
                .items
                .is_empty()
        );
    }
}
