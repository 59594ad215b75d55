use super::*;
use serde_json::{Value, json};

const A: &str = "agt_aaaaaaaaaaaa";
const B: &str = "agt_bbbbbbbbbbbb";
const C: &str = "agt_cccccccccccc";

fn agent(id: &str) -> RouteTarget {
    RouteTarget::Agent(AgentId::parse(id).expect("agent id"))
}

fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).expect("time")
}

fn business_hours() -> Value {
    json!({
        "time_zone": "America/New_York",
        "rules": [{
            "name": "business hours",
            "when": {"days": ["mon","tue","wed","thu","fri"], "from": "09:00", "to": "17:30"},
            "targets": [{"agent_id": A, "weight": 80}, {"agent_id": B, "weight": 20}],
            "fallback": [{"agent_id": C}, {"destination": "tel:+14155550100"}]
        }],
        "max_concurrent_calls": 10
    })
}

fn problems(value: Value) -> Vec<String> {
    RoutingPolicy::from_json(&value).expect_err("a problem").0
}

#[test]
fn the_issue_example_reads_and_answers_in_canonical_form() {
    let policy = RoutingPolicy::from_json(&business_hours()).expect("valid");
    assert_eq!(policy.ring_timeout_secs, DEFAULT_RING_TIMEOUT_SECS);
    assert_eq!(policy.max_concurrent_calls, Some(10));
    let canonical = policy.to_json();
    assert_eq!(
        canonical["rules"][0]["when"],
        json!({"days": ["mon","tue","wed","thu","fri"], "from": "09:00", "to": "17:30", "except_dates": []})
    );
    assert_eq!(canonical["rules"][0]["fallback"][0], json!({"agent_id": C}));
    assert_eq!(
        canonical["rules"][0]["targets"][1],
        json!({"agent_id": B, "weight": 20})
    );
    assert_eq!(
        RoutingPolicy::from_json(&canonical).expect("round trip"),
        policy
    );
    let named: Vec<String> = policy.agents().into_iter().map(|(path, _)| path).collect();
    assert_eq!(
        named,
        [
            "routing.rules[0].targets[0].agent_id",
            "routing.rules[0].targets[1].agent_id",
            "routing.rules[0].fallback[0].agent_id"
        ]
    );
}

#[test]
fn every_problem_is_named_by_its_path() {
    let found = problems(json!({
        "time_zone": "America/Gotham",
        "rules": [
            {"targets": []},
            {"when": {"days": ["mon", "funday"], "from": "9:00", "to": "25:00"},
             "targets": [{"agent_id": "agt_x", "weight": 0}, {"agent_id": A, "destination": "tel:+14155550100"}],
             "fallback": [{"agent_id": A, "weight": 3}, {"destination": "http://x"}]}
        ],
        "ring_timeout_secs": 1,
        "colour": "blue"
    }));
    for expected in [
        "routing.colour is not a field",
        "routing.time_zone \"America/Gotham\" is not an IANA time zone",
        "routing.rules[0].targets must hold at least one target",
        "routing.rules[1].when.days[1] \"funday\" is not a day",
        "routing.rules[1].when.from \"9:00\" is not a time of day",
        "routing.rules[1].when.to \"25:00\" is not a time of day",
        "routing.rules[1].targets[0].weight must be an integer from 1 to 10000",
        "routing.rules[1].targets[0].agent_id is not an agent of this workspace",
        "routing.rules[1].targets[1] must name either an agent_id or a destination",
        "routing.rules[1].fallback[0].weight is not a field",
        "routing.rules[1].fallback[1].destination must be a sip:",
        "routing.ring_timeout_secs must be an integer from 5 to 120",
    ] {
        assert!(
            found.iter().any(|p| p.starts_with(expected)),
            "{expected:?} not among {found:#?}"
        );
    }
    assert!(problems(json!({"rules": []}))[0].starts_with("routing.time_zone is required"));
    assert!(problems(json!("on"))[0].starts_with("routing must be an object"));
    assert!(
        problems(json!({"time_zone": "UTC", "rules": [{"when": {"from": "09:00"}, "targets": [{"agent_id": A}]}]}))[0]
            .starts_with("routing.rules[0].when needs both from and to")
    );
}

#[test]
fn business_hours_follow_the_zone_across_the_daylight_saving_change() {
    let policy = RoutingPolicy::from_json(&business_hours()).expect("valid");
    // Friday 30 October 2026, New York on daylight time (UTC-4): 09:00 local is 13:00 UTC.
    assert_eq!(
        policy.rule_at(at("2026-10-30T12:59:00Z")).map(|(i, _)| i),
        None
    );
    assert_eq!(
        policy.rule_at(at("2026-10-30T13:00:00Z")).map(|(i, _)| i),
        Some(0)
    );
    // Clocks go back on Sunday 1 November; on Monday 2 November (UTC-5) 13:30 UTC is 08:30.
    assert_eq!(
        policy.rule_at(at("2026-11-02T13:30:00Z")).map(|(i, _)| i),
        None
    );
    assert_eq!(
        policy.rule_at(at("2026-11-02T14:00:00Z")).map(|(i, _)| i),
        Some(0)
    );
    // 17:30 is the first minute after hours; weekends never hold.
    assert_eq!(
        policy.rule_at(at("2026-11-02T22:29:59Z")).map(|(i, _)| i),
        Some(0)
    );
    assert_eq!(
        policy.rule_at(at("2026-11-02T22:30:00Z")).map(|(i, _)| i),
        None
    );
    assert_eq!(
        policy.rule_at(at("2026-11-07T15:00:00Z")).map(|(i, _)| i),
        None
    );

    let plan = plan_route(Some(&policy), None, at("2026-11-07T15:00:00Z"));
    assert!(!plan.is_routable());
    assert_eq!(
        plan.reason,
        "no rule holds at sat 2026-11-07 10:00 America/New_York, and the number has no inbound agent: the call cannot be routed"
    );
    let default = AgentId::parse(C).expect("id");
    let plan = plan_route(Some(&policy), Some(&default), at("2026-11-07T15:00:00Z"));
    assert_eq!(
        plan.targets,
        [WeightedTarget {
            target: agent(C),
            weight: 1
        }]
    );
    assert!(
        plan.reason
            .ends_with("the number's inbound agent takes the call")
    );
    let plan = plan_route(Some(&policy), Some(&default), at("2026-11-02T14:00:00Z"));
    assert_eq!(plan.rule, Some(0));
    assert_eq!(
        plan.reason,
        "rule 1 (business hours) holds at mon 2026-11-02 09:00 America/New_York"
    );
    assert_eq!(plan.fallback.len(), 2);
}

#[test]
fn overnight_spans_belong_to_the_day_they_start_and_holidays_skip() {
    let policy = RoutingPolicy::from_json(&json!({
        "time_zone": "Europe/London",
        "rules": [
            {"name": "friday night", "when": {"days": ["fri"], "from": "22:00", "to": "06:00", "except_dates": ["2026-12-25"]},
             "targets": [{"agent_id": A}]},
            {"name": "christmas", "when": {"except_dates": ["2026-12-24"], "days": []}, "targets": [{"agent_id": B}]}
        ]
    }))
    .expect("valid");
    let rule = |time: &str| policy.rule_at(at(time)).map(|(i, _)| i);
    assert_eq!(rule("2026-12-18T22:00:00Z"), Some(0), "friday 22:00");
    assert_eq!(
        rule("2026-12-19T05:59:00Z"),
        Some(0),
        "saturday 05:59, the span started friday"
    );
    assert_eq!(
        rule("2026-12-19T06:00:00Z"),
        Some(1),
        "saturday 06:00: over"
    );
    assert_eq!(rule("2026-12-17T23:00:00Z"), Some(1), "thursday night");
    assert_eq!(
        rule("2026-12-25T23:00:00Z"),
        Some(1),
        "christmas friday: skipped"
    );
    assert_eq!(
        rule("2026-12-26T01:00:00Z"),
        Some(1),
        "the skipped span's morning too"
    );
    assert_eq!(
        rule("2026-12-24T12:00:00Z"),
        None,
        "the second rule skips the 24th"
    );
}

#[test]
fn weights_split_and_the_cap_passes_over_a_full_target() {
    let policy = RoutingPolicy::from_json(&business_hours()).expect("valid");
    let plan = plan_route(Some(&policy), None, at("2026-11-02T15:00:00Z"));
    let first =
        |draw: f64, live: &dyn Fn(&RouteTarget) -> u32| plan.attempts(draw, live)[0].clone();
    let idle = |_: &RouteTarget| 0;
    assert_eq!(first(0.0, &idle), agent(A));
    assert_eq!(first(0.799, &idle), agent(A));
    assert_eq!(first(0.8, &idle), agent(B));
    assert_eq!(first(0.9999, &idle), agent(B));
    let phone = RouteTarget::Destination(Destination::parse("tel:+14155550100").expect("tel"));
    assert_eq!(
        plan.attempts(0.1, idle),
        [agent(A), agent(C), phone.clone()]
    );
    // A at its cap of 10: B takes every call, whatever the draw.
    let a_full = |t: &RouteTarget| if *t == agent(A) { 10 } else { 0 };
    assert_eq!(
        plan.attempts(0.1, a_full),
        [agent(B), agent(C), phone.clone()]
    );
    // Both full: straight to the fallback.
    let both_full = |t: &RouteTarget| {
        if *t == agent(A) || *t == agent(B) {
            10
        } else {
            0
        }
    };
    assert_eq!(plan.attempts(0.5, both_full), [agent(C), phone]);
}

#[test]
fn deleting_an_agent_takes_it_out_of_the_policy() {
    let policy = RoutingPolicy::from_json(&business_hours()).expect("valid");
    let unrelated = AgentId::parse("agt_dddddddddddd").expect("id");
    assert_eq!(policy.without_agent(&unrelated), None);
    let without_a = policy
        .without_agent(&AgentId::parse(A).expect("id"))
        .expect("named");
    assert_eq!(
        without_a.rules[0].targets,
        [WeightedTarget {
            target: agent(B),
            weight: 20
        }]
    );
    let without_b = without_a
        .without_agent(&AgentId::parse(B).expect("id"))
        .expect("named");
    // No target left: the first fallback steps up.
    assert_eq!(
        without_b.rules[0].targets,
        [WeightedTarget {
            target: agent(C),
            weight: 1
        }]
    );
    assert_eq!(without_b.rules[0].fallback.len(), 1);
    let only_phone = without_b
        .without_agent(&AgentId::parse(C).expect("id"))
        .expect("named");
    assert_eq!(only_phone.rules[0].fallback, []);
    assert!(matches!(
        only_phone.rules[0].targets[0].target,
        RouteTarget::Destination(_)
    ));
}
