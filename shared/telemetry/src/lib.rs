//! The engine's metrics: one process-wide registry ([`metrics`]), recorded where things happen
//! (intake, ingest, delivery, the sweeper) and exposed by `automations serve --metrics-addr` in
//! the Prometheus text format ([`encode`]).
//!
//! Process-wide rather than passed around: a process is one deployment, Prometheus scrapes a
//! process, and recording a counter must not change the signature of every service on the way.
//! The AWS functions record into it too and print it as CloudWatch Embedded Metric Format lines
//! after each invocation ([`emf`]), under the same names.
//!
//! Labels are bounded sets only (an event type from the known list, a trigger kind, an outcome,
//! a field path with its indices removed): a label taken from user input would let one client
//! grow the registry without bound.

pub mod emf;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::OnceLock;
use std::sync::atomic::AtomicU64;

/// Labels of the per-event-type counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TypeLabel {
    /// The envelope's CloudEvents type (`run.metrics.logged`, ...).
    pub event_type: String,
}

/// Labels of `automations_envelopes_rejected_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectLabel {
    /// The envelope's type when it is a known one, else `unknown`.
    pub event_type: String,
    /// The field at fault (indices removed), or `envelope` for the document as a whole.
    pub field: String,
}

/// Labels of `automations_fires_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TriggerLabel {
    /// The automation's trigger kind (`RUN_METRIC_THRESHOLD`, ...).
    pub trigger: String,
}

/// Labels of `automations_deliveries_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// `delivered`, `retry`, `failed`, `skipped`, `nothing_to_send`.
    pub outcome: String,
}

/// Labels of `automations_sweeps_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `ok` or `error`.
    pub result: String,
}

/// Labels of `automations_http_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabel {
    /// The HTTP method.
    pub method: String,
    /// The route template (`/v1/automations/{id}`), never the path: ids would be unbounded.
    pub route: String,
    /// The answer's status code.
    pub status: String,
}

/// Every metric of the engine. Each field's metric name and help text are registered in
/// `Metrics::new`; counters gain `_total` when encoded.
pub struct Metrics {
    registry: Registry,
    /// `automations_envelopes_accepted_total`: envelopes taken by intake.
    pub envelopes_accepted: Family<TypeLabel, Counter>,
    /// `automations_envelopes_rejected_total`: envelopes refused, with the field at fault.
    pub envelopes_rejected: Family<RejectLabel, Counter>,
    /// `automations_metric_values_evaluated_total`: finite metric values evaluated.
    pub metric_values: Counter,
    /// `automations_fires_total`: fires recorded.
    pub fires: Family<TriggerLabel, Counter>,
    /// `automations_fire_duplicates_total`: fires decided again for a redelivered envelope.
    pub fire_duplicates: Counter,
    /// `automations_ingest_batch_duration_seconds`: one batch, store reads and writes included.
    pub ingest_seconds: Histogram,
    /// `automations_deliveries_total`: delivery attempts.
    pub deliveries: Family<OutcomeLabel, Counter>,
    /// `automations_delivery_duration_seconds`: how long a receiver took to answer.
    pub delivery_seconds: Histogram,
    /// `automations_outbox_pending`: executions waiting for a delivery.
    pub outbox_pending: Gauge,
    /// `automations_outbox_oldest_pending_age_seconds`: 0 when none is pending.
    pub outbox_oldest_pending_seconds: Gauge<f64, AtomicU64>,
    /// `automations_sweeps_total`: sweeper runs.
    pub sweeps: Family<ResultLabel, Counter>,
    /// `automations_runs_marked_crashed_total`: stalled runs marked crashed.
    pub runs_crashed: Counter,
    /// `automations_http_requests_total`: API requests.
    pub http_requests: Family<RequestLabel, Counter>,
    /// `automations_http_request_duration_seconds`: API request latency.
    pub http_seconds: Histogram,
}

/// Buckets from 1 ms to about 33 s: a store write, a webhook answer, a slow receiver at the
/// 10 s timeout.
fn latency() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

impl Metrics {
    fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::default(),
            envelopes_accepted: Family::default(),
            envelopes_rejected: Family::default(),
            metric_values: Counter::default(),
            fires: Family::default(),
            fire_duplicates: Counter::default(),
            ingest_seconds: latency(),
            deliveries: Family::default(),
            delivery_seconds: latency(),
            outbox_pending: Gauge::default(),
            outbox_oldest_pending_seconds: Gauge::default(),
            sweeps: Family::default(),
            runs_crashed: Counter::default(),
            http_requests: Family::new_with_constructor(Counter::default),
            http_seconds: latency(),
        };
        // Counters are registered without `_total`: the encoder appends it.
        let r = &mut m.registry;
        r.register(
            "automations_envelopes_accepted",
            "Envelopes taken by intake, by type",
            m.envelopes_accepted.clone(),
        );
        r.register(
            "automations_envelopes_rejected",
            "Envelopes refused by intake, by type (unknown when it is not one) and the field at fault",
            m.envelopes_rejected.clone(),
        );
        r.register("automations_metric_values_evaluated", "Finite metric values evaluated", m.metric_values.clone());
        r.register("automations_fires", "Fires recorded, by trigger kind", m.fires.clone());
        r.register(
            "automations_fire_duplicates",
            "Fires decided again for an envelope already evaluated (redeliveries), not recorded twice",
            m.fire_duplicates.clone(),
        );
        r.register(
            "automations_ingest_batch_duration_seconds",
            "Evaluating and committing one batch of envelopes, store reads and writes included",
            m.ingest_seconds.clone(),
        );
        r.register("automations_deliveries", "Delivery attempts, by outcome", m.deliveries.clone());
        r.register(
            "automations_delivery_duration_seconds",
            "Time a receiver took to answer a delivery attempt",
            m.delivery_seconds.clone(),
        );
        r.register("automations_outbox_pending", "Executions waiting for a delivery", m.outbox_pending.clone());
        r.register(
            "automations_outbox_oldest_pending_age_seconds",
            "Age of the oldest execution still pending (0 when none)",
            m.outbox_oldest_pending_seconds.clone(),
        );
        r.register("automations_sweeps", "Sweeper runs, by result", m.sweeps.clone());
        r.register(
            "automations_runs_marked_crashed",
            "Stalled runs the sweeper marked crashed",
            m.runs_crashed.clone(),
        );
        r.register(
            "automations_http_requests",
            "API requests, by method, route template and status",
            m.http_requests.clone(),
        );
        r.register("automations_http_request_duration_seconds", "API request latency", m.http_seconds.clone());
        m
    }

    /// Count an intake rejection. `event_type` is kept only when it is one of `known` (else
    /// `unknown`); `field` loses its indices (`data.rows[3].values.loss` → `data.rows[].values`)
    /// and any metric name after `values.`, which is user input.
    pub fn rejected(&self, event_type: Option<&str>, known: &[&str], field: &str) {
        let event_type = event_type.filter(|t| known.contains(t)).unwrap_or("unknown").to_string();
        self.envelopes_rejected.get_or_create(&RejectLabel { event_type, field: field_label(field) }).inc();
    }

    /// Count an envelope intake took.
    pub fn accepted(&self, event_type: &str) {
        self.envelopes_accepted.get_or_create(&TypeLabel { event_type: event_type.to_string() }).inc();
    }

    /// Count a recorded fire of an automation with this trigger kind.
    pub fn fired(&self, trigger: &str) {
        self.fires.get_or_create(&TriggerLabel { trigger: trigger.to_string() }).inc();
    }

    /// Count a delivery attempt's outcome (see [`OutcomeLabel`]).
    pub fn delivery(&self, outcome: &str) {
        self.deliveries.get_or_create(&OutcomeLabel { outcome: outcome.to_string() }).inc();
    }

    /// Count a sweeper run that succeeded or failed.
    pub fn sweep(&self, ok: bool) {
        self.sweeps.get_or_create(&ResultLabel { result: if ok { "ok" } else { "error" }.to_string() }).inc();
    }

    /// Count an API request and observe its latency. `route` is the matched template.
    pub fn request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let labels = RequestLabel { method: method.to_string(), route: route.to_string(), status: status.to_string() };
        self.http_requests.get_or_create(&labels).inc();
        self.http_seconds.observe(seconds);
    }
}

/// A field path as a bounded label.
fn field_label(path: &str) -> String {
    if path.is_empty() {
        return "envelope".to_string();
    }
    let mut out = String::new();
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => {
                in_index = true;
                out.push_str("[]");
            }
            ']' => in_index = false,
            _ if !in_index => out.push(c),
            _ => {}
        }
    }
    if let Some(i) = out.find(".values.") {
        out.truncate(i + ".values".len());
    }
    out.truncate(80);
    out
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// The content type of [`encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Every metric in the text exposition format (OpenMetrics, which Prometheus reads).
pub fn encode() -> String {
    let mut out = String::new();
    // Writing into a String cannot fail; an error here would be the encoder's bug.
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &metrics().registry) {
        out = format!("# encoding the metrics failed: {e}\n# EOF\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_labels_are_bounded() {
        assert_eq!(field_label(""), "envelope");
        assert_eq!(field_label("data.rows[3].values.loss"), "data.rows[].values");
        assert_eq!(field_label("time"), "time");
        assert!(field_label(&"x".repeat(500)).len() <= 80);
    }

    #[test]
    fn encodes_every_family() {
        metrics().fired("RUN_METRIC_THRESHOLD");
        metrics().rejected(Some("nonsense"), &["run.heartbeat"], "type");
        let text = encode();
        assert!(text.contains("automations_fires_total{trigger=\"RUN_METRIC_THRESHOLD\"} 1"), "{text}");
        assert!(
            text.contains("automations_envelopes_rejected_total{event_type=\"unknown\",field=\"type\"} 1"),
            "{text}"
        );
        assert!(text.contains("# TYPE automations_delivery_duration_seconds histogram"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
