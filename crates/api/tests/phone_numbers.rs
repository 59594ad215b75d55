//! List, update, release and search of phone numbers, as a client sees them.

mod common;

use axum::http::StatusCode;
use common::TestApp;
use serde_json::{Value, json};
use switchboard_domain::{Scope, Scopes};

const LIST: &str = "/v1/organization-phone-numbers";

fn ids(reply: &Value) -> Vec<String> {
    reply["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn list_pages_filters_and_rejects_bad_paging() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        let other = app.workspace("Other").await;
        let agent = app.agent(&ws.id, "Support").await;
        let mumbai = app
            .number(
                &ws.id,
                "+912234567890",
                Some("Mumbai Support"),
                Some(agent.clone()),
            )
            .await;
        let toll_free = app
            .number(&ws.id, "+18005550199", Some("US Toll-free"), None)
            .await;
        let mobile = app.number(&ws.id, "+447400123456", None, None).await;
        app.number(&other.id, "+14155552671", Some("Not yours"), None)
            .await;
        let token = Some(ws.token.as_str());
        let routed_out = app
            .call(
                "PATCH",
                &format!("{LIST}/{toll_free}"),
                token,
                Some(json!({"outbound_agent_id": agent.to_string()})),
            )
            .await;
        assert_eq!(routed_out.status, StatusCode::OK);

        let all = app.call("GET", LIST, token, None).await;
        assert_eq!(all.status, StatusCode::OK);
        let body = all.json();
        assert_eq!(
            (
                body["total"].clone(),
                body["page"].clone(),
                body["limit"].clone()
            ),
            (json!(3), json!(1), json!(20))
        );
        let listed = ids(&body);
        let mut expected = vec![
            mumbai.to_string(),
            toll_free.to_string(),
            mobile.to_string(),
        ];
        expected.sort();
        let mut sorted = listed.clone();
        sorted.sort();
        assert_eq!(sorted, expected);
        // Ordered by creation time, then id; the same on every call.
        let created: Vec<(String, String)> = body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|n| {
                (
                    n["created_at"].as_str().unwrap_or("").to_owned(),
                    n["id"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect();
        assert!(created.windows(2).all(|w| w[0] <= w[1]), "{created:?}");
        assert_eq!(
            ids(&app.call("GET", LIST, token, None).await.json()),
            listed
        );
        assert_eq!(
            body["items"][0].as_object().map(|o| o.len()),
            Some(18),
            "full objects"
        );
        assert!(
            !all.body.windows(9).any(|w| w == b"Not yours"),
            "another workspace's number"
        );

        let page2 = app
            .call("GET", &format!("{LIST}?limit=2&page=2"), token, None)
            .await
            .json();
        assert_eq!(page2["total"], json!(3));
        assert_eq!(ids(&page2), listed[2..].to_vec());
        let past_end = app
            .call("GET", &format!("{LIST}?page=9"), token, None)
            .await
            .json();
        assert_eq!(
            (past_end["items"].clone(), past_end["total"].clone()),
            (json!([]), json!(3))
        );

        for (query, want) in [
            ("country_code=in", vec![mumbai.to_string()]),
            ("type=toll-free", vec![toll_free.to_string()]),
            ("type=tollfree", vec![toll_free.to_string()]),
            ("type=mobile", vec![mobile.to_string()]),
            (&format!("agent_id={agent}"), vec![mumbai.to_string()]),
            ("agent_id=not-an-agent", vec![]),
            (
                &format!("outbound_agent_id={agent}"),
                vec![toll_free.to_string()],
            ),
            ("outbound_agent_id=not-an-agent", vec![]),
            ("q=mumbai", vec![mumbai.to_string()]),
            ("q=4155552671", vec![]),
            (
                "provider=twilio&status=active&q=%2B44",
                vec![mobile.to_string()],
            ),
            ("status=pending", vec![]),
        ] {
            let reply = app
                .call("GET", &format!("{LIST}?{query}"), token, None)
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{query}");
            assert_eq!(ids(&reply.json()), want, "{query}");
        }

        for (query, message) in [
            ("page=0", json!("page must be a positive integer")),
            ("limit=101", json!("limit must not be greater than 100")),
            ("limit=abc", json!("limit must be a positive integer")),
            (
                "page=-1&limit=0",
                json!([
                    "page must be a positive integer",
                    "limit must be a positive integer"
                ]),
            ),
            (
                "type=premium",
                json!("type must be one of: local, toll_free, mobile"),
            ),
            // A bad status is a 400 even beside a free-text filter that matches nothing.
            (
                "status=act%C2%98ive&q=%0c",
                json!("status must be one of: pending, active"),
            ),
        ] {
            let reply = app
                .call("GET", &format!("{LIST}?{query}"), token, None)
                .await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
            assert_eq!(
                reply.json(),
                json!({"statusCode": 400, "message": message, "error": "Bad Request"}),
                "{query}"
            );
        }
    }
}

#[tokio::test]
async fn patch_is_partial_clears_with_null_and_checks_agents() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        let other = app.workspace("Other").await;
        let support = app.agent(&ws.id, "Support").await;
        let sales = app.agent(&ws.id, "Sales").await;
        let foreign_agent = app.agent(&other.id, "Theirs").await;
        let id = app
            .number(
                &ws.id,
                "+912234567890",
                Some("Mumbai"),
                Some(support.clone()),
            )
            .await;
        let path = format!("{LIST}/{id}");
        let token = Some(ws.token.as_str());

        let reply = app
            .call(
                "PATCH",
                &path,
                token,
                Some(json!({"label": "Main line", "outbound_agent_id": sales.as_str()})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        let body = reply.json();
        assert_eq!(body["label"], json!("Main line"));
        assert_eq!(
            body["nickname"],
            json!("Mumbai"),
            "omitted fields keep their value"
        );
        assert_eq!(body["inbound_agent_id"], json!(support.as_str()));
        assert_eq!(body["outbound_agent_id"], json!(sales.as_str()));

        let body = app
            .call(
                "PATCH",
                &path,
                token,
                Some(json!({"nickname": null, "agent_id": sales.as_str()})),
            )
            .await
            .json();
        assert_eq!(body["nickname"], json!(null));
        assert_eq!(body["agent_id"], json!(sales.as_str()));
        assert_eq!(body["inbound_agent_id"], json!(sales.as_str()));
        let body = app
            .call(
                "PATCH",
                &path,
                token,
                Some(json!({"inbound_agent_id": null})),
            )
            .await
            .json();
        assert_eq!(
            (body["agent_id"].clone(), body["inbound_agent_id"].clone()),
            (json!(null), json!(null))
        );

        for (patch, message) in [
            (
                json!({"inbound_agent_id": foreign_agent.as_str()}),
                json!("inbound_agent_id is not an agent of this workspace"),
            ),
            (
                json!({"agent_id": "agt_aaaaaaaaaaaa"}),
                json!("agent_id is not an agent of this workspace"),
            ),
            (
                json!({"outbound_agent_id": "nope"}),
                json!("outbound_agent_id is not an agent of this workspace"),
            ),
            (
                json!({"nickname": "n".repeat(256)}),
                json!("nickname must be shorter than or equal to 255 characters"),
            ),
            (
                json!({"foo": 1, "label": 5}),
                json!(["label must be a string", "property foo should not exist"]),
            ),
            (
                json!({"is_default": "yes"}),
                json!("is_default must be a boolean value"),
            ),
            // Every bad field at once, a malformed agent id among them.
            (
                json!({"outbound_agent_id": "nope", "nickname": "n".repeat(256), "label": "a\u{0}b"}),
                json!([
                    "nickname must be shorter than or equal to 255 characters",
                    "label must not contain control characters (line breaks, tabs, NUL, escapes)",
                    "outbound_agent_id is not an agent of this workspace",
                ]),
            ),
            (
                json!({"agent_id": support.as_str(), "inbound_agent_id": sales.as_str()}),
                json!("agent_id and inbound_agent_id must be the same when both are given"),
            ),
        ] {
            let reply = app.call("PATCH", &path, token, Some(patch.clone())).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{patch}");
            assert_eq!(reply.json()["message"], message, "{patch}");
        }
        // Nothing of the rejected patches was stored.
        let stored = app.call("GET", &path, token, None).await.json();
        assert_eq!(
            (stored["inbound_agent_id"].clone(), stored["label"].clone()),
            (json!(null), json!("Main line"))
        );

        // Another workspace's number is a 404, and stays as it was.
        let theirs = app
            .number(&other.id, "+14155552671", Some("Theirs"), None)
            .await;
        let reply = app
            .call(
                "PATCH",
                &format!("{LIST}/{theirs}"),
                token,
                Some(json!({"nickname": "mine now"})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        let theirs_now = app
            .call("GET", &format!("{LIST}/{theirs}"), Some(&other.token), None)
            .await
            .json();
        assert_eq!(theirs_now["nickname"], json!("Theirs"));

        let read_only = app
            .key(
                &ws.id,
                [Scope::PhoneNumbersRead].into_iter().collect::<Scopes>(),
            )
            .await;
        let reply = app
            .call(
                "PATCH",
                &path,
                Some(&read_only),
                Some(json!({"label": "x"})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
    }
}

#[tokio::test]
async fn is_default_moves_atomically_and_blocks_release() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        let first = app.number(&ws.id, "+912234567890", None, None).await;
        let second = app.number(&ws.id, "+14155552671", None, None).await;
        let token = Some(ws.token.as_str());
        let set_default = |id: String| {
            let app = &app;
            async move {
                app.call(
                    "PATCH",
                    &format!("{LIST}/{id}"),
                    token,
                    Some(json!({"is_default": true})),
                )
                .await
            }
        };
        assert_eq!(
            set_default(first.to_string()).await.json()["is_default"],
            json!(true)
        );
        assert_eq!(
            set_default(second.to_string()).await.json()["is_default"],
            json!(true)
        );
        let defaults: Vec<Value> = app.call("GET", LIST, token, None).await.json()["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|n| n["is_default"] == json!(true))
            .cloned()
            .collect();
        assert_eq!(defaults.len(), 1);
        assert_eq!(defaults[0]["id"], json!(second.as_str()));

        // `null` leaves the flag as it is.
        let unchanged = app
            .call(
                "PATCH",
                &format!("{LIST}/{second}"),
                token,
                Some(json!({"is_default": null, "label": "main"})),
            )
            .await;
        assert_eq!(unchanged.status, StatusCode::OK);
        assert_eq!(unchanged.json()["is_default"], json!(true));

        let reply = app
            .call("DELETE", &format!("{LIST}/{second}"), token, None)
            .await;
        assert_eq!(reply.status, StatusCode::CONFLICT);
        assert_eq!(
            reply.json(),
            json!({"statusCode": 409, "message": "Phone number is the workspace default", "error": "Conflict"})
        );
        assert_eq!(
            app.call("GET", &format!("{LIST}/{second}"), token, None)
                .await
                .status,
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn release_then_anyone_can_buy_it_again() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        let other = app.workspace("Other").await;
        app.enable(&ws.id, &["US"], false).await;
        app.enable(&other.id, &["US"], false).await;
        let bought = app.buy(&ws.token, "+14155550101", "US").await;
        let id = bought["organizationPhoneNumber"]["id"]
            .as_str()
            .expect("id")
            .to_owned();

        let foreign = app
            .call("DELETE", &format!("{LIST}/{id}"), Some(&other.token), None)
            .await;
        assert_eq!(foreign.status, StatusCode::NOT_FOUND);

        let reply = app
            .call("DELETE", &format!("{LIST}/{id}"), Some(&ws.token), None)
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(
            reply.json(),
            json!({"message": "Phone number released successfully."})
        );
        assert_eq!(
            app.call("GET", &format!("{LIST}/{id}"), Some(&ws.token), None)
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            app.call("DELETE", &format!("{LIST}/{id}"), Some(&ws.token), None)
                .await
                .status,
            StatusCode::NOT_FOUND
        );

        let again = app.buy(&other.token, "+14155550101", "US").await;
        assert_eq!(
            again["organizationPhoneNumber"]["phone_number"],
            json!("+14155550101")
        );

        // An imported number of a provider Switchboard does not speak is only removed here.
        let imported = app.number(&ws.id, "+912234567890", None, None).await;
        let reply = app
            .call(
                "DELETE",
                &format!("{LIST}/{imported}"),
                Some(&ws.token),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(
            reply.json()["message"]
                .as_str()
                .is_some_and(|m| m.contains("twilio") && m.contains("release it there"))
        );
    }
}

#[tokio::test]
async fn search_offers_only_free_numbers_in_plivos_shape() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        app.enable(&ws.id, &["US"], false).await;
        let token = Some(ws.token.as_str());
        let search = "/v1/organization-phone-numbers/plivo-numbers";

        let missing = app.call("GET", search, token, None).await;
        assert_eq!(missing.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            missing.json(),
            json!({"statusCode": 400, "message": "country_iso is required", "error": "Bad Request"})
        );
        let unknown = app
            .call("GET", &format!("{search}?country_iso=ZZ"), token, None)
            .await;
        assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            unknown.json()["message"],
            json!("country_iso must be one of: AU, CA, DE, GB, IN, US")
        );

        let reply = app
            .call(
                "GET",
                &format!("{search}?country_iso=US&type=tollfree"),
                token,
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        let body = reply.json();
        assert!(body["api_id"].as_str().is_some_and(|id| !id.is_empty()));
        let objects = body["objects"].as_array().expect("objects");
        assert_eq!(body["meta"]["total_count"], json!(objects.len()));
        assert!(!objects.is_empty());
        let first = &objects[0];
        let mut keys: Vec<&str> = first
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "country_iso",
                "mms_enabled",
                "monthly_rental_rate",
                "number",
                "number_format",
                "setup_rate",
                "sms_enabled",
                "type",
                "voice_enabled"
            ]
        );
        assert_eq!(first["type"], json!("tollfree"));
        assert_eq!(first["country_iso"], json!("US"));
        assert_eq!(first["monthly_rental_rate"], json!("2.00"));

        let locals = app
            .call("GET", &format!("{search}?country_iso=us"), token, None)
            .await
            .json();
        let count = locals["objects"].as_array().map(Vec::len).unwrap_or(0);
        let number = locals["objects"][0]["number"]
            .as_str()
            .expect("number")
            .to_owned();
        app.buy(&ws.token, &number, "US").await;
        let after = app
            .call("GET", &format!("{search}?country_iso=US"), token, None)
            .await
            .json();
        let numbers: Vec<&str> = after["objects"]
            .as_array()
            .expect("objects")
            .iter()
            .filter_map(|o| o["number"].as_str())
            .collect();
        assert_eq!(numbers.len(), count - 1);
        assert!(
            !numbers.contains(&number.as_str()),
            "an owned number was offered"
        );
    }
}
