//! Connection settings and the schema, migrated forward on open.
//!
//! The schema version lives in `PRAGMA user_version`: step `i` of [`MIGRATIONS`] takes the
//! database from version `i` to `i + 1`. Steps are only ever appended, never edited, so any
//! database written by an older build can be brought forward.

use crate::error::{Result, SqliteError};
use rusqlite::{Connection, TransactionBehavior};
use std::time::Duration;

/// How long a statement waits for another process's write lock before giving up.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The migrations, in order. Times are milliseconds since the epoch (`Timestamp`); JSON is
/// stored as text so an operator can read it with the `sqlite3` shell.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "CREATE TABLE automations (
        id TEXT PRIMARY KEY,
        entity TEXT NOT NULL,
        name TEXT NOT NULL,
        document TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        UNIQUE (entity, name)
    );
    CREATE TABLE runs (
        entity TEXT NOT NULL,
        project TEXT NOT NULL,
        run_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        record TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (entity, project, run_id)
    );
    CREATE INDEX runs_expires_at ON runs (expires_at);
    CREATE TABLE fires (
        id TEXT PRIMARY KEY,
        automation_id TEXT NOT NULL,
        entity TEXT NOT NULL,
        fire TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE INDEX fires_expires_at ON fires (expires_at);
    CREATE INDEX fires_automation ON fires (automation_id, created_at);
    CREATE TABLE rejects (
        rowid INTEGER PRIMARY KEY,
        received_at INTEGER NOT NULL,
        event_id TEXT,
        source TEXT,
        event_type TEXT,
        reason TEXT NOT NULL,
        body TEXT NOT NULL
    );",
    // 2: the configuration API: integrations (credentials inside `document`), API keys (only
    // their SHA-256), and listing an entity's automations in id order.
    "CREATE TABLE integrations (
        id TEXT PRIMARY KEY,
        entity TEXT NOT NULL,
        name TEXT NOT NULL,
        document TEXT NOT NULL,
        disabled TEXT,
        created_at INTEGER NOT NULL,
        UNIQUE (entity, name)
    );
    CREATE INDEX integrations_entity ON integrations (entity, id);
    CREATE TABLE api_keys (
        hash TEXT PRIMARY KEY,
        entity TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX automations_entity ON automations (entity, id);",
    // 3: the outbox (one execution per fire, written in the fire's transaction) and run activity
    // (the last time each run was heard from, for the sweeper's stalled-run check).
    "CREATE TABLE executions (
        fire_id TEXT PRIMARY KEY,
        automation_id TEXT NOT NULL,
        state TEXT NOT NULL,
        next_attempt_at INTEGER,
        version INTEGER NOT NULL,
        document TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE INDEX executions_due ON executions (next_attempt_at) WHERE next_attempt_at IS NOT NULL;
    CREATE INDEX executions_automation ON executions (automation_id, created_at, fire_id);
    CREATE INDEX executions_expires_at ON executions (expires_at);
    CREATE TABLE run_activity (
        entity TEXT NOT NULL,
        project TEXT NOT NULL,
        run_id TEXT NOT NULL,
        state TEXT NOT NULL,
        state_at INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        info TEXT,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (entity, project, run_id)
    );
    CREATE INDEX run_activity_running ON run_activity (last_seen) WHERE state = 'running';
    CREATE INDEX run_activity_expires_at ON run_activity (expires_at);",
    // 4: the MLflow tracking poller: what was forwarded per (integration, run) and per
    // (integration, run, metric), written after the envelopes were ingested; the last poll of
    // each integration.
    "CREATE TABLE mlflow_run_cursors (
        integration_id TEXT NOT NULL,
        run_id TEXT NOT NULL,
        status TEXT,
        PRIMARY KEY (integration_id, run_id)
    );
    CREATE TABLE mlflow_metric_cursors (
        integration_id TEXT NOT NULL,
        run_id TEXT NOT NULL,
        metric TEXT NOT NULL,
        step INTEGER NOT NULL,
        timestamp INTEGER NOT NULL,
        PRIMARY KEY (integration_id, run_id, metric)
    );
    CREATE TABLE mlflow_polls (
        integration_id TEXT PRIMARY KEY,
        at INTEGER NOT NULL,
        error TEXT,
        requests INTEGER NOT NULL,
        envelopes INTEGER NOT NULL,
        last_success INTEGER,
        failures INTEGER NOT NULL
    );",
    // 5: stored metric history (the console's run chart, backtests over a stored run): one row
    // per (run, metric) with its count, last step and number of chunks, and its points in
    // chunks of up to 128 (`history.rs`: 24 bytes a point, a chunk within one page), at most
    // `automations_core::history::MAX_POINTS` a series. A batch rewrites a series' last chunk
    // rather than inserting a row per value.
    "CREATE TABLE history_series (
        id INTEGER PRIMARY KEY,
        entity TEXT NOT NULL,
        project TEXT NOT NULL,
        run_id TEXT NOT NULL,
        metric TEXT NOT NULL,
        run_name TEXT,
        points INTEGER NOT NULL,
        last_step INTEGER,
        chunks INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        UNIQUE (entity, project, run_id, metric)
    );
    CREATE INDEX history_series_updated ON history_series (entity, project, updated_at);
    CREATE INDEX history_series_expiry ON history_series (updated_at);
    CREATE TABLE history_chunks (
        series_id INTEGER NOT NULL,
        chunk INTEGER NOT NULL,
        points BLOB NOT NULL,
        PRIMARY KEY (series_id, chunk)
    );",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Set the connection up and bring the schema to [`SCHEMA_VERSION`].
pub fn prepare(conn: &mut Connection) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // WAL lets readers (the API, `sqlite3`) read while the engine writes. The pragma answers
    // with the mode it ended up in ("memory" for an in-memory database), which is fine either
    // way, so the answer is read (the statement returns a row) but not required to be "wal".
    conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get::<_, String>(0))?;
    // NORMAL is durable across process crashes in WAL mode; only a power loss can drop the last
    // commits, which redelivery covers (fires are idempotent, windows skip seen steps).
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    migrate(conn)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    // IMMEDIATE takes the write lock before reading the version, so two processes opening the
    // same new file cannot both run a step.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(SqliteError::SchemaTooNew { found, supported: SCHEMA_VERSION });
    }
    let from = usize::try_from(found).map_err(|_| SqliteError::Corrupt(format!("negative schema version {found}")))?;
    for step in &MIGRATIONS[from..] {
        tx.execute_batch(step)?;
    }
    if from < MIGRATIONS.len() {
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_newer_files() {
        let mut conn = Connection::open_in_memory().unwrap();
        prepare(&mut conn).unwrap();
        let v: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        // Opening again is a no-op, not a "table already exists" failure.
        prepare(&mut conn).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
        assert!(matches!(prepare(&mut conn), Err(SqliteError::SchemaTooNew { .. })));
    }
}
