//! `GET /v1/organization-phone-numbers/{id}`, as a client sees it.

mod common;

use axum::http::StatusCode;
use common::{TestApp, bearer};
use serde_json::json;
use switchboard_domain::{Scope, Scopes};

const UNAUTHORIZED: &str =
    r#"{"statusCode":401,"message":"API key is missing or invalid","error":"Unauthorized"}"#;
const FORBIDDEN: &str = r#"{"statusCode":403,"message":"You do not have permission to access this resource","error":"Forbidden"}"#;
const NOT_FOUND: &str =
    r#"{"statusCode":404,"message":"Phone number not found","error":"Not Found"}"#;

fn is_millisecond_timestamp(value: &serde_json::Value) -> bool {
    let Some(text) = value.as_str() else {
        return false;
    };
    let bytes = text.as_bytes();
    // 2024-01-15T07:00:00.000Z
    text.len() == 24
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            10 => *b == b'T',
            13 | 16 => *b == b':',
            19 => *b == b'.',
            23 => *b == b'Z',
            _ => b.is_ascii_digit(),
        })
}

#[tokio::test]
async fn returns_every_field_of_the_object() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        let agent = app.agent(&ws.id, "Support").await;
        let id = app
            .number(
                &ws.id,
                "+912234567890",
                Some("Mumbai Support"),
                Some(agent.clone()),
            )
            .await;

        let reply = app
            .get(
                &format!("/v1/organization-phone-numbers/{id}"),
                Some(&bearer(&ws.token)),
            )
            .await;

        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(
            reply
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/json; charset=utf-8")
        );
        let body = reply.json();
        let object = body.as_object().expect("an object");
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "agent_id",
                "capabilities",
                "country_code",
                "created_at",
                "id",
                "inbound_agent_id",
                "is_default",
                "label",
                "monthly_cost_usd",
                "nickname",
                "outbound_agent_id",
                "phone_number",
                "provider",
                "routing",
                "sip_trunk_enabled",
                "status",
                "type",
                "updated_at",
            ]
        );
        assert_eq!(body["id"], json!(id.as_str()));
        assert_eq!(body["phone_number"], json!("+912234567890"));
        assert_eq!(body["country_code"], json!("IN"));
        assert_eq!(body["type"], json!("local"));
        assert_eq!(body["monthly_cost_usd"], json!("1.15"));
        assert_eq!(body["capabilities"], json!(["voice"]));
        assert_eq!(body["label"], json!(null));
        assert_eq!(body["nickname"], json!("Mumbai Support"));
        assert_eq!(body["inbound_agent_id"], json!(agent.as_str()));
        assert_eq!(body["agent_id"], body["inbound_agent_id"]);
        assert_eq!(body["outbound_agent_id"], json!(null));
        assert_eq!(body["status"], json!("active"));
        assert_eq!(body["provider"], json!("twilio"));
        assert_eq!(body["sip_trunk_enabled"], json!(false));
        assert_eq!(body["is_default"], json!(false));
        assert!(
            is_millisecond_timestamp(&body["created_at"]),
            "{}",
            body["created_at"]
        );
        assert!(
            is_millisecond_timestamp(&body["updated_at"]),
            "{}",
            body["updated_at"]
        );
    }
}

#[tokio::test]
async fn every_kind_of_bad_credential_is_a_401() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        let id = app.number(&ws.id, "+912234567890", None, None).await;
        let path = format!("/v1/organization-phone-numbers/{id}");
        let (key_id, _secret) = ws.token.split_once(':').expect("token has a colon");
        let wrong_secret = format!("Bearer {key_id}:{}", "x".repeat(40));
        let cases: [(&str, Option<&str>); 7] = [
            ("no header", None),
            ("basic scheme", Some("Basic dXNlcjpwYXNz")),
            ("bearer alone", Some("Bearer")),
            (
                "token without a colon",
                Some("Bearer abcdefghijklmnopqrstuvwxyz"),
            ),
            (
                "unknown key id",
                Some("Bearer zzzzzzzzzzzzzz:0123456789012345678901234567890123456789"),
            ),
            ("right key id, wrong secret", Some(&wrong_secret)),
            ("key id of the wrong shape", Some("Bearer ABC:secret")),
        ];
        for (case, header) in cases {
            let reply = app.get(&path, header).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{case}");
            assert_eq!(String::from_utf8_lossy(&reply.body), UNAUTHORIZED, "{case}");
        }
        // The right key still works, so the 401s above were about the credentials.
        assert_eq!(
            app.get(&path, Some(&bearer(&ws.token))).await.status,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn a_cached_key_still_checks_its_secret() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        let id = app.number(&ws.id, "+912234567890", None, None).await;
        let path = format!("/v1/organization-phone-numbers/{id}");
        assert_eq!(
            app.get(&path, Some(&bearer(&ws.token))).await.status,
            StatusCode::OK
        );
        let (key_id, _) = ws.token.split_once(':').expect("colon");
        let reply = app
            .get(&path, Some(&format!("Bearer {key_id}:{}", "y".repeat(40))))
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn expired_keys_are_a_401() {
    for backend in common::backends() {
        use switchboard_domain::{ApiKeyId, ApiKeySecret, Timestamp};
        use switchboard_store::NewApiKey;

        // No cache, so the store's state is read on every request.
        let app = TestApp::with_key_cache(backend, std::time::Duration::ZERO).await;
        let ws = app.workspace("Acme").await;
        let id = app.number(&ws.id, "+912234567890", None, None).await;
        let key_id = ApiKeyId::generate();
        let secret = ApiKeySecret::generate();
        app.store
            .create_api_key(NewApiKey {
                id: key_id.clone(),
                workspace_id: ws.id.clone(),
                name: "expired".into(),
                secret_digest: secret.digest(),
                scopes: Scopes::all(),
                expires_at: Some(Timestamp::from_millis(Timestamp::now().as_millis() - 1)),
                expire_others_at: None,
                expire_others_within: Scopes::default(),
                actor: switchboard_store::Actor::cli(),
            })
            .await
            .expect("create key");
        let reply = app
            .get(
                &format!("/v1/organization-phone-numbers/{id}"),
                Some(&bearer(secret.token(&key_id).expose())),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(String::from_utf8_lossy(&reply.body), UNAUTHORIZED);
    }
}

#[tokio::test]
async fn a_key_without_the_read_scope_is_a_403() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        let id = app.number(&ws.id, "+912234567890", None, None).await;
        let scopes: Scopes = [Scope::AgentsRead, Scope::PhoneNumbersWrite]
            .into_iter()
            .collect();
        let token = app.key(&ws.id, scopes).await;

        let reply = app
            .get(
                &format!("/v1/organization-phone-numbers/{id}"),
                Some(&bearer(&token)),
            )
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert_eq!(String::from_utf8_lossy(&reply.body), FORBIDDEN);

        // Scope is checked before existence: no probing for ids without the scope.
        let reply = app
            .get(
                "/v1/organization-phone-numbers/phn_aaaaaaaaaaaa",
                Some(&bearer(&token)),
            )
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
    }
}

#[tokio::test]
async fn unknown_malformed_and_foreign_ids_get_the_same_404() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ours = app.workspace("Ours").await;
        let theirs = app.workspace("Theirs").await;
        let their_number = app
            .number(&theirs.id, "+14155552671", Some("Secret line"), None)
            .await;
        let auth = bearer(&ours.token);

        let paths = [
            "/v1/organization-phone-numbers/phn_aaaaaaaaaaaa".to_owned(),
            "/v1/organization-phone-numbers/not-an-id".to_owned(),
            "/v1/organization-phone-numbers/phn_AAAAAAAAAAAA".to_owned(),
            "/v1/organization-phone-numbers/%E2%82%AC".to_owned(),
            format!("/v1/organization-phone-numbers/{their_number}"),
        ];
        for path in &paths {
            let reply = app.get(path, Some(&auth)).await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
            assert_eq!(String::from_utf8_lossy(&reply.body), NOT_FOUND, "{path}");
        }
        // The owner sees it, so the 404 above is isolation, not a missing record.
        let reply = app
            .get(
                &format!("/v1/organization-phone-numbers/{their_number}"),
                Some(&bearer(&theirs.token)),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.json()["nickname"], json!("Secret line"));
    }
}

#[tokio::test]
async fn only_the_digest_of_a_secret_is_stored() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        let (_, secret) = ws.token.split_once(':').expect("colon");
        assert!(secret.len() >= 32);

        let stored = app.db.dump().await;
        assert!(!stored.is_empty(), "the database files were read");
        let found = stored.windows(secret.len()).any(|w| w == secret.as_bytes());
        assert!(!found, "the raw secret is in the database");
        let digest = switchboard_domain::SecretDigest::of(secret);
        let hex: String = digest
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(
            stored.windows(32).any(|w| w == digest.as_bytes()) || common::contains(&stored, &hex),
            "the digest is in the database"
        );
    }
}

#[tokio::test]
async fn health_readiness_request_ids_and_unknown_routes() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let healthz = app.get("/healthz", None).await;
        assert_eq!(healthz.status, StatusCode::OK);
        let readyz = app.get("/readyz", None).await;
        assert_eq!(readyz.status, StatusCode::OK);
        assert_eq!(readyz.json()["database"], json!("ok"));

        let generated = healthz
            .headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .expect("a generated request id");
        assert!(!generated.is_empty());

        let request = axum::http::Request::get("/v1/organization-phone-numbers/phn_aaaaaaaaaaaa")
            .header("x-request-id", "trace-me-123")
            .body(axum::body::Body::empty())
            .expect("request");
        let echoed = app.send(request).await;
        assert_eq!(echoed.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            echoed
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok()),
            Some("trace-me-123")
        );

        let unknown = app.get("/v1/nothing-here", None).await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        assert_eq!(
            unknown.json(),
            json!({"statusCode":404,"message":"Cannot GET /v1/nothing-here","error":"Not Found"})
        );
    }
}

/// A client's `X-Request-Id` is kept only when it is 1 to 128 visible ASCII characters;
/// anything else (spaces that would forge log fields, an id that would bloat every history
/// entry) is replaced by a generated one, in the answer and in the history alike.
#[tokio::test]
async fn unfit_request_ids_are_replaced() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        let id = app.number(&ws.id, "+14155552671", None, None).await;
        let path = format!("/v1/organization-phone-numbers/{id}");
        let longest = "r".repeat(128);
        let huge = "x".repeat(10_000);
        let cases: [(&str, bool); 5] = [
            ("trace-me-123", true),
            (&longest, true),
            ("x status=200 path=/fake", false),
            (&huge, false),
            ("caf\u{e9}", false),
        ];
        for (i, (sent, kept)) in cases.into_iter().enumerate() {
            let request = axum::http::Request::patch(&path)
                .header("authorization", bearer(&ws.token))
                .header("content-type", "application/json")
                .header(
                    "x-request-id",
                    axum::http::HeaderValue::from_bytes(sent.as_bytes()).expect("header value"),
                )
                .body(axum::body::Body::from(
                    json!({"label": format!("l{i}")}).to_string(),
                ))
                .expect("request");
            let reply = app.send(request).await;
            assert_eq!(reply.status, StatusCode::OK);
            let echoed = reply.headers["x-request-id"]
                .to_str()
                .expect("ASCII")
                .to_owned();
            let history = app
                .call("GET", &format!("{path}/history"), Some(&ws.token), None)
                .await
                .json();
            let stored = history["items"][0]["request_id"]
                .as_str()
                .expect("stored")
                .to_owned();
            assert_eq!(
                echoed, stored,
                "the answer and the history name the same id"
            );
            if kept {
                assert_eq!(echoed, sent);
            } else {
                assert_ne!(echoed, sent);
                assert_eq!(echoed.len(), 36, "a generated UUID: {echoed}");
            }
        }
    }
}
