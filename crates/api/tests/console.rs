//! The console's files and the API call it signs in with. The console itself is driven in a
//! real browser by crates/cli/tests/console.rs.

mod common;

use axum::http::StatusCode;
use common::{TestApp, bearer};
use serde_json::json;
use switchboard_domain::{Scope, Scopes};

#[tokio::test]
async fn me_shows_the_key_and_its_workspace_to_any_live_key() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme <b>Voice</b>").await;
        app.enable(&ws.id, &["GB", "US"], true).await;
        let read_only = app
            .key(&ws.id, Scopes::from_iter([Scope::PhoneNumbersRead]))
            .await;
        let reply = app.get("/v1/me", Some(&bearer(&read_only))).await;
        assert_eq!(reply.status, StatusCode::OK);
        let me = reply.json();
        assert_eq!(
            me["key"]["id"],
            json!(read_only.split(':').next().expect("key id"))
        );
        assert_eq!(me["key"]["name"], json!("test"));
        assert_eq!(me["key"]["scopes"], json!(["phone_numbers:read"]));
        assert_eq!(
            me["workspace"],
            json!({"id": ws.id.as_str(), "name": "Acme <b>Voice</b>", "countries": ["GB", "US"],
                   "kyc_verified": true})
        );
        assert_eq!(reply.headers["cache-control"], "no-store");

        // A key without any phone-number scope still learns who it is; a bad key does not.
        let nothing = app
            .key(&ws.id, Scopes::from_iter([Scope::AgentsRead]))
            .await;
        assert_eq!(
            app.get("/v1/me", Some(&bearer(&nothing))).await.status,
            StatusCode::OK
        );
        let bad = app.get("/v1/me", Some("Bearer nope:nope")).await;
        assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
        assert_eq!(bad.headers["cache-control"], "no-store");
    }
}

#[tokio::test]
async fn console_files_carry_a_strict_policy() {
    let app = TestApp::new(common::backends()[0]).await;
    let root = app.get("/", None).await;
    assert!(root.status.is_redirection());
    assert_eq!(root.headers["location"], "/console/");
    let bare = app.get("/console", None).await;
    assert_eq!(bare.headers["location"], "/console/");
    for (path, content_type) in [
        ("/console/", "text/html; charset=utf-8"),
        ("/console/app.js", "text/javascript; charset=utf-8"),
        ("/console/app.css", "text/css; charset=utf-8"),
        (
            "/console/vendor/libphonenumber-min.js",
            "text/javascript; charset=utf-8",
        ),
    ] {
        let reply = app.get(path, None).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_eq!(reply.headers["content-type"], content_type, "{path}");
        let policy = reply.headers["content-security-policy"]
            .to_str()
            .expect("ascii");
        assert!(policy.contains("script-src 'self';"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
        assert!(
            !policy.contains("unsafe-inline") && !policy.contains("unsafe-eval"),
            "{policy}"
        );
        assert_eq!(reply.headers["x-frame-options"], "DENY");
        assert_eq!(reply.headers["x-content-type-options"], "nosniff");
        assert_eq!(reply.headers["referrer-policy"], "no-referrer");
    }
    // The page has no inline script for the policy to allow.
    let page = String::from_utf8(app.get("/console/", None).await.body).expect("utf-8");
    for script in page.split("<script").skip(1) {
        assert!(
            script.contains("src=\"/console/"),
            "inline script: {script}"
        );
    }
}
