//! A stateful fake of Twilio's REST API for numbers (API v2010) and of its Pricing API, in the
//! shapes of Twilio's published OpenAPI document (the tests put [`crate::ValidatingProxy`]
//! in front of it to prove that). It holds a stock of numbers to sell and the account's
//! numbers with their voice URLs, and plays Twilio's failures on demand ([`Failure`]).
//!
//! The Pricing API (`/v1/PhoneNumbers/Countries/{country}`) is not in the vendored document;
//! it is served here in the shape of Twilio's pricing reference, unchecked.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const ACCOUNT_SID: &str = "AC0123456789abcdef0123456789abcdef";
pub const AUTH_TOKEN: &str = "fake-twilio-auth-token";

/// What the fake does instead of its job, until told otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// A purchase: the number was sold to someone else (21422).
    OutOfStock,
    /// A purchase: the account is suspended for lack of funds (20005, 401).
    InsufficientFunds,
    /// A purchase: the number needs an address on file (21631).
    AddressRequired,
    /// Every request: 500.
    Broken,
    /// Every request sleeps this long first (past the adapter's timeout).
    Slow(Duration),
}

/// A number on sale or held by the account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeNumber {
    pub number: String,
    /// `Local`, `Mobile` or `TollFree`, as Twilio's paths name them.
    pub kind: &'static str,
    pub voice: bool,
    pub sms: bool,
}

/// A number the account holds, with its voice configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldNumber {
    pub sid: String,
    pub number: FakeNumber,
    pub voice_url: Option<String>,
    pub voice_fallback_url: Option<String>,
    pub status_callback: Option<String>,
}

#[derive(Debug, Default)]
struct Inner {
    stock: Vec<FakeNumber>,
    held: Vec<HeldNumber>,
    failure: Option<Failure>,
    /// `METHOD path?query body`, in arrival order.
    requests: Vec<String>,
    next_sid: u32,
}

/// The fake's state, shared with the test.
#[derive(Clone, Debug)]
pub struct FakeTwilio {
    inner: Arc<Mutex<Inner>>,
    /// Where it listens (`http://127.0.0.1:PORT`).
    pub url: String,
}

/// Twilio's largest page is 1000; the fake's is 2, so listing the account needs its paging.
const FAKE_PAGE_SIZE: usize = 2;

impl FakeTwilio {
    /// Starts the fake with a stock of US local and toll-free numbers and GB local numbers.
    pub async fn start() -> Self {
        let mut stock = Vec::new();
        for i in 0..8 {
            stock.push(FakeNumber {
                number: format!("+1415555{:04}", 100 + i),
                kind: "Local",
                voice: true,
                sms: i % 2 == 0,
            });
        }
        for i in 0..4 {
            stock.push(FakeNumber {
                number: format!("+1212555{:04}", 100 + i),
                kind: "Local",
                voice: true,
                sms: true,
            });
            stock.push(FakeNumber {
                number: format!("+1800555{:04}", 100 + i),
                kind: "TollFree",
                voice: true,
                sms: false,
            });
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let fake = Self {
            inner: Arc::new(Mutex::new(Inner {
                stock,
                ..Inner::default()
            })),
            url,
        };
        let account = "/2010-04-01/Accounts/{account}";
        let app = Router::new()
            .route(
                &format!("{account}/AvailablePhoneNumbers/{{country}}/{{kind}}"),
                get(available),
            )
            .route(
                &format!("{account}/IncomingPhoneNumbers.json"),
                get(list_incoming).post(buy),
            )
            .route(
                &format!("{account}/IncomingPhoneNumbers/{{item}}"),
                get(list_or_fetch).post(update).delete(release),
            )
            .route("/v1/PhoneNumbers/Countries/{country}", get(prices))
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        fake
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap())
    }

    pub fn fail(&self, failure: Option<Failure>) {
        self.with(|inner| inner.failure = failure);
    }

    /// The account's numbers now.
    pub fn held(&self) -> Vec<HeldNumber> {
        self.with(|inner| inner.held.clone())
    }

    /// Gives the account a number it bought elsewhere (outside Switchboard), with no voice URL.
    pub fn hold(&self, number: &str, kind: &'static str) {
        self.with(|inner| {
            let sid = next_sid(inner);
            inner.held.push(HeldNumber {
                sid,
                number: FakeNumber {
                    number: number.to_owned(),
                    kind,
                    voice: true,
                    sms: true,
                },
                voice_url: None,
                voice_fallback_url: None,
                status_callback: None,
            });
        });
    }

    /// Points a held number's calls at `url` (someone changed it in Twilio's console).
    pub fn set_voice_url(&self, number: &str, url: Option<&str>) {
        self.with(|inner| {
            for held in inner.held.iter_mut().filter(|h| h.number.number == number) {
                held.voice_url = url.map(str::to_owned);
            }
        });
    }

    /// Takes a number away from the account (released in Twilio's console, say).
    pub fn forget(&self, number: &str) {
        self.with(|inner| inner.held.retain(|h| h.number.number != number));
    }

    /// Every request received, `METHOD path?query body`.
    pub fn requests(&self) -> Vec<String> {
        self.with(|inner| inner.requests.clone())
    }

    /// Records the request and answers what the account's auth or a failure demands.
    async fn gate(&self, headers: &HeaderMap, request: String, buying: bool) -> Option<Response> {
        let failure = self.with(|inner| {
            inner.requests.push(request);
            inner.failure
        });
        let expected = format!(
            "Basic {}",
            base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                format!("{ACCOUNT_SID}:{AUTH_TOKEN}")
            )
        );
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
            return Some(error(StatusCode::UNAUTHORIZED, 20003, "Authenticate"));
        }
        match failure {
            Some(Failure::Broken) => Some(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                20500,
                "An internal server error has occurred",
            )),
            Some(Failure::Slow(delay)) => {
                tokio::time::sleep(delay).await;
                None
            }
            Some(Failure::OutOfStock) if buying => Some(error(
                StatusCode::BAD_REQUEST,
                21422,
                "Phone number is not available",
            )),
            Some(Failure::InsufficientFunds) if buying => {
                Some(error(StatusCode::UNAUTHORIZED, 20005, "Account not active"))
            }
            Some(Failure::AddressRequired) if buying => Some(error(
                StatusCode::BAD_REQUEST,
                21631,
                "Phone Number Requires an Address: to purchase this number you must supply the Address of the user of this phone number",
            )),
            _ => None,
        }
    }
}

fn next_sid(inner: &mut Inner) -> String {
    inner.next_sid += 1;
    format!("PN{:032x}", inner.next_sid)
}

/// Twilio's error body.
fn error(status: StatusCode, code: u32, message: &str) -> Response {
    (
        status,
        axum::Json(json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status.as_u16(),
        })),
    )
        .into_response()
}

fn form(body: &Bytes) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn described(query: &HashMap<String, String>) -> String {
    let mut pairs: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.sort();
    pairs.join("&")
}

fn capabilities(number: &FakeNumber) -> Value {
    json!({"voice": number.voice, "sms": number.sms, "mms": false, "fax": false})
}

/// The national digits of a North American or British test number.
fn national(number: &str) -> &str {
    number
        .strip_prefix("+1")
        .or_else(|| number.strip_prefix("+44"))
        .unwrap_or(number)
}

async fn available(
    State(fake): State<FakeTwilio>,
    Path((account, country, kind)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/2010-04-01/Accounts/{account}/AvailablePhoneNumbers/{country}/{kind}");
    if let Some(answer) = fake
        .gate(&headers, format!("GET {path}?{}", described(&query)), false)
        .await
    {
        return answer;
    }
    let kind = kind.trim_end_matches(".json");
    if country != "US" {
        // Twilio answers 404 for a country or type it has no stock of.
        return error(
            StatusCode::NOT_FOUND,
            20404,
            "The requested resource was not found",
        );
    }
    let size: usize = query
        .get("PageSize")
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let held: Vec<String> =
        fake.with(|inner| inner.held.iter().map(|h| h.number.number.clone()).collect());
    let numbers: Vec<Value> = fake.with(|inner| {
        inner
            .stock
            .iter()
            .filter(|n| n.kind == kind && !held.contains(&n.number))
            .filter(|n| {
                query
                    .get("AreaCode")
                    .is_none_or(|area| national(&n.number).starts_with(area.as_str()))
            })
            .filter(|n| {
                query
                    .get("Contains")
                    .is_none_or(|digits| national(&n.number).contains(digits.as_str()))
            })
            .filter(|n| {
                query
                    .get("VoiceEnabled")
                    .is_none_or(|v| v != "true" || n.voice)
            })
            .filter(|n| query.get("SmsEnabled").is_none_or(|v| v != "true" || n.sms))
            .take(size)
            .map(|n| {
                json!({
                    "friendly_name": n.number,
                    "phone_number": n.number,
                    "iso_country": "US",
                    "address_requirements": "none",
                    "beta": false,
                    "capabilities": capabilities(n),
                })
            })
            .collect()
    });
    axum::Json(json!({
        "available_phone_numbers": numbers,
        "uri": format!("{}{path}", fake.url),
    }))
    .into_response()
}

fn incoming_object(held: &HeldNumber) -> Value {
    json!({
        "sid": held.sid,
        "account_sid": ACCOUNT_SID,
        "phone_number": held.number.number,
        "friendly_name": held.number.number,
        "capabilities": capabilities(&held.number),
        "voice_url": held.voice_url,
        "voice_method": "POST",
        "voice_fallback_url": held.voice_fallback_url,
        "voice_fallback_method": "POST",
        "status_callback": held.status_callback,
        "status_callback_method": "POST",
        "status": "in-use",
        "uri": format!("/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers/{}.json", held.sid),
    })
}

/// A page of the account's numbers (of one kind, or all), [`FAKE_PAGE_SIZE`] at a time.
fn incoming_page(
    fake: &FakeTwilio,
    path: &str,
    kind: Option<&str>,
    query: &HashMap<String, String>,
) -> Response {
    let page: usize = query.get("Page").and_then(|s| s.parse().ok()).unwrap_or(0);
    let matching: Vec<HeldNumber> = fake.with(|inner| {
        inner
            .held
            .iter()
            .filter(|h| kind.is_none_or(|k| h.number.kind == k))
            .filter(|h| {
                query
                    .get("PhoneNumber")
                    .is_none_or(|wanted| &h.number.number == wanted)
            })
            .cloned()
            .collect()
    });
    let start = page * FAKE_PAGE_SIZE;
    let objects: Vec<Value> = matching
        .iter()
        .skip(start)
        .take(FAKE_PAGE_SIZE)
        .map(incoming_object)
        .collect();
    let next = (start + FAKE_PAGE_SIZE < matching.len()).then(|| {
        format!(
            "{}{path}?PageSize={FAKE_PAGE_SIZE}&Page={}&PageToken=PA{}",
            fake.url,
            page + 1,
            start + FAKE_PAGE_SIZE
        )
    });
    axum::Json(json!({
        "incoming_phone_numbers": objects,
        "page": page,
        "page_size": FAKE_PAGE_SIZE,
        "start": start,
        "end": start + objects.len(),
        "first_page_uri": format!("{}{path}?PageSize={FAKE_PAGE_SIZE}&Page=0", fake.url),
        "next_page_uri": next,
        "previous_page_uri": null,
        "uri": format!("{}{path}?Page={page}", fake.url),
    }))
    .into_response()
}

async fn list_incoming(
    State(fake): State<FakeTwilio>,
    Path(account): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json");
    if let Some(answer) = fake
        .gate(&headers, format!("GET {path}?{}", described(&query)), false)
        .await
    {
        return answer;
    }
    incoming_page(&fake, &path, None, &query)
}

/// `IncomingPhoneNumbers/{Local|Mobile|TollFree}.json` lists, `IncomingPhoneNumbers/{sid}.json`
/// fetches.
async fn list_or_fetch(
    State(fake): State<FakeTwilio>,
    Path((account, item)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{item}");
    if let Some(answer) = fake
        .gate(&headers, format!("GET {path}?{}", described(&query)), false)
        .await
    {
        return answer;
    }
    let item = item.trim_end_matches(".json");
    if matches!(item, "Local" | "Mobile" | "TollFree") {
        return incoming_page(&fake, &path, Some(item), &query);
    }
    match fake.with(|inner| inner.held.iter().find(|h| h.sid == item).cloned()) {
        Some(held) => axum::Json(incoming_object(&held)).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            20404,
            "The requested resource was not found",
        ),
    }
}

async fn buy(
    State(fake): State<FakeTwilio>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json");
    let fields = form(&body);
    if let Some(answer) = fake
        .gate(
            &headers,
            format!("POST {path} {}", described(&fields)),
            true,
        )
        .await
    {
        return answer;
    }
    let Some(wanted) = fields.get("PhoneNumber") else {
        return error(StatusCode::BAD_REQUEST, 21421, "PhoneNumber is required");
    };
    let bought = fake.with(|inner| {
        let position = inner.stock.iter().position(|n| &n.number == wanted)?;
        let number = inner.stock.remove(position);
        let sid = next_sid(inner);
        let held = HeldNumber {
            sid,
            number,
            voice_url: fields.get("VoiceUrl").cloned(),
            voice_fallback_url: fields.get("VoiceFallbackUrl").cloned(),
            status_callback: fields.get("StatusCallback").cloned(),
        };
        inner.held.push(held.clone());
        Some(held)
    });
    match bought {
        Some(held) => (StatusCode::CREATED, axum::Json(incoming_object(&held))).into_response(),
        None => error(
            StatusCode::BAD_REQUEST,
            21422,
            "Phone number is not available",
        ),
    }
}

async fn update(
    State(fake): State<FakeTwilio>,
    Path((account, item)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = format!("/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{item}");
    let fields = form(&body);
    if let Some(answer) = fake
        .gate(
            &headers,
            format!("POST {path} {}", described(&fields)),
            false,
        )
        .await
    {
        return answer;
    }
    let sid = item.trim_end_matches(".json");
    let updated = fake.with(|inner| {
        let held = inner.held.iter_mut().find(|h| h.sid == sid)?;
        if let Some(url) = fields.get("VoiceUrl") {
            held.voice_url = Some(url.clone());
        }
        if let Some(url) = fields.get("VoiceFallbackUrl") {
            held.voice_fallback_url = Some(url.clone());
        }
        if let Some(url) = fields.get("StatusCallback") {
            held.status_callback = Some(url.clone());
        }
        Some(held.clone())
    });
    match updated {
        Some(held) => axum::Json(incoming_object(&held)).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            20404,
            "The requested resource was not found",
        ),
    }
}

async fn release(
    State(fake): State<FakeTwilio>,
    Path((account, item)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let path = format!("/2010-04-01/Accounts/{account}/IncomingPhoneNumbers/{item}");
    if let Some(answer) = fake.gate(&headers, format!("DELETE {path}"), false).await {
        return answer;
    }
    let sid = item.trim_end_matches(".json");
    let released = fake.with(|inner| {
        let position = inner.held.iter().position(|h| h.sid == sid)?;
        Some(inner.held.remove(position))
    });
    match released {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            20404,
            "The requested resource was not found",
        ),
    }
}

/// Twilio's Pricing API: the monthly price of each type of number of a country.
async fn prices(
    State(fake): State<FakeTwilio>,
    Path(country): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(answer) = fake
        .gate(
            &headers,
            format!("GET /v1/PhoneNumbers/Countries/{country}"),
            false,
        )
        .await
    {
        return answer;
    }
    if country != "US" {
        return error(
            StatusCode::NOT_FOUND,
            20404,
            "The requested resource was not found",
        );
    }
    axum::Json(json!({
        "country": "United States",
        "iso_country": "US",
        "phone_number_prices": [
            {"number_type": "local", "base_price": "1.15", "current_price": "1.15"},
            {"number_type": "toll free", "base_price": "2.15", "current_price": "2.15"},
        ],
        "price_unit": "USD",
        "url": format!("{}/v1/PhoneNumbers/Countries/US", fake.url),
    }))
    .into_response()
}
