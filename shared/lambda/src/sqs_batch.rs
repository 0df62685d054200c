//! One SQS batch of envelopes, reported with partial failures (`ReportBatchItemFailures`).
//!
//! - An invalid envelope can never succeed: it goes to the dead-letter queue at once, with the
//!   reason (naming the field) as a message attribute and in the log, and counts as done.
//! - The valid ones are evaluated together (one read of every touched run). If that fails, they
//!   are evaluated again one by one, so one failing message never fails its neighbours: only
//!   the failing one is reported, and it comes back until the queue's `maxReceiveCount` sends it
//!   to the dead-letter queue.
//! - On a FIFO queue, messages after a failed one in the same message group are reported too
//!   (not evaluated), so a run's events are never taken out of order; other groups go on.

use crate::evaluate::Evaluator;
use automations_core::event::{Envelope, parse_envelope};
use automations_core::time::Timestamp;
use automations_dynamo::DynamoApi;
use automations_sqs::{Sqs, dead_letter};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use std::collections::HashSet;
use tracing::Instrument;

/// The dead-letter queue of the function's source queue.
pub struct DeadLetters {
    /// The SQS client.
    pub sqs: Sqs,
    /// The dead-letter queue (`DEAD_LETTER_QUEUE_URL`).
    pub url: String,
}

impl DeadLetters {
    fn fifo(&self) -> bool {
        self.url.ends_with(".fifo")
    }

    /// Send `(message id, group, body, reason)` to the dead-letter queue; the ids of those that
    /// could not be sent.
    pub async fn send(&self, letters: &[(String, Option<String>, String, String)]) -> Vec<String> {
        if letters.is_empty() {
            return Vec::new();
        }
        let messages = letters
            .iter()
            .map(|(id, group, body, reason)| {
                let group = self.fifo().then(|| group.clone().unwrap_or_else(|| "dead-letters".into()));
                dead_letter(body, reason, id, group.as_deref())
            })
            .collect();
        match self.sqs.send(&self.url, messages).await {
            Ok(()) => Vec::new(),
            Err(e) => {
                tracing::error!(error = %e, "cannot send to the dead-letter queue; the messages will be retried");
                letters.iter().map(|(id, ..)| id.clone()).collect()
            }
        }
    }
}

/// One received message.
struct Received {
    id: String,
    group: Option<String>,
    envelope: Envelope,
}

/// The kind of queue a batch came from: whether its message groups keep an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceQueue {
    /// A FIFO queue (run events): messages of one group are evaluated in order, and those after
    /// a failed one are held back.
    Fifo,
    /// A standard queue (artifact events): no order to keep.
    Standard,
}

/// Process a batch from `queue`.
pub async fn process<D: DynamoApi>(
    evaluator: &Evaluator<D>,
    dead: &DeadLetters,
    event: SqsEvent,
    queue: SourceQueue,
    now: Timestamp,
) -> SqsBatchResponse {
    let ordered = queue == SourceQueue::Fifo;
    let mut response = SqsBatchResponse::default();
    let mut valid = Vec::new();
    let mut invalid = Vec::new();
    for record in event.records {
        let Some(id) = record.message_id.clone() else {
            tracing::error!("an SQS record without a message id; it cannot be reported, so it is skipped");
            continue;
        };
        let _message = tracing::info_span!("sqs_message", message_id = %id).entered();
        let group = record.attributes.get("MessageGroupId").cloned();
        let body = record.body.unwrap_or_default();
        match parse_envelope(&body) {
            Ok(envelope) => valid.push(Received { id, group, envelope }),
            Err(rejected) => {
                let reason = rejected.to_string();
                tracing::warn!(message_id = %id, reason = %reason, "invalid envelope: sent to the dead-letter queue");
                invalid.push((id, group, body, reason));
            }
        }
    }
    for id in dead.send(&invalid).await {
        response.add_failure(id);
    }
    if valid.is_empty() {
        return response;
    }
    let envelopes: Vec<Envelope> = valid.iter().map(|r| r.envelope.clone()).collect();
    match evaluator.evaluate(&envelopes, now).await {
        Ok(done) => {
            tracing::info!(messages = valid.len(), fires = done.fires, duplicates = done.duplicates, "batch evaluated");
            return response;
        }
        Err(e) => tracing::warn!(error = %e, "the batch failed as a whole; evaluating its messages one by one"),
    }
    // One by one, each group in order; groups side by side.
    let mut groups: Vec<Vec<&Received>> = Vec::new();
    for r in &valid {
        match groups.iter_mut().find(|g| ordered && r.group.is_some() && g[0].group == r.group) {
            Some(g) => g.push(r),
            None => groups.push(vec![r]),
        }
    }
    let runs: Vec<_> = groups.iter().map(|g| one_by_one(evaluator, g, now)).collect();
    let failed: HashSet<String> = futures_util::future::join_all(runs).await.into_iter().flatten().collect();
    for r in &valid {
        if failed.contains(&r.id) {
            response.add_failure(r.id.clone());
        }
    }
    response
}

/// Evaluate a group's messages in order; the ids of the first failing one and of every one after it.
async fn one_by_one<D: DynamoApi>(evaluator: &Evaluator<D>, group: &[&Received], now: Timestamp) -> Vec<String> {
    for (i, r) in group.iter().enumerate() {
        let span = tracing::info_span!("sqs_message", message_id = %r.id, envelope_id = %r.envelope.id);
        if let Err(e) = evaluator.evaluate(std::slice::from_ref(&r.envelope), now).instrument(span).await {
            tracing::error!(message_id = %r.id, envelope_id = %r.envelope.id, error = %e, "evaluation failed; the message will be retried");
            let rest: Vec<String> = group[i..].iter().map(|r| r.id.clone()).collect();
            if rest.len() > 1 {
                tracing::warn!(
                    held_back = rest.len() - 1,
                    "later messages of the same group held back to keep their order"
                );
            }
            return rest;
        }
    }
    Vec::new()
}
