//! `/v1/webhook-endpoints`: URLs the workspace's events are posted to, signed the Standard
//! Webhooks way, and the record of every delivery. Every route needs `webhooks:manage`.

use crate::auth::Authenticated;
use crate::extract::PageQuery;
use crate::extract::{Fields, JsonBody, page_from_query};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use switchboard_domain::{
    Scope, Scopes, SealingKey, Timestamp, WebhookDeliveryId, WebhookEndpointId, WorkspaceId,
};
use switchboard_server::AppState;
use switchboard_server::json::{MessageBody, Page, json_response, message_response, page_response};
use switchboard_server::{ApiError, ErrorResponse};
use switchboard_store::{
    CALL_EVENT_TYPES, DeliveryAttempt, EVENT_TYPES, NewWebhookEndpoint, PageRequest,
    WebhookDelivery, WebhookEndpoint, WebhookEndpointUpdate, event_scope, is_webhook_event_type,
    readable_event_types,
};
use switchboard_webhooks::{check_endpoint_url, generate_secret, public_message_id};
use utoipa::{IntoParams, ToSchema};

mod deliveries;
mod endpoints;

pub use deliveries::*;
pub use endpoints::*;

const NOT_FOUND: &str = "Webhook endpoint not found";
const DELIVERY_NOT_FOUND: &str = "Webhook delivery not found";
const DESCRIPTION_MAX_CHARS: usize = 255;
/// How long the secret before a rotation keeps signing.
const ROTATION_OVERLAP_MS: i64 = 24 * 60 * 60 * 1000;

/// An endpoint the workspace's events are posted to.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookEndpoint)]
pub struct EndpointObject {
    #[schema(example = "whe_5t2k8m1q9x3z")]
    id: String,
    #[schema(example = "https://example.com/switchboard-events")]
    url: String,
    #[schema(required = true, example = "Call router sync")]
    description: Option<String>,
    /// The event types it receives; empty for every change (the call events only when named).
    #[schema(example = json!(["phone_number.updated", "phone_number.released"]))]
    event_types: Vec<String>,
    /// Disabled endpoints receive nothing; their deliveries wait.
    enabled: bool,
    /// `failing` (every attempt failed for 5 days, so the server disabled it) or `manual`.
    #[schema(required = true, example = json!(null))]
    disabled_reason: Option<String>,
    #[schema(required = true, format = DateTime, example = json!(null))]
    disabled_at: Option<String>,
    /// Until when the secret before the last rotation still signs (a second signature).
    #[schema(required = true, format = DateTime, example = json!(null))]
    previous_secret_expires_at: Option<String>,
    #[schema(format = DateTime, example = "2024-01-15T07:00:00.000Z")]
    created_at: String,
    #[schema(format = DateTime, example = "2024-01-15T07:00:00.000Z")]
    updated_at: String,
}

impl From<WebhookEndpoint> for EndpointObject {
    fn from(e: WebhookEndpoint) -> Self {
        let now = Timestamp::now();
        Self {
            id: e.id.to_string(),
            url: e.url,
            description: e.description,
            event_types: e.event_types,
            enabled: e.enabled,
            disabled_reason: e.disabled_reason,
            disabled_at: e.disabled_at.map(|t| t.to_string()),
            previous_secret_expires_at: e
                .previous_secret_expires_at
                .filter(|t| *t > now)
                .map(|t| t.to_string()),
            created_at: e.created_at.to_string(),
            updated_at: e.updated_at.to_string(),
        }
    }
}

/// An endpoint with its signing secret: only in the answer of a create or a rotation.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookEndpointWithSecret)]
pub struct EndpointWithSecret {
    #[serde(flatten)]
    endpoint: EndpointObject,
    /// `whsec_` and base64: give it to your Standard Webhooks library. Shown only now.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwUo8ILPZIo2Y=")]
    secret: String,
}

/// One POST to the endpoint.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookAttempt)]
pub struct AttemptObject {
    #[schema(format = DateTime, example = "2024-01-15T07:00:05.000Z")]
    at: String,
    /// The endpoint's HTTP status; `null` when it did not answer.
    #[schema(required = true, example = 200)]
    status_code: Option<u16>,
    #[schema(example = 84)]
    duration_ms: u64,
    /// The first 512 bytes of its answer.
    #[schema(required = true, example = "ok")]
    response_excerpt: Option<String>,
    /// Why the attempt failed; `null` for a 2xx.
    #[schema(required = true, example = json!(null))]
    error: Option<String>,
}

impl From<DeliveryAttempt> for AttemptObject {
    fn from(a: DeliveryAttempt) -> Self {
        Self {
            at: Timestamp::from_millis(a.at).to_string(),
            status_code: a.status_code,
            duration_ms: a.duration_ms,
            response_excerpt: a.response_excerpt,
            error: a.error,
        }
    }
}

/// One event (or ping) on its way to the endpoint, with every attempt.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookDelivery)]
pub struct DeliveryObject {
    #[schema(example = "whd_0c4f7a2b9e1d")]
    id: String,
    #[schema(example = "whe_5t2k8m1q9x3z")]
    endpoint_id: String,
    /// The `webhook-id` header: the same on every attempt and replay of one event.
    #[schema(example = "evt_42")]
    webhook_id: String,
    #[schema(example = "phone_number.updated")]
    event_type: String,
    /// `pending` (waiting for its next attempt), `delivered` or `failed` (no attempt left).
    #[schema(example = "delivered")]
    state: &'static str,
    /// Attempts since it was last queued.
    #[schema(example = 1)]
    attempt_count: u32,
    #[schema(required = true, format = DateTime, example = json!(null))]
    next_attempt_at: Option<String>,
    /// The newest 20, oldest first.
    attempts: Vec<AttemptObject>,
    #[schema(format = DateTime, example = "2024-01-15T07:00:00.000Z")]
    created_at: String,
}

impl DeliveryObject {
    fn new(d: WebhookDelivery, key: &SealingKey, workspace: &WorkspaceId) -> Self {
        Self {
            id: d.id.to_string(),
            endpoint_id: d.endpoint_id.to_string(),
            webhook_id: public_message_id(key, workspace, &d.message_id),
            event_type: d.event_type,
            state: d.state.as_str(),
            attempt_count: d.attempt_count,
            next_attempt_at: d.next_attempt_at.map(|t| t.to_string()),
            attempts: d.attempts.into_iter().map(AttemptObject::from).collect(),
            created_at: d.created_at.to_string(),
        }
    }
}

/// The body of a create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "documents the body; handlers check it field by field"
)]
pub struct EndpointRequest {
    /// `https`; `http` only to a loopback address on a server started with
    /// `--webhooks-allow-loopback`. Private, loopback, link-local and metadata addresses are
    /// refused, now and at every delivery.
    #[schema(
        max_length = 2048,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$",
        example = "https://example.com/switchboard-events"
    )]
    url: String,
    /// Event types to receive: those of `GET /v1/events`, and `call.started` and
    /// `call.completed` (which need `calls:read`); absent or empty for every change event (the
    /// call events only when named).
    #[schema(example = json!(["phone_number.updated"]))]
    event_types: Option<Vec<String>>,
    #[schema(
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$",
        example = "Call router sync"
    )]
    description: Option<String>,
}

/// The body of an update: every field is optional.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "documents the body; handlers check it field by field"
)]
pub struct EndpointUpdateRequest {
    /// As for a create.
    #[schema(
        nullable = false,
        max_length = 2048,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$",
        example = "https://example.com/switchboard-events"
    )]
    url: Option<String>,
    /// Event types to receive; empty for every change event (the call events only when named).
    #[schema(example = json!(["phone_number.updated"]))]
    event_types: Option<Vec<String>>,
    /// `null` removes it.
    #[schema(
        max_length = 255,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*$",
        example = "Call router sync"
    )]
    description: Option<String>,
    /// `false` stops deliveries; `true` resumes them (then `replay` sends what was missed).
    enabled: Option<bool>,
}

/// The body of a replay.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "documents the body; the handler checks it field by field"
)]
pub struct ReplayRequest {
    /// Replay events from this time on; absent for every event since the endpoint was
    /// created (an earlier time reaches back into history). Events that already have a
    /// delivery to this endpoint are never queued twice.
    #[schema(format = DateTime, example = "2024-01-15T07:00:00.000Z")]
    since: Option<String>,
}

/// What a replay queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayResponse {
    /// Deliveries queued, one per missed event, in feed order: at most 10,000 per call.
    #[schema(example = 3)]
    queued: u64,
    /// `false` when the bound was reached: call replay again (same `since`) to queue the next
    /// events; nothing is queued twice.
    #[schema(example = true)]
    complete: bool,
}

/// The `id` path parameter of an endpoint.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(
    dead_code,
    reason = "documents the path; handlers turn every bad id into the same 404"
)]
pub struct EndpointPath {
    /// Endpoint id: `whe_` and 12 lowercase letters or digits.
    #[param(example = "whe_5t2k8m1q9x3z")]
    id: String,
}

/// The path parameters of one delivery.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(
    dead_code,
    reason = "documents the path; the handler turns every bad id into the same 404"
)]
pub struct DeliveryPath {
    /// Endpoint id.
    #[param(example = "whe_5t2k8m1q9x3z")]
    id: String,
    /// Delivery id: `whd_` and 12 lowercase letters or digits.
    #[param(example = "whd_0c4f7a2b9e1d")]
    delivery_id: String,
}

fn endpoint_id(id: Result<Path<String>, PathRejection>) -> Result<WebhookEndpointId, ApiError> {
    id.ok()
        .and_then(|Path(id)| WebhookEndpointId::parse(&id))
        .ok_or(ApiError::NotFound(NOT_FOUND))
}

/// Most endpoints one workspace may have.
pub const MAX_ENDPOINTS_PER_WORKSPACE: u64 = 20;
/// Most events one replay queues; calling it again queues the next ones.
pub const MAX_REPLAY_EVENTS: u32 = 10_000;

/// An endpoint receives only events the key that saved it may read (the change feed's rule,
/// [`switchboard_store::EVENT_KINDS`]): 403 naming the first type it may not. `types` as
/// stored: empty for every type.
fn check_readable(types: &[String], scopes: Scopes) -> Result<(), ApiError> {
    let unreadable = |t: &str| event_scope(t).filter(|scope| !scopes.contains(*scope));
    let first = if types.is_empty() {
        EVENT_TYPES
            .iter()
            .find_map(|t| unreadable(t).map(|scope| (*t, scope)))
    } else {
        types
            .iter()
            .find_map(|t| unreadable(t).map(|scope| (t.as_str(), scope)))
    };
    match first {
        None => Ok(()),
        Some((event_type, scope)) => Err(ApiError::ForbiddenBecause(format!(
            "this key may not read {event_type} events (they need {scope}); an endpoint receives only what the key that saves it may read: choose event_types among {}",
            readable_event_types(scopes, true).join(", ")
        ))),
    }
}

/// The event types to store for a request: an empty list (every type) stays empty for a key
/// that may read every type, and becomes the types the key may read otherwise.
fn stored_event_types(requested: Vec<String>, scopes: Scopes) -> Vec<String> {
    let readable = readable_event_types(scopes, false);
    if requested.is_empty() && readable.len() < EVENT_TYPES.len() {
        readable.into_iter().map(str::to_owned).collect()
    } else {
        requested
    }
}

/// The fields of a create (`creating`) or an update, checked; a URL is also checked against
/// what its host resolves to.
async fn endpoint_fields(
    state: &AppState,
    body: JsonBody,
    creating: bool,
) -> Result<WebhookEndpointUpdate, ApiError> {
    let mut fields = Fields::new(body.parse()?.object);
    let url = if creating {
        fields.required_string("url", None)
    } else {
        fields.non_null_string("url")
    };
    let event_types = fields.optional_string_list("event_types").map(|types| {
        let mut unique: Vec<String> = Vec::new();
        for t in types {
            if !is_webhook_event_type(&t) {
                fields.problem(format!(
                    "event_types: unknown event type {t:?}; known types: {}, {}",
                    EVENT_TYPES.join(", "),
                    CALL_EVENT_TYPES.join(", ")
                ));
            } else if !unique.contains(&t) {
                unique.push(t);
            }
        }
        unique
    });
    let description = match fields.string_change("description", DESCRIPTION_MAX_CHARS) {
        switchboard_store::FieldChange::Keep => None,
        switchboard_store::FieldChange::Clear => Some(None),
        switchboard_store::FieldChange::Set(d) => Some(Some(d)),
    };
    let enabled = if creating {
        None
    } else {
        fields.optional_bool("enabled", None)
    };
    let url = match url {
        Some(url) => match check_endpoint_url(&url, state.webhooks.settings.allow_loopback).await {
            Ok(normalised) => Some(normalised),
            Err(problem) => {
                fields.problem(problem);
                None
            }
        },
        None => None,
    };
    fields.finish()?;
    Ok(WebhookEndpointUpdate {
        url,
        event_types,
        description,
        enabled,
    })
}
