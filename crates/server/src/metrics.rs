//! Prometheus metrics (rendered at `GET /metrics` by the API's operations routes), recorded with the `metrics` crate and rendered by
//! `metrics-exporter-prometheus`: requests by route template, method and status, their
//! latency, requests in flight, database pool usage, rate-limited requests, and provider
//! call latency and errors.

use async_trait::async_trait;
use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, OnceLock, PoisonError, RwLock};
use std::time::Instant;
use switchboard_domain::E164;
use switchboard_providers::{
    HeldNumber, NumberSearch, Offer, OrderState, Provider, ProviderError, VoiceUrls,
};

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process's recorder, installed on first use. There is one per process (the `metrics`
/// facade is global), so every `AppState` of a process shares it.
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            match builder.install_recorder() {
                Ok(handle) => handle,
                // Another recorder is already installed (not by us): render an empty registry.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}

/// The route template a request matched (`/v1/organization-phone-numbers/{id}`), put on the
/// response so the request's log line and metrics can use it without the ids.
#[derive(Clone, Debug)]
pub struct RouteTemplate(pub MatchedPath);

pub async fn tag_route(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    tag_response(route, next.run(request).await)
}

/// Puts the route template on the response. `MatchedPath` is a shared string: no allocation.
pub fn tag_response(route: Option<MatchedPath>, mut response: Response) -> Response {
    if let Some(route) = route {
        response.extensions_mut().insert(RouteTemplate(route));
    }
    response
}

/// The `method` label: one of the methods HTTP defines, or `other`. A client chooses the
/// method, and every distinct label value is a new series kept for the life of the process,
/// so anything else would let one client grow every scrape without bound.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// Counts and times a finished request. `route` is a template of the router's (or
/// `unmatched`), never the client's path, for the same reason as [`method_label`].
pub fn record_request(route: &str, method: &Method, status: u16, seconds: f64) {
    let (counter, histogram) = request_series(route, method_label(method), status);
    counter.increment(1);
    histogram.record(seconds);
}

/// The request counter and histogram of one (route, method, status), made on first use and
/// kept: building their key (three label strings, sorted and hashed) on every request was
/// most of the metrics' cost per request. The labels come from closed sets, so the map stays
/// small.
fn request_series(
    route: &str,
    method: &'static str,
    status: u16,
) -> (metrics::Counter, metrics::Histogram) {
    type Series = (metrics::Counter, metrics::Histogram);
    type ByRoute = HashMap<(&'static str, u16), HashMap<Box<str>, Series>>;
    static SERIES: LazyLock<RwLock<ByRoute>> = LazyLock::new(RwLock::default);
    let known = SERIES
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&(method, status))
        .and_then(|routes| routes.get(route))
        .cloned();
    known.unwrap_or_else(|| {
        prometheus();
        let labels = [
            ("route", route.to_owned()),
            ("method", method.to_owned()),
            ("status", status.to_string()),
        ];
        let series = (
            metrics::counter!("http_requests_total", &labels),
            metrics::histogram!("http_request_duration_seconds", &labels),
        );
        SERIES
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((method, status))
            .or_default()
            .entry(route.into())
            .or_insert(series)
            .clone()
    })
}

/// Counts one up on a gauge while alive, and down again when dropped (the request finished,
/// its client went away, the connection closed).
#[derive(Debug)]
pub struct GaugeGuard(&'static LazyLock<metrics::Gauge>);

/// Made once, after the recorder is installed (a handle made before would count nowhere).
static REQUESTS_IN_FLIGHT: LazyLock<metrics::Gauge> = LazyLock::new(|| {
    prometheus();
    metrics::gauge!("http_requests_in_flight")
});
static CONNECTIONS_OPEN: LazyLock<metrics::Gauge> = LazyLock::new(|| {
    prometheus();
    metrics::gauge!("http_connections_open")
});

impl GaugeGuard {
    fn up(gauge: &'static LazyLock<metrics::Gauge>) -> Self {
        gauge.increment(1.0);
        Self(gauge)
    }

    /// A request in flight (`http_requests_in_flight`).
    pub fn request() -> Self {
        Self::up(&REQUESTS_IN_FLIGHT)
    }

    /// An open connection (`http_connections_open`).
    pub fn connection() -> Self {
        Self::up(&CONNECTIONS_OPEN)
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// A connection answered 503 because the server had `--max-connections` open.
pub fn connection_refused() {
    metrics::counter!("http_connections_refused_total").increment(1);
}

/// A request counted by its replica because the shared limit's Redis did not answer.
pub fn rate_limit_fallback() {
    metrics::counter!("rate_limit_shared_fallbacks_total").increment(1);
}

/// Whether the shared limit's Redis answers (1) or not (0).
pub fn rate_limit_shared_up(up: bool) {
    metrics::gauge!("rate_limit_shared_up").set(if up { 1.0 } else { 0.0 });
}

pub fn rate_limited() {
    metrics::counter!("rate_limited_requests_total").increment(1);
}

/// A provider whose calls are timed and counted.
#[derive(Debug)]
pub struct Instrumented(pub Arc<dyn Provider>);

impl Instrumented {
    fn record<T>(
        &self,
        operation: &'static str,
        started: Instant,
        result: &Result<T, ProviderError>,
    ) {
        let outcome = match result {
            Ok(_) => "ok",
            Err(ProviderError::NotOffered) => "not_offered",
            Err(
                ProviderError::Rejected(_)
                | ProviderError::InsufficientFunds(_)
                | ProviderError::RegulatoryRequirement(_),
            ) => "rejected",
            Err(ProviderError::Unavailable(_)) => "unavailable",
            Err(ProviderError::OrderPending { .. }) => "pending",
        };
        let labels = [
            ("provider", self.0.id()),
            ("operation", operation),
            ("outcome", outcome),
        ];
        metrics::histogram!("provider_call_duration_seconds", &labels)
            .record(started.elapsed().as_secs_f64());
        if result.is_err() {
            metrics::counter!("provider_call_errors_total", &labels).increment(1);
        }
    }
}

#[async_trait]
impl Provider for Instrumented {
    fn id(&self) -> &'static str {
        self.0.id()
    }

    async fn search(&self, search: &NumberSearch) -> Result<Vec<Offer>, ProviderError> {
        let started = Instant::now();
        let result = self.0.search(search).await;
        self.record("search", started, &result);
        result
    }

    async fn buy(&self, number: &E164) -> Result<Offer, ProviderError> {
        let started = Instant::now();
        let result = self.0.buy(number).await;
        self.record("buy", started, &result);
        result
    }

    async fn release(&self, number: &E164) -> Result<(), ProviderError> {
        let started = Instant::now();
        let result = self.0.release(number).await;
        self.record("release", started, &result);
        result
    }

    fn lists_held_numbers(&self) -> bool {
        self.0.lists_held_numbers()
    }

    fn voice_urls(&self) -> Option<&VoiceUrls> {
        self.0.voice_urls()
    }

    async fn held_numbers(&self) -> Result<Vec<HeldNumber>, ProviderError> {
        let started = Instant::now();
        let result = self.0.held_numbers().await;
        self.record("held_numbers", started, &result);
        result
    }

    async fn order_state(&self, number: &E164) -> Result<OrderState, ProviderError> {
        let started = Instant::now();
        let result = self.0.order_state(number).await;
        self.record("order_state", started, &result);
        result
    }

    async fn configure_voice(&self, number: &E164) -> Result<(), ProviderError> {
        let started = Instant::now();
        let result = self.0.configure_voice(number).await;
        self.record("configure_voice", started, &result);
        result
    }
}
