//! Plivo's voice callbacks: the number's answer URL, `<Dial action>` reports and the hangup
//! URL, each signed in `X-Plivo-Signature-V3` (with `X-Plivo-Signature-V3-Nonce`) and
//! answered with Plivo XML.

use super::texml::Refusal;
use super::{Answer, attempt_ended, called_url, route_call};
use axum::extract::{FromRequest, OriginalUri, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use switchboard_domain::{CallOutcome, DestinationKind};
use switchboard_providers::plivo::voice::{
    dial_outcome, e164_of, final_call_status, plivo_apology, plivo_connect, plivo_hangup,
    plivo_signature_matches,
};
use switchboard_server::AppState;
use utoipa::ToSchema;

const CARRIER: &str = "plivo";
const DIAL_RESULT_PATH: &str = "/carriers/plivo/dial-result";
const FORM_MAX_BYTES: usize = 64 * 1024;

/// What Plivo posts (form-encoded) to an answer URL, a dial action and a hangup URL; it posts
/// more, all covered by the signature.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
#[allow(dead_code, reason = "documents the form; the handler reads it itself")]
pub struct PlivoVoiceForm {
    #[serde(rename = "CallUUID")]
    #[schema(example = "55309cee-821d-11e4-9a73-498d468c930b")]
    call_uuid: String,
    /// The caller, without the `+`.
    #[schema(example = "14155550123")]
    from: String,
    /// The number called, without the `+`.
    #[schema(example = "14155550100")]
    to: String,
    /// On dial actions: `completed`, `busy`, `failed`, `timeout` or `no-answer`.
    dial_status: Option<String>,
    /// On the hangup URL: the call's status.
    call_status: Option<String>,
    /// On the hangup URL: seconds.
    duration: Option<String>,
}

/// A request Plivo signed: the extractor answers every other one with the 403.
#[derive(Debug)]
pub struct PlivoSigned {
    form: Vec<(String, String)>,
    query: Vec<(String, String)>,
    base: String,
}

impl PlivoSigned {
    fn param(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl FromRequest<AppState> for PlivoSigned {
    type Rejection = Refusal;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Refusal> {
        let Some(token) = &state.calls.plivo_auth_token else {
            return Err(Refusal(
                "Plivo is not configured on this server (--plivo-auth-token)",
            ));
        };
        let (parts, body) = request.into_parts();
        let uri = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.clone(), |original| original.0.clone());
        let body = axum::body::to_bytes(body, FORM_MAX_BYTES)
            .await
            .map_err(|_| Refusal("the form could not be read"))?;
        let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
        let url = called_url(state, &parts.headers, &uri);
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let (Some(signature), Some(nonce)) = (
            header("x-plivo-signature-v3"),
            header("x-plivo-signature-v3-nonce"),
        ) else {
            return Err(Refusal("missing X-Plivo-Signature-V3 or its nonce"));
        };
        if !plivo_signature_matches(token, &url, &form, nonce, signature) {
            tracing::warn!(url, "plivo: a request with a wrong signature was refused");
            return Err(Refusal("wrong X-Plivo-Signature-V3"));
        }
        let path_and_query = uri.path_and_query().map_or(0, |p| p.as_str().len());
        Ok(Self {
            query: url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
            base: url[..url.len().saturating_sub(path_and_query)].to_owned(),
            form,
        })
    }
}

fn xml(body: String) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    response
}

fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, message.to_owned()).into_response()
}

async fn render(
    state: &AppState,
    signed: &PlivoSigned,
    call_uuid: &str,
    answer: Answer,
) -> Response {
    match answer {
        Answer::Connect {
            target,
            position,
            ring_timeout_secs,
        } => {
            let action = format!(
                "{}{DIAL_RESULT_PATH}?attempt={position}&timeout={ring_timeout_secs}",
                signed.base
            );
            tracing::info!(carrier = CARRIER, call_uuid, position, destination = %target.destination, "call: connecting");
            if target.destination.kind() == DestinationKind::Stream {
                // A <Stream> reports no result: the stream takes the call.
                attempt_ended(
                    state,
                    CARRIER,
                    call_uuid,
                    position,
                    CallOutcome::Completed,
                    ring_timeout_secs,
                )
                .await;
            }
            xml(plivo_connect(
                &target.destination,
                &action,
                ring_timeout_secs,
            ))
        }
        Answer::Apology => xml(plivo_apology(&state.calls.apology)),
        Answer::HangUp => xml(plivo_hangup()),
    }
}

/// Plivo's answer URL (ext): where a call to a number goes.
///
/// Point a Plivo application's answer URL here (POST). Checks `X-Plivo-Signature-V3` with
/// the auth token over the URL Plivo called and the nonce, records the call, and answers
/// Plivo XML that connects it (`<Dial><User>`, `<Dial><Number>`, `<Stream>`), with `action`
/// pointing at the dial-result endpoint; or a spoken apology and a hang-up. Never a 5xx.
#[utoipa::path(
    post,
    path = "/carriers/plivo/voice",
    operation_id = "plivoVoice",
    tag = "Carriers",
    request_body(content = PlivoVoiceForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Plivo XML.", content_type = "text/xml", body = String),
        (status = 400, description = "The signed request names no call (`CallUUID`, `From`, `To`).", body = String),
        (status = 403, description = "A missing or wrong signature, or Plivo not configured; nothing is recorded.", body = String),
    ),
    security(),
)]
pub async fn plivo_voice(State(state): State<AppState>, signed: PlivoSigned) -> Response {
    let (Some(call_uuid), Some(from), Some(to)) = (
        signed.param("CallUUID"),
        signed.param("From"),
        signed.param("To"),
    ) else {
        return bad_request("CallUUID, From and To are required");
    };
    let answer = route_call(&state, CARRIER, call_uuid, &e164_of(from), &e164_of(to)).await;
    render(&state, &signed, call_uuid, answer).await
}

/// Plivo's `<Dial action>` report (ext): how an attempt ended, answered with the next step.
#[utoipa::path(
    post,
    path = "/carriers/plivo/dial-result",
    operation_id = "plivoDialResult",
    tag = "Carriers",
    params(
        ("attempt" = u32, Query, description = "The attempt's place in the call's plan (set by Switchboard in the `action` URL)."),
        ("timeout" = Option<u32>, Query, description = "Ring timeout for the next target, seconds."),
    ),
    request_body(content = PlivoVoiceForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Plivo XML: the next target, or the end.", content_type = "text/xml", body = String),
        (status = 400, description = "The signed request names no call or attempt.", body = String),
        (status = 403, description = "A missing or wrong signature; nothing is recorded.", body = String),
    ),
    security(),
)]
pub async fn plivo_dial_result(State(state): State<AppState>, signed: PlivoSigned) -> Response {
    let position = signed
        .query_param("attempt")
        .and_then(|p| p.parse::<u32>().ok());
    let (Some(call_uuid), Some(position)) = (signed.param("CallUUID"), position) else {
        return bad_request("CallUUID and the attempt are required");
    };
    let ring_timeout = signed
        .query_param("timeout")
        .and_then(|t| t.parse::<u32>().ok())
        .unwrap_or(switchboard_domain::routing::DEFAULT_RING_TIMEOUT_SECS);
    let outcome = dial_outcome(signed.param("DialStatus"));
    let answer = attempt_ended(&state, CARRIER, call_uuid, position, outcome, ring_timeout).await;
    render(&state, &signed, call_uuid, answer).await
}

/// Plivo's hangup URL (ext): the call's end and duration.
#[utoipa::path(
    post,
    path = "/carriers/plivo/status",
    operation_id = "plivoStatus",
    tag = "Carriers",
    request_body(content = PlivoVoiceForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 204, description = "Recorded (or not final, not a call Switchboard routed, or not recordable now: the server's log says so)."),
        (status = 400, description = "The signed request names no call.", body = String),
        (status = 403, description = "A missing or wrong signature; nothing is recorded.", body = String),
    ),
    security(),
)]
pub async fn plivo_status(State(state): State<AppState>, signed: PlivoSigned) -> Response {
    let Some(call_uuid) = signed.param("CallUUID") else {
        return bad_request("CallUUID is required");
    };
    let Some(status) = signed.param("CallStatus").and_then(final_call_status) else {
        return StatusCode::NO_CONTENT.into_response();
    };
    let duration = signed.param("Duration").and_then(|d| d.parse::<i64>().ok());
    if let Err(error) = state
        .store
        .end_call(
            CARRIER,
            call_uuid,
            status,
            duration,
            state.calls.clock.now(),
        )
        .await
    {
        tracing::error!(%error, call_uuid, "plivo: a call's end could not be recorded");
    }
    StatusCode::NO_CONTENT.into_response()
}
