//! SQS adapter: what the AWS deployment sends to its queues.
//!
//! - Envelopes ([`envelope_message`]): artifact and collection events to a standard queue; run
//!   events (`run.metrics.logged`, `run.state.changed`, `run.heartbeat`) to a FIFO queue with
//!   `MessageGroupId` = the run (`entity/project/run_id`), so each run's events are evaluated in
//!   order by one consumer at a time, and `MessageDeduplicationId` = a hash of the envelope's
//!   (`source`, `id`), so a resend within SQS's five-minute window is dropped.
//! - Deliveries ([`DeliveryMessage`]): `{fire_id, version}` to the delivery queue.
//! - Dead letters ([`dead_letter`]): an input that can never succeed, with the reason as a
//!   message attribute, straight to a dead-letter queue.
//!
//! [`Sqs::send`] batches to SendMessageBatch's limits (10 messages, 256 KiB) and retries the
//! entries SQS failed on its side with exponential backoff.

use automations_core::event::{Envelope, RunKey};
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// Messages per SendMessageBatch.
pub const MAX_BATCH_MESSAGES: usize = 10;
/// Bytes of message bodies (and attributes) per SendMessageBatch, and per message.
pub const MAX_BATCH_BYTES: usize = 256 * 1024;
/// Attempts per batch of entries SQS fails on its side (throttling, internal errors).
const ATTEMPTS: u32 = 6;

/// What went wrong talking to SQS.
#[derive(Debug, thiserror::Error)]
pub enum SqsError {
    /// The call failed: the queue could not be reached, or refused the request.
    #[error("sqs {op}: {message}")]
    Call {
        /// The SQS operation (`SendMessageBatch`, ...).
        op: &'static str,
        /// The SDK's error with its context.
        message: String,
    },
    /// SQS refused some messages for a reason that retrying will not fix.
    #[error("sqs refused {count} messages: {code}: {message}")]
    Refused {
        /// How many of the batch's messages were refused.
        count: usize,
        /// SQS's error code for the first of them.
        code: String,
        /// SQS's message for the first of them.
        message: String,
    },
    /// A message is larger than SQS takes.
    #[error("a message of {0} bytes is over SQS's limit of {MAX_BATCH_BYTES}")]
    TooLarge(usize),
}

/// A message to send.
#[derive(Debug, Clone, PartialEq)]
pub struct OutMessage {
    /// The message body: an envelope's JSON, or a delivery message.
    pub body: String,
    /// FIFO queues: the ordering group.
    pub group_id: Option<String>,
    /// FIFO queues: the deduplication id.
    pub dedup_id: Option<String>,
    /// Standard queues: seconds before the message can be received (at most 900).
    pub delay_seconds: Option<i32>,
    /// String message attributes.
    pub attributes: Vec<(String, String)>,
}

impl OutMessage {
    /// A message with this body and no FIFO ids, delay or attributes.
    pub fn new(body: impl Into<String>) -> OutMessage {
        OutMessage { body: body.into(), group_id: None, dedup_id: None, delay_seconds: None, attributes: Vec::new() }
    }

    /// The bytes SQS counts against its limits: body and attributes.
    fn size(&self) -> usize {
        self.body.len() + self.attributes.iter().map(|(k, v)| k.len() + v.len() + "String".len()).sum::<usize>()
    }
}

/// The SQS client, with retries of what SQS fails on its side.
#[derive(Debug, Clone)]
pub struct Sqs {
    client: aws_sdk_sqs::Client,
}

fn call_error(op: &'static str, e: impl std::error::Error) -> SqsError {
    SqsError::Call { op, message: aws_sdk_sqs::error::DisplayErrorContext(e).to_string() }
}

impl Sqs {
    /// The queue client over an SDK client.
    pub fn new(client: aws_sdk_sqs::Client) -> Sqs {
        Sqs { client }
    }

    /// The SDK client, for calls this wrapper does not make.
    pub fn client(&self) -> &aws_sdk_sqs::Client {
        &self.client
    }

    /// Send every message to `queue_url`, in order, in batches of at most 10 messages and
    /// 256 KiB.
    pub async fn send(&self, queue_url: &str, messages: Vec<OutMessage>) -> Result<(), SqsError> {
        let mut batch: Vec<OutMessage> = Vec::new();
        let mut bytes = 0;
        for m in messages {
            let size = m.size();
            if size > MAX_BATCH_BYTES {
                return Err(SqsError::TooLarge(size));
            }
            if batch.len() == MAX_BATCH_MESSAGES || bytes + size > MAX_BATCH_BYTES {
                self.send_batch(queue_url, std::mem::take(&mut batch)).await?;
                bytes = 0;
            }
            bytes += size;
            batch.push(m);
        }
        if !batch.is_empty() {
            self.send_batch(queue_url, batch).await?;
        }
        Ok(())
    }

    async fn send_batch(&self, queue_url: &str, messages: Vec<OutMessage>) -> Result<(), SqsError> {
        let mut pending: Vec<(usize, OutMessage)> = messages.into_iter().enumerate().collect();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                let cap = 20u64 << attempt.min(10);
                tokio::time::sleep(Duration::from_millis(cap / 2 + jitter(cap / 2))).await;
            }
            let entries = pending
                .iter()
                .map(|(i, m)| entry(*i, m))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| SqsError::Call { op: "SendMessageBatch", message: e.to_string() })?;
            let out =
                match self.client.send_message_batch().queue_url(queue_url).set_entries(Some(entries)).send().await {
                    Ok(out) => out,
                    Err(e) => {
                        let e = call_error("SendMessageBatch", e);
                        if attempt + 1 == ATTEMPTS {
                            return Err(e);
                        }
                        tracing::warn!(error = %e, attempt, "SendMessageBatch failed; retrying");
                        continue;
                    }
                };
            if let Some(bad) = out.failed.iter().find(|f| f.sender_fault) {
                return Err(SqsError::Refused {
                    count: out.failed.iter().filter(|f| f.sender_fault).count(),
                    code: bad.code.clone(),
                    message: bad.message.clone().unwrap_or_default(),
                });
            }
            let failed: Vec<String> = out.failed.iter().map(|f| f.id.clone()).collect();
            if failed.is_empty() {
                return Ok(());
            }
            tracing::warn!(failed = failed.len(), attempt, "SQS failed some messages on its side; retrying them");
            pending.retain(|(i, _)| failed.contains(&i.to_string()));
        }
        Err(SqsError::Refused {
            count: pending.len(),
            code: "Unprocessed".into(),
            message: format!("still failing after {ATTEMPTS} attempts"),
        })
    }

    /// Make a received message visible again after `seconds` (at most 12 hours from its receipt):
    /// the dispatcher's backoff between delivery attempts.
    pub async fn change_visibility(&self, queue_url: &str, receipt_handle: &str, seconds: i32) -> Result<(), SqsError> {
        self.client
            .change_message_visibility()
            .queue_url(queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds.clamp(0, 43_200))
            .send()
            .await
            .map_err(|e| call_error("ChangeMessageVisibility", e))?;
        Ok(())
    }
}

fn jitter(max: u64) -> u64 {
    use std::hash::BuildHasher;
    let r = std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now());
    if max == 0 { 0 } else { r % max }
}

/// What a redrive moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Redriven {
    /// Messages moved back to their source queue.
    pub moved: usize,
}

impl Sqs {
    /// Move up to `max` messages from dead-letter queue `from` back to `to` (the queue they
    /// dead-lettered from), ten at a time: each batch is sent, then deleted from `from`. A crash
    /// in between leaves a message in both, and it is processed twice: every consumer is
    /// idempotent (envelope ids, fire ids, execution versions), so that fires nothing twice. A
    /// FIFO message keeps its group (its run's order) and gets a deduplication id of its own, so
    /// SQS does not drop it as a repeat of the message that failed.
    ///
    /// For what SQS's own `StartMessageMoveTask` does on AWS (the emulator here has none); the
    /// runbook (docs/dead-letters.md) says when to use which.
    pub async fn redrive(&self, from: &str, to: &str, max: usize) -> Result<Redriven, SqsError> {
        let fifo = to.ends_with(".fifo");
        let mut out = Redriven::default();
        while out.moved < max {
            let want = i32::try_from((max - out.moved).min(MAX_BATCH_MESSAGES)).unwrap_or(10);
            let got = self
                .client
                .receive_message()
                .queue_url(from)
                .max_number_of_messages(want)
                .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId)
                // Long enough to send and delete the batch; a message left unmoved comes back.
                .visibility_timeout(60)
                .wait_time_seconds(1)
                .send()
                .await
                .map_err(|e| call_error("ReceiveMessage", e))?
                .messages
                .unwrap_or_default();
            if got.is_empty() {
                break;
            }
            let messages = got
                .iter()
                .map(|m| {
                    let mut o = OutMessage::new(m.body().unwrap_or_default());
                    if fifo {
                        let group = m
                            .attributes()
                            .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId))
                            .cloned()
                            .unwrap_or_else(|| "redriven".into());
                        o.group_id = Some(group);
                        o.dedup_id = Some(dedup_id("redrive", m.message_id().unwrap_or_default()));
                    }
                    o
                })
                .collect();
            self.send(to, messages).await?;
            for m in &got {
                if let Some(handle) = m.receipt_handle() {
                    self.client
                        .delete_message()
                        .queue_url(from)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .map_err(|e| call_error("DeleteMessage", e))?;
                }
            }
            out.moved += got.len();
            tracing::info!(moved = out.moved, "redriven");
        }
        Ok(out)
    }
}

fn entry(i: usize, m: &OutMessage) -> Result<SendMessageBatchRequestEntry, aws_sdk_sqs::error::BuildError> {
    let mut e = SendMessageBatchRequestEntry::builder()
        .id(i.to_string())
        .message_body(m.body.clone())
        .set_message_group_id(m.group_id.clone())
        .set_message_deduplication_id(m.dedup_id.clone())
        .set_delay_seconds(m.delay_seconds);
    for (k, v) in &m.attributes {
        e = e.message_attributes(k, MessageAttributeValue::builder().data_type("String").string_value(v).build()?);
    }
    e.build()
}

/// Which input queue an envelope goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputQueue {
    /// Standard: artifact and collection events.
    Artifacts,
    /// FIFO: run events, grouped by run.
    Runs,
}

/// The queue and message of an envelope; `text` is the envelope's JSON as received.
pub fn envelope_message(envelope: &Envelope, text: &str) -> (InputQueue, OutMessage) {
    let mut m = OutMessage::new(text);
    // Run events have a run; artifact events have none and go to the standard queue.
    match envelope.run_key() {
        None => (InputQueue::Artifacts, m),
        Some(key) => {
            m.group_id = Some(run_group(key));
            m.dedup_id = Some(dedup_id(&envelope.source, &envelope.id));
            (InputQueue::Runs, m)
        }
    }
}

/// A FIFO group id or deduplication id may hold at most 128 of these characters.
fn fifo_safe(s: &str) -> bool {
    s.len() <= 128 && !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b.is_ascii_punctuation())
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The message group of a run: `entity/project/run_id` when SQS takes it as is (readable in the
/// console), else a hash of the three.
pub fn run_group(key: &RunKey) -> String {
    let plain = format!("{}/{}/{}", key.entity, key.project, key.run_id);
    if fifo_safe(&plain) && [&key.entity, &key.project].iter().all(|p| !p.contains('/')) {
        return plain;
    }
    let mut h = Sha256::new();
    for part in [&key.entity, &key.project, &key.run_id] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    format!("run-{}", hex(&h.finalize()))
}

/// The deduplication id of an envelope: a hash of its idempotency key (`source`, `id`).
pub fn dedup_id(source: &str, id: &str) -> String {
    let mut h = Sha256::new();
    for part in [source, id] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex(&h.finalize())
}

/// A message of the delivery queue: deliver the execution of `fire_id`, claiming it at
/// `version` (0 when the evaluator recorded it; a relay's claim otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryMessage {
    /// The execution's fire.
    pub fire_id: automations_core::FireId,
    /// The version to claim the execution at.
    pub version: u64,
}

impl DeliveryMessage {
    /// The message to send: `{"fire_id": ..., "version": ...}`.
    pub fn to_message(&self) -> OutMessage {
        OutMessage::new(json!({"fire_id": self.fire_id, "version": self.version}).to_string())
    }

    /// Read a delivery message's body; the error names the field.
    pub fn parse(body: &str) -> Result<DeliveryMessage, String> {
        let v: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
        let fire_id = v
            .get("fire_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or("fire_id: a non-empty string is required")?;
        let version = v.get("version").and_then(Value::as_u64).ok_or("version: a non-negative integer is required")?;
        Ok(DeliveryMessage { fire_id: fire_id.into(), version })
    }
}

/// A message for a dead-letter queue: the original body, why it failed, and where it came
/// from. `fifo` gives the group and deduplication ids a FIFO dead-letter queue needs.
pub fn dead_letter(body: &str, reason: &str, message_id: &str, fifo: Option<&str>) -> OutMessage {
    let mut m = OutMessage::new(body);
    // Attributes are bounded; the reason names fields, never whole bodies, but is cut anyway.
    let reason: String = reason.chars().take(4000).collect();
    m.attributes.push(("reason".into(), reason));
    m.attributes.push(("original_message_id".into(), message_id.to_string()));
    if let Some(group) = fifo {
        m.group_id = Some(group.to_string());
        m.dedup_id = Some(dedup_id("dead-letter", message_id));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_groups_are_readable_when_sqs_allows() {
        let k = |e: &str, p: &str, r: &str| RunKey { entity: e.into(), project: p.into(), run_id: r.into() };
        assert_eq!(run_group(&k("acme", "mnist", "r1")), "acme/mnist/r1");
        let odd = run_group(&k("acme", "my project", "r1"));
        assert!(odd.starts_with("run-") && odd.len() == 68, "{odd}");
        assert_ne!(run_group(&k("a/b", "c", "d")), run_group(&k("a", "b/c", "d")), "slashes cannot merge runs");
        assert!(fifo_safe(&run_group(&k(&"x".repeat(100), "y", "z"))));
    }

    #[test]
    fn delivery_messages_round_trip_and_name_bad_fields() {
        let m = DeliveryMessage { fire_id: "fire_1".into(), version: 3 };
        assert_eq!(DeliveryMessage::parse(&m.to_message().body), Ok(m));
        assert!(DeliveryMessage::parse("{\"fire_id\": \"f\"}").unwrap_err().starts_with("version"));
        assert!(DeliveryMessage::parse("{\"version\": 1}").unwrap_err().starts_with("fire_id"));
        assert!(DeliveryMessage::parse("nope").unwrap_err().starts_with("not JSON"));
    }

    #[test]
    fn dedup_ids_follow_the_idempotency_key() {
        assert_eq!(dedup_id("a", "b"), dedup_id("a", "b"));
        assert_ne!(dedup_id("ab", "c"), dedup_id("a", "bc"));
        assert_eq!(dedup_id("a", "b").len(), 64);
    }
}
