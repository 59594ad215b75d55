//! Every route and layer of the service, in one place.

use crate::auth::{KeyVerifier, authenticate};
use crate::error::ApiError;
use crate::rate_limit::{DEFAULT_PER_MINUTE, RateLimits};
use crate::request_log::log_request;
use crate::routes::{agents, api_keys, catalogue, health, phone_numbers};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::OriginalUri;
use axum::http::Method;
use axum::routing::{get, post};
use std::sync::Arc;
use std::time::Duration;
use switchboard_domain::SealingKey;
use switchboard_providers::{PlivoConfig, PlivoProvider, Providers, SandboxPrice, SandboxProvider};
use switchboard_store::Store;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

/// The API's tunables; the command line fills them from flags and environment variables.
#[derive(Clone, Debug)]
pub struct ApiSettings {
    /// How long a verified key record is kept in memory (capped at one second).
    pub key_cache_ttl: Duration,
    /// Requests per minute per API key; 0 turns rate limits off.
    pub rate_limit_per_minute: u32,
    /// How long one request may take before it is stopped with a 503.
    pub request_timeout: Duration,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            key_cache_ttl: crate::auth::MAX_KEY_CACHE_TTL,
            rate_limit_per_minute: DEFAULT_PER_MINUTE,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
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
    /// Seals SIP trunk passwords before they reach the database.
    pub sealing_key: SealingKey,
    pub keys: KeyVerifier,
    pub rate_limits: RateLimits,
    pub request_timeout: Duration,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
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
            rate_limits: RateLimits::new(settings.rate_limit_per_minute),
            request_timeout: settings.request_timeout,
            metrics: crate::metrics::prometheus(),
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

pub fn router(state: AppState) -> Router {
    let numbers = "/organization-phone-numbers";
    let v1 = Router::new()
        .route(numbers, get(phone_numbers::list_phone_numbers))
        .route(
            &format!("{numbers}/plivo-numbers"),
            get(phone_numbers::search_available),
        )
        .route(
            &format!("{numbers}/purchase"),
            post(phone_numbers::purchase),
        )
        .route(
            &format!("{numbers}/sip-trunks"),
            post(phone_numbers::link_sip_trunk),
        )
        .route(
            &format!("{numbers}/{{id}}"),
            get(phone_numbers::get_phone_number)
                .patch(phone_numbers::update_phone_number)
                .delete(phone_numbers::release_phone_number),
        )
        .route(
            &format!("{numbers}/{{id}}/history"),
            get(phone_numbers::phone_number_history),
        )
        .route(
            "/agents",
            get(agents::list_agents).post(agents::create_agent),
        )
        .route(
            "/agents/{id}",
            get(agents::get_agent)
                .patch(agents::rename_agent)
                .delete(agents::delete_agent),
        )
        .route(
            "/api-keys",
            get(api_keys::list_api_keys).post(api_keys::create_api_key),
        )
        .route(
            "/api-keys/{id}",
            axum::routing::delete(api_keys::revoke_api_key),
        )
        .route("/phone-number-pricing", get(catalogue::list_pricing))
        .route(
            "/phone-country-rules/countries",
            get(catalogue::list_countries),
        )
        .route(
            "/phone-country-rules/enabled-network-groups",
            get(catalogue::list_enabled_network_groups),
        )
        // Only on matched routes: an unknown path is a 404 whatever the key.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authenticate,
        ))
        .route_layer(axum::middleware::from_fn(crate::metrics::tag_route))
        .layer(DefaultBodyLimit::max(crate::extract::MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            time_limit,
        ));

    Router::new()
        .nest("/v1", v1)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(crate::metrics::render))
        .route_layer(axum::middleware::from_fn(crate::metrics::tag_route))
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        // Outermost last: the request id is set first, so the log line and every response,
        // errors included, carry it.
        .layer(axum::middleware::from_fn(log_request))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// Stops a request that runs past `request_timeout` with a 503 in the envelope. Work already
/// handed to the database finishes on its own; a purchase cut short this way leaves at most
/// a claim, which the stale-claim sweep releases.
async fn time_limit(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    match tokio::time::timeout(state.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => axum::response::IntoResponse::into_response(ApiError::TimedOut),
    }
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
