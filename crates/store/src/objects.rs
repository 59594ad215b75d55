//! The phone-number object of the contract, kept here so that the API's answers and the
//! webhook events written in a change's transaction serialize a number the same way.

use serde::Serialize;
use switchboard_domain::PhoneNumber;
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
