//! API keys: random, shown once, stored as a SHA-256 hash, each granting one entity.
//!
//! A key is `ak_` followed by 32 random bytes in lower-case hex. The store keeps only
//! [`hash_key`] of it, so a copy of the database grants nothing. Every request carries
//! `Authorization: Bearer KEY`, or HTTP Basic with the key as the password (what the W&B SDK
//! sends: user `api`); [`Caller`] resolves it to the entity it grants, or answers 401.
//!
//! Hex, because the W&B SDK checks a key before it sends it: what follows the first `-` must be
//! 40 or more word characters, and base64url (the first keys' alphabet) puts a `-` early in
//! about 44% of keys. Those earlier keys keep working here; only the SDK refuses some of them.

use crate::Api;
use crate::error::ApiError;
use automations_core::EntityId;
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
    Ok(format!("{KEY_PREFIX}{}", hex(&bytes)))
}

/// The stored form of a key: SHA-256, lower-case hex. The SAM template takes the first key's
/// hash in this form.
pub fn hash_key(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// The key an `Authorization` header carries: `Bearer KEY`, or `Basic base64(USER:KEY)` (any
/// user; the W&B SDK sends `api`). The scheme is case-insensitive (RFC 9110 section 11.1).
fn key_of(value: &str) -> Result<String, ApiError> {
    const MALFORMED: &str =
        "the Authorization header must be `Bearer KEY` (or HTTP Basic with the key as the password)";
    let (scheme, rest) = value.trim_start().split_once(' ').ok_or(ApiError::Unauthorized(MALFORMED))?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Ok(rest.to_string());
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(ApiError::Unauthorized(MALFORMED));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(ApiError::Unauthorized("the Basic credentials are not base64 of `user:key`"))?;
    let (_, key) = decoded.split_once(':').ok_or(ApiError::Unauthorized("the Basic credentials are not `user:key`"))?;
    Ok(key.to_string())
}

/// A new key for `entity`, with the record to store. The key itself is not kept anywhere.
pub fn issue_key(entity: &EntityId, now: Timestamp) -> Result<(String, ApiKeyRecord), getrandom::Error> {
    let key = new_key()?;
    let record = ApiKeyRecord { hash: hash_key(&key), entity: entity.clone(), created_at: now };
    Ok((key, record))
}

/// The authenticated caller: the entity its key grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The one entity this caller may read and write.
    pub entity: EntityId,
}

impl FromRequestParts<Arc<Api>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Arc<Api>) -> Result<Caller, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or(ApiError::Unauthorized("missing Authorization header: send `Authorization: Bearer KEY`"))?;
        let value = header.to_str().map_err(|_| ApiError::Unauthorized("the Authorization header is not text"))?;
        let key = key_of(value)?;
        if !key.starts_with(KEY_PREFIX) || key.len() > 256 {
            return Err(ApiError::Unauthorized("unknown API key"));
        }
        match api.store.find_api_key(&hash_key(&key)).await? {
            Some(record) => {
                if let Some(slot) = parts.extensions.get::<crate::access_log::EntitySlot>() {
                    slot.set(record.entity.as_str());
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

    /// The W&B SDK's own check (`wandb/sdk/lib/wbauth/validation.py`, 0.31.0): what follows the
    /// first `-` (or the whole key) is 40 or more word characters or dashes.
    fn wandb_accepts(key: &str) -> bool {
        let secret = key.split_once('-').map_or(key, |(_, s)| s);
        secret.len() >= 40 && secret.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    }

    #[test]
    fn the_wandb_sdk_accepts_every_new_key() {
        for _ in 0..2000 {
            let k = new_key().unwrap();
            assert!(wandb_accepts(&k), "{k}");
        }
        // What the first keys looked like, and why they had to change.
        assert!(!wandb_accepts("ak_wJ5lRPw1Y1cRmJGI8zusuND5XSVkBGpWeg35K-Gfti8"));
    }

    #[test]
    fn bearer_and_basic_carry_the_key() {
        use base64::Engine as _;
        assert_eq!(key_of("Bearer ak_1").unwrap(), "ak_1");
        assert_eq!(key_of("bearer   ak_1 ").unwrap(), "ak_1");
        let basic = base64::engine::general_purpose::STANDARD.encode("api:ak_2");
        assert_eq!(key_of(&format!("Basic {basic}")).unwrap(), "ak_2");
        assert_eq!(key_of(&format!("BASIC {basic}")).unwrap(), "ak_2");
        for bad in ["Token ak_1", "Bearer", "Basic !!!", "Basic YWtfMQ=="] {
            assert!(matches!(key_of(bad), Err(ApiError::Unauthorized(_))), "{bad}");
        }
    }

    #[test]
    fn keys_are_random_and_hashed() {
        let a = new_key().unwrap();
        let b = new_key().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("ak_") && a.len() == 3 + 64, "{a}");
        assert!(a[3..].bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{a}");
        assert_eq!(hash_key("ak_x").len(), 64);
        assert_ne!(hash_key(&a), hash_key(&b));
        // Known vector: sha256("abc").
        assert_eq!(hash_key("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
