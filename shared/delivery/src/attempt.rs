//! One attempt of one claimed execution: look the integration up, build and send the request,
//! decide what the outcome means, and save it under the claim.

use crate::sender::{HttpSender, Sent};
use automations_core::delivery::{Attempt, Execution, LastResponse, RetryPolicy, Target, TargetKind, Verdict, request};
use automations_core::model::{Integration, IntegrationKind};
use automations_core::store::{AutomationLookup, ExecutionStore, IntegrationLookup, StoreError};
use automations_core::time::Clock;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::Arc;

/// What delivery reads and writes: the outbox, and the little of the configuration it needs
/// (is the fire's automation still there, which integration to send through, disable one whose
/// receiver is gone).
pub trait DeliveryStore: ExecutionStore + AutomationLookup + IntegrationLookup {}
impl<T: ExecutionStore + AutomationLookup + IntegrationLookup + ?Sized> DeliveryStore for T {}

/// Delivers the executions of a store (which also holds the integrations).
pub struct Delivery {
    /// The executions, and the automations and integrations they deliver through.
    pub store: Arc<dyn DeliveryStore>,
    /// Sends each attempt, to allowed addresses only.
    pub sender: HttpSender,
    /// Timeouts, backoff and when to give up.
    pub policy: RetryPolicy,
    /// "Now", for claims, attempts and retries.
    pub clock: Arc<dyn Clock>,
    /// Per-process randomness for the backoff jitter, so that two processes retrying the same
    /// outage do not retry in step.
    jitter: RandomState,
}

/// What an attempt did.
#[derive(Debug, Clone)]
pub struct Attempted {
    /// The execution as saved (or as it would have been, when `saved` is false).
    pub execution: Execution,
    /// The policy's verdict; `None` when nothing was sent (the integration is disabled, or the
    /// action sends nothing).
    pub verdict: Option<Verdict>,
    /// `false` when the claim was lost before saving: another worker holds the execution now.
    pub saved: bool,
}

/// The `outcome` label of an attempt's verdict.
pub fn outcome(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Delivered => "delivered",
        Verdict::RetryAt(_) => "retry",
        Verdict::Failed { .. } => "failed",
    }
}

/// The delivery target of an integration, credentials exposed for sending; `None` for a kind
/// that only brings events in (MLflow).
pub fn target_of(integration: &Integration) -> Option<Target> {
    match &integration.kind {
        IntegrationKind::Webhook { url, access_token, secret } => Some(Target {
            kind: TargetKind::Webhook,
            url: url.clone(),
            access_token: access_token.as_ref().map(|t| t.expose().to_string()),
            secret: secret.as_ref().map(|s| s.expose().to_string()),
        }),
        IntegrationKind::Slack { url, .. } => {
            Some(Target { kind: TargetKind::Slack, url: url.expose().to_string(), access_token: None, secret: None })
        }
        _ => None,
    }
}

impl Delivery {
    /// Delivery over `store`, with fresh jitter for this process.
    pub fn new(
        store: Arc<dyn DeliveryStore>,
        sender: HttpSender,
        policy: RetryPolicy,
        clock: Arc<dyn Clock>,
    ) -> Delivery {
        Delivery { store, sender, policy, clock, jitter: RandomState::new() }
    }

    /// Make one attempt of `execution`, which the caller has claimed, and save the outcome.
    /// Its logs (and the sender's) carry the fire, the automation and the attempt's number.
    #[tracing::instrument(name = "delivery_attempt", skip_all, fields(
        fire_id = %execution.fire_id,
        automation_id = %execution.automation_id,
        entity = %execution.entity,
        attempt = execution.attempts + 1,
    ))]
    pub async fn attempt(&self, mut execution: Execution) -> Result<Attempted, StoreError> {
        let Some(recorded) = execution.request.clone() else {
            // The `none` action is finished when recorded; a claim of one has nothing to send.
            execution.nothing_to_send();
            automations_telemetry::metrics().delivery("nothing_to_send");
            let saved = self.save(&execution).await?;
            return Ok(Attempted { execution, verdict: None, saved });
        };
        // A deleted automation's pending deliveries are cancelled, not retried out of sight.
        if self.store.get_automation(&execution.entity, &execution.automation_id).await?.is_none() {
            let why = format!("not sent: the automation {:?} was deleted", execution.automation_name);
            return self.skip(execution, why).await;
        }
        let integration = self.store.get_integration(&execution.entity, &recorded.integration).await?;
        let integration = match integration {
            Some(i) if i.disabled.is_some() => {
                let reason = i.disabled.unwrap_or_default();
                let why = format!("not sent: the integration {:?} is disabled ({reason})", recorded.integration);
                return self.skip(execution, why).await;
            }
            other => other,
        };
        let sent = match &integration {
            None => self.not_sent(format!(
                "the integration {:?} does not exist in entity {:?}",
                recorded.integration, execution.entity
            )),
            Some(i) => match target_of(i) {
                None => self.not_sent(format!(
                    "the integration {:?} is a {} integration, which takes no deliveries",
                    recorded.integration,
                    i.kind.type_name()
                )),
                Some(target) => {
                    match request::build(&target, execution.fire_id.as_str(), &recorded.body, self.clock.now()) {
                        Err(e) => self.not_sent(format!("the integration's secret cannot sign: {e}")),
                        Ok(req) => {
                            execution.request = Some(req.recorded(&recorded.integration));
                            self.sender.send(&req, &self.clock).await
                        }
                    }
                }
            },
        };
        execution.attempts += 1;
        let now = self.clock.now();
        let seed = self.jitter.hash_one((&execution.fire_id, execution.attempts));
        let verdict = self.policy.decide(&sent.attempt, execution.attempts, execution.created_at, now, seed);
        let metrics = automations_telemetry::metrics();
        metrics.delivery(outcome(&verdict));
        // Only requests that reached a receiver (an answer or a timeout) say how slow it is; a
        // refusal before sending took no time.
        if !matches!(sent.attempt, Attempt::Refused(_)) {
            metrics.delivery_seconds.observe(sent.response.duration_ms.max(0) as f64 / 1000.0);
        }
        execution.attempted(&verdict, sent.response, now);
        if let Verdict::Failed { disable_integration: true, .. } = &verdict {
            let why = format!("the endpoint answered 410 Gone at {now} (fire {})", execution.fire_id);
            if let Err(e) =
                self.store.set_integration_disabled(&execution.entity, &recorded.integration, Some(&why)).await
            {
                tracing::error!(integration = %recorded.integration, error = %e, "cannot disable the integration after 410 Gone");
                return Err(e);
            }
        }
        let saved = self.save(&execution).await?;
        Ok(Attempted { execution, verdict: Some(verdict), saved })
    }

    async fn skip(&self, mut execution: Execution, why: String) -> Result<Attempted, StoreError> {
        execution.skipped_because(why, self.clock.now());
        automations_telemetry::metrics().delivery("skipped");
        let saved = self.save(&execution).await?;
        Ok(Attempted { execution, verdict: None, saved })
    }

    fn not_sent(&self, why: String) -> Sent {
        Sent {
            attempt: Attempt::Refused(why.clone()),
            response: LastResponse {
                at: self.clock.now(),
                status: None,
                body: String::new(),
                error: Some(why),
                duration_ms: 0,
            },
        }
    }

    async fn save(&self, execution: &Execution) -> Result<bool, StoreError> {
        let saved = self.store.save_execution(execution, self.clock.now()).await?;
        if !saved {
            tracing::warn!(fire_id = %execution.fire_id, "lost the claim on an execution before saving its attempt; another worker holds it");
        }
        Ok(saved)
    }
}
