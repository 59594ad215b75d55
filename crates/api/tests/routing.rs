//! Calls reach agents, as a client configures and previews it: agents' destinations,
//! numbers' routing policies, the route preview, and what deleting an agent does to a policy.

mod common;

use axum::http::StatusCode;
use common::{Reply, TestApp};
use serde_json::{Value, json};

fn messages(reply: &Reply) -> Vec<String> {
    match &reply.json()["message"] {
        Value::Array(items) => items
            .iter()
            .map(|m| m.as_str().unwrap_or_default().to_owned())
            .collect(),
        Value::String(message) => vec![message.clone()],
        other => panic!("no message in {other}"),
    }
}

#[tokio::test]
async fn agents_have_destinations() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        let token = Some(ws.token.as_str());

        let created = app
            .call(
                "POST",
                "/v1/agents",
                token,
                Some(json!({"name": "Front desk", "destination": "sip:frontdesk@agents.example.com"})),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{backend:?}");
        let agent = created.json();
        assert_eq!(agent["destination"], "sip:frontdesk@agents.example.com");
        let path = format!("/v1/agents/{}", agent["id"].as_str().expect("id"));
        assert_eq!(
            app.call("GET", &path, token, None).await.json()["destination"],
            "sip:frontdesk@agents.example.com"
        );

        // A bad destination is a 400 with the reason, and nothing is created or changed.
        for (destination, reason) in [
            ("ws://bot.example.com/stream", "destination must use wss://"),
            (
                "tel:555",
                "destination must be tel: followed by a valid E.164 number",
            ),
            (
                "sip:bot:hunter2@sip.example.com",
                "destination must not carry a password",
            ),
            (
                "https://bot.example.com",
                "destination must be a sip:, sips:, wss:// or tel: URI",
            ),
        ] {
            let refused = app
                .call(
                    "POST",
                    "/v1/agents",
                    token,
                    Some(json!({"name": "X", "destination": destination})),
                )
                .await;
            assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{destination}");
            assert!(
                messages(&refused)[0].starts_with(reason),
                "{:?}",
                messages(&refused)
            );
            let refused = app
                .call(
                    "PATCH",
                    &path,
                    token,
                    Some(json!({"destination": destination})),
                )
                .await;
            assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{destination}");
        }
        assert_eq!(
            app.call("GET", "/v1/agents", token, None).await.json()["total"],
            1
        );

        // A destination alone changes; the name stays. null clears it. {} changes nothing.
        let moved = app
            .call(
                "PATCH",
                &path,
                token,
                Some(json!({"destination": "wss://bot.example.com/stream"})),
            )
            .await;
        assert_eq!(moved.status, StatusCode::OK);
        assert_eq!(moved.json()["name"], "Front desk");
        assert_eq!(moved.json()["destination"], "wss://bot.example.com/stream");
        let cleared = app
            .call("PATCH", &path, token, Some(json!({"destination": null})))
            .await;
        assert_eq!(cleared.json()["destination"], Value::Null);
        let nothing = app.call("PATCH", &path, token, Some(json!({}))).await;
        assert_eq!(nothing.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            messages(&nothing),
            ["give name, destination or both: the fields to change"]
        );

        // The feed says what changed: a destination change is agent.updated.
        let feed = app
            .call("GET", "/v1/events?type=agent.updated", token, None)
            .await
            .json();
        let changes: Vec<Value> = feed["items"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["changes"]["destination"].clone())
            .collect();
        assert_eq!(
            changes,
            [
                json!({"before": "wss://bot.example.com/stream", "after": null}),
                json!({"before": "sip:frontdesk@agents.example.com", "after": "wss://bot.example.com/stream"}),
            ],
            "{backend:?}"
        );
    }
}

#[tokio::test]
async fn numbers_take_a_routing_policy_and_preview_it() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        let token = Some(ws.token.as_str());
        let day = app
            .agent_at(&ws.id, "Day desk", Some("sip:day@agents.example.com"))
            .await;
        let bot = app
            .agent_at(&ws.id, "Night bot", Some("wss://bot.example.com/stream"))
            .await;
        let human = app.agent(&ws.id, "Supervisor").await;
        let number = app
            .number(&ws.id, "+14155550100", None, Some(bot.clone()))
            .await;
        let path = format!("/v1/organization-phone-numbers/{number}");
        let (day, bot, human) = (day.to_string(), bot.to_string(), human.to_string());

        assert_eq!(
            app.call("GET", &path, token, None).await.json()["routing"],
            Value::Null
        );
        let policy = json!({
            "time_zone": "America/New_York",
            "rules": [{
                "name": "business hours",
                "when": {"days": ["fri", "mon", "tue", "wed", "thu"], "from": "09:00", "to": "17:30"},
                "targets": [{"agent_id": day, "weight": 3}, {"destination": "sip:overflow@pbx.example.com", "weight": 1}],
                "fallback": [{"agent_id": human}, {"destination": "tel:+14155550199"}]
            }],
            "max_concurrent_calls": 5
        });
        let set = app
            .call("PATCH", &path, token, Some(json!({"routing": policy})))
            .await;
        assert_eq!(set.status, StatusCode::OK, "{backend:?}: {:?}", set.json());
        let routing = set.json()["routing"].clone();
        // Answered in canonical form: days in week order, every key present.
        assert_eq!(
            routing["rules"][0]["when"]["days"],
            json!(["mon", "tue", "wed", "thu", "fri"])
        );
        assert_eq!(routing["ring_timeout_secs"], 20);
        assert_eq!(
            routing["rules"][0]["fallback"][0],
            json!({"agent_id": human})
        );
        assert_eq!(
            app.call("GET", &path, token, None).await.json()["routing"],
            routing
        );
        let history = app
            .call("GET", &format!("{path}/history"), token, None)
            .await
            .json();
        assert_eq!(
            history["items"][0]["changes"]["routing"],
            json!({"before": null, "after": routing})
        );

        // Monday 2 November 2026, 09:00 in New York (the day after the clocks went back).
        let preview = app
            .call(
                "GET",
                &format!("{path}/route?at=2026-11-02T14:00:00Z"),
                token,
                None,
            )
            .await;
        assert_eq!(preview.status, StatusCode::OK);
        let preview = preview.json();
        assert_eq!(
            preview["rule"],
            json!({"index": 0, "name": "business hours"})
        );
        assert_eq!(preview["local_time"], "2026-11-02T09:00:00");
        assert_eq!(
            preview["reason"],
            "rule 1 (business hours) holds at mon 2026-11-02 09:00 America/New_York"
        );
        assert_eq!(preview["routable"], true);
        assert_eq!(
            preview["targets"],
            json!([
                {"agent_id": day, "agent_name": "Day desk", "destination": "sip:day@agents.example.com",
                 "weight": 3, "share": 0.75, "can_take_calls": true},
                {"agent_id": null, "agent_name": null, "destination": "sip:overflow@pbx.example.com",
                 "weight": 1, "share": 0.25, "can_take_calls": true}
            ])
        );
        assert_eq!(
            preview["fallback"],
            json!([
                {"agent_id": human, "agent_name": "Supervisor", "destination": null, "can_take_calls": false},
                {"agent_id": null, "agent_name": null, "destination": "tel:+14155550199", "can_take_calls": true}
            ])
        );
        assert_eq!(preview["max_concurrent_calls"], 5);
        // 08:59 local the same day (an offset written with an unencoded +… here a minus)
        // is after hours: the inbound agent takes the call.
        let early = app
            .call(
                "GET",
                &format!("{path}/route?at=2026-11-02T08:59:00-05:00"),
                token,
                None,
            )
            .await
            .json();
        assert_eq!(early["rule"], Value::Null);
        assert_eq!(
            early["reason"],
            "no rule holds at mon 2026-11-02 08:59 America/New_York: the number's inbound agent takes the call"
        );
        assert_eq!(early["targets"][0]["agent_id"], json!(bot));
        // An unencoded + arrives as a space, and is read as the + it was.
        let plus = app
            .call(
                "GET",
                &format!("{path}/route?at=2026-11-02T23:00:00+09:00"),
                token,
                None,
            )
            .await;
        assert_eq!(plus.status, StatusCode::OK);
        assert_eq!(plus.json()["local_time"], "2026-11-02T09:00:00");
        let bad = app
            .call("GET", &format!("{path}/route?at=tomorrow"), token, None)
            .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert!(messages(&bad)[0].starts_with("at must be an RFC 3339 time"));
        let unknown = app
            .call(
                "GET",
                "/v1/organization-phone-numbers/phn_000000000000/route",
                token,
                None,
            )
            .await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);

        // Problems are 400s naming the field, and the stored policy stays as it was.
        let refused = app
            .call(
                "PATCH",
                &path,
                token,
                Some(json!({"routing": {"time_zone": "Mars/Olympus", "rules": [{"targets": [{"agent_id": day, "weight": 0}]}]}})),
            )
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        let problems = messages(&refused);
        assert!(
            problems.iter().any(|p| p
                .starts_with("routing.time_zone \"Mars/Olympus\" is not an IANA time zone name")),
            "{problems:?}"
        );
        assert!(
            problems
                .iter()
                .any(|p| p
                    == "routing.rules[0].targets[0].weight must be an integer from 1 to 10000"),
            "{problems:?}"
        );
        let stranger = app.workspace("Other").await;
        let their_agent = app.agent(&stranger.id, "Not yours").await.to_string();
        let refused = app
            .call(
                "PATCH",
                &path,
                token,
                Some(json!({"routing": {"time_zone": "UTC", "rules": [{"targets": [{"agent_id": day}], "fallback": [{"agent_id": their_agent}]}]}})),
            )
            .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            messages(&refused),
            ["routing.rules[0].fallback[0].agent_id is not an agent of this workspace"]
        );
        assert_eq!(
            app.call("GET", &path, token, None).await.json()["routing"],
            routing
        );

        // The compliance review names the agent the policy routes to that cannot take calls.
        let review = app
            .call(
                "GET",
                "/v1/organization-phone-numbers/compliance?code=no_destination",
                token,
                None,
            )
            .await
            .json();
        assert_eq!(review["counts"], json!({"no_destination": 1}));
        assert_eq!(
            review["findings"][0]["message"],
            format!(
                "+14155550100 routes calls to Supervisor ({human}), which cannot take them: give the agent a destination (sip:, wss:// or tel:)."
            )
        );

        // null removes the policy: the inbound agent takes every call again.
        let removed = app
            .call("PATCH", &path, token, Some(json!({"routing": null})))
            .await;
        assert_eq!(removed.json()["routing"], Value::Null);
        let now = app
            .call("GET", &format!("{path}/route"), token, None)
            .await
            .json();
        assert_eq!(
            now["reason"],
            "no routing policy: the number's inbound agent takes the call"
        );
        assert_eq!(now["time_zone"], Value::Null);
    }
}

#[tokio::test]
async fn deleting_an_agent_takes_it_out_of_every_policy() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        let token = Some(ws.token.as_str());
        let a = app
            .agent_at(&ws.id, "A", Some("sip:a@agents.example.com"))
            .await;
        let b = app
            .agent_at(&ws.id, "B", Some("sip:b@agents.example.com"))
            .await;
        let number = app.number(&ws.id, "+14155550100", None, None).await;
        let path = format!("/v1/organization-phone-numbers/{number}");
        let (a, b) = (a.to_string(), b.to_string());
        let set = app
            .call(
                "PATCH",
                &path,
                token,
                Some(json!({"routing": {"time_zone": "UTC", "rules": [
                    {"name": "only a", "targets": [{"agent_id": a}]},
                    {"name": "a then b", "targets": [{"agent_id": a, "weight": 2}], "fallback": [{"agent_id": b}]}
                ]}})),
            )
            .await;
        assert_eq!(set.status, StatusCode::OK);
        let revision_before = set.headers["etag"].clone();

        let deleted = app
            .call("DELETE", &format!("/v1/agents/{a}"), token, None)
            .await;
        assert_eq!(deleted.status, StatusCode::OK, "{backend:?}");
        let after = app.call("GET", &path, token, None).await;
        assert_ne!(
            after.headers["etag"], revision_before,
            "the number's revision moved"
        );
        // "only a" had nothing left and is gone; in "a then b", b stepped up from the fallback.
        assert_eq!(
            after.json()["routing"]["rules"],
            json!([{"name": "a then b", "when": null, "targets": [{"agent_id": b, "weight": 1}], "fallback": []}])
        );
        let history = app
            .call("GET", &format!("{path}/history"), token, None)
            .await
            .json();
        let change = &history["items"][0];
        assert_eq!(change["action"], "updated");
        assert_eq!(
            change["changes"]["routing"]["after"],
            after.json()["routing"]
        );
        let feed = app
            .call("GET", "/v1/events?type=phone_number.updated", token, None)
            .await
            .json();
        assert_eq!(
            feed["items"][0]["changes"]["routing"]["after"],
            after.json()["routing"],
            "{feed}"
        );
    }
}

#[tokio::test]
async fn bulk_updates_route_many_numbers_at_once_or_none() {
    for backend in common::backends() {
        let app = TestApp::new(backend).await;
        let ws = app.workspace("Acme").await;
        let other = app.workspace("Other").await;
        let token = Some(ws.token.as_str());
        let desk = app
            .agent_at(&ws.id, "Desk", Some("sip:desk@agents.example.com"))
            .await;
        let first = app.number(&ws.id, "+14155550101", None, None).await;
        let second = app.number(&ws.id, "+14155550102", None, None).await;
        let routed = app
            .number(&ws.id, "+14155550103", None, Some(desk.clone()))
            .await;
        let theirs = app.number(&other.id, "+14155550104", None, None).await;
        let (first, second, routed, theirs) = (
            first.to_string(),
            second.to_string(),
            routed.to_string(),
            theirs.to_string(),
        );
        let ids = json!([first, second, routed]);
        let number = |id: &str| {
            let path = format!("/v1/organization-phone-numbers/{id}");
            let app = &app;
            async move { app.call("GET", &path, token, None).await.json() }
        };
        let events = || async {
            app.call("GET", "/v1/events?type=phone_number.updated", token, None)
                .await
                .json()["total"]
                .clone()
        };

        // A dry run answers exactly what would change, and changes nothing.
        let dry = app
            .call(
                "POST",
                "/v1/organization-phone-numbers/bulk-update",
                token,
                Some(json!({"ids": ids, "changes": {"inbound_agent_id": desk.to_string(), "label": "fleet"}, "dry_run": true})),
            )
            .await;
        assert_eq!(dry.status, StatusCode::OK, "{backend:?}: {:?}", dry.json());
        let dry = dry.json();
        assert_eq!(
            (
                dry["dry_run"].clone(),
                dry["changed"].clone(),
                dry["unchanged"].clone()
            ),
            (json!(true), json!(3), json!(0))
        );
        assert_eq!(
            dry["items"][0]["changes"]["inbound_agent_id"],
            json!({"before": null, "after": desk.to_string()})
        );
        assert_eq!(
            dry["items"][2]["changes"],
            json!({"label": {"before": null, "after": "fleet"}})
        );
        assert_eq!(number(&first).await["inbound_agent_id"], Value::Null);
        assert_eq!(events().await, json!(0));

        // A refusal anywhere changes nothing anywhere.
        for (body, message) in [
            (
                json!({"ids": [first, theirs], "changes": {"label": "fleet"}}),
                format!("{theirs} is not a number of this workspace"),
            ),
            (
                json!({"ids": [first, "phn_000000000000"], "changes": {"label": "fleet"}}),
                "phn_000000000000 is not a number of this workspace".to_owned(),
            ),
            (
                json!({"ids": [first, first], "changes": {"label": "fleet"}}),
                format!("ids[1] lists {first} a second time"),
            ),
            (
                json!({"ids": [first, second], "changes": {"is_default": true}}),
                "is_default: true may name one number only: a workspace has one default".to_owned(),
            ),
            (
                json!({"ids": [first], "changes": {"inbound_agent_id": "agt_000000000000"}}),
                "inbound_agent_id is not an agent of this workspace".to_owned(),
            ),
            (
                json!({"ids": [first], "changes": {"colour": "blue"}}),
                "property colour should not exist".to_owned(),
            ),
            (
                json!({"ids": [], "changes": {"label": "x"}}),
                "ids must list 1 to 1000 numbers".to_owned(),
            ),
            (
                json!({"ids": [first]}),
                "changes is required: the fields of a PATCH to apply to every number".to_owned(),
            ),
        ] {
            let refused = app
                .call(
                    "POST",
                    "/v1/organization-phone-numbers/bulk-update",
                    token,
                    Some(body.clone()),
                )
                .await;
            assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(messages(&refused), [message], "{body}");
        }
        assert_eq!(number(&first).await["label"], Value::Null);
        assert_eq!(events().await, json!(0));

        // For real: one transaction, each number's history and event as a PATCH records them.
        let policy =
            json!({"time_zone": "UTC", "rules": [{"targets": [{"agent_id": desk.to_string()}]}]});
        let done = app
            .call(
                "POST",
                "/v1/organization-phone-numbers/bulk-update",
                token,
                Some(json!({"ids": ids, "changes": {"inbound_agent_id": desk.to_string(), "routing": policy}})),
            )
            .await
            .json();
        assert_eq!(
            (done["changed"].clone(), done["unchanged"].clone()),
            (json!(3), json!(0))
        );
        for id in [&first, &second, &routed] {
            let now = number(id).await;
            assert_eq!(now["inbound_agent_id"], json!(desk.to_string()));
            assert_eq!(
                now["routing"]["rules"][0]["targets"][0]["agent_id"],
                json!(desk.to_string())
            );
            let history = app
                .call(
                    "GET",
                    &format!("/v1/organization-phone-numbers/{id}/history"),
                    token,
                    None,
                )
                .await
                .json();
            assert_eq!(history["items"][0]["action"], "updated");
        }
        assert_eq!(events().await, json!(3));
        // The same again changes nothing and records nothing.
        let again = app
            .call(
                "POST",
                "/v1/organization-phone-numbers/bulk-update",
                token,
                Some(json!({"ids": ids, "changes": {"inbound_agent_id": desk.to_string()}})),
            )
            .await
            .json();
        assert_eq!(
            (again["changed"].clone(), again["unchanged"].clone()),
            (json!(0), json!(3))
        );
        assert_eq!(events().await, json!(3));
    }
}
