//! Liveness, readiness and metrics, for load balancers, orchestrators and Prometheus. No key
//! needed.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use switchboard_server::AppState;
use switchboard_server::json::json_response;
use utoipa::ToSchema;

/// The state of the process and, for readiness, of its database.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `unavailable`.
    #[schema(value_type = String, example = "ok")]
    status: &'static str,
    /// Readiness only: `ok` or `unreachable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, example = "ok")]
    database: Option<&'static str>,
}

/// Liveness: the process is up and serving HTTP.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "Operations",
    security(),
    responses((status = 200, description = "Up.", body = Health))
)]
pub async fn healthz() -> Response {
    json_response(
        StatusCode::OK,
        &Health {
            status: "ok",
            database: None,
        },
    )
}

/// Readiness: the database answers; a load balancer should send traffic here.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "Operations",
    security(),
    responses(
        (status = 200, description = "Ready.", body = Health),
        (status = 503, description = "The database does not answer.", body = Health),
    )
)]
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => json_response(
            StatusCode::OK,
            &Health {
                status: "ok",
                database: Some("ok"),
            },
        ),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &Health {
                    status: "unavailable",
                    database: Some("unreachable"),
                },
            )
        }
    }
}

/// Prometheus metrics.
///
/// Request counts and latency by route and status, requests in flight, database pool use,
/// rate-limited requests, provider call latency and errors. No key: scrape it from inside
/// your network.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "Operations",
    responses((status = 200, description = "Prometheus text format 0.0.4.", content_type = "text/plain", body = String))
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    if let Some(usage) = state.store.pool_usage() {
        metrics::gauge!("db_pool_connections_in_use").set(usage.in_use as f64);
        metrics::gauge!("db_pool_connections_max").set(usage.max as f64);
    }
    let mut response = (StatusCode::OK, state.metrics.render()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
