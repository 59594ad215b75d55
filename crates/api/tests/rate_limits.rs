//! Per-key rate limits (SPEC §6) as a client sees them.

mod common;

use axum::http::StatusCode;
use common::{Reply, TestApp, bearer};
use serde_json::json;
use std::time::Duration;
use switchboard_api::ApiSettings;

fn header(reply: &Reply, name: &str) -> Option<u64> {
    reply.headers.get(name)?.to_str().ok()?.parse().ok()
}

#[tokio::test]
async fn budget_counts_down_then_429_then_recovers() {
    for backend in common::backends() {
        let app = TestApp::with_settings(
            backend,
            ApiSettings {
                rate_limit_per_minute: 60,
                ..ApiSettings::default()
            },
        )
        .await;
        let ws = app.workspace("Acme").await;
        let id = app.number(&ws.id, "+912234567890", None, None).await;
        let path = format!("/v1/organization-phone-numbers/{id}");
        let auth = bearer(&ws.token);

        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let mut remaining = Vec::new();
        for _ in 0..60 {
            let reply = app.get(&path, Some(&auth)).await;
            assert_eq!(reply.status, StatusCode::OK);
            assert_eq!(header(&reply, "x-ratelimit-limit"), Some(60));
            let reset = header(&reply, "x-ratelimit-reset").expect("reset header");
            assert!(
                reset >= now && reset <= now + 62,
                "reset {reset} vs now {now}"
            );
            remaining.push(header(&reply, "x-ratelimit-remaining").expect("remaining header"));
        }
        // Counts down by one per request (a request may be earned back during the loop).
        assert_eq!(remaining[0], 59);
        assert!(remaining.windows(2).all(|w| w[1] <= w[0]), "{remaining:?}");
        assert!(*remaining.last().expect("last") <= 1, "{remaining:?}");

        // Spend whatever was earned back meanwhile, then the next request is refused.
        let limited = loop {
            let reply = app.get(&path, Some(&auth)).await;
            if reply.status != StatusCode::OK {
                break reply;
            }
        };
        assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            limited.json(),
            json!({
                "statusCode": 429,
                "message": "Too many requests. Please slow down and retry after a moment.",
                "error": "Too Many Requests"
            })
        );
        let retry_after = header(&limited, "retry-after").expect("Retry-After");
        assert!((1..=2).contains(&retry_after), "{retry_after}");
        assert_eq!(header(&limited, "x-ratelimit-remaining"), Some(0));

        // Another key of the same workspace has its own budget.
        let other = app.key(&ws.id, switchboard_domain::Scopes::all()).await;
        assert_eq!(
            app.get(&path, Some(&bearer(&other))).await.status,
            StatusCode::OK
        );

        tokio::time::sleep(Duration::from_secs(retry_after)).await;
        assert_eq!(app.get(&path, Some(&auth)).await.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn zero_disables_limits_and_their_headers() {
    for backend in common::backends() {
        let app = TestApp::with_settings(
            backend,
            ApiSettings {
                rate_limit_per_minute: 0,
                ..ApiSettings::default()
            },
        )
        .await;
        let ws = app.workspace("Acme").await;
        let id = app.number(&ws.id, "+912234567890", None, None).await;
        let path = format!("/v1/organization-phone-numbers/{id}");
        for _ in 0..700 {
            let reply = app.get(&path, Some(&bearer(&ws.token))).await;
            assert_eq!(reply.status, StatusCode::OK);
            assert!(reply.headers.get("x-ratelimit-limit").is_none());
        }
    }
}

#[tokio::test]
async fn errors_of_an_authenticated_request_carry_the_headers_too() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        let reply = app
            .get(
                "/v1/organization-phone-numbers/phn_aaaaaaaaaaaa",
                Some(&bearer(&ws.token)),
            )
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        assert_eq!(header(&reply, "x-ratelimit-limit"), Some(600));
        assert_eq!(header(&reply, "x-ratelimit-remaining"), Some(599));
    }
}
