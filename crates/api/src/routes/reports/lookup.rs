//! Routing audit: which number is this, whatever way it is written.

use super::*;

/// The number to look up.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code, reason = "documents the query; the handler reads it itself")]
pub struct LookupQuery {
    /// In any form libphonenumber reads with its `+` (`+1 (415) 555-0100`); a `+` left
    /// unencoded in the query string is read as a `+`, not as a space.
    #[param(example = "+14155550100")]
    phone_number: String,
}

/// The value of `name` in a query string, percent-decoded, with a leading `+` kept as `+`:
/// phone numbers are written with a literal `+` far more often than with `%2B`.
pub(super) fn query_value(raw: &str, name: &str) -> Option<String> {
    let value = raw
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(key, _)| *key == name)?
        .1;
    let bytes = value.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&high), Some(&low)) if hex(high).is_some() && hex(low).is_some() => {
                decoded.push((hex(high)? * 16 + hex(low)?) as u8);
                i += 3;
            }
            (byte, _, _) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    // A phone number has a `+` only in front: any other `+` is a form-encoded space.
    let text = String::from_utf8_lossy(&decoded);
    let leading = text.len() - text.trim_start().len();
    Some(
        text.char_indices()
            .map(|(i, c)| if c == '+' && i != leading { ' ' } else { c })
            .collect(),
    )
}

/// Look up a phone number by number (ext).
///
/// The number object of this workspace's number, found by the number itself in any format:
/// "what handles a call to this number now", without knowing its id. Needs
/// `phone_numbers:read`.
#[utoipa::path(
    get,
    path = "/v1/organization-phone-numbers/lookup",
    operation_id = "lookupPhoneNumber",
    tag = "Reports",
    params(LookupQuery),
    responses(
        (status = 200, description = "The number.", body = PhoneNumberObject,
            headers(("ETag" = String, description = "Strong entity tag of this state of the number"))),
        (status = 400, description = "`phone_number` is missing or not a phone number.", body = ErrorResponse,
            example = json!({"statusCode": 400, "message": "phone_number is required", "error": "Bad Request"})),
        (status = 404, description = "This workspace does not hold the number.", body = ErrorResponse,
            example = json!({"statusCode": 404, "message": "Phone number not found", "error": "Not Found"})),
    )
)]
pub async fn lookup_phone_number(
    State(state): State<AppState>,
    auth: Authenticated,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::PhoneNumbersRead)?;
    let text = raw
        .as_deref()
        .and_then(|raw| query_value(raw, "phone_number"))
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("phone_number is required"))?;
    let number =
        E164::parse(&text).map_err(|e| ApiError::bad_request(format!("phone_number {e}")))?;
    let found = state
        .store
        .find_phone_number(&caller.workspace_id, &number)
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    Ok(number_response(StatusCode::OK, found))
}

// ---- Compliance review ----
