//! Webhooks end to end: the real `switchboard serve` posts to a receiver in this test process
//! that checks every signature with `standardwebhooks`, the Standard Webhooks reference
//! library, and records what it accepted. On SQLite always, and on PostgreSQL when
//! SWITCHBOARD_TEST_DATABASE_URL is set.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use switchboard_testkit::{Backend, ServerProcess, TestDatabase, backends};
mod common;

use common::{json_output, switchboard, workspace_and_key};

/// How the receiver answers.
const ANSWER_OK: u8 = 0;
const ANSWER_500: u8 = 1;
/// Sleeps past the server's 1–2 s attempt timeout.
const ANSWER_HANG: u8 = 2;
/// 200 after a short wait, so that deliveries are in flight for a while.
const ANSWER_SLOW: u8 = 3;
/// 200 after 1.5 s.
const ANSWER_VERY_SLOW: u8 = 4;

/// One request the receiver accepted (answered 2xx).
#[derive(Clone, Debug)]
struct Received {
    id: String,
    body: String,
    json: Value,
    signatures: usize,
    /// How many of the secrets its path trusts verify it on their own.
    verified_by: usize,
}

/// Counts a request as in flight until it is answered or dropped (the server gave up on it).
struct InFlight {
    receiver: Receiver,
    id: String,
}

impl InFlight {
    fn enter(receiver: &Receiver, id: &str) -> Self {
        let mut state = receiver.lock();
        state.requests += 1;
        let count = state.in_flight.entry(id.to_owned()).or_default();
        *count += 1;
        if *count > 1 {
            receiver.overlapped.store(true, Ordering::SeqCst);
        }
        Self {
            receiver: receiver.clone(),
            id: id.to_owned(),
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(count) = self.receiver.lock().in_flight.get_mut(&self.id) {
            *count -= 1;
        }
    }
}

#[derive(Default)]
struct ReceiverState {
    /// Path → the secrets a delivery there may be signed with.
    secrets: HashMap<String, Vec<String>>,
    /// Path → what it accepted, in arrival order.
    accepted: HashMap<String, Vec<Received>>,
    /// Requests whose signature no secret of their path verified.
    bad_signatures: Vec<String>,
    /// `/path webhook-id`s being handled right now.
    in_flight: HashMap<String, usize>,
    requests: usize,
}

#[derive(Clone, Default)]
struct Receiver {
    state: Arc<Mutex<ReceiverState>>,
    mode: Arc<AtomicU8>,
    /// Set when one `webhook-id` was being handled twice at the same moment.
    overlapped: Arc<AtomicBool>,
}

impl Receiver {
    /// Serves on a free loopback port; returns the base URL.
    async fn start(&self) -> String {
        let app = axum::Router::new()
            .route("/{path}", axum::routing::post(receive))
            .with_state(self.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{address}")
    }

    fn set_mode(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
    }

    fn trust(&self, path: &str, secret: &str) {
        self.lock()
            .secrets
            .entry(path.to_owned())
            .or_default()
            .push(secret.to_owned());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ReceiverState> {
        self.state.lock().expect("receiver state")
    }

    fn accepted(&self, path: &str) -> Vec<Received> {
        self.lock().accepted.get(path).cloned().unwrap_or_default()
    }

    /// The distinct `webhook-id`s accepted at `path`.
    fn ids(&self, path: &str) -> HashSet<String> {
        self.accepted(path).into_iter().map(|r| r.id).collect()
    }

    fn requests(&self) -> usize {
        self.lock().requests
    }

    fn in_flight(&self) -> usize {
        self.lock().in_flight.values().sum()
    }

    fn assert_clean(&self) {
        let state = self.lock();
        assert!(
            state.bad_signatures.is_empty(),
            "signatures that did not verify: {:?}",
            state.bad_signatures
        );
        assert!(
            !self.overlapped.load(Ordering::SeqCst),
            "one event was being delivered twice at the same moment"
        );
    }
}

async fn receive(
    State(receiver): State<Receiver>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let id = headers
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    // One event goes to each endpoint that takes it, at the same time if it may: only the
    // same event at the same endpoint twice at once is an overlap.
    let in_flight = InFlight::enter(&receiver, &format!("/{path} {id}"));
    let status = match receiver.mode.load(Ordering::SeqCst) {
        ANSWER_500 => StatusCode::INTERNAL_SERVER_ERROR,
        ANSWER_HANG => {
            tokio::time::sleep(Duration::from_secs(4)).await;
            StatusCode::OK
        }
        ANSWER_SLOW => {
            tokio::time::sleep(Duration::from_millis(150)).await;
            StatusCode::OK
        }
        ANSWER_VERY_SLOW => {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            StatusCode::OK
        }
        _ => StatusCode::OK,
    };
    drop(in_flight);
    let mut state = receiver.lock();
    if !status.is_success() {
        return status;
    }
    let secrets = state.secrets.get(&path).cloned().unwrap_or_default();
    let verified_by = secrets
        .iter()
        .filter(|secret| {
            standardwebhooks::Webhook::new(secret)
                .expect("secret")
                .verify(&body, &headers)
                .is_ok()
        })
        .count();
    let text = String::from_utf8_lossy(&body).into_owned();
    if verified_by == 0 {
        state
            .bad_signatures
            .push(format!("{id} at /{path}: {text}"));
        return StatusCode::BAD_REQUEST;
    }
    let signatures = headers
        .get("webhook-signature")
        .and_then(|v| v.to_str().ok())
        .map_or(0, |v| v.split(' ').count());
    state.accepted.entry(path).or_default().push(Received {
        id,
        json: serde_json::from_str(&text).expect("JSON body"),
        body: text,
        signatures,
        verified_by,
    });
    StatusCode::OK
}

/// A client of one server with one key.
#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    fn new(server: &ServerProcess, token: &str) -> Self {
        Self {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("client"),
            base: server.base.clone(),
            token: token.to_owned(),
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .client
            .request(method, format!("{}/v1{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, answer) = self.call(method, path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path} answered {status}: {answer}"
        );
        answer
    }

    async fn buy(&self, number: &str) -> String {
        let answer = self
            .ok(
                "POST",
                "/organization-phone-numbers/purchase",
                Some(json!({"phoneNumber": number, "telephonyProviderId": "sandbox", "countryISO": "US"})),
            )
            .await;
        answer["organizationPhoneNumber"]["id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    /// A new endpoint for `receiver`'s `path`; the receiver trusts its secret. No `types`
    /// means the events of [`Api::feed`]: every type but the endpoints' and the
    /// workspace's own (those are tested with the change feed).
    async fn endpoint(
        &self,
        receiver: &Receiver,
        base: &str,
        path: &str,
        types: &[&str],
    ) -> String {
        let types: Vec<&str> = if types.is_empty() {
            switchboard_store::EVENT_TYPES
                .into_iter()
                .filter(|t| is_data_event(t))
                .collect()
        } else {
            types.to_vec()
        };
        let answer = self
            .ok(
                "POST",
                "/webhook-endpoints",
                Some(json!({"url": format!("{base}/{path}"), "event_types": types})),
            )
            .await;
        receiver.trust(path, answer["secret"].as_str().expect("secret"));
        answer["id"].as_str().expect("id").to_owned()
    }

    /// The feed's events about numbers, agents and keys, in feed order, as (`webhook-id`,
    /// type, subject).
    async fn feed(&self) -> Vec<(String, String, String)> {
        let answer = self.ok("GET", "/events?after=start&limit=1000", None).await;
        answer["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|e| e["type"].as_str().is_some_and(is_data_event))
            .map(|e| {
                (
                    e["id"].as_str().expect("id").to_owned(),
                    e["type"].as_str().expect("type").to_owned(),
                    e["subject_id"].as_str().expect("subject").to_owned(),
                )
            })
            .collect()
    }
}

/// An event about a number, an agent or a key (not about an endpoint or the workspace).
fn is_data_event(event_type: &str) -> bool {
    !event_type.starts_with("webhook_endpoint.") && !event_type.starts_with("workspace.")
}

/// A workspace's full-scope key.
fn workspace(db: &TestDatabase) -> String {
    workspace_and_key(db).1
}

/// `switchboard serve` for webhook tests: loopback endpoints allowed, an attempt timeout of
/// `timeout_secs` and a schedule of short retries.
fn serve_hooks(db: &TestDatabase, timeout_secs: u64) -> ServerProcess {
    let mut command = switchboard(db);
    command.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--rate-limit-per-minute",
        "0",
        "--webhooks-allow-loopback",
        "--webhook-timeout-secs",
        &timeout_secs.to_string(),
        "--webhook-retry-schedule",
        "1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s,1s",
    ]);
    ServerProcess::start(command)
}

/// `switchboard serve` as shipped: no `--webhooks-allow-loopback`, a 1 s attempt timeout.
fn serve_without_loopback(db: &TestDatabase) -> ServerProcess {
    let mut command = switchboard(db);
    command.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--rate-limit-per-minute",
        "0",
        "--webhook-timeout-secs",
        "1",
    ]);
    ServerProcess::start(command)
}

/// Waits until `done` holds, for at most `limit`.
async fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Events of the feed that came after `before` (the feed at some earlier moment).
fn new_events(
    feed: &[(String, String, String)],
    before: &[(String, String, String)],
) -> Vec<(String, String, String)> {
    let old: HashSet<&String> = before.iter().map(|(id, ..)| id).collect();
    feed.iter()
        .filter(|(id, ..)| !old.contains(id))
        .cloned()
        .collect()
}

/// Asserts that each subject's events were first received in feed order: `accepted` holds
/// what arrived, `events` the feed's (`webhook-id`, type, subject).
fn assert_in_order_per_subject(
    accepted: &[Received],
    events: &[(String, String, String)],
    backend: Backend,
) {
    let subject_of: HashMap<&str, &str> = events
        .iter()
        .map(|(id, _, subject)| (id.as_str(), subject.as_str()))
        .collect();
    let mut in_feed: HashMap<&str, Vec<&str>> = HashMap::new();
    for (id, _, subject) in events {
        in_feed.entry(subject).or_default().push(id);
    }
    let mut seen = HashSet::new();
    let mut arrived: HashMap<&str, Vec<&str>> = HashMap::new();
    for r in accepted {
        if seen.insert(r.id.as_str())
            && let Some(subject) = subject_of.get(r.id.as_str())
        {
            arrived.entry(subject).or_default().push(&r.id);
        }
    }
    assert_eq!(arrived, in_feed, "{backend:?}: events out of order");
}

/// Asserts that every repeat of a `webhook-id` carried the same body, and no body came under
/// two ids.
fn assert_repeats_are_identical(accepted: &[Received]) {
    let mut body_of: HashMap<&str, &str> = HashMap::new();
    let mut id_of: HashMap<&str, &str> = HashMap::new();
    for r in accepted {
        assert_eq!(
            *body_of.entry(&r.id).or_insert(&r.body),
            r.body,
            "{} repeated with another body",
            r.id
        );
        assert_eq!(
            *id_of.entry(&r.body).or_insert(&r.id),
            r.id,
            "one event under two ids: {}",
            r.body
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_scripted_scenario_arrives_signed_complete_and_in_order() {
    for backend in backends() {
        let db = TestDatabase::create(backend).await;
        let (workspace_id, token) = workspace_and_key(&db);
        let server = serve_hooks(&db, 1);
        let api = Api::new(&server, &token);
        let receiver = Receiver::default();
        let base = receiver.start().await;
        let before = api.feed().await;
        let all = api.endpoint(&receiver, &base, "all", &[]).await;
        api.endpoint(
            &receiver,
            &base,
            "some",
            &["phone_number.released", "agent.deleted"],
        )
        .await;

        // The scenario.
        let agent = api
            .ok("POST", "/agents", Some(json!({"name": "Front desk"})))
            .await["id"]
            .as_str()
            .expect("agent id")
            .to_owned();
        let first = api.buy("+14155550100").await;
        let second = api.buy("+14155550101").await;
        let linked = api
            .ok(
                "POST",
                "/organization-phone-numbers/sip-trunks",
                Some(json!({"phoneNumber": "+14155550190", "terminationUri": "trunk.example.com:5060",
                            "authMode": "userpass", "sipTrunkUserName": "u", "sipTrunkPassword": "p"})),
            )
            .await;
        assert_eq!(linked["sip_trunk_enabled"], json!(true), "{linked}");
        // Another process (the command line) writes to the same database while the server
        // runs: its events reach the outbox all the same.
        let csv = std::env::temp_dir().join(format!("hooks-{}.csv", std::process::id()));
        std::fs::write(&csv, "phone_number\n+14155550191\n+14155550192\n").expect("csv");
        let mut import = switchboard(&db);
        import.args(["numbers", "import", "--workspace", &workspace_id]);
        import.arg(&csv);
        assert_eq!(json_output(import)["imported"], json!(2));
        let _ = std::fs::remove_file(&csv);
        let number = |id: &str| format!("/organization-phone-numbers/{id}");
        api.ok(
            "PATCH",
            &number(&first),
            Some(json!({"nickname": "one", "inbound_agent_id": agent})),
        )
        .await;
        api.ok("PATCH", &number(&first), Some(json!({"nickname": "two"})))
            .await;
        api.ok(
            "PATCH",
            &number(&second),
            Some(json!({"outbound_agent_id": agent})),
        )
        .await;
        let rotated = api
            .ok(
                "POST",
                &format!("/webhook-endpoints/{all}/rotate-secret"),
                None,
            )
            .await;
        let new_secret = rotated["secret"].as_str().expect("secret").to_owned();
        assert!(
            rotated["previous_secret_expires_at"].is_string(),
            "{rotated}"
        );
        receiver.trust("all", &new_secret);
        let after_rotation = api.feed().await.len();
        api.ok(
            "PATCH",
            &number(&first),
            Some(json!({"label": "after rotation"})),
        )
        .await;
        let key = api
            .ok(
                "POST",
                "/api-keys",
                Some(json!({"name": "short-lived", "scopes": ["agents:read"]})),
            )
            .await;
        let key_id = key["id"].as_str().expect("key id").to_owned();
        api.ok("DELETE", &format!("/api-keys/{key_id}"), None).await;
        api.ok("DELETE", &format!("/agents/{agent}"), None).await;
        api.ok("DELETE", &number(&second), None).await;

        let events = new_events(&api.feed().await, &before);
        let types: HashSet<&str> = events.iter().map(|(_, t, _)| t.as_str()).collect();
        for expected_type in [
            "agent.created",
            "phone_number.purchased",
            "phone_number.linked",
            "phone_number.imported",
            "phone_number.updated",
            "api_key.created",
            "api_key.revoked",
            "agent.deleted",
            "phone_number.released",
        ] {
            assert!(
                types.contains(expected_type),
                "{backend:?}: no {expected_type} in {events:?}"
            );
        }
        let expected: HashSet<String> = events.iter().map(|(id, ..)| id.clone()).collect();
        wait_for("every event at /all", Duration::from_secs(30), || {
            receiver.ids("all") == expected
        })
        .await;
        let filtered: HashSet<String> = events
            .iter()
            .filter(|(_, t, _)| t == "phone_number.released" || t == "agent.deleted")
            .map(|(id, ..)| id.clone())
            .collect();
        assert_eq!(filtered.len(), 2);
        wait_for(
            "the filtered events at /some",
            Duration::from_secs(30),
            || receiver.ids("some") == filtered,
        )
        .await;
        receiver.assert_clean();

        // In order per subject, with the feed's type and a full payload.
        let accepted = receiver.accepted("all");
        assert_in_order_per_subject(&accepted, &events, backend);
        assert_repeats_are_identical(&accepted);
        let by_id: HashMap<&str, &Received> = accepted.iter().map(|r| (r.id.as_str(), r)).collect();
        for (index, (id, event_type, subject)) in events.iter().enumerate() {
            let body = &by_id[id.as_str()].json;
            assert_eq!(body["type"], json!(event_type), "{body}");
            assert!(
                body["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
                "{body}"
            );
            if event_type.starts_with("phone_number.") {
                assert_eq!(body["data"]["phone_number"]["id"], json!(subject), "{body}");
                assert!(
                    body["data"]["phone_number"]["phone_number"].is_string(),
                    "{body}"
                );
            }
            // Events after the rotation are signed with both secrets, each valid on its own.
            if index + before.len() >= after_rotation {
                assert_eq!(by_id[id.as_str()].signatures, 2, "{body}");
                assert_eq!(by_id[id.as_str()].verified_by, 2, "{body}");
            }
        }
        let nickname_change = accepted
            .iter()
            .find(|r| r.json["data"]["changes"]["nickname"]["after"] == json!("two"))
            .expect("the second nickname change");
        assert_eq!(nickname_change.json["type"], json!("phone_number.updated"));
        assert_eq!(
            nickname_change.json["data"]["changes"]["nickname"]["before"],
            json!("one")
        );
        // Who made it: the key's id and name (`workspace create` names its key "default").
        assert_eq!(
            nickname_change.json["data"]["actor"],
            json!(token.split(':').next().expect("key id"))
        );
        assert_eq!(nickname_change.json["data"]["actor_name"], json!("default"));
        let deleted = accepted
            .iter()
            .find(|r| r.json["type"] == json!("agent.deleted"))
            .expect("agent.deleted");
        let detached: HashSet<&str> = deleted.json["data"]["detached_phone_numbers"]
            .as_array()
            .expect("detached numbers")
            .iter()
            .map(|n| n["id"].as_str().expect("id"))
            .collect();
        assert_eq!(detached, HashSet::from([first.as_str(), second.as_str()]));
        let released = accepted
            .iter()
            .find(|r| r.json["type"] == json!("phone_number.released"))
            .expect("released");
        assert_eq!(
            released.json["data"]["phone_number"]["phone_number"],
            json!("+14155550101")
        );
        let revoked = accepted
            .iter()
            .find(|r| r.json["type"] == json!("api_key.revoked"))
            .expect("api_key.revoked");
        assert_eq!(revoked.json["data"]["api_key"]["id"], json!(key_id));

        // The record of deliveries, and a ping.
        let deliveries = api
            .ok(
                "GET",
                &format!("/webhook-endpoints/{all}/deliveries?limit=100"),
                None,
            )
            .await;
        assert_eq!(deliveries["total"], json!(events.len()));
        for delivery in deliveries["items"].as_array().expect("items") {
            assert_eq!(delivery["state"], json!("delivered"), "{delivery}");
            assert_eq!(
                delivery["attempts"][0]["status_code"],
                json!(200),
                "{delivery}"
            );
        }
        let ping = api
            .ok("POST", &format!("/webhook-endpoints/{all}/test"), None)
            .await;
        assert_eq!(ping["state"], json!("delivered"), "{ping}");
        assert_eq!(ping["event_type"], json!("ping"));
        let pings: Vec<Received> = receiver
            .accepted("all")
            .into_iter()
            .filter(|r| r.json["type"] == json!("ping"))
            .collect();
        assert_eq!(pings.len(), 1);
        assert_eq!(pings[0].id, ping["webhook_id"].as_str().expect("id"));
        receiver.assert_clean();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_receiver_gets_every_event_once_it_recovers() {
    for backend in backends() {
        let db = TestDatabase::create(backend).await;
        let token = workspace(&db);
        let server = serve_hooks(&db, 1);
        let api = Api::new(&server, &token);
        let receiver = Receiver::default();
        let base = receiver.start().await;
        let before = api.feed().await;
        let endpoint = api.endpoint(&receiver, &base, "flaky", &[]).await;

        receiver.set_mode(ANSWER_500);
        let id = api.buy("+14155550102").await;
        for i in 0..4 {
            api.ok(
                "PATCH",
                &format!("/organization-phone-numbers/{id}"),
                Some(json!({"nickname": format!("take {i}")})),
            )
            .await;
        }
        wait_for("a few refused attempts", Duration::from_secs(20), || {
            receiver.requests() >= 3
        })
        .await;
        receiver.set_mode(ANSWER_HANG);
        let so_far = receiver.requests();
        wait_for("attempts that time out", Duration::from_secs(20), || {
            receiver.requests() >= so_far + 2
        })
        .await;
        receiver.set_mode(ANSWER_OK);

        let events = new_events(&api.feed().await, &before);
        assert_eq!(events.len(), 5, "{events:?}");
        let expected: HashSet<String> = events.iter().map(|(id, ..)| id.clone()).collect();
        wait_for(
            "every event after recovery",
            Duration::from_secs(60),
            || receiver.ids("flaky") == expected,
        )
        .await;
        receiver.assert_clean();
        let accepted = receiver.accepted("flaky");
        assert_repeats_are_identical(&accepted);
        let arrived: Vec<&str> = {
            let mut seen = HashSet::new();
            accepted
                .iter()
                .filter(|r| seen.insert(r.id.clone()))
                .map(|r| r.id.as_str())
                .collect()
        };
        let in_feed_order: Vec<&str> = events.iter().map(|(id, ..)| id.as_str()).collect();
        assert_eq!(
            arrived, in_feed_order,
            "{backend:?}: one number's events in order"
        );

        // Every attempt is on record: the 500s, the timeouts, the success.
        let deliveries = api
            .ok(
                "GET",
                &format!("/webhook-endpoints/{endpoint}/deliveries?limit=100"),
                None,
            )
            .await;
        let attempts: Vec<&Value> = deliveries["items"]
            .as_array()
            .expect("items")
            .iter()
            .flat_map(|d| d["attempts"].as_array().expect("attempts"))
            .collect();
        assert!(
            attempts.iter().any(|a| a["status_code"] == json!(500)),
            "{deliveries}"
        );
        assert!(
            attempts.iter().any(|a| a["error"]
                .as_str()
                .is_some_and(|e| e.contains("no answer within"))),
            "{deliveries}"
        );
        let metrics = reqwest::get(format!("{}/metrics", server.base))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        assert!(
            metrics.contains("webhook_deliveries_total{outcome=\"retrying\"}"),
            "{metrics}"
        );
        assert!(
            metrics.contains("webhook_deliveries_total{outcome=\"delivered\"}"),
            "{metrics}"
        );
        assert!(metrics.contains("webhook_queue_depth"), "{metrics}");
        assert!(
            metrics.contains("webhook_oldest_pending_age_seconds"),
            "{metrics}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_endpoint_failing_for_five_days_is_disabled_and_replays_what_it_missed() {
    for backend in backends() {
        let db = TestDatabase::create(backend).await;
        let token = workspace(&db);
        let server = serve_hooks(&db, 1);
        let api = Api::new(&server, &token);
        let receiver = Receiver::default();
        let base = receiver.start().await;
        let endpoint = api.endpoint(&receiver, &base, "down", &[]).await;
        // Its failure streak began five days and a minute ago.
        let five_days_ago = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as i64
            - (5 * 24 * 60 + 1) * 60 * 1000;
        db.execute(&format!(
            "UPDATE webhook_endpoints SET failing_since = {five_days_ago} WHERE id = '{endpoint}'"
        ))
        .await;
        receiver.set_mode(ANSWER_500);
        let before = api.feed().await;
        let id = api.buy("+14155550103").await;
        let path = format!("/webhook-endpoints/{endpoint}");
        let mut disabled = Value::Null;
        let deadline = Instant::now() + Duration::from_secs(20);
        while disabled["enabled"] != json!(false) {
            assert!(Instant::now() < deadline, "not disabled: {disabled}");
            tokio::time::sleep(Duration::from_millis(100)).await;
            disabled = api.ok("GET", &path, None).await;
        }
        assert_eq!(disabled["disabled_reason"], json!("failing"), "{disabled}");

        // While it is disabled, nothing is queued for it.
        for nickname in ["while down 1", "while down 2"] {
            api.ok(
                "PATCH",
                &format!("/organization-phone-numbers/{id}"),
                Some(json!({"nickname": nickname})),
            )
            .await;
        }
        let deliveries = api.ok("GET", &format!("{path}/deliveries"), None).await;
        assert_eq!(deliveries["total"], json!(1), "{deliveries}");

        // A disabled endpoint's backlog may not grow: replaying to it is refused.
        let refused = api.call("POST", &format!("{path}/replay"), None).await;
        assert_eq!(refused.0, 409, "{refused:?}");
        receiver.set_mode(ANSWER_OK);
        let enabled = api.ok("PATCH", &path, Some(json!({"enabled": true}))).await;
        assert_eq!(enabled["enabled"], json!(true));
        assert_eq!(enabled["disabled_reason"], json!(null));
        let replay = api.call("POST", &format!("{path}/replay"), None).await;
        assert_eq!(replay, (202, json!({"queued": 2, "complete": true})));
        // A second replay finds nothing new; an earlier `since` reaches back before the
        // endpoint existed (the workspace's first key).
        let again = api
            .call("POST", &format!("{path}/replay"), Some(json!({})))
            .await;
        assert_eq!(again, (202, json!({"queued": 0, "complete": true})));
        let history = api
            .call(
                "POST",
                &format!("{path}/replay"),
                Some(json!({"since": "2000-01-01T00:00:00Z"})),
            )
            .await;
        assert_eq!(history, (202, json!({"queued": 1, "complete": true})));
        let bad = api
            .call(
                "POST",
                &format!("{path}/replay"),
                Some(json!({"since": "yesterday"})),
            )
            .await;
        assert_eq!(bad.0, 400, "{bad:?}");

        let events = api.feed().await;
        assert_eq!(events.len(), before.len() + 3);
        let expected: HashSet<String> = events.iter().map(|(id, ..)| id.clone()).collect();
        wait_for("the missed events", Duration::from_secs(30), || {
            receiver.ids("down") == expected
        })
        .await;
        let arrived: Vec<String> = receiver
            .accepted("down")
            .into_iter()
            .map(|r| r.id)
            .collect();
        let in_feed_order: Vec<String> = events.into_iter().map(|(id, ..)| id).collect();
        assert_eq!(arrived, in_feed_order);
        receiver.assert_clean();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kill_9_mid_burst_loses_no_committed_event_and_invents_none() {
    for backend in backends() {
        let db = TestDatabase::create(backend).await;
        let token = workspace(&db);
        let receiver = Receiver::default();
        let base = receiver.start().await;
        let mut server = serve_hooks(&db, 2);
        let api = Api::new(&server, &token);
        let before = api.feed().await;
        api.endpoint(&receiver, &base, "crash", &[]).await;
        receiver.set_mode(ANSWER_SLOW);
        let mut ids = Vec::new();
        for i in 0..4 {
            ids.push(api.buy(&format!("+1415555{:04}", 110 + i)).await);
        }
        // A burst of changes from several clients; the kill lands in the middle of it and of
        // the deliveries in flight.
        let mut burst = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            let api = api.clone();
            let id = id.clone();
            burst.push(tokio::spawn(async move {
                for round in 0..30 {
                    let answer = api
                        .client
                        .patch(format!("{}/v1/organization-phone-numbers/{id}", api.base))
                        .bearer_auth(&api.token)
                        .json(&json!({"nickname": format!("client {i} round {round}")}))
                        .send()
                        .await;
                    if answer.is_err() {
                        break;
                    }
                }
            }));
        }
        wait_for("deliveries in flight", Duration::from_secs(20), || {
            receiver.requests() >= 8 && receiver.in_flight() > 0
        })
        .await;
        server.child.kill().expect("kill -9");
        server.child.wait().expect("reaped");
        for task in burst {
            task.await.expect("client");
        }
        let delivered_before_restart = receiver.ids("crash").len();

        let restarted = serve_hooks(&db, 2);
        let api = Api::new(&restarted, &token);
        let events = new_events(&api.feed().await, &before);
        let expected: HashSet<String> = events.iter().map(|(id, ..)| id.clone()).collect();
        assert!(
            expected.len() > delivered_before_restart,
            "the kill came too late to test anything"
        );
        // Leases of the killed process expire after the attempt timeout and 10 s.
        wait_for(
            "every committed change's event",
            Duration::from_secs(60),
            || receiver.ids("crash").is_superset(&expected),
        )
        .await;
        let received = receiver.ids("crash");
        let invented: Vec<&String> = received.difference(&expected).collect();
        assert!(
            invented.is_empty(),
            "{backend:?}: events of no committed change: {invented:?}"
        );
        let accepted = receiver.accepted("crash");
        assert_repeats_are_identical(&accepted);
        assert_in_order_per_subject(&accepted, &events, backend);
        receiver.assert_clean();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_share_one_outbox() {
    for backend in backends() {
        let db = TestDatabase::create(backend).await;
        let token = workspace(&db);
        let receiver = Receiver::default();
        let base = receiver.start().await;
        let replicas = [serve_hooks(&db, 1), serve_hooks(&db, 1)];
        let apis = [
            Api::new(&replicas[0], &token),
            Api::new(&replicas[1], &token),
        ];
        let before = apis[0].feed().await;
        apis[0].endpoint(&receiver, &base, "shared", &[]).await;
        receiver.set_mode(ANSWER_SLOW);
        let mut tasks = Vec::new();
        for i in 0..6usize {
            let api = apis[i % 2].clone();
            let other = apis[(i + 1) % 2].clone();
            tasks.push(tokio::spawn(async move {
                let id = api.buy(&format!("+1415555{:04}", 100 + i)).await;
                for round in 0..6 {
                    let through = if round % 2 == 0 { &api } else { &other };
                    through
                        .ok(
                            "PATCH",
                            &format!("/organization-phone-numbers/{id}"),
                            Some(json!({"nickname": format!("round {round}")})),
                        )
                        .await;
                }
            }));
        }
        for task in tasks {
            task.await.expect("client");
        }
        let events = new_events(&apis[1].feed().await, &before);
        assert_eq!(events.len(), 6 * 7);
        let expected: HashSet<String> = events.iter().map(|(id, ..)| id.clone()).collect();
        wait_for(
            "every event from both replicas",
            Duration::from_secs(60),
            || receiver.ids("shared") == expected,
        )
        .await;
        receiver.assert_clean();
        let accepted = receiver.accepted("shared");
        assert_eq!(
            accepted.len(),
            expected.len(),
            "{backend:?}: an event was delivered twice"
        );
        assert_in_order_per_subject(&accepted, &events, backend);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn private_addresses_are_refused_when_saved_and_when_delivered() {
    for backend in backends() {
        let db = TestDatabase::create(backend).await;
        let token = workspace(&db);
        let receiver = Receiver::default();
        let base = receiver.start().await;
        let port = base.rsplit(':').next().expect("port").to_owned();

        // Without the development flag.
        let strict = serve_without_loopback(&db);
        let api = Api::new(&strict, &token);
        for url in [
            "https://10.0.0.5/hook",
            "https://192.168.1.10/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://[fd00:ec2::254]/",
            "https://127.0.0.1/hook",
            "https://localhost/hook",
            "http://example.com/hook",
            format!("http://localhost:{port}/local").as_str(),
            "ftp://example.com/",
        ] {
            let (status, body) = api
                .call("POST", "/webhook-endpoints", Some(json!({"url": url})))
                .await;
            assert_eq!(status, 400, "{backend:?}: {url} was accepted: {body}");
        }
        let (_, listed) = api.call("GET", "/webhook-endpoints", None).await;
        assert_eq!(listed["total"], json!(0), "nothing was saved");
        strict.terminate();

        // With it, loopback is allowed and private addresses still are not.
        let local = serve_hooks(&db, 1);
        let api = Api::new(&local, &token);
        let (status, _) = api
            .call(
                "POST",
                "/webhook-endpoints",
                Some(json!({"url": "http://10.0.0.5/hook"})),
            )
            .await;
        assert_eq!(status, 400);
        let endpoint = api
            .ok(
                "POST",
                "/webhook-endpoints",
                Some(json!({"url": format!("http://localhost:{port}/local")})),
            )
            .await;
        receiver.trust("local", endpoint["secret"].as_str().expect("secret"));
        let endpoint = endpoint["id"].as_str().expect("id").to_owned();
        local.terminate();

        // A server without the flag does not deliver to it: the name resolves to loopback
        // at delivery time.
        let strict = serve_without_loopback(&db);
        let api = Api::new(&strict, &token);
        api.buy("+14155550104").await;
        let path = format!("/webhook-endpoints/{endpoint}/deliveries");
        let mut deliveries = Value::Null;
        let deadline = Instant::now() + Duration::from_secs(20);
        while deliveries["items"][0]["attempts"][0].is_null() {
            assert!(Instant::now() < deadline, "no attempt: {deliveries}");
            tokio::time::sleep(Duration::from_millis(100)).await;
            deliveries = api.ok("GET", &path, None).await;
        }
        let error = deliveries["items"][0]["attempts"][0]["error"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(error.contains("loopback"), "{deliveries}");
        assert_eq!(receiver.requests(), 0, "the receiver was reached");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_finishes_the_delivery_in_flight() {
    for backend in backends() {
        let db = TestDatabase::create(backend).await;
        let token = workspace(&db);
        let receiver = Receiver::default();
        let base = receiver.start().await;
        let server = serve_hooks(&db, 5);
        let api = Api::new(&server, &token);
        let endpoint = api.endpoint(&receiver, &base, "slow", &[]).await;
        receiver.set_mode(ANSWER_VERY_SLOW);
        api.buy("+14155550105").await;
        wait_for("the delivery in flight", Duration::from_secs(20), || {
            receiver.in_flight() > 0
        })
        .await;
        let status = server.terminate();
        assert!(status.success(), "{status:?}");
        assert_eq!(
            receiver.ids("slow").len(),
            1,
            "the attempt in flight finished"
        );

        // Recorded as delivered: a new server does not send it again.
        let restarted = serve_hooks(&db, 1);
        let api = Api::new(&restarted, &token);
        let deliveries = api
            .ok(
                "GET",
                &format!("/webhook-endpoints/{endpoint}/deliveries"),
                None,
            )
            .await;
        assert_eq!(
            deliveries["items"][0]["state"],
            json!("delivered"),
            "{deliveries}"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(receiver.requests(), 1);
        receiver.assert_clean();
        restarted.terminate();

        // Deliveries that ended more than 30 days ago are deleted when a server starts (and
        // every minute after).
        let month = 31 * 24 * 60 * 60 * 1000_i64;
        db.execute(&format!(
            "UPDATE webhook_deliveries SET updated_at = updated_at - {month}"
        ))
        .await;
        let pruning = serve_hooks(&db, 1);
        let api = Api::new(&pruning, &token);
        let path = format!("/webhook-endpoints/{endpoint}/deliveries");
        let deadline = Instant::now() + Duration::from_secs(10);
        while api.ok("GET", &path, None).await["total"] != json!(0) {
            assert!(Instant::now() < deadline, "old deliveries were kept");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_are_managed_with_their_own_scope() {
    for backend in backends() {
        let db = TestDatabase::create(backend).await;
        let token = workspace(&db);
        let server = serve_hooks(&db, 1);
        let api = Api::new(&server, &token);
        let created = api
            .ok(
                "POST",
                "/webhook-endpoints",
                Some(json!({"url": "https://127.0.0.1:9/hook", "description": "sync", "event_types": ["phone_number.updated", "phone_number.updated"]})),
            )
            .await;
        assert!(
            created["secret"]
                .as_str()
                .is_some_and(|s| s.starts_with("whsec_"))
        );
        assert_eq!(created["event_types"], json!(["phone_number.updated"]));
        let id = created["id"].as_str().expect("id").to_owned();
        let path = format!("/webhook-endpoints/{id}");
        let fetched = api.ok("GET", &path, None).await;
        assert!(
            fetched.get("secret").is_none(),
            "the secret is shown once: {fetched}"
        );
        let updated = api
            .ok(
                "PATCH",
                &path,
                Some(json!({"enabled": false, "description": null, "event_types": []})),
            )
            .await;
        assert_eq!(updated["enabled"], json!(false));
        assert_eq!(updated["disabled_reason"], json!("manual"));
        assert_eq!(updated["description"], json!(null));
        assert_eq!(updated["event_types"], json!([]));
        let (status, body) = api
            .call(
                "PATCH",
                &path,
                Some(json!({"url": 5, "colour": "red", "event_types": ["nope"]})),
            )
            .await;
        assert_eq!(status, 400);
        assert_eq!(body["message"].as_array().map(Vec::len), Some(3), "{body}");
        let (status, body) = api.call("PATCH", &path, Some(json!({"url": null}))).await;
        assert_eq!(
            (status, &body["message"]),
            (400, &json!("url must be a string"))
        );

        // A key without webhooks:manage is refused; another workspace sees nothing.
        let reader = api
            .ok(
                "POST",
                "/api-keys",
                Some(json!({"name": "reader", "scopes": ["phone_numbers:read"]})),
            )
            .await;
        let reader = Api::new(&server, reader["api_key"].as_str().expect("key"));
        assert_eq!(reader.call("GET", "/webhook-endpoints", None).await.0, 403);
        assert_eq!(reader.call("GET", &path, None).await.0, 403);
        let stranger = Api::new(&server, &workspace(&db));
        assert_eq!(stranger.call("GET", &path, None).await.0, 404);
        assert_eq!(
            stranger.call("POST", &format!("{path}/test"), None).await.0,
            404
        );
        assert_eq!(stranger.call("DELETE", &path, None).await.0, 404);

        assert_eq!(api.call("DELETE", &path, None).await.0, 200);
        assert_eq!(api.call("GET", &path, None).await.0, 404);
        assert_eq!(
            api.call("GET", &format!("{path}/deliveries"), None).await.0,
            404
        );
        assert_eq!(
            api.call(
                "POST",
                &format!("{path}/deliveries/whd_000000000000/retry"),
                None
            )
            .await
            .0,
            404
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_receives_only_what_its_key_may_read() {
    for backend in backends() {
        let db = TestDatabase::create(backend).await;
        let server = serve_hooks(&db, 1);
        let admin = Api::new(&server, &workspace(&db));
        let key = |scopes: &[&str]| {
            let (admin, server) = (&admin, &server);
            let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
            async move {
                let created = admin
                    .ok(
                        "POST",
                        "/api-keys",
                        Some(json!({"name": "limited", "scopes": scopes})),
                    )
                    .await;
                Api::new(server, created["api_key"].as_str().expect("key"))
            }
        };
        let hooks_only = key(&["webhooks:manage"]).await;
        let numbers_and_hooks = key(&["webhooks:manage", "phone_numbers:read"]).await;
        let url = "https://127.0.0.1:9/hook";

        // Types the key may not read are refused by name, "every type" too.
        for (api, types, named) in [
            (&hooks_only, json!(["api_key.created"]), "api_keys:manage"),
            (
                &hooks_only,
                json!(["phone_number.updated"]),
                "phone_numbers:read",
            ),
            (&numbers_and_hooks, json!(["agent.created"]), "agents:read"),
        ] {
            let (status, body) = api
                .call(
                    "POST",
                    "/webhook-endpoints",
                    Some(json!({"url": url, "event_types": types})),
                )
                .await;
            assert_eq!(status, 403, "{types}: {body}");
            assert!(
                body["message"].as_str().is_some_and(|m| m.contains(named)),
                "{body}"
            );
        }
        // "Every type" is what the key may read: for a key that only manages webhooks, the
        // endpoint events.
        let own = hooks_only
            .ok("POST", "/webhook-endpoints", Some(json!({"url": url})))
            .await;
        assert!(
            own["event_types"].as_array().is_some_and(|t| !t.is_empty()
                && t.iter().all(|t| t
                    .as_str()
                    .is_some_and(|t| t.starts_with("webhook_endpoint.")))),
            "{own}"
        );
        // For a key that also reads numbers, the number events too, and no key event ever
        // reaches the endpoint.
        let limited = numbers_and_hooks
            .ok("POST", "/webhook-endpoints", Some(json!({"url": url})))
            .await;
        let types: Vec<&str> = limited["event_types"]
            .as_array()
            .expect("types")
            .iter()
            .filter_map(|t| t.as_str())
            .collect();
        assert!(
            types.iter().any(|t| t.starts_with("phone_number."))
                && types
                    .iter()
                    .all(|t| t.starts_with("phone_number.") || t.starts_with("webhook_endpoint.")),
            "{types:?}"
        );
        admin
            .ok("POST", "/api-keys", Some(json!({"name": "another"})))
            .await;
        admin
            .ok("POST", "/agents", Some(json!({"name": "Ana"})))
            .await;
        let deliveries = admin
            .ok(
                "GET",
                &format!(
                    "/webhook-endpoints/{}/deliveries",
                    limited["id"].as_str().expect("id")
                ),
                None,
            )
            .await;
        assert_eq!(deliveries["total"], json!(0), "{deliveries}");

        // An endpoint that takes every type can be changed or replayed only by a key that
        // may read every type.
        let everything = admin
            .ok("POST", "/webhook-endpoints", Some(json!({"url": url})))
            .await;
        assert_eq!(everything["event_types"], json!([]));
        let path = format!(
            "/webhook-endpoints/{}",
            everything["id"].as_str().expect("id")
        );
        let (status, _) = numbers_and_hooks
            .call("PATCH", &path, Some(json!({"description": "mine now"})))
            .await;
        assert_eq!(status, 403);
        let (status, _) = numbers_and_hooks
            .call(
                "POST",
                &format!("{path}/replay"),
                Some(json!({"since": "1970-01-01T00:00:00Z"})),
            )
            .await;
        assert_eq!(status, 403);
        // It may narrow it to what it reads, and then answers for it.
        let narrowed = numbers_and_hooks
            .ok(
                "PATCH",
                &path,
                Some(json!({"event_types": ["phone_number.updated"]})),
            )
            .await;
        assert_eq!(narrowed["event_types"], json!(["phone_number.updated"]));

        // At most 20 endpoints in a workspace (three exist).
        for _ in 3..20 {
            admin
                .ok("POST", "/webhook-endpoints", Some(json!({"url": url})))
                .await;
        }
        let (status, body) = admin
            .call("POST", "/webhook-endpoints", Some(json!({"url": url})))
            .await;
        assert_eq!(status, 409, "{body}");
        assert!(
            body["message"].as_str().is_some_and(|m| m.contains("20")),
            "{body}"
        );
    }
}

/// A host that accepts connections and never answers: every attempt to it takes the whole
/// attempt timeout.
async fn tarpit() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{address}")
}

/// One workspace whose endpoints all hang cannot hold up another workspace's deliveries: it
/// gets a share of the worker, not the whole of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tarpit_workspace_does_not_delay_another_workspaces_webhooks() {
    for backend in backends() {
        let db = TestDatabase::create(backend).await;
        let server = serve_hooks(&db, 15);
        let slow = Api::new(&server, &workspace(&db));
        let hang = tarpit().await;
        for n in 0..20 {
            slow.ok(
                "POST",
                "/webhook-endpoints",
                Some(json!({"url": format!("{hang}/hook{n}")})),
            )
            .await;
        }
        // 60 deliveries that each hang for 15 s: without a fair share they would take every
        // slot of the worker (32) for 15 s and more.
        for n in 0..3 {
            slow.ok(
                "POST",
                "/agents",
                Some(json!({"name": format!("slow {n}")})),
            )
            .await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;

        let receiver = Receiver::default();
        let base = receiver.start().await;
        let fast = Api::new(&server, &workspace(&db));
        fast.endpoint(&receiver, &base, "fast", &[]).await;
        let started = Instant::now();
        fast.ok("POST", "/agents", Some(json!({"name": "fast"})))
            .await;
        wait_for(
            "the other workspace's delivery",
            Duration::from_secs(5),
            || !receiver.accepted("fast").is_empty(),
        )
        .await;
        let waited = started.elapsed();
        assert!(
            waited < Duration::from_secs(5),
            "{backend:?}: delivered after {waited:?}"
        );
        receiver.assert_clean();
    }
}

/// While the server drains a webhook backlog on SQLite, another process (the command line, a
/// second replica) still gets the write lock in good time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_command_line_writes_while_a_backlog_drains() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let (workspace_id, token) = workspace_and_key(&db);
    let server = serve_hooks(&db, 5);
    let api = Api::new(&server, &token);
    let receiver = Receiver::default();
    let base = receiver.start().await;
    api.endpoint(&receiver, &base, "backlog", &[]).await;
    // 4,000 numbers imported by another process: 4,000 deliveries queued at once.
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("numbers.csv");
    let mut csv = String::from("phone_number\n");
    for i in 0..4_000u64 {
        csv.push_str(&format!("+1415{:07}\n", 3_000_000 + i));
    }
    std::fs::write(&file, csv).expect("csv");
    let mut import = switchboard(&db);
    import
        .args(["numbers", "import", "--workspace", &workspace_id])
        .arg(&file);
    assert_eq!(json_output(import)["imported"], json!(4_000));

    // Writes from the command line while the worker drains: every one goes through.
    let mut slowest = Duration::ZERO;
    for n in 0..8 {
        let mut create = switchboard(&db);
        create.args([
            "workspace",
            "create",
            "--name",
            &format!("during drain {n}"),
        ]);
        let started = Instant::now();
        let output = tokio::task::spawn_blocking(move || create.output())
            .await
            .expect("join")
            .expect("run");
        slowest = slowest.max(started.elapsed());
        assert!(
            output.status.success(),
            "write {n} failed while the backlog drained: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let drained = receiver.ids("backlog").len();
    eprintln!(
        "slowest command-line write during the drain: {slowest:?}; {drained} delivered so far"
    );
    wait_for("the backlog", Duration::from_secs(60), || {
        receiver.ids("backlog").len() >= 4_000
    })
    .await;
    receiver.assert_clean();
}

/// Twilio's auth token for the call-event test's server.
const TWILIO_TOKEN: &str = "webhook-test-twilio-token";

/// Posts a Twilio request to `server`, signed as Twilio signs it; the answer's TwiML.
async fn twilio(server: &ServerProcess, path: &str, params: &[(&str, &str)]) -> String {
    common::twilio_request(&server.base, TWILIO_TOKEN, path, params).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn call_events_reach_only_the_endpoints_that_name_them() {
    for backend in backends() {
        let db = TestDatabase::create(backend).await;
        let mut command = switchboard(&db);
        command.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--rate-limit-per-minute",
            "0",
            "--webhooks-allow-loopback",
            "--webhook-timeout-secs",
            "2",
            "--twilio-auth-token",
            TWILIO_TOKEN,
        ]);
        let server = ServerProcess::start(command);
        let admin = Api::new(&server, &workspace(&db));
        let receiver = Receiver::default();
        let base = receiver.start().await;

        // A key that cannot read the call log may not subscribe to its events.
        let created = admin
            .ok(
                "POST",
                "/api-keys",
                Some(
                    json!({"name": "numbers", "scopes": ["webhooks:manage", "phone_numbers:read"]}),
                ),
            )
            .await;
        let numbers_only = Api::new(&server, created["api_key"].as_str().expect("key"));
        let (status, body) = numbers_only
            .call(
                "POST",
                "/webhook-endpoints",
                Some(json!({"url": format!("{base}/calls"), "event_types": ["call.started"]})),
            )
            .await;
        assert_eq!(status, 403, "{backend:?}: {body}");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains("calls:read")),
            "{body}"
        );

        admin
            .endpoint(
                &receiver,
                &base,
                "calls",
                &["call.started", "call.completed"],
            )
            .await;
        // An endpoint of every type is not sent calls: it did not ask for callers' numbers.
        let everything = admin
            .ok(
                "POST",
                "/webhook-endpoints",
                Some(json!({"url": format!("{base}/everything")})),
            )
            .await;
        receiver.trust("everything", everything["secret"].as_str().expect("secret"));

        let agent = admin
            .ok(
                "POST",
                "/agents",
                Some(json!({"name": "Front desk", "destination": "sip:frontdesk@agents.example.com"})),
            )
            .await;
        let number = admin.buy("+14155550103").await;
        admin
            .ok(
                "PATCH",
                &format!("/organization-phone-numbers/{number}"),
                Some(json!({"inbound_agent_id": agent["id"]})),
            )
            .await;

        let answer = twilio(
            &server,
            "/carriers/twilio/voice",
            &[
                ("CallSid", "CA-hooks"),
                ("AccountSid", "AC1"),
                ("From", "+14155550123"),
                ("To", "+14155550103"),
                ("CallStatus", "ringing"),
                ("Direction", "inbound"),
            ],
        )
        .await;
        assert!(
            answer.contains("sip:frontdesk@agents.example.com"),
            "{answer}"
        );
        twilio(
            &server,
            "/carriers/twilio/dial-result?attempt=0&timeout=20",
            &[
                ("CallSid", "CA-hooks"),
                ("AccountSid", "AC1"),
                ("DialCallStatus", "completed"),
            ],
        )
        .await;
        for _ in 0..2 {
            // The final status, sent twice: one `call.completed`.
            twilio(
                &server,
                "/carriers/twilio/status",
                &[
                    ("CallSid", "CA-hooks"),
                    ("AccountSid", "AC1"),
                    ("CallStatus", "completed"),
                    ("CallDuration", "42"),
                ],
            )
            .await;
        }

        wait_for("the call's two events", Duration::from_secs(20), || {
            receiver.accepted("calls").len() >= 2
        })
        .await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let got = receiver.accepted("calls");
        let types: Vec<&str> = got
            .iter()
            .map(|r| r.json["type"].as_str().expect("type"))
            .collect();
        assert_eq!(types, ["call.started", "call.completed"], "{backend:?}");
        let (started, completed) = (&got[0].json["data"], &got[1].json["data"]);
        assert_ne!(got[0].id, got[1].id, "each event has its own webhook-id");
        assert_eq!(started["id"], completed["id"]);
        assert_eq!(started["carrier_call_id"], "CA-hooks");
        assert_eq!(started["caller"], "+14155550123");
        assert_eq!(started["phone_number"], "+14155550103");
        assert_eq!(started["outcome"], Value::Null);
        assert_eq!(started["attempts"][0]["agent_id"], agent["id"]);
        assert_eq!(completed["outcome"], "completed");
        assert_eq!(completed["duration_secs"], 42);
        assert!(completed["answered_at"].is_string() && completed["ended_at"].is_string());
        // What the webhook said is what the call log says.
        let logged = admin
            .ok(
                "GET",
                &format!("/calls/{}", completed["id"].as_str().expect("id")),
                None,
            )
            .await;
        assert_eq!(&logged, completed);

        let deliveries = admin
            .ok(
                "GET",
                &format!(
                    "/webhook-endpoints/{}/deliveries?limit=100",
                    everything["id"].as_str().expect("id")
                ),
                None,
            )
            .await;
        let types: Vec<&str> = deliveries["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|d| d["event_type"].as_str())
            .collect();
        assert!(
            types.contains(&"phone_number.updated")
                && !types.iter().any(|t| t.starts_with("call.")),
            "{types:?}"
        );
        // The change feed stays configuration.
        let feed = admin
            .ok("GET", "/events?after=start&limit=1000", None)
            .await;
        assert!(
            feed["items"]
                .as_array()
                .expect("items")
                .iter()
                .all(|e| !e["type"].as_str().is_some_and(|t| t.starts_with("call."))),
            "{feed}"
        );
        // A call with nowhere to go is over as it starts: both events at once, in order.
        admin.buy("+14155550104").await;
        let apology = twilio(
            &server,
            "/carriers/twilio/voice",
            &[
                ("CallSid", "CA-nowhere"),
                ("AccountSid", "AC1"),
                ("From", "+14155550123"),
                ("To", "+14155550104"),
                ("CallStatus", "ringing"),
                ("Direction", "inbound"),
            ],
        )
        .await;
        assert!(apology.contains("<Say>"), "{apology}");
        wait_for(
            "the unroutable call's events",
            Duration::from_secs(20),
            || receiver.accepted("calls").len() >= 4,
        )
        .await;
        let got = receiver.accepted("calls");
        let last: Vec<(&str, &Value)> = got[2..]
            .iter()
            .map(|r| {
                (
                    r.json["type"].as_str().expect("type"),
                    &r.json["data"]["outcome"],
                )
            })
            .collect();
        assert_eq!(
            last,
            [
                ("call.started", &json!("unroutable")),
                ("call.completed", &json!("unroutable"))
            ],
            "{backend:?}"
        );
        receiver.assert_clean();
    }
}
