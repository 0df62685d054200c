//! The functions' configuration, from environment variables that `template.yaml` sets.

use automations_core::time::{MINUTE, Millis, SECOND};

/// A missing or malformed environment variable, by name.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {name}: {problem}")]
pub struct SettingsError {
    /// The variable.
    pub name: &'static str,
    /// What is wrong with it (never its value: some are secrets).
    pub problem: String,
}

/// Everything a function may read from its environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `TABLE_NAME`: the DynamoDB table.
    pub table: String,
    /// `ARTIFACT_QUEUE_URL`: the standard queue of artifact events (the API's intake sends there).
    pub artifact_queue: Option<String>,
    /// `RUN_QUEUE_URL`: the FIFO queue of run events.
    pub run_queue: Option<String>,
    /// `DELIVERY_QUEUE_URL`: the queue of deliveries.
    pub delivery_queue: Option<String>,
    /// `DEAD_LETTER_QUEUE_URL`: the dead-letter queue of the function's own source queue.
    pub dead_letter_queue: Option<String>,
    /// `AUTOMATIONS_CACHE_SECONDS` (default 10): how long a warm function keeps the automations
    /// it read before reading them again (a change takes at most this long to apply).
    pub automations_ttl: Millis,
    /// `STALL_MINUTES` (default 10): how long a running run may stay silent.
    pub stall: Millis,
    /// `ALLOW_PRIVATE_TARGETS` (default `false`): deliver to loopback, private, link-local and
    /// metadata addresses. Off on AWS (SPEC section 7); tests turn it on for receivers on 127.0.0.1.
    pub allow_private_targets: bool,
    /// `DELIVERY_LEASE_SECONDS` (default 120): how long a dispatcher's claim on an execution holds.
    pub delivery_lease: Millis,
    /// `FIRST_API_KEY_HASH` and `FIRST_API_KEY_ENTITY`: an API key (its SHA-256, lower-case hex)
    /// that the config API makes sure exists when it starts.
    pub first_api_key: Option<(String, String)>,
    /// `MAX_AUTOMATIONS_PER_ENTITY` (default 1000): automations one entity may have.
    pub max_automations: usize,
    /// `MLFLOW_TIMEOUT_SECONDS` (default 10): how long one request to an MLflow tracking server
    /// may take.
    pub mlflow_timeout: Millis,
    /// `MLFLOW_POLL_WINDOW_SECONDS` (default 0): how long one invocation of the MLflow poller
    /// keeps polling (each integration at its `poll_seconds`) before it returns. 0: one pass per
    /// invocation, so an integration is polled at most once per schedule tick.
    pub mlflow_window: Millis,
}

fn var(name: &'static str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

fn number(name: &'static str, default: i64) -> Result<i64, SettingsError> {
    match var(name) {
        None => Ok(default),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| SettingsError { name, problem: format!("must be a non-negative integer, got {v:?}") }),
    }
}

impl Settings {
    /// Read the settings; `TABLE_NAME` is required.
    pub fn from_env() -> Result<Settings, SettingsError> {
        let table = var("TABLE_NAME").ok_or(SettingsError { name: "TABLE_NAME", problem: "is required".into() })?;
        let allow = match var("ALLOW_PRIVATE_TARGETS").as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(other) => {
                return Err(SettingsError {
                    name: "ALLOW_PRIVATE_TARGETS",
                    problem: format!("must be true or false, got {other:?}"),
                });
            }
        };
        let first_api_key = match (var("FIRST_API_KEY_HASH"), var("FIRST_API_KEY_ENTITY")) {
            (Some(h), Some(e)) => {
                if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(SettingsError {
                        name: "FIRST_API_KEY_HASH",
                        problem: "must be the SHA-256 of the key, 64 hex digits".into(),
                    });
                }
                Some((h.to_ascii_lowercase(), e))
            }
            (None, None) => None,
            (Some(_), None) => {
                return Err(SettingsError {
                    name: "FIRST_API_KEY_ENTITY",
                    problem: "is required with FIRST_API_KEY_HASH".into(),
                });
            }
            (None, Some(_)) => {
                return Err(SettingsError {
                    name: "FIRST_API_KEY_HASH",
                    problem: "is required with FIRST_API_KEY_ENTITY".into(),
                });
            }
        };
        Ok(Settings {
            table,
            artifact_queue: var("ARTIFACT_QUEUE_URL"),
            run_queue: var("RUN_QUEUE_URL"),
            delivery_queue: var("DELIVERY_QUEUE_URL"),
            dead_letter_queue: var("DEAD_LETTER_QUEUE_URL"),
            automations_ttl: number("AUTOMATIONS_CACHE_SECONDS", 10)? * SECOND,
            stall: number("STALL_MINUTES", 10)?.max(1) * MINUTE,
            allow_private_targets: allow,
            delivery_lease: number("DELIVERY_LEASE_SECONDS", 120)?.max(15) * SECOND,
            first_api_key,
            max_automations: number("MAX_AUTOMATIONS_PER_ENTITY", automations_api::DEFAULT_MAX_AUTOMATIONS as i64)?
                .max(1) as usize,
            mlflow_timeout: number("MLFLOW_TIMEOUT_SECONDS", 10)?.max(1) * SECOND,
            mlflow_window: number("MLFLOW_POLL_WINDOW_SECONDS", 0)? * SECOND,
        })
    }

    /// A queue URL the function cannot work without.
    pub fn required(value: &Option<String>, name: &'static str) -> Result<String, SettingsError> {
        value.clone().ok_or(SettingsError { name, problem: "is required by this function".into() })
    }
}
