//! The pure core of the automations engine.
//!
//! Domain types, filters, window evaluation and firing decisions. Nothing here does I/O or reads
//! the wall clock: time comes in with the events, and storage sits behind the ports in
//! [`store`], implemented by adapter crates beside this one.

pub mod error;
pub mod filter;
pub mod time;
pub mod json;
pub mod model;
pub mod event;
pub mod window;
pub mod fire;
pub mod engine;
pub mod store;
pub mod pipeline;
pub mod wandb;

pub use error::{FieldError, Invalid};
