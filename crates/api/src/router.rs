//! Every route and layer of the service, in one place.

use crate::auth::KeyVerifier;
use crate::error::ApiError;
use crate::routes::{health, phone_numbers};
use axum::Router;
use axum::extract::OriginalUri;
use axum::http::{Method, Request, Response};
use axum::routing::get;
use std::sync::Arc;
use std::time::Duration;
use switchboard_store::Store;
use tower_http::request_id::{
    MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use tracing::Span;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub keys: KeyVerifier,
}

impl AppState {
    pub fn new(store: Arc<dyn Store>, key_cache_ttl: Duration) -> Self {
        Self {
            store,
            keys: KeyVerifier::new(key_cache_ttl),
        }
    }
}

pub fn router(state: AppState) -> Router {
    let v1 = Router::new().route(
        "/organization-phone-numbers/{id}",
        get(phone_numbers::get_phone_number),
    );

    Router::new()
        .nest("/v1", v1)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        // Outermost last: the request id is set before the trace span reads it, and copied
        // onto every response, errors included.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request<_>| {
                    let request_id = request
                        .extensions()
                        .get::<RequestId>()
                        .and_then(|id| id.header_value().to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id)
                })
                .on_request(())
                .on_response(|response: &Response<_>, latency: Duration, _span: &Span| {
                    tracing::info!(status = response.status().as_u16(), latency_us = latency.as_micros() as u64, "served");
                }),
        )
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
