//! Request input: JSON bodies and query strings, checked field by field with messages that
//! name the field (`nickname must be shorter than or equal to 255 characters`), all problems
//! of a request reported at once.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use serde_json::{Map, Value};
use switchboard_server::ApiError;
use switchboard_store::{FieldChange, PageRequest};
use utoipa::IntoParams;

pub use switchboard_server::limits::MAX_BODY_BYTES;

/// A request body as received, not yet judged: handlers check the key's scope first and
/// only then call [`JsonBody::parse`], so a key without the route's scope is told 403
/// whatever it sent (authorisation before validation). Only its size is checked on the way
/// in (413), as the transport's limit.
#[derive(Debug)]
pub struct JsonBody {
    raw: Bytes,
    is_json: bool,
}

/// A JSON object body, with its raw bytes (for Idempotency-Key digests).
#[derive(Debug)]
pub struct JsonObject {
    pub raw: Bytes,
    pub object: Map<String, Value>,
}

impl JsonBody {
    /// The body as a JSON object; 400 for another content type, malformed JSON or a
    /// non-object.
    pub fn parse(self) -> Result<JsonObject, ApiError> {
        if !self.is_json {
            return Err(ApiError::bad_request(
                "Content-Type must be application/json",
            ));
        }
        let value: Value = serde_json::from_slice(&self.raw)
            .map_err(|e| ApiError::bad_request(format!("request body is not valid JSON: {e}")))?;
        let Value::Object(object) = value else {
            return Err(ApiError::bad_request("request body must be a JSON object"));
        };
        Ok(JsonObject {
            raw: self.raw,
            object,
        })
    }

    /// Like [`JsonBody::parse`], but no body (nothing, or JSON `null`) is an empty object:
    /// for routes whose body is optional.
    pub fn parse_or_empty(self) -> Result<JsonObject, ApiError> {
        let raw = self.raw.trim_ascii();
        if raw.is_empty() || raw == b"null" {
            return Ok(JsonObject {
                raw: self.raw,
                object: Map::new(),
            });
        }
        self.parse()
    }
}

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
        let raw = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::bad_request("request body could not be read")
                }
            })?;
        Ok(Self { raw, is_json })
    }
}

/// Walks a JSON object's fields, collecting one message per bad field. Fields may have a
/// second accepted spelling (`phoneNumber` / `phone_number`); any field not asked for is
/// reported as `property foo should not exist`.
#[derive(Debug)]
pub struct Fields {
    object: Map<String, Value>,
    problems: Vec<String>,
}

impl Fields {
    pub fn new(object: Map<String, Value>) -> Self {
        Self {
            object,
            problems: Vec::new(),
        }
    }

    pub fn problem(&mut self, message: impl Into<String>) {
        self.problems.push(message.into());
    }

    /// Takes a field by its name or its alias; `None` when absent. A string (or a string in
    /// an array) with a control character is a problem and counts as absent: every text the
    /// API stores is one line a person wrote (a name, a nickname, a URL), and a NUL or an
    /// escape sequence in it would break a database, a log line or a terminal.
    fn take(&mut self, name: &str, alias: Option<&str>) -> Option<Value> {
        let value = self
            .object
            .remove(name)
            .or_else(|| alias.and_then(|a| self.object.remove(a)))?;
        let has_control =
            |v: &Value| matches!(v, Value::String(s) if s.chars().any(char::is_control));
        let controlled = match &value {
            Value::Array(items) => items.iter().any(has_control),
            other => has_control(other),
        };
        if controlled {
            self.problem(format!(
                "{name} must not contain control characters (line breaks, tabs, NUL, escapes)"
            ));
            return None;
        }
        Some(value)
    }

    /// A string field that must be present and non-empty.
    pub fn required_string(&mut self, name: &str, alias: Option<&str>) -> Option<String> {
        let reported = self.problems.len();
        match self.take(name, alias) {
            // Already reported by `take` (a control character).
            None if self.problems.len() > reported => None,
            None | Some(Value::Null) => {
                self.problem(format!("{name} should not be empty"));
                None
            }
            Some(Value::String(s)) if is_blank(&s) => {
                self.problem(format!("{name} should not be empty"));
                None
            }
            Some(Value::String(s)) => Some(s.trim().to_owned()),
            Some(_) => {
                self.problem(format!("{name} must be a string"));
                None
            }
        }
    }

    /// An optional string field; `null` counts as absent.
    pub fn optional_string(&mut self, name: &str, alias: Option<&str>) -> Option<String> {
        match self.take(name, alias) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                self.problem(format!("{name} must be a string"));
                None
            }
        }
    }

    /// An optional string field that may not be `null` (a partial update of a field that
    /// cannot be cleared).
    pub fn non_null_string(&mut self, name: &str) -> Option<String> {
        match self.take(name, None) {
            None => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                self.problem(format!("{name} must be a string"));
                None
            }
        }
    }

    /// A string field of a partial update: absent keeps, `null` clears.
    pub fn string_change(&mut self, name: &str, max_chars: usize) -> FieldChange<String> {
        match self.take(name, None) {
            None => FieldChange::Keep,
            Some(Value::Null) => FieldChange::Clear,
            Some(Value::String(s)) if s.chars().count() > max_chars => {
                self.problem(format!(
                    "{name} must be shorter than or equal to {max_chars} characters"
                ));
                FieldChange::Keep
            }
            Some(Value::String(s)) => FieldChange::Set(s),
            Some(_) => {
                self.problem(format!("{name} must be a string"));
                FieldChange::Keep
            }
        }
    }

    /// A field of a partial update holding any JSON (an object the caller checks itself):
    /// absent keeps, `null` clears.
    pub fn value_change(&mut self, name: &str) -> FieldChange<Value> {
        match self.take(name, None) {
            None => FieldChange::Keep,
            Some(Value::Null) => FieldChange::Clear,
            Some(value) => FieldChange::Set(value),
        }
    }

    /// An optional boolean field; `null` counts as absent, as for strings.
    pub fn optional_bool(&mut self, name: &str, alias: Option<&str>) -> Option<bool> {
        match self.take(name, alias) {
            None | Some(Value::Null) => None,
            Some(Value::Bool(b)) => Some(b),
            Some(_) => {
                self.problem(format!("{name} must be a boolean value"));
                None
            }
        }
    }

    /// An optional array of strings.
    pub fn optional_string_list(&mut self, name: &str) -> Option<Vec<String>> {
        match self.take(name, None) {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => {
                let strings: Option<Vec<String>> = items
                    .into_iter()
                    .map(|v| match v {
                        Value::String(s) => Some(s),
                        _ => None,
                    })
                    .collect();
                if strings.is_none() {
                    self.problem(format!("each value in {name} must be a string"));
                }
                strings
            }
            Some(_) => {
                self.problem(format!("{name} must be an array"));
                None
            }
        }
    }

    /// Ends the walk: every leftover field is a problem; any problem is a 400 listing all.
    pub fn finish(mut self) -> Result<(), ApiError> {
        let mut extra: Vec<String> = self.object.keys().cloned().collect();
        extra.sort();
        for name in extra {
            self.problems
                .push(format!("property {name} should not exist"));
        }
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ApiError::BadRequest(self.problems))
        }
    }
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

/// `page` and `limit` of a list's query string; a bad value is a problem added to `problems`.
pub fn page_from_query(
    query: &std::collections::HashMap<String, String>,
    problems: &mut Vec<String>,
) -> PageRequest {
    page_request(
        query.get("page").map(String::as_str),
        query.get("limit").map(String::as_str),
        problems,
    )
}

/// The rule of [`is_blank`] and of the control characters every text field refuses, as a JSON
/// Schema pattern: a string matches it exactly when it is one line that is not blank. utoipa
/// takes only literals, so the name fields of the request schemas write it out;
/// `tests/openapi.rs` holds them to this constant.
pub const NON_BLANK_PATTERN: &str =
    r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$";

/// The control characters every text field refuses, as a JSON Schema pattern (the other text
/// fields of the request schemas write it out; `tests/openapi.rs` holds them to it).
pub const ONE_LINE_PATTERN: &str = r"^[^\x00-\x1f\x7f-\x9f]*$";

/// Nothing but spaces and control characters.
pub fn is_blank(s: &str) -> bool {
    s.chars().all(|c| c.is_whitespace() || c.is_control())
}

/// The highest page number a list accepts.
pub const MAX_PAGE: u32 = 1_000_000;
/// The largest page a list returns.
pub const MAX_LIMIT: u32 = 100;

/// `page` and `limit` of a list: 1-based page (default 1), limit 1..=100 (default 20).
fn page_request(
    page: Option<&str>,
    limit: Option<&str>,
    problems: &mut Vec<String>,
) -> PageRequest {
    let mut parse = |name: &str, raw: Option<&str>, default: u32, max: u32| -> u32 {
        let Some(raw) = raw else {
            return default;
        };
        match raw.trim().parse::<u32>() {
            Ok(n) if n >= 1 && n <= max => n,
            Ok(n) if n > max => {
                problems.push(format!("{name} must not be greater than {max}"));
                default
            }
            _ => {
                problems.push(format!("{name} must be a positive integer"));
                default
            }
        }
    };
    let page = parse("page", page, 1, MAX_PAGE);
    let limit = parse("limit", limit, 20, MAX_LIMIT);
    PageRequest { page, limit }
}

/// The RFC 3339 time in the query parameter `name`, when given; a value that is not one (an
/// empty one included) is added to `problems`.
pub fn query_time(
    query: &std::collections::HashMap<String, String>,
    name: &str,
    problems: &mut Vec<String>,
) -> Option<switchboard_domain::Timestamp> {
    let text = query.get(name)?.trim();
    switchboard_domain::Timestamp::parse_rfc3339(text).or_else(|| {
        problems.push(format!(
            "{name} must be an RFC 3339 time, e.g. 2026-11-30T09:00:00Z"
        ));
        None
    })
}
