//! The deployment's queues on moto, as `template.yaml` declares them: each input queue with its
//! dead-letter queue and a redrive policy.

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};

/// Queue URLs.
#[derive(Debug, Clone)]
pub struct Queues {
    /// `artifact-events`: redriven to [`Queues::artifacts_dlq`] after 5 receives.
    pub artifacts: String,
    /// `artifact-events-dlq`.
    pub artifacts_dlq: String,
    /// `run-events.fifo` (FIFO): redriven to [`Queues::runs_dlq`] after 5 receives.
    pub runs: String,
    /// `run-events-dlq.fifo` (FIFO).
    pub runs_dlq: String,
    /// `deliveries`: redriven to [`Queues::deliveries_dlq`] after 100 receives.
    pub deliveries: String,
    /// `deliveries-dlq`.
    pub deliveries_dlq: String,
}

async fn create(sqs: &aws_sdk_sqs::Client, name: &str, redrive_to: Option<(&str, u32)>) -> String {
    let mut c = sqs.create_queue().queue_name(name).attributes(QueueAttributeName::VisibilityTimeout, "30");
    if name.ends_with(".fifo") {
        c = c.attributes(QueueAttributeName::FifoQueue, "true");
    }
    if let Some((dlq_url, max)) = redrive_to {
        let arn = sqs
            .get_queue_attributes()
            .queue_url(dlq_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("dead-letter queue ARN")
            .attributes
            .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
            .expect("a queue ARN");
        c = c.attributes(
            QueueAttributeName::RedrivePolicy,
            serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": max.to_string()}).to_string(),
        );
    }
    c.send().await.unwrap_or_else(|e| panic!("create queue {name}: {e:?}")).queue_url.expect("queue URL")
}

/// Create the six queues.
pub async fn create_queues(sqs: &aws_sdk_sqs::Client) -> Queues {
    let artifacts_dlq = create(sqs, "artifact-events-dlq", None).await;
    let runs_dlq = create(sqs, "run-events-dlq.fifo", None).await;
    let deliveries_dlq = create(sqs, "deliveries-dlq", None).await;
    Queues {
        artifacts: create(sqs, "artifact-events", Some((&artifacts_dlq, 5))).await,
        runs: create(sqs, "run-events.fifo", Some((&runs_dlq, 5))).await,
        deliveries: create(sqs, "deliveries", Some((&deliveries_dlq, 100))).await,
        artifacts_dlq,
        runs_dlq,
        deliveries_dlq,
    }
}

/// Every message now in a queue (received and deleted), with attributes.
pub async fn drain(sqs: &aws_sdk_sqs::Client, url: &str) -> Vec<Message> {
    let mut all = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive messages");
        let batch = out.messages.unwrap_or_default();
        if batch.is_empty() {
            return all;
        }
        for m in &batch {
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().expect("a receipt handle"))
                .send()
                .await
                .expect("delete message");
        }
        all.extend(batch);
    }
}
