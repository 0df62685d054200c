//! The configuration API and event intake (SPEC section 9): one axum [`Router`], served by
//! `automations serve` over the embedded SQLite store and by the AWS `config-api` Lambda through
//! `lambda_http`. Same code, same responses.
//!
//! The router holds three seams, each a trait object:
//! - the store ([`ApiStore`]: [`ConfigStore`] for automations, integrations and keys,
//!   [`RejectStore`] for refused envelopes);
//! - the [`EventSink`] that takes accepted envelopes ([`LocalSink`] evaluates them inline;
//!   the Lambda queues them);
//! - the [`Deliverer`] behind executions and test deliveries (`NoDelivery`, feature `testing`, answers 501).
//!
//! Every request but `GET /v1/health` carries `Authorization: Bearer KEY` ([`auth`]); every
//! error is `application/problem+json` ([`error`]); the routes are described by `openapi.yaml`
//! at the repository root.

mod access_log;
pub mod auth;
pub mod console;
mod deliver;
pub mod error;
pub mod input;
mod local;
pub mod outbox;
mod routes;
mod sink;

pub use deliver::Deliverer;
#[cfg(feature = "testing")]
pub use deliver::NoDelivery;
pub use error::ApiError;
pub use local::{LocalSink, record_ingest};
pub use routes::ROUTES;
pub use sink::{Accepted, BoxFuture, EventSink, HookError, TrackingHooks, check_tracking, tracking_status};

use automations_core::store::{ConfigStore, RejectStore};
use automations_core::time::{Clock, Timestamp};
use axum::Router;
use std::sync::Arc;

/// What the router needs of a store.
pub trait ApiStore: ConfigStore + RejectStore {}
impl<T: ConfigStore + RejectStore + ?Sized> ApiStore for T {}

/// [`Limits::max_automations`] unless configured (`automations serve --max-automations-per-entity`,
/// `MAX_AUTOMATIONS_PER_ENTITY` on AWS).
pub const DEFAULT_MAX_AUTOMATIONS: usize = 1000;

/// Bounds on requests.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body accepted (413 beyond).
    pub max_body: usize,
    /// Largest `limit` of a listing.
    pub max_list: usize,
    /// `limit` of a listing that names none.
    pub default_list: usize,
    /// Automations one entity may have (a create beyond is a 409): each costs memory in every
    /// engine, so a runaway client cannot take the deployment with it.
    pub max_automations: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_body: 1024 * 1024, max_list: 200, default_list: 50, max_automations: DEFAULT_MAX_AUTOMATIONS }
    }
}

/// The wall clock, for deployments (tests pass a [`automations_core::time::FixedClock`]).
pub use automations_delivery::SystemClock;

/// Everything the routes use.
pub struct Api {
    /// Automations, integrations and API keys.
    pub store: Arc<dyn ApiStore>,
    /// Where accepted events go: the ingest service locally, the input queues on AWS.
    pub sink: Arc<dyn EventSink>,
    /// Executions and test deliveries.
    pub deliverer: Arc<dyn Deliverer>,
    /// "Now", for records and arrival times.
    pub clock: Arc<dyn Clock>,
    /// Sizes and counts the API accepts.
    pub limits: Limits,
}

impl Api {
    /// An API with the system clock and the default limits.
    pub fn new(store: Arc<dyn ApiStore>, sink: Arc<dyn EventSink>, deliverer: Arc<dyn Deliverer>) -> Api {
        Api { store, sink, deliverer, clock: Arc::new(SystemClock), limits: Limits::default() }
    }

    /// The API clock's now.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }
}

/// The whole API as one router (every route of [`ROUTES`], plus problem+json answers for
/// unknown routes and methods).
pub fn router(api: Api) -> Router {
    routes::router(Arc::new(api))
}
