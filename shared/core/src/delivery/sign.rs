//! Webhook signatures: the Standard Webhooks headers and W&B's `X-Wandb-Signature`.
//!
//! - Standard Webhooks (<https://www.standardwebhooks.com>): `webhook-id` (the fire id, the same
//!   on every retry), `webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature:
//!   v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`. A secret written `whsec_<base64>`
//!   signs with the decoded bytes, as the reference libraries do; any other secret signs with its
//!   UTF-8 bytes (give those bytes to the library: `Webhook(secret.encode())` in Python).
//! - W&B: `X-Wandb-Signature: <base64 HMAC-SHA256(secret, body)>`, keyed with the secret exactly
//!   as written, as W&B documents it (`openssl dgst -sha256 -hmac "$SECRET" -binary | base64`).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 keyed with `key`.
#[expect(clippy::expect_used, reason = "HMAC takes keys of any length: new_from_slice cannot fail")]
pub(crate) fn hmac(key: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length")
}

/// The prefix of a Standard Webhooks secret whose key is base64.
pub const WHSEC_PREFIX: &str = "whsec_";

/// A secret that cannot sign: empty, or `whsec_` followed by something that is not base64.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidSecret {
    /// The secret is empty, or is `whsec_` with no key bytes after it.
    #[error("the secret is empty")]
    Empty,
    /// The secret starts with `whsec_` but the rest is not base64.
    #[error("a secret starting with \"whsec_\" must continue with base64 (the key's bytes)")]
    BadBase64,
}

/// Check a secret when an integration is saved, so signing never fails at delivery time.
pub fn validate_secret(secret: &str) -> Result<(), InvalidSecret> {
    SigningKey::new(secret).map(|_| ())
}

/// A secret ready to sign with.
#[derive(Clone)]
pub struct SigningKey {
    /// The Standard Webhooks key: decoded `whsec_` bytes, or the secret's bytes.
    standard: Vec<u8>,
    /// W&B's key: the secret as written.
    wandb: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(****)")
    }
}

impl SigningKey {
    /// The keys of `secret`: a `whsec_<base64>` secret signs Standard Webhooks with the decoded bytes,
    /// any other with its own; W&B's signature always uses the secret as written.
    pub fn new(secret: &str) -> Result<SigningKey, InvalidSecret> {
        if secret.is_empty() {
            return Err(InvalidSecret::Empty);
        }
        let standard = match secret.strip_prefix(WHSEC_PREFIX) {
            // Padding is optional, as the reference libraries take it.
            Some(b64) => STANDARD_NO_PAD.decode(b64.trim_end_matches('=')).map_err(|_| InvalidSecret::BadBase64)?,
            None => secret.as_bytes().to_vec(),
        };
        if standard.is_empty() {
            return Err(InvalidSecret::Empty);
        }
        Ok(SigningKey { standard, wandb: secret.as_bytes().to_vec() })
    }

    /// `v1,<base64 signature>` of the Standard Webhooks scheme.
    pub fn standard_signature(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = hmac(&self.standard);
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }

    /// The value of `X-Wandb-Signature`.
    pub fn wandb_signature(&self, body: &[u8]) -> String {
        let mut mac = hmac(&self.wandb);
        mac.update(body);
        STANDARD.encode(mac.finalize().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_test_vector() {
        // The example of the Standard Webhooks specification and its reference libraries.
        let key = SigningKey::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            key.standard_signature("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn wandb_signature_is_keyed_with_the_secret_as_written() {
        // echo -n 'hello' | openssl dgst -sha256 -hmac 'key' -binary | base64
        let key = SigningKey::new("key").unwrap();
        assert_eq!(key.wandb_signature(b"hello"), "kwezuRXvtRcf8U2MtV+8x5jGwO8UVtZt7RpqpyOli3s=");
        // A plain secret signs the Standard Webhooks way with the same bytes.
        assert!(key.standard_signature("id", 1, b"hello").starts_with("v1,"));
    }

    #[test]
    fn refuses_unusable_secrets() {
        assert_eq!(validate_secret(""), Err(InvalidSecret::Empty));
        assert_eq!(validate_secret("whsec_"), Err(InvalidSecret::Empty));
        assert_eq!(validate_secret("whsec_not base64!"), Err(InvalidSecret::BadBase64));
        assert_eq!(validate_secret("plain secret"), Ok(()));
        assert_eq!(validate_secret("whsec_AAECAw"), Ok(()), "unpadded base64 is accepted");
        assert!(!format!("{:?}", SigningKey::new("s3cr3t").unwrap()).contains("s3cr3t"));
    }
}
