//! Delivery: sending fires' webhooks and Slack messages, and the sweeper.
//!
//! The pure decisions (what to send, how to sign it, what an answer means) are the core's
//! [`automations_core::delivery`]; this crate does the I/O around them:
//! - [`HttpSender`]: reqwest with a 10 s timeout, no redirects, no proxies, and an address guard
//!   that applies to the address actually connected to ([`guard`]);
//! - [`Delivery`]: one attempt of one execution, from claim to saved outcome (used by the local
//!   deliverer, the AWS dispatcher and test deliveries);
//! - [`LocalDeliverer`]: the local server's delivery loop over the outbox;
//! - [`Sweeper`]: stalled runs, the outbox relay, expired state (SPEC section 8).

mod attempt;
mod clock;
mod deliverer;
pub mod guard;
mod sender;
mod sweeper;
mod test_send;

pub use attempt::{Attempted, Delivery, DeliveryStore, target_of};
pub use clock::SystemClock;
pub use deliverer::{DelivererConfig, LocalDeliverer};
pub use sender::{HttpSender, Sent};
pub use sweeper::{DEFAULT_STALL, EnvelopeFeed, Relay, SeamError, SweepError, SweepReport, Sweeper};
