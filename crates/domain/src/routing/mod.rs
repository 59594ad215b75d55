//! A number's routing policy, and the decision it makes for a call.
//!
//! Pure: given the policy, the call's instant, how many calls each target has live and a
//! random draw, [`plan_route`] and [`RoutePlan::attempts`] say where the call goes and in
//! which order the targets are tried. Nothing here knows a carrier or a database.
//!
//! The policy's JSON shape (what the API accepts and answers) is in [`json`].

mod json;

use crate::{AgentId, Destination, Timestamp};
use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;

pub use json::{RoutingProblems, describe_weekday};

/// Ring time before a target counts as not answering, when the policy does not say.
pub const DEFAULT_RING_TIMEOUT_SECS: u32 = 20;

/// A number's routing policy: the first rule that holds at the call's time picks a target by
/// weight, then the rule's fallback is tried in order; when no rule holds, the number's
/// `inbound_agent_id` takes the call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutingPolicy {
    /// Rules' days and hours are read in this zone (daylight saving included).
    pub time_zone: Tz,
    pub rules: Vec<RoutingRule>,
    /// How long a target rings before the call moves on.
    pub ring_timeout_secs: u32,
    /// At most this many calls to this number at once per target: a target that has them
    /// is passed over as if busy. `None`: no cap.
    pub max_concurrent_calls: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutingRule {
    /// Shown in previews and in the call log; optional.
    pub name: Option<String>,
    /// When the rule holds; `None` for always.
    pub when: Option<Schedule>,
    /// One is picked by weight.
    pub targets: Vec<WeightedTarget>,
    /// Tried in order when the picked target does not answer, is busy or fails.
    pub fallback: Vec<RouteTarget>,
}

/// Days and hours of the week in the policy's time zone, less some dates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// The days (Monday first) the rule holds on; all seven when the rule names none.
    pub days: [bool; 7],
    /// Minutes after midnight, `from` included, `to` excluded (`to` may be 1440, "24:00").
    /// When `to` is before `from` the span runs overnight and belongs to the day it starts.
    /// `None`: the whole day.
    pub hours: Option<(u16, u16)>,
    /// Local dates on which the rule does not hold (holidays); an overnight span that starts
    /// on such a date does not hold either.
    pub except_dates: Vec<NaiveDate>,
}

/// An agent (reached at its destination) or a destination of its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteTarget {
    Agent(AgentId),
    Destination(Destination),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightedTarget {
    pub target: RouteTarget,
    /// Greater than zero; a target's share is its weight over the rule's total.
    pub weight: u32,
}

impl Schedule {
    /// Whether the schedule holds at this local time.
    pub fn holds(&self, local: NaiveDateTime) -> bool {
        let date = local.date();
        let day_ok = |date: NaiveDate| {
            self.days[date.weekday().num_days_from_monday() as usize]
                && !self.except_dates.contains(&date)
        };
        let minute = (local.hour() * 60 + local.minute()) as u16;
        match self.hours {
            None => day_ok(date),
            Some((from, to)) if from < to => day_ok(date) && (from..to).contains(&minute),
            Some((from, to)) => {
                (day_ok(date) && minute >= from)
                    || (minute < to && date.pred_opt().is_some_and(day_ok))
            }
        }
    }
}

impl RoutingPolicy {
    /// The local time in the policy's zone at `at`.
    pub fn local_time(&self, at: Timestamp) -> NaiveDateTime {
        Utc.timestamp_millis_opt(at.as_millis())
            .single()
            .unwrap_or_default()
            .with_timezone(&self.time_zone)
            .naive_local()
    }

    /// The first rule that holds at `at`, with its index.
    pub fn rule_at(&self, at: Timestamp) -> Option<(usize, &RoutingRule)> {
        let local = self.local_time(at);
        self.rules
            .iter()
            .enumerate()
            .find(|(_, rule)| rule.when.as_ref().is_none_or(|when| when.holds(local)))
    }

    /// Every agent the policy names, with where (`routing.rules[0].targets[1].agent_id`).
    pub fn agents(&self) -> Vec<(String, &AgentId)> {
        let mut found = Vec::new();
        for (r, rule) in self.rules.iter().enumerate() {
            let targets = rule.targets.iter().map(|t| &t.target);
            for (i, target) in targets.enumerate() {
                if let RouteTarget::Agent(agent) = target {
                    found.push((format!("routing.rules[{r}].targets[{i}].agent_id"), agent));
                }
            }
            for (i, target) in rule.fallback.iter().enumerate() {
                if let RouteTarget::Agent(agent) = target {
                    found.push((format!("routing.rules[{r}].fallback[{i}].agent_id"), agent));
                }
            }
        }
        found
    }

    /// The policy without `agent` (which is being deleted), or `None` when it does not name
    /// it. A rule left without targets takes its first remaining fallback as its target; a
    /// rule left with nothing is dropped, and calls it held for go to the next rule.
    pub fn without_agent(&self, agent: &AgentId) -> Option<RoutingPolicy> {
        if !self.agents().iter().any(|(_, a)| *a == agent) {
            return None;
        }
        let is_other =
            |target: &RouteTarget| !matches!(target, RouteTarget::Agent(a) if a == agent);
        let mut policy = self.clone();
        policy.rules = self
            .rules
            .iter()
            .filter_map(|rule| {
                let mut rule = rule.clone();
                rule.targets.retain(|t| is_other(&t.target));
                rule.fallback.retain(is_other);
                if rule.targets.is_empty() && !rule.fallback.is_empty() {
                    let target = rule.fallback.remove(0);
                    rule.targets.push(WeightedTarget { target, weight: 1 });
                }
                (!rule.targets.is_empty()).then_some(rule)
            })
            .collect();
        Some(policy)
    }
}

/// Where a call at one instant goes, before any target is tried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutePlan {
    /// The index of the rule that holds; `None` when the default agent (or nobody) takes it.
    pub rule: Option<usize>,
    pub rule_name: Option<String>,
    /// Why, in a sentence: which rule holds at what local time, or why none does.
    pub reason: String,
    /// One of these is picked by weight; empty when the call has nowhere to go.
    pub targets: Vec<WeightedTarget>,
    pub fallback: Vec<RouteTarget>,
    pub ring_timeout_secs: u32,
    pub max_concurrent_calls: Option<u32>,
}

impl RoutePlan {
    /// Whether the call has anywhere to go at all.
    pub fn is_routable(&self) -> bool {
        !self.targets.is_empty() || !self.fallback.is_empty()
    }

    /// The order in which targets are tried: one target picked by weight with `draw` (in
    /// [0, 1)) among those below the concurrency cap, then the fallback in order, passing
    /// over targets at the cap. `live_calls` says how many calls a target has now.
    pub fn attempts(
        &self,
        draw: f64,
        live_calls: impl Fn(&RouteTarget) -> u32,
    ) -> Vec<RouteTarget> {
        let free = |target: &RouteTarget| {
            self.max_concurrent_calls
                .is_none_or(|cap| live_calls(target) < cap)
        };
        let open: Vec<&WeightedTarget> = self.targets.iter().filter(|t| free(&t.target)).collect();
        let mut order = Vec::new();
        if let Some(picked) = pick_by_weight(&open, draw) {
            order.push(picked.target.clone());
        }
        for target in &self.fallback {
            if free(target) && !order.contains(target) {
                order.push(target.clone());
            }
        }
        order
    }
}

/// The target whose share of the total weight holds `draw` (clamped to [0, 1)).
fn pick_by_weight<'a>(targets: &[&'a WeightedTarget], draw: f64) -> Option<&'a WeightedTarget> {
    let total: u64 = targets.iter().map(|t| u64::from(t.weight)).sum();
    if total == 0 {
        return None;
    }
    let point = ((draw.clamp(0.0, 1.0) * total as f64) as u64).min(total - 1);
    let mut below = 0;
    targets.iter().copied().find(|t| {
        below += u64::from(t.weight);
        point < below
    })
}

/// What a call at `at` to a number with this policy (if any) and default agent would do.
pub fn plan_route(
    policy: Option<&RoutingPolicy>,
    default_agent: Option<&AgentId>,
    at: Timestamp,
) -> RoutePlan {
    let default_targets: Vec<WeightedTarget> = default_agent
        .map(|agent| WeightedTarget {
            target: RouteTarget::Agent(agent.clone()),
            weight: 1,
        })
        .into_iter()
        .collect();
    let to_default = |why: String| {
        let reason = if default_agent.is_some() {
            format!("{why}: the number's inbound agent takes the call")
        } else {
            format!("{why}, and the number has no inbound agent: the call cannot be routed")
        };
        RoutePlan {
            rule: None,
            rule_name: None,
            reason,
            targets: default_targets.clone(),
            fallback: Vec::new(),
            ring_timeout_secs: policy.map_or(DEFAULT_RING_TIMEOUT_SECS, |p| p.ring_timeout_secs),
            max_concurrent_calls: policy.and_then(|p| p.max_concurrent_calls),
        }
    };
    let Some(policy) = policy else {
        return to_default("no routing policy".into());
    };
    let local = policy.local_time(at);
    let when = format!(
        "{} {} {}",
        describe_weekday(local.weekday()),
        local.format("%Y-%m-%d %H:%M"),
        policy.time_zone.name()
    );
    match policy.rule_at(at) {
        None => to_default(format!("no rule holds at {when}")),
        Some((index, rule)) => {
            let named = rule
                .name
                .as_ref()
                .map_or_else(String::new, |name| format!(" ({name})"));
            let reason = if rule.when.is_some() {
                format!("rule {}{named} holds at {when}", index + 1)
            } else {
                format!("rule {}{named} always holds", index + 1)
            };
            RoutePlan {
                rule: Some(index),
                rule_name: rule.name.clone(),
                reason,
                targets: rule.targets.clone(),
                fallback: rule.fallback.clone(),
                ring_timeout_secs: policy.ring_timeout_secs,
                max_concurrent_calls: policy.max_concurrent_calls,
            }
        }
    }
}

/// Monday first, as `Schedule::days` holds them.
pub const WEEKDAYS: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

#[cfg(test)]
mod tests;
