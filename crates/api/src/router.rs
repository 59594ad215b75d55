//! Every route and layer of the service, in one place.

use crate::auth::{KeyVerifier, authenticate};
use crate::error::ApiError;
use crate::rate_limit::{DEFAULT_PER_MINUTE, RateLimits};
use crate::request_log::log_request;
use crate::routes::{health, phone_numbers};
use axum::Router;
use axum::extract::OriginalUri;
use axum::http::Method;
use axum::routing::get;
use std::sync::Arc;
use std::time::Duration;
use switchboard_store::Store;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

/// The API's tunables; the command line fills them from flags and environment variables.
#[derive(Clone, Debug)]
pub struct ApiSettings {
    /// How long a verified key record is kept in memory (capped at one second).
    pub key_cache_ttl: Duration,
    /// Requests per minute per API key; 0 turns rate limits off.
    pub rate_limit_per_minute: u32,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            key_cache_ttl: crate::auth::MAX_KEY_CACHE_TTL,
            rate_limit_per_minute: DEFAULT_PER_MINUTE,
        }
    }
}

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub keys: KeyVerifier,
    pub rate_limits: RateLimits,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, settings: &ApiSettings) -> Self {
        Self {
            store,
            keys: KeyVerifier::new(settings.key_cache_ttl),
            rate_limits: RateLimits::new(settings.rate_limit_per_minute),
        }
    }
}

pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route(
            "/organization-phone-numbers/{id}",
            get(phone_numbers::get_phone_number),
        )
        // Only on matched routes: an unknown path is a 404 whatever the key.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authenticate,
        ));

    Router::new()
        .nest("/v1", v1)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        // Outermost last: the request id is set first, so the log line and every response,
        // errors included, carry it.
        .layer(axum::middleware::from_fn(log_request))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

async fn route_not_found(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::RouteNotFound {
        method: method.to_string(),
        path: uri.path().to_owned(),
    }
}

async fn method_not_allowed(method: Method, OriginalUri(uri): OriginalUri) -> ApiError {
    ApiError::MethodNotAllowed {
        method: method.to_string(),
        path: uri.path().to_owned(),
    }
}
