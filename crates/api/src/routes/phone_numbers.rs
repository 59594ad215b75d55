//! `/v1/organization-phone-numbers`: the phone-number resource.

use crate::auth::{Authenticated, Caller};
use crate::extract::{Fields, JsonBody, JsonObject, is_blank, page_from_query};
use crate::idempotency::with_idempotency;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::header::{ETAG, IF_MATCH, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use switchboard_domain::{
    AgentId, Capabilities, E164, Money, NICKNAME_MAX_CHARS, NumberStatus, NumberType, PhoneNumber,
    PhoneNumberId, Scope, Timestamp,
};
use switchboard_providers::{Offer, Provider, ProviderError};
use switchboard_server::ApiError;
use switchboard_server::AppState;
use switchboard_server::ErrorResponse;
use switchboard_server::json::{MessageBody, Page, json_response, message_response, page_response};
use switchboard_store::{
    FieldChange, NewPhoneNumber, NewSipTrunk, NumberFilter, PatchError, PhoneNumberPatch,
    RELEASE_ABANDONED_MS, ReleaseClaim, SipAuthMode, StoreError,
};
use tower_http::request_id::RequestId;
use utoipa::{IntoParams, ToSchema};

pub const NOT_FOUND: &str = "Phone number not found";
const ALREADY_REGISTERED: &str = "Phone number already registered";
const LABEL_MAX_CHARS: usize = 255;

pub use switchboard_store::PhoneNumberObject;

/// The `id` path parameter of a number.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(
    dead_code,
    reason = "documents the path; handlers read it as a string to turn every bad id into the same 404"
)]
pub struct NumberPath {
    /// Phone number id: `phn_` and 12 lowercase letters or digits.
    #[param(example = "phn_4k2m9x7q1z3b")]
    id: String,
}

/// An id from the path; a malformed one can never exist, so it is the same 404.
fn number_id(id: Result<Path<String>, PathRejection>) -> Result<PhoneNumberId, ApiError> {
    id.ok()
        .and_then(|Path(id)| PhoneNumberId::parse(&id))
        .ok_or(ApiError::NotFound(NOT_FOUND))
}

/// The caller's number `id`, or the 404 every absent, malformed or foreign id gets.
async fn find_number(
    state: &AppState,
    caller: &Caller,
    id: &PhoneNumberId,
) -> Result<PhoneNumber, ApiError> {
    state
        .store
        .get_phone_number(&caller.workspace_id, id)
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))
}

/// Get a phone number.
///
/// One number of the caller's workspace, with its routing. An id of the wrong shape, an
/// unknown id and another workspace's id all get the same 404, so the answer never reveals
/// that a number exists elsewhere. Needs `phone_numbers:read`.
#[utoipa::path(
    get,
    path = "/organization-phone-numbers/{id}",
    operation_id = "getPhoneNumber",
    tag = "Phone Numbers",
    params(
        NumberPath,
        ("If-None-Match" = Option<String>, Header, description = "An `ETag` of this number; when it is still current the answer is a bodiless 304."),
    ),
    responses(
        (status = 200, description = "The number.", body = PhoneNumberObject,
            headers(("ETag" = String, description = "Strong entity tag of this state of the number"))),
        (status = 304, description = "Unchanged since the `If-None-Match` tag."),
        (status = 404, description = "No such number in this workspace.", body = ErrorResponse,
            example = json!({"statusCode": 404, "message": "Phone number not found", "error": "Not Found"})),
    )
)]
pub async fn get_phone_number(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::PhoneNumbersRead)?;
    let id = number_id(id)?;
    let number = find_number(&state, &caller, &id).await?;
    let etag = number.etag();
    if etag_list(&headers, IF_NONE_MATCH)
        .is_some_and(|tags| tags.iter().any(|t| t == "*" || *t == etag))
    {
        return Ok(with_etag(StatusCode::NOT_MODIFIED.into_response(), &etag));
    }
    Ok(number_response(StatusCode::OK, number))
}

/// The object, with its `ETag`.
pub(crate) fn number_response(status: StatusCode, number: PhoneNumber) -> Response {
    let etag = number.etag();
    with_etag(
        json_response(status, &PhoneNumberObject::from(number)),
        &etag,
    )
}

fn with_etag(mut response: Response, etag: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(ETAG, value);
    }
    response
}

/// The entity tags of a conditional header (`"a", "b"` or `*`); `None` without the header.
/// Weak tags (`W/"…"`) are kept as written, so they never equal a strong one.
fn etag_list(headers: &HeaderMap, name: HeaderName) -> Option<Vec<String>> {
    let values: Vec<String> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    (!values.is_empty()).then_some(values)
}

/// What `If-Match` asks for, for the number `id`: no condition, any current state (`*`), or
/// one revision. A list naming no state of this number can never match: 412.
fn expected_revision(headers: &HeaderMap, id: &PhoneNumberId) -> Result<Option<i64>, ApiError> {
    let Some(tags) = etag_list(headers, IF_MATCH) else {
        return Ok(None);
    };
    if tags.iter().any(|t| t == "*") {
        return Ok(None);
    }
    let prefix = format!("\"{id}.");
    tags.iter()
        .find_map(|t| {
            t.strip_prefix(&prefix)?
                .strip_suffix('"')?
                .parse::<i64>()
                .ok()
        })
        .map(Some)
        .ok_or(ApiError::PreconditionFailed)
}

/// A number type, in any of its spellings (`toll_free` is the one answers use).
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code, reason = "documents the values a type filter takes")]
pub enum NumberTypeName {
    #[serde(rename = "local")]
    Local,
    #[serde(rename = "toll_free")]
    TollFree,
    #[serde(rename = "toll-free")]
    TollFreeHyphen,
    #[serde(rename = "tollfree")]
    Tollfree,
    #[serde(rename = "mobile")]
    Mobile,
}

/// A number's status.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code, reason = "documents the values a status filter takes")]
pub enum StatusName {
    Active,
    Pending,
}

/// Filters of the number list.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(
    dead_code,
    reason = "documents the query; the handler reads it field by field to report every bad value at once"
)]
pub struct NumberFilterQuery {
    /// ISO country code, e.g. `US`.
    country_code: Option<String>,
    /// Letter case is ignored.
    #[param(rename = "type", value_type = Option<NumberTypeName>, inline)]
    number_type: Option<String>,
    /// Letter case is ignored.
    #[param(value_type = Option<StatusName>, inline)]
    status: Option<String>,
    /// Provider id, e.g. `sandbox`.
    provider: Option<String>,
    /// Numbers whose inbound agent is this one.
    agent_id: Option<String>,
    /// Numbers whose outbound agent is this one (ext).
    outbound_agent_id: Option<String>,
    /// Matches the number, its nickname or its label.
    q: Option<String>,
}

/// List phone numbers.
///
/// A page of the workspace's numbers, oldest first. Needs `phone_numbers:read`.
#[utoipa::path(
    get,
    path = "/organization-phone-numbers",
    operation_id = "listPhoneNumbers",
    tag = "Phone Numbers",
    params(PageQuery, NumberFilterQuery),
    responses(
        (status = 200, description = "A page of numbers.", body = Page<PhoneNumberObject>),
        (status = 400, description = "A paging or filter value is invalid.", body = ErrorResponse,
            example = json!({"statusCode": 400, "message": "limit must not be greater than 100", "error": "Bad Request"})),
    )
)]
pub async fn list_phone_numbers(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::PhoneNumbersRead)?;
    let mut problems = Vec::new();
    let page = page_from_query(&query, &mut problems);
    let filter = number_filter(&query, &mut problems);
    if !problems.is_empty() {
        return Err(ApiError::BadRequest(problems));
    }
    let Some(filter) = filter else {
        return Ok(list_page(Vec::new(), 0, page));
    };
    let (items, total) = state
        .store
        .list_phone_numbers(&caller.workspace_id, &filter, page)
        .await?;
    Ok(list_page(items, total, page))
}

/// The list's filters (see [`NumberFilterQuery`]), for the list and the reports alike. Bad
/// values are added to `problems`. `None` when the filters can match nothing: an agent id of
/// the wrong shape routes no number, and no number holds a control character, which is an
/// empty answer, not an error.
pub(crate) fn number_filter(
    query: &HashMap<String, String>,
    problems: &mut Vec<String>,
) -> Option<NumberFilter> {
    // No stored value holds a control character (the API refuses them), so a filter with one
    // matches nothing; PostgreSQL could not even take a NUL as a parameter.
    if query.values().any(|v| v.chars().any(char::is_control)) {
        return None;
    }
    let text = |name: &str| query.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());
    // An empty `type` or `status` is a value that is none of the allowed ones.
    let number_type = query.get("type").and_then(|t| {
        NumberType::parse(t)
            .map_err(|e| problems.push(format!("type {e}")))
            .ok()
    });
    let status = query.get("status").and_then(|s| {
        NumberStatus::parse(s)
            .map_err(|e| problems.push(format!("status {e}")))
            .ok()
    });
    let agent = text("agent_id").map(AgentId::parse);
    let outbound_agent = text("outbound_agent_id").map(AgentId::parse);
    if matches!(agent, Some(None)) || matches!(outbound_agent, Some(None)) {
        return None;
    }
    Some(NumberFilter {
        country_code: text("country_code").map(str::to_ascii_uppercase),
        number_type,
        status,
        provider: text("provider").map(str::to_owned),
        inbound_agent_id: agent.flatten(),
        outbound_agent_id: outbound_agent.flatten(),
        query: text("q").map(str::to_owned),
    })
}

fn list_page(
    items: Vec<PhoneNumber>,
    total: u64,
    page: switchboard_store::PageRequest,
) -> Response {
    let items: Vec<PhoneNumberObject> = items.into_iter().map(PhoneNumberObject::from).collect();
    page_response(items, total, page)
}

/// An agent id field of a PATCH: `null` clears; a string must name an agent.
/// A malformed id is a problem reported with the body's others.
fn agent_change(fields: &mut Fields, name: &'static str) -> FieldChange<AgentId> {
    match fields.string_change(name, 64) {
        FieldChange::Keep => FieldChange::Keep,
        FieldChange::Clear => FieldChange::Clear,
        FieldChange::Set(id) => match AgentId::parse(&id) {
            Some(agent) => FieldChange::Set(agent),
            None => {
                fields.problem(format!("{name} is not an agent of this workspace"));
                FieldChange::Keep
            }
        },
    }
}

/// The fields a PATCH may change; each is optional, and `null` clears it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "documents the body; the handler checks it field by field to tell a missing field from a null one"
)]
pub struct UpdatePhoneNumberRequest {
    #[schema(
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$",
        example = "US Sales Line"
    )]
    nickname: Option<String>,
    #[schema(max_length = 255, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    label: Option<String>,
    /// Older name of `inbound_agent_id`; when both are given they must agree.
    agent_id: Option<String>,
    /// An agent of this workspace.
    #[schema(example = "agt_7h3k9m2p4q6r")]
    inbound_agent_id: Option<String>,
    /// An agent of this workspace.
    outbound_agent_id: Option<String>,
    /// `true` makes this the workspace default (the previous default stops being one).
    is_default: Option<bool>,
}

/// Update a phone number.
///
/// Change its routing and labels. Needs `phone_numbers:write`.
#[utoipa::path(
    patch,
    path = "/organization-phone-numbers/{id}",
    operation_id = "updatePhoneNumber",
    tag = "Phone Numbers",
    params(
        NumberPath,
        ("If-Match" = Option<String>, Header, description = "Apply only if the number is still in the state of this `ETag` (or `*`); otherwise 412."),
    ),
    request_body = UpdatePhoneNumberRequest,
    responses(
        (status = 200, description = "The number after the change.", body = PhoneNumberObject,
            headers(("ETag" = String, description = "Strong entity tag of the new state"))),
        (status = 400, description = "A field is invalid or names no agent of this workspace.", body = ErrorResponse,
            example = json!({"statusCode": 400, "message": "inbound_agent_id is not an agent of this workspace", "error": "Bad Request"})),
        (status = 404, description = "No such number in this workspace.", body = ErrorResponse),
        (status = 412, description = "The number changed since the `If-Match` tag.", body = ErrorResponse),
    )
)]
pub async fn update_phone_number(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::PhoneNumbersWrite)?;
    let id = number_id(id)?;
    let mut fields = Fields::new(body.parse()?.object);
    let nickname = fields.string_change("nickname", NICKNAME_MAX_CHARS);
    let label = fields.string_change("label", LABEL_MAX_CHARS);
    let agent_id = agent_change(&mut fields, "agent_id");
    let inbound = agent_change(&mut fields, "inbound_agent_id");
    let outbound_agent_id = agent_change(&mut fields, "outbound_agent_id");
    let is_default = fields.optional_bool("is_default", None);
    fields.finish()?;
    // After validation: a request that would be a 400 anyway is one, whatever its
    // preconditions (RFC 9110 §13.2.1).
    let expected = expected_revision(&headers, &id)?;
    // `agent_id` is the older name of `inbound_agent_id`.
    let (inbound_agent_id, inbound_field) = match (agent_id, inbound) {
        (a, FieldChange::Keep) => (a, "agent_id"),
        (FieldChange::Keep, i) => (i, "inbound_agent_id"),
        (a, i) if a == i => (i, "inbound_agent_id"),
        _ => {
            return Err(ApiError::bad_request(
                "agent_id and inbound_agent_id must be the same when both are given",
            ));
        }
    };
    let patch = PhoneNumberPatch {
        nickname,
        label,
        inbound_agent_id,
        outbound_agent_id,
        is_default,
    };
    match state
        .store
        .update_phone_number(&caller.workspace_id, &id, patch, expected, &caller.actor())
        .await
    {
        Ok(number) => Ok(number_response(StatusCode::OK, number)),
        Err(PatchError::NumberNotFound) => Err(ApiError::NotFound(NOT_FOUND)),
        Err(PatchError::Changed) => Err(ApiError::PreconditionFailed),
        Err(PatchError::UnknownAgent(field)) => {
            let field = if field == "inbound_agent_id" {
                inbound_field
            } else {
                field
            };
            Err(ApiError::bad_request(format!(
                "{field} is not an agent of this workspace"
            )))
        }
        Err(PatchError::Store(error)) => Err(error.into()),
    }
}

/// Delete (release) a phone number.
///
/// Releases it at its provider, then removes it; the number can then be bought again.
/// Needs `phone_numbers:write`.
#[utoipa::path(
    delete,
    path = "/organization-phone-numbers/{id}",
    operation_id = "deletePhoneNumber",
    tag = "Phone Numbers",
    params(
        NumberPath,
        ("If-Match" = Option<String>, Header, description = "Release only if the number is still in the state of this `ETag` (or `*`); otherwise 412."),
    ),
    responses(
        (status = 200, description = "Released.", body = MessageBody),
        (status = 404, description = "No such number in this workspace.", body = ErrorResponse),
        (status = 409, description = "The number is the workspace default, or another request is releasing (or still buying) it.", body = ErrorResponse,
            example = json!({"statusCode": 409, "message": "Phone number is the workspace default", "error": "Conflict"})),
        (status = 412, description = "The number changed since the `If-Match` tag.", body = ErrorResponse),
        (status = 502, description = "The provider could not be reached; the number is still yours.", body = ErrorResponse),
    )
)]
pub async fn release_phone_number(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::PhoneNumbersWrite)?;
    let id = number_id(id)?;
    let expected = match expected_revision(&headers, &id) {
        Ok(expected) => expected,
        Err(unmatchable) => {
            // An unknown number is a 404 whatever the precondition.
            find_number(&state, &caller, &id).await?;
            return Err(unmatchable);
        }
    };
    // The claim makes this request the only one, on any replica, that gives the number back
    // to its provider: a second release there could fail, or give back a number someone
    // else has bought meanwhile.
    let stale_before = Timestamp::from_millis(Timestamp::now().as_millis() - RELEASE_ABANDONED_MS);
    let number = match state
        .store
        .begin_release(&caller.workspace_id, &id, expected, stale_before)
        .await?
    {
        ReleaseClaim::Claimed(number) => number,
        ReleaseClaim::NotFound => return Err(ApiError::NotFound(NOT_FOUND)),
        ReleaseClaim::Changed => return Err(ApiError::PreconditionFailed),
        ReleaseClaim::IsDefault => {
            return Err(ApiError::Conflict(
                "Phone number is the workspace default".into(),
            ));
        }
        ReleaseClaim::InProgress => {
            return Err(ApiError::Conflict(
                "Phone number is being purchased or released by another request".into(),
            ));
        }
    };
    let message = match state.providers.get(&number.provider) {
        Some(provider) => {
            let e164 = E164::parse(&number.phone_number).map_err(|e| {
                ApiError::Internal(format!("stored number {} {e}", number.phone_number).into())
            })?;
            // Released at the provider first: if that fails, the number is still ours and
            // still listed, and the client can retry.
            if let Err(error) = provider.release(&e164).await {
                if let Err(cleanup) = state.store.abandon_release(&id).await {
                    tracing::error!(number = %number.phone_number, error = %cleanup, "could not give up the release claim of a failed release; a retry may take it over after 10 minutes");
                }
                return Err(provider_failure(provider.as_ref(), error));
            }
            "Phone number released successfully.".to_owned()
        }
        None if number.provider == "sip_trunk" => "Phone number released successfully.".to_owned(),
        None => format!(
            "Phone number removed from Switchboard. Its provider ({}) is not managed here: release it there too.",
            number.provider
        ),
    };
    // Unconditional: the claim was judged on the state the client named, and the number is
    // gone at the provider, so a change that landed meanwhile does not keep the record.
    if state
        .store
        .delete_phone_number(&caller.workspace_id, &id, &caller.actor())
        .await?
    {
        Ok(message_response(message))
    } else {
        Err(ApiError::Internal(
            "a claimed release found its number gone".into(),
        ))
    }
}

fn provider_failure(provider: &dyn Provider, error: ProviderError) -> ApiError {
    match error {
        ProviderError::NotOffered => {
            ApiError::bad_request(format!("phoneNumber is not offered by {}", provider.id()))
        }
        ProviderError::Rejected(reason) => {
            ApiError::bad_request(format!("{} refused the request: {reason}", provider.id()))
        }
        ProviderError::Unavailable(cause) => {
            tracing::warn!(provider = provider.id(), cause, "provider unavailable");
            ApiError::BadGateway(format!(
                "Phone number provider {} is unavailable, please retry",
                provider.id()
            ))
        }
    }
}

/// A number in the shape of Plivo's search results (DialNexa's `AvailablePhoneNumber`).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AvailablePhoneNumber)]
pub struct AvailableNumber {
    #[schema(example = "+14155550100")]
    number: String,
    /// `local`, `tollfree` or `mobile`.
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "local")]
    number_type: &'static str,
    /// US dollars a month, a decimal string.
    #[schema(example = "1.15")]
    monthly_rental_rate: String,
    #[schema(example = "0.00")]
    setup_rate: String,
    voice_enabled: bool,
    sms_enabled: bool,
    mms_enabled: bool,
    #[schema(example = "US")]
    country_iso: String,
    #[schema(example = "+14155550100")]
    number_format: String,
}

/// Search results in Plivo's envelope.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AvailablePhoneNumbersResponse)]
pub struct AvailableNumbers {
    /// The request id.
    api_id: String,
    objects: Vec<AvailableNumber>,
    meta: SearchMeta,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchMeta {
    total_count: usize,
}

/// The query of a search.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(
    dead_code,
    reason = "documents the query; the handler reads it field by field"
)]
pub struct SearchQuery {
    /// ISO country code (e.g. `US`, `GB`, `CA`); one of the country rules.
    #[param(example = "US")]
    country_iso: String,
    /// Letter case is ignored.
    #[param(rename = "type", value_type = Option<NumberTypeName>, inline, example = "local")]
    number_type: Option<String>,
    /// Provider to search; the default provider when absent.
    #[param(example = "sandbox")]
    provider: Option<String>,
}

impl From<Offer> for AvailableNumber {
    fn from(offer: Offer) -> Self {
        Self {
            number: offer.number.to_string(),
            number_type: match offer.number_type {
                NumberType::Local => "local",
                NumberType::TollFree => "tollfree",
                NumberType::Mobile => "mobile",
            },
            monthly_rental_rate: offer.monthly_cost.to_string(),
            setup_rate: offer.setup_cost.to_string(),
            voice_enabled: offer.voice,
            sms_enabled: offer.sms,
            mms_enabled: offer.mms,
            country_iso: offer.number.country_code().to_owned(),
            number_format: offer.number.to_string(),
        }
    }
}

/// Search available phone numbers.
///
/// Numbers the provider offers, never one somebody here already owns. Needs
/// `phone_numbers:read`.
#[utoipa::path(
    get,
    path = "/organization-phone-numbers/plivo-numbers",
    operation_id = "searchAvailablePhoneNumbers",
    tag = "Phone Numbers",
    params(SearchQuery),
    responses(
        (status = 200, description = "Numbers on offer.", body = AvailableNumbers),
        (status = 400, description = "`country_iso` is missing or unknown, or `type` or `provider` is invalid.", body = ErrorResponse,
            example = json!({"statusCode": 400, "message": "country_iso is required", "error": "Bad Request"})),
        (status = 502, description = "The provider could not be reached.", body = ErrorResponse),
    )
)]
pub async fn search_available(
    State(state): State<AppState>,
    auth: Authenticated,
    request_id: Option<axum::Extension<RequestId>>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    auth.require(Scope::PhoneNumbersRead)?;
    let country = query
        .get("country_iso")
        .map(|c| c.trim().to_ascii_uppercase())
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("country_iso is required"))?;
    let number_type = match query.get("type") {
        Some(t) => {
            Some(NumberType::parse(t).map_err(|e| ApiError::bad_request(format!("type {e}")))?)
        }
        None => None,
    };
    let countries = state.store.countries().await?;
    if !countries.iter().any(|c| c.country_iso == country) {
        let known: Vec<&str> = countries.iter().map(|c| c.country_iso.as_str()).collect();
        return Err(ApiError::bad_request(format!(
            "country_iso must be one of: {}",
            known.join(", ")
        )));
    }
    let provider = match query.get("provider") {
        Some(id) => state
            .providers
            .get(id)
            .ok_or_else(|| unknown_provider(&state, "provider"))?,
        None => state
            .providers
            .default_provider()
            .ok_or_else(|| ApiError::Internal("no provider configured".into()))?,
    };
    let offers = provider
        .search(&country, number_type)
        .await
        .map_err(|e| provider_failure(provider.as_ref(), e))?;
    // Never offer a number that someone here already owns (or is buying).
    let numbers: Vec<E164> = offers.iter().map(|o| o.number.clone()).collect();
    let taken = state.store.registered_numbers(&numbers).await?;
    let objects: Vec<AvailableNumber> = offers
        .into_iter()
        .filter(|o| !taken.contains(&o.number))
        .map(AvailableNumber::from)
        .collect();
    let api_id = request_id
        .and_then(|axum::Extension(id)| id.header_value().to_str().ok().map(str::to_owned))
        .unwrap_or_default();
    let total = objects.len();
    Ok(json_response(
        StatusCode::OK,
        &AvailableNumbers {
            api_id,
            objects,
            meta: SearchMeta { total_count: total },
        },
    ))
}

fn unknown_provider(state: &AppState, field: &str) -> ApiError {
    ApiError::bad_request(format!(
        "{field} must be one of: {}",
        state.providers.ids().join(", ")
    ))
}

/// What to buy (`phone_number`, `telephony_provider_id` and `country_iso` are accepted too).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PurchasePhoneNumberRequest)]
#[allow(
    dead_code,
    reason = "documents the body; the handler checks it field by field to report every problem at once"
)]
pub struct PurchaseRequest {
    /// E.164, one of the search results.
    #[serde(rename = "phoneNumber")]
    #[schema(example = "+14155550100")]
    phone_number: String,
    /// The provider that offered it, e.g. `sandbox` or `plivo`.
    #[serde(rename = "telephonyProviderId")]
    #[schema(example = "sandbox")]
    telephony_provider_id: String,
    /// The number's country, enabled for the workspace.
    #[serde(rename = "countryISO")]
    #[schema(example = "US")]
    country_iso: String,
}

/// The purchase's outcome and the new record.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = PurchasePhoneNumberResponse)]
pub struct PurchaseResponse {
    #[schema(example = "+14155550100")]
    phone_number: String,
    /// `active` once bought.
    #[schema(value_type = String, example = "active")]
    status: &'static str,
    #[schema(example = "Phone number purchased successfully.")]
    message: &'static str,
    organization_phone_number: PhoneNumberObject,
}

/// Purchase a phone number.
///
/// Needs `phone_numbers:write`. With an `Idempotency-Key`, a retry gets the first answer
/// again instead of a second purchase.
///
/// The number is claimed in the database first (a `pending` record: the unique constraint
/// lets exactly one of concurrent buyers through), then bought, then made `active`. If the
/// provider sold it but storing fails, it is released at the provider before the error is
/// returned, so no paid number is ever orphaned.
#[utoipa::path(
    post,
    path = "/organization-phone-numbers/purchase",
    operation_id = "purchasePhoneNumber",
    tag = "Phone Numbers",
    params(
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = r"^[!-~]([ -~]*[!-~])?$", description = "Up to 255 visible ASCII characters. The same key with the same body within 24 hours gets the first response again (with `Idempotent-Replayed: true`); with another body, a 422."),
    ),
    request_body = PurchaseRequest,
    responses(
        (status = 201, description = "Bought and registered.", body = PurchaseResponse),
        (status = 400, description = "A field is invalid, the country is not enabled, or the provider does not offer the number.", body = ErrorResponse,
            example = json!({"statusCode": 400, "message": ["phoneNumber must be a valid E.164 phone number", "countryISO should not be empty"], "error": "Bad Request"})),
        (status = 403, description = "The country requires a KYC-verified workspace, or the key lacks the scope.", body = ErrorResponse),
        (status = 409, description = "Somebody owns or is buying the number, or a request with this Idempotency-Key is still running.", body = ErrorResponse,
            example = json!({"statusCode": 409, "message": "Phone number already registered", "error": "Conflict"})),
        (status = 422, description = "The Idempotency-Key was used with another body.", body = ErrorResponse),
        (status = 502, description = "The provider could not be reached; nothing was bought.", body = ErrorResponse),
    )
)]
pub async fn purchase(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::PhoneNumbersWrite)?;
    let body = body.parse()?;
    let raw = body.raw.clone();
    with_idempotency(
        &state,
        &caller,
        &headers,
        "POST /v1/organization-phone-numbers/purchase",
        &raw,
        || buy(&state, &caller, body),
    )
    .await
}

async fn buy(state: &AppState, caller: &Caller, body: JsonObject) -> Result<Response, ApiError> {
    let mut fields = Fields::new(body.object);
    let number = fields.required_string("phoneNumber", Some("phone_number"));
    let provider_id = fields.required_string("telephonyProviderId", Some("telephony_provider_id"));
    let country = fields.required_string("countryISO", Some("country_iso"));
    let number = number.and_then(|n| {
        E164::parse(&n)
            .map_err(|e| fields.problem(format!("phoneNumber {e}")))
            .ok()
    });
    let provider = provider_id.and_then(|id| match state.providers.get(&id) {
        Some(provider) => Some(provider.clone()),
        None => {
            fields.problem(format!(
                "telephonyProviderId must be one of: {}",
                state.providers.ids().join(", ")
            ));
            None
        }
    });
    let country = country.map(|c| c.to_ascii_uppercase());
    if let (Some(number), Some(country)) = (&number, &country)
        && number.country_code() != country
    {
        fields.problem(format!(
            "phoneNumber is not a number of countryISO {country}"
        ));
    }
    fields.finish()?;
    let (Some(number), Some(provider), Some(country)) = (number, provider, country) else {
        return Err(ApiError::Internal(
            "validation passed without values".into(),
        ));
    };

    check_country_policy(state, caller, &country, CountryUse::Purchase).await?;

    let claim = NewPhoneNumber {
        number_type: number.derived_type(),
        number: number.clone(),
        monthly_cost: Money::ZERO,
        capabilities: Capabilities::VOICE,
        label: None,
        nickname: None,
        inbound_agent_id: None,
        status: NumberStatus::Pending,
        provider: provider.id().to_owned(),
        sip_trunk_enabled: false,
    };
    let pending = match state
        .store
        .claim_phone_number(&caller.workspace_id, claim)
        .await
    {
        Ok(pending) => pending,
        Err(StoreError::Conflict(_)) => return Err(ApiError::Conflict(ALREADY_REGISTERED.into())),
        Err(other) => return Err(other.into()),
    };

    let offer = match provider.buy(&number).await {
        Ok(offer) => offer,
        Err(error) => {
            if let Err(cleanup) = state
                .store
                .drop_claim(&caller.workspace_id, &pending.id)
                .await
            {
                tracing::error!(number = %number, error = %cleanup, "could not drop the claim of a failed purchase");
            }
            return Err(provider_failure(provider.as_ref(), error));
        }
    };
    let bought = NewPhoneNumber {
        number_type: offer.number_type,
        number: number.clone(),
        monthly_cost: offer.monthly_cost,
        capabilities: Capabilities {
            voice: offer.voice,
            sms: offer.sms,
        },
        label: None,
        nickname: None,
        inbound_agent_id: None,
        status: NumberStatus::Active,
        provider: provider.id().to_owned(),
        sip_trunk_enabled: false,
    };
    match state
        .store
        .activate_phone_number(&caller.workspace_id, &pending.id, bought, &caller.actor())
        .await
    {
        Ok(stored) => Ok(json_response(
            StatusCode::CREATED,
            &PurchaseResponse {
                phone_number: stored.phone_number.clone(),
                status: stored.status.as_str(),
                message: "Phone number purchased successfully.",
                organization_phone_number: PhoneNumberObject::from(stored),
            },
        )),
        Err(store_error) => {
            // Sold but not stored: give it back before answering, so nobody pays for a
            // number Switchboard does not know it has.
            match provider.release(&number).await {
                Ok(()) => {
                    tracing::warn!(number = %number, "purchase not stored; number released at the provider")
                }
                Err(release_error) => tracing::error!(
                    number = %number, provider = provider.id(), error = %release_error,
                    "ORPHANED NUMBER: bought, not stored, and the release failed; release it by hand"
                ),
            }
            if let Err(cleanup) = state
                .store
                .drop_claim(&caller.workspace_id, &pending.id)
                .await
            {
                tracing::error!(number = %number, error = %cleanup, "could not drop the claim of a failed purchase");
            }
            Err(match store_error {
                StoreError::Unavailable(cause) => ApiError::Unavailable(cause),
                other => ApiError::Internal(Box::new(other)),
            })
        }
    }
}

/// What a number of a country is being taken on for: bought from a provider's stock, which
/// needs a country of the catalogue, or brought over a SIP trunk, which may be from anywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CountryUse {
    Purchase,
    Link,
}

/// The workspace's rules for taking on a number of `country`, the same for purchases and SIP
/// links: the country must be enabled for the workspace (400), and a country whose regulator
/// wants the holder verified needs a KYC-verified workspace (403).
async fn check_country_policy(
    state: &AppState,
    caller: &Caller,
    country: &str,
    use_: CountryUse,
) -> Result<(), ApiError> {
    let workspace = state
        .store
        .get_workspace(&caller.workspace_id)
        .await?
        .ok_or_else(|| ApiError::Internal("the caller's workspace is gone".into()))?;
    if !workspace.enabled_countries.iter().any(|c| c == country) {
        return Err(ApiError::bad_request(format!(
            "Country {country} is not enabled for this workspace"
        )));
    }
    let rule = state
        .store
        .countries()
        .await?
        .into_iter()
        .find(|c| c.country_iso == country);
    match rule {
        None if use_ == CountryUse::Purchase => Err(ApiError::bad_request(format!(
            "Country {country} is not supported"
        ))),
        Some(rule) if rule.requires_kyc && !workspace.kyc_verified => {
            Err(ApiError::ForbiddenBecause(format!(
                "Phone numbers in {country} require a KYC-verified workspace"
            )))
        }
        _ => Ok(()),
    }
}

/// A number some provider here has for sale cannot be linked: it is not the linker's, and
/// linking it would take it out of everyone's search and make every purchase of it a 409.
/// A provider that cannot be asked does not block the link (it is logged): whether a
/// provider is up must not decide whether a workspace can bring its own numbers.
async fn refuse_provider_stock(state: &AppState, number: &E164) -> Result<(), ApiError> {
    for id in state.providers.ids() {
        let Some(provider) = state.providers.get(id) else {
            continue;
        };
        match provider
            .search(number.country_code(), Some(number.derived_type()))
            .await
        {
            Ok(offers) if offers.iter().any(|offer| offer.number == *number) => {
                return Err(ApiError::Conflict(format!(
                    "Phone number is for sale by {id}: buy it with POST /v1/organization-phone-numbers/purchase instead of linking it"
                )));
            }
            // Refused: the provider has nothing of that kind there to sell.
            Ok(_) | Err(ProviderError::NotOffered | ProviderError::Rejected(_)) => {}
            Err(error @ ProviderError::Unavailable(_)) => {
                tracing::warn!(number = %number, provider = id, error = %error, "could not ask the provider whether it sells a number being linked; linking it")
            }
        }
    }
    Ok(())
}

/// One change to a number.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PhoneNumberHistoryEntry)]
pub struct HistoryEntryObject {
    /// `purchased`, `imported`, `linked`, `updated` or `released`.
    #[schema(value_type = String, example = "updated")]
    action: &'static str,
    #[schema(format = DateTime, example = "2024-01-15T07:00:00.000Z")]
    at: String,
    /// The API key id that made the change, `cli`, or `switchboard` (the server itself).
    #[schema(example = "k7d2m9x4q1z3b8")]
    actor: String,
    /// The name of the key that made the change (ext), while the key is live; `null` for
    /// the command line, the server, or a revoked key.
    #[schema(required = true, example = "call-router prod")]
    actor_name: Option<String>,
    /// The `X-Request-Id` of the request that made it.
    #[schema(required = true)]
    request_id: Option<String>,
    /// Each changed field, before and after.
    #[schema(value_type = Object, example = json!({"label": {"before": null, "after": "support"}}))]
    changes: serde_json::Value,
}

/// The names of the workspace's live keys by id, to name the actors of history and events.
pub(crate) async fn key_names(
    state: &AppState,
    workspace: &switchboard_domain::WorkspaceId,
) -> Result<HashMap<String, String>, ApiError> {
    Ok(state
        .store
        .list_api_keys(workspace)
        .await?
        .into_iter()
        .map(|key| (key.id.to_string(), key.name))
        .collect())
}

/// Paging of any list.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(
    dead_code,
    reason = "documents the query; the handler reads it field by field"
)]
pub struct PageQuery {
    /// 1-based page number, at most 1,000,000 (`extract::MAX_PAGE`).
    #[param(minimum = 1, maximum = 1_000_000, example = 1)]
    page: Option<u32>,
    /// Page size, at most 100 (`extract::MAX_LIMIT`).
    #[param(minimum = 1, maximum = 100, example = 20)]
    limit: Option<u32>,
}

/// History of a phone number.
///
/// Every change, newest first: purchase or import, each update, the release. A released
/// number keeps its history; an id this workspace never had is a 404. Needs
/// `phone_numbers:read`.
#[utoipa::path(
    get,
    path = "/organization-phone-numbers/{id}/history",
    operation_id = "getPhoneNumberHistory",
    tag = "Phone Numbers",
    params(NumberPath, PageQuery),
    responses(
        (status = 200, description = "A page of changes.", body = Page<HistoryEntryObject>),
        (status = 400, description = "A paging value is invalid.", body = ErrorResponse),
        (status = 404, description = "This workspace never had the number.", body = ErrorResponse),
    )
)]
pub async fn phone_number_history(
    State(state): State<AppState>,
    auth: Authenticated,
    id: Result<Path<String>, PathRejection>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::PhoneNumbersRead)?;
    let id = number_id(id)?;
    let mut problems = Vec::new();
    let page = page_from_query(&query, &mut problems);
    if !problems.is_empty() {
        return Err(ApiError::BadRequest(problems));
    }
    let (entries, total) = state
        .store
        .phone_number_history(&caller.workspace_id, &id, page)
        .await?;
    if total == 0 {
        return Err(ApiError::NotFound(NOT_FOUND));
    }
    let names = key_names(&state, &caller.workspace_id).await?;
    let items: Vec<HistoryEntryObject> = entries
        .into_iter()
        .map(|entry| HistoryEntryObject {
            action: entry.action.as_str(),
            at: entry.at.to_string(),
            actor_name: names.get(&entry.actor).cloned(),
            actor: entry.actor,
            request_id: entry.request_id,
            changes: entry.changes,
        })
        .collect();
    Ok(page_response(items, total, page))
}

/// `terminationUri`: `host[:port]`, no `sip:` scheme.
fn check_termination_uri(uri: &str) -> Result<(), String> {
    if uri.to_ascii_lowercase().starts_with("sip:") || uri.to_ascii_lowercase().starts_with("sips:")
    {
        return Err("terminationUri must not include the sip: prefix; give host[:port]".into());
    }
    let (host, port) = match uri.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (uri, None),
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    if host_ok && port_ok {
        Ok(())
    } else {
        Err("terminationUri must be host[:port], e.g. 31974861099010243.zt.plivo.com:5060".into())
    }
}

/// A bring-your-own number and its trunk (snake_case spellings are accepted too).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = LinkSipTrunkRequest)]
#[allow(
    dead_code,
    reason = "documents the body; the handler checks it field by field to report every problem at once"
)]
pub struct SipTrunkRequest {
    /// E.164.
    #[serde(rename = "phoneNumber")]
    #[schema(example = "+14155550123")]
    phone_number: String,
    /// SIP termination `host[:port]`, without a `sip:` prefix.
    #[serde(rename = "terminationUri")]
    #[schema(example = "31974861099010243.zt.plivo.com:5060")]
    termination_uri: String,
    /// `userpass` (the default) needs both credentials; `ip` forbids them.
    #[serde(rename = "authMode")]
    #[schema(value_type = Option<AuthMode>)]
    auth_mode: Option<String>,
    /// Required for `userpass`.
    #[serde(rename = "sipTrunkUserName")]
    #[schema(example = "sip-user")]
    sip_trunk_user_name: Option<String>,
    /// Required for `userpass`; stored encrypted, never returned.
    #[serde(rename = "sipTrunkPassword")]
    #[schema(example = "s3cret-Passw0rd")]
    sip_trunk_password: Option<String>,
    #[schema(max_length = 255, example = "US BYOC Line")]
    nickname: Option<String>,
}

/// How the SIP provider authorizes the trunk.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code, reason = "documents the values of authMode")]
pub enum AuthMode {
    Userpass,
    Ip,
}

/// Link a SIP trunk.
///
/// Registers a bring-your-own number reached over a SIP trunk. Needs `phone_numbers:write`.
#[utoipa::path(
    post,
    path = "/organization-phone-numbers/sip-trunks",
    operation_id = "linkSipTrunk",
    tag = "Phone Numbers",
    request_body = SipTrunkRequest,
    responses(
        (status = 201, description = "Linked.", body = PhoneNumberObject,
            headers(("ETag" = String, description = "Strong entity tag of the new number"))),
        (status = 400, description = "Invalid number, termination host, authentication mode or credential combination.", body = ErrorResponse,
            example = json!({"statusCode": 400, "message": "sipTrunkUserName and sipTrunkPassword are required when authMode=userpass", "error": "Bad Request"})),
        (status = 403, description = "The number's country requires a KYC-verified workspace, or the key lacks the scope.", body = ErrorResponse),
        (status = 409, description = "The number is already registered, or a provider here has it for sale (buy it instead).", body = ErrorResponse,
            example = json!({"statusCode": 409, "message": "Phone number already registered", "error": "Conflict"})),
    )
)]
pub async fn link_sip_trunk(
    State(state): State<AppState>,
    auth: Authenticated,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::PhoneNumbersWrite)?;
    let mut fields = Fields::new(body.parse()?.object);
    let number = fields.required_string("phoneNumber", Some("phone_number"));
    let uri = fields.required_string("terminationUri", Some("termination_uri"));
    let mode = fields
        .optional_string("authMode", Some("auth_mode"))
        .unwrap_or_else(|| "userpass".into());
    let username = fields.optional_string("sipTrunkUserName", Some("sip_trunk_user_name"));
    let password = fields.optional_string("sipTrunkPassword", Some("sip_trunk_password"));
    let nickname = fields.optional_string("nickname", None);
    let number = number.and_then(|n| {
        E164::parse(&n)
            .map_err(|e| fields.problem(format!("phoneNumber {e}")))
            .ok()
    });
    if let Some(uri) = &uri
        && let Err(problem) = check_termination_uri(uri)
    {
        fields.problem(problem);
    }
    if nickname
        .as_ref()
        .is_some_and(|n| n.chars().count() > NICKNAME_MAX_CHARS)
    {
        fields.problem(format!(
            "nickname must be shorter than or equal to {NICKNAME_MAX_CHARS} characters"
        ));
    }
    let present = |v: &Option<String>| v.as_ref().is_some_and(|s| !s.is_empty());
    let auth_mode = match mode.as_str() {
        "userpass" => match (username, password) {
            (Some(username), Some(password)) if !is_blank(&username) && !is_blank(&password) => {
                Some(SipAuthMode::UserPass {
                    username,
                    password_sealed: state.sealing_key.seal(password.as_bytes()),
                })
            }
            _ => {
                fields.problem(
                    "sipTrunkUserName and sipTrunkPassword are required when authMode=userpass",
                );
                None
            }
        },
        "ip" => {
            if present(&username) || present(&password) {
                fields.problem(
                    "sipTrunkUserName and sipTrunkPassword must not be set when authMode=ip",
                );
                None
            } else {
                Some(SipAuthMode::Ip)
            }
        }
        _ => {
            fields.problem("authMode must be one of the following values: userpass, ip");
            None
        }
    };
    fields.finish()?;
    let (Some(number), Some(termination_uri), Some(auth_mode)) = (number, uri, auth_mode) else {
        return Err(ApiError::Internal(
            "validation passed without values".into(),
        ));
    };
    check_country_policy(&state, &caller, number.country_code(), CountryUse::Link).await?;
    refuse_provider_stock(&state, &number).await?;
    let new = NewPhoneNumber {
        number_type: number.derived_type(),
        number,
        monthly_cost: Money::ZERO,
        capabilities: Capabilities::VOICE,
        label: None,
        nickname,
        inbound_agent_id: None,
        status: NumberStatus::Active,
        provider: "sip_trunk".into(),
        sip_trunk_enabled: true,
    };
    let trunk = NewSipTrunk {
        termination_uri,
        auth_mode,
    };
    match state
        .store
        .link_sip_trunk_number(&caller.workspace_id, new, trunk, &caller.actor())
        .await
    {
        Ok(stored) => Ok(number_response(StatusCode::CREATED, stored)),
        Err(StoreError::Conflict(_)) => Err(ApiError::Conflict(ALREADY_REGISTERED.into())),
        Err(other) => Err(other.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::check_termination_uri;

    #[test]
    fn termination_uris() {
        for good in [
            "31974861099010243.zt.plivo.com:5060",
            "sip.example.com",
            "10.0.0.1:5080",
        ] {
            assert!(check_termination_uri(good).is_ok(), "{good}");
        }
        for bad in [
            "sip:host.example.com",
            "SIP:host",
            "host:0",
            "host:99999",
            "bad host",
            "",
            "-x.com",
            "a..b",
        ] {
            assert!(check_termination_uri(bad).is_err(), "{bad}");
        }
    }
}
