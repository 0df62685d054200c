//! The run record as stored in DynamoDB: the core's stored form ([`StoredRecord`]) with each
//! window's values packed as base64 of little-endian `f64`s. A logged value such as
//! `0.6931471805599453` takes 18 bytes as JSON text and under 11 packed, and windows are most of
//! a record, so a run's write costs about a third fewer write units. Bit-exact both ways.

use automations_core::engine::{RunRecord, StoredRecord, WindowValues};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use serde::{Deserialize, Serialize};

/// A window's values as DynamoDB keeps them: `"packed": "<base64>"` when written here, and the
/// core's plain `"values": [...]` still read (records written before packing).
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PackedValues {
    /// The form written here.
    Packed {
        /// Base64 (standard alphabet, no padding) of the values as little-endian `f64`s.
        packed: String,
    },
    /// The core's plain form.
    Plain {
        /// The values as JSON numbers.
        values: Vec<f64>,
    },
}

impl WindowValues for PackedValues {
    fn encode(values: &[f64]) -> Self {
        let bytes: Vec<u8> = values.iter().copied().flat_map(f64::to_le_bytes).collect();
        PackedValues::Packed { packed: STANDARD_NO_PAD.encode(bytes) }
    }

    fn decode(self) -> Result<Vec<f64>, String> {
        match self {
            PackedValues::Plain { values } => Ok(values),
            PackedValues::Packed { packed } => {
                let bad = || "bad packed values".to_string();
                let bytes = STANDARD_NO_PAD.decode(packed).map_err(|_| bad())?;
                let (chunks, rest) = bytes.as_chunks::<8>();
                if !rest.is_empty() {
                    return Err(bad());
                }
                Ok(chunks.iter().map(|c| f64::from_le_bytes(*c)).collect())
            }
        }
    }
}

/// The stored text of a record.
pub fn encode(record: &RunRecord) -> Result<String, serde_json::Error> {
    serde_json::to_string(&StoredRecord::<PackedValues>::of(record))
}

/// Read a stored record back (packed, or the core's plain JSON form).
pub fn decode(text: &str) -> Result<RunRecord, String> {
    let stored: StoredRecord<PackedValues> = serde_json::from_str(text).map_err(|e| e.to_string())?;
    stored.into_record()
}

#[cfg(test)]
mod tests {
    use super::*;
    use automations_core::engine::PlainValues;
    use automations_core::time::Timestamp;
    use automations_core::window::MetricWindow;

    fn plain(r: &RunRecord) -> String {
        serde_json::to_string(&StoredRecord::<PlainValues>::of(r)).unwrap()
    }

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
        let text = encode(&r).unwrap();
        assert!(
            text.starts_with(
                r#"{"w":{"empty":{"step":null,"cap":5,"packed":""},"loss":{"step":59,"cap":50,"packed":""#
            )
        );
        let back = decode(&text).unwrap();
        assert_eq!(plain(&back), plain(&r));
        let plain_text = plain(&r);
        assert!(text.len() * 10 < plain_text.len() * 7, "{} packed vs {} plain", text.len(), plain_text.len());
        // The plain form reads too, to the bit (serde_json parses floats exactly here).
        let plain_back = decode(&plain_text).unwrap();
        let (a, b) = (plain_back.windows["loss"].ring.values(), r.windows["loss"].ring.values());
        assert_eq!(a.len(), b.len());
        assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()));
        assert!(decode(r#"{"w": {"loss": {"cap": 3, "step": 1, "packed": "AAA"}}}"#).unwrap_err().contains("loss"));
    }
}
