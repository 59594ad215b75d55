//! Where numbers come from. Every provider answers the same three questions — what can be
//! bought, buy this one, give this one back — behind [`Provider`].
#![forbid(unsafe_code)]

pub mod plivo;
mod sandbox;
pub mod telnyx;
pub mod twilio;
pub mod twiml;

use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Arc;
use switchboard_domain::{E164, Money, NumberType};

pub use plivo::{PlivoConfig, PlivoProvider};
pub use sandbox::{SandboxPrice, SandboxProvider};
pub use telnyx::{TelnyxConfig, TelnyxProvider};
pub use twilio::{TwilioConfig, TwilioProvider};

/// A carrier's decimal dollar amount (`"1.15"`, Plivo's `"0.80000"`) in cents, rounded to the
/// nearest cent; none for a negative or unreadable one.
pub fn money_from_decimal(text: &str) -> Option<Money> {
    let value: f64 = text.trim().parse().ok()?;
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    Money::from_cents((value * 100.0).round() as i64).ok()
}

/// A number a provider offers, with what it costs and can do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    pub number: E164,
    pub number_type: NumberType,
    pub monthly_cost: Money,
    pub setup_cost: Money,
    pub voice: bool,
    pub sms: bool,
    pub mms: bool,
}

/// A number an account holds at a provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldNumber {
    pub offer: Offer,
    /// Where the provider sends its calls, when the provider says per number (Twilio does;
    /// Plivo routes through applications, so none).
    pub voice_url: Option<String>,
}

/// What a search for numbers asks for. A provider passes on to its API what that can filter,
/// and every answer is put through [`NumberSearch::matches`] as well, so a filter a carrier
/// lacks still holds (over the numbers it answered).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NumberSearch {
    /// ISO 3166-1 alpha-2.
    pub country_iso: String,
    pub number_type: Option<NumberType>,
    /// Digits the national number starts with (an area code: `415`, `20`).
    pub area_code: Option<String>,
    /// Digits somewhere in the national number.
    pub contains: Option<String>,
    /// Only numbers that carry voice calls.
    pub voice: bool,
    /// Only numbers that carry SMS.
    pub sms: bool,
}

impl NumberSearch {
    /// Every number of a country.
    pub fn country(country_iso: &str) -> Self {
        Self {
            country_iso: country_iso.to_owned(),
            ..Self::default()
        }
    }

    /// Whether `offer` is one of the numbers asked for.
    pub fn matches(&self, offer: &Offer) -> bool {
        let national = offer.number.national_digits();
        offer.number.country_code() == self.country_iso
            && self.number_type.is_none_or(|t| t == offer.number_type)
            && self
                .area_code
                .as_deref()
                .is_none_or(|area| national.starts_with(area))
            && self
                .contains
                .as_deref()
                .is_none_or(|digits| national.contains(digits))
            && (!self.voice || offer.voice)
            && (!self.sms || offer.sms)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider does not offer this number (any more).
    #[error("the number is not offered by this provider")]
    NotOffered,
    /// The account cannot pay for it (or was suspended for lack of funds); the text is the
    /// provider's own message.
    #[error("the account lacks the funds: {0}")]
    InsufficientFunds(String),
    /// The number's country wants an address or a regulatory bundle the account has not
    /// given; the text is the provider's own message.
    #[error("a regulatory requirement is not met: {0}")]
    RegulatoryRequirement(String),
    /// The provider refused the request; the text is its reason.
    #[error("the provider refused the request: {0}")]
    Rejected(String),
    /// The provider could not be reached, timed out, or answered with an error of its own.
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
    /// A purchase the provider completes asynchronously has not completed yet: `order` is
    /// its order, `offer` what the number will be ([`Provider::order_state`] tells later).
    #[error("the provider has not completed order {order} yet")]
    OrderPending { order: String, offer: Box<Offer> },
}

/// Where a provider's order of a number stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderState {
    /// The number is the account's.
    Completed,
    Pending,
    /// It will not be the account's.
    Failed,
    /// The provider has no order of this number (or does not take orders).
    NoOrder,
}

impl ProviderError {
    /// Whether the provider answered and said no (as opposed to not answering): asking again
    /// gets the same answer.
    pub fn is_refusal(&self) -> bool {
        !matches!(
            self,
            ProviderError::Unavailable(_) | ProviderError::OrderPending { .. }
        )
    }
}

/// The HTTP client of a carrier's REST API: `timeout` for each whole request, and at most 5 s
/// to connect.
fn http_client(timeout: std::time::Duration) -> Result<reqwest::Client, ProviderError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(std::time::Duration::from_secs(5)))
        .build()
        .map_err(|e| ProviderError::Unavailable(format!("cannot build the HTTP client: {e}")))
}

/// Most numbers one listing of an account reads: an account larger than this is refused
/// rather than read without end.
const HELD_NUMBERS_MAX: usize = 100_000;

/// The refusal of an account that holds more than [`HELD_NUMBERS_MAX`] numbers.
fn too_many_held() -> ProviderError {
    ProviderError::Rejected(format!(
        "the account holds more than {HELD_NUMBERS_MAX} numbers, which are not listed"
    ))
}

/// A carrier's JSON answer, read as `T`; `what` names it in the error (`search answer`).
async fn read_json<T: serde::de::DeserializeOwned>(
    carrier: &str,
    response: reqwest::Response,
    what: &str,
) -> Result<T, ProviderError> {
    response
        .json()
        .await
        .map_err(|e| ProviderError::Unavailable(format!("unreadable {carrier} {what}: {e}")))
}

/// A read, asked once more when the carrier could not be reached or failed on its side: a
/// read is safe to repeat (a purchase is not, and is never repeated).
async fn read_retrying<F, Fut>(send: F) -> Result<reqwest::Response, ProviderError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<reqwest::Response, ProviderError>>,
{
    match send().await {
        Err(ProviderError::Unavailable(_)) => send().await,
        answered => answered,
    }
}

/// A request to `carrier` that got no answer: it timed out, or could not connect.
fn unanswered(carrier: &str, error: &reqwest::Error) -> ProviderError {
    if error.is_timeout() {
        ProviderError::Unavailable(format!("{carrier} did not answer in time"))
    } else {
        ProviderError::Unavailable(format!("cannot reach {carrier}: {error}"))
    }
}

#[async_trait]
pub trait Provider: Send + Sync + std::fmt::Debug {
    /// The `telephonyProviderId` clients use for it.
    fn id(&self) -> &'static str;
    /// Numbers for sale that match `search` (see [`NumberSearch::matches`]).
    async fn search(&self, search: &NumberSearch) -> Result<Vec<Offer>, ProviderError>;
    /// Buys `number`; returns what was bought.
    async fn buy(&self, number: &E164) -> Result<Offer, ProviderError>;
    /// Gives `number` back.
    async fn release(&self, number: &E164) -> Result<(), ProviderError>;
    /// Whether [`Provider::held_numbers`] can list the account's numbers (what import and
    /// reconcile need).
    fn lists_held_numbers(&self) -> bool {
        false
    }
    /// Every number the account holds at this provider (what `numbers import --from` takes
    /// over and a reconcile compares), with its monthly cost; `setup_cost` is zero (it was
    /// paid). A provider that cannot list them refuses.
    async fn held_numbers(&self) -> Result<Vec<HeldNumber>, ProviderError> {
        Err(ProviderError::Rejected(format!(
            "{} cannot list the numbers an account holds",
            self.id()
        )))
    }
    /// Where the order of `number` stands, for a provider whose purchases can end
    /// [`ProviderError::OrderPending`]; the others have no orders.
    async fn order_state(&self, number: &E164) -> Result<OrderState, ProviderError> {
        let _ = number;
        Ok(OrderState::NoOrder)
    }
    /// Where this provider is told to send the calls of the numbers it sells or configures;
    /// none when it is not told (no public URL, or a provider without voice URLs).
    fn voice_urls(&self) -> Option<&VoiceUrls> {
        None
    }
    /// Points the calls of `number` (held by the account) at Switchboard: the
    /// [`VoiceUrls`] the provider was configured with. A provider that cannot refuses.
    async fn configure_voice(&self, number: &E164) -> Result<(), ProviderError> {
        let _ = number;
        Err(ProviderError::Rejected(format!(
            "{} cannot point a number's calls at Switchboard",
            self.id()
        )))
    }
}

/// Where a carrier is told to send a number's calls: Switchboard's endpoints for it, and a
/// fallback the carrier calls when Switchboard does not answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoiceUrls {
    /// `{public URL}/carriers/{carrier}/voice`.
    pub voice_url: String,
    /// `{public URL}/carriers/{carrier}/status`.
    pub status_callback: String,
    /// Where calls go when the voice URL fails or times out (e.g. a static TwiML document
    /// that dials the team's agent platform directly); none leaves the carrier's default.
    pub fallback_url: Option<String>,
}

impl VoiceUrls {
    /// The endpoints of `carrier` (`twilio`, `telnyx`) on a server reached at `public_url`.
    pub fn at(public_url: &str, carrier: &str, fallback_url: Option<String>) -> Self {
        let base = public_url.trim_end_matches('/');
        Self {
            voice_url: format!("{base}/carriers/{carrier}/voice"),
            status_callback: format!("{base}/carriers/{carrier}/status"),
            fallback_url,
        }
    }
}

/// The providers this server can buy from, by id.
#[derive(Clone, Debug, Default)]
pub struct Providers {
    by_id: BTreeMap<&'static str, Arc<dyn Provider>>,
    default: Option<&'static str>,
}

impl Providers {
    /// The first provider added is the default for searches.
    pub fn with(mut self, provider: Arc<dyn Provider>) -> Self {
        let id = provider.id();
        self.default.get_or_insert(id);
        self.by_id.insert(id, provider);
        self
    }

    /// Every provider replaced by `wrap(provider)` (e.g. to instrument their calls).
    pub fn wrap(mut self, wrap: impl Fn(Arc<dyn Provider>) -> Arc<dyn Provider>) -> Self {
        for provider in self.by_id.values_mut() {
            *provider = wrap(provider.clone());
        }
        self
    }

    pub fn get(&self, id: &str) -> Option<&Arc<dyn Provider>> {
        self.by_id.get(id)
    }

    pub fn default_provider(&self) -> Option<&Arc<dyn Provider>> {
        self.default.and_then(|id| self.by_id.get(id))
    }

    /// Ids in alphabetical order, for error messages.
    pub fn ids(&self) -> Vec<&'static str> {
        self.by_id.keys().copied().collect()
    }
}
