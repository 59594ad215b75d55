//! One log line per request: method, path, status, latency and request id.
//!
//! A plain event at the end of the request, not a span around it: with the fmt subscriber a
//! span formats and stores its fields on every request, which cost about a fifth of the GET
//! benchmark's throughput. What a handler's error needs to say reaches this line instead, as
//! a [`FailureCause`] the error puts on the response.

use axum::extract::Request;
use axum::http::Response;
use axum::middleware::Next;
use axum::response::IntoResponse;
use std::time::Instant;
use tower_http::request_id::RequestId;

/// Why a request failed on our side (5xx), for the log line only; never sent to the client.
#[derive(Clone, Debug)]
pub struct FailureCause(pub String);

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
    let in_flight = crate::metrics::InFlight::start();
    let response: Response<_> = next.run(request).await;
    drop(in_flight);
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    let latency_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    let route = response
        .extensions()
        .get::<crate::metrics::RouteTemplate>()
        .map_or("unmatched", |r| r.0.as_str());
    crate::metrics::record_request(route, method.as_str(), status, elapsed.as_secs_f64());
    match response.extensions().get::<FailureCause>() {
        Some(FailureCause(cause)) => tracing::error!(
            %method, %path, status, latency_us, %request_id, error = %cause, "served"
        ),
        None => tracing::info!(%method, %path, status, latency_us, %request_id, "served"),
    }
    response
}
