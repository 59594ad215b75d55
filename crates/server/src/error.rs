//! The one error type every handler returns, and its exhaustive mapping onto HTTP status codes
//! and DialNexa's envelope: `{"statusCode":404,"message":"Phone number not found","error":"Not Found"}`.

use crate::json::json_response;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use switchboard_store::StoreError;
use utoipa::ToSchema;

/// Why a request failed on our side (5xx), for the request's log line only; never sent to
/// the client.
#[derive(Clone, Debug)]
pub struct FailureCause(pub String);

#[derive(Debug)]
pub enum ApiError {
    /// No usable API key: missing, wrong scheme, malformed, unknown, revoked or expired.
    Unauthorized,
    /// No valid credentials, said another way (a sign-in's wrong password, a session that
    /// ended).
    UnauthorizedBecause(String),
    /// A valid key without the scope the route needs.
    Forbidden,
    /// Allowed in general, not for this request; the message says why (e.g. KYC).
    ForbiddenBecause(String),
    /// A record that does not exist in the caller's workspace; the message names its kind
    /// (`Phone number not found`).
    NotFound(&'static str),
    /// No route has this path.
    RouteNotFound { method: String, path: String },
    /// The path exists, the method does not.
    MethodNotAllowed { method: String, path: String },
    /// Input that fails validation: one sentence per problem, each naming its field.
    BadRequest(Vec<String>),
    /// The request conflicts with the current state (e.g. a number someone already owns).
    Conflict(String),
    /// The provider's account cannot pay for what was asked (402); the message names it.
    PaymentRequired(String),
    /// The key has spent its rate budget; it may retry after this many seconds.
    RateLimited { retry_after_secs: u64 },
    /// The request body is over the limit.
    PayloadTooLarge,
    /// The request's path and query are over the limit.
    UriTooLong,
    /// The request's headers are over the limit, together or one of them.
    HeadersTooLarge,
    /// `If-Match` names a state the record is no longer in.
    PreconditionFailed,
    /// Well-formed but not processable, e.g. an Idempotency-Key reused with another body.
    Unprocessable(String),
    /// An upstream (a number provider) failed; the message says which, never its internals.
    BadGateway(String),
    /// The database cannot be reached right now; retrying later may work.
    Unavailable(String),
    /// The request ran past the server's per-request time limit.
    TimedOut,
    /// A bug or an unexpected failure. The cause is logged, never sent.
    Internal(Box<dyn std::error::Error + Send + Sync>),
}

/// DialNexa's error envelope. `message` is a string, or an array when several fields fail.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"statusCode": 404, "message": "Phone number not found", "error": "Not Found"}))]
pub struct ErrorResponse {
    /// The HTTP status code, repeated.
    status_code: u16,
    message: Message,
    /// The status code's reason phrase.
    #[schema(value_type = String, example = "Not Found")]
    error: &'static str,
}

/// One sentence, or one per problem when several fields fail validation.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Message {
    One(String),
    Many(Vec<String>),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized | ApiError::UnauthorizedBecause(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden | ApiError::ForbiddenBecause(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) | ApiError::RouteNotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PaymentRequired(_) => StatusCode::PAYMENT_REQUIRED,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UriTooLong => StatusCode::URI_TOO_LONG,
            ApiError::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadGateway(_) => StatusCode::BAD_GATEWAY,
            ApiError::Unavailable(_) | ApiError::TimedOut => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn message(self) -> Message {
        match self {
            ApiError::Unauthorized => Message::One("API key is missing or invalid".into()),
            ApiError::UnauthorizedBecause(message) => Message::One(message),
            ApiError::Forbidden => {
                Message::One("You do not have permission to access this resource".into())
            }
            ApiError::NotFound(what) => Message::One(what.into()),
            ApiError::RouteNotFound { method, path }
            | ApiError::MethodNotAllowed { method, path } => {
                Message::One(format!("Cannot {method} {path}"))
            }
            ApiError::BadRequest(mut problems) if problems.len() == 1 => {
                Message::One(problems.remove(0))
            }
            ApiError::BadRequest(problems) => Message::Many(problems),
            ApiError::Conflict(message)
            | ApiError::PaymentRequired(message)
            | ApiError::ForbiddenBecause(message)
            | ApiError::Unprocessable(message)
            | ApiError::BadGateway(message) => Message::One(message),
            ApiError::PreconditionFailed => {
                Message::One("The phone number has changed since the ETag given in If-Match".into())
            }
            ApiError::PayloadTooLarge => Message::One(format!(
                "request body is larger than {} bytes",
                crate::limits::MAX_BODY_BYTES
            )),
            ApiError::UriTooLong => Message::One(format!(
                "request URI is longer than {} bytes",
                crate::limits::MAX_URI_BYTES
            )),
            ApiError::HeadersTooLarge => Message::One(format!(
                "request headers are larger than {} bytes or more than {} in number",
                crate::limits::MAX_HEADER_BYTES,
                crate::limits::MAX_HEADERS
            )),
            ApiError::RateLimited { .. } => {
                Message::One("Too many requests. Please slow down and retry after a moment.".into())
            }
            ApiError::Unavailable(_) => {
                Message::One("Service temporarily unavailable, please retry".into())
            }
            ApiError::TimedOut => {
                Message::One("The request took too long and was stopped, please retry".into())
            }
            ApiError::Internal(_) => Message::One("Internal server error".into()),
        }
    }
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest(vec![message.into()])
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry_after = match &self {
            ApiError::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        };
        // The request's log line reports the cause, with the request id.
        let cause = match &self {
            ApiError::Internal(cause) => Some(cause.to_string()),
            ApiError::Unavailable(cause) => Some(format!("database unavailable: {cause}")),
            _ => None,
        };
        let envelope = ErrorResponse {
            status_code: status.as_u16(),
            error: status.canonical_reason().unwrap_or("Error"),
            message: self.message(),
        };
        let mut response = json_response(status, &envelope);
        if let Some(cause) = cause {
            response.extensions_mut().insert(FailureCause(cause));
        }
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(cause) => ApiError::Unavailable(cause),
            StoreError::Limit(message) => ApiError::Conflict(message),
            // Handlers map the conflicts and absences they expect themselves; one that
            // reaches here unmapped is a bug.
            other => ApiError::Internal(Box::new(other)),
        }
    }
}
