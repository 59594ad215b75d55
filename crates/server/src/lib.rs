//! What Switchboard's routes stand on, with no route in it: the accept loop ([`serve`]) and
//! what a connection may cost (`connection`), the request log and head limits
//! ([`request_log`], [`limits`]), metrics, the error envelope ([`error`]) and JSON answers
//! ([`json`]), rate limits and the failed-authentication throttle, the key cache ([`keys`]),
//! and the shared [`AppState`] handlers receive.
//!
//! Layers, each using only those before it: `limits`, `json` → `error` → `metrics` →
//! `request_log`, `rate_limit`, `auth_throttle`, `keys`, `connection`, `call_recorder` →
//! `state` → `serve`.
#![forbid(unsafe_code)]

pub mod auth_throttle;
pub mod call_recorder;
mod connection;
pub mod error;
pub mod json;
pub mod keys;
pub mod limits;
pub mod metrics;
pub mod oidc;
pub mod rate_limit;
pub mod request_log;
pub mod serve;
pub mod sessions;
pub mod state;

pub use error::{ApiError, ErrorResponse};
pub use serve::{ServeOptions, serve, shutdown_signal};
pub use state::{
    ApiSettings, AppState, CallSettings, CarrierAccounts, Clock, DEFAULT_CALL_APOLOGY,
    DEFAULT_CALL_LOOKUP_TIMEOUT, DEFAULT_CALL_RETENTION_DAYS, DEFAULT_RECONCILE_INTERVAL,
    default_providers,
};
