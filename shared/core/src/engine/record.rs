//! What the engine remembers of a run between batches: its metric windows and the last fire of
//! each automation for it (the cooldowns). One record per run, so a batch reads and writes each
//! touched run once.

use crate::AutomationId;
use crate::time::{DAY, Timestamp};
use crate::window::{MetricWindow, Ring};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// How long a run's record outlives its last event (runs idle for 30 days are forgotten).
pub const RUN_RECORD_TTL: i64 = 30 * DAY;

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

impl RunRecord {
    /// Bytes held by the retained values and per-window overhead, for the memory report.
    pub fn heap_bytes(&self) -> usize {
        self.windows.iter().map(|(k, w)| k.len() + w.heap_bytes() + std::mem::size_of::<MetricWindow>()).sum()
    }

    /// A compact JSON form for stores.
    pub fn to_json(&self) -> Value {
        let windows: Map<String, Value> = self
            .windows
            .iter()
            .map(|(k, w)| {
                (k.clone(), json!({"step": w.last_step, "cap": w.ring.capacity(), "values": w.ring.values()}))
            })
            .collect();
        let fires: Map<String, Value> = self.last_fires.iter().map(|(k, t)| (k.to_string(), json!(t.0))).collect();
        json!({"w": windows, "f": fires, "t": self.last_event.map(|t| t.0)})
    }

    /// Read back [`RunRecord::to_json`]. A record that does not read is an error, never silently
    /// empty: losing windows would re-arm conditions.
    pub fn from_json(v: &Value) -> Result<RunRecord, String> {
        let mut r = RunRecord::default();
        let bad = |what: &str| format!("stored run record: bad {what}");
        if let Some(ws) = v.get("w").and_then(Value::as_object) {
            for (name, w) in ws {
                let cap = w.get("cap").and_then(Value::as_u64).ok_or_else(|| bad("window capacity"))? as usize;
                let step = match w.get("step") {
                    None | Some(Value::Null) => None,
                    Some(s) => Some(s.as_i64().ok_or_else(|| bad("window step"))?),
                };
                let values: Vec<f64> = w
                    .get("values")
                    .and_then(Value::as_array)
                    .ok_or_else(|| bad("window values"))?
                    .iter()
                    .map(|x| x.as_f64().ok_or_else(|| bad("window value")))
                    .collect::<Result<_, _>>()?;
                // The running aggregates are not stored: the engine rebuilds them from the ring.
                r.windows.insert(name.clone(), MetricWindow::new(step, Ring::from_values(cap, &values)));
            }
        }
        if let Some(fs) = v.get("f").and_then(Value::as_object) {
            for (id, t) in fs {
                r.last_fires
                    .insert(AutomationId::new(id.as_str()), Timestamp(t.as_i64().ok_or_else(|| bad("fire time"))?));
            }
        }
        r.last_event = v.get("t").and_then(Value::as_i64).map(Timestamp);
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let back = RunRecord::from_json(&r.to_json()).unwrap();
        assert_eq!(back.windows["loss"].ring.values(), &[0.25, 1e-300, -7.0]);
        assert_eq!(back.windows["loss"].ring.capacity(), 3);
        assert_eq!(back.windows["loss"].last_step, Some(4));
        assert_eq!(back.last_fires["auto"], Timestamp(42));
        assert_eq!(back.last_event, Some(Timestamp(99)));
        assert!(RunRecord::from_json(&json!({"w": {"loss": {"cap": 3}}})).is_err());
    }
}
