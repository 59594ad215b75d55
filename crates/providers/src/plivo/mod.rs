//! Plivo: its REST API here, and its call dialect in [`voice`].
//!
//! The REST API: search (`GET /v1/Account/{auth_id}/PhoneNumber/`), buy
//! (`POST /v1/Account/{auth_id}/PhoneNumber/{number}/`) and release
//! (`DELETE /v1/Account/{auth_id}/Number/{number}/`), with HTTP Basic auth.
//!
//! Plivo writes numbers without the `+` and calls toll-free `tollfree` and landlines
//! `fixed`; both are translated here.

pub mod voice;

use crate::{HeldNumber as Held, NumberSearch, Offer, Provider, ProviderError, money_from_decimal};
use async_trait::async_trait;
use serde::Deserialize;
use std::fmt;
use std::time::Duration;
use switchboard_domain::{E164, Money, NumberType};

/// Numbers one search asks Plivo for (its most): the filters Plivo lacks apply to these.
pub const SEARCH_LIMIT: u32 = 20;

#[derive(Clone)]
pub struct PlivoConfig {
    pub auth_id: String,
    pub auth_token: String,
    /// `https://api.plivo.com` in production; a local fake in tests.
    pub base_url: String,
    /// Whole-request timeout for each call.
    pub timeout: Duration,
}

impl fmt::Debug for PlivoConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlivoConfig")
            .field("auth_id", &self.auth_id)
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub struct PlivoProvider {
    config: PlivoConfig,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct SearchPage {
    objects: Vec<PlivoNumber>,
}

#[derive(Deserialize)]
struct PlivoNumber {
    number: String,
    #[serde(rename = "type")]
    number_type: String,
    monthly_rental_rate: String,
    setup_rate: String,
    #[serde(default)]
    voice_enabled: bool,
    #[serde(default)]
    sms_enabled: bool,
    #[serde(default)]
    mms_enabled: bool,
}

/// A page of the account's numbers (`GET Number/`).
#[derive(Deserialize)]
struct HeldPage {
    meta: PageMeta,
    objects: Vec<HeldNumber>,
}

#[derive(Deserialize)]
struct PageMeta {
    total_count: usize,
}

/// A number the account holds, as Plivo lists it.
#[derive(Deserialize)]
struct HeldNumber {
    number: String,
    number_type: String,
    monthly_rental_rate: String,
    #[serde(default)]
    voice_enabled: bool,
    #[serde(default)]
    sms_enabled: bool,
    #[serde(default)]
    mms_enabled: bool,
}

/// Plivo's pages of the account's numbers hold at most this many.
const LIST_LIMIT: usize = 20;

#[derive(Deserialize)]
struct PlivoError {
    error: serde_json::Value,
}

fn plivo_type(number_type: NumberType) -> &'static str {
    match number_type {
        NumberType::Local => "local",
        NumberType::TollFree => "tollfree",
        NumberType::Mobile => "mobile",
    }
}

/// Plivo's name of a type (`tollfree`; `fixed`, `local` and the rest are rented as local).
fn type_from_plivo(name: &str) -> NumberType {
    match name {
        "tollfree" | "toll-free" | "toll_free" => NumberType::TollFree,
        "mobile" => NumberType::Mobile,
        _ => NumberType::Local,
    }
}

impl HeldNumber {
    fn into_offer(self) -> Option<Offer> {
        Some(Offer {
            number: E164::parse(&format!("+{}", self.number.trim_start_matches('+'))).ok()?,
            number_type: type_from_plivo(&self.number_type),
            monthly_cost: money_from_decimal(&self.monthly_rental_rate)?,
            setup_cost: Money::ZERO,
            voice: self.voice_enabled,
            sms: self.sms_enabled,
            mms: self.mms_enabled,
        })
    }
}

impl PlivoNumber {
    fn into_offer(self) -> Option<Offer> {
        let number = E164::parse(&format!("+{}", self.number.trim_start_matches('+'))).ok()?;
        let number_type = type_from_plivo(&self.number_type);
        Some(Offer {
            number,
            number_type,
            monthly_cost: money_from_decimal(&self.monthly_rental_rate)?,
            setup_cost: money_from_decimal(&self.setup_rate)?,
            voice: self.voice_enabled,
            sms: self.sms_enabled,
            mms: self.mms_enabled,
        })
    }
}

impl PlivoProvider {
    pub const ID: &'static str = "plivo";

    pub fn new(config: PlivoConfig) -> Result<Self, ProviderError> {
        let http = crate::http_client(config.timeout)?;
        Ok(Self { config, http })
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}/v1/Account/{}/{path}",
            self.config.base_url.trim_end_matches('/'),
            self.config.auth_id
        )
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ProviderError> {
        let response = request
            .basic_auth(&self.config.auth_id, Some(&self.config.auth_token))
            .send()
            .await
            .map_err(|e| crate::unanswered("Plivo", &e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let reason = response
            .json::<PlivoError>()
            .await
            .map(|e| match e.error {
                serde_json::Value::String(text) => text,
                other => other.to_string(),
            })
            .unwrap_or_else(|_| format!("HTTP {status}"));
        tracing::warn!(%status, reason, "Plivo refused a request");
        match status.as_u16() {
            404 => Err(ProviderError::NotOffered),
            400 | 403 | 409 | 422 => Err(ProviderError::Rejected(reason)),
            _ => Err(ProviderError::Unavailable(format!(
                "Plivo answered {status}: {reason}"
            ))),
        }
    }
}

#[async_trait]
impl Provider for PlivoProvider {
    fn id(&self) -> &'static str {
        Self::ID
    }

    async fn search(&self, search: &NumberSearch) -> Result<Vec<Offer>, ProviderError> {
        let mut query = vec![
            ("country_iso", search.country_iso.clone()),
            ("limit", SEARCH_LIMIT.to_string()),
        ];
        if let Some(number_type) = search.number_type {
            query.push(("type", plivo_type(number_type).to_owned()));
        }
        // Plivo's `pattern` matches the digits after the country code from the start: an area
        // code, or a whole national number. `contains` it cannot: that is filtered below.
        if let Some(area_code) = &search.area_code {
            query.push(("pattern", area_code.clone()));
        }
        let services = match (search.voice, search.sms) {
            (true, true) => Some("voice,sms"),
            (true, false) => Some("voice"),
            (false, true) => Some("sms"),
            (false, false) => None,
        };
        if let Some(services) = services {
            query.push(("services", services.to_owned()));
        }
        let response = self
            .send(self.http.get(self.url("PhoneNumber/")).query(&query))
            .await?;
        let page: SearchPage = crate::read_json("Plivo", response, "search answer").await?;
        Ok(page
            .objects
            .into_iter()
            .filter_map(PlivoNumber::into_offer)
            .filter(|offer| search.matches(offer))
            .collect())
    }

    async fn buy(&self, number: &E164) -> Result<Offer, ProviderError> {
        let digits = number.as_str().trim_start_matches('+');
        // Plivo's buy answer confirms the number only; the terms come from its search, which
        // is asked for this exact number first.
        let offer = self
            .search(&NumberSearch {
                area_code: Some(number.national_digits().to_owned()),
                ..NumberSearch::country(number.country_code())
            })
            .await?
            .into_iter()
            .find(|offer| offer.number == *number)
            .ok_or(ProviderError::NotOffered)?;
        self.send(
            self.http
                .post(self.url(&format!("PhoneNumber/{digits}/")))
                .json(&serde_json::json!({})),
        )
        .await?;
        Ok(offer)
    }

    async fn release(&self, number: &E164) -> Result<(), ProviderError> {
        let digits = number.as_str().trim_start_matches('+');
        self.send(self.http.delete(self.url(&format!("Number/{digits}/"))))
            .await?;
        Ok(())
    }

    fn lists_held_numbers(&self) -> bool {
        true
    }

    async fn held_numbers(&self) -> Result<Vec<Held>, ProviderError> {
        let mut held = Vec::new();
        let mut offset = 0;
        loop {
            let response = self
                .send(self.http.get(self.url("Number/")).query(&[
                    ("limit", LIST_LIMIT.to_string()),
                    ("offset", offset.to_string()),
                ]))
                .await?;
            let page: HeldPage = crate::read_json("Plivo", response, "number list").await?;
            // Plivo says the total on the first page: a larger account is refused at once.
            if page.meta.total_count > crate::HELD_NUMBERS_MAX {
                return Err(ProviderError::Rejected(format!(
                    "the account holds {} numbers; more than {} are not listed",
                    page.meta.total_count,
                    crate::HELD_NUMBERS_MAX
                )));
            }
            let read = page.objects.len();
            for number in page.objects {
                let text = number.number.clone();
                let offer = number.into_offer().ok_or_else(|| {
                    ProviderError::Unavailable(format!(
                        "Plivo listed {text}, which is not a phone number with a rate"
                    ))
                })?;
                held.push(Held {
                    offer,
                    voice_url: None,
                });
            }
            offset += read;
            if read == 0 || offset >= page.meta.total_count {
                return Ok(held);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{PlivoConfig, money_from_decimal};
    use std::time::Duration;

    #[test]
    fn debug_never_shows_the_token() {
        let config = PlivoConfig {
            auth_id: "MAXXXX".into(),
            auth_token: "token-canary-123".into(),
            base_url: "https://api.plivo.com".into(),
            timeout: Duration::from_secs(1),
        };
        let shown = format!("{config:?}");
        assert!(shown.contains("MAXXXX"));
        assert!(!shown.contains("token-canary-123"));
    }

    #[test]
    fn rates_round_to_cents() {
        assert_eq!(
            money_from_decimal("0.80000").map(|m| m.to_string()),
            Some("0.80".into())
        );
        assert_eq!(
            money_from_decimal("1.155").map(|m| m.to_string()),
            Some("1.16".into())
        );
        assert_eq!(money_from_decimal("-1"), None);
        assert_eq!(money_from_decimal("abc"), None);
    }
}
