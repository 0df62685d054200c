//! The store conformance suite on DynamoDB: a moto server per test, the table created as
//! `template.yaml` declares it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use automations_core::store::RejectRecord;
use automations_core::time::Timestamp;
use automations_dynamo::{Backoff, DynamoStore, SdkDynamo, create_table};
use automations_testkit::conformance::Fixture;
use automations_testkit::moto::Moto;

struct Dynamo {
    store: DynamoStore,
    _moto: Moto,
}

impl Fixture for Dynamo {
    type Store = DynamoStore;

    fn store(&self) -> &DynamoStore {
        &self.store
    }

    async fn rejects(&self, now: Timestamp) -> Vec<RejectRecord> {
        self.store.rejects(now).await.expect("list rejects")
    }
}

async fn dynamo() -> Dynamo {
    let moto = Moto::start();
    let client = moto.dynamodb();
    create_table(&client, "automations").await.expect("create the table");
    let store = DynamoStore::new(SdkDynamo::new(client), "automations").with_backoff(Backoff::fast());
    Dynamo { store, _moto: moto }
}

automations_testkit::store_conformance!(dynamo());
