//! Issue 16, item 13: integration secrets sat in clear text in the SQLite file. They are sealed
//! (AES-256-GCM); a copy of the database without its key reveals none; the key rotates.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_core::model::Integration;
use automations_core::store::{IntegrationLookup, IntegrationStore, StoreError, ready_now};
use automations_core::time::Timestamp;
use automations_core::{EntityId, IntegrationName};
use automations_sqlite::SqliteStore;
use automations_sqlite::secrets::SecretKeys;
use base64::Engine as _;
use serde_json::json;

fn ring(keys: &[u8]) -> SecretKeys {
    let text: Vec<String> = keys.iter().map(|b| base64::engine::general_purpose::STANDARD.encode([*b; 32])).collect();
    SecretKeys::parse(&text.join(","), "test").unwrap()
}

fn files_contain(dir: &std::path::Path, needle: &str) -> bool {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| std::fs::read(e.path()).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes())))
}

#[test]
fn secrets_are_sealed_at_rest_and_the_key_rotates() {
    ready_now(async {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("automations.db");
        let hook = Integration::from_create(
            "in_1",
            "acme",
            &json!({"name": "hook", "type": "webhook", "url": "https://x.test/h?api_key=URL-SECRET",
                "secret": "whsec-AT-REST", "access_token": "tok-AT-REST"}),
            Timestamp(0),
        )
        .unwrap();
        {
            let (store, resealed) = SqliteStore::open(&db).unwrap().with_secret_keys(ring(&[1])).unwrap();
            assert_eq!(resealed, 0);
            store.create_integration(&hook).await.unwrap();
            assert_eq!(
                store.get_integration(&EntityId::new("acme"), &IntegrationName::new("hook")).await.unwrap().as_ref(),
                Some(&hook)
            );
        }
        for secret in ["whsec-AT-REST", "tok-AT-REST", "URL-SECRET"] {
            assert!(!files_contain(dir.path(), secret), "{secret} is readable in the database files");
        }
        // Without its key, the copy tells nothing: a ring that holds neither key cannot open it.
        let bad = SqliteStore::open(&db).unwrap().with_secret_keys(ring(&[9]));
        assert!(matches!(bad, Err(StoreError::Corrupt(_))), "{bad:?}");
        // Rotation: the new key first, the old one after; the document is sealed again under the
        // new key, and then the old key can go.
        let (rotated, resealed) = SqliteStore::open(&db).unwrap().with_secret_keys(ring(&[2, 1])).unwrap();
        assert_eq!(resealed, 1);
        drop(rotated);
        let (store, resealed) = SqliteStore::open(&db).unwrap().with_secret_keys(ring(&[2])).unwrap();
        assert_eq!(resealed, 0);
        assert_eq!(
            store.get_integration(&EntityId::new("acme"), &IntegrationName::new("hook")).await.unwrap().as_ref(),
            Some(&hook)
        );
    })
}

#[test]
fn plain_documents_from_before_are_sealed_on_first_open_with_a_key() {
    ready_now(async {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("automations.db");
        let hook = Integration::from_create(
            "in_1",
            "acme",
            &json!({"name": "hook", "type": "webhook", "url": "https://x.test/h", "secret": "whsec-OLD-PLAIN"}),
            Timestamp(0),
        )
        .unwrap();
        SqliteStore::open(&db).unwrap().create_integration(&hook).await.unwrap();
        let (store, resealed) = SqliteStore::open(&db).unwrap().with_secret_keys(ring(&[1])).unwrap();
        assert_eq!(resealed, 1);
        assert_eq!(
            store.get_integration(&EntityId::new("acme"), &IntegrationName::new("hook")).await.unwrap().as_ref(),
            Some(&hook)
        );
    })
}

#[test]
fn the_key_file_is_created_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("automations.db");
    assert!(std::env::var_os(automations_sqlite::secrets::KEYS_VAR).is_none());
    let first = SecretKeys::from_env_or_file(&db).unwrap();
    let again = SecretKeys::from_env_or_file(&db).unwrap();
    assert_eq!(first.current(), again.current(), "the file is read back, not replaced");
    let path = dir.path().join("automations.db.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
