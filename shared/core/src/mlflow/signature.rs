//! MLflow's webhook signature: the Standard Webhooks v1 scheme under `X-MLflow-*` names, keyed
//! with the secret's raw UTF-8 bytes (not base64-decoded, unlike Standard Webhooks' `whsec_`).

use super::{HEADER_DELIVERY_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, Headers, MAX_DELIVERY_ID_LEN, MlflowError};
use crate::time::{MINUTE, Millis, Timestamp};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How far `X-MLflow-Timestamp` may be from now, either way. MLflow signs once and reuses the
/// signature on its retries, which span about 7 seconds.
pub const TIMESTAMP_TOLERANCE: Millis = 5 * MINUTE;

fn mac(secret: &[u8], delivery_id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = crate::delivery::sign::hmac(secret);
    mac.update(delivery_id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `X-MLflow-Signature` value MLflow sends for this delivery (for tests and tools).
pub fn sign(secret: &[u8], delivery_id: &str, timestamp: &str, body: &[u8]) -> String {
    format!("v1,{}", STANDARD.encode(mac(secret, delivery_id, timestamp, body).finalize().into_bytes()))
}

/// Check a delivery's headers against the raw body: the signature (any of the space-separated
/// `v1,<base64>` entries, compared in constant time) and then the timestamp's distance from
/// `now`. Returns the delivery id.
pub fn verify<'h>(secret: &[u8], headers: &Headers<'h>, body: &[u8], now: Timestamp) -> Result<&'h str, MlflowError> {
    let delivery_id = headers.delivery_id.ok_or(MlflowError::MissingHeader {
        header: HEADER_DELIVERY_ID,
        hint: "MLflow sends it with every webhook delivery",
    })?;
    if delivery_id.is_empty() || delivery_id.len() > MAX_DELIVERY_ID_LEN {
        return Err(MlflowError::BadHeader {
            header: HEADER_DELIVERY_ID,
            reason: format!("must be 1 to {MAX_DELIVERY_ID_LEN} characters, got {}", delivery_id.len()),
        });
    }
    let timestamp = headers.timestamp.ok_or(MlflowError::MissingHeader {
        header: HEADER_TIMESTAMP,
        hint: "MLflow sends it with every webhook delivery",
    })?;
    let secs: i64 = timestamp.parse().map_err(|_| MlflowError::BadHeader {
        header: HEADER_TIMESTAMP,
        reason: "must be Unix seconds (an integer)".into(),
    })?;
    let signature = headers.signature.ok_or(MlflowError::MissingHeader {
        header: HEADER_SIGNATURE,
        hint: "MLflow signs only webhooks that have a secret: create the MLflow webhook with this integration's secret",
    })?;
    let mut any_v1 = false;
    let mut matched = false;
    for entry in signature.split(' ').filter(|e| !e.is_empty()) {
        let Some(("v1", encoded)) = entry.split_once(',') else { continue };
        any_v1 = true;
        let Ok(given) = STANDARD.decode(encoded) else { continue };
        // verify_slice compares in constant time; keep checking the rest either way.
        matched |= mac(secret, delivery_id, timestamp, body).verify_slice(&given).is_ok();
    }
    if !any_v1 {
        return Err(MlflowError::BadSignature("has no v1 signature (expected \"v1,<base64>\")"));
    }
    if !matched {
        return Err(MlflowError::BadSignature(
            "does not match the body: the MLflow webhook's secret differs from this integration's, or the body was altered",
        ));
    }
    let skew = now.0.div_euclid(1000).saturating_sub(secs);
    if skew.unsigned_abs() > (TIMESTAMP_TOLERANCE / 1000).unsigned_abs() {
        return Err(MlflowError::StaleTimestamp { timestamp: secs, skew_secs: skew });
    }
    Ok(delivery_id)
}
