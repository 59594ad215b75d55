//! `/v1/agents`: the agents numbers route calls to.

use crate::auth::Authenticated;
use crate::extract::PageQuery;
use crate::extract::{Fields, JsonBody, is_blank, page_from_query};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use switchboard_domain::{AgentId, DESTINATION_MAX_LEN, Destination, Scope};
use switchboard_server::ApiError;
use switchboard_server::AppState;
use switchboard_server::ErrorResponse;
use switchboard_server::json::{MessageBody, Page, json_response, message_response, page_response};
use switchboard_store::{Agent, AgentUpdate, FieldChange, NewAgent};
use utoipa::{IntoParams, ToSchema};

const NOT_FOUND: &str = "Agent not found";
const NAME_MAX_CHARS: usize = 255;

/// An agent numbers route calls to.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Agent)]
pub struct AgentObject {
    #[schema(example = "agt_7h3k9m2p4q6r")]
    id: String,
    #[schema(example = "Front desk")]
    name: String,
    /// (ext) How a call reaches the agent: a `sip:`/`sips:` address, a `wss://` media
    /// stream or `tel:+E164`. `null`: the agent cannot take calls yet.
    #[schema(required = true, example = "sip:frontdesk@agents.example.com")]
    destination: Option<String>,
    #[schema(format = DateTime, example = "2024-01-15T07:00:00.000Z")]
    created_at: String,
    #[schema(format = DateTime, example = "2024-01-15T07:00:00.000Z")]
    updated_at: String,
}

/// The body of a create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "documents the body; the handler checks it field by field"
)]
pub struct AgentRequest {
    /// Not blank, and one line: no control characters.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        example = "Front desk"
    )]
    name: String,
    /// (ext) A `sip:`/`sips:` address (no password, no headers), a `wss://` stream URL or
    /// `tel:+E164`.
    #[schema(
        max_length = 512,
        pattern = r"^(sips?:|wss://|tel:\+)[^\s]+$",
        example = "sip:frontdesk@agents.example.com"
    )]
    destination: Option<String>,
}

/// The body of an update: either field or both; `destination: null` clears it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "documents the body; the handler checks it field by field"
)]
pub struct AgentUpdateRequest {
    /// Not blank, and one line: no control characters.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$",
        example = "Front desk"
    )]
    name: Option<String>,
    /// (ext) A `sip:`/`sips:` address, a `wss://` stream URL or `tel:+E164`; `null` clears.
    #[schema(
        max_length = 512,
        pattern = r"^(sips?:|wss://|tel:\+)[^\s]+$",
        example = "wss://bot.example.com/stream"
    )]
    destination: Option<String>,
}

/// The `id` path parameter of an agent.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(
    dead_code,
    reason = "documents the path; handlers turn every bad id into the same 404"
)]
pub struct AgentPath {
    /// Agent id: `agt_` and 12 lowercase letters or digits.
    #[param(example = "agt_7h3k9m2p4q6r")]
    id: String,
}

impl From<Agent> for AgentObject {
    fn from(agent: Agent) -> Self {
        Self {
            id: agent.id.to_string(),
            name: agent.name,
            destination: agent.destination.map(|d| d.to_string()),
            created_at: agent.created_at.to_string(),
            updated_at: agent.updated_at.to_string(),
        }
    }
}

fn agent_id(id: Result<Path<String>, PathRejection>) -> Result<AgentId, ApiError> {
    id.ok()
        .and_then(|Path(id)| AgentId::parse(&id))
        .ok_or(ApiError::NotFound(NOT_FOUND))
}

/// `name` checked: not blank, one line, not too long.
fn check_name(fields: &mut Fields, name: Option<String>) -> Option<String> {
    let name = name.map(|n| n.trim().to_owned());
    if name.as_ref().is_some_and(|n| is_blank(n)) {
        fields.problem("name should not be empty");
        return None;
    }
    if name
        .as_ref()
        .is_some_and(|n| n.chars().count() > NAME_MAX_CHARS)
    {
        fields.problem(format!(
            "name must be shorter than or equal to {NAME_MAX_CHARS} characters"
        ));
        return None;
    }
    name
}

/// `destination`: absent keeps, `null` clears, a string must be a destination.
fn destination_change(fields: &mut Fields) -> FieldChange<Destination> {
    match fields.string_change("destination", DESTINATION_MAX_LEN) {
        FieldChange::Keep => FieldChange::Keep,
        FieldChange::Clear => FieldChange::Clear,
        FieldChange::Set(text) => match Destination::parse(&text) {
            Ok(destination) => FieldChange::Set(destination),
            Err(reason) => {
                fields.problem(format!("destination {reason}"));
                FieldChange::Keep
            }
        },
    }
}

fn new_agent(body: JsonBody) -> Result<NewAgent, ApiError> {
    let mut fields = Fields::new(body.parse()?.object);
    let name = fields.required_string("name", None);
    let name = check_name(&mut fields, name);
    let destination = match destination_change(&mut fields) {
        FieldChange::Set(destination) => Some(destination),
        FieldChange::Keep | FieldChange::Clear => None,
    };
    fields.finish()?;
    let name = name.ok_or_else(|| ApiError::Internal("validation passed without a name".into()))?;
    Ok(NewAgent { name, destination })
}

fn agent_update(body: JsonBody) -> Result<AgentUpdate, ApiError> {
    let mut fields = Fields::new(body.parse()?.object);
    let name = fields.non_null_string("name");
    let name = check_name(&mut fields, name);
    let destination = destination_change(&mut fields);
    fields.finish()?;
    if name.is_none() && destination.is_keep() {
        return Err(ApiError::bad_request(
            "give name, destination or both: the fields to change",
        ));
    }
    Ok(AgentUpdate { name, destination })
}

/// Create an agent. Needs `agents:write`.
#[utoipa::path(
    post,
    path = "/v1/agents",
    operation_id = "createAgent",
    tag = "Agents",
    request_body = AgentRequest,
    responses(
        (status = 201, description = "Created.", body = AgentObject),
        (status = 400, description = "`name` is missing, empty or too long, or `destination` is not a destination (the message says why).", body = ErrorResponse,
            example = json!({"statusCode": 400, "message": ["destination must use wss:// (carriers stream call audio only over TLS)"], "error": "Bad Request"})),
    )
)]
pub async fn create_agent(
    State(state): State<AppState>,
    auth: Authenticated,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::AgentsWrite)?;
    let new = new_agent(body)?;
    let agent = state
        .store
        .create_agent(&caller.workspace_id, new, &caller.actor())
        .await?;
    Ok(json_response(
        StatusCode::CREATED,
        &AgentObject::from(agent),
    ))
}

/// List agents, oldest first. Needs `agents:read`.
#[utoipa::path(
    get,
    path = "/v1/agents",
    operation_id = "listAgents",
    tag = "Agents",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of agents.", body = Page<AgentObject>),
        (status = 400, description = "A paging value is invalid.", body = ErrorResponse),
    )
)]
pub async fn list_agents(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::AgentsRead)?;
    let mut problems = Vec::new();
    let page = page_from_query(&query, &mut problems);
    if !problems.is_empty() {
        return Err(ApiError::BadRequest(problems));
    }
    let (agents, total) = state.store.list_agents(&caller.workspace_id, page).await?;
    let items: Vec<AgentObject> = agents.into_iter().map(AgentObject::from).collect();
    Ok(page_response(items, total, page))
}

/// Get an agent. Needs `agents:read`.
#[utoipa::path(
    get,
    path = "/v1/agents/{id}",
    operation_id = "getAgent",
    tag = "Agents",
    params(AgentPath),
    responses(
        (status = 200, description = "The agent.", body = AgentObject),
        (status = 404, description = "No such agent in this workspace.", body = ErrorResponse,
            example = json!({"statusCode": 404, "message": "Agent not found", "error": "Not Found"})),
    )
)]
pub async fn get_agent(
    State(state): State<AppState>,
    auth: Authenticated,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::AgentsRead)?;
    let id = agent_id(id)?;
    let agent = state
        .store
        .get_agent(&caller.workspace_id, &id)
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    Ok(json_response(StatusCode::OK, &AgentObject::from(agent)))
}

/// Rename an agent, or set its destination. Needs `agents:write`.
#[utoipa::path(
    patch,
    path = "/v1/agents/{id}",
    operation_id = "updateAgent",
    tag = "Agents",
    params(AgentPath),
    request_body = AgentUpdateRequest,
    responses(
        (status = 200, description = "The agent after the change.", body = AgentObject),
        (status = 400, description = "Neither field given, `name` empty or too long, or `destination` not a destination.", body = ErrorResponse),
        (status = 404, description = "No such agent in this workspace.", body = ErrorResponse),
    )
)]
pub async fn update_agent(
    State(state): State<AppState>,
    auth: Authenticated,
    id: Result<Path<String>, PathRejection>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::AgentsWrite)?;
    let id = agent_id(id)?;
    let update = agent_update(body)?;
    let agent = state
        .store
        .update_agent(&caller.workspace_id, &id, update, &caller.actor())
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    Ok(json_response(StatusCode::OK, &AgentObject::from(agent)))
}

/// Delete an agent.
///
/// Detaches it from every number that routes to it, in the same transaction. Needs
/// `agents:write`.
#[utoipa::path(
    delete,
    path = "/v1/agents/{id}",
    operation_id = "deleteAgent",
    tag = "Agents",
    params(AgentPath),
    responses(
        (status = 200, description = "Deleted.", body = MessageBody),
        (status = 404, description = "No such agent in this workspace.", body = ErrorResponse),
    )
)]
pub async fn delete_agent(
    State(state): State<AppState>,
    auth: Authenticated,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::AgentsWrite)?;
    let id = agent_id(id)?;
    if !state
        .store
        .delete_agent(&caller.workspace_id, &id, &caller.actor())
        .await?
    {
        return Err(ApiError::NotFound(NOT_FOUND));
    }
    Ok(message_response("Agent deleted successfully."))
}
