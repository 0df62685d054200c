//! `automations replay` and `automations import-wandb`: the engine on files, offline.

use crate::Format;
use anyhow::{Context, Result, anyhow, bail};
use automations_core::engine::Engine;
use automations_core::event::{Envelope, parse_envelope};
use automations_core::ingest::{Ingest, IngestClock};
use automations_core::json::{ItemStream, Position};
use automations_core::model::Automation;
use automations_core::store::{MemoryStore, PurgeExpired, ready_now};
use automations_core::time::Timestamp;
use automations_core::wandb::{self, Integrations};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitCode;

/// Envelopes evaluated per ingest batch at most. Fires do not depend on it (nor on where reads
/// end): each envelope is evaluated on its own event-time clock (see [`IngestClock`]); the
/// property tests cut files at random and compare.
const CHUNK: usize = 1024;

/// Bytes read from the events at a time.
const READ_BYTES: usize = 256 * 1024;

/// Batches between two purges of expired run records and fire ids, which bound memory by the
/// runs alive in event time rather than by the file.
const PURGE_EVERY: usize = 256;

/// `automations replay`: stream the events (a file, or standard input for `-`) through the one
/// ingest service on an in-memory store, writing each fire as a JSON line as it happens.
pub fn run(automations_path: &Path, events_path: &Path, format: Format) -> Result<ExitCode> {
    let automations = load_automations(automations_path, format)?;
    let (name, mut input): (String, Box<dyn Read>) = if events_path == Path::new("-") {
        ("standard input".to_string(), Box::new(std::io::stdin().lock()))
    } else {
        let file =
            std::fs::File::open(events_path).with_context(|| format!("cannot read {}", events_path.display()))?;
        (events_path.display().to_string(), Box::new(file))
    };
    let engine = Engine::new(automations);
    let store = MemoryStore::ids_only();
    let stdout = std::io::stdout();
    let mut replay = Replay {
        ingest: Ingest { engine: &engine, store: &store },
        clock: Timestamp::MIN,
        chunk: Vec::with_capacity(CHUNK),
        out: std::io::BufWriter::new(stdout.lock()),
        batches: 0,
        bad: 0,
        name,
    };
    let mut splitter = ItemStream::new();
    let mut buf = vec![0u8; READ_BYTES];
    // The first evaluation error, which stops the replay (items come in through a callback).
    let mut failed: Option<anyhow::Error> = None;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", replay.name)),
        };
        splitter.push(&buf[..n], &mut |position: Position, text: Result<&str, String>| {
            replay.take(position, text, &mut failed)
        });
        if let Some(e) = failed.take() {
            return Err(e);
        }
        // What one read brought is evaluated before the next read waits: from a pipe, fires come
        // out as their events go in.
        replay.evaluate()?;
    }
    splitter.finish(&mut |position: Position, text: Result<&str, String>| replay.take(position, text, &mut failed));
    if let Some(e) = failed.take() {
        return Err(e);
    }
    replay.evaluate()?;
    replay.out.flush()?;
    Ok(if replay.bad > 0 { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

struct Replay<'a, W: Write> {
    ingest: Ingest<'a, MemoryStore>,
    /// Where the events' clock stands: the latest envelope time so far.
    clock: Timestamp,
    chunk: Vec<Envelope>,
    out: W,
    batches: usize,
    /// Envelopes skipped.
    bad: usize,
    name: String,
}

impl<W: Write> Replay<'_, W> {
    /// Parse an item into the pending batch, evaluating it when full; a bad item is reported.
    /// After an evaluation error (kept in `failed`) items are ignored.
    fn take(&mut self, position: Position, text: Result<&str, String>, failed: &mut Option<anyhow::Error>) {
        if failed.is_some() {
            return;
        }
        match text.and_then(|t| parse_envelope(t).map_err(|r| r.to_string())) {
            Ok(env) => {
                self.chunk.push(env);
                if self.chunk.len() == CHUNK
                    && let Err(e) = self.evaluate()
                {
                    *failed = Some(e);
                }
            }
            Err(reason) => {
                self.bad += 1;
                eprintln!("{}: {position}: {reason} (skipped)", self.name);
            }
        }
    }

    fn evaluate(&mut self) -> Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let clock = IngestClock::EventTime { floor: self.clock };
        let outcome = ready_now(self.ingest.process(&self.chunk, clock)).map_err(|e| anyhow!("{e}"))?;
        self.clock = clock.after(&self.chunk);
        self.chunk.clear();
        for fire in &outcome.fires {
            serde_json::to_writer(&mut self.out, &fire.line())?;
            self.out.write_all(b"\n")?;
        }
        if !outcome.fires.is_empty() {
            self.out.flush()?;
        }
        self.batches += 1;
        if self.batches.is_multiple_of(PURGE_EVERY) {
            ready_now(self.ingest.store.purge_expired(self.clock)).map_err(|e| anyhow!("{e}"))?;
        }
        Ok(())
    }
}

/// Read an automations file, refusing it whole (naming the file, item and field) if any
/// automation is invalid: replaying with an automation missing would give wrong answers.
fn load_automations(path: &Path, format: Format) -> Result<Vec<Automation>> {
    let items = read_array(path)?;
    let file = path.display();
    let mut automations: Vec<Automation> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let label = item_label(i, item, format);
        let doc = match format {
            Format::Native => item.clone(),
            Format::Wandb => wandb::import(item, Integrations::Lenient).map_err(|e| anyhow!("{file}: {label}: {e}"))?,
        };
        let id = automation_id(&doc);
        let a = Automation::from_create(id, &doc).map_err(|e| anyhow!("{file}: {label}: {e}"))?;
        if let Some(other) = automations.iter().find(|o| o.entity() == a.entity() && o.name == a.name) {
            bail!(
                "{file}: {label}: name: {:?} is already the name of another automation of entity {:?}",
                other.name,
                a.entity()
            );
        }
        automations.push(a);
    }
    Ok(automations)
}

fn read_array(path: &Path) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    match serde_json::from_str::<Value>(&text).with_context(|| format!("{}: malformed JSON", path.display()))? {
        Value::Array(items) => Ok(items),
        obj @ Value::Object(_) => Ok(vec![obj]),
        _ => bail!("{}: expected a JSON array of automations", path.display()),
    }
}

fn item_label(i: usize, item: &Value, format: Format) -> String {
    let name = match format {
        Format::Native => item.get("name"),
        Format::Wandb => item.get("input").and_then(|x| x.get("name")),
    };
    match name.and_then(Value::as_str) {
        Some(n) => format!("item {i} ({n:?})"),
        None => format!("item {i}"),
    }
}

/// Replay gives each automation an id derived from its entity and name, so fire ids are the same
/// on every run and do not change when the file is reordered.
fn automation_id(doc: &Value) -> String {
    let entity = doc.pointer("/scope/entity").and_then(Value::as_str).unwrap_or("");
    let name = doc.get("name").and_then(Value::as_str).unwrap_or("");
    let digest = Sha256::digest(format!("{entity}\n{name}").as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("auto_{hex}")
}

pub fn import_wandb(path: &Path, strict: bool) -> Result<()> {
    let items = read_array(path)?;
    let file = path.display();
    let mode = if strict { Integrations::Strict } else { Integrations::Lenient };
    let mut docs = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let label = item_label(i, item, Format::Wandb);
        let doc = wandb::import(item, mode).map_err(|e| anyhow!("{file}: {label}: {e}"))?;
        // The importer's output must stand as an automation of its own.
        Automation::from_create("import", &doc).map_err(|e| anyhow!("{file}: {label}: {e}"))?;
        docs.push(doc);
    }
    println!("{}", serde_json::to_string_pretty(&Value::Array(docs))?);
    Ok(())
}
