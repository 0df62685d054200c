//! API keys: random, shown once, stored as a SHA-256 hash, each granting one entity.
//!
//! A key is `ak_` followed by 32 random bytes in unpadded base64url. The store keeps only
//! [`hash_key`] of it, so a copy of the database grants nothing. Every request carries
//! `Authorization: Bearer KEY`; [`Caller`] resolves it to the entity it grants, or answers 401.

use crate::error::ApiError;
use crate::{Api, ApiStore};
use automations_core::store::ApiKeyRecord;
use automations_core::time::Timestamp;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The prefix of every key, so a leaked key is recognisable (and greppable by secret scanners).
pub const KEY_PREFIX: &str = "ak_";

/// A new random key (shown to its owner once; only its hash is stored).
pub fn new_key() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{KEY_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)))
}

/// The stored form of a key: SHA-256, lower-case hex. The SAM template takes the first key's
/// hash in this form.
pub fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// A new key for `entity`, with the record to store. The key itself is not kept anywhere.
pub fn issue_key(entity: &str, now: Timestamp) -> Result<(String, ApiKeyRecord), getrandom::Error> {
    let key = new_key()?;
    let record = ApiKeyRecord { hash: hash_key(&key), entity: entity.to_string(), created_at: now };
    Ok((key, record))
}

/// The authenticated caller: the entity its key grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub entity: String,
}

impl<S: ApiStore, K, D> FromRequestParts<Arc<Api<S, K, D>>> for Caller
where
    K: Send + Sync + 'static,
    D: Send + Sync + 'static,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Arc<Api<S, K, D>>) -> Result<Caller, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or(ApiError::Unauthorized("missing Authorization header: send `Authorization: Bearer KEY`"))?;
        let value = header.to_str().map_err(|_| ApiError::Unauthorized("the Authorization header is not text"))?;
        // The scheme is case-insensitive (RFC 9110 section 11.1): `BEARER key` is `Bearer key`.
        let key = value
            .trim_start()
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, key)| key.trim())
            .ok_or(ApiError::Unauthorized("the Authorization header must be `Bearer KEY`"))?;
        if !key.starts_with(KEY_PREFIX) || key.len() > 256 {
            return Err(ApiError::Unauthorized("unknown API key"));
        }
        match api.store.find_api_key(&hash_key(key)).await? {
            Some(record) => {
                if let Some(slot) = parts.extensions.get::<crate::access_log::EntitySlot>() {
                    slot.set(&record.entity);
                }
                Ok(Caller { entity: record.entity })
            }
            None => Err(ApiError::Unauthorized("unknown API key")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_hashed() {
        let a = new_key().unwrap();
        let b = new_key().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("ak_") && a.len() == 3 + 43, "{a}");
        assert_eq!(hash_key("ak_x").len(), 64);
        assert_ne!(hash_key(&a), hash_key(&b));
        // Known vector: sha256("abc").
        assert_eq!(hash_key("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
