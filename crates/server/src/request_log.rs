//! One log line per request: method, path, status, latency and request id (quoted: it is
//! the client's when it sends an acceptable one).
//!
//! A plain event at the end of the request, not a span around it: with the fmt subscriber a
//! span formats and stores its fields on every request, which cost about a fifth of the GET
//! benchmark's throughput. What a handler's error needs to say reaches this line instead, as
//! a [`FailureCause`] the error puts on the response.

use crate::error::{ApiError, FailureCause};
use crate::limits::{MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_HEADERS, MAX_URI_BYTES};
use axum::extract::Request;
use axum::http::Response;
use axum::middleware::Next;
use axum::response::IntoResponse;
use std::time::Instant;
use tower_http::request_id::RequestId;

/// Logs and counts the request, and refuses (413, 414, 431) a head over [`crate::limits`]' sizes.
pub async fn log_request(request: Request, next: Next) -> impl IntoResponse {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let in_flight = crate::metrics::GaugeGuard::request();
    let response: Response<_> = match head_problem(&request) {
        Some(problem) => problem.into_response(),
        None => next.run(request).await,
    };
    drop(in_flight);
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    let latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    let route = response
        .extensions()
        .get::<crate::metrics::RouteTemplate>()
        .map_or("unmatched", |r| r.0.as_str());
    crate::metrics::record_request(route, &method, status, elapsed.as_secs_f64());
    match response.extensions().get::<FailureCause>() {
        Some(FailureCause(cause)) => tracing::error!(
            %method, %path, status, latency_us, ?request_id, error = %cause, "served"
        ),
        None => tracing::info!(%method, %path, status, latency_us, ?request_id, "served"),
    }
    response
}

/// The longest `X-Request-Id` a client may choose.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Drops a client's `X-Request-Id` unless it is 1 to [`MAX_REQUEST_ID_LEN`] visible ASCII
/// characters, so that the layer after this one generates an id instead. The id is echoed,
/// logged and kept in history: unbounded, or with spaces and control characters, it would
/// forge fields in log lines and bloat every history entry.
pub fn drop_unfit_request_id(mut request: Request) -> Request {
    let fit = |value: &axum::http::HeaderValue| {
        let bytes = value.as_bytes();
        !bytes.is_empty()
            && bytes.len() <= MAX_REQUEST_ID_LEN
            && bytes.iter().all(|b| b.is_ascii_graphic())
    };
    let headers = request.headers_mut();
    let all_fit = headers.get_all(X_REQUEST_ID).iter().all(fit);
    if !all_fit || headers.get_all(X_REQUEST_ID).iter().count() > 1 {
        headers.remove(X_REQUEST_ID);
    }
    request
}

const X_REQUEST_ID: &str = "x-request-id";

/// Why a request's head is refused, if it is: a URI or headers over the limits above.
fn head_problem(request: &Request) -> Option<ApiError> {
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
    if header_bytes > MAX_HEADER_BYTES || request.headers().len() > MAX_HEADERS {
        return Some(ApiError::HeadersTooLarge);
    }
    let declared_body = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    declared_body
        .is_some_and(|length| length > MAX_BODY_BYTES as u64)
        .then_some(ApiError::PayloadTooLarge)
}
