//! Liveness and readiness, for load balancers and orchestrators. No key needed.

use crate::json::json_response;
use crate::router::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
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
