//! Agents, API keys, and the pricing / country catalogue, as a client sees them.

mod common;

use axum::http::StatusCode;
use common::{TestApp, contains};
use serde_json::json;
use switchboard_domain::{Scope, Scopes};

#[tokio::test]
async fn agents_crud_and_delete_detaches_numbers() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        let other = app.workspace("Other").await;
        let token = Some(ws.token.as_str());

        let created = app
            .call(
                "POST",
                "/v1/agents",
                token,
                Some(json!({"name": "Support"})),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED);
        let agent = created.json();
        let id = agent["id"].as_str().expect("id").to_owned();
        assert!(id.starts_with("agt_"));
        let mut keys: Vec<&str> = agent
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            ["created_at", "destination", "id", "name", "updated_at"]
        );

        // Blank means nothing but spaces, and a name is one line: control characters (a
        // vertical tab, a next-line character, NUL, an escape) are refused as such (the
        // OpenAPI pattern says the same).
        for (bad_name, message) in [
            ("", "name should not be empty"),
            ("   ", "name should not be empty"),
            (
                "\u{b}\u{85}",
                "name must not contain control characters (line breaks, tabs, NUL, escapes)",
            ),
            (
                "Front\u{0}desk",
                "name must not contain control characters (line breaks, tabs, NUL, escapes)",
            ),
            (
                "\u{1b}[31mred",
                "name must not contain control characters (line breaks, tabs, NUL, escapes)",
            ),
        ] {
            let bad = app
                .call("POST", "/v1/agents", token, Some(json!({"name": bad_name})))
                .await;
            assert_eq!(
                (bad.status, bad.json()["message"].clone()),
                (StatusCode::BAD_REQUEST, json!(message)),
                "{bad_name:?}"
            );
        }

        let renamed = app
            .call(
                "PATCH",
                &format!("/v1/agents/{id}"),
                token,
                Some(json!({"name": "Tier 1"})),
            )
            .await;
        assert_eq!(renamed.json()["name"], json!("Tier 1"));
        let list = app
            .call("GET", "/v1/agents?limit=10", token, None)
            .await
            .json();
        assert_eq!(
            (list["total"].clone(), list["limit"].clone()),
            (json!(1), json!(10))
        );
        assert_eq!(
            app.call("GET", &format!("/v1/agents/{id}"), Some(&other.token), None)
                .await
                .status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            app.call(
                "DELETE",
                &format!("/v1/agents/{id}"),
                Some(&other.token),
                None
            )
            .await
            .status,
            StatusCode::NOT_FOUND
        );

        // Route a number to it, inbound and outbound, then delete it: the number is detached.
        let number = app.number(&ws.id, "+912234567890", None, None).await;
        let path = format!("/v1/organization-phone-numbers/{number}");
        let routed = app
            .call(
                "PATCH",
                &path,
                token,
                Some(json!({"inbound_agent_id": id, "outbound_agent_id": id})),
            )
            .await;
        assert_eq!(routed.json()["agent_id"], json!(id));
        let deleted = app
            .call("DELETE", &format!("/v1/agents/{id}"), token, None)
            .await;
        assert_eq!(deleted.status, StatusCode::OK);
        let after = app.call("GET", &path, token, None).await.json();
        assert_eq!(
            (
                after["agent_id"].clone(),
                after["inbound_agent_id"].clone(),
                after["outbound_agent_id"].clone()
            ),
            (json!(null), json!(null), json!(null))
        );
        assert_eq!(
            app.call("GET", &format!("/v1/agents/{id}"), token, None)
                .await
                .status,
            StatusCode::NOT_FOUND
        );

        let no_agent_scope = app
            .key(
                &ws.id,
                [Scope::PhoneNumbersRead].into_iter().collect::<Scopes>(),
            )
            .await;
        assert_eq!(
            app.call("GET", "/v1/agents", Some(&no_agent_scope), None)
                .await
                .status,
            StatusCode::FORBIDDEN
        );
    }
}

#[tokio::test]
async fn api_keys_are_shown_once_listed_without_secrets_and_revoked_at_once() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        let created = app
            .call(
                "POST",
                "/v1/api-keys",
                Some(&ws.token),
                Some(json!({"name": "reporting", "scopes": ["phone_numbers:read"]})),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED);
        let body = created.json();
        let raw = body["api_key"].as_str().expect("api_key").to_owned();
        let key_id = body["id"].as_str().expect("id").to_owned();
        assert!(raw.starts_with(&format!("{key_id}:")));
        assert_eq!(body["scopes"], json!(["phone_numbers:read"]));
        assert_eq!(body["expires_at"], json!(null));

        // The new key works, within its scopes.
        assert_eq!(
            app.call("GET", "/v1/organization-phone-numbers", Some(&raw), None)
                .await
                .status,
            StatusCode::OK
        );
        assert_eq!(
            app.call("GET", "/v1/api-keys", Some(&raw), None)
                .await
                .status,
            StatusCode::FORBIDDEN
        );

        let list = app.call("GET", "/v1/api-keys", Some(&ws.token), None).await;
        assert_eq!(list.status, StatusCode::OK);
        let secret = raw.split_once(':').map(|(_, s)| s).expect("secret");
        assert!(!contains(&list.body, secret), "a secret was listed");
        let keys = list.json();
        let listed = keys.as_array().expect("array");
        assert_eq!(listed.len(), 2);
        let mut fields: Vec<&str> = listed[1]
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            [
                "created_at",
                "expires_at",
                "id",
                "is_expired",
                "last_used_at",
                "name",
                "scopes"
            ]
        );

        // A key cannot hand out scopes it does not hold.
        let narrow = app
            .key(
                &ws.id,
                [Scope::ApiKeysManage].into_iter().collect::<Scopes>(),
            )
            .await;
        let escalate = app
            .call(
                "POST",
                "/v1/api-keys",
                Some(&narrow),
                Some(json!({"name": "x", "scopes": ["phone_numbers:write"]})),
            )
            .await;
        assert_eq!(escalate.status, StatusCode::FORBIDDEN);
        let unknown = app
            .call(
                "POST",
                "/v1/api-keys",
                Some(&ws.token),
                Some(json!({"name": "x", "scopes": ["root"]})),
            )
            .await;
        assert_eq!(unknown.status, StatusCode::BAD_REQUEST);

        // Revoked: the very next request is a 401, even though the key was just used (cached).
        let revoke = app
            .call(
                "DELETE",
                &format!("/v1/api-keys/{key_id}"),
                Some(&ws.token),
                None,
            )
            .await;
        assert_eq!(
            (revoke.status, revoke.json()),
            (StatusCode::OK, json!({"message": "API key revoked."}))
        );
        let after = app
            .call("GET", "/v1/organization-phone-numbers", Some(&raw), None)
            .await;
        assert_eq!(after.status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            app.call(
                "DELETE",
                &format!("/v1/api-keys/{key_id}"),
                Some(&ws.token),
                None
            )
            .await
            .status,
            StatusCode::NOT_FOUND
        );
    }
}

#[tokio::test]
async fn rotation_with_expire_now() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        let old = ws.token.clone();
        assert_eq!(
            app.call("GET", "/v1/api-keys", Some(&old), None)
                .await
                .status,
            StatusCode::OK
        );

        let graceful = app
            .call(
                "POST",
                "/v1/api-keys",
                Some(&old),
                Some(json!({"name": "next", "expire_now": false})),
            )
            .await;
        assert_eq!(graceful.status, StatusCode::CREATED);
        let next = graceful.json()["api_key"].as_str().expect("key").to_owned();
        let listed = app
            .call("GET", "/v1/api-keys", Some(&next), None)
            .await
            .json();
        let old_entry = listed
            .as_array()
            .expect("array")
            .iter()
            .find(|k| k["name"] == json!("test"))
            .cloned()
            .expect("old key listed");
        assert_eq!(old_entry["is_expired"], json!(false));
        assert!(
            old_entry["expires_at"].is_string(),
            "old key now expires in 24 h"
        );
        assert!(old_entry["last_used_at"].is_string() || old_entry["last_used_at"].is_null());
        assert_eq!(
            app.call("GET", "/v1/api-keys", Some(&old), None)
                .await
                .status,
            StatusCode::OK,
            "still valid for 24 h"
        );

        let immediate = app
            .call(
                "POST",
                "/v1/api-keys",
                Some(&next),
                Some(json!({"name": "final", "expire_now": true})),
            )
            .await;
        assert_eq!(immediate.status, StatusCode::CREATED);
        let last = immediate.json()["api_key"]
            .as_str()
            .expect("key")
            .to_owned();
        for expired in [&old, &next] {
            assert_eq!(
                app.call("GET", "/v1/api-keys", Some(expired), None)
                    .await
                    .status,
                StatusCode::UNAUTHORIZED
            );
        }
        let listed = app
            .call("GET", "/v1/api-keys", Some(&last), None)
            .await
            .json();
        let expired_count = listed
            .as_array()
            .expect("array")
            .iter()
            .filter(|k| k["is_expired"] == json!(true))
            .count();
        assert_eq!(expired_count, 2);
    }
}

#[tokio::test]
async fn pricing_countries_and_enabled_groups() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        app.enable(&ws.id, &["IN", "US"], false).await;
        let token = Some(ws.token.as_str());

        let pricing = app
            .call("GET", "/v1/phone-number-pricing", token, None)
            .await;
        assert_eq!(pricing.status, StatusCode::OK);
        let prices = pricing.json();
        let prices = prices.as_array().expect("bare array");
        let in_local = prices
            .iter()
            .find(|p| p["country_iso"] == json!("IN") && p["type"] == json!("local"))
            .expect("IN local price");
        assert_eq!(in_local["telephony_provider_id"], json!("sandbox"));
        assert_eq!(in_local["credit_cost"], json!("1.15"));
        assert_eq!(in_local["country_name"], json!("India"));
        assert!(
            prices
                .iter()
                .all(|p| p["telephony_provider_id"] == json!("sandbox")),
            "only configured providers"
        );

        let countries = app
            .call("GET", "/v1/phone-country-rules/countries", token, None)
            .await
            .json();
        let isos: Vec<&str> = countries
            .as_array()
            .expect("array")
            .iter()
            .filter_map(|c| c["country_iso"].as_str())
            .collect();
        assert_eq!(isos, ["AU", "CA", "DE", "GB", "IN", "US"]);
        let india = &countries[4];
        assert_eq!(
            (
                india["calling_code"].clone(),
                india["max_length"].clone(),
                india["is_deleted"].clone()
            ),
            (json!("91"), json!(10), json!(false))
        );
        assert!(india["prefixes"].is_array());

        let groups = app
            .call(
                "GET",
                "/v1/phone-country-rules/enabled-network-groups",
                token,
                None,
            )
            .await
            .json();
        let enabled: Vec<&str> = groups
            .as_array()
            .expect("array")
            .iter()
            .filter_map(|g| g["countryRule"]["country_iso"].as_str())
            .collect();
        assert_eq!(enabled, ["IN", "US"]);
        assert_eq!(groups[0]["prefix_mode"], json!("allow_only_listed"));
        assert_eq!(groups[0]["from_phone_number_country_code"], json!(null));
    }
}

/// A key manages only keys that can do no more than it can: a key holding just
/// `api_keys:manage` can neither revoke nor expire a full-scope key, but may manage keys
/// within its own scopes.
#[tokio::test]
async fn keys_manage_only_keys_within_their_own_scopes() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        let manage_only: Scopes = [Scope::ApiKeysManage].into_iter().collect();
        let manager = app.key(&ws.id, manage_only).await;
        let peer = app.key(&ws.id, manage_only).await;
        let full_id = ws.token.split(':').next().expect("key id");

        let revoke_full = app
            .call(
                "DELETE",
                &format!("/v1/api-keys/{full_id}"),
                Some(&manager),
                None,
            )
            .await;
        assert_eq!(revoke_full.status, StatusCode::FORBIDDEN);
        assert_eq!(
            revoke_full.json()["message"],
            json!("This key may only revoke keys whose scopes are a subset of its own")
        );

        let rotated = app
            .call(
                "POST",
                "/v1/api-keys",
                Some(&manager),
                Some(json!({"name": "next", "expire_now": true})),
            )
            .await;
        assert_eq!(rotated.status, StatusCode::CREATED);
        assert_eq!(
            app.call(
                "GET",
                "/v1/organization-phone-numbers",
                Some(&ws.token),
                None
            )
            .await
            .status,
            StatusCode::OK,
            "the full-scope key survives the rotation"
        );
        assert_eq!(
            app.call("GET", "/v1/api-keys", Some(&peer), None)
                .await
                .status,
            StatusCode::UNAUTHORIZED,
            "a key within the rotating key's scopes is expired"
        );

        let next = rotated.json()["api_key"].as_str().expect("key").to_owned();
        let manager_id = manager.split(':').next().expect("key id");
        let revoke_peer = app
            .call(
                "DELETE",
                &format!("/v1/api-keys/{manager_id}"),
                Some(&next),
                None,
            )
            .await;
        assert_eq!(
            revoke_peer.status,
            StatusCode::OK,
            "same scopes may be revoked"
        );
        let by_full = app
            .call(
                "DELETE",
                &format!("/v1/api-keys/{}", next.split(':').next().expect("id")),
                Some(&ws.token),
                None,
            )
            .await;
        assert_eq!(
            by_full.status,
            StatusCode::OK,
            "a full-scope key revokes any key"
        );
    }
}
