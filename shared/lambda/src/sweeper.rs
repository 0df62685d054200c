//! The scheduled sweeper (SPEC section 8): stalled runs become `crashed` (evaluated at once, like
//! any event), executions that never reached the delivery queue are relayed to it, and expired
//! state is left to DynamoDB's TTL.

use automations_core::BoxFuture;
use automations_core::delivery::Execution;
use automations_delivery::Relay;
use automations_sqs::{DeliveryMessage, Sqs};

/// Relays claimed executions to the delivery queue, each with the version its claim gave it.
pub struct SqsRelay {
    /// The SQS client.
    pub sqs: Sqs,
    /// The delivery queue.
    pub url: String,
}

impl Relay for SqsRelay {
    type Error = automations_sqs::SqsError;

    fn relay<'a>(&'a self, executions: &'a [Execution]) -> BoxFuture<'a, Result<(), Self::Error>> {
        Box::pin(async move {
            let messages = executions
                .iter()
                .map(|e| DeliveryMessage { fire_id: e.fire_id.clone(), version: e.version }.to_message())
                .collect();
            self.sqs.send(&self.url, messages).await
        })
    }
}
