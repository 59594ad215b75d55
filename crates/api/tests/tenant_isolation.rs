//! A key of workspace A on every resource of workspace B gets exactly what an unknown id
//! gets, never B's data, and B's data is unchanged afterwards.

mod common;

use axum::http::StatusCode;
use common::TestApp;
use serde_json::{Value, json};

/// What B sees of its own records; `last_used_at` moves with B's own reads, so it is left out.
async fn snapshot(app: &TestApp, token: &str, paths: &[String]) -> Vec<Value> {
    let mut seen = Vec::new();
    for path in paths {
        let mut body = app.call("GET", path, Some(token), None).await.json();
        if let Value::Array(keys) = &mut body {
            for key in keys {
                key["last_used_at"] = Value::Null;
            }
        }
        seen.push(body);
    }
    seen
}

#[tokio::test]
async fn another_workspaces_records_are_indistinguishable_from_unknown_ones() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let a = app.workspace("A").await;
        let b = app.workspace("B").await;
        app.enable(&b.id, &["US"], false).await;
        let b_agent = app.agent(&b.id, "B agent").await;
        let b_number = app
            .number(
                &b.id,
                "+912234567890",
                Some("B secret line"),
                Some(b_agent.clone()),
            )
            .await;
        let bought = app.buy(&b.token, "+14155550101", "US").await;
        let b_bought = bought["organizationPhoneNumber"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let b_key = app
            .call(
                "POST",
                "/v1/api-keys",
                Some(&b.token),
                Some(json!({"name": "B key"})),
            )
            .await
            .json()["id"]
            .as_str()
            .expect("key id")
            .to_owned();

        let b_paths = [
            format!("/v1/organization-phone-numbers/{b_number}"),
            format!("/v1/organization-phone-numbers/{b_bought}"),
            format!("/v1/organization-phone-numbers/{b_number}/history"),
            format!("/v1/agents/{b_agent}"),
            "/v1/api-keys".to_owned(),
        ];
        let before = snapshot(&app, &b.token, &b_paths).await;

        // (method, B's resource, the same route with an id that does not exist, body)
        let cases: Vec<(&str, String, String, Option<Value>)> = vec![
            (
                "GET",
                format!("/v1/organization-phone-numbers/{b_number}"),
                "/v1/organization-phone-numbers/phn_zzzzzzzzzzzz".into(),
                None,
            ),
            (
                "PATCH",
                format!("/v1/organization-phone-numbers/{b_number}"),
                "/v1/organization-phone-numbers/phn_zzzzzzzzzzzz".into(),
                Some(json!({"nickname": "mine"})),
            ),
            (
                "DELETE",
                format!("/v1/organization-phone-numbers/{b_bought}"),
                "/v1/organization-phone-numbers/phn_zzzzzzzzzzzz".into(),
                None,
            ),
            (
                "GET",
                format!("/v1/organization-phone-numbers/{b_number}/history"),
                "/v1/organization-phone-numbers/phn_zzzzzzzzzzzz/history".into(),
                None,
            ),
            (
                "GET",
                format!("/v1/agents/{b_agent}"),
                "/v1/agents/agt_zzzzzzzzzzzz".into(),
                None,
            ),
            (
                "PATCH",
                format!("/v1/agents/{b_agent}"),
                "/v1/agents/agt_zzzzzzzzzzzz".into(),
                Some(json!({"name": "mine"})),
            ),
            (
                "DELETE",
                format!("/v1/agents/{b_agent}"),
                "/v1/agents/agt_zzzzzzzzzzzz".into(),
                None,
            ),
            (
                "DELETE",
                format!("/v1/api-keys/{b_key}"),
                "/v1/api-keys/zzzzzzzzzzzzzz".into(),
                None,
            ),
        ];
        for (method, theirs, unknown, body) in cases {
            let foreign = app
                .call(method, &theirs, Some(&a.token), body.clone())
                .await;
            let missing = app.call(method, &unknown, Some(&a.token), body).await;
            assert_eq!(
                foreign.status,
                StatusCode::NOT_FOUND,
                "{backend:?} {method} {theirs}"
            );
            assert_eq!(
                foreign.body, missing.body,
                "{backend:?} {method} {theirs}: differs from an unknown id"
            );
        }
        // A's routing of its own number to B's agent is refused as if the agent did not exist.
        let a_number = app.number(&a.id, "+447400123456", None, None).await;
        let routed = app
            .call(
                "PATCH",
                &format!("/v1/organization-phone-numbers/{a_number}"),
                Some(&a.token),
                Some(json!({"inbound_agent_id": b_agent.as_str()})),
            )
            .await;
        assert_eq!(routed.status, StatusCode::BAD_REQUEST);

        // Lists and searches show A nothing of B's.
        for path in [
            "/v1/organization-phone-numbers".to_owned(),
            format!("/v1/organization-phone-numbers?agent_id={b_agent}"),
            "/v1/organization-phone-numbers?q=secret".to_owned(),
            "/v1/agents".to_owned(),
            "/v1/api-keys".to_owned(),
        ] {
            let reply = app.call("GET", &path, Some(&a.token), None).await;
            assert_eq!(reply.status, StatusCode::OK, "{path}");
            for secret in [
                b_number.to_string(),
                b_bought.clone(),
                b_agent.to_string(),
                b_key.clone(),
                "B secret line".into(),
            ] {
                assert!(
                    !common::contains(&reply.body, &secret),
                    "{backend:?} {path} shows {secret}"
                );
            }
        }
        let search = app
            .call(
                "GET",
                "/v1/organization-phone-numbers/plivo-numbers?country_iso=US",
                Some(&a.token),
                None,
            )
            .await;
        assert!(
            !common::contains(&search.body, "+14155550101"),
            "a number B owns was offered"
        );

        assert_eq!(
            snapshot(&app, &b.token, &b_paths).await,
            before,
            "{backend:?}: B's data changed"
        );
    }
}
