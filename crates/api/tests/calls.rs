//! Calls reach agents: a Twilio simulator plays whole calls against the real router on both
//! backends — signed voice webhooks, dial results down the fallback chain, status callbacks
//! in any order and twice — and the call log says what happened.
//!
//! The simulator signs as Twilio does (`switchboard_providers::twilio::twilio_signature`,
//! checked against Twilio's documented example here and against Twilio's own library in
//! `.ci/run`).

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{Reply, TestApp};
use serde_json::{Value, json};
use switchboard_api::ApiSettings;
use switchboard_api::CallSettings;
use switchboard_domain::{Scope, Scopes, Timestamp};
use switchboard_providers::twilio::twilio_signature;

const TOKEN: &str = "twilio-auth-token-for-tests";
const PUBLIC: &str = "https://sb.example.com";
const APOLOGY: &str = "Sorry, this number cannot take your call right now. Please try again later.";

fn settings() -> ApiSettings {
    ApiSettings {
        calls: CallSettings {
            public_url: Some(PUBLIC.into()),
            twilio_auth_token: Some(TOKEN.into()),
            ..CallSettings::default()
        },
        ..ApiSettings::default()
    }
}

/// Plays Twilio's side of calls against one replica.
struct Twilio<'a> {
    app: &'a TestApp,
}

enum Signing {
    Right,
    None,
    WrongToken,
}

impl Twilio<'_> {
    async fn post(&self, path: &str, params: &[(&str, &str)], signing: Signing) -> Reply {
        let pairs: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&pairs)
            .finish();
        let mut request =
            Request::post(path).header("content-type", "application/x-www-form-urlencoded");
        let url = format!("{PUBLIC}{path}");
        match signing {
            Signing::Right => {
                request =
                    request.header("x-twilio-signature", twilio_signature(TOKEN, &url, &pairs))
            }
            Signing::WrongToken => {
                request = request.header(
                    "x-twilio-signature",
                    twilio_signature("not-the-token", &url, &pairs),
                )
            }
            Signing::None => {}
        }
        self.app
            .send(request.body(Body::from(body)).expect("request"))
            .await
    }

    /// The number rings: Twilio asks where the call goes.
    async fn ring(&self, call_sid: &str, to: &str) -> String {
        let reply = self
            .post(
                "/carriers/twilio/voice",
                &[
                    ("CallSid", call_sid),
                    ("AccountSid", "AC123"),
                    ("From", "+14155550123"),
                    ("To", to),
                    ("CallStatus", "ringing"),
                    ("Direction", "inbound"),
                ],
                Signing::Right,
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        assert_eq!(reply.headers["content-type"], "text/xml; charset=utf-8");
        String::from_utf8(reply.body).expect("TwiML")
    }

    /// The `<Dial>` of attempt `attempt` ended with `status` (None: a `<Connect>` ended).
    async fn dial_result(&self, call_sid: &str, attempt: u32, status: Option<&str>) -> String {
        let mut params = vec![("CallSid", call_sid), ("AccountSid", "AC123")];
        if let Some(status) = status {
            params.push(("DialCallStatus", status));
        }
        let reply = self
            .post(
                &format!("/carriers/twilio/dial-result?attempt={attempt}&timeout=20"),
                &params,
                Signing::Right,
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        String::from_utf8(reply.body).expect("TwiML")
    }

    async fn status(&self, call_sid: &str, status: &str, duration: &str) {
        let reply = self
            .post(
                "/carriers/twilio/status",
                &[
                    ("CallSid", call_sid),
                    ("AccountSid", "AC123"),
                    ("CallStatus", status),
                    ("CallDuration", duration),
                ],
                Signing::Right,
            )
            .await;
        assert_eq!(reply.status, StatusCode::NO_CONTENT);
    }
}

fn dial(kind: &str, target: &str, attempt: u32) -> String {
    let action = format!("{PUBLIC}/carriers/twilio/dial-result?attempt={attempt}&amp;timeout=20");
    let inner = match kind {
        "Stream" => {
            return format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Connect action=\"{action}\" method=\"POST\"><Stream url=\"{target}\"/></Connect></Response>"
            );
        }
        kind => format!("<{kind}>{target}</{kind}>"),
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Dial action=\"{action}\" method=\"POST\" timeout=\"20\">{inner}</Dial></Response>"
    )
}

fn apology() -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say>{}</Say><Hangup/></Response>",
        APOLOGY.replace('\'', "&apos;")
    )
}

const HANG_UP: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Hangup/></Response>";

async fn calls(app: &TestApp, token: &str, query: &str) -> Value {
    let reply = app
        .call("GET", &format!("/v1/calls{query}"), Some(token), None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.json());
    reply.json()
}

#[tokio::test]
async fn a_call_walks_down_the_fallback_chain_and_the_log_keeps_every_step() {
    for backend in common::backends() {
        let app = TestApp::with_settings(backend, settings()).await;
        let ws = app.workspace("Acme").await;
        let token = ws.token.as_str();
        let sip = app
            .agent_at(&ws.id, "SIP bot", Some("sip:bot@agents.example.com"))
            .await;
        let person = app
            .agent_at(&ws.id, "Person", Some("tel:+14155550177"))
            .await;
        let stream = app
            .agent_at(&ws.id, "Stream bot", Some("wss://bot.example.com/stream"))
            .await;
        let number = app.number(&ws.id, "+14155550100", None, None).await;
        let policy = json!({"time_zone": "UTC", "rules": [{"name": "always",
            "targets": [{"agent_id": sip.to_string()}],
            "fallback": [{"agent_id": person.to_string()}, {"agent_id": stream.to_string()}]}]});
        let set = app
            .call(
                "PATCH",
                &format!("/v1/organization-phone-numbers/{number}"),
                Some(token),
                Some(json!({"routing": policy})),
            )
            .await;
        assert_eq!(set.status, StatusCode::OK);
        let twilio = Twilio { app: &app };

        assert_eq!(
            twilio.ring("CA-fallback", "+14155550100").await,
            dial("Sip", "sip:bot@agents.example.com", 0)
        );
        // Twilio asks again about the same call (a retry): the same answer, nothing doubled.
        assert_eq!(
            twilio.ring("CA-fallback", "+14155550100").await,
            dial("Sip", "sip:bot@agents.example.com", 0)
        );
        assert_eq!(
            twilio
                .dial_result("CA-fallback", 0, Some("no-answer"))
                .await,
            dial("Number", "+14155550177", 1)
        );
        // The same report twice: the same next step, no new attempt.
        assert_eq!(
            twilio
                .dial_result("CA-fallback", 0, Some("no-answer"))
                .await,
            dial("Number", "+14155550177", 1)
        );
        assert_eq!(
            twilio.dial_result("CA-fallback", 1, Some("busy")).await,
            dial("Stream", "wss://bot.example.com/stream", 2)
        );
        // The stream took the call; when it ends, so does the call.
        assert_eq!(twilio.dial_result("CA-fallback", 2, None).await, HANG_UP);
        twilio.status("CA-fallback", "completed", "42").await;
        twilio.status("CA-fallback", "completed", "42").await;

        let log = calls(&app, token, "").await;
        assert_eq!(log["total"], 1, "{backend:?}");
        let call = &log["items"][0];
        assert_eq!(call["outcome"], "completed");
        assert_eq!(call["carrier"], "twilio");
        assert_eq!(call["carrier_call_id"], "CA-fallback");
        assert_eq!(call["caller"], "+14155550123");
        assert_eq!(call["phone_number"], "+14155550100");
        assert_eq!(call["duration_secs"], 42);
        assert_eq!(call["rule"], json!({"index": 0, "name": "always"}));
        assert_eq!(call["reason"], "rule 1 (always) always holds");
        assert!(call["answered_at"].is_string() && call["ended_at"].is_string());
        let steps: Vec<(Value, Value, Value)> = call["attempts"]
            .as_array()
            .expect("attempts")
            .iter()
            .map(|a| {
                (
                    a["agent_id"].clone(),
                    a["destination"].clone(),
                    a["outcome"].clone(),
                )
            })
            .collect();
        assert_eq!(
            steps,
            [
                (
                    json!(sip.to_string()),
                    json!("sip:bot@agents.example.com"),
                    json!("no_answer")
                ),
                (
                    json!(person.to_string()),
                    json!("tel:+14155550177"),
                    json!("busy")
                ),
                (
                    json!(stream.to_string()),
                    json!("wss://bot.example.com/stream"),
                    json!("completed")
                ),
            ]
        );
        // The summary counts the number's calls over a period beside what it costs: 42 s
        // answered over a 30-day period of a 1.15 USD number is 1.6429 USD a minute.
        let since = Timestamp::from_millis(Timestamp::now().as_millis() - 29 * 24 * 60 * 60 * 1000);
        let until = Timestamp::from_millis(since.as_millis() + 30 * 24 * 60 * 60 * 1000);
        let summary = app
            .call("GET", &format!("/v1/organization-phone-numbers/summary?group_by=country_code&since={since}&until={until}"), Some(token), None)
            .await
            .json();
        assert_eq!(
            summary["calls"],
            json!({"since": since.to_string(), "until": until.to_string(), "calls": 1, "answered_calls": 1,
                   "answered_minutes": 0.7, "cost_per_answered_minute_usd": "1.6429"}),
            "{summary}"
        );
        assert_eq!(summary["groups"][0]["calls"]["answered_calls"], 1);
        let later = app
            .call("GET", &format!("/v1/organization-phone-numbers/summary?since={until}&until=2099-01-01T00:00:00Z"), Some(token), None)
            .await
            .json();
        assert_eq!(later["calls"]["calls"], 0);
        assert_eq!(later["calls"]["cost_per_answered_minute_usd"], Value::Null);
        let backwards = app
            .call(
                "GET",
                &format!("/v1/organization-phone-numbers/summary?since={until}&until={since}"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(backwards.status, StatusCode::BAD_REQUEST);
        let id = call["id"].as_str().expect("id");
        let one = app
            .call("GET", &format!("/v1/calls/{id}"), Some(token), None)
            .await;
        assert_eq!(one.json(), *call);
        // Filters: by agent tried, by number, by outcome, by time.
        assert_eq!(
            calls(&app, token, &format!("?agent_id={person}")).await["total"],
            1
        );
        assert_eq!(
            calls(
                &app,
                token,
                &format!("?number_id={number}&outcome=completed")
            )
            .await["total"],
            1
        );
        assert_eq!(calls(&app, token, "?outcome=busy").await["total"], 0);
        assert_eq!(
            calls(&app, token, "?since=2099-01-01T00:00:00Z").await["total"],
            0
        );
        let bad = app
            .call(
                "GET",
                "/v1/calls?outcome=lost&since=yesterday",
                Some(token),
                None,
            )
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            bad.json()["message"],
            json!([
                "since must be an RFC 3339 time, e.g. 2026-11-30T09:00:00Z",
                "outcome must be one of: completed, no_answer, busy, failed, unroutable, rejected"
            ])
        );
        // Reading calls needs calls:read; another workspace sees none of them.
        let no_calls = app
            .key(
                &ws.id,
                Scopes::all()
                    .iter()
                    .filter(|s| *s != Scope::CallsRead)
                    .collect(),
            )
            .await;
        let refused = app.call("GET", "/v1/calls", Some(&no_calls), None).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        let other = app.workspace("Other").await;
        assert_eq!(calls(&app, &other.token, "").await["total"], 0);
        let hidden = app
            .call("GET", &format!("/v1/calls/{id}"), Some(&other.token), None)
            .await;
        assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    }
}

#[tokio::test]
async fn unsigned_tampered_and_unconfigured_requests_are_refused_and_nothing_is_recorded() {
    for backend in common::backends() {
        let app = TestApp::with_settings(backend, settings()).await;
        let ws = app.workspace("Acme").await;
        let agent = app
            .agent_at(&ws.id, "Bot", Some("sip:bot@agents.example.com"))
            .await;
        app.number(&ws.id, "+14155550100", None, Some(agent)).await;
        let twilio = Twilio { app: &app };
        let params = [
            ("CallSid", "CA-forged"),
            ("From", "+14155550123"),
            ("To", "+14155550100"),
        ];
        for signing in [Signing::None, Signing::WrongToken] {
            let reply = twilio
                .post("/carriers/twilio/voice", &params, signing)
                .await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN);
        }
        // Signed for one body, sent with another.
        let pairs: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        let signature = twilio_signature(TOKEN, &format!("{PUBLIC}/carriers/twilio/voice"), &pairs);
        let tampered = Request::post("/carriers/twilio/voice")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", signature)
            .body(Body::from(
                "CallSid=CA-forged&From=%2B14155550123&To=%2B14155550199",
            ))
            .expect("request");
        assert_eq!(app.send(tampered).await.status, StatusCode::FORBIDDEN);
        // Signed for another URL (a replayed dial result for another attempt).
        let replayed = twilio
            .post(
                "/carriers/twilio/dial-result?attempt=0&timeout=20",
                &[("CallSid", "CA-forged")],
                Signing::Right,
            )
            .await;
        assert_eq!(
            replayed.status,
            StatusCode::OK,
            "a signed report of an unknown call is a hang-up"
        );
        assert_eq!(String::from_utf8_lossy(&replayed.body), HANG_UP);
        assert_eq!(calls(&app, &ws.token, "").await["total"], 0);

        // A server without a Twilio token refuses every Twilio request.
        let bare = TestApp::new(backend).await;
        let reply = Twilio { app: &bare }
            .post("/carriers/twilio/voice", &params, Signing::Right)
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert_eq!(
            String::from_utf8_lossy(&reply.body),
            "Twilio is not configured on this server (--twilio-auth-token)"
        );
    }
}

#[tokio::test]
async fn calls_with_nowhere_to_go_hear_the_apology() {
    for backend in common::backends() {
        let app = TestApp::with_settings(backend, settings()).await;
        let ws = app.workspace("Acme").await;
        let token = ws.token.as_str();
        let silent = app.agent(&ws.id, "No destination").await;
        app.number(&ws.id, "+14155550101", None, None).await;
        app.number(&ws.id, "+14155550102", None, Some(silent.clone()))
            .await;
        let twilio = Twilio { app: &app };

        // A number no workspace holds: the apology, and nothing to record it against.
        assert_eq!(twilio.ring("CA-unknown", "+14155550199").await, apology());
        // No inbound agent, and an agent that cannot take calls: the apology, recorded.
        assert_eq!(twilio.ring("CA-unrouted", "+14155550101").await, apology());
        assert_eq!(twilio.ring("CA-silent", "+14155550102").await, apology());
        let log = calls(&app, token, "?outcome=unroutable").await;
        assert_eq!(log["total"], 2, "{backend:?}");
        assert_eq!(
            log["items"][0]["reason"],
            "no routing policy: the number's inbound agent takes the call; but no target can take it (no destination, or every one at its cap)"
        );
        assert_eq!(
            log["items"][1]["reason"],
            "no routing policy, and the number has no inbound agent: the call cannot be routed"
        );
        assert_eq!(log["items"][0]["attempts"], json!([]));
        // A released number is unknown again.
        let released = app.number(&ws.id, "+14155550103", None, None).await;
        let gone = app
            .call(
                "DELETE",
                &format!("/v1/organization-phone-numbers/{released}"),
                Some(token),
                None,
            )
            .await;
        assert_eq!(gone.status, StatusCode::OK);
        assert_eq!(twilio.ring("CA-released", "+14155550103").await, apology());
        assert_eq!(calls(&app, token, "").await["total"], 2);

        // The compliance review names the numbers whose calls found no route this week, and
        // a paid number nobody called for 30 days.
        let quiet = app.number(&ws.id, "+14155550104", None, None).await;
        app.db
            .execute(&format!(
                "UPDATE phone_numbers SET created_at = created_at - {} WHERE id = '{quiet}'",
                31_i64 * 24 * 60 * 60 * 1000
            ))
            .await;
        let review = app
            .call(
                "GET",
                "/v1/organization-phone-numbers/compliance?code=unroutable_calls,no_recent_calls",
                Some(token),
                None,
            )
            .await
            .json();
        assert_eq!(
            review["counts"],
            json!({"no_recent_calls": 1, "unroutable_calls": 2}),
            "{review}"
        );
        let messages: Vec<&str> = review["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| f["message"].as_str().expect("message"))
            .collect();
        assert!(messages.contains(&"1 call to +14155550101 in the last 7 days found no working route: the callers heard the apology; check the number's route (GET …/route)."), "{messages:?}");
        assert!(
            messages.contains(
                &"+14155550104 has had no call in 30 days; releasing it saves 1.15 USD a month."
            ),
            "{messages:?}"
        );
    }
}

#[tokio::test]
async fn weights_split_calls_and_the_cap_sends_the_overflow_on() {
    for backend in common::backends() {
        let app = TestApp::with_settings(backend, settings()).await;
        let ws = app.workspace("Acme").await;
        let token = ws.token.as_str();
        let a = app
            .agent_at(&ws.id, "A", Some("sip:a@agents.example.com"))
            .await;
        let b = app
            .agent_at(&ws.id, "B", Some("sip:b@agents.example.com"))
            .await;
        let split = app.number(&ws.id, "+14155550100", None, None).await;
        let policy = json!({"time_zone": "UTC", "rules": [{"targets": [
            {"agent_id": a.to_string(), "weight": 80}, {"agent_id": b.to_string(), "weight": 20}]}]});
        app.call(
            "PATCH",
            &format!("/v1/organization-phone-numbers/{split}"),
            Some(token),
            Some(json!({"routing": policy})),
        )
        .await;
        let twilio = Twilio { app: &app };
        let to_a = dial("Sip", "sip:a@agents.example.com", 0);
        let to_b = dial("Sip", "sip:b@agents.example.com", 0);
        let mut first_to_a = 0;
        const CALLS: usize = 1000;
        for i in 0..CALLS {
            let answer = twilio.ring(&format!("CA-split-{i}"), "+14155550100").await;
            if answer == to_a {
                first_to_a += 1;
            } else {
                assert_eq!(answer, to_b);
            }
        }
        // 80 % of 1000 with a standard deviation of about 12.6: five of them either side.
        assert!(
            (737..=863).contains(&first_to_a),
            "{first_to_a} of {CALLS} calls went to A first"
        );

        // A cap of one call per target: while A holds a call, the next goes to B.
        let capped = app.number(&ws.id, "+14155550200", None, None).await;
        let policy = json!({"time_zone": "UTC", "max_concurrent_calls": 1,
            "rules": [{"targets": [{"agent_id": a.to_string()}], "fallback": [{"agent_id": b.to_string()}]}]});
        app.call(
            "PATCH",
            &format!("/v1/organization-phone-numbers/{capped}"),
            Some(token),
            Some(json!({"routing": policy})),
        )
        .await;
        assert_eq!(twilio.ring("CA-cap-1", "+14155550200").await, to_a);
        assert_eq!(twilio.ring("CA-cap-2", "+14155550200").await, to_b);
        // Both held: nowhere to go.
        assert_eq!(twilio.ring("CA-cap-3", "+14155550200").await, apology());
        // The first call connects, then ends (its status arriving before its dial result):
        // A is free again.
        twilio.status("CA-cap-1", "completed", "30").await;
        assert_eq!(
            twilio.dial_result("CA-cap-1", 0, Some("completed")).await,
            HANG_UP
        );
        assert_eq!(twilio.ring("CA-cap-4", "+14155550200").await, to_a);
        let first = calls(
            &app,
            token,
            &format!("?number_id={capped}&outcome=completed"),
        )
        .await;
        assert_eq!(first["total"], 1);
        assert_eq!(first["items"][0]["duration_secs"], 30);
    }
}

#[tokio::test]
async fn two_replicas_share_the_call_log_and_old_calls_are_forgotten() {
    for backend in common::backends() {
        let first = TestApp::with_settings(backend, settings()).await;
        let second = TestApp::replica_with(&first, settings()).await;
        let ws = first.workspace("Acme").await;
        let a = first
            .agent_at(&ws.id, "A", Some("sip:a@agents.example.com"))
            .await;
        let b = first.agent_at(&ws.id, "B", Some("tel:+14155550177")).await;
        let number = first
            .number(&ws.id, "+14155550100", None, Some(a.clone()))
            .await;
        let policy = json!({"time_zone": "UTC", "rules": [{"targets": [{"agent_id": a.to_string()}], "fallback": [{"agent_id": b.to_string()}]}]});
        first
            .call(
                "PATCH",
                &format!("/v1/organization-phone-numbers/{number}"),
                Some(&ws.token),
                Some(json!({"routing": policy})),
            )
            .await;
        // An endpoint that takes the call's start: its delivery names the caller, so it goes
        // with the call when the retention period is over.
        let endpoint = first
            .store
            .create_webhook_endpoint(
                &ws.id,
                switchboard_store::NewWebhookEndpoint {
                    url: "https://hooks.example.com/calls".into(),
                    description: None,
                    event_types: vec!["call.started".into()],
                    secret_sealed: vec![0; 32],
                },
                &switchboard_store::Actor::cli(),
            )
            .await
            .expect("endpoint");
        let call_deliveries = || async {
            let (deliveries, _) = first
                .store
                .list_webhook_deliveries(
                    &ws.id,
                    &endpoint.id,
                    switchboard_store::PageRequest { page: 1, limit: 10 },
                )
                .await
                .expect("deliveries")
                .expect("endpoint");
            deliveries
                .into_iter()
                .map(|d| d.event_type)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            Twilio { app: &first }
                .ring("CA-shared", "+14155550100")
                .await,
            dial("Sip", "sip:a@agents.example.com", 0)
        );
        // The dial result lands on the other replica, which carries on from the shared log.
        assert_eq!(
            Twilio { app: &second }
                .dial_result("CA-shared", 0, Some("failed"))
                .await,
            dial("Number", "+14155550177", 1)
        );
        let log = calls(&second, &ws.token, "").await;
        assert_eq!(log["items"][0]["attempts"][0]["outcome"], "failed");

        // Retention: calls that started before the cut-off are deleted, newer ones kept.
        let kept = first
            .store
            .delete_calls_before(Timestamp::from_millis(0))
            .await
            .expect("delete");
        assert_eq!(kept, 0);
        assert_eq!(call_deliveries().await, ["call.started"]);
        let later = Timestamp::from_millis(Timestamp::now().as_millis() + 1000);
        assert_eq!(
            first
                .store
                .delete_calls_before(later)
                .await
                .expect("delete"),
            1
        );
        assert_eq!(calls(&first, &ws.token, "").await["total"], 0);
        assert!(call_deliveries().await.is_empty());
    }
}

/// Telnyx signs a request as `telnyx-signature-ed25519` over `{timestamp}|{body}`.
struct Telnyx<'a> {
    app: &'a TestApp,
    key: ed25519_dalek::SigningKey,
}

impl Telnyx<'_> {
    async fn post_at(&self, path: &str, body: &str, at: i64, signed_body: &str) -> Reply {
        use base64::Engine;
        use ed25519_dalek::Signer;
        let signature = self.key.sign(format!("{at}|{signed_body}").as_bytes());
        let request = Request::post(path)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("telnyx-timestamp", at.to_string())
            .header(
                "telnyx-signature-ed25519",
                base64::engine::general_purpose::STANDARD.encode(signature.to_bytes()),
            )
            .body(Body::from(body.to_owned()))
            .expect("request");
        self.app.send(request).await
    }

    async fn post(&self, path: &str, params: &[(&str, &str)]) -> Reply {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        self.post_at(path, &body, Timestamp::now().as_millis() / 1000, &body)
            .await
    }
}

#[tokio::test]
async fn telnyx_calls_are_checked_with_its_key_and_walk_the_same_chain() {
    use base64::Engine;
    for backend in common::backends() {
        let key = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
        let public =
            base64::engine::general_purpose::STANDARD.encode(key.verifying_key().to_bytes());
        let mut with_telnyx = settings();
        with_telnyx.calls.telnyx_public_key =
            Some(switchboard_providers::telnyx::TelnyxPublicKey::parse(&public).expect("key"));
        let app = TestApp::with_settings(backend, with_telnyx).await;
        let ws = app.workspace("Acme").await;
        let a = app
            .agent_at(&ws.id, "A", Some("sip:a@agents.example.com"))
            .await;
        let b = app.agent_at(&ws.id, "B", Some("tel:+14155550177")).await;
        let number = app
            .number(&ws.id, "+14155550100", None, Some(a.clone()))
            .await;
        let policy = json!({"time_zone": "UTC", "rules": [{"targets": [{"agent_id": a.to_string()}], "fallback": [{"agent_id": b.to_string()}]}]});
        app.call(
            "PATCH",
            &format!("/v1/organization-phone-numbers/{number}"),
            Some(&ws.token),
            Some(json!({"routing": policy})),
        )
        .await;
        let telnyx = Telnyx { app: &app, key };
        let call = [
            ("CallSid", "v3:telnyx-call"),
            ("From", "+14155550123"),
            ("To", "+14155550100"),
        ];

        // Refused: a stale timestamp (a replay), a tampered body, another key, no signature.
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(call)
            .finish();
        let old = Timestamp::now().as_millis() / 1000 - 301;
        assert_eq!(
            telnyx
                .post_at("/carriers/telnyx/voice", &body, old, &body)
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        let now = Timestamp::now().as_millis() / 1000;
        let tampered = body.replace("%2B14155550100", "%2B14155550199");
        assert_eq!(
            telnyx
                .post_at("/carriers/telnyx/voice", &tampered, now, &body)
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        let stranger = Telnyx {
            app: &app,
            key: ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng),
        };
        assert_eq!(
            stranger.post("/carriers/telnyx/voice", &call).await.status,
            StatusCode::FORBIDDEN
        );
        let unsigned = Request::post("/carriers/telnyx/voice")
            .body(Body::from(body.clone()))
            .expect("request");
        assert_eq!(app.send(unsigned).await.status, StatusCode::FORBIDDEN);
        assert_eq!(calls(&app, &ws.token, "").await["total"], 0);

        // Signed: the same conversation as Twilio's, in TeXML.
        let answer = telnyx.post("/carriers/telnyx/voice", &call).await;
        assert_eq!(answer.status, StatusCode::OK);
        let action = format!("{PUBLIC}/carriers/telnyx/dial-result?attempt=0&amp;timeout=20");
        assert_eq!(
            String::from_utf8_lossy(&answer.body),
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Dial action=\"{action}\" method=\"POST\" timeout=\"20\"><Sip>sip:a@agents.example.com</Sip></Dial></Response>"
            )
        );
        let next = telnyx
            .post(
                "/carriers/telnyx/dial-result?attempt=0&timeout=20",
                &[("CallSid", "v3:telnyx-call"), ("DialCallStatus", "busy")],
            )
            .await;
        assert!(String::from_utf8_lossy(&next.body).contains("<Number>+14155550177</Number>"));
        let status = telnyx
            .post(
                "/carriers/telnyx/status",
                &[("CallSid", "v3:telnyx-call"), ("CallStatus", "no-answer")],
            )
            .await;
        assert_eq!(status.status, StatusCode::NO_CONTENT);
        let log = calls(&app, &ws.token, "").await;
        assert_eq!(log["items"][0]["carrier"], "telnyx");
        assert_eq!(log["items"][0]["outcome"], "no_answer");
        assert_eq!(log["items"][0]["attempts"][0]["outcome"], "busy");

        // A server without a Telnyx key refuses every Telnyx request.
        let bare = TestApp::with_settings(backend, settings()).await;
        let refused = Telnyx {
            app: &bare,
            key: telnyx.key.clone(),
        }
        .post("/carriers/telnyx/voice", &call)
        .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert_eq!(
            String::from_utf8_lossy(&refused.body),
            "Telnyx is not configured on this server (--telnyx-public-key)"
        );
    }
}

#[tokio::test]
async fn plivo_calls_are_checked_with_its_v3_signature_and_walk_the_same_chain() {
    use switchboard_providers::plivo::voice::plivo_signature;
    const PLIVO_TOKEN: &str = "plivo-auth-token-for-tests";
    for backend in common::backends() {
        let mut with_plivo = settings();
        with_plivo.calls.plivo_auth_token = Some(PLIVO_TOKEN.into());
        let app = TestApp::with_settings(backend, with_plivo).await;
        let ws = app.workspace("Acme").await;
        let a = app
            .agent_at(&ws.id, "A", Some("sip:a@agents.example.com"))
            .await;
        let b = app
            .agent_at(&ws.id, "B", Some("wss://bot.example.com/stream"))
            .await;
        let number = app
            .number(&ws.id, "+14155550100", None, Some(a.clone()))
            .await;
        let policy = json!({"time_zone": "UTC", "rules": [{"targets": [{"agent_id": a.to_string()}], "fallback": [{"agent_id": b.to_string()}]}]});
        app.call(
            "PATCH",
            &format!("/v1/organization-phone-numbers/{number}"),
            Some(&ws.token),
            Some(json!({"routing": policy})),
        )
        .await;
        let post =
            |path: String, params: Vec<(&'static str, &'static str)>, token: &'static str| {
                let app = &app;
                async move {
                    let pairs: Vec<(String, String)> = params
                        .iter()
                        .map(|(k, v)| ((*k).into(), (*v).into()))
                        .collect();
                    let body = url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(&pairs)
                        .finish();
                    let signature =
                        plivo_signature(token, &format!("{PUBLIC}{path}"), &pairs, "nonce-1");
                    let request = Request::post(path.as_str())
                        .header("content-type", "application/x-www-form-urlencoded")
                        .header("x-plivo-signature-v3", signature)
                        .header("x-plivo-signature-v3-nonce", "nonce-1")
                        .body(Body::from(body))
                        .expect("request");
                    app.send(request).await
                }
            };
        let call = vec![
            ("CallUUID", "plivo-call-1"),
            ("From", "14155550123"),
            ("To", "14155550100"),
        ];
        let refused = post(
            "/carriers/plivo/voice".into(),
            call.clone(),
            "not-the-token",
        )
        .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert_eq!(calls(&app, &ws.token, "").await["total"], 0);

        let answer = post("/carriers/plivo/voice".into(), call.clone(), PLIVO_TOKEN).await;
        assert_eq!(answer.status, StatusCode::OK, "{backend:?}");
        assert_eq!(
            String::from_utf8_lossy(&answer.body),
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Dial action=\"{PUBLIC}/carriers/plivo/dial-result?attempt=0&amp;timeout=20\" method=\"POST\" timeout=\"20\"><User>sip:a@agents.example.com</User></Dial></Response>"
            )
        );
        // No answer: on to the stream, which takes the call at once (a <Stream> reports no result).
        let next = post(
            "/carriers/plivo/dial-result?attempt=0&timeout=20".into(),
            vec![("CallUUID", "plivo-call-1"), ("DialStatus", "no-answer")],
            PLIVO_TOKEN,
        )
        .await;
        assert!(String::from_utf8_lossy(&next.body).contains("<Stream bidirectional=\"true\" keepCallAlive=\"true\">wss://bot.example.com/stream</Stream>"));
        let hangup = post(
            "/carriers/plivo/status".into(),
            vec![
                ("CallUUID", "plivo-call-1"),
                ("CallStatus", "completed"),
                ("Duration", "17"),
            ],
            PLIVO_TOKEN,
        )
        .await;
        assert_eq!(hangup.status, StatusCode::NO_CONTENT);
        let call = &calls(&app, &ws.token, "").await["items"][0];
        assert_eq!(call["carrier"], "plivo");
        assert_eq!(call["caller"], "+14155550123");
        assert_eq!(call["outcome"], "completed");
        assert_eq!(call["duration_secs"], 17);
        let outcomes: Vec<&Value> = call["attempts"]
            .as_array()
            .expect("attempts")
            .iter()
            .map(|a| &a["outcome"])
            .collect();
        assert_eq!(outcomes, [&json!("no_answer"), &json!("completed")]);
    }
}

#[tokio::test]
async fn business_hours_decide_real_calls_across_the_daylight_saving_change() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, Ordering};
    for backend in common::backends() {
        let now = Arc::new(AtomicI64::new(0));
        let mut clocked = settings();
        let read = now.clone();
        clocked.calls.clock = switchboard_api::Clock::new(move || {
            Timestamp::from_millis(read.load(Ordering::SeqCst))
        });
        let app = TestApp::with_settings(backend, clocked).await;
        let ws = app.workspace("Acme").await;
        let desk = app
            .agent_at(&ws.id, "Desk", Some("sip:desk@agents.example.com"))
            .await;
        let night = app
            .agent_at(&ws.id, "Night bot", Some("wss://bot.example.com/night"))
            .await;
        let number = app
            .number(&ws.id, "+14155550100", None, Some(night.clone()))
            .await;
        let policy = json!({"time_zone": "America/New_York", "rules": [{"name": "business hours",
            "when": {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "09:00", "to": "17:30"},
            "targets": [{"agent_id": desk.to_string()}]}]});
        app.call(
            "PATCH",
            &format!("/v1/organization-phone-numbers/{number}"),
            Some(&ws.token),
            Some(json!({"routing": policy})),
        )
        .await;
        let twilio = Twilio { app: &app };
        let to_desk = dial("Sip", "sip:desk@agents.example.com", 0);
        let to_night = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Connect action=\"https://sb.example.com/carriers/twilio/dial-result?attempt=0&amp;timeout=20\" method=\"POST\"><Stream url=\"wss://bot.example.com/night\"/></Connect></Response>";
        // New York is on daylight time (UTC-4) on Friday 30 October 2026 and on standard time
        // (UTC-5) from Sunday 1 November: 13:30 UTC is 09:30 on the Friday, 08:30 on Monday.
        for (at, sid, expected) in [
            ("2026-10-30T13:30:00Z", "CA-fri-0930", to_desk.as_str()),
            ("2026-10-30T12:59:00Z", "CA-fri-0859", to_night),
            ("2026-11-02T13:30:00Z", "CA-mon-0830", to_night),
            ("2026-11-02T14:00:00Z", "CA-mon-0900", to_desk.as_str()),
            ("2026-11-02T22:30:00Z", "CA-mon-1730", to_night),
            ("2026-10-31T15:00:00Z", "CA-sat-1100", to_night),
        ] {
            now.store(
                Timestamp::parse_rfc3339(at).expect("time").as_millis(),
                Ordering::SeqCst,
            );
            assert_eq!(
                twilio.ring(sid, "+14155550100").await,
                expected,
                "{backend:?} {at}"
            );
        }
        let log = calls(&app, &ws.token, "?limit=100").await;
        let reasons: Vec<&str> = log["items"]
            .as_array()
            .expect("calls")
            .iter()
            .map(|c| c["reason"].as_str().expect("reason"))
            .collect();
        assert!(
            reasons.contains(
                &"rule 1 (business hours) holds at mon 2026-11-02 09:00 America/New_York"
            ),
            "{reasons:?}"
        );
        assert!(reasons.contains(&"no rule holds at mon 2026-11-02 08:30 America/New_York: the number's inbound agent takes the call"), "{reasons:?}");
        // The log keeps each call's own moment.
        assert_eq!(log["items"][0]["started_at"], "2026-11-02T22:30:00.000Z");
    }
}

/// Many calls at once share commits (the call recorder): each is answered and recorded once,
/// and a carrier asking again about a call while the first request's batch is being written
/// gets the same answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn calls_that_ring_together_are_each_recorded_once() {
    // What is tested is that the calls are batched and each recorded once, not how fast this
    // machine is: with the default 2 s lookup timeout, 130 calls at once on a loaded 2-core
    // machine sometimes outwaited it and got the apology (no route known yet).
    let mut patient = settings();
    patient.calls.lookup_timeout = std::time::Duration::from_secs(60);
    for backend in common::backends() {
        let app = TestApp::with_settings(backend, patient.clone()).await;
        let ws = app.workspace("Acme").await;
        let agent = app
            .agent_at(&ws.id, "Desk", Some("sip:desk@agents.example.com"))
            .await;
        app.number(&ws.id, "+14155550100", None, Some(agent)).await;
        let twilio = Twilio { app: &app };
        let sids: Vec<String> = (0..120).map(|i| format!("CA-burst-{i}")).collect();
        // Each of the first ten asked twice at the same moment.
        let requests = sids.iter().chain(sids.iter().take(10));
        let answers =
            futures_util::future::join_all(requests.map(|sid| twilio.ring(sid, "+14155550100")))
                .await;
        let expected = dial("Sip", "sip:desk@agents.example.com", 0);
        assert!(answers.iter().all(|a| *a == expected), "{backend:?}");
        let log = calls(&app, &ws.token, "?limit=100").await;
        assert_eq!(log["total"], 120, "{backend:?}");
        let mut recorded: Vec<String> = Vec::new();
        for page in 1..=2 {
            let items = calls(&app, &ws.token, &format!("?limit=100&page={page}")).await;
            for call in items["items"].as_array().expect("items") {
                assert_eq!(call["attempts"].as_array().map(Vec::len), Some(1), "{call}");
                recorded.push(call["carrier_call_id"].as_str().expect("sid").to_owned());
            }
        }
        recorded.sort();
        let mut expected_sids = sids.clone();
        expected_sids.sort();
        assert_eq!(recorded, expected_sids, "{backend:?}");
    }
}
