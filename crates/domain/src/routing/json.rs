//! The routing policy as JSON: what the API accepts (every problem named by its path, e.g.
//! `routing.rules[0].targets[1].weight`) and what it answers and stores (one canonical form,
//! every key present).
//!
//! ```json
//! {"time_zone": "America/New_York",
//!  "rules": [{"name": "business hours",
//!             "when": {"days": ["mon","tue"], "from": "09:00", "to": "17:30",
//!                      "except_dates": ["2026-12-25"]},
//!             "targets": [{"agent_id": "agt_…", "weight": 80}, {"destination": "sip:…", "weight": 20}],
//!             "fallback": [{"agent_id": "agt_…"}, {"destination": "tel:+14155550100"}]}],
//!  "ring_timeout_secs": 20,
//!  "max_concurrent_calls": 10}
//! ```

use super::*;
use serde_json::{Map, Value, json};

/// Most rules a policy may hold.
pub const MAX_RULES: usize = 50;
/// Most targets, and most fallback steps, of one rule.
pub const MAX_TARGETS: usize = 20;
/// Most dates a schedule may skip.
pub const MAX_EXCEPT_DATES: usize = 400;
/// Largest weight of one target.
pub const MAX_WEIGHT: u64 = 10_000;
/// Longest rule name, in characters.
pub const RULE_NAME_MAX_CHARS: usize = 100;
/// Ring timeouts accepted, in seconds (carriers accept 5 to 120 or more).
pub const RING_TIMEOUT_SECS: std::ops::RangeInclusive<u64> = 5..=120;
/// Largest concurrency cap.
pub const MAX_CONCURRENT_CALLS: u64 = 100_000;

/// Every problem of a policy, each a sentence starting with the field's path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct RoutingProblems(pub Vec<String>);

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// `mon` … `sun`.
pub fn describe_weekday(day: Weekday) -> &'static str {
    DAY_NAMES[day.num_days_from_monday() as usize]
}

/// Walks a JSON value, collecting every problem rather than stopping at the first.
struct Reader {
    problems: Vec<String>,
}

impl Reader {
    fn problem(&mut self, path: &str, message: impl std::fmt::Display) {
        self.problems.push(format!("{path} {message}"));
    }

    /// The object's fields, or a problem; a key outside `known` is a problem too.
    fn object<'v>(
        &mut self,
        value: &'v Value,
        path: &str,
        known: &[&str],
    ) -> Option<&'v Map<String, Value>> {
        let Value::Object(object) = value else {
            self.problem(path, "must be an object");
            return None;
        };
        for key in object.keys().filter(|k| !known.contains(&k.as_str())) {
            self.problem(
                &format!("{path}.{key}"),
                "is not a field of a routing policy",
            );
        }
        Some(object)
    }

    fn array<'v>(
        &mut self,
        value: Option<&'v Value>,
        path: &str,
        max: usize,
    ) -> Option<&'v [Value]> {
        match value {
            None | Some(Value::Null) => Some(&[]),
            Some(Value::Array(items)) if items.len() > max => {
                self.problem(path, format!("may hold at most {max} entries"));
                None
            }
            Some(Value::Array(items)) => Some(items),
            Some(_) => {
                self.problem(path, "must be an array");
                None
            }
        }
    }

    fn string<'v>(&mut self, value: &'v Value, path: &str) -> Option<&'v str> {
        match value {
            Value::String(s) if s.chars().any(char::is_control) => {
                self.problem(path, "must not contain control characters");
                None
            }
            Value::String(s) => Some(s),
            _ => {
                self.problem(path, "must be a string");
                None
            }
        }
    }

    fn integer(
        &mut self,
        value: &Value,
        path: &str,
        range: std::ops::RangeInclusive<u64>,
    ) -> Option<u32> {
        match value.as_u64().filter(|n| range.contains(n)) {
            Some(n) => u32::try_from(n).ok(),
            None => {
                self.problem(
                    path,
                    format!(
                        "must be an integer from {} to {}",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
        }
    }

    fn policy(&mut self, value: &Value) -> Option<RoutingPolicy> {
        let path = "routing";
        let object = self.object(
            value,
            path,
            &[
                "time_zone",
                "rules",
                "ring_timeout_secs",
                "max_concurrent_calls",
            ],
        )?;
        let time_zone = match object.get("time_zone") {
            None | Some(Value::Null) => {
                self.problem("routing.time_zone", "is required: an IANA time zone name, e.g. America/New_York");
                None
            }
            Some(value) => self.string(value, "routing.time_zone").and_then(|name| {
                let zone = name.parse::<Tz>().ok();
                if zone.is_none() {
                    self.problem("routing.time_zone", format!("{name:?} is not an IANA time zone name (e.g. America/New_York, Europe/London, UTC)"));
                }
                zone
            }),
        };
        let rules = self
            .array(object.get("rules"), "routing.rules", MAX_RULES)
            .map(|items| {
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, rule)| self.rule(rule, &format!("routing.rules[{i}]")))
                    .collect::<Vec<_>>()
            });
        let ring_timeout_secs = match object.get("ring_timeout_secs") {
            None | Some(Value::Null) => Some(DEFAULT_RING_TIMEOUT_SECS),
            Some(value) => self.integer(value, "routing.ring_timeout_secs", RING_TIMEOUT_SECS),
        };
        let max_concurrent_calls = match object.get("max_concurrent_calls") {
            None | Some(Value::Null) => Some(None),
            Some(value) => self
                .integer(
                    value,
                    "routing.max_concurrent_calls",
                    1..=MAX_CONCURRENT_CALLS,
                )
                .map(Some),
        };
        Some(RoutingPolicy {
            time_zone: time_zone?,
            rules: rules?,
            ring_timeout_secs: ring_timeout_secs?,
            max_concurrent_calls: max_concurrent_calls?,
        })
    }

    fn rule(&mut self, value: &Value, path: &str) -> Option<RoutingRule> {
        let object = self.object(value, path, &["name", "when", "targets", "fallback"])?;
        let name = match object.get("name") {
            None | Some(Value::Null) => Some(None),
            Some(value) => self
                .string(value, &format!("{path}.name"))
                .and_then(|name| {
                    if name.trim().is_empty() || name.chars().count() > RULE_NAME_MAX_CHARS {
                        self.problem(
                            &format!("{path}.name"),
                            format!("must be 1 to {RULE_NAME_MAX_CHARS} characters, or null"),
                        );
                        None
                    } else {
                        Some(Some(name.to_owned()))
                    }
                }),
        };
        let when = match object.get("when") {
            None | Some(Value::Null) => Some(None),
            Some(value) => self.schedule(value, &format!("{path}.when")).map(Some),
        };
        let targets_path = format!("{path}.targets");
        let targets = match object.get("targets") {
            None | Some(Value::Null) => {
                self.problem(&targets_path, "is required: at least one target");
                None
            }
            Some(Value::Array(items)) if items.is_empty() => {
                self.problem(&targets_path, "must hold at least one target");
                None
            }
            value => self.array(value, &targets_path, MAX_TARGETS).map(|items| {
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, t)| self.weighted_target(t, &format!("{targets_path}[{i}]")))
                    .collect::<Vec<_>>()
            }),
        };
        let fallback_path = format!("{path}.fallback");
        let fallback = self
            .array(object.get("fallback"), &fallback_path, MAX_TARGETS)
            .map(|items| {
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, t)| {
                        let path = format!("{fallback_path}[{i}]");
                        let object = self.object(t, &path, &["agent_id", "destination"])?;
                        self.target(object, &path)
                    })
                    .collect::<Vec<_>>()
            });
        Some(RoutingRule {
            name: name?,
            when: when?,
            targets: targets?,
            fallback: fallback?,
        })
    }

    fn weighted_target(&mut self, value: &Value, path: &str) -> Option<WeightedTarget> {
        let object = self.object(value, path, &["agent_id", "destination", "weight"])?;
        let weight = match object.get("weight") {
            None | Some(Value::Null) => Some(1),
            Some(value) => self.integer(value, &format!("{path}.weight"), 1..=MAX_WEIGHT),
        };
        let target = self.target(object, path);
        Some(WeightedTarget {
            target: target?,
            weight: weight?,
        })
    }

    /// `{"agent_id": …}` or `{"destination": …}`, exactly one.
    fn target(&mut self, object: &Map<String, Value>, path: &str) -> Option<RouteTarget> {
        let present = |key: &str| object.get(key).is_some_and(|v| !v.is_null());
        match (present("agent_id"), present("destination")) {
            (true, false) => {
                let path = format!("{path}.agent_id");
                let id = self.string(&object["agent_id"], &path)?;
                match AgentId::parse(id) {
                    Some(agent) => Some(RouteTarget::Agent(agent)),
                    None => {
                        self.problem(&path, "is not an agent of this workspace");
                        None
                    }
                }
            }
            (false, true) => {
                let path = format!("{path}.destination");
                let text = self.string(&object["destination"], &path)?;
                match Destination::parse(text) {
                    Ok(destination) => Some(RouteTarget::Destination(destination)),
                    Err(reason) => {
                        self.problem(&path, reason);
                        None
                    }
                }
            }
            _ => {
                self.problem(path, "must name either an agent_id or a destination");
                None
            }
        }
    }

    fn schedule(&mut self, value: &Value, path: &str) -> Option<Schedule> {
        let object = self.object(value, path, &["days", "from", "to", "except_dates"])?;
        let days_path = format!("{path}.days");
        let days = self
            .array(object.get("days"), &days_path, 7)
            .and_then(|items| {
                if items.is_empty() {
                    return Some([true; 7]);
                }
                let mut days = [false; 7];
                for (i, item) in items.iter().enumerate() {
                    let name = self.string(item, &format!("{days_path}[{i}]"))?;
                    match DAY_NAMES.iter().position(|d| d.eq_ignore_ascii_case(name)) {
                        Some(day) => days[day] = true,
                        None => {
                            self.problem(
                                &format!("{days_path}[{i}]"),
                                format!(
                                    "{name:?} is not a day: use mon, tue, wed, thu, fri, sat or sun"
                                ),
                            );
                            return None;
                        }
                    }
                }
                Some(days)
            });
        let time = |reader: &mut Reader, key: &str| match object.get(key) {
            None | Some(Value::Null) => Some(None),
            Some(value) => {
                let path = format!("{path}.{key}");
                let text = reader.string(value, &path)?;
                let minutes = parse_clock(text, key == "to");
                if minutes.is_none() {
                    reader.problem(
                        &path,
                        format!(
                            "{text:?} is not a time of day: use HH:MM, 00:00 to 23:59{}",
                            if key == "to" { " or 24:00" } else { "" }
                        ),
                    );
                }
                minutes.map(Some)
            }
        };
        let (from, to) = (time(self, "from"), time(self, "to"));
        let hours = match (from?, to?) {
            (None, None) => None,
            (Some(from), Some(to)) if from == to || (from == 0 && to == 1440) => {
                self.problem(path, "from and to must differ and span less than a day; leave both out for the whole day");
                return None;
            }
            (Some(from), Some(to)) => Some((from, to)),
            _ => {
                self.problem(path, "needs both from and to, or neither (the whole day)");
                return None;
            }
        };
        let dates_path = format!("{path}.except_dates");
        let except_dates = self
            .array(object.get("except_dates"), &dates_path, MAX_EXCEPT_DATES)
            .and_then(|items| {
                let mut dates = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let path = format!("{dates_path}[{i}]");
                    let text = self.string(item, &path)?;
                    match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
                        Ok(date) if text.len() == 10 => dates.push(date),
                        _ => {
                            self.problem(&path, format!("{text:?} is not a date: use YYYY-MM-DD"));
                            return None;
                        }
                    }
                }
                dates.sort();
                dates.dedup();
                Some(dates)
            });
        Some(Schedule {
            days: days?,
            hours,
            except_dates: except_dates?,
        })
    }
}

/// `HH:MM` as minutes after midnight; `24:00` (1440) only as an end.
fn parse_clock(text: &str, is_end: bool) -> Option<u16> {
    let (hours, minutes) = text.split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    let (hours, minutes): (u16, u16) = (hours.parse().ok()?, minutes.parse().ok()?);
    match (hours, minutes) {
        (24, 0) if is_end => Some(1440),
        (0..=23, 0..=59) => Some(hours * 60 + minutes),
        _ => None,
    }
}

fn clock(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

impl RoutingPolicy {
    /// The policy in `value` (the `routing` field of a request, or what was stored), or every
    /// problem with it. Agent ids are checked for form only: whether they name agents of the
    /// workspace is the store's to say, in the transaction that saves the policy.
    pub fn from_json(value: &Value) -> Result<Self, RoutingProblems> {
        let mut reader = Reader {
            problems: Vec::new(),
        };
        match reader.policy(value) {
            Some(policy) if reader.problems.is_empty() => Ok(policy),
            _ => {
                if reader.problems.is_empty() {
                    reader.problems.push("routing is invalid".into());
                }
                Err(RoutingProblems(reader.problems))
            }
        }
    }

    /// The canonical JSON form: every key present, days in week order, dates sorted.
    pub fn to_json(&self) -> Value {
        json!({
            "time_zone": self.time_zone.name(),
            "rules": self.rules.iter().map(RoutingRule::to_json).collect::<Vec<_>>(),
            "ring_timeout_secs": self.ring_timeout_secs,
            "max_concurrent_calls": self.max_concurrent_calls,
        })
    }
}

impl RoutingRule {
    fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "when": self.when.as_ref().map(Schedule::to_json),
            "targets": self.targets.iter().map(WeightedTarget::to_json).collect::<Vec<_>>(),
            "fallback": self.fallback.iter().map(RouteTarget::to_json).collect::<Vec<_>>(),
        })
    }
}

impl Schedule {
    fn to_json(&self) -> Value {
        let days: Vec<&str> = DAY_NAMES
            .iter()
            .zip(self.days)
            .filter_map(|(name, on)| on.then_some(*name))
            .collect();
        let dates: Vec<String> = self
            .except_dates
            .iter()
            .map(|d| d.format("%Y-%m-%d").to_string())
            .collect();
        json!({
            "days": days,
            "from": self.hours.map(|(from, _)| clock(from)),
            "to": self.hours.map(|(_, to)| clock(to)),
            "except_dates": dates,
        })
    }
}

impl WeightedTarget {
    pub fn to_json(&self) -> Value {
        let mut value = self.target.to_json();
        value["weight"] = json!(self.weight);
        value
    }
}

impl RouteTarget {
    /// `{"agent_id": …}` or `{"destination": …}`.
    pub fn to_json(&self) -> Value {
        match self {
            RouteTarget::Agent(agent) => json!({"agent_id": agent.as_str()}),
            RouteTarget::Destination(destination) => json!({"destination": destination.as_str()}),
        }
    }
}
