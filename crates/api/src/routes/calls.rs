//! `/v1/calls`: the call log — every inbound call a carrier asked Switchboard about, where it
//! went and how it ended.

use crate::auth::Authenticated;
use crate::extract::page_from_query;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use std::collections::HashMap;
use switchboard_domain::{AgentId, CallId, CallOutcome, PhoneNumberId, Scope, Timestamp};
use switchboard_server::json::{Page, json_response, page_response};
use switchboard_server::{ApiError, AppState, ErrorResponse};
use switchboard_store::{Call, CallFilter};
use utoipa::{IntoParams, ToSchema};

const NOT_FOUND: &str = "Call not found";

/// One attempt to connect a call to a target.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CallAttempt)]
pub struct AttemptObject {
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
    attempts: Vec<AttemptObject>,
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
                .map(|a| AttemptObject {
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

/// How a call ended.
#[derive(Debug, ToSchema)]
#[schema(as = CallOutcome)]
#[allow(
    dead_code,
    reason = "documents the values; the handler parses them itself"
)]
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeName {
    Completed,
    NoAnswer,
    Busy,
    Failed,
    Unroutable,
    Rejected,
}

/// Filters and paging of the call log.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, reason = "documents the query; the handler reads it itself")]
pub struct CallsQuery {
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    #[param(minimum = 1, maximum = 1000000)]
    page: Option<u32>,
    /// Calls to this number (its id).
    number_id: Option<String>,
    /// Calls that tried this agent.
    agent_id: Option<String>,
    /// How the calls ended.
    #[param(inline)]
    outcome: Option<OutcomeName>,
    /// Started at or after this RFC 3339 time.
    #[param(format = DateTime)]
    since: Option<String>,
    /// Started before this RFC 3339 time.
    #[param(format = DateTime)]
    until: Option<String>,
}

/// The filters of the query; bad values are added to `problems`. `None`: nothing can match
/// (an id of the wrong shape names no number or agent).
fn call_filter(query: &HashMap<String, String>, problems: &mut Vec<String>) -> Option<CallFilter> {
    let text = |name: &str| query.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    // An empty time or outcome is a value, and not a valid one.
    let given = |name: &str| query.get(name).map(|v| v.trim());
    let mut time = |name: &str| {
        given(name).and_then(|t| {
            Timestamp::parse_rfc3339(t).or_else(|| {
                problems.push(format!(
                    "{name} must be an RFC 3339 time, e.g. 2026-11-30T09:00:00Z"
                ));
                None
            })
        })
    };
    let (since, until) = (time("since"), time("until"));
    let outcome = given("outcome").and_then(|o| {
        CallOutcome::parse(o).or_else(|| {
            let names: Vec<&str> = CallOutcome::ALL.iter().map(|o| o.as_str()).collect();
            problems.push(format!("outcome must be one of: {}", names.join(", ")));
            None
        })
    });
    let number = text("number_id").map(PhoneNumberId::parse);
    let agent = text("agent_id").map(AgentId::parse);
    if matches!(number, Some(None)) || matches!(agent, Some(None)) {
        return None;
    }
    Some(CallFilter {
        phone_number_id: number.flatten(),
        agent_id: agent.flatten(),
        outcome,
        since,
        until,
    })
}

/// List calls (ext).
///
/// Every inbound call a carrier asked Switchboard about, newest first, with where it went and
/// how it ended. Needs `calls:read`.
#[utoipa::path(
    get,
    path = "/v1/calls",
    operation_id = "listCalls",
    tag = "Calls",
    params(CallsQuery),
    responses(
        (status = 200, description = "A page of calls, newest first.", body = Page<CallObject>),
        (status = 400, description = "A filter or paging value is invalid.", body = ErrorResponse),
    )
)]
pub async fn list_calls(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::CallsRead)?;
    let mut problems = Vec::new();
    let page = page_from_query(&query, &mut problems);
    let filter = call_filter(&query, &mut problems);
    if !problems.is_empty() {
        return Err(ApiError::BadRequest(problems));
    }
    let Some(filter) = filter else {
        return Ok(page_response(Vec::<CallObject>::new(), 0, page));
    };
    let (calls, total) = state
        .store
        .list_calls(&caller.workspace_id, &filter, page)
        .await?;
    let items: Vec<CallObject> = calls.into_iter().map(CallObject::from).collect();
    Ok(page_response(items, total, page))
}

/// The `id` path parameter of a call.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(
    dead_code,
    reason = "documents the path; the handler turns every bad id into the same 404"
)]
pub struct CallPath {
    /// Call id: `cal_` and 12 lowercase letters or digits.
    #[param(example = "cal_3k8m2x9q4w7z")]
    id: String,
}

/// Get a call (ext). Needs `calls:read`.
#[utoipa::path(
    get,
    path = "/v1/calls/{id}",
    operation_id = "getCall",
    tag = "Calls",
    params(CallPath),
    responses(
        (status = 200, description = "The call.", body = CallObject),
        (status = 404, description = "No such call in this workspace.", body = ErrorResponse),
    )
)]
pub async fn get_call(
    State(state): State<AppState>,
    auth: Authenticated,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::CallsRead)?;
    let id = id
        .ok()
        .and_then(|Path(id)| CallId::parse(&id))
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    let call = state
        .store
        .get_call(&caller.workspace_id, &id)
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    Ok(json_response(StatusCode::OK, &CallObject::from(call)))
}
