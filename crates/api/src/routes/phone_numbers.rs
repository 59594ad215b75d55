//! `/v1/organization-phone-numbers`: the phone-number resource.

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::json::json_response;
use crate::router::AppState;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use switchboard_domain::{PhoneNumber, PhoneNumberId, Scope};

pub const NOT_FOUND: &str = "Phone number not found";

/// The phone-number object of the contract (SPEC §4): every field, in this order.
#[derive(Debug, Serialize)]
pub struct PhoneNumberObject {
    pub id: String,
    pub phone_number: String,
    pub country_code: String,
    #[serde(rename = "type")]
    pub number_type: &'static str,
    pub monthly_cost_usd: String,
    pub capabilities: Vec<&'static str>,
    pub label: Option<String>,
    pub nickname: Option<String>,
    /// Same as `inbound_agent_id`, kept for older clients.
    pub agent_id: Option<String>,
    pub inbound_agent_id: Option<String>,
    pub outbound_agent_id: Option<String>,
    pub status: &'static str,
    pub provider: String,
    pub sip_trunk_enabled: bool,
    pub is_default: bool,
    pub created_at: String,
    pub updated_at: String,
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
        }
    }
}

/// `GET /v1/organization-phone-numbers/{id}` — one number of the caller's workspace.
///
/// An id of the wrong shape, an unknown id and another workspace's id all get the same 404,
/// so the answer never reveals that a number exists elsewhere.
pub async fn get_phone_number(
    State(state): State<AppState>,
    auth: Authenticated,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::PhoneNumbersRead)?;
    let id = id
        .ok()
        .and_then(|Path(id)| PhoneNumberId::parse(&id))
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    let number = state
        .store
        .get_phone_number(&caller.workspace_id, &id)
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    Ok(json_response(
        StatusCode::OK,
        &PhoneNumberObject::from(number),
    ))
}
