//! Reports, as a client sees them: summary (cost attribution), lookup by number (routing
//! audit), compliance review and export, on both backends.

mod common;

use axum::http::StatusCode;
use common::{TestApp, TestWorkspace};
use serde_json::{Value, json};
use switchboard_domain::{AgentId, Capabilities, E164, Money, NumberStatus, PhoneNumberId};
use switchboard_store::{Actor, NewPhoneNumber};

/// Imports one number: `(number, monthly cost, provider, label)`, with its capabilities and
/// inbound agent.
async fn add(
    app: &TestApp,
    ws: &TestWorkspace,
    (number, cost, provider, label): (&str, &str, &str, Option<&str>),
    capabilities: Capabilities,
    agent: Option<AgentId>,
) -> PhoneNumberId {
    let number = E164::parse(number).expect("valid number");
    app.store
        .import_phone_numbers(
            &ws.id,
            vec![NewPhoneNumber {
                number_type: number.derived_type(),
                number,
                monthly_cost: Money::parse(cost).expect("money"),
                capabilities,
                label: label.map(str::to_owned),
                nickname: None,
                inbound_agent_id: agent,
                status: NumberStatus::Active,
                provider: provider.into(),
                sip_trunk_enabled: false,
            }],
            &Actor::cli(),
        )
        .await
        .expect("import")
        .remove(0)
}

/// A workspace with US and IN enabled, not KYC-verified, an agent `Support` (reached over
/// SIP), and four
/// numbers: two US (one routed to Support), one IN, one GB.
async fn portfolio(app: &TestApp) -> (TestWorkspace, AgentId) {
    let ws = app.workspace("Acme").await;
    let support = app
        .agent_at(&ws.id, "Support", Some("sip:support@agents.example.com"))
        .await;
    add(
        app,
        &ws,
        ("+14155552671", "0.10", "sandbox", Some("sales")),
        Capabilities::VOICE,
        Some(support.clone()),
    )
    .await;
    add(
        app,
        &ws,
        ("+14155552672", "0.20", "twilio", Some("sales")),
        Capabilities::VOICE,
        None,
    )
    .await;
    add(
        app,
        &ws,
        ("+912234567899", "1.15", "sandbox", None),
        Capabilities {
            voice: false,
            sms: true,
        },
        Some(support.clone()),
    )
    .await;
    add(
        app,
        &ws,
        ("+442079460999", "0.00", "sip_trunk", Some("support")),
        Capabilities::VOICE,
        None,
    )
    .await;
    (ws, support)
}

#[tokio::test]
async fn summary_totals_and_groups_exactly() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let (ws, support) = portfolio(&app).await;
        let token = Some(ws.token.as_str());
        let total = app
            .call("GET", "/v1/organization-phone-numbers/summary", token, None)
            .await;
        assert_eq!(total.status, StatusCode::OK);
        assert_eq!(
            total.json(),
            json!({"count": 4, "monthly_cost_usd": "1.45", "group_by": [], "groups": []})
        );

        // 0.10 + 0.20 is 0.30 in cents, whatever floating point would say.
        let us = app
            .call(
                "GET",
                "/v1/organization-phone-numbers/summary?country_code=us&group_by=label",
                token,
                None,
            )
            .await
            .json();
        assert_eq!(
            us,
            json!({"count": 2, "monthly_cost_usd": "0.30", "group_by": ["label"], "groups": [
                {"label": "sales", "count": 2, "monthly_cost_usd": "0.30"}
            ]})
        );

        let by_agent = app
            .call(
                "GET",
                "/v1/organization-phone-numbers/summary?group_by=inbound_agent_id,country_code",
                token,
                None,
            )
            .await
            .json();
        assert_eq!(
            by_agent["groups"],
            json!([
                {"inbound_agent_id": support.to_string(), "country_code": "IN", "inbound_agent_name": "Support", "count": 1, "monthly_cost_usd": "1.15"},
                {"inbound_agent_id": support.to_string(), "country_code": "US", "inbound_agent_name": "Support", "count": 1, "monthly_cost_usd": "0.10"},
                {"inbound_agent_id": null, "country_code": "GB", "inbound_agent_name": null, "count": 1, "monthly_cost_usd": "0.00"},
                {"inbound_agent_id": null, "country_code": "US", "inbound_agent_name": null, "count": 1, "monthly_cost_usd": "0.20"},
            ]),
            "{backend:?}"
        );
        assert_eq!(by_agent["monthly_cost_usd"], json!("1.45"));

        for (query, message) in [
            (
                "group_by=country",
                json!(
                    "group_by must be a comma-separated list of: country_code, type, provider, status, label, inbound_agent_id"
                ),
            ),
            ("group_by=type,type", json!("group_by names type twice")),
            (
                "type=landline",
                json!("type must be one of: local, toll_free, mobile"),
            ),
        ] {
            let reply = app
                .call(
                    "GET",
                    &format!("/v1/organization-phone-numbers/summary?{query}"),
                    token,
                    None,
                )
                .await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
            let got = reply.json()["message"].clone();
            assert!(
                got == message || got == json!([message.clone()]),
                "{query}: {got}"
            );
        }
        let other = app.workspace("Other").await;
        let theirs = app
            .call(
                "GET",
                "/v1/organization-phone-numbers/summary",
                Some(&other.token),
                None,
            )
            .await
            .json();
        assert_eq!(
            theirs["count"],
            json!(0),
            "another workspace sees none of them"
        );
    }
}

#[tokio::test]
async fn lookup_finds_a_number_in_any_format() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let (ws, support) = portfolio(&app).await;
        let token = Some(ws.token.as_str());
        for query in [
            "phone_number=+14155552671",
            "phone_number=%2B14155552671",
            "phone_number=+1%20(415)%20555-2671",
            "phone_number=%2B1+(415)+555-2671",
        ] {
            let reply = app
                .call(
                    "GET",
                    &format!("/v1/organization-phone-numbers/lookup?{query}"),
                    token,
                    None,
                )
                .await;
            assert_eq!(reply.status, StatusCode::OK, "{query}: {:?}", reply.json());
            let number = reply.json();
            assert_eq!(number["phone_number"], json!("+14155552671"));
            assert_eq!(number["inbound_agent_id"], json!(support.to_string()));
            assert!(reply.headers.contains_key("etag"));
        }
        let other = app.workspace("Other").await;
        let foreign = app
            .call(
                "GET",
                "/v1/organization-phone-numbers/lookup?phone_number=+14155552671",
                Some(&other.token),
                None,
            )
            .await;
        assert_eq!(foreign.status, StatusCode::NOT_FOUND);
        assert_eq!(
            foreign.json(),
            json!({"statusCode": 404, "message": "Phone number not found", "error": "Not Found"})
        );
        let missing = app
            .call("GET", "/v1/organization-phone-numbers/lookup", token, None)
            .await;
        assert_eq!(missing.status, StatusCode::BAD_REQUEST);
        assert_eq!(missing.json()["message"], json!("phone_number is required"));
        let invalid = app
            .call(
                "GET",
                "/v1/organization-phone-numbers/lookup?phone_number=+1%20555",
                token,
                None,
            )
            .await;
        assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    }
}

fn codes_of(review: &Value, number: &str) -> Vec<String> {
    review["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["phone_number"] == json!(number))
        .map(|f| f["code"].as_str().expect("code").to_owned())
        .collect()
}

#[tokio::test]
async fn compliance_review_names_every_rule() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let (ws, support) = portfolio(&app).await;
        // A purchase claim left long ago.
        let pending = app
            .store
            .claim_phone_number(
                &ws.id,
                NewPhoneNumber {
                    number_type: switchboard_domain::NumberType::Local,
                    number: E164::parse("+14155550111").expect("number"),
                    monthly_cost: Money::ZERO,
                    capabilities: Capabilities::VOICE,
                    label: None,
                    nickname: None,
                    inbound_agent_id: None,
                    status: NumberStatus::Pending,
                    provider: "sandbox".into(),
                    sip_trunk_enabled: false,
                },
            )
            .await
            .expect("claim");
        app.db
            .execute(&format!(
                "UPDATE phone_numbers SET created_at = created_at - 700000 WHERE id = '{}'",
                pending.id
            ))
            .await;
        let review = app
            .call(
                "GET",
                "/v1/organization-phone-numbers/compliance",
                Some(&ws.token),
                None,
            )
            .await;
        assert_eq!(review.status, StatusCode::OK);
        let review = review.json();
        assert_eq!(review["numbers_reviewed"], json!(5));
        assert_eq!(
            codes_of(&review, "+14155552671"),
            Vec::<String>::new(),
            "routed, managed, enabled"
        );
        assert_eq!(
            codes_of(&review, "+14155552672"),
            ["unrouted", "unmanaged_provider"]
        );
        assert_eq!(
            codes_of(&review, "+912234567899"),
            ["kyc_required", "voice_missing"]
        );
        assert_eq!(codes_of(&review, "+442079460999"), ["country_not_enabled"]);
        assert_eq!(codes_of(&review, "+14155550111"), ["stuck_pending"]);
        assert_eq!(
            review["counts"],
            json!({"country_not_enabled": 1, "kyc_required": 1, "unrouted": 1, "voice_missing": 1, "stuck_pending": 1, "unmanaged_provider": 1, "no_destination": 0, "no_recent_calls": 0, "unroutable_calls": 0, "carrier_drift": 0, "missing_at_carrier": 0})
        );
        // An agent that loses its destination strands the numbers routed to it.
        let cleared = app
            .call(
                "PATCH",
                &format!("/v1/agents/{support}"),
                Some(&ws.token),
                Some(json!({"destination": null})),
            )
            .await;
        assert_eq!(cleared.status, StatusCode::OK);
        let stranded = app
            .call(
                "GET",
                "/v1/organization-phone-numbers/compliance?code=no_destination",
                Some(&ws.token),
                None,
            )
            .await
            .json();
        assert_eq!(stranded["counts"], json!({"no_destination": 2}));
        assert_eq!(codes_of(&stranded, "+14155552671"), ["no_destination"]);
        assert_eq!(stranded["findings"][0]["severity"], json!("error"));
        let kyc = review["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .find(|f| f["code"] == json!("kyc_required"))
            .cloned()
            .expect("kyc finding");
        assert_eq!(kyc["severity"], json!("error"));
        assert_eq!(
            kyc["message"],
            json!(
                "+912234567899 is in IN, which needs a KYC-verified workspace; this one is not verified."
            )
        );

        // Fixing the cause clears the finding.
        app.enable(&ws.id, &["US", "IN"], true).await;
        let only = app
            .call(
                "GET",
                "/v1/organization-phone-numbers/compliance?code=kyc_required,unrouted",
                Some(&ws.token),
                None,
            )
            .await
            .json();
        assert_eq!(only["counts"], json!({"kyc_required": 0, "unrouted": 1}));
        assert_eq!(only["findings"].as_array().map(Vec::len), Some(1));
        let bad = app
            .call(
                "GET",
                "/v1/organization-phone-numbers/compliance?code=bogus",
                Some(&ws.token),
                None,
            )
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn export_streams_every_field_as_csv_or_ndjson() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let (ws, _) = portfolio(&app).await;
        let token = Some(ws.token.as_str());
        let listed = app
            .call(
                "GET",
                "/v1/organization-phone-numbers?limit=100",
                token,
                None,
            )
            .await
            .json();
        let items = listed["items"].as_array().expect("items").clone();

        let ndjson = app
            .call(
                "GET",
                "/v1/organization-phone-numbers/export?format=ndjson",
                token,
                None,
            )
            .await;
        assert_eq!(ndjson.status, StatusCode::OK);
        assert_eq!(ndjson.headers["content-type"], "application/x-ndjson");
        let lines: Vec<Value> = String::from_utf8(ndjson.body)
            .expect("UTF-8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object a line"))
            .collect();
        assert_eq!(
            lines, items,
            "every number, every field, in the list's order"
        );

        let csv = app
            .call_with(
                "GET",
                "/v1/organization-phone-numbers/export?country_code=US",
                token,
                None,
                &[("accept", "text/csv")],
            )
            .await;
        assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
        assert_eq!(csv.headers["cache-control"], "no-store");
        let text = String::from_utf8(csv.body).expect("UTF-8");
        let rows: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(
            rows[0],
            "id,phone_number,country_code,type,monthly_cost_usd,capabilities,label,nickname,agent_id,inbound_agent_id,outbound_agent_id,status,provider,sip_trunk_enabled,is_default,created_at,updated_at,routing"
        );
        assert_eq!(rows.len(), 3, "the header and the two US numbers: {text}");
        assert!(
            rows[2].starts_with(&format!(
                "{},+14155552672,US,local,0.20,voice,sales,,,,,active,twilio,false,false,",
                items[1]["id"].as_str().expect("id")
            )),
            "{}",
            rows[2]
        );

        let accept_ndjson = app
            .call_with(
                "GET",
                "/v1/organization-phone-numbers/export",
                token,
                None,
                &[("accept", "application/x-ndjson")],
            )
            .await;
        assert_eq!(
            accept_ndjson.headers["content-type"],
            "application/x-ndjson"
        );
        let bad = app
            .call(
                "GET",
                "/v1/organization-phone-numbers/export?format=xml",
                token,
                None,
            )
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        let nothing = app
            .call(
                "GET",
                "/v1/organization-phone-numbers/export?agent_id=nonsense",
                token,
                None,
            )
            .await;
        assert_eq!(nothing.status, StatusCode::OK);
        assert_eq!(
            String::from_utf8(nothing.body)
                .expect("UTF-8")
                .lines()
                .count(),
            1,
            "the header alone"
        );
    }
}

/// A stream the consumer drops stops: the backend stops reading and gives its connection
/// back, so a client that goes away mid-export costs nothing more.
#[tokio::test]
async fn a_dropped_stream_gives_its_connection_back() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        let numbers: Vec<NewPhoneNumber> = (0..3000u64)
            .map(|i| {
                let number = E164::parse(&format!("+1415555{:04}", i % 10000)).expect("number");
                NewPhoneNumber {
                    number_type: number.derived_type(),
                    number,
                    monthly_cost: Money::ZERO,
                    capabilities: Capabilities::VOICE,
                    label: None,
                    nickname: None,
                    inbound_agent_id: None,
                    status: NumberStatus::Active,
                    provider: "twilio".into(),
                    sip_trunk_enabled: false,
                }
            })
            .collect();
        app.store
            .import_phone_numbers(&ws.id, numbers, &Actor::cli())
            .await
            .expect("import");
        for _ in 0..20 {
            let mut stream = app.store.stream_phone_numbers(&ws.id, &Default::default());
            assert!(stream.recv().await.is_some_and(|n| n.is_ok()));
            drop(stream);
        }
        // Twenty abandoned streams: if any still held its connection, the pool (at most 16
        // connections) would be exhausted or close to it, and this would wait or fail.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let full = app.store.stream_phone_numbers(&ws.id, &Default::default());
        let mut full = full;
        let mut count = 0;
        while let Some(number) = full.recv().await {
            number.expect("number");
            count += 1;
        }
        assert_eq!(count, 3000, "{backend:?}");
    }
}
