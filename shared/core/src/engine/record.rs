//! What the engine remembers of a run between batches: its metric windows and the last fire of
//! each automation for it (the cooldowns). One record per run, so a batch reads and writes each
//! touched run once.

use crate::AutomationId;
use crate::time::{DAY, Timestamp};
use crate::window::{MetricWindow, Ring};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How long a run's record outlives its last event (runs idle for 30 days are forgotten).
pub const RUN_RECORD_TTL: i64 = 30 * DAY;

/// What the engine keeps of one run between batches: its metric windows, cooldowns and latest event time.
#[derive(Debug, Clone, Default)]
pub struct RunRecord {
    /// Windows of the metrics some automation watches, by metric name.
    pub windows: BTreeMap<String, MetricWindow>,
    /// Automation id → time of its last fire for this run. Never pruned by time: cooldowns are
    /// measured in row time, and a backfilled row may be dated long before the latest envelope.
    /// The map is bounded by the automations watching the run, and goes with the record.
    pub last_fires: BTreeMap<AutomationId, Timestamp>,
    /// The latest event time seen for this run.
    pub last_event: Option<Timestamp>,
}

/// How a stored record writes a window's values: each store picks its own (plain JSON numbers
/// in SQLite, packed bytes in DynamoDB, where a record's size is its write cost).
pub trait WindowValues: Serialize + for<'de> Deserialize<'de> {
    /// The values, in the window's order, as this store writes them.
    fn encode(values: &[f64]) -> Self;
    /// The values back; an error says what is wrong with them (the caller names the window).
    fn decode(self) -> Result<Vec<f64>, String>;
}

/// Values as a JSON array of numbers: `"values": [0.5, 0.25]`.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct PlainValues {
    values: Vec<f64>,
}

impl WindowValues for PlainValues {
    fn encode(values: &[f64]) -> Self {
        PlainValues { values: values.to_vec() }
    }

    fn decode(self) -> Result<Vec<f64>, String> {
        Ok(self.values)
    }
}

/// A record as stores keep it: short keys, since a record is written on every batch that
/// touches its run. `V` is how window values are written.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "V: WindowValues")]
pub struct StoredRecord<V> {
    #[serde(default)]
    w: BTreeMap<String, StoredWindow<V>>,
    /// Automation id → last fire, in milliseconds.
    #[serde(default)]
    f: BTreeMap<AutomationId, i64>,
    #[serde(default)]
    t: Option<i64>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(bound = "V: WindowValues")]
struct StoredWindow<V> {
    step: Option<i64>,
    cap: usize,
    #[serde(flatten)]
    values: V,
}

impl<V: WindowValues> StoredRecord<V> {
    /// The stored form of `record`.
    pub fn of(record: &RunRecord) -> StoredRecord<V> {
        StoredRecord {
            w: record
                .windows
                .iter()
                .map(|(name, w)| {
                    let stored =
                        StoredWindow { step: w.last_step, cap: w.ring.capacity(), values: V::encode(w.ring.values()) };
                    (name.clone(), stored)
                })
                .collect(),
            f: record.last_fires.iter().map(|(id, t)| (id.clone(), t.0)).collect(),
            t: record.last_event.map(|t| t.0),
        }
    }

    /// The record back. One that does not read is an error, never silently empty: losing
    /// windows would re-arm conditions.
    pub fn into_record(self) -> Result<RunRecord, String> {
        let mut windows = BTreeMap::new();
        for (name, w) in self.w {
            let values = w.values.decode().map_err(|e| format!("window {name:?}: {e}"))?;
            // The running aggregates are not stored: the engine rebuilds them from the ring.
            windows.insert(name, MetricWindow::new(w.step, Ring::from_values(w.cap, &values)));
        }
        Ok(RunRecord {
            windows,
            last_fires: self.f.into_iter().map(|(id, t)| (id, Timestamp(t))).collect(),
            last_event: self.t.map(Timestamp),
        })
    }
}

/// Two records are equal when they would be stored the same: the running aggregates are
/// derived from the values.
impl PartialEq for RunRecord {
    fn eq(&self, other: &RunRecord) -> bool {
        StoredRecord::<PlainValues>::of(self) == StoredRecord::<PlainValues>::of(other)
    }
}

impl RunRecord {
    /// Bytes held by the retained values and per-window overhead, for the memory report.
    pub fn heap_bytes(&self) -> usize {
        self.windows.iter().map(|(k, w)| k.len() + w.heap_bytes() + std::mem::size_of::<MetricWindow>()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plain(r: &RunRecord) -> serde_json::Value {
        serde_json::to_value(StoredRecord::<PlainValues>::of(r)).unwrap()
    }

    fn read(v: serde_json::Value) -> Result<RunRecord, String> {
        serde_json::from_value::<StoredRecord<PlainValues>>(v).map_err(|e| e.to_string())?.into_record()
    }

    #[test]
    fn round_trips_through_json() {
        let mut r = RunRecord::default();
        let mut w = MetricWindow::with_capacity(3);
        for (s, v) in [(1, 0.5), (2, 0.25), (3, 1e-300), (4, -7.0)] {
            w.offer(s, v).unwrap();
        }
        r.windows.insert("loss".into(), w);
        r.last_fires.insert("auto".into(), Timestamp(42));
        r.last_event = Some(Timestamp(99));
        let doc = plain(&r);
        // The stored shape, which records already written keep.
        assert_eq!(
            doc.to_string(),
            r#"{"w":{"loss":{"step":4,"cap":3,"values":[0.25,1e-300,-7.0]}},"f":{"auto":42},"t":99}"#
        );
        let back = read(doc).unwrap();
        assert_eq!(back.windows["loss"].ring.values(), &[0.25, 1e-300, -7.0]);
        assert_eq!(back.windows["loss"].ring.capacity(), 3);
        assert_eq!(back.windows["loss"].last_step, Some(4));
        assert_eq!(back.last_fires["auto"], Timestamp(42));
        assert_eq!(back.last_event, Some(Timestamp(99)));
        assert!(read(json!({"w": {"loss": {"cap": 3}}})).is_err());
        assert!(read(json!({"w": {"loss": {"cap": 3, "step": 1, "values": ["x"]}}})).is_err());
        let empty = read(json!({})).unwrap();
        assert!(empty.windows.is_empty() && empty.last_fires.is_empty() && empty.last_event.is_none());
    }
}
