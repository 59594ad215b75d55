//! `/v1/calls`: the call log — every inbound call a carrier asked Switchboard about, where it
//! went and how it ended.

use crate::auth::Authenticated;
use crate::extract::{page_from_query, query_time};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use std::collections::HashMap;
use switchboard_domain::{AgentId, CallId, CallOutcome, PhoneNumberId, Scope};
use switchboard_server::json::{Page, json_response, page_response};
use switchboard_server::{ApiError, AppState, ErrorResponse};
use switchboard_store::{CallFilter, CallObject};
use utoipa::{IntoParams, ToSchema};

const NOT_FOUND: &str = "Call not found";

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
    let since = query_time(query, "since", problems);
    let until = query_time(query, "until", problems);
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
