//! Run records: one row per run, versioned for optimistic concurrency.

use crate::error::{Result, SqliteError};
use automations_core::engine::{PlainValues, RunRecord, StoredRecord};
use automations_core::event::RunKey;
use automations_core::store::{RunSave, Versioned};
use automations_core::time::Timestamp;
use rusqlite::types::Value;
use rusqlite::{Connection, Transaction, params, params_from_iter};
use std::collections::HashMap;

/// Keys per SELECT: three parameters each, well under SQLite's parameter limit, and the
/// statement text stays small enough to cache.
const KEYS_PER_SELECT: usize = 200;

/// The live records of `keys`, in their order; expired rows read as absent.
pub fn load(conn: &Connection, keys: &[RunKey], now: Timestamp) -> Result<Vec<Option<Versioned<RunRecord>>>> {
    let mut found: HashMap<RunKey, Versioned<RunRecord>> = HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(KEYS_PER_SELECT) {
        let sql = select_sql(chunk.len());
        let mut stmt = conn.prepare_cached(&sql)?;
        let args = chunk
            .iter()
            .flat_map(|k| [&k.entity, &k.project, &k.run_id].map(|s| Value::Text(s.clone())))
            .chain(std::iter::once(Value::Integer(now.0)));
        let mut rows = stmt.query(params_from_iter(args))?;
        while let Some(row) = rows.next()? {
            let key = RunKey { entity: row.get(0)?, project: row.get(1)?, run_id: row.get(2)? };
            let version: i64 = row.get(3)?;
            let text: String = row.get(4)?;
            let record = decode(&key, &text)?;
            let version = u64::try_from(version).map_err(|_| corrupt(&key, format!("negative version {version}")))?;
            let expires_at = Timestamp(row.get(5)?);
            found.insert(key, Versioned { version, value: record, expires_at });
        }
    }
    Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
}

/// The SELECT of `n` keys' live rows. The keys are a table joined to `runs` by primary key,
/// the keys first (CROSS JOIN fixes the order): written as a row-value `IN (VALUES ...)`,
/// SQLite scans the whole table, and left to itself it may pick the `expires_at` index.
fn select_sql(n: usize) -> String {
    let tuples = vec!["(?, ?, ?)"; n].join(", ");
    format!(
        "WITH k (entity, project, run_id) AS (VALUES {tuples})
         SELECT r.entity, r.project, r.run_id, r.version, r.record, r.expires_at
         FROM k CROSS JOIN runs r ON r.entity = k.entity AND r.project = k.project AND r.run_id = k.run_id
         WHERE r.expires_at > ?"
    )
}

/// Save each record if its stored version is still the expected one, inside the caller's
/// transaction.
pub fn save(tx: &Transaction<'_>, saves: &[RunSave], now: Timestamp) -> Result<Vec<bool>> {
    let mut written = Vec::with_capacity(saves.len());
    {
        // A run with no live record: insert, or take over an expired row. The version carries on
        // from the expired row's rather than restarting at 1, so a writer still holding a load
        // from before the expiry can never match the new row's version by coincidence.
        let mut insert = tx.prepare_cached(
            "INSERT INTO runs (entity, project, run_id, version, record, expires_at)
             VALUES (?1, ?2, ?3, 1, ?4, ?5)
             ON CONFLICT (entity, project, run_id) DO UPDATE
                SET version = runs.version + 1, record = excluded.record, expires_at = excluded.expires_at
                WHERE runs.expires_at <= ?6",
        )?;
        let mut update = tx.prepare_cached(
            "UPDATE runs SET version = version + 1, record = ?4, expires_at = ?5
             WHERE entity = ?1 AND project = ?2 AND run_id = ?3 AND version = ?6 AND expires_at > ?7",
        )?;
        for s in saves {
            let k = &s.key;
            let record = serde_json::to_string(&StoredRecord::<PlainValues>::of(&s.record))
                .map_err(|e| SqliteError::Corrupt(format!("run record: {e}")))?;
            let changed = match s.expected {
                None => insert.execute(params![k.entity, k.project, k.run_id, record, s.expires_at.0, now.0])?,
                Some(v) => {
                    // A version past i64 cannot be stored, so no row can have it: not written.
                    let Ok(v) = i64::try_from(v) else {
                        written.push(false);
                        continue;
                    };
                    update.execute(params![k.entity, k.project, k.run_id, record, s.expires_at.0, v, now.0])?
                }
            };
            written.push(changed == 1);
        }
    }
    Ok(written)
}

/// Delete run rows that expired; returns how many.
pub fn delete_expired(conn: &Connection, now: Timestamp) -> Result<usize> {
    Ok(conn.prepare_cached("DELETE FROM runs WHERE expires_at <= ?1")?.execute([now.0])?)
}

fn decode(key: &RunKey, text: &str) -> Result<RunRecord> {
    let stored: StoredRecord<PlainValues> = serde_json::from_str(text).map_err(|e| corrupt(key, e.to_string()))?;
    stored.into_record().map_err(|e| corrupt(key, e))
}

fn corrupt(key: &RunKey, why: String) -> SqliteError {
    SqliteError::Corrupt(format!("run {}/{}/{}: {why}", key.entity, key.project, key.run_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_look_runs_up_by_primary_key() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::schema::prepare(&mut conn).unwrap();
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {}", select_sql(3))).unwrap();
        let args = vec![Value::Text(String::new()); 9];
        let args = args.into_iter().chain(std::iter::once(Value::Integer(0)));
        let plan: Vec<String> =
            stmt.query_map(params_from_iter(args), |r| r.get(3)).unwrap().collect::<Result<_, _>>().unwrap();
        assert!(plan.iter().any(|p| p.starts_with("SEARCH r USING INDEX sqlite_autoindex_runs_1")), "{plan:?}");
        assert!(!plan.iter().any(|p| p.starts_with("SCAN r")), "{plan:?}");
    }
}
