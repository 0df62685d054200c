//! The store conformance suite on the in-memory store (the reference the others must match).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_core::store::{MemoryStore, RejectRecord};
use automations_core::time::Timestamp;
use automations_testkit::conformance::Fixture;

struct Memory(MemoryStore);

impl Fixture for Memory {
    type Store = MemoryStore;

    fn store(&self) -> &MemoryStore {
        &self.0
    }

    async fn rejects(&self, _now: Timestamp) -> Vec<RejectRecord> {
        self.0.rejects()
    }
}

automations_testkit::store_conformance!(async { Memory(MemoryStore::new()) });
