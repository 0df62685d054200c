//! The store conformance suite on SQLite (a file in a temporary directory, as `serve` uses).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_core::store::RejectRecord;
use automations_core::time::Timestamp;
use automations_sqlite::SqliteStore;
use automations_testkit::conformance::Fixture;

struct Sqlite {
    store: SqliteStore,
    _dir: tempfile::TempDir,
}

impl Fixture for Sqlite {
    type Store = SqliteStore;

    fn store(&self) -> &SqliteStore {
        &self.store
    }

    async fn rejects(&self, _now: Timestamp) -> Vec<RejectRecord> {
        self.store.rejects().expect("list rejects")
    }
}

async fn sqlite() -> Sqlite {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SqliteStore::open(&dir.path().join("store.db")).expect("open SQLite store");
    Sqlite { store, _dir: dir }
}

automations_testkit::store_conformance!(sqlite());
