//! Time, defined once for ingest.
//!
//! Cooldowns read row time (the engine does that). What reads this clock is expiry: of run
//! records (a run idle for [`crate::engine::RUN_RECORD_TTL`] is forgotten) and of fire records
//! (a fire id is remembered for [`crate::store::FIRE_TTL`]). Live, that is the deployment's
//! clock when the batch arrived. Where the input is the clock (replay, backtest), it is the
//! latest envelope time up to and including the envelope being evaluated, never a later one:
//! so the fires of a file do not depend on how it is cut into batches.

use crate::event::Envelope;
use crate::time::Timestamp;

/// Which clock a batch is evaluated on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestClock {
    /// Live: every envelope of the batch is evaluated at the batch's arrival time.
    Arrival(Timestamp),
    /// Offline: each envelope at the latest envelope time seen up to it, starting from `floor`
    /// (the clock where the previous batch of the same stream ended; [`Timestamp::MIN`] at first).
    EventTime {
        /// The clock no envelope of this batch is evaluated before.
        floor: Timestamp,
    },
}

impl IngestClock {
    /// The clock of each envelope, in order. Never decreasing.
    pub fn per_envelope(&self, envelopes: &[Envelope]) -> Vec<Timestamp> {
        match *self {
            IngestClock::Arrival(now) => vec![now; envelopes.len()],
            IngestClock::EventTime { floor } => {
                let mut now = floor;
                envelopes
                    .iter()
                    .map(|e| {
                        now = now.max(e.time);
                        now
                    })
                    .collect()
            }
        }
    }

    /// The clock after the batch: where the next batch of the same stream starts.
    pub fn after(&self, envelopes: &[Envelope]) -> Timestamp {
        match *self {
            IngestClock::Arrival(now) => now,
            IngestClock::EventTime { floor } => envelopes.iter().map(|e| e.time).fold(floor, Timestamp::max),
        }
    }
}
