//! Telnyx: its REST API for numbers (API v2) here, and the signature on its TeXML webhooks in
//! [`voice`].
//!
//! The REST API, with a bearer API key and JSON both ways: search
//! (`GET /available_phone_numbers`, with its `filter[…]` parameters and the price in each
//! answer), buy (`POST /number_orders`, which completes asynchronously: the order is asked
//! again until it succeeds or fails, for at most the configured wait), the account's numbers
//! (`GET /phone_numbers`, page by page), release (`DELETE /phone_numbers/{id}`), and where a
//! number's calls go: a TeXML application named [`APPLICATION_NAME`] whose voice URL is
//! Switchboard's (created or corrected when needed), to which each number is assigned
//! (`PATCH /phone_numbers/{id}` with its `connection_id`).

pub mod voice;

pub use voice::{TIMESTAMP_TOLERANCE_SECS, TelnyxPublicKey, TelnyxRefusal, verify_telnyx};

use crate::{
    HeldNumber, NumberSearch, Offer, OrderState, Provider, ProviderError, VoiceUrls,
    money_from_decimal,
};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use switchboard_domain::{E164, Money, NumberType};

/// Numbers one search asks Telnyx for (the filters it lacks apply to these).
pub const SEARCH_LIMIT: u32 = 20;

/// The TeXML application whose voice URL is Switchboard's.
pub const APPLICATION_NAME: &str = "Switchboard";

/// Numbers per page when listing the account's numbers (Telnyx's largest page).
const LIST_PAGE_SIZE: u32 = 250;

#[derive(Clone)]
pub struct TelnyxConfig {
    pub api_key: String,
    /// `https://api.telnyx.com/v2` in production; a local fake in tests.
    pub base_url: String,
    /// Whole-request timeout for each call.
    pub timeout: Duration,
    /// How long a purchase waits for its number order to complete.
    pub order_wait: Duration,
    /// How often a pending order is asked again.
    pub order_poll: Duration,
    /// Where numbers bought (or configured) send their calls: through the TeXML application.
    pub voice: Option<VoiceUrls>,
}

impl fmt::Debug for TelnyxConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelnyxConfig")
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("order_wait", &self.order_wait)
            .field("voice", &self.voice)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub struct TelnyxProvider {
    config: TelnyxConfig,
    http: reqwest::Client,
    /// The TeXML application's id, once found or created with the right URLs.
    application: Mutex<Option<String>>,
}

#[derive(Deserialize)]
struct TelnyxErrors {
    #[serde(default)]
    errors: Vec<TelnyxError>,
}

#[derive(Deserialize)]
struct TelnyxError {
    code: Option<String>,
    title: Option<String>,
    detail: Option<String>,
}

#[derive(Deserialize)]
struct Listed<T> {
    data: Vec<T>,
    meta: Option<PageMeta>,
}

#[derive(Deserialize)]
struct One<T> {
    data: T,
}

#[derive(Deserialize)]
struct PageMeta {
    total_pages: Option<u32>,
}

#[derive(Deserialize)]
struct Available {
    phone_number: Option<String>,
    cost_information: Option<Cost>,
    #[serde(default)]
    features: Vec<Feature>,
}

#[derive(Deserialize)]
struct Cost {
    monthly_cost: Option<String>,
    upfront_cost: Option<String>,
    currency: Option<String>,
}

#[derive(Deserialize)]
struct Feature {
    name: String,
}

#[derive(Deserialize)]
struct Order {
    id: String,
    status: String,
    requirements_met: Option<bool>,
}

#[derive(Deserialize)]
struct Owned {
    id: String,
    phone_number: String,
    phone_number_type: Option<String>,
    connection_id: Option<String>,
}

#[derive(Deserialize)]
struct Application {
    id: String,
    voice_url: Option<String>,
    status_callback: Option<String>,
    voice_fallback_url: Option<String>,
}

/// The customer reference of Switchboard's order of `number`, by which it is found again.
fn order_reference(number: &E164) -> String {
    format!("switchboard {number}")
}

fn filter_type(number_type: NumberType) -> &'static str {
    match number_type {
        NumberType::Local => "local",
        NumberType::Mobile => "mobile",
        NumberType::TollFree => "toll_free",
    }
}

/// Telnyx's type of an owned number (`national` and `shared_cost` are rented as local).
fn owned_type(name: Option<&str>, number: &E164) -> NumberType {
    match name {
        Some("toll_free") => NumberType::TollFree,
        Some("mobile") => NumberType::Mobile,
        Some(_) => NumberType::Local,
        None => number.derived_type(),
    }
}

/// What one of Telnyx's error answers means. Its document gives no codes for these cases, so
/// they are told apart by status and words: a 404 or a number "not available" is not
/// offered; "balance" or "funds" is the account's money; "requirement", "address",
/// "bundle" or "document" is a regulatory requirement.
fn classify(status: reqwest::StatusCode, message: String) -> ProviderError {
    let lower = message.to_ascii_lowercase();
    if status.as_u16() == 404 || lower.contains("not available") {
        ProviderError::NotOffered
    } else if lower.contains("balance") || lower.contains("funds") {
        ProviderError::InsufficientFunds(message)
    } else if ["requirement", "address", "bundle", "document"]
        .iter()
        .any(|word| lower.contains(word))
    {
        ProviderError::RegulatoryRequirement(message)
    } else if status.is_client_error() {
        ProviderError::Rejected(message)
    } else {
        ProviderError::Unavailable(format!("Telnyx answered {status}: {message}"))
    }
}

impl TelnyxProvider {
    pub const ID: &'static str = "telnyx";

    pub fn new(config: TelnyxConfig) -> Result<Self, ProviderError> {
        let http = crate::http_client(config.timeout)?;
        Ok(Self {
            config,
            http,
            application: Mutex::new(None),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.config.base_url.trim_end_matches('/'))
    }

    async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ProviderError> {
        let response = request
            .bearer_auth(&self.config.api_key)
            .send()
            .await
            .map_err(|e| crate::unanswered("Telnyx", &e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let message = match response.json::<TelnyxErrors>().await {
            Ok(answer) if !answer.errors.is_empty() => answer
                .errors
                .iter()
                .map(|e| {
                    let text = e.detail.clone().or(e.title.clone()).unwrap_or_default();
                    match &e.code {
                        Some(code) => format!("{text} ({code})"),
                        None => text,
                    }
                })
                .collect::<Vec<_>>()
                .join("; "),
            _ => format!("HTTP {status}"),
        };
        tracing::warn!(%status, message, "Telnyx refused a request");
        Err(classify(status, message))
    }

    async fn read<T: serde::de::DeserializeOwned>(
        &self,
        response: reqwest::Response,
        what: &str,
    ) -> Result<T, ProviderError> {
        crate::read_json("Telnyx", response, what).await
    }

    /// A GET, asked once more when Telnyx is down ([`crate::read_retrying`]).
    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        what: &str,
    ) -> Result<T, ProviderError> {
        let url = self.url(path);
        let response = crate::read_retrying(|| self.send(self.http.get(&url).query(query))).await?;
        self.read(response, what).await
    }

    /// The account's record of `number`, if it holds it.
    async fn owned(&self, number: &E164) -> Result<Option<Owned>, ProviderError> {
        let listed: Listed<Owned> = self
            .get(
                "phone_numbers",
                &[("filter[phone_number]", number.to_string())],
                "number list",
            )
            .await?;
        Ok(listed
            .data
            .into_iter()
            .find(|owned| owned.phone_number == number.as_str()))
    }

    /// The TeXML application named [`APPLICATION_NAME`], if the account has one.
    async fn find_application(&self) -> Result<Option<Application>, ProviderError> {
        let listed: Listed<Application> = self
            .get(
                "texml_applications",
                &[("filter[friendly_name]", APPLICATION_NAME.to_owned())],
                "application list",
            )
            .await?;
        Ok(listed.data.into_iter().next())
    }

    /// The id of the TeXML application that sends calls to Switchboard: found, corrected when
    /// its URLs are not these, or created.
    async fn application(&self, voice: &VoiceUrls) -> Result<String, ProviderError> {
        if let Some(id) = self.application.lock().ok().and_then(|a| a.clone()) {
            return Ok(id);
        }
        let mut body = json!({
            "friendly_name": APPLICATION_NAME,
            "voice_url": voice.voice_url,
            "voice_method": "post",
            "status_callback": voice.status_callback,
            "status_callback_method": "post",
        });
        if let Some(fallback) = &voice.fallback_url {
            body["voice_fallback_url"] = json!(fallback);
        }
        let id = match self.find_application().await? {
            Some(found)
                if found.voice_url.as_deref() == Some(voice.voice_url.as_str())
                    && found.status_callback.as_deref() == Some(voice.status_callback.as_str())
                    && found
                        .voice_fallback_url
                        .as_deref()
                        .filter(|u| !u.is_empty())
                        == voice.fallback_url.as_deref() =>
            {
                found.id
            }
            Some(found) => {
                let response = self
                    .send(
                        self.http
                            .patch(self.url(&format!("texml_applications/{}", found.id)))
                            .json(&body),
                    )
                    .await?;
                let updated: One<Application> = self.read(response, "application").await?;
                updated.data.id
            }
            None => {
                let response = self
                    .send(self.http.post(self.url("texml_applications")).json(&body))
                    .await?;
                let created: One<Application> = self.read(response, "application").await?;
                created.data.id
            }
        };
        if let Ok(mut cached) = self.application.lock() {
            *cached = Some(id.clone());
        }
        Ok(id)
    }

    /// Asks for the order again until it succeeds (`Ok(None)`) or fails, for at most the
    /// configured wait; still pending then, `Ok(Some(order id))`.
    async fn settle(&self, mut order: Order) -> Result<Option<String>, ProviderError> {
        let started = Instant::now();
        loop {
            match order.status.as_str() {
                "success" => return Ok(None),
                "failure" => {
                    return Err(ProviderError::Rejected(format!(
                        "Telnyx could not complete number order {}",
                        order.id
                    )));
                }
                _ if started.elapsed() >= self.config.order_wait => {
                    if order.requirements_met == Some(false) {
                        return Err(ProviderError::RegulatoryRequirement(format!(
                            "number order {} waits for regulatory documents the account has not given",
                            order.id
                        )));
                    }
                    return Ok(Some(order.id));
                }
                _ => {}
            }
            tokio::time::sleep(self.config.order_poll).await;
            let asked: One<Order> = self
                .get(&format!("number_orders/{}", order.id), &[], "number order")
                .await?;
            order = asked.data;
        }
    }
}

#[async_trait]
impl Provider for TelnyxProvider {
    fn id(&self) -> &'static str {
        Self::ID
    }

    async fn search(&self, search: &NumberSearch) -> Result<Vec<Offer>, ProviderError> {
        let mut query = vec![
            ("filter[country_code]", search.country_iso.clone()),
            ("filter[limit]", SEARCH_LIMIT.to_string()),
        ];
        if let Some(number_type) = search.number_type {
            query.push((
                "filter[phone_number_type]",
                filter_type(number_type).to_owned(),
            ));
        }
        if let Some(area) = &search.area_code {
            query.push(("filter[national_destination_code]", area.clone()));
        }
        if let Some(digits) = &search.contains {
            query.push(("filter[phone_number][contains]", digits.clone()));
        }
        let listed: Listed<Available> = self
            .get("available_phone_numbers", &query, "search answer")
            .await?;
        let mut offers = Vec::new();
        for available in listed.data {
            let Some(number) = available
                .phone_number
                .as_deref()
                .and_then(|n| E164::parse(n).ok())
            else {
                continue;
            };
            let cost = available.cost_information.ok_or_else(|| {
                ProviderError::Unavailable(format!("Telnyx offered {number} without a price"))
            })?;
            if let Some(currency) = cost.currency.as_deref()
                && !currency.eq_ignore_ascii_case("USD")
            {
                return Err(ProviderError::Unavailable(format!(
                    "Telnyx prices {number} in {currency}; Switchboard keeps US dollars"
                )));
            }
            let price = |text: Option<String>| {
                text.as_deref()
                    .map_or(Some(Money::ZERO), money_from_decimal)
                    .ok_or_else(|| {
                        ProviderError::Unavailable(format!("Telnyx priced {number} unreadably"))
                    })
            };
            let has = |name: &str| available.features.iter().any(|f| f.name == name);
            let offer = Offer {
                number_type: search.number_type.unwrap_or_else(|| number.derived_type()),
                monthly_cost: price(cost.monthly_cost)?,
                setup_cost: price(cost.upfront_cost)?,
                voice: has("voice"),
                sms: has("sms"),
                mms: has("mms"),
                number,
            };
            if search.matches(&offer) {
                offers.push(offer);
            }
        }
        Ok(offers)
    }

    async fn buy(&self, number: &E164) -> Result<Offer, ProviderError> {
        let offer = self
            .search(&NumberSearch {
                contains: Some(number.national_digits().to_owned()),
                ..NumberSearch::country(number.country_code())
            })
            .await?
            .into_iter()
            .find(|offer| offer.number == *number)
            .ok_or(ProviderError::NotOffered)?;
        let mut body = json!({
            "phone_numbers": [{"phone_number": number.as_str()}],
            "customer_reference": order_reference(number),
        });
        if let Some(voice) = &self.config.voice {
            body["connection_id"] = json!(self.application(voice).await?);
        }
        let response = self
            .send(self.http.post(self.url("number_orders")).json(&body))
            .await?;
        let order: One<Order> = self.read(response, "number order").await?;
        match self.settle(order.data).await? {
            None => Ok(offer),
            Some(order) => Err(ProviderError::OrderPending {
                order,
                offer: Box::new(offer),
            }),
        }
    }

    /// The orders Switchboard placed for `number` carry `switchboard {number}` as their
    /// customer reference: one that succeeded means the number is the account's.
    async fn order_state(&self, number: &E164) -> Result<OrderState, ProviderError> {
        let listed: Listed<Order> = self
            .get(
                "number_orders",
                &[("filter[customer_reference]", order_reference(number))],
                "order list",
            )
            .await?;
        let has = |status: &str| listed.data.iter().any(|o| o.status == status);
        Ok(if has("success") {
            OrderState::Completed
        } else if has("pending") {
            OrderState::Pending
        } else if has("failure") {
            OrderState::Failed
        } else {
            OrderState::NoOrder
        })
    }

    async fn release(&self, number: &E164) -> Result<(), ProviderError> {
        let owned = self.owned(number).await?.ok_or(ProviderError::NotOffered)?;
        self.send(
            self.http
                .delete(self.url(&format!("phone_numbers/{}", owned.id))),
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

    /// Telnyx's list of owned numbers carries no price: they are listed at 0.00 a month.
    /// A number's calls go where its connection sends them: Switchboard's voice URL when the
    /// connection is the Switchboard TeXML application, else `telnyx connection {id}`.
    async fn held_numbers(&self) -> Result<Vec<HeldNumber>, ProviderError> {
        let ours = match &self.config.voice {
            Some(_) => self.find_application().await?,
            None => None,
        };
        let mut held = Vec::new();
        for page in 1.. {
            let listed: Listed<Owned> = self
                .get(
                    "phone_numbers",
                    &[
                        ("page[number]", page.to_string()),
                        ("page[size]", LIST_PAGE_SIZE.to_string()),
                    ],
                    "number list",
                )
                .await?;
            let read = listed.data.len();
            for owned in listed.data {
                let number = E164::parse(&owned.phone_number).map_err(|_| {
                    ProviderError::Unavailable(format!(
                        "Telnyx listed {}, which is not a phone number",
                        owned.phone_number
                    ))
                })?;
                let voice_url =
                    owned
                        .connection_id
                        .filter(|c| !c.is_empty())
                        .map(|c| match &ours {
                            Some(app) if app.id == c => app.voice_url.clone().unwrap_or_default(),
                            _ => format!("telnyx connection {c}"),
                        });
                held.push(HeldNumber {
                    offer: Offer {
                        number_type: owned_type(owned.phone_number_type.as_deref(), &number),
                        number,
                        monthly_cost: Money::ZERO,
                        setup_cost: Money::ZERO,
                        voice: true,
                        sms: false,
                        mms: false,
                    },
                    voice_url,
                });
            }
            if held.len() > crate::HELD_NUMBERS_MAX {
                return Err(crate::too_many_held());
            }
            let pages = listed.meta.and_then(|m| m.total_pages).unwrap_or(1);
            if read == 0 || page >= pages {
                break;
            }
        }
        Ok(held)
    }

    async fn configure_voice(&self, number: &E164) -> Result<(), ProviderError> {
        let Some(voice) = &self.config.voice else {
            return Err(ProviderError::Rejected(
                "Switchboard's public URL is not set (--public-url), so Telnyx cannot be told where to send calls".into(),
            ));
        };
        let application = self.application(voice).await?;
        let owned = self.owned(number).await?.ok_or(ProviderError::NotOffered)?;
        self.send(
            self.http
                .patch(self.url(&format!("phone_numbers/{}", owned.id)))
                .json(&json!({"connection_id": application})),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_key() {
        let config = TelnyxConfig {
            api_key: "KEY-canary-123".into(),
            base_url: "https://api.telnyx.com/v2".into(),
            timeout: Duration::from_secs(1),
            order_wait: Duration::from_secs(1),
            order_poll: Duration::from_millis(100),
            voice: None,
        };
        assert!(!format!("{config:?}").contains("KEY-canary-123"));
    }

    #[test]
    fn telnyxs_refusals_are_named() {
        let unprocessable = reqwest::StatusCode::UNPROCESSABLE_ENTITY;
        assert!(matches!(
            classify(
                unprocessable,
                "Insufficient balance to place this order".into()
            ),
            ProviderError::InsufficientFunds(_)
        ));
        assert!(matches!(
            classify(unprocessable, "This number requires an address".into()),
            ProviderError::RegulatoryRequirement(_)
        ));
        assert!(matches!(
            classify(
                reqwest::StatusCode::NOT_FOUND,
                "Resource not found (10005)".into()
            ),
            ProviderError::NotOffered
        ));
        assert!(matches!(
            classify(reqwest::StatusCode::BAD_GATEWAY, "x".into()),
            ProviderError::Unavailable(_)
        ));
    }
}
