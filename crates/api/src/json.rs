//! JSON responses with the content type the contract names: `application/json; charset=utf-8`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

pub(crate) const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

pub(crate) fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(JSON_CONTENT_TYPE),
            )],
            bytes,
        )
            .into_response(),
        Err(error) => {
            // Only a type with a non-string map key or a failing Serialize impl gets here.
            tracing::error!(%error, "response body failed to serialize");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The list envelope every paginated route answers with: `{"items","total","page","limit"}`.
pub(crate) fn page_response<T: Serialize>(
    items: &[T],
    total: u64,
    page: switchboard_store::PageRequest,
) -> Response {
    json_response(
        StatusCode::OK,
        &serde_json::json!({"items": items, "total": total, "page": page.page, "limit": page.limit}),
    )
}
