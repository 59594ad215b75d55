//! The `twilio` provider end to end: the API searches, buys (pointing the number's calls at
//! Switchboard) and releases through the adapter, which talks to a stateful fake of Twilio
//! through Prism checking every request and answer against Twilio's published OpenAPI
//! document (`carriers/openapi/`, see `switchboard_testkit::ValidatingProxy`). Twilio's
//! failures — a number sold meanwhile, an account out of funds, an address required, a 500,
//! an answer too slow — are each a clear answer that leaves nothing behind.

mod common;

use axum::http::StatusCode;
use common::{TestApp, offered_numbers as numbers};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use switchboard_providers::{TwilioConfig, TwilioProvider, VoiceUrls};
use switchboard_testkit::fake_twilio::{ACCOUNT_SID, AUTH_TOKEN, Failure, FakeTwilio};
use switchboard_testkit::{ValidatingProxy, carrier_document};

const PUBLIC_URL: &str = "https://switchboard.example.com";
const FALLBACK_URL: &str = "https://fallback.example.com/twiml";

/// The fake, Prism in front of it, and an app whose `twilio` provider goes through Prism.
async fn app_with_twilio(backend: common::Backend) -> (FakeTwilio, ValidatingProxy, TestApp) {
    let fake = FakeTwilio::start().await;
    let proxy = ValidatingProxy::start(
        &carrier_document("twilio-api-v2010-numbers.json"),
        &fake.url,
    );
    let twilio = TwilioProvider::new(TwilioConfig {
        account_sid: ACCOUNT_SID.into(),
        auth_token: AUTH_TOKEN.into(),
        base_url: proxy.url.clone(),
        // Twilio's Pricing API is not in the vendored document: asked of the fake directly.
        pricing_base_url: fake.url.clone(),
        timeout: Duration::from_secs(2),
        voice: Some(VoiceUrls::at(
            PUBLIC_URL,
            "twilio",
            Some(FALLBACK_URL.into()),
        )),
    })
    .expect("client");
    let app = TestApp::with_providers(backend, vec![Arc::new(twilio)]).await;
    (fake, proxy, app)
}

async fn search(app: &TestApp, proxy: &ValidatingProxy, token: &str, query: &str) -> Value {
    app.search_offers(
        token,
        &format!(
            "/v1/organization-phone-numbers/plivo-numbers?country_iso=US&provider=twilio{query}"
        ),
        &proxy.log(),
    )
    .await
}

async fn buy(app: &TestApp, token: &str, number: &str) -> common::Reply {
    app.buy_number(token, "twilio", number).await
}

#[tokio::test]
async fn search_buy_and_release_through_twilio() {
    for backend in common::backends() {
        let (fake, proxy, app) = app_with_twilio(backend).await;
        let ws = app.workspace("Acme").await;
        app.enable(&ws.id, &["US"], false).await;
        let token = ws.token.as_str();

        // Every type, priced from Twilio's Pricing API.
        let all = search(&app, &proxy, token, "").await;
        let objects = all["objects"].as_array().expect("objects");
        assert_eq!(objects.len(), 16, "{all}");
        assert_eq!(objects[0]["number"], json!("+14155550100"));
        assert_eq!(objects[0]["monthly_rental_rate"], json!("1.15"));
        let toll_free = search(&app, &proxy, token, "&type=tollfree").await;
        assert_eq!(numbers(&toll_free).len(), 4);
        assert_eq!(
            toll_free["objects"][0]["monthly_rental_rate"],
            json!("2.15")
        );
        assert_eq!(toll_free["objects"][0]["type"], json!("tollfree"));

        // The filters go to Twilio as its own parameters.
        let area = search(&app, &proxy, token, "&area_code=212").await;
        assert_eq!(
            numbers(&area),
            [
                "+12125550100",
                "+12125550101",
                "+12125550102",
                "+12125550103"
            ]
        );
        let texting = search(
            &app,
            &proxy,
            token,
            "&type=local&area_code=415&capability=sms",
        )
        .await;
        assert_eq!(
            numbers(&texting),
            [
                "+14155550100",
                "+14155550102",
                "+14155550104",
                "+14155550106"
            ]
        );
        let digits = search(&app, &proxy, token, "&contains=50103").await;
        assert_eq!(
            numbers(&digits),
            ["+14155550103", "+12125550103", "+18005550103"]
        );
        let asked = fake.requests().join("\n");
        for parameter in ["AreaCode=212", "SmsEnabled=true", "Contains=50103"] {
            assert!(asked.contains(parameter), "{parameter} not sent:\n{asked}");
        }

        // Bought with its calls pointed at Switchboard, and its fallback.
        let bought = buy(&app, token, "+14155550100").await;
        assert_eq!(
            bought.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&bought.body)
        );
        let number = bought.json()["organizationPhoneNumber"].clone();
        assert_eq!(number["provider"], json!("twilio"));
        assert_eq!(number["monthly_cost_usd"], json!("1.15"));
        assert_eq!(number["capabilities"], json!(["voice", "sms"]));
        let held = fake.held();
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].number.number, "+14155550100");
        assert_eq!(
            held[0].voice_url.as_deref(),
            Some("https://switchboard.example.com/carriers/twilio/voice")
        );
        assert_eq!(
            held[0].status_callback.as_deref(),
            Some("https://switchboard.example.com/carriers/twilio/status")
        );
        assert_eq!(held[0].voice_fallback_url.as_deref(), Some(FALLBACK_URL));
        assert!(
            !numbers(&search(&app, &proxy, token, "&type=local").await)
                .contains(&"+14155550100".into())
        );

        // Released at Twilio (found by its number, deleted by its sid).
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
        assert!(fake.held().is_empty(), "{:?}", fake.held());
        proxy.assert_conforming();
    }
}

#[tokio::test]
async fn twilios_refusals_are_named_and_leave_nothing_behind() {
    for backend in common::backends() {
        let (fake, proxy, app) = app_with_twilio(backend).await;
        let ws = app.workspace("Acme").await;
        app.enable(&ws.id, &["US"], false).await;
        let token = ws.token.as_str();
        let cases: [(Failure, StatusCode, &str); 5] = [
            (
                Failure::OutOfStock,
                StatusCode::BAD_REQUEST,
                "phoneNumber is not offered by twilio",
            ),
            (
                Failure::InsufficientFunds,
                StatusCode::PAYMENT_REQUIRED,
                "twilio refused: the account lacks the funds (Account not active)",
            ),
            (
                Failure::AddressRequired,
                StatusCode::BAD_REQUEST,
                "twilio requires an address or a regulatory bundle for this number, which its account has not given: Phone Number Requires an Address",
            ),
            (
                Failure::Broken,
                StatusCode::BAD_GATEWAY,
                "Phone number provider twilio is unavailable, please retry",
            ),
            (
                Failure::Slow(Duration::from_secs(3)),
                StatusCode::BAD_GATEWAY,
                "Phone number provider twilio is unavailable, please retry",
            ),
        ];
        for (failure, status, message) in cases {
            fake.fail(Some(failure));
            let refused = buy(&app, token, "+14155550101").await;
            assert_eq!(refused.status, status, "{failure:?}\n{}", proxy.log());
            let said = refused.json()["message"].as_str().unwrap_or("").to_owned();
            assert!(said.starts_with(message), "{failure:?}: {said}");
            // Nothing bought, nothing listed, nothing claimed.
            fake.fail(None);
            assert!(fake.held().is_empty(), "{failure:?}");
            let listed = app
                .call("GET", "/v1/organization-phone-numbers", Some(token), None)
                .await
                .json();
            assert_eq!(listed["total"], json!(0), "{failure:?}: {listed}");
        }
        // Once Twilio is well again, the same number can be bought.
        let bought = buy(&app, token, "+14155550101").await;
        assert_eq!(
            bought.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&bought.body)
        );
        // A slow answer was cut off by the adapter, not refused by the document.
        tokio::time::sleep(Duration::from_secs(2)).await;
        proxy.assert_conforming();
    }
}

/// The reconcile: a number released in Twilio's console is `missing_at_carrier`, one whose
/// calls were pointed elsewhere `carrier_drift`, one the account holds that no workspace does
/// `unknown_at_carrier`; the compliance report shows the first two with their fix, and
/// `fix` points the drifted number back here.
#[tokio::test]
async fn a_reconcile_finds_what_is_out_of_step_with_twilio_and_fixes_drift() {
    for backend in common::backends() {
        let (fake, proxy, app) = app_with_twilio(backend).await;
        let ws = app.workspace("Acme").await;
        app.enable(&ws.id, &["US"], false).await;
        let token = ws.token.as_str();
        for number in ["+14155550100", "+14155550101", "+14155550102"] {
            assert_eq!(buy(&app, token, number).await.status, StatusCode::CREATED);
        }
        let twilio = app.state.providers.get("twilio").expect("twilio").clone();
        let compliance = || async {
            app.call(
                "GET",
                "/v1/organization-phone-numbers/compliance?code=carrier_drift,missing_at_carrier",
                Some(token),
                None,
            )
            .await
            .json()
        };

        // All in step: nothing found.
        let clean =
            switchboard_api::reconcile::reconcile(app.store.as_ref(), twilio.as_ref(), false, None)
                .await
                .expect("reconcile");
        assert_eq!((clean.held_at_carrier, clean.here), (3, 3));
        assert!(clean.findings.is_empty(), "{:?}", clean.findings);

        fake.forget("+14155550100");
        fake.set_voice_url("+14155550101", Some("https://elsewhere.example.com/voice"));
        fake.hold("+14155550190", "Local");
        let found =
            switchboard_api::reconcile::reconcile(app.store.as_ref(), twilio.as_ref(), false, None)
                .await
                .expect("reconcile");
        let codes: Vec<(&str, &str)> = found
            .findings
            .iter()
            .map(|f| (f.phone_number.as_str(), f.code.as_str()))
            .collect();
        assert_eq!(
            codes,
            [
                ("+14155550100", "missing_at_carrier"),
                ("+14155550101", "carrier_drift"),
                ("+14155550190", "unknown_at_carrier"),
            ]
        );
        let report = compliance().await;
        assert_eq!(
            report["counts"],
            json!({"carrier_drift": 1, "missing_at_carrier": 1}),
            "{report}"
        );
        let messages: Vec<&str> = report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| f["message"].as_str().expect("message"))
            .collect();
        assert!(
            messages.iter().any(|m| m.starts_with("+14155550100 is active here but twilio no longer holds it")),
            "{messages:?}"
        );
        assert!(
            messages.iter().any(|m| m.starts_with("twilio sends the calls of +14155550101 to https://elsewhere.example.com/voice, not to Switchboard: run `switchboard numbers reconcile --fix`")),
            "{messages:?}"
        );

        // --fix: pointed back, and the drift is gone from the report.
        let fixed =
            switchboard_api::reconcile::reconcile(app.store.as_ref(), twilio.as_ref(), true, None)
                .await
                .expect("reconcile");
        assert_eq!(fixed.fixed, ["+14155550101"]);
        let held = fake.held();
        let repointed = held
            .iter()
            .find(|h| h.number.number == "+14155550101")
            .expect("held");
        assert_eq!(
            repointed.voice_url.as_deref(),
            Some("https://switchboard.example.com/carriers/twilio/voice")
        );
        assert_eq!(
            compliance().await["counts"],
            json!({"carrier_drift": 0, "missing_at_carrier": 1})
        );
        let listed = app
            .call(
                "GET",
                "/v1/organization-phone-numbers?limit=10",
                Some(token),
                None,
            )
            .await
            .json();
        let gone = listed["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|n| n["phone_number"] == json!("+14155550100"))
            .expect("listed")["id"]
            .as_str()
            .expect("id")
            .to_owned();
        // Twilio no longer holds it: released here, and its finding goes with it.
        let release = app
            .call(
                "DELETE",
                &format!("/v1/organization-phone-numbers/{gone}"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(
            (release.status, release.json()["message"].clone()),
            (
                StatusCode::OK,
                json!("Phone number released successfully (twilio no longer held it).")
            )
        );
        assert_eq!(
            compliance().await["counts"],
            json!({"carrier_drift": 0, "missing_at_carrier": 0})
        );
        proxy.assert_conforming();
    }
}
