//! The API's routes, driven in process over the memory store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod automations;
mod common;
mod corpus;
mod events;
mod history;
mod integrations;
mod isolation;
mod openapi;
mod routes;
mod runs;
