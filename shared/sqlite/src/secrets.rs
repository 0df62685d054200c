//! Integration credentials at rest: each integration's document (URL, secret, token) is stored
//! sealed with AES-256-GCM, so a copy of the database without its key reveals no secret.
//!
//! The key ring comes from `AUTOMATIONS_SECRET_KEYS` (base64 32-byte keys, comma-separated), or
//! else from the key file beside the database (`automations.db.key`), which `serve` creates on
//! first start readable by its owner only. The first key seals; every key opens. Rotation: put
//! a new key first (`NEW,OLD`), start once (every document is sealed again under the new key),
//! then drop the old one. A sealed document is `enc:v1:{key id}:{base64(nonce, ciphertext)}`,
//! bound to its entity and id (the associated data), so one cannot be moved onto another row.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The environment variable holding the key ring.
pub const KEYS_VAR: &str = "AUTOMATIONS_SECRET_KEYS";
const PREFIX: &str = "enc:v1:";

/// Why the key ring or a sealed document cannot be used. Never holds key material.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// A key of the ring is not 32 bytes of base64.
    #[error("{source_name}: key {index} is not base64 of 32 bytes (make one with: head -c 32 /dev/urandom | base64)")]
    BadKey {
        /// Where the ring came from (a variable or a file), never its content.
        source_name: String,
        /// The key's position in the ring, from 0.
        index: usize,
    },
    /// The ring is empty.
    #[error("{source_name}: holds no key")]
    NoKey {
        /// Where the ring came from.
        source_name: String,
    },
    /// The key file cannot be read or made.
    #[error("the key file {path}: {why}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// What the system said.
        why: String,
    },
    /// A document was sealed under a key that is no longer in the ring.
    #[error("a sealed document is under key {0}, which the key ring does not hold")]
    UnknownKey(String),
    /// A document fails its authentication.
    #[error("a sealed document does not open (damaged, or moved from another row)")]
    Damaged,
    /// The system gave no randomness.
    #[error("no randomness for a nonce: {0}")]
    Random(String),
}

/// The keys integration documents are sealed with; the first seals.
pub struct SecretKeys {
    keys: Vec<(String, Aes256Gcm)>,
}

impl std::fmt::Debug for SecretKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.keys.iter().map(|(id, _)| id)).finish()
    }
}

impl SecretKeys {
    /// Parse a ring: base64 keys separated by commas or whitespace.
    pub fn parse(text: &str, source_name: &str) -> Result<SecretKeys, SecretsError> {
        let mut keys = Vec::new();
        for (index, k) in text.split([',', ' ', '\n', '\t']).filter(|k| !k.trim().is_empty()).enumerate() {
            let bytes = STANDARD.decode(k.trim()).ok().filter(|b| b.len() == 32);
            let Some(bytes) = bytes else {
                return Err(SecretsError::BadKey { source_name: source_name.to_string(), index });
            };
            let id = Sha256::digest(&bytes).iter().take(4).map(|b| format!("{b:02x}")).collect::<String>();
            let cipher = Aes256Gcm::new_from_slice(&bytes)
                .map_err(|_| SecretsError::BadKey { source_name: source_name.to_string(), index })?;
            keys.push((id, cipher));
        }
        if keys.is_empty() {
            return Err(SecretsError::NoKey { source_name: source_name.to_string() });
        }
        Ok(SecretKeys { keys })
    }

    /// The ring of `AUTOMATIONS_SECRET_KEYS` if set, else of the key file beside `db`
    /// (`{db}.key`), created with a new random key (mode 0600) when absent.
    pub fn from_env_or_file(db: &Path) -> Result<SecretKeys, SecretsError> {
        if let Ok(text) = std::env::var(KEYS_VAR)
            && !text.trim().is_empty()
        {
            return SecretKeys::parse(&text, KEYS_VAR);
        }
        let mut path = db.as_os_str().to_owned();
        path.push(".key");
        let path = PathBuf::from(path);
        let file_error = |why: String| SecretsError::KeyFile { path: path.clone(), why };
        match std::fs::read_to_string(&path) {
            Ok(text) => SecretKeys::parse(&text, &path.display().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).map_err(|e| SecretsError::Random(e.to_string()))?;
                let text = format!("{}\n", STANDARD.encode(key));
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(&path).map_err(|e| file_error(format!("cannot create it: {e}")))?;
                file.write_all(text.as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|e| file_error(format!("cannot write it: {e}")))?;
                SecretKeys::parse(&text, &path.display().to_string())
            }
            Err(e) => Err(file_error(format!("cannot read it: {e}"))),
        }
    }

    /// The id of the sealing key.
    pub fn current(&self) -> &str {
        &self.keys[0].0
    }

    /// Seal `plain`, bound to `context`.
    pub fn seal(&self, plain: &str, context: &str) -> Result<String, SecretsError> {
        let (id, cipher) = &self.keys[0];
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| SecretsError::Random(e.to_string()))?;
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plain.as_bytes(), aad: context.as_bytes() })
            .map_err(|_| SecretsError::Damaged)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{PREFIX}{id}:{}", STANDARD.encode(out)))
    }

    /// Open a stored document: sealed ones with their key, plain ones (stored before
    /// encryption) as they are.
    pub fn open(&self, stored: &str, context: &str) -> Result<String, SecretsError> {
        let Some((id, b64)) = stored.strip_prefix(PREFIX).and_then(|r| r.split_once(':')) else {
            return Ok(stored.to_string());
        };
        let (_, cipher) =
            self.keys.iter().find(|(k, _)| k == id).ok_or_else(|| SecretsError::UnknownKey(id.to_string()))?;
        let bytes = STANDARD.decode(b64).map_err(|_| SecretsError::Damaged)?;
        if bytes.len() < 12 {
            return Err(SecretsError::Damaged);
        }
        let (nonce, sealed) = bytes.split_at(12);
        let plain = cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad: context.as_bytes() })
            .map_err(|_| SecretsError::Damaged)?;
        String::from_utf8(plain).map_err(|_| SecretsError::Damaged)
    }

    /// Is `stored` sealed under the current key (nothing to do on rotation)?
    pub fn is_current(&self, stored: &str) -> bool {
        stored.strip_prefix(PREFIX).and_then(|r| r.split_once(':')).is_some_and(|(id, _)| id == self.current())
    }
}

/// What a sealed document is bound to: its row's entity and id.
pub(crate) fn context(entity: &str, id: &str) -> String {
    format!("integration\0{entity}\0{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> String {
        STANDARD.encode([b; 32])
    }

    #[test]
    fn seals_opens_rotates_and_binds_to_the_row() {
        let old = SecretKeys::parse(&key(1), "test").unwrap();
        let sealed = old.seal(r#"{"secret":"s3cret"}"#, "a").unwrap();
        assert!(sealed.starts_with("enc:v1:") && !sealed.contains("s3cret"));
        assert_eq!(old.open(&sealed, "a").unwrap(), r#"{"secret":"s3cret"}"#);
        assert!(matches!(old.open(&sealed, "b"), Err(SecretsError::Damaged)), "bound to its row");
        assert_eq!(old.open("{\"plain\":1}", "a").unwrap(), "{\"plain\":1}", "documents from before stay readable");
        let ring = SecretKeys::parse(&format!("{},{}", key(2), key(1)), "test").unwrap();
        assert_eq!(ring.open(&sealed, "a").unwrap(), r#"{"secret":"s3cret"}"#, "an old key still opens");
        assert!(!ring.is_current(&sealed) && ring.is_current(&ring.seal("x", "a").unwrap()));
        let new_only = SecretKeys::parse(&key(2), "test").unwrap();
        assert!(matches!(new_only.open(&sealed, "a"), Err(SecretsError::UnknownKey(_))));
        assert!(matches!(SecretKeys::parse("bm90IGEga2V5", "X"), Err(SecretsError::BadKey { .. })));
        assert!(!format!("{ring:?}").contains(&key(2)));
    }
}
