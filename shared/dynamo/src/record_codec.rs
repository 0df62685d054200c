//! The run record as stored in DynamoDB: the core's JSON form ([`RunRecord::to_json`]) with each
//! window's values packed as base64 of little-endian `f64`s. A logged value such as
//! `0.6931471805599453` takes 18 bytes as JSON text and under 11 packed, and windows are most of
//! a record, so a run's write costs about a third fewer write units. Bit-exact both ways.

use automations_core::engine::RunRecord;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use serde_json::Value;

/// The stored text of a record.
pub fn encode(record: &RunRecord) -> String {
    let mut doc = record.to_json();
    if let Some(windows) = doc.get_mut("w").and_then(Value::as_object_mut) {
        for w in windows.values_mut() {
            let Some(o) = w.as_object_mut() else { continue };
            if let Some(Value::Array(values)) = o.remove("values") {
                let bytes: Vec<u8> = values.iter().filter_map(Value::as_f64).flat_map(f64::to_le_bytes).collect();
                o.insert("packed".into(), Value::String(STANDARD_NO_PAD.encode(bytes)));
            }
        }
    }
    doc.to_string()
}

/// Read a stored record back (packed, or the core's plain JSON form).
pub fn decode(text: &str) -> Result<RunRecord, String> {
    let mut doc: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if let Some(windows) = doc.get_mut("w").and_then(Value::as_object_mut) {
        for (name, w) in windows.iter_mut() {
            let Some(o) = w.as_object_mut() else { continue };
            if let Some(packed) = o.remove("packed") {
                let bad = || format!("window {name:?}: bad packed values");
                let bytes = STANDARD_NO_PAD.decode(packed.as_str().ok_or_else(bad)?).map_err(|_| bad())?;
                if bytes.len() % 8 != 0 {
                    return Err(bad());
                }
                let values: Vec<Value> = bytes
                    .chunks_exact(8)
                    .map(|c| f64::from_le_bytes(c.try_into().expect("chunks of 8")))
                    .map(Value::from)
                    .collect();
                o.insert("values".into(), Value::Array(values));
            }
        }
    }
    RunRecord::from_json(&doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use automations_core::time::Timestamp;
    use automations_core::window::MetricWindow;

    #[test]
    fn round_trips_bit_exact_and_is_smaller() {
        let mut r = RunRecord::default();
        let mut w = MetricWindow::with_capacity(50);
        for step in 0..60 {
            w.offer(step, 1.0 / (step as f64 + 3.0) + 1e-300 * step as f64).unwrap();
        }
        r.windows.insert("loss".into(), w);
        r.windows.insert("empty".into(), MetricWindow::with_capacity(5));
        r.last_fires.insert("auto".into(), Timestamp(42));
        r.last_event = Some(Timestamp(99));
        let text = encode(&r);
        let back = decode(&text).unwrap();
        assert_eq!(back.to_json(), r.to_json());
        let plain = r.to_json().to_string();
        assert!(text.len() * 10 < plain.len() * 7, "{} packed vs {} plain", text.len(), plain.len());
        // The plain form reads too (serde_json's default float parsing may be off by one unit in
        // the last place there, one more reason to pack).
        let plain_back = decode(&plain).unwrap();
        let (a, b) = (plain_back.windows["loss"].ring.values(), r.windows["loss"].ring.values());
        assert_eq!(a.len(), b.len());
        assert!(a.iter().zip(b).all(|(x, y)| (x - y).abs() <= f64::EPSILON * y.abs()));
        assert!(decode(r#"{"w": {"loss": {"cap": 3, "step": 1, "packed": "AAA"}}}"#).unwrap_err().contains("loss"));
    }
}
