//! Limits on the request head, answered in the error envelope: a URI over 8 KiB is a 414,
//! headers over 16 KiB in all a 431.
//!
//! hyper refuses heads over its own read buffer (about 400 KiB) before any of this runs,
//! with a bodiless 431; these limits sit far below that, so every client that a real
//! limit stops reads why.

use crate::error::ApiError;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Longest accepted path and query, in bytes.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Largest accepted sum of header names and values, in bytes.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

pub async fn head_limits(request: Request, next: Next) -> Response {
    let uri_bytes = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if uri_bytes > MAX_URI_BYTES {
        return ApiError::UriTooLong.into_response();
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return ApiError::HeadersTooLarge.into_response();
    }
    next.run(request).await
}
