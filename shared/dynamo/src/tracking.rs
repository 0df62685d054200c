//! The MLflow tracking poller's port on DynamoDB: the tracking integrations of every entity
//! (through the sparse `tracking` index), one cursor item per (integration, run), one poll
//! record per integration, all in the integration's `MLFLOW#{id}` partition (see [`crate::keys`]).

use crate::api::{DynamoApi, Item, Params, Put, Query, Read, Write};
use crate::config::integration_of;
use crate::keys::{self, PK, SK, TRACKED, TRACKING, TRACKING_PK, get_i64, get_s, n, s};
use crate::retry::retrying;
use crate::{DynamoStore, corrupt, unavailable};
use automations_core::BoxFuture;
use automations_core::mlflow::tracking::{MetricCursor, RunCursor};
use automations_core::model::Integration;
use automations_core::store::{PollRecord, StoreError, TrackingStore};
use automations_core::time::Timestamp;
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// Cursor attributes: the MLflow status last forwarded, and the metrics as JSON
/// (`{"loss": [step, timestamp_ms]}`).
const STATUS: &str = "status";
const METRICS: &str = "m";
/// Poll record attributes.
const AT: &str = "at";
const ERROR: &str = "err";
const REQUESTS: &str = "req";
const ENVELOPES: &str = "env";
const LAST_SUCCESS: &str = "ok_at";
const FAILURES: &str = "fails";

fn encode_metrics(cursor: &RunCursor) -> String {
    let map: Map<String, Value> =
        cursor.metrics.iter().map(|(k, c)| (k.clone(), json!([c.step, c.timestamp]))).collect();
    Value::Object(map).to_string()
}

fn decode_cursor(item: &Item) -> Result<RunCursor, StoreError> {
    let mut cursor = RunCursor { status: get_s(item, STATUS).map(str::to_string), ..RunCursor::default() };
    let text = get_s(item, METRICS).unwrap_or("{}");
    let map: Map<String, Value> =
        serde_json::from_str(text).map_err(|e| corrupt(format!("tracking cursor metrics: {e}")))?;
    for (metric, v) in map {
        let pair = v.as_array().and_then(|a| Some((a.first()?.as_i64()?, a.get(1)?.as_i64()?)));
        let (step, timestamp) = pair.ok_or_else(|| corrupt(format!("tracking cursor of metric {metric:?}: {v}")))?;
        cursor.metrics.insert(metric, MetricCursor { step, timestamp });
    }
    Ok(cursor)
}

impl<D: DynamoApi> DynamoStore<D> {
    /// Delete every cursor and the poll record of integration `integration_id` (it was deleted).
    pub(crate) async fn forget_tracking(&self, integration_id: &str) -> Result<(), StoreError> {
        let items = self
            .query_all(Query {
                key_condition: "#pk = :pk".into(),
                params: Params::default().name("#pk", PK).value(":pk", s(keys::tracking_pk(integration_id))),
                read: Read::Consistent,
                forward: true,
                ..Query::default()
            })
            .await
            .map_err(|e| unavailable("list tracking cursors", e))?;
        let deletes = items
            .iter()
            .filter_map(|i| Some(Write::Delete(keys::key(get_s(i, PK)?, get_s(i, SK)?))))
            .collect::<Vec<_>>();
        self.batch_write(deletes).await.map_err(|e| unavailable("delete tracking cursors", e))
    }

    async fn put(&self, item: Item, what: &str) -> Result<(), StoreError> {
        let put = Put { item, condition: None, params: Params::default() };
        retrying(&self.backoff, "PutItem", || self.api.put_item(&self.table, put.clone()))
            .await
            .map_err(|e| unavailable(what, e))
    }
}

impl<D: DynamoApi> TrackingStore for DynamoStore<D> {
    /// One Query of the sparse `tracking` index (keys only), then the integrations' items by
    /// key: the index is eventually consistent, so an integration deleted a moment ago may be
    /// listed and is then not found, and is skipped.
    fn tracking_integrations<'a>(&'a self) -> BoxFuture<'a, Result<Vec<Integration>, StoreError>> {
        Box::pin(async move {
            let listed = self
                .query_all(Query {
                    index: Some(TRACKING.into()),
                    key_condition: "#trk = :trk".into(),
                    params: Params::default().name("#trk", TRACKED).value(":trk", s(TRACKING_PK)),
                    read: Read::Eventual,
                    forward: true,
                    ..Query::default()
                })
                .await
                .map_err(|e| unavailable("list tracking integrations", e))?;
            let keys = listed.iter().filter_map(|i| Some(keys::key(get_s(i, PK)?, get_s(i, SK)?))).collect();
            let items = self
                .batch_get(keys, Read::Consistent)
                .await
                .map_err(|e| unavailable("read tracking integrations", e))?;
            let mut out = Vec::with_capacity(items.len());
            for item in items.iter().filter(|i| get_s(i, TRACKED).is_some()) {
                let i = integration_of(item)?;
                if i.tracking().is_some() {
                    out.push(i);
                }
            }
            out.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(out)
        })
    }

    /// One BatchGetItem per 100 runs.
    fn load_cursors<'a>(
        &'a self,
        integration_id: &'a str,
        run_ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<RunCursor>, StoreError>> {
        Box::pin(async move {
            let keys = run_ids.iter().map(|r| keys::cursor_key(integration_id, r)).collect();
            let items =
                self.batch_get(keys, Read::Consistent).await.map_err(|e| unavailable("read tracking cursors", e))?;
            let mut found: HashMap<String, RunCursor> = HashMap::with_capacity(items.len());
            for item in &items {
                found.insert(get_s(item, SK).unwrap_or_default().to_string(), decode_cursor(item)?);
            }
            Ok(run_ids
                .iter()
                .map(|r| {
                    let sk = get_s(&keys::cursor_key(integration_id, r), SK).unwrap_or_default().to_string();
                    found.remove(&sk).unwrap_or_default()
                })
                .collect())
        })
    }

    /// One PutItem: the whole cursor (a run's cursor only ever moves forward, and one poller
    /// writes it).
    fn save_cursor<'a>(
        &'a self,
        integration_id: &'a str,
        run_id: &'a str,
        cursor: &'a RunCursor,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut item = keys::cursor_key(integration_id, run_id);
            if let Some(status) = &cursor.status {
                item.insert(STATUS.into(), s(status.clone()));
            }
            item.insert(METRICS.into(), s(encode_metrics(cursor)));
            self.put(item, "save tracking cursor").await
        })
    }

    fn poll_record<'a>(&'a self, integration_id: &'a str) -> BoxFuture<'a, Result<Option<PollRecord>, StoreError>> {
        Box::pin(async move {
            let Some(item) = self.get(keys::poll_key(integration_id), "read last poll").await? else { return Ok(None) };
            let count = |name: &str| get_i64(&item, name).unwrap_or_default().max(0);
            Ok(Some(PollRecord {
                at: Timestamp(get_i64(&item, AT).unwrap_or_default()),
                error: get_s(&item, ERROR).map(str::to_string),
                requests: count(REQUESTS) as u64,
                envelopes: count(ENVELOPES) as u64,
                last_success: get_i64(&item, LAST_SUCCESS).map(Timestamp),
                failures: u32::try_from(count(FAILURES)).unwrap_or(u32::MAX),
            }))
        })
    }

    fn save_poll_record<'a>(
        &'a self,
        integration_id: &'a str,
        r: &'a PollRecord,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut item = keys::poll_key(integration_id);
            item.insert(AT.into(), n(r.at.0));
            if let Some(e) = &r.error {
                item.insert(ERROR.into(), s(e.clone()));
            }
            item.insert(REQUESTS.into(), n(r.requests));
            item.insert(ENVELOPES.into(), n(r.envelopes));
            if let Some(t) = r.last_success {
                item.insert(LAST_SUCCESS.into(), n(t.0));
            }
            item.insert(FAILURES.into(), n(r.failures));
            self.put(item, "save last poll").await
        })
    }
}
