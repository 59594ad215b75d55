//! Pricing, country rules and the workspace's enabled countries.

use crate::auth::Authenticated;
use crate::error::ApiError;
use crate::json::json_response;
use crate::router::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use switchboard_domain::Scope;

/// `GET /v1/phone-number-pricing` — monthly rental per provider, country and type.
pub async fn list_pricing(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    auth.require(Scope::PhoneNumbersRead)?;
    let prices = state.store.pricing().await?;
    let items: Vec<serde_json::Value> = prices
        .into_iter()
        .filter(|price| state.providers.get(&price.provider).is_some())
        .map(|price| {
            json!({
                "telephony_provider_id": price.provider,
                "country_iso": price.country_iso,
                "country_name": price.country_name,
                "type": price.number_type.as_str(),
                "credit_cost": price.monthly.to_string(),
                "monthly_cost_usd": price.monthly.to_string(),
                "setup_cost_usd": price.setup.to_string(),
                "created_at": price.created_at.to_string(),
                "updated_at": price.updated_at.to_string(),
                "telephonyProvider": {"id": price.provider, "name": price.provider},
            })
        })
        .collect();
    Ok(json_response(StatusCode::OK, &items))
}

/// `GET /v1/phone-country-rules/countries` — every country numbers can be bought in.
pub async fn list_countries(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    auth.require(Scope::PhoneNumbersRead)?;
    let items: Vec<serde_json::Value> = state
        .store
        .countries()
        .await?
        .into_iter()
        .map(|c| {
            json!({
                "id": c.id,
                "country_iso": c.country_iso,
                "country_name": c.country_name,
                "calling_code": c.calling_code,
                "max_length": c.max_length,
                "prefixes": c.prefixes,
                "is_deleted": false,
                "requires_kyc": c.requires_kyc,
            })
        })
        .collect();
    Ok(json_response(StatusCode::OK, &items))
}

/// `GET /v1/phone-country-rules/enabled-network-groups` — the workspace's enabled countries.
pub async fn list_enabled_network_groups(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::PhoneNumbersRead)?;
    let workspace = state
        .store
        .get_workspace(&caller.workspace_id)
        .await?
        .ok_or_else(|| ApiError::Internal("the caller's workspace is gone".into()))?;
    let items: Vec<serde_json::Value> = state
        .store
        .countries()
        .await?
        .into_iter()
        .filter(|c| workspace.enabled_countries.contains(&c.country_iso))
        .map(|c| {
            json!({
                "prefix_mode": "allow_only_listed",
                "from_phone_number_country_code": null,
                "countryRule": {
                    "country_iso": c.country_iso,
                    "country_name": c.country_name,
                    "calling_code": c.calling_code,
                    "prefixes": c.prefixes,
                },
            })
        })
        .collect();
    Ok(json_response(StatusCode::OK, &items))
}
