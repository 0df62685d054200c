//! `automations replay` and `automations import-wandb`: the engine on files, offline.

use crate::Format;
use anyhow::{Context, Result, anyhow, bail};
use automations_core::engine::Engine;
use automations_core::event::{Envelope, parse_envelope};
use automations_core::json::split_batch;
use automations_core::model::Automation;
use automations_core::pipeline::Pipeline;
use automations_core::store::{MemoryStore, block_on};
use automations_core::time::Timestamp;
use automations_core::wandb::{self, Integrations};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// Envelopes evaluated per pipeline batch: bounds memory on large files; results do not depend
/// on it (the property tests move batch boundaries and compare).
const CHUNK: usize = 1024;

pub fn run(automations_path: &Path, events_path: &Path, format: Format) -> Result<ExitCode> {
    let automations = load_automations(automations_path, format)?;
    let text =
        std::fs::read_to_string(events_path).with_context(|| format!("cannot read {}", events_path.display()))?;
    let engine = Engine::new(automations);
    let store = MemoryStore::new();
    let pipeline = Pipeline { engine: &engine, store: &store };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut bad = 0usize;
    let mut now = Timestamp(i64::MIN);
    let mut chunk: Vec<Envelope> = Vec::with_capacity(CHUNK);
    let name = events_path.display();
    let flush = |chunk: &mut Vec<Envelope>, now: Timestamp, out: &mut dyn Write| -> Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        // Replay's clock is the events' own: the latest envelope time seen so far.
        let outcome = block_on(pipeline.process(chunk, now)).map_err(|e| anyhow!("{e}"))?;
        for fire in &outcome.fires {
            serde_json::to_writer(&mut *out, &fire.to_json())?;
            out.write_all(b"\n")?;
        }
        chunk.clear();
        Ok(())
    };
    for item in split_batch(&text) {
        let parsed = item.text.map_err(|e| e.to_string()).and_then(|t| parse_envelope(t).map_err(|r| r.to_string()));
        match parsed {
            Ok(env) => {
                now = now.max(env.time);
                chunk.push(env);
                if chunk.len() == CHUNK {
                    flush(&mut chunk, now, &mut out)?;
                }
            }
            Err(reason) => {
                bad += 1;
                eprintln!("{name}: {}: {reason} (skipped)", item.position);
            }
        }
    }
    flush(&mut chunk, now, &mut out)?;
    out.flush()?;
    Ok(if bad > 0 { ExitCode::from(2) } else { ExitCode::SUCCESS })
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
