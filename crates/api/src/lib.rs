//! Switchboard's HTTP API: the routes, by resource, and the application they make.
//!
//! A request reads in one direction: [`router`] (layers from `switchboard_server`: request
//! id, log line, head limits) → [`auth`] (key, scope, rate budget) → a handler in [`routes`]
//! (input through [`extract`]) → the [`Store`](switchboard_store::Store). Every failure leaves
//! through [`ApiError`], which owns the mapping to status codes and DialNexa's error envelope.
//! What the routes stand on (state, errors, limits, the accept loop) is `switchboard_server`;
//! the webhook worker is `switchboard_webhooks`.
#![forbid(unsafe_code)]

pub mod auth;
mod background;
pub mod claims;
pub mod console;
pub mod extract;
mod idempotency;
pub mod openapi;
pub mod reconcile;
pub mod router;
pub mod routes;

pub use background::serve;
pub use router::router;
pub use switchboard_server::{
    ApiError, ApiSettings, AppState, CallSettings, CarrierAccounts, Clock, ServeOptions,
    default_providers,
};
