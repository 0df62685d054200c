//! The MLflow tracking poller's port on SQLite: run and metric cursors, poll records.

use crate::SqliteStore;
use crate::error::SqliteError;
use automations_core::BoxFuture;
use automations_core::mlflow::tracking::{MetricCursor, RunCursor};
use automations_core::model::Integration;
use automations_core::store::{PollRecord, StoreError, TrackingStore};
use automations_core::time::Timestamp;
use rusqlite::{OptionalExtension, TransactionBehavior, params};

type Result<T> = std::result::Result<T, StoreError>;

fn db(e: rusqlite::Error) -> StoreError {
    SqliteError::from(e).into()
}

impl TrackingStore for SqliteStore {
    fn tracking_integrations<'a>(&'a self) -> BoxFuture<'a, Result<Vec<Integration>>> {
        Box::pin(async move {
            let conn = self.lock();
            let mut stmt = conn
                .prepare_cached(
                    // Each document is read and asked, not queried with json_extract: documents may
                    // be sealed (credentials encrypted at rest).
                    "SELECT id, entity, document, disabled, created_at FROM integrations ORDER BY id",
                )
                .map_err(db)?;
            let rows = stmt.query_map([], crate::config::integration_row).map_err(db)?;
            let mut out = Vec::new();
            for row in rows {
                let i = crate::config::integration(self.secrets.as_ref(), row.map_err(db)?)?;
                if i.tracking().is_some() {
                    out.push(i);
                }
            }
            Ok(out)
        })
    }

    fn load_cursors<'a>(
        &'a self,
        integration_id: &'a str,
        run_ids: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<RunCursor>>> {
        Box::pin(async move {
            let conn = self.lock();
            let mut status = conn
                .prepare_cached("SELECT status FROM mlflow_run_cursors WHERE integration_id = ?1 AND run_id = ?2")
                .map_err(db)?;
            let mut metrics = conn
            .prepare_cached(
                "SELECT metric, step, timestamp FROM mlflow_metric_cursors WHERE integration_id = ?1 AND run_id = ?2",
            )
            .map_err(db)?;
            let mut out = Vec::with_capacity(run_ids.len());
            for run in run_ids {
                let mut c = RunCursor {
                    status: status
                        .query_row(params![integration_id, run], |r| r.get::<_, Option<String>>(0))
                        .optional()
                        .map_err(db)?
                        .flatten(),
                    ..RunCursor::default()
                };
                let rows = metrics
                    .query_map(params![integration_id, run], |r| {
                        Ok((r.get::<_, String>(0)?, MetricCursor { step: r.get(1)?, timestamp: r.get(2)? }))
                    })
                    .map_err(db)?;
                for row in rows {
                    let (k, m) = row.map_err(db)?;
                    c.metrics.insert(k, m);
                }
                out.push(c);
            }
            Ok(out)
        })
    }

    fn save_cursor<'a>(
        &'a self,
        integration_id: &'a str,
        run_id: &'a str,
        cursor: &'a RunCursor,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mut conn = self.lock();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
            tx.prepare_cached(
                "INSERT INTO mlflow_run_cursors (integration_id, run_id, status) VALUES (?1, ?2, ?3)
             ON CONFLICT (integration_id, run_id) DO UPDATE SET status = excluded.status",
            )
            .and_then(|mut s| s.execute(params![integration_id, run_id, cursor.status]))
            .map_err(db)?;
            {
                let mut up = tx
                    .prepare_cached(
                        "INSERT INTO mlflow_metric_cursors (integration_id, run_id, metric, step, timestamp)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (integration_id, run_id, metric)
                     DO UPDATE SET step = excluded.step, timestamp = excluded.timestamp",
                    )
                    .map_err(db)?;
                for (metric, c) in &cursor.metrics {
                    up.execute(params![integration_id, run_id, metric, c.step, c.timestamp]).map_err(db)?;
                }
            }
            tx.commit().map_err(db)
        })
    }

    fn poll_record<'a>(&'a self, integration_id: &'a str) -> BoxFuture<'a, Result<Option<PollRecord>>> {
        Box::pin(async move {
            self.lock()
            .prepare_cached(
                "SELECT at, error, requests, envelopes, last_success, failures FROM mlflow_polls WHERE integration_id = ?1",
            )
            .and_then(|mut s| {
                s.query_row(params![integration_id], |r| {
                    Ok(PollRecord {
                        at: Timestamp(r.get(0)?),
                        error: r.get(1)?,
                        requests: r.get::<_, i64>(2)?.max(0) as u64,
                        envelopes: r.get::<_, i64>(3)?.max(0) as u64,
                        last_success: r.get::<_, Option<i64>>(4)?.map(Timestamp),
                        failures: r.get::<_, i64>(5)?.clamp(0, i64::from(u32::MAX)) as u32,
                    })
                })
                .optional()
            })
            .map_err(db)
        })
    }

    fn save_poll_record<'a>(&'a self, integration_id: &'a str, r: &'a PollRecord) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.lock()
                .prepare_cached(
                    "INSERT INTO mlflow_polls (integration_id, at, error, requests, envelopes, last_success, failures)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (integration_id) DO UPDATE SET at = excluded.at, error = excluded.error,
                   requests = excluded.requests, envelopes = excluded.envelopes,
                   last_success = excluded.last_success, failures = excluded.failures",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        integration_id,
                        r.at.0,
                        r.error,
                        i64::try_from(r.requests).unwrap_or(i64::MAX),
                        i64::try_from(r.envelopes).unwrap_or(i64::MAX),
                        r.last_success.map(|t| t.0),
                        i64::from(r.failures)
                    ])
                })
                .map(drop)
                .map_err(db)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automations_core::store::{IntegrationStore, ready_now};
    use automations_core::{EntityId, IntegrationName};
    use serde_json::json;
    use std::collections::BTreeMap;

    #[test]
    fn cursors_and_polls_round_trip() {
        let store = SqliteStore::in_memory().unwrap();
        let doc = json!({"name": "m", "type": "mlflow", "tracking_uri": "http://127.0.0.1:5000", "token": "t"});
        let i = Integration::from_create("in_1", "acme", &doc, Timestamp(0)).unwrap();
        ready_now(store.create_integration(&i)).unwrap();
        let hook = json!({"name": "h", "type": "mlflow", "secret": "s", "registry": "r"});
        ready_now(store.create_integration(&Integration::from_create("in_2", "acme", &hook, Timestamp(0)).unwrap()))
            .unwrap();
        let listed = ready_now(store.tracking_integrations()).unwrap();
        assert_eq!(listed.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["in_1"]);

        let runs = vec!["r1".to_string(), "r2".to_string()];
        assert_eq!(ready_now(store.load_cursors("in_1", &runs)).unwrap(), vec![RunCursor::default(); 2]);
        let mut c = RunCursor {
            status: Some("RUNNING".into()),
            metrics: BTreeMap::from([("loss".into(), MetricCursor { step: 3, timestamp: 30 })]),
        };
        ready_now(store.save_cursor("in_1", "r1", &c)).unwrap();
        c.status = Some("FINISHED".into());
        c.metrics.insert("acc".into(), MetricCursor { step: 1, timestamp: 9 });
        c.metrics.insert("loss".into(), MetricCursor { step: 4, timestamp: 40 });
        ready_now(store.save_cursor("in_1", "r1", &c)).unwrap();
        let got = ready_now(store.load_cursors("in_1", &runs)).unwrap();
        assert_eq!(got, vec![c, RunCursor::default()]);
        assert_eq!(ready_now(store.load_cursors("in_2", &runs)).unwrap()[0], RunCursor::default());

        assert_eq!(ready_now(store.poll_record("in_1")).unwrap(), None);
        let p = PollRecord {
            at: Timestamp(5),
            error: Some("401".into()),
            requests: 3,
            envelopes: 0,
            last_success: Some(Timestamp(1)),
            failures: 2,
        };
        ready_now(store.save_poll_record("in_1", &p)).unwrap();
        assert_eq!(ready_now(store.poll_record("in_1")).unwrap(), Some(p));

        assert!(ready_now(store.delete_integration(&EntityId::new("acme"), &IntegrationName::new("m"))).unwrap());
        assert_eq!(ready_now(store.poll_record("in_1")).unwrap(), None);
        assert_eq!(ready_now(store.load_cursors("in_1", &runs)).unwrap(), vec![RunCursor::default(); 2]);
        assert!(!ready_now(store.delete_integration(&EntityId::new("acme"), &IntegrationName::new("m"))).unwrap());
    }
}
