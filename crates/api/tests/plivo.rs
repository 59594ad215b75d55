//! The `plivo` provider end to end, against a local fake of Plivo's REST API that answers
//! in the shapes of Plivo's documentation: search, buy, release, its errors and a timeout.

mod common;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use common::TestApp;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_providers::{PlivoConfig, PlivoProvider};

const AUTH_ID: &str = "MAXXXXXXXXXXXXXXXXXX";
const AUTH_TOKEN: &str = "fake-plivo-token";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Normal,
    /// Every call answers 500.
    Broken,
    /// Buying answers 400 with Plivo's error body.
    RefuseBuy,
    /// Every call sleeps past the client's timeout.
    Slow,
}

#[derive(Clone)]
struct Fake {
    mode: Arc<Mutex<Mode>>,
    calls: Arc<Mutex<Vec<String>>>,
}

impl Fake {
    fn mode(&self) -> Mode {
        self.mode.lock().map(|m| *m).unwrap_or(Mode::Normal)
    }
    fn set(&self, mode: Mode) {
        if let Ok(mut m) = self.mode.lock() {
            *m = mode;
        }
    }
    fn calls(&self) -> Vec<String> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }
    async fn gate(&self, headers: &HeaderMap, call: String) -> Option<Response> {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(call);
        }
        // Basic auth: "MAXXXXXXXXXXXXXXXXXX:fake-plivo-token".
        let expected = "Basic TUFYWFhYWFhYWFhYWFhYWFhYWFg6ZmFrZS1wbGl2by10b2tlbg==";
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected) {
            return Some(
                (
                    StatusCode::UNAUTHORIZED,
                    axum::Json(json!({"api_id": "x", "error": "authentication failed"})),
                )
                    .into_response(),
            );
        }
        match self.mode() {
            Mode::Broken => Some(
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    axum::Json(json!({"api_id": "x", "error": "internal error"})),
                )
                    .into_response(),
            ),
            Mode::Slow => {
                tokio::time::sleep(Duration::from_secs(5)).await;
                None
            }
            _ => None,
        }
    }
}

async fn search(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Path(account): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = fake
        .gate(
            &headers,
            format!(
                "search {account} {}{}{}",
                q.get("country_iso").cloned().unwrap_or_default(),
                q.get("pattern")
                    .map(|p| format!(" pattern={p}"))
                    .unwrap_or_default(),
                q.get("services")
                    .map(|s| format!(" services={s}"))
                    .unwrap_or_default(),
            ),
        )
        .await
    {
        return r;
    }
    let objects = if q.get("country_iso").map(String::as_str) == Some("US") {
        json!([
            {"city": "SAN FRANCISCO", "country": "UNITED STATES", "lata": 722, "monthly_rental_rate": "0.80000",
             "number": "14155552671", "prefix": "415", "rate_center": "SNFC CA", "region": "United States",
             "resource_uri": format!("/v1/Account/{AUTH_ID}/PhoneNumber/14155552671/"), "restriction": null,
             "restriction_text": null, "setup_rate": "0.00000", "sms_enabled": true, "sms_rate": "0.00000",
             "type": "fixed", "voice_enabled": true, "voice_rate": "0.00850", "mms_enabled": false},
            {"city": "", "country": "UNITED STATES", "monthly_rental_rate": "1.00000", "number": "18005550142",
             "prefix": "800", "region": "United States", "setup_rate": "0.00000", "sms_enabled": false,
             "type": "tollfree", "voice_enabled": true, "mms_enabled": false}
        ])
    } else {
        json!([])
    };
    // As Plivo documents them: `pattern` matches the digits after the country code from the
    // start; `services` keeps the numbers that carry each service named.
    let pattern = q.get("pattern").cloned().unwrap_or_default();
    let services = q.get("services").cloned().unwrap_or_default();
    let objects: Vec<Value> = objects
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|o| {
            o["number"]
                .as_str()
                .is_some_and(|n| n.starts_with(&format!("1{pattern}")))
                && (!services.contains("sms") || o["sms_enabled"] == json!(true))
                && (!services.contains("voice") || o["voice_enabled"] == json!(true))
        })
        .collect();
    let count = objects.len();
    axum::Json(json!({
        "api_id": "859428b0-1dd2-11e6-b2dd-0242ac110002",
        "meta": {"limit": 20, "next": null, "offset": 0, "previous": null, "total_count": count},
        "objects": objects
    }))
    .into_response()
}

async fn buy(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Path((_, number)): Path<(String, String)>,
) -> Response {
    if let Some(r) = fake.gate(&headers, format!("buy {number}")).await {
        return r;
    }
    if fake.mode() == Mode::RefuseBuy {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"api_id": "x", "error": "number not available for purchase"})),
        )
            .into_response();
    }
    (
        StatusCode::CREATED,
        axum::Json(json!({"api_id": "aa", "message": "created", "numbers": [{"number": number, "status": "Success"}], "status": "fulfilled"})),
    )
        .into_response()
}

async fn release(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Path((_, number)): Path<(String, String)>,
) -> Response {
    if let Some(r) = fake.gate(&headers, format!("release {number}")).await {
        return r;
    }
    StatusCode::NO_CONTENT.into_response()
}

async fn start_fake() -> (Fake, String) {
    let fake = Fake {
        mode: Arc::new(Mutex::new(Mode::Normal)),
        calls: Arc::new(Mutex::new(Vec::new())),
    };
    let app = Router::new()
        .route("/v1/Account/{account}/PhoneNumber/", get(search))
        .route("/v1/Account/{account}/PhoneNumber/{number}/", post(buy))
        .route("/v1/Account/{account}/Number/{number}/", delete(release))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (fake, format!("http://{address}"))
}

async fn app_with_plivo(backend: common::Backend, base_url: String) -> TestApp {
    let plivo = PlivoProvider::new(PlivoConfig {
        auth_id: AUTH_ID.into(),
        auth_token: AUTH_TOKEN.into(),
        base_url,
        timeout: Duration::from_millis(500),
    })
    .expect("client");
    TestApp::with_providers(backend, vec![Arc::new(plivo)]).await
}

#[tokio::test]
async fn search_buy_and_release_through_plivo() {
    for backend in common::backends() {
        let (fake, base) = start_fake().await;
        let app = app_with_plivo(backend, base).await;
        let ws = app.workspace("Acme").await;
        app.enable(&ws.id, &["US"], false).await;
        let token = Some(ws.token.as_str());

        let found = app
            .call(
                "GET",
                "/v1/organization-phone-numbers/plivo-numbers?country_iso=US&provider=plivo",
                token,
                None,
            )
            .await;
        assert_eq!(found.status, StatusCode::OK);
        let objects = found.json()["objects"].clone();
        assert_eq!(objects[0]["number"], json!("+14155552671"));
        assert_eq!(objects[0]["type"], json!("local"));
        assert_eq!(objects[0]["monthly_rental_rate"], json!("0.80"));
        assert_eq!(objects[1]["type"], json!("tollfree"));

        // Filters: the area code and the capability go to Plivo (`pattern`, `services`);
        // digits anywhere, which Plivo cannot ask for, are filtered here.
        let search = |query: &'static str| {
            let (app, token) = (&app, token);
            async move {
                app.call(
                    "GET",
                    &format!("/v1/organization-phone-numbers/plivo-numbers?country_iso=US&provider=plivo{query}"),
                    token,
                    None,
                )
                .await
                .json()
            }
        };
        let toll_free = search("&area_code=800").await;
        assert_eq!(toll_free["meta"]["total_count"], 1);
        assert_eq!(toll_free["objects"][0]["number"], json!("+18005550142"));
        assert!(
            fake.calls()
                .contains(&format!("search {AUTH_ID} US pattern=800")),
            "{:?}",
            fake.calls()
        );
        let texting = search("&capability=sms").await;
        assert_eq!(texting["meta"]["total_count"], 1);
        assert_eq!(texting["objects"][0]["number"], json!("+14155552671"));
        assert!(
            fake.calls().iter().any(|c| c.ends_with("US services=sms")),
            "{:?}",
            fake.calls()
        );
        let digits = search("&contains=2671").await;
        assert_eq!(digits["meta"]["total_count"], 1);
        assert_eq!(digits["objects"][0]["number"], json!("+14155552671"));

        let bought = app
        .call("POST", "/v1/organization-phone-numbers/purchase", token, Some(json!({"phoneNumber": "+14155552671", "telephonyProviderId": "plivo", "countryISO": "US"})))
        .await;
        assert_eq!(
            bought.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&bought.body)
        );
        let number = bought.json()["organizationPhoneNumber"].clone();
        assert_eq!(
            (
                number["provider"].clone(),
                number["monthly_cost_usd"].clone()
            ),
            (json!("plivo"), json!("0.80"))
        );
        assert_eq!(number["capabilities"], json!(["voice", "sms"]));
        assert!(
            fake.calls().contains(&"buy 14155552671".to_owned()),
            "{:?}",
            fake.calls()
        );

        // Pricing now lists Plivo too.
        let pricing = app
            .call("GET", "/v1/phone-number-pricing", token, None)
            .await
            .json();
        assert!(
            pricing
                .as_array()
                .expect("array")
                .iter()
                .any(|p| p["telephony_provider_id"] == json!("plivo"))
        );

        let id = number["id"].as_str().expect("id");
        let released = app
            .call(
                "DELETE",
                &format!("/v1/organization-phone-numbers/{id}"),
                token,
                None,
            )
            .await;
        assert_eq!(released.status, StatusCode::OK);
        assert!(
            fake.calls().contains(&"release 14155552671".to_owned()),
            "{:?}",
            fake.calls()
        );
    }
}

#[tokio::test]
async fn plivo_failures_are_clear_and_leave_nothing_behind() {
    for backend in common::backends() {
        let (fake, base) = start_fake().await;
        let app = app_with_plivo(backend, base).await;
        let ws = app.workspace("Acme").await;
        app.enable(&ws.id, &["US"], false).await;
        let token = Some(ws.token.as_str());
        let purchase = |number: &'static str| {
            app.call(
            "POST",
            "/v1/organization-phone-numbers/purchase",
            token,
            Some(
                json!({"phoneNumber": number, "telephonyProviderId": "plivo", "countryISO": "US"}),
            ),
        )
        };

        fake.set(Mode::Broken);
        let broken = purchase("+14155552671").await;
        assert_eq!(broken.status, StatusCode::BAD_GATEWAY);
        assert_eq!(
            broken.json(),
            json!({"statusCode": 502, "message": "Phone number provider plivo is unavailable, please retry", "error": "Bad Gateway"})
        );

        fake.set(Mode::Slow);
        let slow = purchase("+14155552671").await;
        assert_eq!(slow.status, StatusCode::BAD_GATEWAY);

        fake.set(Mode::RefuseBuy);
        let refused = purchase("+14155552671").await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            refused.json()["message"],
            json!("plivo refused the request: number not available for purchase")
        );

        fake.set(Mode::Normal);
        let not_offered = purchase("+14155550100").await;
        assert_eq!(not_offered.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            not_offered.json()["message"],
            json!("phoneNumber is not offered by plivo")
        );

        // None of the failures left a record; the number can still be bought.
        let list = app
            .call("GET", "/v1/organization-phone-numbers", token, None)
            .await
            .json();
        assert_eq!(list["total"], json!(0));
        assert_eq!(purchase("+14155552671").await.status, StatusCode::CREATED);

        // A release Plivo refuses keeps the number, so the client can retry.
        let id = app
            .call("GET", "/v1/organization-phone-numbers", token, None)
            .await
            .json()["items"][0]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        fake.set(Mode::Broken);
        let failed_release = app
            .call(
                "DELETE",
                &format!("/v1/organization-phone-numbers/{id}"),
                token,
                None,
            )
            .await;
        assert_eq!(failed_release.status, StatusCode::BAD_GATEWAY);
        assert_eq!(
            app.call(
                "GET",
                &format!("/v1/organization-phone-numbers/{id}"),
                token,
                None
            )
            .await
            .status,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn a_request_past_the_time_limit_is_a_503() {
    for backend in common::backends() {
        let (fake, base) = start_fake().await;
        let plivo = PlivoProvider::new(PlivoConfig {
            auth_id: AUTH_ID.into(),
            auth_token: AUTH_TOKEN.into(),
            base_url: base,
            // Longer than the request may take: the server's limit must be what stops it.
            timeout: Duration::from_secs(10),
        })
        .expect("client");
        let settings = switchboard_api::ApiSettings {
            request_timeout: Duration::from_millis(300),
            ..switchboard_api::ApiSettings::default()
        };
        let app = TestApp::build(backend, settings, vec![Arc::new(plivo)]).await;
        let ws = app.workspace("Acme").await;
        fake.set(Mode::Slow);
        let started = std::time::Instant::now();
        let reply = app
            .call(
                "GET",
                "/v1/organization-phone-numbers/plivo-numbers?country_iso=US&provider=plivo",
                Some(&ws.token),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            reply.json(),
            json!({"statusCode": 503, "message": "The request took too long and was stopped, please retry", "error": "Service Unavailable"})
        );
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "stopped at the limit, not by Plivo's answer"
        );
        // Other requests are unaffected.
        assert_eq!(
            app.call(
                "GET",
                "/v1/organization-phone-numbers",
                Some(&ws.token),
                None
            )
            .await
            .status,
            StatusCode::OK
        );
    }
}
