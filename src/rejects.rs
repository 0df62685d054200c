//! `automations rejects list|show`: the envelopes intake refused, from the local rejects table
//! (kept 30 days, as on AWS). The AWS deployment's are in its dead-letter queues.

use anyhow::{Context, Result};
use automations_core::store::RejectRecord;
use automations_sqlite::SqliteStore;
use serde_json::{Value, json};
use std::path::Path;

fn open(db: &Path) -> Result<SqliteStore> {
    // Reading rejects must not create an empty database where the user mistyped a path.
    if !db.exists() {
        anyhow::bail!("--db {}: no such database (run `automations serve --db` there first)", db.display());
    }
    SqliteStore::open(db).with_context(|| format!("cannot open the database {}", db.display()))
}

fn summary(id: i64, r: &RejectRecord) -> Value {
    json!({
        "id": id,
        "received_at": r.received_at.to_string(),
        "event_id": r.id,
        "source": r.source,
        "event_type": r.event_type,
        "reason": r.reason,
    })
}

/// One JSON line per reject, newest first: its id (for `show`), when, the envelope's id, source
/// and type as far as they could be read, and the reason.
pub fn list(db: &Path, limit: usize) -> Result<()> {
    let store = open(db)?;
    for (id, r) in store.newest_rejects(limit).context("cannot read the rejects")? {
        println!("{}", summary(id, &r));
    }
    Ok(())
}

/// One reject as a JSON document, with the envelope's text as it arrived (cut to 4 KiB).
pub fn show(db: &Path, id: i64) -> Result<()> {
    let store = open(db)?;
    let r = store.get_reject(id).context("cannot read the rejects")?.with_context(|| {
        format!("no reject with id {id} (it may have expired; `automations rejects list` shows the ids)")
    })?;
    let mut doc = summary(id, &r);
    doc["body"] = r.body.clone().into();
    let pretty = serde_json::to_string_pretty(&doc).context("cannot write the reject as JSON")?;
    println!("{pretty}");
    Ok(())
}
