//! What every handler can reach: the store, the providers, the key cache, the limits, the
//! webhook runtime and the metrics handle, in one [`AppState`] built once at start. The API's
//! routes import it; nothing here knows a route.

use crate::auth_throttle::FailedAuthThrottle;
use crate::call_recorder::CallRecorder;
use crate::keys::KeyVerifier;
use crate::rate_limit::{DEFAULT_PER_MINUTE, RateLimits};
use std::sync::Arc;
use std::time::Duration;
use switchboard_domain::SealingKey;
use switchboard_providers::{
    PlivoConfig, PlivoProvider, Provider, ProviderError, Providers, SandboxPrice, SandboxProvider,
    TelnyxConfig, TelnyxProvider, TwilioConfig, TwilioProvider,
};
use switchboard_store::{CallRoute, Store};
use switchboard_webhooks::{WebhookSettings, Webhooks};

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
    pub calls: CallSettings,
    /// How often each replica compares the numbers with their carriers (`None`: never).
    pub reconcile_interval: Option<Duration>,
    pub sessions: crate::sessions::SessionSettings,
    /// Signing in through an identity provider (OpenID Connect), when configured.
    pub oidc: Option<crate::oidc::OidcSettings>,
}

/// The reconcile's default period.
pub const DEFAULT_RECONCILE_INTERVAL: Duration = Duration::from_secs(3600);

/// How carriers reach Switchboard when a number rings, and what is kept of each call.
#[derive(Clone)]
pub struct CallSettings {
    /// The address carriers call (`https://switchboard.example.com`): their signatures cover
    /// the URL they called, which behind a proxy is not the one this server sees.
    pub public_url: Option<String>,
    /// Twilio's auth token: checks `X-Twilio-Signature`. Without it the Twilio endpoints
    /// refuse every request.
    pub twilio_auth_token: Option<String>,
    /// When set, a Twilio request from another account is refused.
    pub twilio_account_sid: Option<String>,
    /// Telnyx's public key: checks `telnyx-signature-ed25519`. Without it the Telnyx
    /// endpoints refuse every request.
    pub telnyx_public_key: Option<switchboard_providers::telnyx::TelnyxPublicKey>,
    /// Plivo's auth token: checks `X-Plivo-Signature-V3`. Without it the Plivo voice
    /// endpoints refuse every request.
    pub plivo_auth_token: Option<String>,
    /// What a caller hears when the call has nowhere to go.
    pub apology: String,
    /// How long the answer path waits for the database before answering from what this
    /// replica last knew of the number's route (or with the apology).
    pub lookup_timeout: Duration,
    /// Calls older than this are deleted.
    pub retention: Duration,
    /// What time it is for routing and recording calls: the system's, except in tests that
    /// play calls at chosen moments (business hours, a daylight-saving change).
    pub clock: Clock,
}

/// A source of the current time.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> switchboard_domain::Timestamp + Send + Sync>);

impl Clock {
    pub fn new(now: impl Fn() -> switchboard_domain::Timestamp + Send + Sync + 'static) -> Self {
        Self(Arc::new(now))
    }

    pub fn now(&self) -> switchboard_domain::Timestamp {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new(switchboard_domain::Timestamp::now)
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Clock({})", self.now())
    }
}

impl std::fmt::Debug for CallSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallSettings")
            .field("public_url", &self.public_url)
            .field(
                "twilio_auth_token",
                &self.twilio_auth_token.as_ref().map(|_| "…"),
            )
            .field("twilio_account_sid", &self.twilio_account_sid)
            .field("telnyx_public_key", &self.telnyx_public_key.is_some())
            .field(
                "plivo_auth_token",
                &self.plivo_auth_token.as_ref().map(|_| "…"),
            )
            .field("apology", &self.apology)
            .field("lookup_timeout", &self.lookup_timeout)
            .field("retention", &self.retention)
            .field("clock", &self.clock)
            .finish()
    }
}

/// What a caller hears when the call has nowhere to go, unless configured.
pub const DEFAULT_CALL_APOLOGY: &str =
    "Sorry, this number cannot take your call right now. Please try again later.";

/// Carriers wait some 10 to 15 seconds for an answer; the database gets a fraction of that.
pub const DEFAULT_CALL_LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// Days of calls kept, unless configured.
pub const DEFAULT_CALL_RETENTION_DAYS: u64 = 90;

impl Default for CallSettings {
    fn default() -> Self {
        Self {
            public_url: None,
            twilio_auth_token: None,
            twilio_account_sid: None,
            telnyx_public_key: None,
            plivo_auth_token: None,
            apology: DEFAULT_CALL_APOLOGY.into(),
            lookup_timeout: DEFAULT_CALL_LOOKUP_TIMEOUT,
            retention: Duration::from_secs(DEFAULT_CALL_RETENTION_DAYS * 24 * 60 * 60),
            clock: Clock::default(),
        }
    }
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            key_cache_ttl: crate::keys::MAX_KEY_CACHE_TTL,
            rate_limit_per_minute: DEFAULT_PER_MINUTE,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            redis_url: None,
            webhooks: WebhookSettings::default(),
            failed_auth_per_minute: crate::auth_throttle::DEFAULT_FAILED_AUTH_PER_MINUTE,
            calls: CallSettings::default(),
            reconcile_interval: Some(DEFAULT_RECONCILE_INTERVAL),
            sessions: crate::sessions::SessionSettings::default(),
            oidc: None,
        }
    }
}

/// Numbers whose last route one replica keeps (a few hundred bytes each).
const KNOWN_ROUTES_MAX: u64 = 100_000;

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
    pub failed_auth: FailedAuthThrottle,
    pub request_timeout: Duration,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    pub webhooks: Webhooks,
    pub calls: CallSettings,
    /// Routes by E.164 number, as this replica last read them: what answers a call when the
    /// database is slower than the carrier's patience.
    pub known_routes: moka::sync::Cache<String, Arc<CallRoute>>,
    /// Records calls, those that ring together in one transaction.
    pub call_recorder: CallRecorder,
    pub reconcile_interval: Option<Duration>,
    pub sessions: crate::sessions::SessionSettings,
    /// Sessions whose `last_seen_at` was written within the last minute.
    pub recently_seen_sessions: moka::sync::Cache<switchboard_domain::SessionId, ()>,
    pub identity_provider: Option<crate::oidc::IdentityProvider>,
}

impl AppState {
    pub fn new(
        store: Arc<dyn Store>,
        providers: Providers,
        sealing_key: SealingKey,
        settings: &ApiSettings,
    ) -> Self {
        let webhooks = Webhooks::new(
            store.clone(),
            sealing_key.clone(),
            settings.webhooks.clone(),
        );
        Self(Arc::new(Shared {
            store: store.clone(),
            providers: providers.wrap(|p| Arc::new(crate::metrics::Instrumented(p))),
            sealing_key,
            keys: KeyVerifier::new(settings.key_cache_ttl),
            rate_limits: settings
                .redis_url
                .as_deref()
                .and_then(|url| RateLimits::shared(settings.rate_limit_per_minute, url).ok())
                .unwrap_or_else(|| RateLimits::new(settings.rate_limit_per_minute)),
            failed_auth: FailedAuthThrottle::new(settings.failed_auth_per_minute),
            request_timeout: settings.request_timeout,
            metrics: crate::metrics::prometheus(),
            webhooks,
            calls: settings.calls.clone(),
            known_routes: moka::sync::Cache::new(KNOWN_ROUTES_MAX),
            call_recorder: CallRecorder::new(store.clone()),
            reconcile_interval: settings.reconcile_interval,
            sessions: settings.sessions,
            recently_seen_sessions: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(crate::sessions::LAST_SEEN_RESOLUTION)
                .build(),
            identity_provider: settings
                .oidc
                .clone()
                .map(crate::oidc::IdentityProvider::new),
        }))
    }
}

/// The carrier accounts numbers can be bought from, each when it is configured.
#[derive(Clone, Debug, Default)]
pub struct CarrierAccounts {
    pub plivo: Option<PlivoConfig>,
    pub twilio: Option<TwilioConfig>,
    pub telnyx: Option<TelnyxConfig>,
}

/// The configured carriers (Plivo, then Twilio, then Telnyx) and the sandbox, priced from the store's
/// pricing table. The first is the default for searches: the sandbox only when no carrier is
/// configured.
pub async fn default_providers(
    store: &dyn Store,
    accounts: CarrierAccounts,
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
    let providers = accounts
        .carriers()?
        .into_iter()
        .fold(Providers::default(), Providers::with);
    Ok(providers.with(Arc::new(sandbox)))
}

impl CarrierAccounts {
    /// A provider for each configured account: Plivo, then Twilio, then Telnyx.
    pub fn carriers(self) -> Result<Vec<Arc<dyn Provider>>, ProviderError> {
        let mut carriers: Vec<Arc<dyn Provider>> = Vec::new();
        if let Some(config) = self.plivo {
            carriers.push(Arc::new(PlivoProvider::new(config)?));
        }
        if let Some(config) = self.twilio {
            carriers.push(Arc::new(TwilioProvider::new(config)?));
        }
        if let Some(config) = self.telnyx {
            carriers.push(Arc::new(TelnyxProvider::new(config)?));
        }
        Ok(carriers)
    }
}
