//! Every route checks the key first (401) and then its own scope (403), before it looks at
//! the input or the records.

mod common;

use axum::http::StatusCode;
use common::TestApp;
use serde_json::json;
use switchboard_domain::{Scope, Scopes};

/// `(method, path, the scope the route needs)`.
const ROUTES: &[(&str, &str, Scope)] = &[
    (
        "GET",
        "/v1/organization-phone-numbers",
        Scope::PhoneNumbersRead,
    ),
    (
        "GET",
        "/v1/organization-phone-numbers/phn_aaaaaaaaaaaa",
        Scope::PhoneNumbersRead,
    ),
    (
        "PATCH",
        "/v1/organization-phone-numbers/phn_aaaaaaaaaaaa",
        Scope::PhoneNumbersWrite,
    ),
    (
        "DELETE",
        "/v1/organization-phone-numbers/phn_aaaaaaaaaaaa",
        Scope::PhoneNumbersWrite,
    ),
    (
        "GET",
        "/v1/organization-phone-numbers/plivo-numbers?country_iso=US",
        Scope::PhoneNumbersRead,
    ),
    (
        "POST",
        "/v1/organization-phone-numbers/purchase",
        Scope::PhoneNumbersWrite,
    ),
    (
        "POST",
        "/v1/organization-phone-numbers/sip-trunks",
        Scope::PhoneNumbersWrite,
    ),
    ("GET", "/v1/phone-number-pricing", Scope::PhoneNumbersRead),
    (
        "GET",
        "/v1/phone-country-rules/countries",
        Scope::PhoneNumbersRead,
    ),
    (
        "GET",
        "/v1/phone-country-rules/enabled-network-groups",
        Scope::PhoneNumbersRead,
    ),
    ("GET", "/v1/agents", Scope::AgentsRead),
    ("POST", "/v1/agents", Scope::AgentsWrite),
    ("GET", "/v1/agents/agt_aaaaaaaaaaaa", Scope::AgentsRead),
    ("PATCH", "/v1/agents/agt_aaaaaaaaaaaa", Scope::AgentsWrite),
    ("DELETE", "/v1/agents/agt_aaaaaaaaaaaa", Scope::AgentsWrite),
    ("GET", "/v1/api-keys", Scope::ApiKeysManage),
    ("POST", "/v1/api-keys", Scope::ApiKeysManage),
    (
        "DELETE",
        "/v1/api-keys/abcdefghijklmn",
        Scope::ApiKeysManage,
    ),
    ("GET", "/v1/users", Scope::UsersManage),
    ("POST", "/v1/users", Scope::UsersManage),
    ("PATCH", "/v1/users/usr_aaaaaaaaaaaa", Scope::UsersManage),
    ("DELETE", "/v1/users/usr_aaaaaaaaaaaa", Scope::UsersManage),
    (
        "GET",
        "/v1/users/usr_aaaaaaaaaaaa/sessions",
        Scope::UsersManage,
    ),
    (
        "POST",
        "/v1/users/usr_aaaaaaaaaaaa/sign-out",
        Scope::UsersManage,
    ),
    (
        "DELETE",
        "/v1/users/usr_aaaaaaaaaaaa/sessions/ses_aaaaaaaaaaaa",
        Scope::UsersManage,
    ),
];

fn body_for(method: &str) -> Option<serde_json::Value> {
    matches!(method, "POST" | "PATCH").then(|| json!({}))
}

#[tokio::test]
async fn every_route_needs_a_key_then_its_scope() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        for (method, path, scope) in ROUTES {
            let anonymous = app.call(method, path, None, body_for(method)).await;
            assert_eq!(
                anonymous.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path}"
            );
            assert_eq!(
                anonymous.json()["message"],
                json!("API key is missing or invalid"),
                "{method} {path}"
            );

            let all_but: Scopes = Scope::ALL.into_iter().filter(|s| s != scope).collect();
            let token = app.key(&ws.id, all_but).await;
            let forbidden = app.call(method, path, Some(&token), body_for(method)).await;
            assert_eq!(forbidden.status, StatusCode::FORBIDDEN, "{method} {path}");
            assert_eq!(
                forbidden.json(),
                json!({"statusCode": 403, "message": "You do not have permission to access this resource", "error": "Forbidden"}),
                "{method} {path}"
            );

            let only: Scopes = [*scope].into_iter().collect();
            let token = app.key(&ws.id, only).await;
            let allowed = app.call(method, path, Some(&token), body_for(method)).await;
            assert!(
                ![StatusCode::UNAUTHORIZED, StatusCode::FORBIDDEN].contains(&allowed.status),
                "{method} {path} with {scope}: {}",
                allowed.status
            );
        }
    }
}

#[tokio::test]
async fn last_used_at_is_recorded() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        let before = app
            .call("GET", "/v1/api-keys", Some(&ws.token), None)
            .await
            .json();
        // The listing request itself is the key's first use; it is written in the background.
        let mut recorded = before[0]["last_used_at"].is_string();
        for _ in 0..50 {
            if recorded {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            let listed = app
                .call("GET", "/v1/api-keys", Some(&ws.token), None)
                .await
                .json();
            recorded = listed[0]["last_used_at"].is_string();
        }
        assert!(recorded, "last_used_at was never recorded");
    }
}

#[tokio::test]
async fn oversized_uris_and_headers_get_the_envelope_and_nothing_runs() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        app.enable(&ws.id, &["US"], false).await;
        let list = "/v1/organization-phone-numbers?q=";

        let at_the_limit = format!("{list}{}", "a".repeat(8 * 1024 - list.len()));
        let reply = app.call("GET", &at_the_limit, Some(&ws.token), None).await;
        assert_eq!(reply.status, StatusCode::OK, "8 KiB exactly is allowed");

        let over = format!("{at_the_limit}a");
        let reply = app.call("GET", &over, Some(&ws.token), None).await;
        assert_eq!(reply.status, StatusCode::URI_TOO_LONG);
        assert_eq!(
            reply.json(),
            json!({"statusCode": 414, "message": "request URI is longer than 8192 bytes", "error": "URI Too Long"})
        );

        // Refused before anything runs: a purchase with huge headers buys nothing.
        let filler = "f".repeat(16 * 1024);
        let reply = app
            .call_with(
                "POST",
                "/v1/organization-phone-numbers/purchase",
                Some(&ws.token),
                Some(json!({"phoneNumber": "+14155550100", "telephonyProviderId": "sandbox", "countryISO": "US"})),
                &[("x-filler", &filler)],
            )
            .await;
        assert_eq!(reply.status, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        assert_eq!(
            reply.json(),
            json!({"statusCode": 431, "message": "request headers are larger than 16384 bytes or more than 100 in number", "error": "Request Header Fields Too Large"})
        );
        let numbers = app
            .call(
                "GET",
                "/v1/organization-phone-numbers",
                Some(&ws.token),
                None,
            )
            .await;
        assert_eq!(numbers.json()["total"], json!(0));
    }
}

/// Authorisation comes before validation: a key without the route's scope is told 403
/// whatever body it sends, malformed or of another type.
#[tokio::test]
async fn a_key_without_the_scope_is_refused_before_its_body_is_judged() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        for (method, path, scope) in ROUTES
            .iter()
            .filter(|(m, _, _)| matches!(*m, "POST" | "PATCH"))
        {
            let all_but: Scopes = Scope::ALL.into_iter().filter(|s| s != scope).collect();
            let token = app.key(&ws.id, all_but).await;
            for (content_type, body) in [
                ("application/json", "{not json"),
                ("application/json", "[1, 2]"),
                ("text/plain", "hello"),
            ] {
                let request = axum::http::Request::builder()
                    .method(*method)
                    .uri(*path)
                    .header("authorization", common::bearer(&token))
                    .header("content-type", content_type)
                    .body(axum::body::Body::from(body))
                    .expect("request");
                let reply = app.send(request).await;
                assert_eq!(
                    reply.status,
                    StatusCode::FORBIDDEN,
                    "{method} {path} with {content_type} {body}"
                );
            }
        }
    }
}
