//! Pricing, country rules and the workspace's enabled countries.

use crate::auth::Authenticated;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use switchboard_domain::Scope;
use switchboard_server::ApiError;
use switchboard_server::AppState;
use switchboard_server::json::json_response;
use utoipa::ToSchema;

/// A provider's monthly price for numbers of one type in one country.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PhoneNumberPricing)]
pub struct PricingObject {
    #[schema(example = "sandbox")]
    telephony_provider_id: String,
    #[schema(example = "US")]
    country_iso: String,
    #[schema(example = "United States")]
    country_name: String,
    /// `local`, `toll_free` or `mobile`.
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "local")]
    number_type: &'static str,
    /// Same as `monthly_cost_usd` (DialNexa's name), a decimal string.
    #[schema(example = "1.15")]
    credit_cost: String,
    #[schema(example = "1.15")]
    monthly_cost_usd: String,
    #[schema(example = "0.00")]
    setup_cost_usd: String,
    #[schema(format = DateTime, example = "2024-01-15T07:00:00.000Z")]
    created_at: String,
    #[schema(format = DateTime, example = "2024-01-15T07:00:00.000Z")]
    updated_at: String,
    #[serde(rename = "telephonyProvider")]
    telephony_provider: ProviderObject,
}

/// The provider a price belongs to.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderObject {
    #[schema(example = "sandbox")]
    id: String,
    #[schema(example = "sandbox")]
    name: String,
}

/// A country numbers can be bought in.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PhoneCountryRule)]
pub struct CountryRuleObject {
    #[schema(example = "pcr_us")]
    id: String,
    #[schema(min_length = 2, max_length = 2, example = "US")]
    country_iso: String,
    #[schema(example = "United States")]
    country_name: String,
    #[schema(example = "1")]
    calling_code: String,
    /// Digits after the calling code.
    #[schema(required = true, example = 10)]
    max_length: Option<i64>,
    #[schema(example = json!(["2", "3", "4"]))]
    prefixes: Vec<String>,
    /// Always false: deleted rules are not listed.
    is_deleted: bool,
    /// Buying here needs a KYC-verified workspace.
    requires_kyc: bool,
}

/// One country enabled for the workspace, in DialNexa's shape.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = EnabledTelephonyNetworkGroup)]
pub struct EnabledNetworkGroup {
    /// Always `allow_only_listed`.
    #[schema(value_type = String, example = "allow_only_listed")]
    prefix_mode: &'static str,
    /// Always null.
    #[schema(required = true)]
    from_phone_number_country_code: Option<String>,
    #[serde(rename = "countryRule")]
    country_rule: EnabledCountryRule,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnabledCountryRule {
    #[schema(example = "US")]
    country_iso: String,
    #[schema(example = "United States")]
    country_name: String,
    #[schema(example = "1")]
    calling_code: String,
    #[schema(example = json!(["2", "3", "4"]))]
    prefixes: Vec<String>,
}

/// List phone number pricing.
///
/// Monthly rental per provider, country and type, for the providers this server runs. Needs
/// `phone_numbers:read`.
#[utoipa::path(
    get,
    path = "/v1/phone-number-pricing",
    operation_id = "listPhoneNumberPricing",
    tag = "Phone Numbers",
    responses((status = 200, description = "Every price.", body = Vec<PricingObject>))
)]
pub async fn list_pricing(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    auth.require(Scope::PhoneNumbersRead)?;
    let prices = state.store.pricing().await?;
    let items: Vec<PricingObject> = prices
        .into_iter()
        .filter(|price| state.providers.get(&price.provider).is_some())
        .map(|price| PricingObject {
            telephony_provider: ProviderObject {
                id: price.provider.clone(),
                name: price.provider.clone(),
            },
            telephony_provider_id: price.provider,
            country_iso: price.country_iso,
            country_name: price.country_name,
            number_type: price.number_type.as_str(),
            credit_cost: price.monthly.to_string(),
            monthly_cost_usd: price.monthly.to_string(),
            setup_cost_usd: price.setup.to_string(),
            created_at: price.created_at.to_string(),
            updated_at: price.updated_at.to_string(),
        })
        .collect();
    Ok(json_response(StatusCode::OK, &items))
}

/// List phone country rules.
///
/// Every country numbers can be bought in, with calling codes, number lengths and prefixes.
/// Needs `phone_numbers:read`.
#[utoipa::path(
    get,
    path = "/v1/phone-country-rules/countries",
    operation_id = "listPhoneCountryRules",
    tag = "Phone Numbers",
    responses((status = 200, description = "Every country rule.", body = Vec<CountryRuleObject>))
)]
pub async fn list_countries(
    State(state): State<AppState>,
    auth: Authenticated,
) -> Result<Response, ApiError> {
    auth.require(Scope::PhoneNumbersRead)?;
    let items: Vec<CountryRuleObject> = state
        .store
        .countries()
        .await?
        .into_iter()
        .map(|c| CountryRuleObject {
            id: c.id,
            country_iso: c.country_iso,
            country_name: c.country_name,
            calling_code: c.calling_code,
            max_length: c.max_length,
            prefixes: c.prefixes,
            is_deleted: false,
            requires_kyc: c.requires_kyc,
        })
        .collect();
    Ok(json_response(StatusCode::OK, &items))
}

/// List enabled telephony network groups.
///
/// One entry per country enabled for the caller's workspace. Needs `phone_numbers:read`.
#[utoipa::path(
    get,
    path = "/v1/phone-country-rules/enabled-network-groups",
    operation_id = "listEnabledTelephonyNetworkGroups",
    tag = "Phone Numbers",
    responses((status = 200, description = "The workspace's enabled countries.", body = Vec<EnabledNetworkGroup>))
)]
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
    let items: Vec<EnabledNetworkGroup> = state
        .store
        .countries()
        .await?
        .into_iter()
        .filter(|c| workspace.enabled_countries.contains(&c.country_iso))
        .map(|c| EnabledNetworkGroup {
            prefix_mode: "allow_only_listed",
            from_phone_number_country_code: None,
            country_rule: EnabledCountryRule {
                country_iso: c.country_iso,
                country_name: c.country_name,
                calling_code: c.calling_code,
                prefixes: c.prefixes,
            },
        })
        .collect();
    Ok(json_response(StatusCode::OK, &items))
}
