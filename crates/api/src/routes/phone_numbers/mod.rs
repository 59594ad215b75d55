//! `/v1/organization-phone-numbers`: the phone-number resource.

use crate::auth::{Authenticated, Caller};
use crate::extract::{Fields, JsonBody, JsonObject, PageQuery, is_blank, page_from_query};
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
    PhoneNumberId, RoutingPolicy, Scope, Timestamp,
};
use switchboard_providers::{NumberSearch, Offer, Provider, ProviderError};
use switchboard_server::ApiError;
use switchboard_server::AppState;
use switchboard_server::ErrorResponse;
use switchboard_server::json::{MessageBody, Page, json_response, message_response, page_response};
use switchboard_store::{
    FieldChange, NewPhoneNumber, NewSipTrunk, NumberFilter, PatchError, PhoneNumberPatch,
    RELEASE_ABANDONED_MS, ReleaseClaim, RoutingPolicyDoc, SipAuthMode, StoreError,
};
use tower_http::request_id::RequestId;
use utoipa::{IntoParams, ToSchema};

mod bulk;
mod history;
mod list;
mod purchase;
mod route;
mod sip_trunk;
mod update;

pub use bulk::*;
pub use history::*;
pub use list::*;
pub use purchase::*;
pub use route::*;
pub use sip_trunk::*;
pub use update::*;

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
    path = "/v1/organization-phone-numbers/{id}",
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
