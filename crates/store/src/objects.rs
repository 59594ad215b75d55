//! The phone-number and call objects, kept here so that the API's answers and the webhook
//! events written in a change's (or a call's) transaction serialize them the same way.

use crate::Call;
use serde::Serialize;
use switchboard_domain::{CallOutcome, PhoneNumber, Timestamp};
use utoipa::ToSchema;

/// The phone-number object of the contract (SPEC §4): every field, in this order.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OrganizationPhoneNumber)]
pub struct PhoneNumberObject {
    #[schema(example = "phn_4k2m9x7q1z3b")]
    pub id: String,
    /// E.164.
    #[schema(example = "+14155550100")]
    pub phone_number: String,
    /// ISO 3166-1 alpha-2, derived from the number.
    #[schema(example = "US")]
    pub country_code: String,
    /// `local`, `toll_free` or `mobile`.
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "local")]
    pub number_type: &'static str,
    /// Monthly rental in US dollars, a decimal string.
    #[schema(example = "1.15")]
    pub monthly_cost_usd: String,
    /// `voice` and/or `sms`.
    #[schema(value_type = Vec<String>, example = json!(["voice"]))]
    pub capabilities: Vec<&'static str>,
    #[schema(required = true)]
    pub label: Option<String>,
    #[schema(required = true, example = "US Sales Line")]
    pub nickname: Option<String>,
    /// Same as `inbound_agent_id`, kept for older clients.
    #[schema(required = true)]
    pub agent_id: Option<String>,
    /// The agent that answers calls to this number.
    #[schema(required = true)]
    pub inbound_agent_id: Option<String>,
    /// The agent that places calls from this number.
    #[schema(required = true)]
    pub outbound_agent_id: Option<String>,
    /// `active`, or `pending` while a purchase is under way.
    #[schema(value_type = String, example = "active")]
    pub status: &'static str,
    /// `sandbox`, `plivo`, `sip_trunk`, or the provider an imported number came from.
    #[schema(example = "sandbox")]
    pub provider: String,
    /// True for numbers linked over a SIP trunk.
    pub sip_trunk_enabled: bool,
    /// The workspace's default number; it cannot be released.
    pub is_default: bool,
    #[schema(format = DateTime, example = "2024-01-15T07:00:00.000Z")]
    pub created_at: String,
    #[schema(format = DateTime, example = "2024-01-15T07:00:00.000Z")]
    pub updated_at: String,
    /// (ext) How calls are routed beyond `inbound_agent_id`; `null` when the number has no
    /// policy and its inbound agent takes every call.
    #[schema(required = true, value_type = Option<RoutingPolicyDoc>)]
    pub routing: Option<serde_json::Value>,
}

impl From<PhoneNumber> for PhoneNumberObject {
    fn from(n: PhoneNumber) -> Self {
        let inbound = n.inbound_agent_id.map(|id| id.to_string());
        Self {
            id: n.id.to_string(),
            phone_number: n.phone_number,
            country_code: n.country_code,
            number_type: n.number_type.as_str(),
            monthly_cost_usd: n.monthly_cost.to_string(),
            capabilities: n.capabilities.names(),
            label: n.label,
            nickname: n.nickname,
            agent_id: inbound.clone(),
            inbound_agent_id: inbound,
            outbound_agent_id: n.outbound_agent_id.map(|id| id.to_string()),
            status: n.status.as_str(),
            provider: n.provider,
            sip_trunk_enabled: n.sip_trunk_enabled,
            is_default: n.is_default,
            created_at: n.created_at.to_string(),
            updated_at: n.updated_at.to_string(),
            routing: n.routing.map(|r| r.to_json()),
        }
    }
}

/// (ext) A number's routing policy. The first rule whose `when` holds at the call's time (in
/// `time_zone`) picks one of its `targets` by weight; if that target does not answer, is busy
/// or fails, the call moves down `fallback` in order. When no rule holds, the number's
/// `inbound_agent_id` takes the call. Answers always carry every key.
#[derive(Debug, ToSchema)]
#[schema(as = RoutingPolicy)]
#[allow(
    dead_code,
    reason = "documents the policy's JSON; the domain reads and writes it"
)]
pub struct RoutingPolicyDoc {
    /// An IANA time zone name; daylight saving is followed.
    #[schema(example = "America/New_York")]
    time_zone: String,
    /// Tried in order; the first that holds takes the call.
    #[schema(max_items = 50)]
    rules: Vec<RoutingRuleDoc>,
    /// Seconds a target rings before the call moves on (default 20).
    #[schema(minimum = 5, maximum = 120, example = 20)]
    ring_timeout_secs: Option<u32>,
    /// Calls to this number one target may have at once; a target that has them is passed
    /// over as if busy. `null`: no cap.
    #[schema(minimum = 1, maximum = 100000, example = 10)]
    max_concurrent_calls: Option<u32>,
}

/// One rule of a routing policy.
#[derive(Debug, ToSchema)]
#[schema(as = RoutingRule)]
#[allow(dead_code, reason = "documents the policy's JSON")]
pub struct RoutingRuleDoc {
    /// Shown in previews and the call log.
    #[schema(min_length = 1, max_length = 100, example = "business hours")]
    name: Option<String>,
    /// When the rule holds; absent or `null`: always.
    when: Option<RoutingScheduleDoc>,
    /// One is picked per call, by weight.
    #[schema(min_items = 1, max_items = 20)]
    targets: Vec<WeightedTargetDoc>,
    /// Tried in order when the picked target does not answer, is busy or fails.
    #[schema(max_items = 20)]
    fallback: Option<Vec<RouteTargetDoc>>,
}

/// Days and hours in the policy's time zone. `from` is included, `to` excluded; a `to`
/// before `from` runs overnight and belongs to the day it starts. Without `from` and `to`,
/// the whole day.
#[derive(Debug, ToSchema)]
#[schema(as = RoutingSchedule)]
#[allow(dead_code, reason = "documents the policy's JSON")]
pub struct RoutingScheduleDoc {
    /// `mon` … `sun`; every day when absent or empty.
    #[schema(example = json!(["mon", "tue", "wed", "thu", "fri"]))]
    days: Option<Vec<Weekday>>,
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$", example = "09:00")]
    from: Option<String>,
    #[schema(pattern = "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$", example = "17:30")]
    to: Option<String>,
    /// Local dates (holidays) on which the rule does not hold.
    #[schema(max_items = 400, value_type = Option<Vec<String>>, example = json!(["2026-12-25"]))]
    except_dates: Option<Vec<String>>,
}

/// A day of the week.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Weekday)]
#[allow(dead_code, reason = "documents the policy's JSON")]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

/// A target and its weight. Exactly one of `agent_id` and `destination`.
#[derive(Debug, ToSchema)]
#[schema(as = WeightedRouteTarget)]
#[allow(dead_code, reason = "documents the policy's JSON")]
pub struct WeightedTargetDoc {
    /// An agent of this workspace, reached at its `destination`.
    #[schema(example = "agt_7h3k9m2p4q6r")]
    agent_id: Option<String>,
    /// A `sip:`, `sips:`, `wss://` or `tel:+E164` URI.
    #[schema(max_length = 512, example = "tel:+14155550100")]
    destination: Option<String>,
    /// Greater than zero (default 1); the share is the weight over the rule's total.
    #[schema(minimum = 1, maximum = 10000, example = 80)]
    weight: Option<u32>,
}

/// A fallback step. Exactly one of `agent_id` and `destination`.
#[derive(Debug, ToSchema)]
#[schema(as = RouteTarget)]
#[allow(dead_code, reason = "documents the policy's JSON")]
pub struct RouteTargetDoc {
    /// An agent of this workspace, reached at its `destination`.
    #[schema(example = "agt_7h3k9m2p4q6r")]
    agent_id: Option<String>,
    /// A `sip:`, `sips:`, `wss://` or `tel:+E164` URI.
    #[schema(max_length = 512, example = "tel:+14155550100")]
    destination: Option<String>,
}

/// One attempt to connect a call to a target.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CallAttempt)]
pub struct CallAttemptObject {
    /// The agent tried, when the target is one.
    #[schema(required = true, example = "agt_7h3k9m2p4q6r")]
    agent_id: Option<String>,
    #[schema(example = "sip:frontdesk@agents.example.com")]
    destination: String,
    /// `completed` (connected), `no_answer`, `busy` or `failed`; `null` while it rings.
    #[schema(required = true, example = "no_answer")]
    outcome: Option<&'static str>,
    #[schema(format = DateTime)]
    started_at: String,
    #[schema(required = true, format = DateTime)]
    ended_at: Option<String>,
}

/// An inbound call.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Call)]
pub struct CallObject {
    #[schema(example = "cal_3k8m2x9q4w7z")]
    id: String,
    #[schema(example = "phn_4k2m9x7q1z3b")]
    phone_number_id: String,
    /// The number called.
    #[schema(example = "+14155550100")]
    phone_number: String,
    /// `twilio`, `telnyx` or `plivo`.
    #[schema(example = "twilio")]
    carrier: String,
    /// The carrier's id of the call (Twilio's `CallSid`).
    #[schema(example = "CA1234567890abcdef1234567890abcdef")]
    carrier_call_id: String,
    /// Who called.
    #[schema(example = "+14155550123")]
    caller: String,
    #[schema(format = DateTime)]
    started_at: String,
    /// When a target took the call.
    #[schema(required = true, format = DateTime)]
    answered_at: Option<String>,
    #[schema(required = true, format = DateTime)]
    ended_at: Option<String>,
    /// Seconds, as the carrier reported.
    #[schema(required = true, example = 42)]
    duration_secs: Option<i64>,
    /// The routing policy's rule that held; `null` when the inbound agent (or nobody) took it.
    #[schema(required = true)]
    rule: Option<CallRule>,
    /// Why the call went where it went.
    #[schema(example = "rule 1 (business hours) holds at mon 2026-11-30 09:30 America/New_York")]
    reason: String,
    /// `completed`, `no_answer`, `busy`, `failed`, `unroutable` or `rejected`; `null` while
    /// the call is under way.
    #[schema(required = true, example = "completed")]
    outcome: Option<&'static str>,
    /// Each target tried, in order.
    attempts: Vec<CallAttemptObject>,
}

/// The rule that held for a call.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallRule {
    index: u32,
    #[schema(required = true)]
    name: Option<String>,
}

impl From<Call> for CallObject {
    fn from(call: Call) -> Self {
        let time = |t: Option<Timestamp>| t.map(|t| t.to_string());
        Self {
            id: call.id.to_string(),
            phone_number_id: call.phone_number_id.to_string(),
            phone_number: call.phone_number,
            carrier: call.carrier,
            carrier_call_id: call.carrier_call_id,
            caller: call.caller,
            started_at: call.started_at.to_string(),
            answered_at: time(call.answered_at),
            ended_at: time(call.ended_at),
            duration_secs: call.duration_secs,
            rule: call.rule_index.map(|index| CallRule {
                index,
                name: call.rule_name,
            }),
            reason: call.reason,
            outcome: call.outcome.map(CallOutcome::as_str),
            attempts: call
                .attempts
                .into_iter()
                .map(|a| CallAttemptObject {
                    agent_id: a.agent_id.map(|id| id.to_string()),
                    destination: a.destination,
                    outcome: a.outcome.map(CallOutcome::as_str),
                    started_at: a.started_at.to_string(),
                    ended_at: time(a.ended_at),
                })
                .collect(),
        }
    }
}
