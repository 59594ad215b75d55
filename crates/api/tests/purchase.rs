//! Buying numbers and linking SIP trunks, including races, replays and provider failures.

mod common;

use async_trait::async_trait;
use axum::http::StatusCode;
use common::{TestApp, contains};
use serde_json::json;
use std::sync::{Arc, Mutex};
use switchboard_domain::{E164, Money, NumberType};
use switchboard_providers::{NumberSearch, Offer, Provider, ProviderError};

const PURCHASE: &str = "/v1/organization-phone-numbers/purchase";
const SIP: &str = "/v1/organization-phone-numbers/sip-trunks";

#[tokio::test]
async fn purchase_returns_the_wrapper_with_the_offer_terms() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        app.enable(&ws.id, &["US", "IN"], true).await;
        let reply = app
        .call("POST", PURCHASE, Some(&ws.token), Some(json!({"phoneNumber": "+1 800 555 0105", "telephonyProviderId": "sandbox", "countryISO": "us"})))
        .await;
        assert_eq!(reply.status, StatusCode::CREATED);
        let body = reply.json();
        assert_eq!(body["phoneNumber"], json!("+18005550105"));
        assert_eq!(body["status"], json!("active"));
        assert_eq!(
            body["message"],
            json!("Phone number purchased successfully.")
        );
        let number = &body["organizationPhoneNumber"];
        assert_eq!(number.as_object().map(|o| o.len()), Some(18));
        // One transaction, one time: the record and its history entry agree.
        assert_eq!(number["created_at"], number["updated_at"]);
        let history = app
            .call(
                "GET",
                &format!(
                    "/v1/organization-phone-numbers/{}/history",
                    number["id"].as_str().expect("id")
                ),
                Some(&ws.token),
                None,
            )
            .await
            .json();
        assert_eq!(history["items"][0]["action"], json!("purchased"));
        assert_eq!(history["items"][0]["at"], number["created_at"]);
        assert_eq!(number["type"], json!("toll_free"));
        assert_eq!(number["monthly_cost_usd"], json!("2.00"));
        assert_eq!(number["capabilities"], json!(["voice"]));
        assert_eq!(number["provider"], json!("sandbox"));
        assert_eq!(number["status"], json!("active"));
        assert_eq!(number["sip_trunk_enabled"], json!(false));

        // snake_case spellings of the body are accepted too.
        let reply = app
        .call("POST", PURCHASE, Some(&ws.token), Some(json!({"phone_number": "+919820012301", "telephony_provider_id": "sandbox", "country_iso": "IN"})))
        .await;
        assert_eq!(reply.status, StatusCode::CREATED);
        assert_eq!(
            reply.json()["organizationPhoneNumber"]["type"],
            json!("mobile")
        );
    }
}

#[tokio::test]
async fn purchase_refusals() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        app.enable(&ws.id, &["US", "IN"], false).await;
        let other = app.workspace("Other").await;
        app.enable(&other.id, &["US"], false).await;
        app.buy(&other.token, "+14155550102", "US").await;
        let cases = [
            (
                json!({}),
                StatusCode::BAD_REQUEST,
                json!([
                    "phoneNumber should not be empty",
                    "telephonyProviderId should not be empty",
                    "countryISO should not be empty"
                ]),
            ),
            (
                json!({"phoneNumber": "+1 555", "telephonyProviderId": "sandbox", "countryISO": "US"}),
                StatusCode::BAD_REQUEST,
                json!("phoneNumber is not a valid phone number"),
            ),
            (
                json!({"phoneNumber": "+14155550103", "telephonyProviderId": "twilio", "countryISO": "US"}),
                StatusCode::BAD_REQUEST,
                json!("telephonyProviderId must be one of: sandbox"),
            ),
            (
                json!({"phoneNumber": "+14155550103", "telephonyProviderId": "sandbox", "countryISO": "CA"}),
                StatusCode::BAD_REQUEST,
                json!("phoneNumber is not a number of countryISO CA"),
            ),
            (
                json!({"phoneNumber": "+14155552671", "telephonyProviderId": "sandbox", "countryISO": "US"}),
                StatusCode::BAD_REQUEST,
                json!("phoneNumber is not offered by sandbox"),
            ),
            (
                json!({"phoneNumber": "+442079460101", "telephonyProviderId": "sandbox", "countryISO": "GB"}),
                StatusCode::BAD_REQUEST,
                json!("Country GB is not enabled for this workspace"),
            ),
            (
                json!({"phoneNumber": "+912234567801", "telephonyProviderId": "sandbox", "countryISO": "IN"}),
                StatusCode::FORBIDDEN,
                json!("Phone numbers in IN require a KYC-verified workspace"),
            ),
            (
                json!({"phoneNumber": "+14155550102", "telephonyProviderId": "sandbox", "countryISO": "US"}),
                StatusCode::CONFLICT,
                json!("Phone number already registered"),
            ),
            (
                json!({"phoneNumber": "+14155550103", "telephonyProviderId": "sandbox", "countryISO": "US", "extra": true}),
                StatusCode::BAD_REQUEST,
                json!("property extra should not exist"),
            ),
        ];
        for (body, status, message) in cases {
            let reply = app
                .call("POST", PURCHASE, Some(&ws.token), Some(body.clone()))
                .await;
            assert_eq!(reply.status, status, "{body}");
            assert_eq!(reply.json()["message"], message, "{body}");
            assert_eq!(reply.json()["statusCode"], json!(status.as_u16()), "{body}");
        }
        let list = app
            .call(
                "GET",
                "/v1/organization-phone-numbers",
                Some(&ws.token),
                None,
            )
            .await
            .json();
        assert_eq!(list["total"], json!(0), "no refused purchase left a record");
    }
}

#[tokio::test]
async fn bodies_that_are_not_json_objects() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        let send = |content_type: &'static str, body: Vec<u8>| {
            let request = axum::http::Request::post(PURCHASE)
                .header("authorization", common::bearer(&ws.token))
                .header("content-type", content_type)
                .body(axum::body::Body::from(body))
                .expect("request");
            app.send(request)
        };
        let not_json = send("application/json", b"{not json".to_vec()).await;
        assert_eq!(not_json.status, StatusCode::BAD_REQUEST);
        assert!(
            not_json.json()["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("request body is not valid JSON"))
        );
        let array = send("application/json", b"[1,2]".to_vec()).await;
        assert_eq!(
            array.json()["message"],
            json!("request body must be a JSON object")
        );
        let text = send("text/plain", b"{}".to_vec()).await;
        assert_eq!(text.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            text.json()["message"],
            json!("Content-Type must be application/json")
        );
        let bad_utf8 = send(
            "application/json",
            vec![b'{', b'"', 0xff, b'"', b':', b'1', b'}'],
        )
        .await;
        assert_eq!(bad_utf8.status, StatusCode::BAD_REQUEST);
        let huge = send(
            "application/json",
            format!("{{\"phoneNumber\":\"{}\"}}", "9".repeat(70_000)).into_bytes(),
        )
        .await;
        assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(huge.json()["statusCode"], json!(413));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_fifty_concurrent_buyers_exactly_one_wins() {
    for backend in common::backends() {
        let app = Arc::new(TestApp::new(backend).await);
        let mut tokens = Vec::new();
        for i in 0..5 {
            let ws = app.workspace(&format!("Buyer {i}")).await;
            app.enable(&ws.id, &["US"], false).await;
            tokens.push(ws.token);
        }
        let mut tasks = Vec::new();
        for i in 0..50 {
            let app = app.clone();
            let token = tokens[i % tokens.len()].clone();
            tasks.push(tokio::spawn(async move {
            app.call("POST", PURCHASE, Some(&token), Some(json!({"phoneNumber": "+14155550110", "telephonyProviderId": "sandbox", "countryISO": "US"})))
                .await
                .status
        }));
        }
        let mut created = 0;
        let mut conflicts = 0;
        for task in tasks {
            match task.await.expect("task") {
                StatusCode::CREATED => created += 1,
                StatusCode::CONFLICT => conflicts += 1,
                other => panic!("unexpected {other}"),
            }
        }
        assert_eq!((created, conflicts), (1, 49));
        let rows = app
            .db
            .scalar("SELECT count(*) FROM phone_numbers WHERE phone_number = '+14155550110'")
            .await;
        assert_eq!(rows, 1);
    }
}

#[tokio::test]
async fn idempotency_key_replays_and_refuses_another_body() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        app.enable(&ws.id, &["US"], false).await;
        let body = json!({"phoneNumber": "+14155550111", "telephonyProviderId": "sandbox", "countryISO": "US"});
        let headers = [("idempotency-key", "order-42")];
        let first = app
            .call_with(
                "POST",
                PURCHASE,
                Some(&ws.token),
                Some(body.clone()),
                &headers,
            )
            .await;
        assert_eq!(first.status, StatusCode::CREATED);
        let again = app
            .call_with(
                "POST",
                PURCHASE,
                Some(&ws.token),
                Some(body.clone()),
                &headers,
            )
            .await;
        assert_eq!(again.status, StatusCode::CREATED);
        assert_eq!(
            again.body, first.body,
            "the replay is the first response, byte for byte"
        );
        assert_eq!(
            again
                .headers
                .get("idempotent-replayed")
                .and_then(|v| v.to_str().ok()),
            Some("true")
        );
        let list = app
            .call(
                "GET",
                "/v1/organization-phone-numbers",
                Some(&ws.token),
                None,
            )
            .await
            .json();
        assert_eq!(list["total"], json!(1), "bought once");

        let other_body = json!({"phoneNumber": "+14155550112", "telephonyProviderId": "sandbox", "countryISO": "US"});
        let reuse = app
            .call_with(
                "POST",
                PURCHASE,
                Some(&ws.token),
                Some(other_body.clone()),
                &headers,
            )
            .await;
        assert_eq!(reuse.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            reuse.json(),
            json!({"statusCode": 422, "message": "Idempotency-Key was already used with a different request", "error": "Unprocessable Entity"})
        );

        // Keys are per workspace: another workspace may use the same key for its own purchase.
        let other = app.workspace("Other").await;
        app.enable(&other.id, &["US"], false).await;
        let theirs = app
            .call_with(
                "POST",
                PURCHASE,
                Some(&other.token),
                Some(other_body),
                &headers,
            )
            .await;
        assert_eq!(theirs.status, StatusCode::CREATED);
    }
}

/// A provider that sells anything and records releases. Something can be made to happen
/// while it sells or releases (a sale vanishing from the database before it is stored, a
/// concurrent change), as a crash, an operator or another client could.
type Hook = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

#[derive(Default)]
struct RecordingProvider {
    released: Mutex<Vec<String>>,
    on_buy: Mutex<Option<Hook>>,
    on_release: Mutex<Option<Hook>>,
}

impl std::fmt::Debug for RecordingProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingProvider").finish_non_exhaustive()
    }
}

#[async_trait]
impl Provider for RecordingProvider {
    fn id(&self) -> &'static str {
        "recording"
    }
    async fn search(&self, _: &NumberSearch) -> Result<Vec<Offer>, ProviderError> {
        Ok(Vec::new())
    }
    async fn buy(&self, number: &E164) -> Result<Offer, ProviderError> {
        let hook = self.on_buy.lock().ok().and_then(|mut h| h.take());
        if let Some(hook) = hook {
            hook.await;
        }
        Ok(Offer {
            number: number.clone(),
            number_type: number.derived_type(),
            monthly_cost: Money::parse("0.80").map_err(|_| ProviderError::NotOffered)?,
            setup_cost: Money::ZERO,
            voice: true,
            sms: true,
            mms: false,
        })
    }
    async fn release(&self, number: &E164) -> Result<(), ProviderError> {
        let hook = self.on_release.lock().ok().and_then(|mut h| h.take());
        if let Some(hook) = hook {
            hook.await;
        }
        if let Ok(mut released) = self.released.lock() {
            released.push(number.to_string());
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_sale_that_cannot_be_stored_is_released_at_the_provider() {
    for backend in common::backends() {
        let provider = Arc::new(RecordingProvider::default());
        let app = TestApp::with_providers(backend, vec![provider.clone()]).await;
        let ws = app.workspace("Acme").await;
        app.enable(&ws.id, &["US"], false).await;
        // While the provider sells, the pending record disappears, so storing the sale fails.
        let (store, workspace) = (app.store.clone(), ws.id.clone());
        *provider.on_buy.lock().expect("lock") = Some(Box::pin(async move {
            let pending = switchboard_store::NumberFilter {
                status: Some(switchboard_domain::NumberStatus::Pending),
                ..Default::default()
            };
            let page = switchboard_store::PageRequest { page: 1, limit: 10 };
            let (claims, _) = store
                .list_phone_numbers(&workspace, &pending, page)
                .await
                .expect("list");
            assert_eq!(
                claims.len(),
                1,
                "the purchase claimed the number before buying it"
            );
            for claim in claims {
                store
                    .drop_claim(&workspace, &claim.id)
                    .await
                    .expect("delete");
            }
        }));
        let reply = app
        .call("POST", PURCHASE, Some(&ws.token), Some(json!({"phoneNumber": "+14155552671", "telephonyProviderId": "recording", "countryISO": "US"})))
        .await;
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            reply.json(),
            json!({"statusCode": 500, "message": "Internal server error", "error": "Internal Server Error"})
        );
        assert_eq!(
            provider
                .released
                .lock()
                .map(|r| r.clone())
                .unwrap_or_default(),
            vec!["+14155552671".to_owned()]
        );

        // A normal sale through the same provider is kept, and nothing is released.
        let reply = app
        .call("POST", PURCHASE, Some(&ws.token), Some(json!({"phoneNumber": "+14155552672", "telephonyProviderId": "recording", "countryISO": "US"})))
        .await;
        assert_eq!(reply.status, StatusCode::CREATED);
        assert_eq!(
            reply.json()["organizationPhoneNumber"]["capabilities"],
            json!(["voice", "sms"])
        );
        assert_eq!(provider.released.lock().map(|r| r.len()).unwrap_or(0), 1);
    }
}

#[tokio::test]
async fn sip_trunks_validate_link_and_keep_the_password_sealed() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        let password = "s3cret-Trunk-Passw0rd";
        let cases = [
            (
                json!({"phoneNumber": "+14155552671", "terminationUri": "sip:zt.plivo.com", "sipTrunkUserName": "u", "sipTrunkPassword": "p"}),
                json!("terminationUri must not include the sip: prefix; give host[:port]"),
            ),
            (
                json!({"phoneNumber": "+14155552671", "terminationUri": "zt.plivo.com:99999", "sipTrunkUserName": "u", "sipTrunkPassword": "p"}),
                json!(
                    "terminationUri must be host[:port], e.g. 31974861099010243.zt.plivo.com:5060"
                ),
            ),
            (
                json!({"phoneNumber": "+14155552671", "terminationUri": "zt.plivo.com"}),
                json!("sipTrunkUserName and sipTrunkPassword are required when authMode=userpass"),
            ),
            (
                json!({"phoneNumber": "+14155552671", "terminationUri": "zt.plivo.com", "authMode": "ip", "sipTrunkPassword": "p"}),
                json!("sipTrunkUserName and sipTrunkPassword must not be set when authMode=ip"),
            ),
            (
                json!({"phoneNumber": "+14155552671", "terminationUri": "zt.plivo.com", "authMode": "token"}),
                json!("authMode must be one of the following values: userpass, ip"),
            ),
            (
                json!({"terminationUri": "zt.plivo.com", "authMode": "ip"}),
                json!("phoneNumber should not be empty"),
            ),
        ];
        for (body, message) in cases {
            let reply = app
                .call("POST", SIP, Some(&ws.token), Some(body.clone()))
                .await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(reply.json()["message"], message, "{body}");
        }

        let reply = app
            .call(
                "POST",
                SIP,
                Some(&ws.token),
                Some(json!({
                    "phoneNumber": "+14155552671",
                    "terminationUri": "31974861099010243.zt.plivo.com:5060",
                    "authMode": "userpass",
                    "sipTrunkUserName": "sip-user",
                    "sipTrunkPassword": password,
                    "nickname": "US BYOC Line"
                })),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED);
        let body = reply.json();
        assert_eq!(body.as_object().map(|o| o.len()), Some(18));
        assert_eq!(body["provider"], json!("sip_trunk"));
        assert_eq!(body["sip_trunk_enabled"], json!(true));
        assert_eq!(body["status"], json!("active"));
        assert_eq!(body["monthly_cost_usd"], json!("0.00"));
        assert_eq!(body["nickname"], json!("US BYOC Line"));
        assert!(!contains(&reply.body, password), "the password came back");
        assert!(
            !contains(&app.db.dump().await, password),
            "the password is in the database in plain text"
        );
        let sealed = app
            .db
            .scalar("SELECT count(*) FROM sip_trunks WHERE length(password_sealed) > 40")
            .await;
        assert_eq!(sealed, 1, "the sealed password is stored");

        let again = app
        .call("POST", SIP, Some(&ws.token), Some(json!({"phone_number": "+1 415 555 2671", "termination_uri": "other.example.com", "auth_mode": "ip"})))
        .await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        assert_eq!(
            again.json()["message"],
            json!("Phone number already registered")
        );

        let ip = app
        .call("POST", SIP, Some(&ws.token), Some(json!({"phoneNumber": "+14155552672", "terminationUri": "10.1.2.3:5080", "authMode": "ip"})))
        .await;
        assert_eq!(ip.status, StatusCode::CREATED);
    }
}

#[tokio::test]
async fn claims_left_by_a_crash_are_released_and_dropped() {
    for backend in common::backends() {
        let provider = Arc::new(RecordingProvider::default());
        let app = TestApp::with_providers(backend, vec![provider.clone()]).await;
        let ws = app.workspace("Acme").await;
        // A purchase that claimed +14155552671 and died before storing the sale, long ago,
        // and one that is in flight right now.
        let claim = |number: &str| switchboard_store::NewPhoneNumber {
            number: E164::parse(number).expect("valid"),
            number_type: NumberType::Local,
            monthly_cost: Money::ZERO,
            capabilities: switchboard_domain::Capabilities::VOICE,
            label: None,
            nickname: None,
            inbound_agent_id: None,
            status: switchboard_domain::NumberStatus::Pending,
            provider: "recording".into(),
            sip_trunk_enabled: false,
        };
        let stale = app
            .store
            .claim_phone_number(&ws.id, claim("+14155552671"))
            .await
            .expect("claim");
        app.store
            .claim_phone_number(&ws.id, claim("+14155552672"))
            .await
            .expect("claim");
        app.db
            .execute(&format!(
                "UPDATE phone_numbers SET created_at = 0 WHERE id = '{}'",
                stale.id
            ))
            .await;

        assert_eq!(
            switchboard_api::claims::sweep_stale_claims(
                &app.state,
                switchboard_api::claims::ORDER_SETTLE_AGE
            )
            .await,
            1
        );
        assert_eq!(
            provider
                .released
                .lock()
                .map(|r| r.clone())
                .unwrap_or_default(),
            vec!["+14155552671".to_owned()]
        );
        let left = app
            .db
            .scalar("SELECT count(*) FROM phone_numbers WHERE status = 'pending'")
            .await;
        assert_eq!(left, 1, "{backend:?}: only the claim in flight remains");
        assert!(
            app.store
                .registered_numbers(&[E164::parse("+14155552672").expect("valid")])
                .await
                .expect("lookup")
                .len()
                == 1
        );

        // The number can be bought again.
        app.enable(&ws.id, &["US"], false).await;
        let reply = app
            .call("POST", PURCHASE, Some(&ws.token), Some(json!({"phoneNumber": "+14155552671", "telephonyProviderId": "recording", "countryISO": "US"})))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{backend:?}");
    }
}

#[tokio::test]
async fn idempotency_key_left_pending_by_a_dead_request_is_let_go_after_ten_minutes() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        app.enable(&ws.id, &["US"], false).await;
        let body = json!({"phoneNumber": "+14155550113", "telephonyProviderId": "sandbox", "countryISO": "US"});
        let headers = [("idempotency-key", "order-7")];
        let first = app
            .call_with(
                "POST",
                PURCHASE,
                Some(&ws.token),
                Some(body.clone()),
                &headers,
            )
            .await;
        assert_eq!(first.status, StatusCode::CREATED);
        let id = first.json()["organizationPhoneNumber"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        // What a process killed mid-purchase leaves: the key claimed, no response stored (and
        // here the number released again, so that a fresh run can buy it).
        app.db
            .execute("UPDATE idempotency_keys SET status = 0 WHERE key = 'order-7'")
            .await;
        let released = app
            .call(
                "DELETE",
                &format!("/v1/organization-phone-numbers/{id}"),
                Some(&ws.token),
                None,
            )
            .await;
        assert_eq!(released.status, StatusCode::OK);

        let too_soon = app
            .call_with(
                "POST",
                PURCHASE,
                Some(&ws.token),
                Some(body.clone()),
                &headers,
            )
            .await;
        assert_eq!(too_soon.status, StatusCode::CONFLICT);
        assert_eq!(
            too_soon.json(),
            json!({"statusCode": 409, "message": "A request with this Idempotency-Key is still in progress", "error": "Conflict"})
        );

        app.db
            .execute("UPDATE idempotency_keys SET created_at = created_at - 600001 WHERE key = 'order-7'")
            .await;
        let retry = app
            .call_with("POST", PURCHASE, Some(&ws.token), Some(body), &headers)
            .await;
        assert_eq!(retry.status, StatusCode::CREATED, "the retry runs afresh");
        assert!(retry.headers.get("idempotent-replayed").is_none());
        assert_ne!(
            retry.json()["organizationPhoneNumber"]["id"],
            json!(id),
            "a new purchase, not the old answer"
        );
    }
}

/// A number changed by someone else while its release (with a current `If-Match`) is at the
/// provider: the release has happened there, so the record goes and the client is told it
/// succeeded, not that nothing happened.
#[tokio::test]
async fn a_change_during_a_conditional_release_does_not_undo_the_answer() {
    for backend in common::backends() {
        let provider = Arc::new(RecordingProvider::default());
        let app = TestApp::with_providers(backend, vec![provider.clone()]).await;
        let ws = app.workspace("Acme").await;
        app.enable(&ws.id, &["US"], false).await;
        let bought = app
            .call("POST", PURCHASE, Some(&ws.token), Some(json!({"phoneNumber": "+14155552673", "telephonyProviderId": "recording", "countryISO": "US"})))
            .await;
        assert_eq!(bought.status, StatusCode::CREATED);
        let id = bought.json()["organizationPhoneNumber"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let path = format!("/v1/organization-phone-numbers/{id}");
        let current = app.call("GET", &path, Some(&ws.token), None).await;
        let etag = current.headers["etag"].to_str().expect("etag").to_owned();

        let (store, workspace) = (app.store.clone(), ws.id.clone());
        let number = switchboard_domain::PhoneNumberId::parse(&id).expect("id");
        *provider.on_release.lock().expect("lock") = Some(Box::pin(async move {
            let patch = switchboard_store::PhoneNumberPatch {
                label: switchboard_store::FieldChange::Set("changed meanwhile".into()),
                ..Default::default()
            };
            store
                .update_phone_number(
                    &workspace,
                    &number,
                    patch,
                    None,
                    &switchboard_store::Actor::cli(),
                )
                .await
                .expect("concurrent change");
        }));
        let released = app
            .call_with(
                "DELETE",
                &path,
                Some(&ws.token),
                None,
                &[("if-match", &etag)],
            )
            .await;
        assert_eq!(released.status, StatusCode::OK, "{:?}", released.json());
        assert_eq!(
            released.json(),
            json!({"message": "Phone number released successfully."})
        );
        assert_eq!(
            provider
                .released
                .lock()
                .map(|r| r.clone())
                .unwrap_or_default(),
            vec!["+14155552673".to_owned()]
        );
        let gone = app.call("GET", &path, Some(&ws.token), None).await;
        assert_eq!(gone.status, StatusCode::NOT_FOUND);
        let history = app
            .call("GET", &format!("{path}/history"), Some(&ws.token), None)
            .await
            .json();
        let actions: Vec<&str> = history["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|e| e["action"].as_str())
            .collect();
        assert_eq!(actions, ["released", "updated", "purchased"]);
    }
}

/// Buys `number` from the recording provider; returns its id.
async fn buy_recorded(app: &TestApp, token: &str, number: &str) -> String {
    let bought = app
        .call("POST", PURCHASE, Some(token), Some(json!({"phoneNumber": number, "telephonyProviderId": "recording", "countryISO": "US"})))
        .await;
    assert_eq!(bought.status, StatusCode::CREATED);
    bought.json()["organizationPhoneNumber"]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

fn releases(provider: &RecordingProvider) -> Vec<String> {
    provider
        .released
        .lock()
        .map(|r| r.clone())
        .unwrap_or_default()
}

/// Twenty DELETEs of one number at once, half through a second replica on the same
/// database: the provider is asked to release it exactly once, exactly one client is told it
/// was released, and every other is told it is gone or being released.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_releases_reach_the_provider_once() {
    for backend in common::backends() {
        let provider = Arc::new(RecordingProvider::default());
        let app = TestApp::with_providers(backend, vec![provider.clone()]).await;
        let ws = app.workspace("Acme").await;
        app.enable(&ws.id, &["US"], false).await;
        let id = buy_recorded(&app, &ws.token, "+14155552674").await;
        // The provider takes its time, so that the other requests arrive while it works.
        *provider.on_release.lock().expect("lock") = Some(Box::pin(tokio::time::sleep(
            std::time::Duration::from_millis(200),
        )));
        let replica = TestApp::build_on(&app, vec![provider.clone()]).await;
        let (app, replica) = (Arc::new(app), Arc::new(replica));
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..20 {
            let server = if i % 2 == 0 {
                app.clone()
            } else {
                replica.clone()
            };
            let (token, path) = (
                ws.token.clone(),
                format!("/v1/organization-phone-numbers/{id}"),
            );
            tasks.spawn(async move {
                let reply = server.call("DELETE", &path, Some(&token), None).await;
                (reply.status, reply.json())
            });
        }
        let mut released = 0;
        while let Some(result) = tasks.join_next().await {
            let (status, body) = result.expect("task");
            match status {
                StatusCode::OK => released += 1,
                StatusCode::NOT_FOUND => {}
                StatusCode::CONFLICT => assert_eq!(
                    body["message"],
                    json!("Phone number is being purchased or released by another request")
                ),
                other => panic!("unexpected {other}: {body}"),
            }
        }
        assert_eq!(released, 1, "{backend:?}: exactly one release is reported");
        assert_eq!(
            releases(&provider),
            vec!["+14155552674".to_owned()],
            "{backend:?}: the provider releases it once"
        );
    }
}

/// Ten PATCHes and ten DELETEs that all name the same `If-Match`: exactly one DELETE can
/// succeed, and the provider releases the number at most once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_conditional_patches_and_deletes_release_once() {
    for backend in common::backends() {
        let provider = Arc::new(RecordingProvider::default());
        let app = TestApp::with_providers(backend, vec![provider.clone()]).await;
        let ws = app.workspace("Acme").await;
        app.enable(&ws.id, &["US"], false).await;
        let id = buy_recorded(&app, &ws.token, "+14155552675").await;
        let path = format!("/v1/organization-phone-numbers/{id}");
        let etag = app.call("GET", &path, Some(&ws.token), None).await.headers["etag"]
            .to_str()
            .expect("etag")
            .to_owned();
        let app = Arc::new(app);
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..20 {
            let (app, token, path, etag) =
                (app.clone(), ws.token.clone(), path.clone(), etag.clone());
            tasks.spawn(async move {
                let headers = [("if-match", etag.as_str())];
                if i % 2 == 0 {
                    let body = json!({"label": format!("patch {i}")});
                    let reply = app
                        .call_with("PATCH", &path, Some(&token), Some(body), &headers)
                        .await;
                    ("PATCH", reply.status)
                } else {
                    let reply = app
                        .call_with("DELETE", &path, Some(&token), None, &headers)
                        .await;
                    ("DELETE", reply.status)
                }
            });
        }
        let mut deleted = 0;
        while let Some(result) = tasks.join_next().await {
            let (method, status) = result.expect("task");
            assert!(
                [
                    StatusCode::OK,
                    StatusCode::PRECONDITION_FAILED,
                    StatusCode::NOT_FOUND,
                    StatusCode::CONFLICT
                ]
                .contains(&status),
                "{method}: {status}"
            );
            if method == "DELETE" && status == StatusCode::OK {
                deleted += 1;
            }
        }
        assert!(
            deleted <= 1,
            "{backend:?}: {deleted} DELETEs were told they released it"
        );
        assert_eq!(releases(&provider).len(), deleted, "{backend:?}");
    }
}

/// A release claim left by a process that died mid-release blocks other releases (they
/// would release the number twice) until it is old enough to be the dead request's.
#[tokio::test]
async fn a_release_claim_left_by_a_crash_is_taken_over_after_ten_minutes() {
    for backend in common::backends() {
        let provider = Arc::new(RecordingProvider::default());
        let app = TestApp::with_providers(backend, vec![provider.clone()]).await;
        let ws = app.workspace("Acme").await;
        app.enable(&ws.id, &["US"], false).await;
        let id = buy_recorded(&app, &ws.token, "+14155552676").await;
        let number = switchboard_domain::PhoneNumberId::parse(&id).expect("id");
        let claim = app
            .store
            .begin_release(
                &ws.id,
                &number,
                None,
                switchboard_domain::Timestamp::from_millis(0),
            )
            .await
            .expect("claim");
        assert!(matches!(claim, switchboard_store::ReleaseClaim::Claimed(_)));
        let path = format!("/v1/organization-phone-numbers/{id}");
        let blocked = app.call("DELETE", &path, Some(&ws.token), None).await;
        assert_eq!(blocked.status, StatusCode::CONFLICT);
        assert!(releases(&provider).is_empty());
        app.db
            .execute("UPDATE phone_number_releases SET started_at = started_at - 600001")
            .await;
        let taken_over = app.call("DELETE", &path, Some(&ws.token), None).await;
        assert_eq!(taken_over.status, StatusCode::OK);
        assert_eq!(releases(&provider), vec!["+14155552676".to_owned()]);
    }
}

/// A SIP link follows the rules a purchase does: the country must be enabled for the
/// workspace and, where the regulator asks, the workspace KYC-verified; and a number a
/// provider here has for sale cannot be linked (it would vanish from everyone's search).
#[tokio::test]
async fn sip_links_follow_the_workspace_rules_and_leave_provider_stock_alone() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        let other = app.workspace("Other").await;
        app.enable(&ws.id, &["US", "AU"], false).await;
        app.enable(&other.id, &["US"], false).await;
        let link = |number: &str| json!({"phoneNumber": number, "terminationUri": "zt.plivo.com", "authMode": "ip"});

        let gb = app
            .call("POST", SIP, Some(&ws.token), Some(link("+44 20 7946 0958")))
            .await;
        assert_eq!(gb.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            gb.json()["message"],
            json!("Country GB is not enabled for this workspace")
        );

        let au = app
            .call("POST", SIP, Some(&ws.token), Some(link("+61 2 9374 4000")))
            .await;
        assert_eq!(au.status, StatusCode::FORBIDDEN);
        assert_eq!(
            au.json()["message"],
            json!("Phone numbers in AU require a KYC-verified workspace")
        );
        app.enable(&ws.id, &["US", "AU"], true).await;
        let au = app
            .call("POST", SIP, Some(&ws.token), Some(link("+61 2 9374 4000")))
            .await;
        assert_eq!(au.status, StatusCode::CREATED);

        // The sandbox's own stock: buy it, do not squat it.
        let stock = app
            .call("POST", SIP, Some(&ws.token), Some(link("+14155550110")))
            .await;
        assert_eq!(stock.status, StatusCode::CONFLICT);
        assert_eq!(
            stock.json()["message"],
            json!(
                "Phone number is for sale by sandbox: buy it with POST /v1/organization-phone-numbers/purchase instead of linking it"
            )
        );
        let search = app
            .call(
                "GET",
                "/v1/organization-phone-numbers/plivo-numbers?country_iso=US&type=local",
                Some(&other.token),
                None,
            )
            .await;
        assert!(
            contains(&search.body, "+14155550110"),
            "still for sale to everyone"
        );
        other_buys(&app, &other.token, "+14155550110").await;
    }
}

async fn other_buys(app: &TestApp, token: &str, number: &str) {
    app.buy(token, number, "US").await;
}

/// Required credentials made of nothing visible are as missing as empty ones.
#[tokio::test]
async fn blank_sip_credentials_are_refused() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        let required = "sipTrunkUserName and sipTrunkPassword are required when authMode=userpass";
        let control = |field: &str| {
            format!("{field} must not contain control characters (line breaks, tabs, NUL, escapes)")
        };
        for (user, password, expected) in [
            ("   ", "p", json!(required)),
            ("u", " \t ", json!([control("sipTrunkPassword"), required])),
            (
                "\u{1}\u{2}",
                "p",
                json!([control("sipTrunkUserName"), required]),
            ),
            (
                "u",
                "\u{7f}",
                json!([control("sipTrunkPassword"), required]),
            ),
        ] {
            let body = json!({"phoneNumber": "+14155552671", "terminationUri": "zt.plivo.com", "sipTrunkUserName": user, "sipTrunkPassword": password});
            let reply = app.call("POST", SIP, Some(&ws.token), Some(body)).await;
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{user:?} / {password:?}"
            );
            assert_eq!(reply.json()["message"], expected, "{user:?} / {password:?}");
        }
        let listed = app
            .call(
                "GET",
                "/v1/organization-phone-numbers",
                Some(&ws.token),
                None,
            )
            .await;
        assert_eq!(listed.json()["total"], json!(0), "nothing was linked");
    }
}

/// (ext) Search filters: area code, digits anywhere, capability, and paging, on the sandbox;
/// every bad value named in one 400.
#[tokio::test]
async fn a_search_filters_by_area_code_digits_and_capability_and_pages() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        app.enable(&ws.id, &["US"], false).await;
        let search = |query: &'static str| {
            let (app, token) = (&app, ws.token.clone());
            async move {
                app.call(
                    "GET",
                    &format!("/v1/organization-phone-numbers/plivo-numbers?country_iso=US{query}"),
                    Some(&token),
                    None,
                )
                .await
            }
        };
        let numbers = |body: &serde_json::Value| -> Vec<String> {
            body["objects"]
                .as_array()
                .expect("objects")
                .iter()
                .map(|o| o["number"].as_str().expect("number").to_owned())
                .collect()
        };

        let everything = search("").await.json();
        assert_eq!(
            everything["meta"],
            json!({"total_count": 40, "limit": 100, "offset": 0})
        );

        let toll_free = search("&area_code=800").await.json();
        assert_eq!(toll_free["meta"]["total_count"], 20);
        assert!(
            toll_free["objects"]
                .as_array()
                .expect("objects")
                .iter()
                .all(|o| o["type"] == "tollfree")
        );

        // Toll-free numbers carry no SMS here.
        let texting = search("&capability=sms").await.json();
        assert_eq!(texting["meta"]["total_count"], 20);
        assert!(numbers(&texting).iter().all(|n| n.starts_with("+1415")));
        assert_eq!(
            search("&capability=voice,sms").await.json()["meta"]["total_count"],
            20
        );

        // Ten numbers of 415 have 011 in them; the second page of four.
        let page = search("&area_code=415&contains=011&limit=4&offset=2")
            .await
            .json();
        assert_eq!(
            page["meta"],
            json!({"total_count": 10, "limit": 4, "offset": 2})
        );
        assert_eq!(
            numbers(&page),
            [
                "+14155550112",
                "+14155550113",
                "+14155550114",
                "+14155550115"
            ]
        );
        // A number somebody owns is not offered, and not counted.
        app.buy(&ws.token, "+14155550110", "US").await;
        let after = search("&area_code=415&contains=011").await.json();
        assert_eq!(after["meta"]["total_count"], 9);
        assert!(!numbers(&after).contains(&"+14155550110".to_owned()));
        // Past the end: an empty page with the right total.
        let past = search("&contains=011&offset=50").await.json();
        assert_eq!(past["objects"], json!([]));
        assert_eq!(past["meta"]["total_count"], 19);

        let bad = search("&area_code=4a5&contains=&capability=fax&limit=0&offset=-1").await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            bad.json()["message"],
            json!(
                "area_code must be 1 to 5 digits (of the national number, without the country code); \
                 contains must be 1 to 10 digits (of the national number, without the country code); \
                 capability must be voice, sms or voice,sms (not \"fax\"); \
                 limit must be an integer from 1 to 100; offset must be an integer from 0 to 10000"
            )
        );
    }
}
