//! The local server's delivery loop over the outbox.
//!
//! It claims due executions (bounded by the free concurrency slots), runs each attempt in its own
//! task, and otherwise sleeps until the next execution is due, a new fire wakes it
//! ([`LocalDeliverer::waker`]), or the poll interval passes. Everything it needs to resume is in
//! the outbox, so a restart loses nothing: executions that were due are still due, and an attempt
//! cut off mid-way is taken over when its lease ends (the receiver may then see it twice, under
//! the same `webhook-id`).

use crate::attempt::Delivery;
use automations_core::delivery::{ExecutionState, Verdict};
use automations_core::time::{Millis, SECOND};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};

/// How the loop runs.
#[derive(Debug, Clone, Copy)]
pub struct DelivererConfig {
    /// Attempts in flight at most.
    pub concurrency: usize,
    /// How long a claim holds an execution: longer than an attempt can take.
    pub lease: Millis,
    /// The longest sleep between two looks at the outbox.
    pub poll: Duration,
}

impl Default for DelivererConfig {
    fn default() -> DelivererConfig {
        DelivererConfig { concurrency: 64, lease: 60 * SECOND, poll: Duration::from_secs(1) }
    }
}

/// Delivers the outbox of a store.
pub struct LocalDeliverer {
    delivery: Arc<Delivery>,
    config: DelivererConfig,
    wake: Arc<Notify>,
}

impl LocalDeliverer {
    /// A deliverer of `delivery`'s outbox, woken early by [`LocalDeliverer::waker`]'s handle.
    pub fn new(delivery: Arc<Delivery>, config: DelivererConfig) -> LocalDeliverer {
        LocalDeliverer { delivery, config, wake: Arc::new(Notify::new()) }
    }

    /// Notify this after recording fires: the loop looks at the outbox at once.
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Run until `shutdown` resolves. Attempts in flight then finish in their own tasks (or are
    /// cut off with the process, and taken over after a restart).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let slots = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            // Wait for a free slot before claiming: a claim starts the lease.
            let free = tokio::select! {
                permit = slots.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => return,
                },
                () = &mut shutdown => return,
            };
            let delay = self.round(&slots, free).await;
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(delay) => {}
                () = &mut shutdown => return,
            }
        }
    }

    /// Claim what is due and start it; returns how long to sleep (zero when there may be more).
    async fn round(&self, slots: &Arc<Semaphore>, first: tokio::sync::OwnedSemaphorePermit) -> Duration {
        let d = &self.delivery;
        let now = d.clock.now();
        let want = slots.available_permits() + 1;
        let claimed = match d.store.claim_due(now, want, now.plus(self.config.lease), now).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "cannot claim due executions; retrying after the poll interval");
                return self.config.poll;
            }
        };
        let full = claimed.len() == want;
        let mut permits = std::iter::once(first).chain(std::iter::from_fn(|| slots.clone().try_acquire_owned().ok()));
        for execution in claimed {
            let Some(permit) = permits.next() else {
                // Cannot happen (slots were counted), but never run unbounded: the claim lapses
                // and the execution is taken again when its lease ends.
                tracing::error!(fire_id = %execution.fire_id, "no free slot for a claimed execution");
                continue;
            };
            let delivery = self.delivery.clone();
            tokio::spawn(async move {
                let fire_id = execution.fire_id.clone();
                match delivery.attempt(execution).await {
                    Ok(done) => log_attempt(&done),
                    Err(e) => {
                        tracing::error!(%fire_id, error = %e, "cannot save a delivery attempt; it is retried when its lease ends")
                    }
                }
                drop(permit);
            });
        }
        if full {
            return Duration::ZERO;
        }
        match d.store.next_due(now).await {
            Ok(Some(t)) => Duration::from_millis(u64::try_from(t.since(now)).unwrap_or(0).max(1)).min(self.config.poll),
            Ok(None) => self.config.poll,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the next due execution");
                self.config.poll
            }
        }
    }
}

/// One line per attempt. The request is not logged: its URL (a Slack webhook URL is a
/// credential) and headers (tokens, signatures) stay in the outbox, masked where shown.
fn log_attempt(done: &crate::attempt::Attempted) {
    let e = &done.execution;
    let response = e.last_response.as_ref();
    let status = response.and_then(|r| r.status);
    let latency_ms = response.map(|r| r.duration_ms);
    let error = response.and_then(|r| r.error.as_deref());
    let next_attempt_at = e.next_attempt_at.filter(|_| e.state == ExecutionState::Pending).map(|t| t.to_string());
    let outcome = match &done.verdict {
        Some(v) => crate::attempt::outcome(v),
        None if e.state == ExecutionState::Skipped => "skipped",
        None => "nothing_to_send",
    };
    match &done.verdict {
        Some(Verdict::Failed { reason, .. }) => tracing::warn!(
            fire_id = %e.fire_id, automation = %e.automation_name, attempt = e.attempts, outcome, status, latency_ms,
            error, reason = %reason, "delivery attempt"
        ),
        Some(Verdict::RetryAt(_)) => tracing::warn!(
            fire_id = %e.fire_id, automation = %e.automation_name, attempt = e.attempts, outcome, status, latency_ms,
            error, next_attempt_at, "delivery attempt"
        ),
        _ => tracing::info!(
            fire_id = %e.fire_id, automation = %e.automation_name, attempt = e.attempts, outcome, status, latency_ms,
            "delivery attempt"
        ),
    }
}
