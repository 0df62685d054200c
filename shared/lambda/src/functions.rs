//! The six functions, each built once per cold start from its environment. A function's
//! `main` starts the logs, calls `start`, and hands `handle` to the Lambda runtime.

use crate::config_api::{QueueSink, app};
use crate::dispatcher::Dispatcher;
use crate::evaluate::{DeliveryQueue, Evaluator};
use crate::init::{Clients, clients, emit_metrics};
use crate::mlflow_poller::{PollerConfig, poll_all};
use crate::settings::Settings;
use crate::sqs_batch::{DeadLetters, SourceQueue, process};
use crate::sweeper::SqsRelay;
use crate::{Error, now};
use automations_api::SystemClock;
use automations_core::delivery::RetryPolicy;
use automations_core::ingest::{EngineCache, Refresh};
use automations_core::store::ApiKeyStore;
use automations_delivery::{Delivery, HttpSender, Sweeper};
use automations_dynamo::{DynamoStore, SdkDynamo};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

fn evaluator(c: &Clients) -> Result<Evaluator<SdkDynamo>, Error> {
    let deliveries = Some(DeliveryQueue {
        sqs: c.sqs.clone(),
        url: Settings::required(&c.settings.delivery_queue, "DELIVERY_QUEUE_URL")?,
    });
    Ok(Evaluator {
        store: c.store.clone(),
        automations: EngineCache::new(Refresh::Every(c.settings.automations_ttl)),
        deliveries,
    })
}

fn dead_letters(c: &Clients) -> Result<DeadLetters, Error> {
    Ok(DeadLetters {
        sqs: c.sqs.clone(),
        url: Settings::required(&c.settings.dead_letter_queue, "DEAD_LETTER_QUEUE_URL")?,
    })
}

/// `artifact-events` (standard queue) and `metric-ingest` (FIFO queue of run events).
pub struct Ingest {
    evaluator: Evaluator<SdkDynamo>,
    dead: DeadLetters,
    queue: SourceQueue,
}

impl Ingest {
    /// The consumer of `queue`: the run events' FIFO queue (`metric-ingest`) or the artifact
    /// events' standard one (`artifact-events`).
    pub async fn start(queue: SourceQueue) -> Result<Ingest, Error> {
        let c = clients().await?;
        Ok(Ingest { evaluator: evaluator(&c)?, dead: dead_letters(&c)?, queue })
    }

    /// One SQS batch: each envelope evaluated, failures reported per message.
    pub async fn handle(&self, event: SqsEvent) -> Result<SqsBatchResponse, Error> {
        let out = process(&self.evaluator, &self.dead, event, self.queue, now()).await;
        emit_metrics(match self.queue {
            SourceQueue::Fifo => "metric-ingest",
            SourceQueue::Standard => "artifact-events",
        });
        Ok(out)
    }
}

/// `sweeper`, every minute: the shared [`Sweeper`] feeding crashes to the evaluator and
/// relaying to the delivery queue.
pub struct Sweep {
    sweeper: Sweeper<DynamoStore>,
    evaluator: Evaluator<SdkDynamo>,
    relay: SqsRelay,
}

impl Sweep {
    /// Read the environment and build the clients (once per cold start).
    pub async fn start() -> Result<Sweep, Error> {
        let c = clients().await?;
        let relay =
            SqsRelay { sqs: c.sqs.clone(), url: Settings::required(&c.settings.delivery_queue, "DELIVERY_QUEUE_URL")? };
        let mut sweeper = Sweeper::new(c.store.clone());
        sweeper.stall = c.settings.stall;
        Ok(Sweep { sweeper, evaluator: evaluator(&c)?, relay })
    }

    /// The schedule's event says nothing the sweep needs; it sweeps at the current time.
    pub async fn handle(&self, _event: Value) -> Result<Value, Error> {
        // Boxed: the sweep's future nests the whole evaluation, deeper than the compiler lays
        // out by default inside the runtime's.
        let r = Box::pin(self.sweeper.sweep(&self.evaluator, Some(&self.relay), now())).await;
        emit_metrics("sweeper");
        let r = r?;
        tracing::info!(crashed = r.crashed, relayed = r.relayed, purged = r.purged, "swept");
        Ok(json!({"crashed": r.crashed, "relayed": r.relayed, "purged": r.purged}))
    }
}

/// `mlflow-poller`, every minute: the MLflow tracking integrations of every entity.
pub struct MlflowPoll {
    evaluator: Evaluator<SdkDynamo>,
    config: PollerConfig,
}

impl MlflowPoll {
    /// Read the environment and build the clients (once per cold start).
    pub async fn start() -> Result<MlflowPoll, Error> {
        let c = clients().await?;
        let config = PollerConfig {
            timeout: c.settings.mlflow_timeout,
            window: c.settings.mlflow_window,
            allow_private: c.settings.allow_private_targets,
        };
        Ok(MlflowPoll { evaluator: evaluator(&c)?, config })
    }

    /// The schedule's event says nothing the poller needs.
    pub async fn handle(&self, _event: Value) -> Result<Value, Error> {
        let r = Box::pin(poll_all(&self.evaluator, self.config, now)).await;
        emit_metrics("mlflow-poller");
        let r = r?;
        Ok(json!({"integrations": r.integrations, "polls": r.polls, "failed": r.failed,
                  "requests": r.requests, "envelopes": r.envelopes}))
    }
}

fn delivery(c: &Clients) -> Result<Delivery, Error> {
    let policy = RetryPolicy::default();
    let sender = HttpSender::new(Duration::from_millis(policy.timeout as u64), c.settings.allow_private_targets)?;
    Ok(Delivery::new(c.store.clone(), sender, policy, Arc::new(SystemClock)))
}

/// `dispatcher`: the delivery queue's consumer.
impl Dispatcher {
    /// Read the environment and build the clients (once per cold start).
    pub async fn start() -> Result<Dispatcher, Error> {
        let c = clients().await?;
        Ok(Dispatcher {
            delivery: delivery(&c)?,
            sqs: c.sqs.clone(),
            queue_url: Settings::required(&c.settings.delivery_queue, "DELIVERY_QUEUE_URL")?,
            dead: dead_letters(&c)?,
            lease: c.settings.delivery_lease,
        })
    }

    /// The runtime's handler: [`Dispatcher::handle`], then the invocation's metrics.
    pub async fn invoke(&self, event: SqsEvent) -> Result<SqsBatchResponse, Error> {
        let out = self.handle(event).await;
        emit_metrics("dispatcher");
        Ok(out)
    }
}

/// `config-api`: the router, with the first API key in place.
pub async fn config_api() -> Result<axum::Router, Error> {
    let c = clients().await?;
    if let Some((hash, entity)) = &c.settings.first_api_key {
        let key = automations_core::store::ApiKeyRecord {
            hash: hash.clone(),
            entity: entity.clone().into(),
            created_at: now(),
        };
        // Writing it again on every cold start is harmless, and recreates it if it was lost.
        c.store.put_api_key(&key).await?;
    }
    let sink = QueueSink {
        sqs: c.sqs.clone(),
        artifact_queue: Settings::required(&c.settings.artifact_queue, "ARTIFACT_QUEUE_URL")?,
        run_queue: Settings::required(&c.settings.run_queue, "RUN_QUEUE_URL")?,
        tracking: Some(Arc::new(automations_mlflow::Hooks {
            store: c.store.clone(),
            timeout: Duration::from_millis(u64::try_from(c.settings.mlflow_timeout).unwrap_or(10_000)),
            allow_private: c.settings.allow_private_targets,
        })),
    };
    let delivery = Arc::new(delivery(&c)?);
    // Each request's metrics, after its response is made.
    Ok(app(c.store.clone(), sink, delivery, c.settings.max_automations).layer(axum::middleware::map_response(
        |response: axum::response::Response| async {
            emit_metrics("config-api");
            response
        },
    )))
}
