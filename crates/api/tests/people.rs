//! People signing in to the console: roles as scopes, sessions, forgery protection, the
//! sign-in lockout, invitations, and the audit trail naming the person.

mod common;

use axum::http::StatusCode;
use common::{Reply, TestApp};
use serde_json::{Value, json};
use std::time::Duration;
use switchboard_api::ApiSettings;
use switchboard_domain::{Email, PasswordDigest, Role, UserId, WorkspaceId};
use switchboard_server::sessions::SessionSettings;
use switchboard_store::{Actor, NewUser};

const PASSWORD: &str = "correct horse battery";

/// A browser signed in as one person: its cookies and the forgery token it sends back.
struct Browser {
    cookies: String,
    csrf: String,
}

/// Adds a person with a password, straight in the store (what `switchboard user create
/// --password-stdin` does).
async fn person(app: &TestApp, workspace: &WorkspaceId, email: &str, role: Role) -> UserId {
    app.store
        .create_user(NewUser {
            id: UserId::generate(),
            workspace_id: workspace.clone(),
            email: Email::parse(email).expect("email"),
            role,
            password: Some(PasswordDigest::of(PASSWORD).expect("hash")),
            setup: None,
            actor: Actor::cli(),
        })
        .await
        .expect("create user")
        .id
}

async fn try_sign_in(app: &TestApp, email: &str, password: &str) -> Reply {
    app.call(
        "POST",
        "/auth/login",
        None,
        Some(json!({"email": email, "password": password})),
    )
    .await
}

async fn sign_in(app: &TestApp, email: &str) -> Browser {
    let reply = try_sign_in(app, email, PASSWORD).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "sign-in of {email}");
    let set: Vec<&str> = reply
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().expect("ASCII"))
        .collect();
    let session = set
        .iter()
        .find(|c| c.starts_with("switchboard_session="))
        .expect("session cookie");
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Strict"), "{session}");
    let pair = |cookie: &str| cookie.split(';').next().expect("pair").to_owned();
    let csrf_cookie = set
        .iter()
        .find(|c| c.starts_with("switchboard_csrf="))
        .expect("csrf cookie");
    assert!(!csrf_cookie.contains("HttpOnly"), "the console reads it");
    let csrf = pair(csrf_cookie).split_once('=').expect("=").1.to_owned();
    Browser {
        cookies: format!("{}; {}", pair(session), pair(csrf_cookie)),
        csrf,
    }
}

impl Browser {
    /// A request the console would make: the cookies, and the forgery token on changes.
    async fn call(&self, app: &TestApp, method: &str, path: &str, body: Option<Value>) -> Reply {
        app.call_with(
            method,
            path,
            None,
            body,
            &[("cookie", &self.cookies), ("x-csrf-token", &self.csrf)],
        )
        .await
    }
}

/// How many events the workspace has (read with its full-scope key).
async fn event_count(app: &TestApp, token: &str) -> u64 {
    let reply = app.call("GET", "/v1/events", Some(token), None).await;
    assert_eq!(reply.status, StatusCode::OK);
    reply.json()["total"].as_u64().expect("total")
}

/// Every operation of the document that changes something, with the path's ids filled in
/// with records that exist (so a missing check would change them) and a body that would
/// work.
fn mutating_operations(ids: &[(&str, String)]) -> Vec<(String, String, Option<Value>)> {
    let doc: Value =
        serde_json::from_str(switchboard_api::openapi::document_json()).expect("document");
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        if !path.starts_with("/v1/") {
            continue;
        }
        for method in ["post", "patch", "put", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let resource = path.split('/').nth(2).expect("resource");
            let id = ids
                .iter()
                .find(|(r, _)| *r == resource)
                .map_or("zzz_aaaaaaaaaaaa".to_owned(), |(_, id)| id.clone());
            let concrete = path
                .replace("{id}", &id)
                .replace("{session_id}", "ses_aaaaaaaaaaaa")
                .replace("{delivery_id}", "whd_aaaaaaaaaaaa");
            let body = match (method, path.as_str()) {
                ("post", "/v1/agents") => Some(json!({"name": "Viewer's agent"})),
                ("patch", "/v1/agents/{id}") => Some(json!({"name": "renamed"})),
                ("post", "/v1/api-keys") => Some(json!({"name": "viewer's key"})),
                ("post", "/v1/organization-phone-numbers/purchase") => Some(
                    json!({"phoneNumber": "+14155550199", "telephonyProviderId": "sandbox", "countryISO": "US"}),
                ),
                ("patch", "/v1/organization-phone-numbers/{id}") => {
                    Some(json!({"nickname": "changed by a viewer"}))
                }
                ("post", "/v1/organization-phone-numbers/bulk-update") => {
                    Some(json!({"ids": [id], "nickname": "changed by a viewer"}))
                }
                ("post", "/v1/users") => Some(json!({"email": "eve@example.com", "role": "admin"})),
                ("patch", "/v1/users/{id}") => Some(json!({"role": "admin"})),
                ("post", "/v1/webhook-endpoints") => {
                    Some(json!({"url": "https://hooks.example.com/sb"}))
                }
                ("post" | "patch", _) => Some(json!({})),
                _ => None,
            };
            operations.push((method.to_uppercase(), concrete, body));
        }
    }
    operations
}

#[tokio::test]
async fn a_viewer_can_change_nothing_and_an_operator_cannot_manage_keys_webhooks_or_people() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        app.enable(&ws.id, &["US"], false).await;
        let agent = app.agent(&ws.id, "Front desk").await;
        let number = app
            .number(&ws.id, "+14155550100", Some("main"), Some(agent.clone()))
            .await;
        let key_id = ws.token.split(':').next().expect("id").to_owned();
        let admin = person(&app, &ws.id, "ada@example.com", Role::Admin).await;
        person(&app, &ws.id, "vic@example.com", Role::Viewer).await;
        person(&app, &ws.id, "otto@example.com", Role::Operator).await;
        let viewer = sign_in(&app, "vic@example.com").await;
        let operator = sign_in(&app, "otto@example.com").await;
        let ids = [
            ("organization-phone-numbers", number.to_string()),
            ("agents", agent.to_string()),
            ("api-keys", key_id),
            ("users", admin.to_string()),
            ("webhook-endpoints", "whe_aaaaaaaaaaaa".to_owned()),
        ];
        let operations = mutating_operations(&ids);
        assert!(operations.len() >= 20, "{} operations", operations.len());

        let before = event_count(&app, &ws.token).await;
        for (method, path, body) in &operations {
            let reply = viewer.call(&app, method, path, body.clone()).await;
            assert_eq!(
                reply.status,
                StatusCode::FORBIDDEN,
                "viewer: {method} {path}"
            );
            assert_eq!(
                reply.json()["message"],
                json!("You do not have permission to access this resource"),
                "viewer: {method} {path}"
            );
        }
        assert_eq!(
            event_count(&app, &ws.token).await,
            before,
            "a viewer's request changed something"
        );
        // What a viewer is for: reading.
        for path in [
            "/v1/organization-phone-numbers",
            "/v1/agents",
            "/v1/calls",
            "/v1/events",
            "/v1/me",
        ] {
            let reply = viewer.call(&app, "GET", path, None).await;
            assert_eq!(reply.status, StatusCode::OK, "viewer: GET {path}");
        }

        for (method, path, body) in operations.iter().filter(|(_, path, _)| {
            ["/v1/api-keys", "/v1/webhook-endpoints", "/v1/users"]
                .iter()
                .any(|prefix| path.starts_with(prefix))
        }) {
            let reply = operator.call(&app, method, path, body.clone()).await;
            assert_eq!(
                reply.status,
                StatusCode::FORBIDDEN,
                "operator: {method} {path}"
            );
        }
        for path in ["/v1/api-keys", "/v1/webhook-endpoints", "/v1/users"] {
            let reply = operator.call(&app, "GET", path, None).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "operator: GET {path}");
        }
        assert_eq!(event_count(&app, &ws.token).await, before);
        // What an operator is for: routing numbers and managing agents.
        let path = format!("/v1/organization-phone-numbers/{number}");
        let reply = operator
            .call(
                &app,
                "PATCH",
                &path,
                Some(json!({"nickname": "support line"})),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        let reply = operator
            .call(
                &app,
                "POST",
                "/v1/agents",
                Some(json!({"name": "Night desk"})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED);
    }
}

#[tokio::test]
async fn me_answers_for_a_person_with_their_role() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        let id = person(&app, &ws.id, "Otto@Example.com", Role::Operator).await;
        let browser = sign_in(&app, "  OTTO@example.com ").await;
        let me = browser.call(&app, "GET", "/v1/me", None).await.json();
        assert_eq!(me["key"], Value::Null);
        assert_eq!(
            me["user"],
            json!({"id": id.as_str(), "email": "otto@example.com", "role": "operator",
                   "scopes": ["phone_numbers:read", "phone_numbers:write", "agents:read", "agents:write", "calls:read"]})
        );
        assert_eq!(me["workspace"]["id"], json!(ws.id.as_str()));
        let by_key = app
            .call("GET", "/v1/me", Some(&ws.token), None)
            .await
            .json();
        assert_eq!(by_key["user"], Value::Null);
        assert_eq!(by_key["key"]["scopes"].as_array().map(Vec::len), Some(8));
    }
}

#[tokio::test]
async fn a_wrong_pair_is_one_401_and_repeated_wrong_passwords_lock_the_person_out() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        person(&app, &ws.id, "ann@example.com", Role::Viewer).await;
        let unknown = try_sign_in(&app, "nobody@example.com", PASSWORD).await;
        let wrong = try_sign_in(&app, "ann@example.com", "not the password").await;
        assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            unknown.json(),
            wrong.json(),
            "neither says which part was wrong"
        );
        assert_eq!(
            wrong.json()["message"],
            json!("Wrong email address or password.")
        );
        assert!(wrong.headers.get("set-cookie").is_none());

        let missing = app
            .call(
                "POST",
                "/auth/login",
                None,
                Some(json!({"email": "ann@example.com"})),
            )
            .await;
        assert_eq!(missing.status, StatusCode::BAD_REQUEST);

        // Four more wrong ones make five in a row: the sixth attempt is refused, the right
        // password included, and says when to come back.
        for _ in 0..4 {
            let reply = try_sign_in(&app, "ann@example.com", "still not it").await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        }
        let locked = try_sign_in(&app, "ann@example.com", PASSWORD).await;
        assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = locked.headers["retry-after"]
            .to_str()
            .expect("ASCII")
            .parse()
            .expect("seconds");
        assert!((1..=60).contains(&retry), "{retry}");

        // Each failure is an event for admins, by nobody in particular.
        let failed = app
            .call(
                "GET",
                "/v1/events?type=user.sign_in_failed",
                Some(&ws.token),
                None,
            )
            .await
            .json();
        assert_eq!(failed["total"], json!(5));
        assert_eq!(failed["items"][0]["actor"], json!("anonymous"));
        assert!(failed["items"][0]["request_id"].is_string(), "{failed}");
        assert_eq!(
            failed["items"][0]["changes"]["failed_sign_ins"]["after"],
            json!(5)
        );
    }
}

#[tokio::test]
async fn sessions_end_when_signed_out_removed_idle_or_old_on_every_replica() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let other = TestApp::replica_with(&app, ApiSettings::default()).await;
        let ws = app.workspace("Acme").await;
        let otto = person(&app, &ws.id, "otto@example.com", Role::Operator).await;

        // Signing out ends the session on the server: the old cookie is refused.
        let browser = sign_in(&app, "otto@example.com").await;
        let reply = browser.call(&app, "POST", "/auth/logout", None).await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT);
        assert!(reply.headers.get_all("set-cookie").iter().any(|c| {
            c.to_str()
                .is_ok_and(|c| c.starts_with("switchboard_session=;"))
        }));
        let reply = browser.call(&other, "GET", "/v1/me", None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            reply.json()["message"],
            json!("Your session has ended or is not known here; sign in again.")
        );

        // A new role holds from the next request; removal ends every session at once, on
        // the other replica too.
        let browser = sign_in(&app, "otto@example.com").await;
        assert_eq!(
            browser.call(&other, "GET", "/v1/me", None).await.status,
            StatusCode::OK
        );
        let path = format!("/v1/users/{otto}");
        let demoted = app
            .call(
                "PATCH",
                &path,
                Some(&ws.token),
                Some(json!({"role": "viewer"})),
            )
            .await;
        assert_eq!(demoted.status, StatusCode::OK);
        assert_eq!(demoted.json()["role"], json!("viewer"));
        let reply = browser
            .call(&other, "POST", "/v1/agents", Some(json!({"name": "x"})))
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        let removed = app.call("DELETE", &path, Some(&ws.token), None).await;
        assert_eq!(removed.status, StatusCode::OK);
        assert_eq!(
            browser.call(&other, "GET", "/v1/me", None).await.status,
            StatusCode::UNAUTHORIZED,
            "the very next request after the removal, on the other replica"
        );
        assert_eq!(
            try_sign_in(&app, "otto@example.com", PASSWORD).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            app.call("DELETE", &path, Some(&ws.token), None)
                .await
                .status,
            StatusCode::NOT_FOUND
        );
    }
}

#[tokio::test]
async fn idle_and_old_sessions_end() {
    for backend in common::backends() {
        let short = |idle, absolute| ApiSettings {
            sessions: SessionSettings { idle, absolute },
            ..ApiSettings::default()
        };
        let app = TestApp::with_settings(
            backend,
            short(Duration::from_secs(1), Duration::from_secs(3600)),
        )
        .await;
        let ws = app.workspace("Acme").await;
        person(&app, &ws.id, "ann@example.com", Role::Viewer).await;
        let browser = sign_in(&app, "ann@example.com").await;
        assert_eq!(
            browser.call(&app, "GET", "/v1/me", None).await.status,
            StatusCode::OK
        );
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(
            browser.call(&app, "GET", "/v1/me", None).await.status,
            StatusCode::UNAUTHORIZED,
            "idle for longer than the idle lifetime"
        );

        // However busy, a session ends at its absolute end.
        let busy = TestApp::replica_with(
            &app,
            short(Duration::from_secs(3600), Duration::from_secs(2)),
        )
        .await;
        let browser = sign_in(&busy, "ann@example.com").await;
        let signed_in = std::time::Instant::now();
        while signed_in.elapsed() < Duration::from_millis(1500) {
            assert_eq!(
                browser.call(&busy, "GET", "/v1/me", None).await.status,
                StatusCode::OK
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        tokio::time::sleep(Duration::from_millis(1000)).await;
        assert_eq!(
            browser.call(&busy, "GET", "/v1/me", None).await.status,
            StatusCode::UNAUTHORIZED,
            "past the absolute lifetime"
        );
    }
}

#[tokio::test]
async fn forged_cross_site_requests_are_refused_and_change_nothing() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        person(&app, &ws.id, "ada@example.com", Role::Admin).await;
        person(&app, &ws.id, "mal@example.com", Role::Viewer).await;
        let ada = sign_in(&app, "ada@example.com").await;
        let mallory = sign_in(&app, "mal@example.com").await;
        let before = event_count(&app, &ws.token).await;
        let body = Some(json!({"name": "planted by another site"}));
        let attempts: [(&str, Vec<(&str, &str)>); 4] = [
            (
                "no token (a cross-site form)",
                vec![("cookie", &ada.cookies)],
            ),
            (
                "another session's token",
                vec![("cookie", &ada.cookies), ("x-csrf-token", &mallory.csrf)],
            ),
            (
                "the right token from another origin",
                vec![
                    ("cookie", &ada.cookies),
                    ("x-csrf-token", &ada.csrf),
                    ("origin", "https://evil.example"),
                ],
            ),
            (
                "a token without the session",
                vec![("x-csrf-token", &ada.csrf)],
            ),
        ];
        for (what, headers) in attempts {
            let reply = app
                .call_with("POST", "/v1/api-keys", None, body.clone(), &headers)
                .await;
            assert!(
                [StatusCode::FORBIDDEN, StatusCode::UNAUTHORIZED].contains(&reply.status),
                "{what}: {}",
                reply.status
            );
        }
        assert_eq!(
            event_count(&app, &ws.token).await,
            before,
            "nothing changed"
        );

        // Signing in from another site's page is refused too (it would sign the browser in
        // as the attacker).
        let reply = app
            .call_with(
                "POST",
                "/auth/login",
                None,
                Some(json!({"email": "mal@example.com", "password": PASSWORD})),
                &[("origin", "https://evil.example")],
            )
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);

        // The console's own request passes, with or without Origin.
        let reply = app
            .call_with(
                "POST",
                "/v1/api-keys",
                None,
                body.clone(),
                &[
                    ("cookie", &ada.cookies),
                    ("x-csrf-token", &ada.csrf),
                    ("host", "console.example.com"),
                    ("origin", "http://console.example.com"),
                ],
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED);
    }
}

#[tokio::test]
async fn an_invited_person_sets_a_password_once_then_signs_in() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        let ada = person(&app, &ws.id, "ada@example.com", Role::Admin).await;
        let admin = sign_in(&app, "ada@example.com").await;
        let invited = admin
            .call(
                &app,
                "POST",
                "/v1/users",
                Some(json!({"email": "Bea@Example.com", "role": "operator"})),
            )
            .await;
        assert_eq!(invited.status, StatusCode::CREATED);
        let invited = invited.json();
        assert_eq!(invited["email"], json!("bea@example.com"));
        assert_eq!(invited["has_password"], json!(false));
        let link = invited["password_setup_link"].as_str().expect("link");
        let token = link
            .split_once("/console/#set-password=")
            .expect("a console link")
            .1;

        let again = admin
            .call(
                &app,
                "POST",
                "/v1/users",
                Some(json!({"email": "bea@example.com", "role": "viewer"})),
            )
            .await;
        assert_eq!(again.status, StatusCode::CONFLICT);
        for (body, problem) in [
            (
                json!({"email": "bea", "role": "viewer"}),
                "not an email address",
            ),
            (
                json!({"email": "cy@example.com", "role": "owner"}),
                "unknown role",
            ),
        ] {
            let reply = admin.call(&app, "POST", "/v1/users", Some(body)).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST);
            assert!(reply.json()["message"].to_string().contains(problem));
        }

        let short = app
            .call(
                "POST",
                "/auth/password",
                None,
                Some(json!({"token": token, "password": "short"})),
            )
            .await;
        assert_eq!(short.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            short.json()["message"],
            json!("a password needs at least 12 characters")
        );
        let set = app
            .call(
                "POST",
                "/auth/password",
                None,
                Some(json!({"token": token, "password": PASSWORD})),
            )
            .await;
        assert_eq!(set.status, StatusCode::NO_CONTENT);
        let reused = app
            .call(
                "POST",
                "/auth/password",
                None,
                Some(json!({"token": token, "password": "another good password"})),
            )
            .await;
        assert_eq!(reused.status, StatusCode::NOT_FOUND);
        let bea = sign_in(&app, "bea@example.com").await;
        assert_eq!(
            bea.call(&app, "GET", "/v1/me", None).await.json()["user"]["role"],
            json!("operator")
        );

        // An admin sees and ends sessions, and cannot demote or remove themselves.
        let bea_id = invited["id"].as_str().expect("id");
        let sessions = admin
            .call(&app, "GET", &format!("/v1/users/{bea_id}/sessions"), None)
            .await
            .json();
        assert_eq!(sessions.as_array().map(Vec::len), Some(1));
        let session = sessions[0]["id"].as_str().expect("session id");
        let ended = admin
            .call(
                &app,
                "DELETE",
                &format!("/v1/users/{bea_id}/sessions/{session}"),
                None,
            )
            .await;
        assert_eq!(ended.json(), json!({"ended": 1}));
        assert_eq!(
            bea.call(&app, "GET", "/v1/me", None).await.status,
            StatusCode::UNAUTHORIZED
        );
        // Signed in on two browsers, signed out of both at once.
        let (laptop, phone) = (
            sign_in(&app, "bea@example.com").await,
            sign_in(&app, "bea@example.com").await,
        );
        let everywhere = admin
            .call(&app, "POST", &format!("/v1/users/{bea_id}/sign-out"), None)
            .await;
        assert_eq!(everywhere.json(), json!({"ended": 2}));
        for browser in [laptop, phone] {
            assert_eq!(
                browser.call(&app, "GET", "/v1/me", None).await.status,
                StatusCode::UNAUTHORIZED
            );
        }
        for (method, body) in [("PATCH", Some(json!({"role": "viewer"}))), ("DELETE", None)] {
            let reply = admin
                .call(&app, method, &format!("/v1/users/{ada}"), body)
                .await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{method}");
        }
        let listed = admin.call(&app, "GET", "/v1/users", None).await.json();
        assert_eq!(listed["total"], json!(2));
    }
}

#[tokio::test]
async fn history_and_the_feed_name_the_person() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        let number = app.number(&ws.id, "+14155550100", None, None).await;
        let otto = person(&app, &ws.id, "otto@example.com", Role::Operator).await;
        let browser = sign_in(&app, "otto@example.com").await;
        let path = format!("/v1/organization-phone-numbers/{number}");
        let reply = browser
            .call(&app, "PATCH", &path, Some(json!({"nickname": "support"})))
            .await;
        assert_eq!(reply.status, StatusCode::OK);

        let history = app
            .call("GET", &format!("{path}/history"), Some(&ws.token), None)
            .await
            .json();
        assert_eq!(history["items"][0]["actor"], json!(otto.as_str()));
        assert_eq!(history["items"][0]["actor_name"], json!("otto@example.com"));

        // Their sign-in is an event for admins; an operator's feed does not show it.
        let feed = app
            .call(
                "GET",
                "/v1/events?type=user.signed_in",
                Some(&ws.token),
                None,
            )
            .await
            .json();
        assert_eq!(feed["total"], json!(1));
        assert_eq!(feed["items"][0]["actor_name"], json!("otto@example.com"));
        let own = browser.call(&app, "GET", "/v1/events", None).await.json();
        assert!(
            own["items"]
                .as_array()
                .expect("items")
                .iter()
                .all(|e| !e["type"].as_str().expect("type").starts_with("user.")),
            "{own}"
        );

        // Removed, they are still named in history.
        app.call(
            "DELETE",
            &format!("/v1/users/{otto}"),
            Some(&ws.token),
            None,
        )
        .await;
        let history = app
            .call("GET", &format!("{path}/history"), Some(&ws.token), None)
            .await
            .json();
        assert_eq!(history["items"][0]["actor_name"], json!("otto@example.com"));
        let removed = app
            .call("GET", "/v1/events?type=user.removed", Some(&ws.token), None)
            .await
            .json();
        assert_eq!(removed["items"][0]["changes"]["sessions_ended"], json!(1));
        assert_eq!(
            removed["items"][0]["actor"],
            json!(ws.token.split(':').next())
        );
    }
}
