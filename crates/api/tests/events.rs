//! The workspace's change feed: what it records, its filters, and the cursor contract — a
//! reader that follows `next_cursor` never misses an event and never sees one twice, even
//! while two replicas on one PostgreSQL commit concurrently.

mod common;

use axum::http::StatusCode;
use common::{Backend, TestApp, TestWorkspace};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;

/// Reads the feed from `after` until it has returned `count` events (the feed may hold back
/// what PostgreSQL transactions elsewhere in the server could still precede, for a moment),
/// or ten seconds have passed; answers them with the cursor after them.
async fn read_feed_until(
    app: &TestApp,
    token: &str,
    after: &str,
    limit: u32,
    count: usize,
) -> (Vec<Value>, String) {
    let mut events = Vec::new();
    let mut cursor = after.to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while events.len() < count && std::time::Instant::now() < deadline {
        let (more, next) = read_feed(app, token, &cursor, limit).await;
        cursor = next;
        if more.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        events.extend(more);
    }
    (events, cursor)
}

/// Every event of the workspace through the feed, `limit` at a time, from `after`.
async fn read_feed(app: &TestApp, token: &str, after: &str, limit: u32) -> (Vec<Value>, String) {
    let mut cursor = after.to_owned();
    let mut events = Vec::new();
    loop {
        let reply = app
            .call(
                "GET",
                &format!("/v1/events?after={cursor}&limit={limit}"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.json());
        let page = reply.json();
        let items = page["items"].as_array().expect("items").clone();
        cursor = page["next_cursor"]
            .as_str()
            .expect("next_cursor")
            .to_owned();
        if items.is_empty() {
            return (events, cursor);
        }
        events.extend(items);
    }
}

fn types(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["type"].as_str().expect("type").to_owned())
        .collect()
}

/// A number imported, routed to an agent, the agent renamed, a key made and revoked, the
/// agent deleted (detaching the number), and the number released.
async fn scenario(app: &TestApp) -> (TestWorkspace, String, String) {
    let ws = app.workspace("Acme").await;
    let token = Some(ws.token.as_str());
    let number = app
        .number(&ws.id, "+14155552671", Some("Sales"), None)
        .await
        .to_string();
    let agent = app
        .call(
            "POST",
            "/v1/agents",
            token,
            Some(json!({"name": "Support"})),
        )
        .await
        .json()["id"]
        .as_str()
        .expect("agent id")
        .to_owned();
    let path = format!("/v1/organization-phone-numbers/{number}");
    let routed = app
        .call_with(
            "PATCH",
            &path,
            token,
            Some(json!({"inbound_agent_id": agent})),
            &[("x-request-id", "route-1")],
        )
        .await;
    assert_eq!(routed.status, StatusCode::OK);
    app.call(
        "PATCH",
        &format!("/v1/agents/{agent}"),
        token,
        Some(json!({"name": "Support EU"})),
    )
    .await;
    let key = app
        .call(
            "POST",
            "/v1/api-keys",
            token,
            Some(json!({"name": "reporting", "scopes": ["phone_numbers:read"]})),
        )
        .await
        .json();
    app.call(
        "DELETE",
        &format!("/v1/api-keys/{}", key["id"].as_str().expect("id")),
        token,
        None,
    )
    .await;
    app.call("DELETE", &format!("/v1/agents/{agent}"), token, None)
        .await;
    assert_eq!(
        app.call("DELETE", &path, token, None).await.status,
        StatusCode::OK
    );
    (ws, number, agent)
}

#[tokio::test]
async fn every_change_is_in_the_feed_with_its_actor_and_filters() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let (ws, number, agent) = scenario(&app).await;
        let token = Some(ws.token.as_str());
        let key_id = ws.token.split(':').next().expect("key id");

        let newest = app.call("GET", "/v1/events?limit=100", token, None).await;
        assert_eq!(newest.status, StatusCode::OK);
        let newest = newest.json();
        let listed = newest["items"].as_array().expect("items").clone();
        assert_eq!(
            types(&listed),
            [
                "phone_number.released",
                "agent.deleted",
                "phone_number.updated",
                "api_key.revoked",
                "api_key.created",
                "agent.renamed",
                "phone_number.updated",
                "agent.created",
                "phone_number.imported",
                // The workspace's first key, made with it.
                "api_key.created",
            ],
            "{backend:?}"
        );
        assert_eq!(newest["total"], json!(10));
        let routed = &listed[6];
        assert_eq!(routed["subject_id"], json!(number));
        assert_eq!(routed["phone_number"], json!("+14155552671"));
        assert_eq!(routed["actor"], json!(key_id));
        assert_eq!(routed["request_id"], json!("route-1"));
        assert_eq!(
            routed["changes"]["inbound_agent_id"],
            json!({"before": null, "after": agent})
        );
        // The release is the tombstone: every field goes to null.
        assert_eq!(
            listed[0]["changes"]["phone_number"],
            json!({"before": "+14155552671", "after": null})
        );
        assert_eq!(listed[8]["actor"], json!("cli"));
        assert_eq!(
            listed[5]["changes"],
            json!({"name": {"before": "Support", "after": "Support EU"}})
        );

        // The feed, a few at a time, is the same events oldest first, each once.
        let (feed, _) = read_feed_until(&app, &ws.token, "start", 2, listed.len()).await;
        let mut reversed = listed.clone();
        reversed.reverse();
        assert_eq!(feed, reversed);

        for (query, expected) in [
            (
                format!("number_id={number}"),
                vec![
                    "phone_number.released",
                    "phone_number.updated",
                    "phone_number.updated",
                    "phone_number.imported",
                ],
            ),
            (
                format!("agent_id={agent}"),
                vec![
                    "agent.deleted",
                    "phone_number.updated",
                    "agent.renamed",
                    "phone_number.updated",
                    "agent.created",
                ],
            ),
            (
                "type=api_key.created".to_owned(),
                vec!["api_key.created", "api_key.created"],
            ),
            ("since=2999-01-01T00:00:00Z".to_owned(), vec![]),
            ("until=2000-01-01T00:00:00Z".to_owned(), vec![]),
        ] {
            let reply = app
                .call("GET", &format!("/v1/events?{query}"), token, None)
                .await
                .json();
            assert_eq!(
                types(reply["items"].as_array().expect("items")),
                expected,
                "{backend:?} {query}"
            );
        }
        for query in [
            "type=phone_number.exploded",
            "since=yesterday",
            "after=nonsense",
            "after=start&limit=0",
            "after=start&limit=1001",
        ] {
            let reply = app
                .call("GET", &format!("/v1/events?{query}"), token, None)
                .await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        }
        let other = app.workspace("Other").await;
        let theirs = app
            .call("GET", "/v1/events", Some(&other.token), None)
            .await
            .json();
        assert_eq!(
            types(theirs["items"].as_array().expect("items")),
            ["api_key.created"],
            "only its own first key"
        );
        assert_ne!(theirs["items"][0]["subject_id"], listed[9]["subject_id"]);

        // A key that may read numbers only sees the number events: key events need
        // api_keys:manage, agent events agents:read.
        let reader = app
            .key(
                &ws.id,
                [switchboard_domain::Scope::PhoneNumbersRead]
                    .into_iter()
                    .collect(),
            )
            .await;
        let seen = app
            .call("GET", "/v1/events?limit=100", Some(&reader), None)
            .await
            .json();
        let seen_types = types(seen["items"].as_array().expect("items"));
        let without_keys: Vec<String> = types(&listed)
            .into_iter()
            .filter(|t| t.starts_with("phone_number."))
            .collect();
        assert_eq!(seen_types, without_keys, "{backend:?}");
        let no_scope = app
            .key(
                &ws.id,
                [switchboard_domain::Scope::AgentsRead]
                    .into_iter()
                    .collect(),
            )
            .await;
        assert_eq!(
            app.call("GET", "/v1/events", Some(&no_scope), None)
                .await
                .status,
            StatusCode::FORBIDDEN
        );
    }
}

/// A transaction that took its place in the sequence first but commits last: the feed must
/// wait for it instead of stepping past it. (On SQLite one writer at a time makes sequence
/// order commit order; this is PostgreSQL's case.)
#[tokio::test]
async fn the_feed_does_not_step_past_an_event_still_being_committed() {
    if !common::backends().contains(&Backend::Postgres) {
        eprintln!(
            "not run: this is PostgreSQL's case; set SWITCHBOARD_TEST_DATABASE_URL to run it"
        );
        return;
    }
    let app = TestApp::new(Backend::Postgres).await;
    let ws = app.workspace("Acme").await;
    // The feed serves a transaction's events once every older transaction of the server has
    // ended; other tests' transactions may delay the workspace's first event a little.
    let mut start = "start".to_owned();
    for _ in 0..200 {
        let (events, cursor) = read_feed(&app, &ws.token, &start, 100).await;
        start = cursor;
        if !events.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_ne!(start, "start", "the workspace's first event never showed");

    // A writer that has written its event but not committed: its sequence value is taken.
    let slow = app.db.postgres_client().await;
    slow.batch_execute(&format!(
        "BEGIN; INSERT INTO events (workspace_id, type, subject_id, actor, changes, created_at)
         VALUES ('{}', 'agent.created', 'agt_slowslowslow', 'slow', '{{}}', 0)",
        ws.id
    ))
    .await
    .expect("slow writer");
    // A later writer commits first.
    let created = app
        .call(
            "POST",
            "/v1/agents",
            Some(&ws.token),
            Some(json!({"name": "Fast"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let fast = created.json()["id"].as_str().expect("id").to_owned();

    for _ in 0..5 {
        let (while_open, cursor) = read_feed(&app, &ws.token, &start, 100).await;
        assert!(
            while_open.is_empty(),
            "the feed stepped past an open transaction: {while_open:?}"
        );
        assert_eq!(cursor, start);
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    slow.batch_execute("COMMIT").await.expect("commit");
    let mut subjects = Vec::new();
    let mut cursor = start.clone();
    for _ in 0..200 {
        let (events, next) = read_feed(&app, &ws.token, &cursor, 100).await;
        cursor = next;
        subjects.extend(
            events
                .iter()
                .filter_map(|e| e["subject_id"].as_str().map(str::to_owned)),
        );
        if subjects.len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        subjects,
        ["agt_slowslowslow".to_owned(), fast],
        "the earlier transaction's event first, then the other, each once"
    );
}

/// Writers on two replicas commit concurrently while a reader follows the feed: it ends with
/// every event exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_following_the_feed_misses_nothing_while_two_replicas_write() {
    for backend in common::backends() {
        let first = TestApp::new(backend).await;
        let ws = first.workspace("Acme").await;
        let mut numbers = Vec::new();
        for i in 0..8 {
            numbers.push(
                first
                    .number(&ws.id, &format!("+1415555{:04}", 2600 + i), None, None)
                    .await
                    .to_string(),
            );
        }
        let second = TestApp::build_on(&first, Vec::new()).await;
        let (first, second) = (Arc::new(first), Arc::new(second));
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));

        let reader = {
            let (app, token, done) = (first.clone(), ws.token.clone(), done.clone());
            tokio::spawn(async move {
                let mut cursor = "start".to_owned();
                let mut seen = Vec::new();
                // Follows the feed while the writers write, then until it has everything
                // (or ten seconds have passed, and the assertions below say what is missing).
                let expected = 1 + 8 + 8 * 15;
                let mut deadline = None;
                while seen.len() < expected {
                    if done.load(std::sync::atomic::Ordering::SeqCst) {
                        let at = *deadline.get_or_insert_with(|| {
                            std::time::Instant::now() + std::time::Duration::from_secs(10)
                        });
                        if std::time::Instant::now() > at {
                            break;
                        }
                    }
                    let page = app
                        .call(
                            "GET",
                            &format!("/v1/events?after={cursor}&limit=7"),
                            Some(&token),
                            None,
                        )
                        .await
                        .json();
                    let items = page["items"].as_array().expect("items").clone();
                    cursor = page["next_cursor"].as_str().expect("cursor").to_owned();
                    if items.is_empty() {
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    }
                    seen.extend(
                        items
                            .into_iter()
                            .map(|e| e["cursor"].as_str().expect("cursor").to_owned()),
                    );
                }
                // One more read: nothing past the last event.
                let page = app
                    .call(
                        "GET",
                        &format!("/v1/events?after={cursor}"),
                        Some(&token),
                        None,
                    )
                    .await
                    .json();
                seen.extend(
                    page["items"]
                        .as_array()
                        .expect("items")
                        .iter()
                        .map(|e| e["cursor"].as_str().expect("cursor").to_owned()),
                );
                seen
            })
        };
        let mut writers = tokio::task::JoinSet::new();
        for (i, number) in numbers.iter().enumerate() {
            let app = if i % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            let (token, path) = (
                ws.token.clone(),
                format!("/v1/organization-phone-numbers/{number}"),
            );
            writers.spawn(async move {
                for round in 0..15 {
                    let reply = app
                        .call(
                            "PATCH",
                            &path,
                            Some(&token),
                            Some(json!({"label": format!("round {round}")})),
                        )
                        .await;
                    assert_eq!(reply.status, StatusCode::OK);
                }
            });
        }
        while let Some(result) = writers.join_next().await {
            result.expect("writer");
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        let seen = reader.await.expect("reader");

        let all = first
            .call("GET", "/v1/events?limit=100&page=1", Some(&ws.token), None)
            .await
            .json();
        let total = all["total"].as_u64().expect("total") as usize;
        assert_eq!(
            total,
            1 + 8 + 8 * 15,
            "{backend:?}: the first key, imports and updates"
        );
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(
            unique.len(),
            seen.len(),
            "{backend:?}: an event was seen twice"
        );
        assert_eq!(
            seen.len(),
            total,
            "{backend:?}: the reader missed {} events",
            total.saturating_sub(seen.len())
        );
    }
}

/// A cursor says nothing about other workspaces' volume or the database, cannot be forged,
/// and belongs to its workspace.
#[tokio::test]
async fn cursors_are_opaque_sealed_and_bound_to_their_workspace() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let a = app.workspace("A").await;
        let b = app.workspace("B").await;
        app.agent(&a.id, "A agent").await;
        // A's position after its two events (its key's, then its agent's), which other
        // tests' transactions on the same PostgreSQL server may hold back a moment.
        let (a_events, a_cursor) = read_feed_until(&app, &a.token, "start", 100, 2).await;
        assert_eq!(
            types(&a_events),
            ["api_key.created", "agent.created"],
            "{backend:?}"
        );
        // Another workspace writes; A's position, read again, is the same opaque string.
        for i in 0..30 {
            app.agent(&b.id, &format!("B agent {i}")).await;
        }
        let (nothing, again) = read_feed(&app, &a.token, &a_cursor, 100).await;
        assert!(nothing.is_empty(), "{backend:?}: {nothing:?}");
        assert_eq!(again, a_cursor, "{backend:?}");
        // Not `txid-seq` any more: sealed bytes, base64url.
        assert!(
            a_cursor.len() > 40 && !a_cursor.bytes().all(|b| b.is_ascii_digit() || b == b'-'),
            "{backend:?}: {a_cursor}"
        );
        // Neither a guessed position nor A's cursor in B reads anything.
        for (token, cursor) in [
            (&a.token, "0-1".to_owned()),
            (&a.token, "0-99999".to_owned()),
            (&b.token, a_cursor.clone()),
            (&a.token, format!("{}x", &a_cursor[..a_cursor.len() - 1])),
        ] {
            let reply = app
                .call(
                    "GET",
                    &format!("/v1/events?after={cursor}"),
                    Some(token),
                    None,
                )
                .await;
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{backend:?} {cursor}"
            );
        }
    }
}

/// A filter with a control character matches nothing, on both backends (PostgreSQL cannot
/// take a NUL as a parameter at all).
#[tokio::test]
async fn a_filter_with_a_control_character_matches_nothing() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("A").await;
        app.number(&ws.id, "+912234567890", None, None).await;
        for query in ["number_id=a%00b", "agent_id=%00", "number_id=%1b%5b31m"] {
            let reply = app
                .call("GET", &format!("/v1/events?{query}"), Some(&ws.token), None)
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{backend:?} {query}");
            assert_eq!(reply.json()["total"], json!(0), "{backend:?} {query}");
        }
    }
}

/// Webhook endpoints and the workspace's settings are in the audit trail too, with who
/// changed them; only keys that manage them see those events.
#[tokio::test]
async fn endpoint_and_workspace_changes_are_events() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("A").await;
        let created = app
            .call(
                "POST",
                "/v1/webhook-endpoints",
                Some(&ws.token),
                Some(json!({"url": "https://93.184.216.34/hook?token=x", "description": "sync"})),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.json());
        let path = format!(
            "/v1/webhook-endpoints/{}",
            created.json()["id"].as_str().expect("id")
        );
        for (method, suffix, body) in [
            ("PATCH", "", Some(json!({"description": "sync v2"}))),
            ("PATCH", "", Some(json!({"enabled": false}))),
            ("PATCH", "", Some(json!({"enabled": true}))),
            ("POST", "/rotate-secret", None),
            ("DELETE", "", None),
        ] {
            let reply = app
                .call(method, &format!("{path}{suffix}"), Some(&ws.token), body)
                .await;
            assert!(
                reply.status.is_success(),
                "{method} {suffix}: {:?}",
                reply.json()
            );
        }
        app.enable(&ws.id, &["US", "GB"], true).await;

        let listed = app
            .call("GET", "/v1/events?limit=100", Some(&ws.token), None)
            .await
            .json();
        let items = listed["items"].as_array().expect("items");
        let mine: Vec<(&str, &str)> = items
            .iter()
            .filter(|e| {
                let t = e["type"].as_str().unwrap_or("");
                t.starts_with("webhook_endpoint.") || t.starts_with("workspace.")
            })
            .map(|e| {
                (
                    e["type"].as_str().unwrap_or(""),
                    e["actor"].as_str().unwrap_or(""),
                )
            })
            .collect();
        let key_id = ws.token.split(':').next().expect("key id");
        assert_eq!(
            mine,
            [
                ("workspace.updated", "cli"),
                ("webhook_endpoint.deleted", key_id),
                ("webhook_endpoint.secret_rotated", key_id),
                ("webhook_endpoint.enabled", key_id),
                ("webhook_endpoint.disabled", key_id),
                ("webhook_endpoint.updated", key_id),
                ("webhook_endpoint.created", key_id),
            ],
            "{backend:?}"
        );
        let workspace_event = &items[0];
        assert_eq!(
            workspace_event["changes"],
            json!({"enabled_countries": {"before": ["IN", "US"], "after": ["GB", "US"]}, "kyc_verified": {"before": false, "after": true}}),
            "{backend:?}"
        );
        let renamed = items
            .iter()
            .find(|e| e["type"] == "webhook_endpoint.updated")
            .expect("updated");
        assert_eq!(
            renamed["changes"],
            json!({"description": {"before": "sync", "after": "sync v2"}})
        );

        // A key that reads numbers and agents, but manages neither keys nor webhooks.
        let reader = app
            .key(
                &ws.id,
                switchboard_domain::Scopes::parse_list("phone_numbers:read,agents:read")
                    .expect("scopes"),
            )
            .await;
        let seen = app
            .call("GET", "/v1/events?limit=100", Some(&reader), None)
            .await
            .json();
        assert!(
            seen["items"].as_array().expect("items").iter().all(|e| {
                let t = e["type"].as_str().unwrap_or("");
                !t.starts_with("webhook_endpoint.") && !t.starts_with("workspace.")
            }),
            "{backend:?}: {seen}"
        );
    }
}
