//! Rejected envelopes, kept 30 days where an operator can list them. (On AWS the functions send
//! rejects to the dead-letter queue; this is for the API's intake, which answers the sender.)

use crate::api::{DynamoApi, Params, Put, Query, Read};
use crate::keys::{self, EXPIRES_AT, PK, REJECTS_PK, get_i64, get_s, n, s};
use crate::retry::retrying;
use crate::{DynamoStore, unavailable};
use automations_core::BoxFuture;
use automations_core::store::{RejectRecord, RejectStore, StoreError};
use automations_core::time::{DAY, Timestamp};

/// How long a reject is kept.
pub const REJECT_TTL: i64 = 30 * DAY;

impl<D: DynamoApi> RejectStore for DynamoStore<D> {
    fn record_reject<'a>(&'a self, reject: &'a RejectRecord) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut item = keys::key(REJECTS_PK, format!("{:013}#{}", reject.received_at.0.max(0), self.tokens.next()));
            item.insert("received_at".into(), n(reject.received_at.0));
            for (name, value) in
                [("event_id", &reject.id), ("source", &reject.source), ("event_type", &reject.event_type)]
            {
                if let Some(v) = value {
                    item.insert(name.into(), s(v.clone()));
                }
            }
            item.insert("reason".into(), s(reject.reason.clone()));
            item.insert("body".into(), s(reject.body.clone()));
            item.insert(EXPIRES_AT.into(), n(keys::ttl_seconds(reject.received_at.plus(REJECT_TTL))));
            let put = Put { item, condition: None, params: Params::default() };
            retrying(&self.backoff, "PutItem (reject)", || self.api.put_item(&self.table, put.clone()))
                .await
                .map_err(|e| unavailable("record reject", e))
        })
    }
}

impl<D: DynamoApi> DynamoStore<D> {
    /// Every live reject, oldest first.
    pub async fn rejects(&self, now: Timestamp) -> Result<Vec<RejectRecord>, StoreError> {
        let items = self
            .query_all(Query {
                key_condition: "#pk = :pk".into(),
                params: Params::default().name("#pk", PK).value(":pk", s(REJECTS_PK)),
                read: Read::Consistent,
                forward: true,
                ..Query::default()
            })
            .await
            .map_err(|e| unavailable("list rejects", e))?;
        Ok(items
            .iter()
            .filter(|i| keys::is_live(i, now))
            .map(|i| RejectRecord {
                received_at: Timestamp(get_i64(i, "received_at").unwrap_or_default()),
                id: get_s(i, "event_id").map(str::to_string),
                source: get_s(i, "source").map(str::to_string),
                event_type: get_s(i, "event_type").map(str::to_string),
                reason: get_s(i, "reason").unwrap_or_default().to_string(),
                body: get_s(i, "body").unwrap_or_default().to_string(),
            })
            .collect())
    }
}
