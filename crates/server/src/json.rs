//! JSON responses with the content type the contract names: `application/json; charset=utf-8`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

pub const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
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

/// The list envelope every paginated route answers with.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// How many records match, over all pages.
    #[schema(example = 1)]
    pub total: u64,
    /// 1-based.
    #[schema(example = 1)]
    pub page: u32,
    #[schema(example = 20)]
    pub limit: u32,
}

pub fn page_response<T: Serialize>(
    items: Vec<T>,
    total: u64,
    page: switchboard_store::PageRequest,
) -> Response {
    json_response(
        StatusCode::OK,
        &Page {
            items,
            total,
            page: page.page,
            limit: page.limit,
        },
    )
}

/// A one-sentence outcome, e.g. of a release.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageBody {
    #[schema(example = "Phone number released successfully.")]
    pub message: String,
}

pub fn message_response(message: impl Into<String>) -> Response {
    json_response(
        StatusCode::OK,
        &MessageBody {
            message: message.into(),
        },
    )
}
