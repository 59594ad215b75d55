//! The `telnyx` provider end to end: the API searches, buys through a number order that
//! completes asynchronously (the number's calls pointed at Switchboard through a TeXML
//! application) and releases, against a stateful fake of Telnyx behind Prism checking every
//! exchange against Telnyx's published OpenAPI document (`carriers/openapi/`). An order that
//! stays pending then fails, one waiting for documents, an account out of funds, a 500 — each
//! a clear answer that leaves nothing behind. And the reconcile finds a number moved to
//! another connection.

mod common;

use axum::http::StatusCode;
use common::{TestApp, offered_numbers as numbers};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use switchboard_providers::{TelnyxConfig, TelnyxProvider, VoiceUrls};
use switchboard_testkit::fake_telnyx::{API_KEY, Failure, FakeTelnyx, OrderOutcome};
use switchboard_testkit::{ValidatingProxy, carrier_document};

const PUBLIC_URL: &str = "https://switchboard.example.com";

async fn app_with_telnyx(backend: common::Backend) -> (FakeTelnyx, ValidatingProxy, TestApp) {
    let fake = FakeTelnyx::start().await;
    let proxy = ValidatingProxy::start(&carrier_document("telnyx-v2-numbers.json"), &fake.url);
    let telnyx = TelnyxProvider::new(TelnyxConfig {
        api_key: API_KEY.into(),
        base_url: proxy.url.clone(),
        timeout: Duration::from_secs(2),
        order_wait: Duration::from_secs(2),
        order_poll: Duration::from_millis(100),
        voice: Some(VoiceUrls::at(PUBLIC_URL, "telnyx", None)),
    })
    .expect("client");
    let app = TestApp::with_providers(backend, vec![Arc::new(telnyx)]).await;
    (fake, proxy, app)
}

async fn search(app: &TestApp, proxy: &ValidatingProxy, token: &str, query: &str) -> Value {
    app.search_offers(
        token,
        &format!("/v1/available-phone-numbers?country_iso=US&provider=telnyx{query}"),
        &proxy.log(),
    )
    .await
}

async fn buy(app: &TestApp, token: &str, number: &str) -> common::Reply {
    app.buy_number(token, "telnyx", number).await
}

async fn listed_total(app: &TestApp, token: &str) -> Value {
    app.call("GET", "/v1/organization-phone-numbers", Some(token), None)
        .await
        .json()["total"]
        .clone()
}

#[tokio::test]
async fn search_order_configure_reconcile_and_release_through_telnyx() {
    for backend in common::backends() {
        let (fake, proxy, app) = app_with_telnyx(backend).await;
        let ws = app.workspace("Acme").await;
        app.enable(&ws.id, &["US"], false).await;
        let token = ws.token.as_str();

        // Prices come with Telnyx's answers; the filters go to Telnyx as its own.
        let all = search(&app, &proxy, token, "").await;
        assert_eq!(numbers(&all).len(), 9, "{all}");
        let toll_free = search(&app, &proxy, token, "&type=tollfree").await;
        assert_eq!(
            numbers(&toll_free),
            ["+18885550100", "+18885550101", "+18885550102"]
        );
        assert_eq!(
            toll_free["objects"][0]["monthly_rental_rate"],
            json!("2.00")
        );
        assert_eq!(toll_free["objects"][0]["setup_rate"], json!("1.00"));
        let digits = search(&app, &proxy, token, "&area_code=312&contains=0103").await;
        assert_eq!(numbers(&digits), ["+13125550103"]);
        let asked = fake.requests().join("\n");
        for parameter in [
            "filter[national_destination_code]=312",
            "filter[phone_number][contains]=0103",
            "filter[phone_number_type]=toll_free",
        ] {
            assert!(asked.contains(parameter), "{parameter} not sent:\n{asked}");
        }

        // An order that completes after being asked twice.
        fake.orders_go(OrderOutcome::SucceedAfter(2));
        let bought = buy(&app, token, "+13125550100").await;
        assert_eq!(
            bought.status,
            StatusCode::CREATED,
            "{}\n{}",
            String::from_utf8_lossy(&bought.body),
            proxy.log()
        );
        let number = bought.json()["organizationPhoneNumber"].clone();
        assert_eq!(
            (
                number["provider"].clone(),
                number["monthly_cost_usd"].clone()
            ),
            (json!("telnyx"), json!("1.00"))
        );
        // Its calls go to the Switchboard TeXML application, created for it.
        let applications = fake.applications();
        assert_eq!(applications.len(), 1);
        assert_eq!(
            applications[0].voice_url,
            "https://switchboard.example.com/carriers/telnyx/voice"
        );
        assert_eq!(
            applications[0].status_callback.as_deref(),
            Some("https://switchboard.example.com/carriers/telnyx/status")
        );
        let owned = fake.owned();
        assert_eq!(owned.len(), 1);
        assert_eq!(
            owned[0].connection_id.as_deref(),
            Some(applications[0].id.as_str())
        );

        // Someone moves it to another connection in the portal: the reconcile says so, and
        // --fix moves it back.
        fake.set_connection("+13125550100", Some("999"));
        let telnyx = app.state.providers.get("telnyx").expect("telnyx").clone();
        let found =
            switchboard_api::reconcile::reconcile(app.store.as_ref(), telnyx.as_ref(), false, None)
                .await
                .expect("reconcile");
        assert_eq!(found.findings.len(), 1, "{:?}", found.findings);
        assert_eq!(found.findings[0].code.as_str(), "carrier_drift");
        assert_eq!(found.findings[0].detail, "telnyx connection 999");
        let fixed =
            switchboard_api::reconcile::reconcile(app.store.as_ref(), telnyx.as_ref(), true, None)
                .await
                .expect("reconcile");
        assert_eq!(fixed.fixed, ["+13125550100"]);
        assert_eq!(
            fake.owned()[0].connection_id.as_deref(),
            Some(applications[0].id.as_str())
        );

        let id = number["id"].as_str().expect("id");
        let released = app
            .call(
                "DELETE",
                &format!("/v1/organization-phone-numbers/{id}"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(released.status, StatusCode::OK);
        assert!(fake.owned().is_empty());
        proxy.assert_conforming();
    }
}

#[tokio::test]
async fn telnyxs_refusals_and_stuck_orders_leave_nothing_behind() {
    for backend in common::backends() {
        let (fake, proxy, app) = app_with_telnyx(backend).await;
        let ws = app.workspace("Acme").await;
        app.enable(&ws.id, &["US"], false).await;
        let token = ws.token.as_str();

        // An order that stays pending, then fails: rolled back like any failed purchase.
        fake.orders_go(OrderOutcome::FailAfter(3));
        let failed = buy(&app, token, "+13125550101").await;
        assert_eq!(failed.status, StatusCode::BAD_REQUEST, "{}", proxy.log());
        assert!(
            failed.json()["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("telnyx refused the request: Telnyx could not complete number order"),
            "{}",
            failed.json()
        );
        assert_eq!(listed_total(&app, token).await, json!(0));

        // One waiting for documents past the wait: named as the regulatory requirement.
        fake.orders_go(OrderOutcome::AwaitDocuments);
        let waiting = buy(&app, token, "+13125550101").await;
        assert_eq!(waiting.status, StatusCode::BAD_REQUEST);
        assert!(
            waiting.json()["message"]
                .as_str()
                .unwrap_or("")
                .contains("waits for regulatory documents"),
            "{}",
            waiting.json()
        );
        assert_eq!(listed_total(&app, token).await, json!(0));

        fake.orders_go(OrderOutcome::Immediate);
        fake.fail(Some(Failure::InsufficientFunds));
        let broke = buy(&app, token, "+13125550102").await;
        assert_eq!(broke.status, StatusCode::PAYMENT_REQUIRED);
        assert_eq!(
            broke.json()["message"],
            json!(
                "telnyx refused: the account lacks the funds (Your account balance is too low to place this order. (20100))"
            )
        );
        fake.fail(Some(Failure::Broken));
        let down = buy(&app, token, "+13125550102").await;
        assert_eq!(down.status, StatusCode::BAD_GATEWAY);
        assert_eq!(
            down.json()["message"],
            json!("Phone number provider telnyx is unavailable, please retry")
        );
        // Too slow: cut off by the adapter's timeout, the same 502.
        fake.fail(Some(Failure::Slow(Duration::from_secs(3))));
        let slow = buy(&app, token, "+13125550102").await;
        assert_eq!(slow.status, StatusCode::BAD_GATEWAY);
        fake.fail(None);
        assert_eq!(listed_total(&app, token).await, json!(0));
        // Sold meanwhile: gone from the stock.
        let sold = buy(&app, token, "+13125559999").await;
        assert_eq!(sold.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            sold.json()["message"],
            json!("phoneNumber is not offered by telnyx")
        );
        let bought = buy(&app, token, "+13125550102").await;
        assert_eq!(bought.status, StatusCode::CREATED, "{}", proxy.log());
        // Prism may still be waiting on the slow answers the adapter gave up on.
        tokio::time::sleep(Duration::from_secs(2)).await;
        proxy.assert_conforming();
    }
}

/// An order Telnyx has not completed when the purchase stops waiting: the number is
/// `pending` (202) with the terms it was bought at; the purchase sweep activates it once the
/// order completes (its `purchased` history then), and drops the claim of one that fails.
#[tokio::test]
async fn an_order_completed_later_stays_pending_until_the_sweep_settles_it() {
    for backend in common::backends() {
        let (fake, proxy, app) = app_with_telnyx(backend).await;
        let ws = app.workspace("Acme").await;
        app.enable(&ws.id, &["US"], false).await;
        let token = ws.token.as_str();
        fake.orders_go(OrderOutcome::SucceedAfter(u32::MAX));
        let ordered = buy(&app, token, "+18885550100").await;
        assert_eq!(ordered.status, StatusCode::ACCEPTED, "{}", proxy.log());
        let body = ordered.json();
        assert_eq!(body["status"], json!("pending"));
        assert!(
            body["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("Phone number ordered: telnyx has not completed order"),
            "{body}"
        );
        let number = body["organizationPhoneNumber"].clone();
        assert_eq!(
            (
                number["status"].clone(),
                number["monthly_cost_usd"].clone(),
                number["type"].clone()
            ),
            (json!("pending"), json!("2.00"), json!("toll_free"))
        );
        let id = number["id"].as_str().expect("id").to_owned();
        // While the order is pending, the sweep leaves the claim alone.
        assert_eq!(
            switchboard_api::claims::sweep_stale_claims(&app.state, Duration::ZERO).await,
            0
        );
        fake.finish_orders(true);
        assert_eq!(
            switchboard_api::claims::sweep_stale_claims(&app.state, Duration::ZERO).await,
            1
        );
        let active = app
            .call(
                "GET",
                &format!("/v1/organization-phone-numbers/{id}"),
                Some(token),
                None,
            )
            .await
            .json();
        assert_eq!(
            (active["status"].clone(), active["monthly_cost_usd"].clone()),
            (json!("active"), json!("2.00"))
        );
        let history = app
            .call(
                "GET",
                &format!("/v1/organization-phone-numbers/{id}/history"),
                Some(token),
                None,
            )
            .await
            .json();
        assert_eq!(
            history["items"][0]["action"],
            json!("purchased"),
            "{history}"
        );

        // An order that fails later: the claim goes.
        let ordered = buy(&app, token, "+18885550101").await;
        assert_eq!(ordered.status, StatusCode::ACCEPTED);
        fake.finish_orders(false);
        assert_eq!(
            switchboard_api::claims::sweep_stale_claims(&app.state, Duration::ZERO).await,
            1
        );
        assert_eq!(listed_total(&app, token).await, json!(1));
        proxy.assert_conforming();
    }
}
