//! `/v1/agents`: the agents numbers route calls to.

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::extract::{Fields, JsonBody, page_from_query};
use crate::json::{json_response, page_response};
use crate::router::AppState;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;
use switchboard_domain::{AgentId, Scope};
use switchboard_store::Agent;

const NOT_FOUND: &str = "Agent not found";
const NAME_MAX_CHARS: usize = 255;

#[derive(Serialize)]
struct AgentObject {
    id: String,
    name: String,
    created_at: String,
    updated_at: String,
}

impl From<Agent> for AgentObject {
    fn from(agent: Agent) -> Self {
        Self {
            id: agent.id.to_string(),
            name: agent.name,
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

fn name_field(body: JsonBody) -> Result<String, ApiError> {
    let mut fields = Fields::new(body.object);
    let name = fields.required_string("name", None);
    if name
        .as_ref()
        .is_some_and(|n| n.chars().count() > NAME_MAX_CHARS)
    {
        fields.problem(format!(
            "name must be shorter than or equal to {NAME_MAX_CHARS} characters"
        ));
    }
    fields.finish()?;
    name.ok_or_else(|| ApiError::Internal("validation passed without a name".into()))
}

pub async fn create_agent(
    State(state): State<AppState>,
    auth: Authenticated,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::AgentsWrite)?;
    let name = name_field(body)?;
    let agent = state
        .store
        .create_agent(&caller.workspace_id, &name)
        .await?;
    Ok(json_response(
        StatusCode::CREATED,
        &AgentObject::from(agent),
    ))
}

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
    Ok(page_response(&items, total, page))
}

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

pub async fn rename_agent(
    State(state): State<AppState>,
    auth: Authenticated,
    id: Result<Path<String>, PathRejection>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::AgentsWrite)?;
    let id = agent_id(id)?;
    let name = name_field(body)?;
    let agent = state
        .store
        .rename_agent(&caller.workspace_id, &id, &name)
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    Ok(json_response(StatusCode::OK, &AgentObject::from(agent)))
}

/// Deleting an agent detaches it from every number that routes to it, in one transaction.
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
    Ok(json_response(
        StatusCode::OK,
        &json!({"message": "Agent deleted successfully."}),
    ))
}
