//! WAL checkpoints mostly off the writers' path, for a long-running server.
//!
//! By default SQLite checkpoints inside the commit that crosses 1000 WAL pages: that commit
//! copies every page of the WAL back into the database and fsyncs, while holding the store's one
//! connection, so every request waiting on the store waits for the disk (measured on
//! `automations serve`: p99 of `/v1/events` at 250,000 values/s went from 11 ms without those
//! checkpoints to 100 ms with them). A [`Checkpointer`] copies the WAL from a thread and a
//! connection of its own, `PASSIVE`ly (it never waits for, nor blocks, the writer), often enough
//! that the store's own checkpoint, which it keeps, finds little left to copy. That one still
//! runs because only a checkpoint that copies everything lets the next write start the WAL over;
//! a background `RESTART` would, but it holds the writer back with SQLite's sleeping busy
//! handler, which measured worse (stalls of half a second).

use crate::SqliteStore;
use crate::error::Result;
use rusqlite::Connection;
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

/// A background checkpointing thread; stops (after a last checkpoint) when dropped.
pub struct Checkpointer {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Checkpoint the database at `path` (the store's file) every `interval`, beside `store`'s
    /// own automatic checkpoints. Errors of a checkpoint are printed on standard error and the
    /// next one is tried: a missed checkpoint only leaves more for the store's own.
    pub fn start(store: &SqliteStore, path: &Path, interval: Duration) -> Result<Checkpointer> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(crate::schema::BUSY_TIMEOUT)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                loop {
                    let last = match stopped.recv_timeout(interval) {
                        Err(RecvTimeoutError::Timeout) => false,
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
                    };
                    if let Err(e) = checkpoint(&conn, "PASSIVE") {
                        eprintln!("automations: WAL checkpoint failed (will retry): {e}");
                    }
                    if last {
                        return;
                    }
                }
            })
            .map_err(|e| crate::SqliteError::Corrupt(format!("cannot start the checkpoint thread: {e}")))?;
        // A WAL that grew past the limit (a burst while the checkpoints were busy) is cut back to
        // it when the store's next write starts it over.
        let writer = store.lock();
        writer.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
        // The store's own checkpoints (and their fsyncs) less often: the thread does the copying.
        writer.pragma_update(None, "wal_autocheckpoint", STORE_AUTOCHECKPOINT)?;
        Ok(Checkpointer { stop: Some(stop), thread: Some(thread) })
    }
}

/// WAL pages between two of the store's own checkpoints (SQLite's default is 1000).
const STORE_AUTOCHECKPOINT: i64 = 4000;

/// Bytes the WAL file is cut back to when it restarts.
const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// One checkpoint in `mode` (`PASSIVE`, `RESTART`); returns (frames in the WAL, frames copied
/// back). A checkpoint that could not finish (a reader or the writer was busy) is not an error:
/// the next one continues.
pub fn checkpoint(conn: &Connection, mode: &str) -> Result<(i64, i64)> {
    let sql = format!("PRAGMA wal_checkpoint({mode})");
    Ok(conn.query_row(&sql, [], |r| Ok((r.get(1)?, r.get(2)?)))?)
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            eprintln!("automations: the checkpoint thread panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automations_core::model::Automation;
    use automations_core::store::{AutomationStore, SeedAutomations, ready_now};
    use automations_core::time::Timestamp;
    use serde_json::json;

    fn wal_frames(path: &Path) -> u64 {
        let wal = format!("{}-wal", path.display());
        std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
    }

    #[test]
    fn the_thread_copies_the_wal_and_a_last_time_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let store = SqliteStore::open(&path).unwrap();
        // The store's own checkpoints off, to see the thread's alone.
        store.lock().pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        let cp = Checkpointer::start(&store, &path, Duration::from_secs(3600)).unwrap();
        let limit: i64 = store.lock().query_row("PRAGMA journal_size_limit", [], |r| r.get(0)).unwrap();
        assert_eq!(limit, WAL_SIZE_LIMIT);
        let doc = json!({"name": "n", "description": "x".repeat(8000), "scope": {"type": "entity", "entity": "e"},
                         "event": {"type": "ADD_ARTIFACT_TAG"}, "action": {"type": "none"}});
        for i in 0..600 {
            let mut d = doc.clone();
            d["name"] = format!("n{i}").into();
            let a = Automation::from_create(format!("a{i}"), &d).unwrap();
            ready_now(store.put_automation(&a, Timestamp(0))).unwrap();
        }
        let before = wal_frames(&path);
        assert!(before > 4096 * 1500, "the WAL grew to {before} bytes");
        // Dropping the checkpointer runs a last checkpoint: every frame is copied back.
        drop(cp);
        let conn = Connection::open(&path).unwrap();
        let (frames, copied) = checkpoint(&conn, "PASSIVE").unwrap();
        assert_eq!(frames, copied, "nothing was left to copy");
        assert_eq!(ready_now(store.list_automations()).unwrap().len(), 600);
    }

    #[test]
    fn the_wal_restarts_under_steady_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.db");
        let store = SqliteStore::open(&path).unwrap();
        let _cp = Checkpointer::start(&store, &path, Duration::from_millis(5)).unwrap();
        let doc = json!({"name": "n", "description": "x".repeat(8000), "scope": {"type": "entity", "entity": "e"},
                         "event": {"type": "ADD_ARTIFACT_TAG"}, "action": {"type": "none"}});
        for i in 0..1500 {
            let mut d = doc.clone();
            d["description"] = format!("{i}{}", "x".repeat(8000)).into();
            d["name"] = format!("n{}", i % 50).into();
            let a = Automation::from_create(format!("a{}", i % 50), &d).unwrap();
            ready_now(store.put_automation(&a, Timestamp(0))).unwrap();
            if i % 100 == 0 {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        // About 4 pages a write: 6000 pages written, in a WAL that kept starting over.
        let conn = Connection::open(&path).unwrap();
        let (frames, _) = checkpoint(&conn, "PASSIVE").unwrap();
        assert!(frames < 3000, "the WAL holds {frames} frames: it never restarted");
    }
}
