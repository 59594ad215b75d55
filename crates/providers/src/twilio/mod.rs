//! Twilio: its REST API for numbers (API v2010) here, and the signature on its voice
//! webhooks in [`voice`].
//!
//! The REST API, with HTTP Basic auth (account SID and auth token), form-encoded bodies and
//! JSON answers: search (`GET AvailablePhoneNumbers/{country}/{Local|Mobile|TollFree}.json`),
//! buy (`POST IncomingPhoneNumbers.json`, which also sets the number's voice URLs), release
//! (`DELETE IncomingPhoneNumbers/{sid}.json`), the account's numbers
//! (`GET IncomingPhoneNumbers/{type}.json`, page by page) and a number's voice configuration
//! (`POST IncomingPhoneNumbers/{sid}.json`).
//!
//! Twilio's search answers carry no price: the monthly cost of each type of number comes from
//! its Pricing API (`GET /v1/PhoneNumbers/Countries/{country}` on `pricing.twilio.com`), read
//! once an hour per country.

pub mod voice;

pub use voice::{twilio_signature, twilio_signature_matches};

use crate::{
    HeldNumber, NumberSearch, Offer, Provider, ProviderError, VoiceUrls, money_from_decimal,
};
use async_trait::async_trait;
use serde::Deserialize;
use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use switchboard_domain::{E164, Money, NumberType};

/// Numbers one search asks Twilio for, per type (the filters Twilio lacks apply to these).
pub const SEARCH_LIMIT: u32 = 20;

/// How long Twilio's prices of a country are kept before they are read again.
const PRICES_TTL: Duration = Duration::from_secs(3600);

/// Numbers per page when listing the account's numbers (Twilio's largest page).
const LIST_PAGE_SIZE: u32 = 1000;

#[derive(Clone)]
pub struct TwilioConfig {
    /// `AC` and 32 hex digits.
    pub account_sid: String,
    pub auth_token: String,
    /// `https://api.twilio.com` in production; a local fake in tests.
    pub base_url: String,
    /// `https://pricing.twilio.com` in production.
    pub pricing_base_url: String,
    /// Whole-request timeout for each call.
    pub timeout: Duration,
    /// Where numbers bought (or imported with `--configure`) send their calls; `None` (no
    /// public URL configured) leaves their voice configuration as it is.
    pub voice: Option<VoiceUrls>,
}

impl fmt::Debug for TwilioConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioConfig")
            .field("account_sid", &self.account_sid)
            .field("base_url", &self.base_url)
            .field("pricing_base_url", &self.pricing_base_url)
            .field("timeout", &self.timeout)
            .field("voice", &self.voice)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub struct TwilioProvider {
    config: TwilioConfig,
    http: reqwest::Client,
    /// Monthly prices by country, with when they were read.
    prices: Mutex<HashMap<String, (Instant, MonthlyPrices)>>,
}

/// A country's monthly price of each type of number.
type MonthlyPrices = HashMap<NumberType, Money>;

/// Twilio's error body (`code` is its error number, e.g. 21422).
#[derive(Deserialize)]
struct TwilioError {
    code: Option<u32>,
    message: Option<String>,
}

#[derive(Default, Deserialize)]
struct Capabilities {
    #[serde(default)]
    voice: bool,
    #[serde(default, alias = "SMS")]
    sms: bool,
    #[serde(default, alias = "MMS")]
    mms: bool,
}

#[derive(Deserialize)]
struct AvailablePage {
    available_phone_numbers: Vec<AvailableNumber>,
}

#[derive(Deserialize)]
struct AvailableNumber {
    phone_number: Option<String>,
    capabilities: Option<Capabilities>,
}

/// A page of the account's numbers.
#[derive(Deserialize)]
struct IncomingPage {
    incoming_phone_numbers: Vec<IncomingNumber>,
    next_page_uri: Option<String>,
}

#[derive(Deserialize)]
struct IncomingNumber {
    sid: String,
    phone_number: Option<String>,
    capabilities: Option<Capabilities>,
    voice_url: Option<String>,
}

#[derive(Deserialize)]
struct CountryPrices {
    phone_number_prices: Vec<NumberPrice>,
    price_unit: Option<String>,
}

#[derive(Deserialize)]
struct NumberPrice {
    number_type: String,
    current_price: Option<String>,
    base_price: Option<String>,
}

impl Capabilities {
    /// The number with these capabilities, at `monthly_cost` (Twilio charges no setup).
    fn offer(self, number: E164, number_type: NumberType, monthly_cost: Money) -> Offer {
        Offer {
            number,
            number_type,
            monthly_cost,
            setup_cost: Money::ZERO,
            voice: self.voice,
            sms: self.sms,
            mms: self.mms,
        }
    }
}

/// The monthly price of a type of number in `country`; an error when Twilio lists none.
fn price_of(
    prices: &MonthlyPrices,
    country: &str,
    number_type: NumberType,
) -> Result<Money, ProviderError> {
    prices.get(&number_type).copied().ok_or_else(|| {
        ProviderError::Unavailable(format!(
            "Twilio's price list of {country} has no {} numbers",
            number_type.as_str()
        ))
    })
}

/// The three kinds of number, as Twilio's paths name them.
const TYPES: [NumberType; 3] = [NumberType::Local, NumberType::Mobile, NumberType::TollFree];

fn path_type(number_type: NumberType) -> &'static str {
    match number_type {
        NumberType::Local => "Local",
        NumberType::Mobile => "Mobile",
        NumberType::TollFree => "TollFree",
    }
}

/// The Pricing API's name of a type (`local`, `mobile`, `toll free`).
fn priced_type(name: &str) -> Option<NumberType> {
    match name.to_ascii_lowercase().as_str() {
        "local" => Some(NumberType::Local),
        "mobile" => Some(NumberType::Mobile),
        "toll free" | "toll-free" | "tollfree" => Some(NumberType::TollFree),
        _ => None,
    }
}

/// What one of Twilio's error answers means. Its codes: 21422 and 21452 (the number, or any
/// number like it, is not available), 21631, 21613, 21615 and 21649 (an address or a
/// regulatory bundle is required), 20005 and 10001 (the account is not active: Twilio
/// suspends an account whose balance reached zero).
fn classify(status: reqwest::StatusCode, code: Option<u32>, message: String) -> ProviderError {
    match code {
        Some(21422 | 21452) => return ProviderError::NotOffered,
        Some(21631 | 21613 | 21615 | 21649) => {
            return ProviderError::RegulatoryRequirement(message);
        }
        Some(20005 | 10001) => return ProviderError::InsufficientFunds(message),
        _ => {}
    }
    match status.as_u16() {
        404 => ProviderError::NotOffered,
        400..=499 => ProviderError::Rejected(message),
        _ => ProviderError::Unavailable(format!("Twilio answered {status}: {message}")),
    }
}

impl TwilioProvider {
    pub const ID: &'static str = "twilio";

    pub fn new(config: TwilioConfig) -> Result<Self, ProviderError> {
        let http = crate::http_client(config.timeout)?;
        Ok(Self {
            config,
            http,
            prices: Mutex::new(HashMap::new()),
        })
    }

    /// A path of the account (`IncomingPhoneNumbers.json`).
    fn url(&self, path: &str) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/{path}",
            self.config.base_url.trim_end_matches('/'),
            self.config.account_sid
        )
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ProviderError> {
        let response = request
            .basic_auth(&self.config.account_sid, Some(&self.config.auth_token))
            .send()
            .await
            .map_err(|e| crate::unanswered("Twilio", &e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let (code, message) = match response.json::<TwilioError>().await {
            Ok(error) => (
                error.code,
                error.message.unwrap_or_else(|| format!("HTTP {status}")),
            ),
            Err(_) => (None, format!("HTTP {status}")),
        };
        tracing::warn!(%status, code, message, "Twilio refused a request");
        Err(classify(status, code, message))
    }

    /// A GET, asked once more when Twilio is down ([`crate::read_retrying`]).
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        query: &[(&str, String)],
        what: &str,
    ) -> Result<T, ProviderError> {
        let response = crate::read_retrying(|| self.send(self.http.get(url).query(query))).await?;
        crate::read_json("Twilio", response, what).await
    }

    /// The monthly price of each type of number in `country` (read from the Pricing API at
    /// most once per [`PRICES_TTL`]).
    async fn prices(&self, country: &str) -> Result<MonthlyPrices, ProviderError> {
        if let Ok(cached) = self.prices.lock()
            && let Some((read_at, prices)) = cached.get(country)
            && read_at.elapsed() < PRICES_TTL
        {
            return Ok(prices.clone());
        }
        let url = format!(
            "{}/v1/PhoneNumbers/Countries/{country}",
            self.config.pricing_base_url.trim_end_matches('/')
        );
        let answer: CountryPrices = self.get(&url, &[], "price list").await?;
        if let Some(unit) = answer.price_unit.as_deref()
            && !unit.eq_ignore_ascii_case("USD")
        {
            return Err(ProviderError::Unavailable(format!(
                "Twilio prices numbers of {country} in {unit}; Switchboard keeps US dollars"
            )));
        }
        let prices: MonthlyPrices = answer
            .phone_number_prices
            .into_iter()
            .filter_map(|price| {
                let number_type = priced_type(&price.number_type)?;
                let amount = price.current_price.or(price.base_price)?;
                Some((number_type, money_from_decimal(&amount)?))
            })
            .collect();
        if let Ok(mut cached) = self.prices.lock() {
            cached.insert(country.to_owned(), (Instant::now(), prices.clone()));
        }
        Ok(prices)
    }

    /// The monthly price of a type of number of `country`; an error when Twilio lists none.
    async fn monthly_price(
        &self,
        country: &str,
        number_type: NumberType,
    ) -> Result<Money, ProviderError> {
        price_of(&self.prices(country).await?, country, number_type)
    }

    /// The account's sid of `number` (`PN…`), or none when the account does not hold it.
    async fn incoming_sid(&self, number: &E164) -> Result<Option<String>, ProviderError> {
        let page: IncomingPage = self
            .get(
                &self.url("IncomingPhoneNumbers.json"),
                &[("PhoneNumber", number.to_string())],
                "number list",
            )
            .await?;
        Ok(page
            .incoming_phone_numbers
            .into_iter()
            .find(|held| held.phone_number.as_deref() == Some(number.as_str()))
            .map(|held| held.sid))
    }

    /// The form fields that point a number's calls at Switchboard.
    fn voice_fields(voice: &VoiceUrls) -> Vec<(&'static str, String)> {
        let mut fields = vec![
            ("VoiceUrl", voice.voice_url.clone()),
            ("VoiceMethod", "POST".to_owned()),
            ("StatusCallback", voice.status_callback.clone()),
            ("StatusCallbackMethod", "POST".to_owned()),
        ];
        if let Some(fallback) = &voice.fallback_url {
            fields.push(("VoiceFallbackUrl", fallback.clone()));
            fields.push(("VoiceFallbackMethod", "POST".to_owned()));
        }
        fields
    }

    /// Twilio's `next_page_uri` is a path (`/2010-04-01/…?Page=1&…`); it is asked of the
    /// configured base URL whatever host it names.
    fn next_page_url(&self, next: &str) -> String {
        let path = match next.find("://") {
            Some(scheme_end) => next[scheme_end + 3..]
                .find('/')
                .map_or("/", |slash| &next[scheme_end + 3 + slash..]),
            None => next,
        };
        format!("{}{path}", self.config.base_url.trim_end_matches('/'))
    }
}

#[async_trait]
impl Provider for TwilioProvider {
    fn id(&self) -> &'static str {
        Self::ID
    }

    async fn search(&self, search: &NumberSearch) -> Result<Vec<Offer>, ProviderError> {
        let country = search.country_iso.as_str();
        let prices = self.prices(country).await?;
        let mut offers = Vec::new();
        let types: &[NumberType] = match &search.number_type {
            Some(number_type) => std::slice::from_ref(number_type),
            None => &TYPES,
        };
        for &number_type in types {
            let mut query = vec![("PageSize", SEARCH_LIMIT.to_string())];
            // Twilio's AreaCode is the three digits of a North American number; elsewhere
            // the area code is filtered here, over the numbers Twilio answered.
            if let Some(area) = &search.area_code
                && matches!(country, "US" | "CA")
                && area.len() == 3
            {
                query.push(("AreaCode", area.clone()));
            }
            // Twilio's Contains wants at least two characters.
            if let Some(digits) = search.contains.as_ref().filter(|d| d.len() >= 2) {
                query.push(("Contains", digits.clone()));
            }
            if search.voice {
                query.push(("VoiceEnabled", "true".to_owned()));
            }
            if search.sms {
                query.push(("SmsEnabled", "true".to_owned()));
            }
            let url = self.url(&format!(
                "AvailablePhoneNumbers/{country}/{}.json",
                path_type(number_type)
            ));
            let page: AvailablePage = match self.get(&url, &query, "search answer").await {
                Ok(page) => page,
                // Twilio has no numbers of that type in the country: the others may.
                Err(ProviderError::NotOffered) if search.number_type.is_none() => continue,
                Err(error) => return Err(error),
            };
            for available in page.available_phone_numbers {
                let Some(number) = available
                    .phone_number
                    .as_deref()
                    .and_then(|n| E164::parse(n).ok())
                else {
                    continue;
                };
                let monthly_cost = price_of(&prices, country, number_type)?;
                let offer = available.capabilities.unwrap_or_default().offer(
                    number,
                    number_type,
                    monthly_cost,
                );
                if search.matches(&offer) {
                    offers.push(offer);
                }
            }
        }
        Ok(offers)
    }

    async fn buy(&self, number: &E164) -> Result<Offer, ProviderError> {
        // The terms come from the search, asked for this exact number first: a number
        // Twilio no longer offers is refused before anything is bought.
        let offer = self
            .search(&NumberSearch {
                number_type: Some(number.derived_type()),
                contains: Some(number.national_digits().to_owned()),
                ..NumberSearch::country(number.country_code())
            })
            .await?
            .into_iter()
            .find(|offer| offer.number == *number)
            .ok_or(ProviderError::NotOffered)?;
        let mut form = vec![("PhoneNumber", number.to_string())];
        if let Some(voice) = &self.config.voice {
            form.extend(Self::voice_fields(voice));
        }
        self.send(
            self.http
                .post(self.url("IncomingPhoneNumbers.json"))
                .form(&form),
        )
        .await?;
        Ok(offer)
    }

    async fn release(&self, number: &E164) -> Result<(), ProviderError> {
        let sid = self
            .incoming_sid(number)
            .await?
            .ok_or(ProviderError::NotOffered)?;
        self.send(
            self.http
                .delete(self.url(&format!("IncomingPhoneNumbers/{sid}.json"))),
        )
        .await?;
        Ok(())
    }

    fn lists_held_numbers(&self) -> bool {
        true
    }

    fn voice_urls(&self) -> Option<&VoiceUrls> {
        self.config.voice.as_ref()
    }

    async fn held_numbers(&self) -> Result<Vec<HeldNumber>, ProviderError> {
        let mut held = Vec::new();
        for number_type in TYPES {
            let mut url = self.url(&format!(
                "IncomingPhoneNumbers/{}.json",
                path_type(number_type)
            ));
            let mut query = vec![("PageSize", LIST_PAGE_SIZE.to_string())];
            loop {
                let page: IncomingPage = self.get(&url, &query, "number list").await?;
                for incoming in page.incoming_phone_numbers {
                    let text = incoming.phone_number.unwrap_or_default();
                    let number = E164::parse(&text).map_err(|_| {
                        ProviderError::Unavailable(format!(
                            "Twilio listed {text} ({}), which is not a phone number",
                            incoming.sid
                        ))
                    })?;
                    let monthly_cost = self
                        .monthly_price(number.country_code(), number_type)
                        .await?;
                    held.push(HeldNumber {
                        offer: incoming.capabilities.unwrap_or_default().offer(
                            number,
                            number_type,
                            monthly_cost,
                        ),
                        voice_url: incoming.voice_url.filter(|url| !url.is_empty()),
                    });
                }
                if held.len() > crate::HELD_NUMBERS_MAX {
                    return Err(crate::too_many_held());
                }
                match page.next_page_uri.filter(|next| !next.is_empty()) {
                    Some(next) => {
                        url = self.next_page_url(&next);
                        query.clear();
                    }
                    None => break,
                }
            }
        }
        Ok(held)
    }

    async fn configure_voice(&self, number: &E164) -> Result<(), ProviderError> {
        let Some(voice) = &self.config.voice else {
            return Err(ProviderError::Rejected(
                "Switchboard's public URL is not set (--public-url), so Twilio cannot be told where to send calls".into(),
            ));
        };
        let sid = self
            .incoming_sid(number)
            .await?
            .ok_or(ProviderError::NotOffered)?;
        self.send(
            self.http
                .post(self.url(&format!("IncomingPhoneNumbers/{sid}.json")))
                .form(&Self::voice_fields(voice)),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        let config = TwilioConfig {
            account_sid: "AC0123".into(),
            auth_token: "token-canary-123".into(),
            base_url: "https://api.twilio.com".into(),
            pricing_base_url: "https://pricing.twilio.com".into(),
            timeout: Duration::from_secs(1),
            voice: None,
        };
        let shown = format!("{config:?}");
        assert!(shown.contains("AC0123"));
        assert!(!shown.contains("token-canary-123"));
    }

    #[test]
    fn twilios_error_codes_are_named() {
        let bad = reqwest::StatusCode::BAD_REQUEST;
        assert!(matches!(
            classify(bad, Some(21422), "gone".into()),
            ProviderError::NotOffered
        ));
        assert!(matches!(
            classify(bad, Some(21631), "address".into()),
            ProviderError::RegulatoryRequirement(m) if m == "address"
        ));
        assert!(matches!(
            classify(
                reqwest::StatusCode::UNAUTHORIZED,
                Some(20005),
                "inactive".into()
            ),
            ProviderError::InsufficientFunds(_)
        ));
        assert!(matches!(
            classify(bad, Some(21212), "bad".into()),
            ProviderError::Rejected(_)
        ));
        assert!(matches!(
            classify(reqwest::StatusCode::SERVICE_UNAVAILABLE, None, "x".into()),
            ProviderError::Unavailable(_)
        ));
    }

    #[test]
    fn next_pages_are_asked_of_the_configured_host() {
        let provider = TwilioProvider::new(TwilioConfig {
            account_sid: "AC0123".into(),
            auth_token: "t".into(),
            base_url: "http://127.0.0.1:4010/".into(),
            pricing_base_url: "http://127.0.0.1:4011".into(),
            timeout: Duration::from_secs(1),
            voice: None,
        })
        .expect("client");
        assert_eq!(
            provider.next_page_url(
                "/2010-04-01/Accounts/AC0123/IncomingPhoneNumbers/Local.json?Page=1"
            ),
            "http://127.0.0.1:4010/2010-04-01/Accounts/AC0123/IncomingPhoneNumbers/Local.json?Page=1"
        );
        assert_eq!(
            provider.next_page_url("https://api.twilio.com/2010-04-01/x.json?Page=2"),
            "http://127.0.0.1:4010/2010-04-01/x.json?Page=2"
        );
    }
}
