//! The API's routes, driven in process over the memory store.

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
