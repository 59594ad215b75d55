//! Per-number history, and optimistic concurrency with ETag / If-Match / If-None-Match.

mod common;

use axum::http::StatusCode;
use common::TestApp;
use serde_json::json;

const NUMBERS: &str = "/v1/organization-phone-numbers";

#[tokio::test]
async fn history_records_every_change_with_who_and_which_request() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        app.enable(&ws.id, &["US"], false).await;
        let key_id = ws
            .token
            .split_once(':')
            .map(|(id, _)| id.to_owned())
            .expect("key id");
        let token = Some(ws.token.as_str());

        let bought = app.buy(&ws.token, "+14155550100", "US").await;
        let id = bought["organizationPhoneNumber"]["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let path = format!("{NUMBERS}/{id}");
        let agent = app.agent(&ws.id, "Support").await;
        let routed = app
            .call_with(
                "PATCH",
                &path,
                token,
                Some(json!({"inbound_agent_id": agent.as_str(), "nickname": "Main"})),
                &[("x-request-id", "req-route-1")],
            )
            .await;
        assert_eq!(routed.status, StatusCode::OK);
        // A PATCH that changes nothing writes no history.
        assert_eq!(
            app.call("PATCH", &path, token, Some(json!({"nickname": "Main"})))
                .await
                .status,
            StatusCode::OK
        );
        // Deleting the agent detaches it: a change of the number too.
        assert_eq!(
            app.call("DELETE", &format!("/v1/agents/{agent}"), token, None)
                .await
                .status,
            StatusCode::OK
        );
        let released = app
            .call_with(
                "DELETE",
                &path,
                token,
                None,
                &[("x-request-id", "req-release-1")],
            )
            .await;
        assert_eq!(released.status, StatusCode::OK);

        // The number is gone, its history is not.
        assert_eq!(
            app.call("GET", &path, token, None).await.status,
            StatusCode::NOT_FOUND
        );
        let history = app
            .call("GET", &format!("{path}/history"), token, None)
            .await;
        assert_eq!(history.status, StatusCode::OK, "{backend:?}");
        let body = history.json();
        assert_eq!(body["total"], json!(4));
        let actions: Vec<&str> = body["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|e| e["action"].as_str())
            .collect();
        assert_eq!(
            actions,
            ["released", "updated", "updated", "purchased"],
            "newest first"
        );
        let items = &body["items"];
        assert!(
            items
                .as_array()
                .expect("items")
                .iter()
                .all(|e| e["actor"] == json!(key_id))
        );
        assert_eq!(items[0]["request_id"], json!("req-release-1"));
        assert_eq!(
            items[0]["changes"]["status"],
            json!({"before": "active", "after": null})
        );
        assert_eq!(
            items[1]["changes"]["inbound_agent_id"],
            json!({"before": agent.as_str(), "after": null})
        );
        assert_eq!(items[2]["request_id"], json!("req-route-1"));
        assert_eq!(
            items[2]["changes"],
            json!({"nickname": {"before": null, "after": "Main"}, "inbound_agent_id": {"before": null, "after": agent.as_str()}})
        );
        assert_eq!(
            items[3]["changes"]["phone_number"],
            json!({"before": null, "after": "+14155550100"})
        );
        assert_eq!(
            items[3]["changes"]["monthly_cost_usd"],
            json!({"before": null, "after": "1.00"})
        );
        assert!(items[3]["at"].as_str().is_some_and(|t| t.ends_with('Z')));

        let page = app
            .call(
                "GET",
                &format!("{path}/history?limit=1&page=2"),
                token,
                None,
            )
            .await
            .json();
        assert_eq!(
            (page["total"].clone(), page["items"][0]["action"].clone()),
            (json!(4), json!("updated"))
        );

        // Imports are recorded as the command line's.
        let imported = app.number(&ws.id, "+912234567890", None, None).await;
        let imported_history = app
            .call("GET", &format!("{NUMBERS}/{imported}/history"), token, None)
            .await
            .json();
        assert_eq!(
            (
                imported_history["items"][0]["action"].clone(),
                imported_history["items"][0]["actor"].clone()
            ),
            (json!("imported"), json!("cli"))
        );

        // Another workspace sees none of it.
        let other = app.workspace("Other").await;
        let foreign = app
            .call("GET", &format!("{path}/history"), Some(&other.token), None)
            .await;
        assert_eq!(foreign.status, StatusCode::NOT_FOUND);
        assert_eq!(foreign.json()["message"], json!("Phone number not found"));
        assert_eq!(
            app.call(
                "GET",
                &format!("{NUMBERS}/phn_aaaaaaaaaaaa/history"),
                token,
                None
            )
            .await
            .status,
            StatusCode::NOT_FOUND
        );
    }
}

#[tokio::test]
async fn default_changes_show_in_both_numbers_histories() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        let token = Some(ws.token.as_str());
        let first = app.number(&ws.id, "+912234567890", None, None).await;
        let second = app.number(&ws.id, "+14155552671", None, None).await;
        for id in [&first, &second] {
            let reply = app
                .call(
                    "PATCH",
                    &format!("{NUMBERS}/{id}"),
                    token,
                    Some(json!({"is_default": true})),
                )
                .await;
            assert_eq!(reply.status, StatusCode::OK);
        }
        let history = app
            .call("GET", &format!("{NUMBERS}/{first}/history"), token, None)
            .await
            .json();
        assert_eq!(
            history["items"][0]["changes"],
            json!({"is_default": {"before": true, "after": false}})
        );
    }
}

#[tokio::test]
async fn etags_make_conflicting_updates_visible() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        let id = app
            .number(&ws.id, "+912234567890", Some("Mumbai"), None)
            .await;
        let path = format!("{NUMBERS}/{id}");
        let token = Some(ws.token.as_str());

        let read = app.call("GET", &path, token, None).await;
        let etag = read
            .headers
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .expect("ETag")
            .to_owned();
        assert!(
            etag.starts_with('"') && etag.ends_with('"'),
            "strong ETag: {etag}"
        );

        let cached = app
            .call_with(
                "GET",
                &path,
                token,
                None,
                &[("if-none-match", etag.as_str())],
            )
            .await;
        assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
        assert!(cached.body.is_empty());
        assert_eq!(
            cached.headers.get("etag").and_then(|v| v.to_str().ok()),
            Some(etag.as_str())
        );

        // Operator A re-routes with the ETag it read: accepted, and the ETag moves on.
        let first = app
            .call_with(
                "PATCH",
                &path,
                token,
                Some(json!({"nickname": "From A"})),
                &[("if-match", etag.as_str())],
            )
            .await;
        assert_eq!(first.status, StatusCode::OK);
        let new_etag = first
            .headers
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .expect("ETag")
            .to_owned();
        assert_ne!(new_etag, etag);

        // Operator B, still holding the old ETag, is told instead of overwriting A.
        let second = app
            .call_with(
                "PATCH",
                &path,
                token,
                Some(json!({"nickname": "From B"})),
                &[("if-match", etag.as_str())],
            )
            .await;
        assert_eq!(second.status, StatusCode::PRECONDITION_FAILED);
        assert_eq!(
            second.json(),
            json!({"statusCode": 412, "message": "The phone number has changed since the ETag given in If-Match", "error": "Precondition Failed"})
        );
        let now = app.call("GET", &path, token, None).await;
        assert_eq!(now.json()["nickname"], json!("From A"));
        let stale = app
            .call_with(
                "GET",
                &path,
                token,
                None,
                &[("if-none-match", etag.as_str())],
            )
            .await;
        assert_eq!(
            stale.status,
            StatusCode::OK,
            "a changed number is sent again"
        );

        let weak = format!("W/{new_etag}");
        let weak_reply = app
            .call_with(
                "PATCH",
                &path,
                token,
                Some(json!({"label": "x"})),
                &[("if-match", weak.as_str())],
            )
            .await;
        assert_eq!(
            weak_reply.status,
            StatusCode::PRECONDITION_FAILED,
            "If-Match compares strongly"
        );
        let any = app
            .call_with(
                "PATCH",
                &path,
                token,
                Some(json!({"label": "x"})),
                &[("if-match", "*")],
            )
            .await;
        assert_eq!(any.status, StatusCode::OK);
        let current = any
            .headers
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .expect("ETag")
            .to_owned();

        let stale_delete = app
            .call_with(
                "DELETE",
                &path,
                token,
                None,
                &[("if-match", new_etag.as_str())],
            )
            .await;
        assert_eq!(stale_delete.status, StatusCode::PRECONDITION_FAILED);
        assert_eq!(
            app.call("GET", &path, token, None).await.status,
            StatusCode::OK,
            "not released"
        );
        let delete = app
            .call_with(
                "DELETE",
                &path,
                token,
                None,
                &[("if-match", current.as_str())],
            )
            .await;
        assert_eq!(delete.status, StatusCode::OK);
    }
}
