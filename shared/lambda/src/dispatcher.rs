//! The dispatcher: the delivery queue's consumer. Each message names an execution and the
//! version to claim it at; the dispatcher claims it, makes one attempt, saves the outcome, and:
//!
//! - delivered, skipped, or nothing to send: done (the message is deleted);
//! - to be retried at `t`: the message's visibility is set to `t` and it is reported failed, so
//!   SQS hands it back then (the queue's visibility timeout is the backoff); the claim by
//!   version then fails (the save moved it on) and the claim "if due now" takes it;
//! - given up (a final error, or 24 hours of retries): done, and the message is sent to the
//!   dead-letter queue with the reason;
//! - not claimable (already delivered, or claimed by a relay's message): done, nothing sent.

use crate::sqs_batch::DeadLetters;
use automations_core::delivery::Verdict;
use automations_core::store::StoreError;
use automations_core::time::{Millis, Timestamp};
use automations_delivery::Delivery;
use automations_sqs::{DeliveryMessage, Sqs};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use tracing::Instrument;

/// The dispatcher's parts.
pub struct Dispatcher {
    /// Claims, attempts and records each execution.
    pub delivery: Delivery,
    /// The SQS client.
    pub sqs: Sqs,
    /// The delivery queue (for visibility changes).
    pub queue_url: String,
    /// Where messages that can never be delivered go, with the reason.
    pub dead: DeadLetters,
    /// How long a claim holds an execution: longer than an attempt can take.
    pub lease: Millis,
}

/// How one message ended.
enum Outcome {
    Done,
    /// Report it failed, so it comes back.
    Again,
    /// To the dead-letter queue with this reason, then done.
    Dead(String),
}

impl Dispatcher {
    /// One batch of delivery messages, each on its own.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let now = crate::now();
        // A span per message: every log line of its claim, attempt and outcome names it.
        let work: Vec<_> = event
            .records
            .iter()
            .map(|r| {
                let span = tracing::info_span!("delivery_message", message_id = r.message_id.as_deref().unwrap_or("?"));
                self.one(r, now).instrument(span)
            })
            .collect();
        let outcomes = futures_util::future::join_all(work).await;
        let mut response = SqsBatchResponse::default();
        let mut letters = Vec::new();
        for (record, outcome) in event.records.iter().zip(outcomes) {
            let Some(id) = record.message_id.clone() else { continue };
            match outcome {
                Outcome::Done => {}
                Outcome::Again => response.add_failure(id),
                Outcome::Dead(reason) => letters.push((id, None, record.body.clone().unwrap_or_default(), reason)),
            }
        }
        for id in self.dead.send(&letters).await {
            response.add_failure(id);
        }
        response
    }

    async fn one(&self, record: &SqsMessage, now: Timestamp) -> Outcome {
        let id = record.message_id.as_deref().unwrap_or("?");
        let message = match DeliveryMessage::parse(record.body.as_deref().unwrap_or_default()) {
            Ok(m) => m,
            Err(reason) => {
                tracing::warn!(message_id = id, reason = %reason, "invalid delivery message: sent to the dead-letter queue");
                return Outcome::Dead(reason);
            }
        };
        match self.attempt(&message, record, now).await {
            Ok(outcome) => outcome,
            Err(e) => {
                tracing::error!(message_id = id, fire_id = %message.fire_id, error = %e, "delivery failed on the store; the message will be retried");
                Outcome::Again
            }
        }
    }

    async fn attempt(&self, m: &DeliveryMessage, record: &SqsMessage, now: Timestamp) -> Result<Outcome, StoreError> {
        let store = &self.delivery.store;
        let lease = now.plus(self.lease);
        let claimed = match store.claim(&m.fire_id, Some(m.version), lease, now).await? {
            Some(e) => Some(e),
            None => store.claim(&m.fire_id, None, lease, now).await?,
        };
        let Some(execution) = claimed else {
            tracing::info!(fire_id = %m.fire_id, version = m.version, "nothing to deliver: already done, or another worker holds it");
            return Ok(Outcome::Done);
        };
        let attempted = self.delivery.attempt(execution).await?;
        let e = &attempted.execution;
        let status = e.last_response.as_ref().and_then(|r| r.status);
        Ok(match attempted.verdict {
            None | Some(Verdict::Delivered) => {
                tracing::info!(fire_id = %e.fire_id, attempts = e.attempts, state = e.state.as_str(), status, "delivered");
                Outcome::Done
            }
            Some(Verdict::RetryAt(at)) => {
                let wait = (at.since(crate::now()).max(0) + 999) / 1000;
                tracing::warn!(fire_id = %e.fire_id, attempts = e.attempts, status, retry_in_seconds = wait, "delivery failed; will retry");
                if let Some(receipt) = &record.receipt_handle
                    && let Err(err) = self
                        .sqs
                        .change_visibility(&self.queue_url, receipt, i32::try_from(wait).unwrap_or(i32::MAX))
                        .await
                {
                    tracing::error!(fire_id = %e.fire_id, error = %err, "cannot set the retry delay; the queue's visibility timeout applies");
                }
                Outcome::Again
            }
            Some(Verdict::Failed { reason, .. }) => {
                tracing::error!(fire_id = %e.fire_id, attempts = e.attempts, status, reason = %reason, "delivery failed for good");
                Outcome::Dead(format!("execution {} FAILED: {reason}", e.fire_id))
            }
        })
    }
}
