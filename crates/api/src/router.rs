//! Every route and layer of the service, in one place.

use crate::auth::{KeyVerifier, authenticate};
use crate::error::ApiError;
use crate::rate_limit::{DEFAULT_PER_MINUTE, RateLimits};
use crate::request_log::log_request;
use crate::routes::{
    agents, api_keys, catalogue, events, health, phone_numbers, reports, webhooks,
};
use crate::webhooks::{WebhookRuntime, WebhookSettings};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::{MatchedPath, OriginalUri};
use axum::http::Method;
use std::sync::Arc;
use std::time::Duration;
use switchboard_domain::SealingKey;
use switchboard_providers::{PlivoConfig, PlivoProvider, Providers, SandboxPrice, SandboxProvider};
use switchboard_store::Store;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The API's tunables; the command line fills them from flags and environment variables.
#[derive(Clone, Debug)]
pub struct ApiSettings {
    /// How long a verified key record is kept in memory (capped at one second).
    pub key_cache_ttl: Duration,
    /// Requests per minute per API key; 0 turns rate limits off.
    pub rate_limit_per_minute: u32,
    /// How long one request may take before it is stopped with a 503.
    pub request_timeout: Duration,
    /// Redis to share rate limits through, across replicas; each replica counts on its own
    /// without it. Checked with [`crate::rate_limit::check_redis_url`] before.
    pub redis_url: Option<String>,
    pub webhooks: WebhookSettings,
    /// Failed authentications per minute per client address (a tenth per key id for wrong
    /// secrets) before 429s; 0 turns this off.
    pub failed_auth_per_minute: u32,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            key_cache_ttl: crate::auth::MAX_KEY_CACHE_TTL,
            rate_limit_per_minute: DEFAULT_PER_MINUTE,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            redis_url: None,
            webhooks: WebhookSettings::default(),
            failed_auth_per_minute: crate::auth_throttle::DEFAULT_FAILED_AUTH_PER_MINUTE,
        }
    }
}

/// Longer than any provider call (10 s by default) plus the database's statement timeout.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What every handler can reach. Cloned for every request (axum's `State`), so it is one
/// `Arc`: cloning the parts themselves (the provider map above all) allocated per request.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The parts of [`AppState`].
#[derive(Debug)]
pub struct Shared {
    pub store: Arc<dyn Store>,
    pub providers: Providers,
    /// Seals SIP trunk passwords and webhook signing secrets before they reach the database.
    pub sealing_key: SealingKey,
    pub keys: KeyVerifier,
    pub rate_limits: RateLimits,
    pub failed_auth: crate::auth_throttle::FailedAuthThrottle,
    pub request_timeout: Duration,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    pub webhooks: WebhookRuntime,
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        providers: Providers,
        sealing_key: SealingKey,
        settings: &ApiSettings,
    ) -> Self {
        Self(Arc::new(Shared {
            store,
            providers: providers.wrap(|p| Arc::new(crate::metrics::Instrumented(p))),
            sealing_key,
            keys: KeyVerifier::new(settings.key_cache_ttl),
            rate_limits: settings
                .redis_url
                .as_deref()
                .and_then(|url| RateLimits::shared(settings.rate_limit_per_minute, url).ok())
                .unwrap_or_else(|| RateLimits::new(settings.rate_limit_per_minute)),
            failed_auth: crate::auth_throttle::FailedAuthThrottle::new(
                settings.failed_auth_per_minute,
            ),
            request_timeout: settings.request_timeout,
            metrics: crate::metrics::prometheus(),
            webhooks: WebhookRuntime::new(settings.webhooks.clone()),
        }))
    }
}

/// The sandbox, priced from the store's pricing table, and Plivo when it is configured.
/// The sandbox comes first, so it is the default for searches unless Plivo is configured.
pub async fn default_providers(
    store: &dyn Store,
    plivo: Option<PlivoConfig>,
) -> Result<Providers, Box<dyn std::error::Error + Send + Sync>> {
    let prices = store.pricing().await?;
    let sandbox = SandboxProvider::new(
        prices
            .into_iter()
            .filter(|p| p.provider == SandboxProvider::ID)
            .map(|p| SandboxPrice {
                country_iso: p.country_iso,
                number_type: p.number_type,
                monthly: p.monthly,
                setup: p.setup,
            }),
    );
    Ok(match plivo {
        Some(config) => Providers::default()
            .with(Arc::new(PlivoProvider::new(config)?))
            .with(Arc::new(sandbox)),
        None => Providers::default().with(Arc::new(sandbox)),
    })
}

/// Every route of the API under `/v1`, each with the OpenAPI operation its handler declares.
/// The router and the OpenAPI document are both built from this one list.
fn v1_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(phone_numbers::list_phone_numbers))
        .routes(routes!(phone_numbers::search_available))
        .routes(routes!(phone_numbers::purchase))
        .routes(routes!(phone_numbers::link_sip_trunk))
        .routes(routes!(
            phone_numbers::get_phone_number,
            phone_numbers::update_phone_number,
            phone_numbers::release_phone_number
        ))
        .routes(routes!(phone_numbers::phone_number_history))
        .routes(routes!(reports::summarize_phone_numbers))
        .routes(routes!(reports::lookup_phone_number))
        .routes(routes!(reports::review_compliance))
        .routes(routes!(reports::export_phone_numbers))
        .routes(routes!(events::list_events))
        .routes(routes!(agents::list_agents, agents::create_agent))
        .routes(routes!(
            agents::get_agent,
            agents::rename_agent,
            agents::delete_agent
        ))
        .routes(routes!(api_keys::list_api_keys, api_keys::create_api_key))
        .routes(routes!(api_keys::revoke_api_key))
        .routes(routes!(api_keys::current_key))
        .routes(routes!(webhooks::list_endpoints, webhooks::create_endpoint))
        .routes(routes!(
            webhooks::get_endpoint,
            webhooks::update_endpoint,
            webhooks::delete_endpoint
        ))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(webhooks::test_endpoint))
        .routes(routes!(webhooks::replay_events))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(webhooks::retry_delivery))
        .routes(routes!(catalogue::list_pricing))
        .routes(routes!(catalogue::list_countries))
        .routes(routes!(catalogue::list_enabled_network_groups))
}

/// Routes anyone may call: health, readiness, metrics and the OpenAPI document.
pub(crate) fn public_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(crate::metrics::render))
        .routes(routes!(crate::openapi::serve_document))
}

/// The routes behind the key check, at their full paths, without layers: what
/// [`crate::openapi`] documents as needing a key.
pub(crate) fn secured_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().nest("/v1", v1_routes())
}

/// Few layers, and those composed by one `ServiceBuilder` per place they apply: every
/// `Router::layer` call boxes the routes again and every `from_fn` middleware boxes the rest
/// of the stack per request, and that boxing, cloned and polled on every request, was a fifth
/// of a GET's CPU (bench/RESULTS.md, "Where a GET's time goes").
pub fn router(state: AppState) -> Router {
    let v1 = v1_routes()
        // Only on matched routes: an unknown path is a 404 whatever the key. Outermost first.
        .route_layer(
            ServiceBuilder::new()
                .layer(DefaultBodyLimit::max(crate::extract::MAX_BODY_BYTES))
                .layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    guard_v1,
                )),
        );
    let (routes, _) = OpenApiRouter::new()
        .nest("/v1", v1)
        .merge(public_routes().route_layer(axum::middleware::from_fn(crate::metrics::tag_route)))
        .split_for_parts();
    let routes = routes.merge(
        crate::console::routes().route_layer(axum::middleware::from_fn(crate::metrics::tag_route)),
    );
    routes
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        // Outermost first: unfit request ids are dropped, then the request id is set, so the
        // log line and every response, errors included, carry it.
        .layer(
            ServiceBuilder::new()
                .map_request(crate::request_log::drop_unfit_request_id)
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(axum::middleware::from_fn(log_request)),
        )
}

/// Every `/v1` route: tags the response with the route for the log line and metrics, marks
/// it `no-store` (it is a workspace's data, fetched with a key: no cache, the browser's
/// included, keeps a copy; exports included), and stops a request (key check included) that
/// runs past `request_timeout` with a 503 in the envelope. Work already handed to the
/// database finishes on its own; a purchase cut short this way leaves at most a claim, which
/// the stale-claim sweep releases.
async fn guard_v1(
    state: axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let timeout = state.request_timeout;
    let mut response = match tokio::time::timeout(timeout, authenticate(state, request, next)).await
    {
        Ok(response) => response,
        Err(_) => axum::response::IntoResponse::into_response(ApiError::TimedOut),
    };
    response
        .headers_mut()
        .entry(axum::http::header::CACHE_CONTROL)
        .or_insert(axum::http::HeaderValue::from_static("no-store"));
    crate::metrics::tag_response(route, response)
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
