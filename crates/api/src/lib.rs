//! Switchboard's HTTP API.
//!
//! Data flows one way: [`router`] → extractors ([`auth`]) → handlers ([`routes`]) → the
//! [`Store`](switchboard_store::Store). Every failure leaves through [`ApiError`], which owns
//! the mapping to status codes and DialNexa's error envelope.
#![forbid(unsafe_code)]

pub mod auth;
pub mod auth_throttle;
pub mod claims;
mod connection;
pub mod console;
pub mod error;
pub mod extract;
mod idempotency;
mod json;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod rate_limit;
mod request_log;
pub mod router;
pub mod routes;
pub mod server;
pub mod webhooks;

pub use auth::KeyVerifier;
pub use error::ApiError;
pub use router::{ApiSettings, AppState, default_providers, router};
pub use server::{ServeOptions, serve};
