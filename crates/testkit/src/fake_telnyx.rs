//! A stateful fake of Telnyx's REST API v2 for numbers and TeXML applications, in the shapes
//! of Telnyx's published OpenAPI document (the tests put [`crate::ValidatingProxy`] in front
//! of it to prove that). Number orders complete asynchronously, as Telnyx's do: how an order
//! goes is set with [`OrderOutcome`]; failures with [`Failure`].

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const API_KEY: &str = "KEYfaketelnyx0123456789";

const CREATED_AT: &str = "2026-11-30T12:00:00Z";

/// How the next number orders go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderOutcome {
    /// Complete at once.
    Immediate,
    /// Pending, complete after being asked this many times.
    SucceedAfter(u32),
    /// Pending, fail after being asked this many times.
    FailAfter(u32),
    /// Pending for good, waiting for regulatory documents (`requirements_met: false`).
    AwaitDocuments,
}

/// What the fake does instead of its job, until told otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// An order: the account's balance cannot pay (422).
    InsufficientFunds,
    /// Every request: 500.
    Broken,
    /// Every request sleeps this long first.
    Slow(Duration),
}

/// A number the account holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owned {
    pub id: String,
    pub number: String,
    pub number_type: &'static str,
    pub connection_id: Option<String>,
}

#[derive(Clone, Debug)]
struct Order {
    id: String,
    /// The number's id within the order.
    number_id: String,
    number: String,
    number_type: &'static str,
    connection_id: Option<String>,
    customer_reference: Option<String>,
    status: &'static str,
    asked: u32,
    outcome: OrderOutcome,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Application {
    pub id: String,
    pub voice_url: String,
    pub status_callback: Option<String>,
    pub voice_fallback_url: Option<String>,
}

#[derive(Debug)]
struct Inner {
    /// Numbers for sale: (number, type).
    stock: Vec<(String, &'static str)>,
    owned: Vec<Owned>,
    orders: Vec<Order>,
    applications: Vec<Application>,
    outcome: OrderOutcome,
    failure: Option<Failure>,
    requests: Vec<String>,
    next_id: u64,
}

/// The fake's state, shared with the test.
#[derive(Clone, Debug)]
pub struct FakeTelnyx {
    inner: Arc<Mutex<Inner>>,
    pub url: String,
}

/// Telnyx's pages go up to 250; the fake's hold 2, so listing the account needs its paging.
const FAKE_PAGE_SIZE: usize = 2;

impl FakeTelnyx {
    /// Starts the fake with US local and toll-free numbers for sale.
    pub async fn start() -> Self {
        let mut stock = Vec::new();
        for i in 0..6 {
            stock.push((format!("+1312555{:04}", 100 + i), "local"));
        }
        for i in 0..3 {
            stock.push((format!("+1888555{:04}", 100 + i), "toll_free"));
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let fake = Self {
            inner: Arc::new(Mutex::new(Inner {
                stock,
                owned: Vec::new(),
                orders: Vec::new(),
                applications: Vec::new(),
                outcome: OrderOutcome::Immediate,
                failure: None,
                requests: Vec::new(),
                next_id: 0,
            })),
            url,
        };
        let app = Router::new()
            .route("/available_phone_numbers", get(available))
            .route("/number_orders", get(list_orders).post(create_order))
            .route("/number_orders/{id}", get(get_order))
            .route("/phone_numbers", get(list_owned))
            .route(
                "/phone_numbers/{id}",
                get(get_owned).patch(update_owned).delete(delete_owned),
            )
            .route(
                "/texml_applications",
                get(list_applications).post(create_application),
            )
            .route(
                "/texml_applications/{id}",
                get(get_application).patch(update_application),
            )
            .with_state(fake.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        fake
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap())
    }

    pub fn orders_go(&self, outcome: OrderOutcome) {
        self.with(|inner| inner.outcome = outcome);
    }

    /// Completes every pending order: `succeed` or fail (what Telnyx does in its own time).
    pub fn finish_orders(&self, succeed: bool) {
        self.with(|inner| {
            for index in 0..inner.orders.len() {
                if inner.orders[index].status != "pending" {
                    continue;
                }
                if succeed {
                    complete(inner, index);
                } else {
                    inner.orders[index].status = "failure";
                    let returned = (
                        inner.orders[index].number.clone(),
                        inner.orders[index].number_type,
                    );
                    inner.stock.insert(0, returned);
                }
            }
        });
    }

    pub fn fail(&self, failure: Option<Failure>) {
        self.with(|inner| inner.failure = failure);
    }

    pub fn owned(&self) -> Vec<Owned> {
        self.with(|inner| inner.owned.clone())
    }

    pub fn applications(&self) -> Vec<Application> {
        self.with(|inner| inner.applications.clone())
    }

    /// Gives the account a number bought outside Switchboard, on no connection.
    pub fn hold(&self, number: &str, number_type: &'static str) {
        self.with(|inner| {
            let id = next_id(inner);
            inner.owned.push(Owned {
                id,
                number: number.to_owned(),
                number_type,
                connection_id: None,
            });
        });
    }

    /// Assigns a held number to another connection (changed in the Telnyx portal).
    pub fn set_connection(&self, number: &str, connection: Option<&str>) {
        self.with(|inner| {
            for owned in inner.owned.iter_mut().filter(|o| o.number == number) {
                owned.connection_id = connection.map(str::to_owned);
            }
        });
    }

    pub fn requests(&self) -> Vec<String> {
        self.with(|inner| inner.requests.clone())
    }

    async fn gate(&self, headers: &HeaderMap, request: String, ordering: bool) -> Option<Response> {
        let failure = self.with(|inner| {
            inner.requests.push(request);
            inner.failure
        });
        let expected = format!("Bearer {API_KEY}");
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
            return Some(error(
                StatusCode::UNAUTHORIZED,
                "10009",
                "Authentication failed",
                "The required authentication headers were either invalid or not included in the request.",
            ));
        }
        match failure {
            Some(Failure::Broken) => Some(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "10007",
                "Unexpected error",
                "An unexpected error occured.",
            )),
            Some(Failure::Slow(delay)) => {
                tokio::time::sleep(delay).await;
                None
            }
            Some(Failure::InsufficientFunds) if ordering => Some(error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "20100",
                "Insufficient funds",
                "Your account balance is too low to place this order.",
            )),
            _ => None,
        }
    }
}

fn next_id(inner: &mut Inner) -> String {
    inner.next_id += 1;
    format!("{}", 1_293_384_261_075_731_000 + inner.next_id)
}

fn uuid(inner: &mut Inner) -> String {
    inner.next_id += 1;
    format!("12ade33a-21c0-473b-b055-{:012x}", inner.next_id)
}

fn error(status: StatusCode, code: &str, title: &str, detail: &str) -> Response {
    (
        status,
        axum::Json(json!({"errors": [{"code": code, "title": title, "detail": detail}]})),
    )
        .into_response()
}

fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "10005",
        "Resource not found",
        "The requested resource or URL could not be found.",
    )
}

fn described(query: &HashMap<String, String>) -> String {
    let mut pairs: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.sort();
    pairs.join("&")
}

async fn available(
    State(fake): State<FakeTelnyx>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(answer) = fake
        .gate(
            &headers,
            format!("GET /available_phone_numbers?{}", described(&query)),
            false,
        )
        .await
    {
        return answer;
    }
    let limit: usize = query
        .get("filter[limit]")
        .and_then(|l| l.parse().ok())
        .unwrap_or(50);
    let data: Vec<Value> = fake.with(|inner| {
        inner
            .stock
            .iter()
            .filter(|_| query.get("filter[country_code]").is_none_or(|c| c == "US"))
            .filter(|(_, t)| query.get("filter[phone_number_type]").is_none_or(|w| w == t))
            .filter(|(n, _)| {
                query
                    .get("filter[national_destination_code]")
                    .is_none_or(|ndc| n[2..].starts_with(ndc.as_str()))
            })
            .filter(|(n, _)| {
                query
                    .get("filter[phone_number][contains]")
                    .is_none_or(|digits| n[2..].contains(digits.as_str()))
            })
            .take(limit)
            .map(|(n, t)| {
                let monthly = if *t == "toll_free" { "2.00" } else { "1.00" };
                json!({
                    "record_type": "available_phone_number",
                    "phone_number": n,
                    "best_effort": false,
                    "quickship": true,
                    "reservable": true,
                    "region_information": [{"region_type": "country_code", "region_name": "US"}],
                    "cost_information": {"monthly_cost": monthly, "upfront_cost": "1.00", "currency": "USD"},
                    "features": [{"name": "voice"}, {"name": "sms"}],
                })
            })
            .collect()
    });
    let total = data.len();
    axum::Json(json!({"data": data, "meta": {"total_results": total, "best_effort_results": 0}}))
        .into_response()
}

fn order_object(order: &Order) -> Value {
    let mut object = json!({
        "id": order.id,
        "record_type": "number_order",
        "status": order.status,
        "phone_numbers_count": 1,
        "requirements_met": order.outcome != OrderOutcome::AwaitDocuments,
        "created_at": CREATED_AT,
        "updated_at": CREATED_AT,
        "phone_numbers": [{
            "id": order.number_id,
            "record_type": "number_order_phone_number",
            "phone_number": order.number,
            "status": order.status,
        }],
    });
    if let Some(connection) = &order.connection_id {
        object["connection_id"] = json!(connection);
    }
    if let Some(reference) = &order.customer_reference {
        object["customer_reference"] = json!(reference);
    }
    object
}

/// The order completes: the number leaves the stock for the account.
fn complete(inner: &mut Inner, index: usize) {
    let order = inner.orders[index].clone();
    inner.orders[index].status = "success";
    let id = next_id(inner);
    inner.owned.push(Owned {
        id,
        number: order.number.clone(),
        number_type: order.number_type,
        connection_id: order.connection_id.clone(),
    });
}

async fn create_order(
    State(fake): State<FakeTelnyx>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(answer) = fake
        .gate(&headers, format!("POST /number_orders {body}"), true)
        .await
    {
        return answer;
    }
    let Some(wanted) = body["phone_numbers"][0]["phone_number"].as_str() else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "10004",
            "Missing required parameter",
            "phone_numbers is required",
        );
    };
    let order = fake.with(|inner| {
        let position = inner.stock.iter().position(|(n, _)| n == wanted)?;
        let (number, number_type) = inner.stock.remove(position);
        let id = uuid(inner);
        let number_id = uuid(inner);
        let outcome = inner.outcome;
        inner.orders.push(Order {
            id,
            number_id,
            number,
            number_type,
            connection_id: body["connection_id"].as_str().map(str::to_owned),
            customer_reference: body["customer_reference"].as_str().map(str::to_owned),
            status: "pending",
            asked: 0,
            outcome,
        });
        let index = inner.orders.len() - 1;
        if outcome == OrderOutcome::Immediate {
            complete(inner, index);
        }
        Some(inner.orders[index].clone())
    });
    match order {
        Some(order) => axum::Json(json!({"data": order_object(&order)})).into_response(),
        None => error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "85001",
            "Number not available",
            "The phone number is not available for purchase.",
        ),
    }
}

async fn get_order(
    State(fake): State<FakeTelnyx>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(answer) = fake
        .gate(&headers, format!("GET /number_orders/{id}"), false)
        .await
    {
        return answer;
    }
    let order = fake.with(|inner| {
        let index = inner.orders.iter().position(|o| o.id == id)?;
        inner.orders[index].asked += 1;
        let order = inner.orders[index].clone();
        if order.status == "pending" {
            match order.outcome {
                OrderOutcome::SucceedAfter(n) if order.asked >= n => complete(inner, index),
                OrderOutcome::FailAfter(n) if order.asked >= n => {
                    inner.orders[index].status = "failure";
                    // The number goes back on sale.
                    let returned = (order.number.clone(), order.number_type);
                    inner.stock.insert(0, returned);
                }
                _ => {}
            }
        }
        Some(inner.orders[index].clone())
    });
    match order {
        Some(order) => axum::Json(json!({"data": order_object(&order)})).into_response(),
        None => not_found(),
    }
}

async fn list_orders(
    State(fake): State<FakeTelnyx>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(answer) = fake
        .gate(
            &headers,
            format!("GET /number_orders?{}", described(&query)),
            false,
        )
        .await
    {
        return answer;
    }
    let data: Vec<Value> = fake.with(|inner| {
        inner
            .orders
            .iter()
            .filter(|o| {
                query
                    .get("filter[customer_reference]")
                    .is_none_or(|r| o.customer_reference.as_ref() == Some(r))
            })
            .map(order_object)
            .collect()
    });
    let total = data.len();
    axum::Json(json!({"data": data, "meta": {"page_number": 1, "page_size": 20, "total_pages": 1, "total_results": total}}))
        .into_response()
}

fn owned_object(owned: &Owned) -> Value {
    json!({
        "id": owned.id,
        "record_type": "phone_number",
        "phone_number": owned.number,
        "country_iso_alpha2": "US",
        "status": "active",
        "tags": [],
        "external_pin": null,
        "created_at": CREATED_AT,
        "phone_number_type": owned.number_type,
        "purchased_at": CREATED_AT,
        "deletion_lock_enabled": false,
        "connection_id": owned.connection_id,
    })
}

async fn list_owned(
    State(fake): State<FakeTelnyx>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(answer) = fake
        .gate(
            &headers,
            format!("GET /phone_numbers?{}", described(&query)),
            false,
        )
        .await
    {
        return answer;
    }
    let page: usize = query
        .get("page[number]")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1);
    let matching: Vec<Owned> = fake.with(|inner| {
        inner
            .owned
            .iter()
            .filter(|o| {
                query
                    .get("filter[phone_number]")
                    .is_none_or(|n| &o.number == n)
            })
            .cloned()
            .collect()
    });
    let pages = matching.len().div_ceil(FAKE_PAGE_SIZE).max(1);
    let data: Vec<Value> = matching
        .iter()
        .skip((page.max(1) - 1) * FAKE_PAGE_SIZE)
        .take(FAKE_PAGE_SIZE)
        .map(owned_object)
        .collect();
    axum::Json(json!({
        "data": data,
        "meta": {"page_number": page, "page_size": FAKE_PAGE_SIZE, "total_pages": pages, "total_results": matching.len()},
    }))
    .into_response()
}

async fn get_owned(
    State(fake): State<FakeTelnyx>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(answer) = fake
        .gate(&headers, format!("GET /phone_numbers/{id}"), false)
        .await
    {
        return answer;
    }
    match fake.with(|inner| inner.owned.iter().find(|o| o.id == id).cloned()) {
        Some(owned) => axum::Json(json!({"data": owned_object(&owned)})).into_response(),
        None => not_found(),
    }
}

async fn update_owned(
    State(fake): State<FakeTelnyx>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(answer) = fake
        .gate(&headers, format!("PATCH /phone_numbers/{id} {body}"), false)
        .await
    {
        return answer;
    }
    let updated = fake.with(|inner| {
        let owned = inner.owned.iter_mut().find(|o| o.id == id)?;
        if let Some(connection) = body.get("connection_id") {
            owned.connection_id = connection.as_str().map(str::to_owned);
        }
        Some(owned.clone())
    });
    match updated {
        Some(owned) => axum::Json(json!({"data": owned_object(&owned)})).into_response(),
        None => not_found(),
    }
}

async fn delete_owned(
    State(fake): State<FakeTelnyx>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(answer) = fake
        .gate(&headers, format!("DELETE /phone_numbers/{id}"), false)
        .await
    {
        return answer;
    }
    let deleted = fake.with(|inner| {
        let position = inner.owned.iter().position(|o| o.id == id)?;
        Some(inner.owned.remove(position))
    });
    match deleted {
        Some(owned) => axum::Json(json!({"data": {
            "id": owned.id,
            "record_type": "phone_number",
            "phone_number": owned.number,
            "status": "deleted",
        }}))
        .into_response(),
        None => not_found(),
    }
}

fn application_object(app: &Application) -> Value {
    let mut object = json!({
        "id": app.id,
        "record_type": "texml_application",
        "friendly_name": "Switchboard",
        "active": true,
        "voice_url": app.voice_url,
        "voice_method": "post",
        "status_callback_method": "post",
        "created_at": CREATED_AT,
        "updated_at": CREATED_AT,
    });
    // Absent rather than null: the document types these URLs as strings.
    if let Some(url) = &app.status_callback {
        object["status_callback"] = json!(url);
    }
    if let Some(url) = &app.voice_fallback_url {
        object["voice_fallback_url"] = json!(url);
    }
    object
}

async fn list_applications(
    State(fake): State<FakeTelnyx>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(answer) = fake
        .gate(
            &headers,
            format!("GET /texml_applications?{}", described(&query)),
            false,
        )
        .await
    {
        return answer;
    }
    let data: Vec<Value> =
        fake.with(|inner| inner.applications.iter().map(application_object).collect());
    let total = data.len();
    axum::Json(json!({"data": data, "meta": {"page_number": 1, "page_size": 20, "total_pages": 1, "total_results": total}}))
        .into_response()
}

fn application_from(body: &Value, id: String) -> Application {
    Application {
        id,
        voice_url: body["voice_url"].as_str().unwrap_or_default().to_owned(),
        status_callback: body["status_callback"].as_str().map(str::to_owned),
        voice_fallback_url: body["voice_fallback_url"].as_str().map(str::to_owned),
    }
}

async fn create_application(
    State(fake): State<FakeTelnyx>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(answer) = fake
        .gate(&headers, format!("POST /texml_applications {body}"), false)
        .await
    {
        return answer;
    }
    let app = fake.with(|inner| {
        let id = next_id(inner);
        let app = application_from(&body, id);
        inner.applications.push(app.clone());
        app
    });
    (
        StatusCode::CREATED,
        axum::Json(json!({"data": application_object(&app)})),
    )
        .into_response()
}

async fn get_application(
    State(fake): State<FakeTelnyx>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(answer) = fake
        .gate(&headers, format!("GET /texml_applications/{id}"), false)
        .await
    {
        return answer;
    }
    match fake.with(|inner| inner.applications.iter().find(|a| a.id == id).cloned()) {
        Some(app) => axum::Json(json!({"data": application_object(&app)})).into_response(),
        None => not_found(),
    }
}

async fn update_application(
    State(fake): State<FakeTelnyx>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(answer) = fake
        .gate(
            &headers,
            format!("PATCH /texml_applications/{id} {body}"),
            false,
        )
        .await
    {
        return answer;
    }
    let updated = fake.with(|inner| {
        let app = inner.applications.iter_mut().find(|a| a.id == id)?;
        *app = application_from(&body, id.clone());
        Some(app.clone())
    });
    match updated {
        Some(app) => axum::Json(json!({"data": application_object(&app)})).into_response(),
        None => not_found(),
    }
}
