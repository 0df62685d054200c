//! Delivery in `automations serve`: the deliverer over the SQLite outbox, the sweeper every
//! minute, and the API's executions and test-delivery routes.

use anyhow::{Context, Result};
use automations_api::LocalSink;
use automations_api::outbox::OutboxDeliverer;
use automations_core::delivery::RetryPolicy;
use automations_core::time::{Clock, DAY, HOUR, MINUTE, Millis, SECOND};
use automations_delivery::{DelivererConfig, Delivery, HttpSender, LocalDeliverer, Sweeper, SystemClock};
use automations_sqlite::SqliteStore;
use std::sync::Arc;
use std::time::Duration;

/// The delivery and sweeper settings of `automations serve`.
#[derive(clap::Args, Debug, Clone)]
pub struct DeliveryArgs {
    /// Refuse webhook targets on loopback, private, link-local and cloud-metadata addresses (the
    /// AWS deployment always does; locally they are allowed unless this is given).
    #[arg(long)]
    pub deny_private_targets: bool,
    /// How long one delivery attempt may take.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub delivery_timeout: Millis,
    /// The backoff ceiling of the first retry; it doubles per attempt (full jitter below it).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub retry_base: Millis,
    /// The largest backoff between two attempts.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub retry_cap: Millis,
    /// How long after a fire its delivery is retried before it fails.
    #[arg(long, default_value = "24h", value_parser = parse_duration)]
    pub retry_window: Millis,
    /// How long a running run may send nothing before the sweeper marks it crashed.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub stall_period: Millis,
    /// How often the sweeper runs.
    #[arg(long, default_value = "1m", value_parser = parse_duration)]
    pub sweep_every: Millis,
    /// Delivery attempts in flight at most.
    #[arg(long, default_value_t = 64)]
    pub delivery_concurrency: usize,
    /// Keep no metric history (the console's run chart and backtests over a stored run then
    /// answer 501); it is kept by default, at most 10,000 points per (run, metric).
    #[arg(long)]
    pub no_metric_history: bool,
}

/// `500ms`, `10s`, `5m`, `1h`, `1d`.
pub(crate) fn parse_duration(s: &str) -> Result<Millis, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().map_err(|_| format!("{s:?} is not a duration such as 500ms, 10s, 5m, 1h"))?;
    let unit = match unit {
        "ms" => 1,
        "s" => SECOND,
        "m" => MINUTE,
        "h" => HOUR,
        "d" => DAY,
        _ => return Err(format!("{s:?}: the unit must be ms, s, m, h or d")),
    };
    n.checked_mul(unit).filter(|ms| *ms > 0).ok_or_else(|| format!("{s:?} must be positive"))
}

impl DeliveryArgs {
    fn policy(&self) -> RetryPolicy {
        RetryPolicy {
            timeout: self.delivery_timeout,
            base: self.retry_base,
            cap: self.retry_cap.max(self.retry_base),
            min_delay: (self.retry_base / 10).max(1),
            give_up_after: self.retry_window,
        }
    }
}

/// Everything delivery adds to `serve`: the sink and API seam to hand to the router, and the
/// background tasks (stopped by [`Background::stop`]).
pub struct Wiring {
    pub sink: Arc<LocalSink<SqliteStore>>,
    pub api: Arc<OutboxDeliverer>,
    pub background: Background,
}

/// The deliverer and the sweeper tasks.
pub struct Background {
    pub tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Background {
    /// Stop both. An attempt cut off mid-way is taken over after a restart when its lease ends.
    pub fn stop(self) {
        for t in self.tasks {
            t.abort();
        }
    }
}

/// Build delivery over `store` and start its background tasks on the current runtime.
pub async fn start(
    store: Arc<SqliteStore>,
    args: &DeliveryArgs,
    tracking: Option<Arc<dyn automations_api::TrackingHooks>>,
) -> Result<Wiring> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let policy = args.policy();
    let timeout = Duration::from_millis(u64::try_from(policy.timeout).unwrap_or(10_000));
    let sender = HttpSender::new(timeout, !args.deny_private_targets)?;
    let delivery = Arc::new(Delivery::new(store.clone(), sender, policy, clock.clone()));
    let deliverer = LocalDeliverer::new(
        delivery.clone(),
        DelivererConfig {
            concurrency: args.delivery_concurrency.max(1),
            // A claim outlives any attempt (the timeout), with room for saving its outcome.
            lease: policy.timeout * 2 + 5 * SECOND,
            ..DelivererConfig::default()
        },
    );
    let wake = deliverer.waker();
    let mut local = LocalSink::new(store.clone()).await.context("cannot read the automations")?.on_fires(move |_| {
        wake.notify_one();
    });
    if let Some(hooks) = tracking {
        local = local.tracking(hooks);
    }
    if args.no_metric_history {
        local = local.without_history();
    }
    let sink = Arc::new(local);
    let mut sweeper = Sweeper::new(store);
    sweeper.stall = args.stall_period;
    let every = Duration::from_millis(u64::try_from(args.sweep_every).unwrap_or(60_000));
    let feed = sink.clone();
    let sweeps = tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let started = std::time::Instant::now();
            let metrics = automations_telemetry::metrics();
            match sweeper.sweep(&*feed, None::<&()>, clock.now()).await {
                Ok(r) => {
                    metrics.sweep(true);
                    metrics.runs_crashed.inc_by(u64::try_from(r.crashed).unwrap_or(u64::MAX));
                    let took_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
                    tracing::info!(crashed = r.crashed, purged = r.purged, took_ms, "swept");
                }
                Err(e) => {
                    metrics.sweep(false);
                    tracing::error!(error = %e, "sweep failed; retried at the next one");
                }
            }
        }
    });
    let deliveries = tokio::spawn(deliverer.run(std::future::pending()));
    Ok(Wiring {
        sink,
        api: Arc::new(OutboxDeliverer { delivery }),
        background: Background { tasks: vec![deliveries, sweeps] },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_durations() {
        assert_eq!(parse_duration("500ms"), Ok(500));
        assert_eq!(parse_duration("10s"), Ok(10_000));
        assert_eq!(parse_duration("1h"), Ok(HOUR));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("fast").is_err());
    }
}
