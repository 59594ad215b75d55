//! Limits on the request head, answered in the error envelope: a URI over 8 KiB is a 414,
//! headers over 16 KiB in all a 431.
//!
//! hyper refuses heads over its own read buffer (about 400 KiB) before any of this runs,
//! with a bodiless 431; these limits sit far below that, so every client that a real
//! limit stops reads why.

use crate::error::ApiError;
use axum::extract::Request;

/// Longest accepted path and query, in bytes.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Largest accepted sum of header names and values, in bytes.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Why a request's head is refused, if it is: a URI or headers over the limits above.
pub fn head_problem(request: &Request) -> Option<ApiError> {
    let uri_bytes = request
        .uri()
        .path_and_query()
        .map_or(0, |p| p.as_str().len());
    if uri_bytes > MAX_URI_BYTES {
        return Some(ApiError::UriTooLong);
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    (header_bytes > MAX_HEADER_BYTES).then_some(ApiError::HeadersTooLarge)
}
