//! The pure core of the automations engine.
//!
//! Domain types, filters, window evaluation and firing decisions. Nothing here does I/O or reads
//! the wall clock: time comes in with the events, and storage sits behind the ports in
//! [`store`], implemented by adapter crates beside this one.

pub mod activity;
pub mod delivery;
pub mod engine;
pub mod error;
pub mod event;
pub mod filter;
pub mod fire;
pub mod history;
pub mod id;
pub mod ingest;
pub mod json;
pub mod mlflow;
pub mod model;
pub mod store;
pub mod time;
pub mod wandb;
pub mod window;

pub use error::{FieldError, Invalid};
pub use id::{AutomationId, EntityId, FireId, IntegrationName};

/// What every port returns: a boxed future, so that a port can be a trait object
/// (`Arc<dyn ConfigStore>`) and a caller need not be generic over the adapter behind it.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
