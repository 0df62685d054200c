//! The MLflow bridge: MLflow model-registry webhook deliveries in, this product's envelopes out.
//!
//! MLflow (3.x) POSTs `{"entity", "action", "timestamp", "data"}` for registry changes, signed
//! with the webhook's secret (the Standard Webhooks v1 scheme under `X-MLflow-*` header names).
//! [`receive`] checks the signature and the timestamp, then maps the delivery:
//!
//! | MLflow event | here |
//! |---|---|
//! | `model_version.created` | `artifact.version.linked` (`LINK_ARTIFACT`) into the registry, and `artifact.version.created` (`CREATE_ARTIFACT`) on the collection |
//! | `model_version_alias.created` | `artifact.alias.added` (`ADD_ARTIFACT_ALIAS`) |
//! | `model_version_tag.set` | `artifact.tag.added` (`ADD_ARTIFACT_TAG`), tag `key=value` |
//! | `model_version_tag.deleted` | `artifact.tag.removed` (`REMOVE_ARTIFACT_TAG`), tag `key=` |
//! | `registered_model.created`, `model_version_alias.deleted`, prompt and budget events, events of later MLflow versions | acknowledged, no envelope |
//!
//! A registered model is a collection (type `model`) of the registry the integration names, in
//! the integration's entity; the MLflow `version` string is the version index. Tags whose key
//! starts with `_mlflow_` are MLflow's own bookkeeping and are left out (a tag event about one
//! is acknowledged and ignored). A delivery whose `data` is exactly MLflow's fixed example for
//! its event (what MLflow's "test webhook" sends) is a [`Outcome::Test`]: acknowledged, never
//! evaluated.
//!
//! Envelope ids derive from `X-MLflow-Delivery-Id`, which MLflow reuses on every retry, so a
//! retried or replayed delivery maps to the same envelopes and fires nothing new.

mod map;
mod signature;
#[cfg(test)]
mod tests;
pub mod tracking;

pub use map::{Mapped, Outcome, map_delivery};
pub use signature::{TIMESTAMP_TOLERANCE, sign, verify};

use crate::error::Invalid;
use crate::model::integration::{Integration, IntegrationKind, Secret};
use crate::time::Timestamp;

/// The delivery id header: a UUID, the same on every retry of one delivery.
pub const HEADER_DELIVERY_ID: &str = "X-MLflow-Delivery-Id";
/// The signing time header, in Unix seconds.
pub const HEADER_TIMESTAMP: &str = "X-MLflow-Timestamp";
/// The signature header: `v1,` + base64(HMAC-SHA256(secret, "{id}.{timestamp}." + body)).
pub const HEADER_SIGNATURE: &str = "X-MLflow-Signature";

/// Longest delivery id taken; MLflow sends a 36-character UUID.
pub const MAX_DELIVERY_ID_LEN: usize = 128;

/// Where an MLflow integration's events land, and what names their source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    /// The integration's name: envelopes come from source `mlflow:<name>`.
    pub integration: &'a str,
    /// The entity the registry belongs to.
    pub entity: &'a str,
    /// The registry whose collections the registered models are.
    pub registry: &'a str,
}

impl Target<'_> {
    /// The CloudEvents `source` of this integration's envelopes.
    pub fn source(&self) -> String {
        format!("mlflow:{}", self.integration)
    }
}

/// The three MLflow headers of a request, as received (`None`: absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Headers<'a> {
    /// `X-MLflow-Delivery-Id`: the delivery's id, the same on every retry.
    pub delivery_id: Option<&'a str>,
    /// `X-MLflow-Timestamp`: when MLflow signed the delivery, in Unix seconds (as text).
    pub timestamp: Option<&'a str>,
    /// `X-MLflow-Signature`: space-separated `v1,<base64>` signatures.
    pub signature: Option<&'a str>,
}

/// One verified, mapped delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// `X-MLflow-Delivery-Id`.
    pub delivery_id: String,
    /// The MLflow event, `entity.action` (e.g. `model_version.created`).
    pub event: String,
    /// What the delivery maps to: envelopes, an ignored event or MLflow's test delivery.
    pub outcome: Outcome,
}

/// Why a delivery was refused. Nothing is evaluated or stored for a refused delivery.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MlflowError {
    /// A header needed to authenticate the delivery is missing.
    #[error("missing header {header}: {hint}")]
    MissingHeader {
        /// The missing header's name.
        header: &'static str,
        /// What to do about it, for the response.
        hint: &'static str,
    },
    /// A header is present but unusable.
    #[error("header {header}: {reason}")]
    BadHeader {
        /// The header's name.
        header: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// No `v1` signature in `X-MLflow-Signature` matches the body with this integration's secret.
    #[error("X-MLflow-Signature: {0}")]
    BadSignature(&'static str),
    /// The signature is valid but was made too long ago (or too far ahead) to be taken.
    #[error(
        "X-MLflow-Timestamp {timestamp} is {skew_secs} s from now, beyond the tolerance of {} s; \
         a replayed or delayed delivery is refused",
        TIMESTAMP_TOLERANCE / 1000
    )]
    StaleTimestamp {
        /// The `X-MLflow-Timestamp` given, in Unix seconds.
        timestamp: i64,
        /// Now minus that timestamp, in seconds: positive for a delivery signed in the past.
        skew_secs: i64,
    },
    /// The authenticated body is not an MLflow webhook payload.
    #[error("malformed MLflow payload: {0}")]
    Malformed(Invalid),
}

impl MlflowError {
    /// Whether the request failed authentication (an HTTP 401), as opposed to carrying a
    /// malformed body (a 400).
    pub fn is_unauthenticated(&self) -> bool {
        !matches!(self, MlflowError::Malformed(_))
    }
}

/// Authenticate and map one MLflow delivery: the raw body bytes as received, its headers, the
/// integration's secret (MLflow uses it as raw UTF-8 bytes) and where its events land.
///
/// Authentication comes first, so an unauthenticated caller learns nothing about the parser.
pub fn receive(
    target: &Target<'_>,
    secret: &[u8],
    headers: &Headers<'_>,
    body: &[u8],
    now: Timestamp,
) -> Result<Delivery, MlflowError> {
    let delivery_id = verify(secret, headers, body, now)?;
    map_delivery(target, delivery_id, body)
}

/// The target and secret of an `mlflow` integration with a registry; `None` for other kinds and
/// for a tracking-only integration.
pub fn integration_target(integration: &Integration) -> Option<(Target<'_>, &Secret)> {
    match &integration.kind {
        IntegrationKind::Mlflow { registry: Some((secret, registry)), .. } => Some((
            Target { integration: integration.name.as_str(), entity: integration.entity.as_str(), registry },
            secret,
        )),
        _ => None,
    }
}
