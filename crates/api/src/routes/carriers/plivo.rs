//! Plivo's voice callbacks: the number's answer URL, `<Dial action>` reports and the hangup
//! URL, each signed in `X-Plivo-Signature-V3` (with `X-Plivo-Signature-V3-Nonce`) and
//! answered with Plivo XML.

use super::{
    Answer, CarrierRequest, Refusal, SignedForm, attempt_ended, bad_request, route_call, xml,
};
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
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
pub struct PlivoSigned(SignedForm);

impl FromRequest<AppState> for PlivoSigned {
    type Rejection = Refusal;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Refusal> {
        let Some(token) = &state.calls.plivo_auth_token else {
            return Err(Refusal(
                "Plivo is not configured on this server (--plivo-auth-token)",
            ));
        };
        let request = CarrierRequest::read(request, state).await?;
        let (Some(signature), Some(nonce)) = (
            request.header("x-plivo-signature-v3"),
            request.header("x-plivo-signature-v3-nonce"),
        ) else {
            return Err(Refusal("missing X-Plivo-Signature-V3 or its nonce"));
        };
        if !plivo_signature_matches(token, &request.url, &request.form, nonce, signature) {
            tracing::warn!(
                url = request.url,
                "plivo: a request with a wrong signature was refused"
            );
            return Err(Refusal("wrong X-Plivo-Signature-V3"));
        }
        Ok(Self(request.signed(CARRIER, DIAL_RESULT_PATH)))
    }
}

async fn render(
    state: &AppState,
    signed: &SignedForm,
    call_uuid: &str,
    answer: Answer,
) -> Response {
    match answer {
        Answer::Connect {
            target,
            position,
            ring_timeout_secs,
        } => {
            let action = signed.action_url(position, ring_timeout_secs);
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
pub async fn plivo_voice(
    State(state): State<AppState>,
    PlivoSigned(signed): PlivoSigned,
) -> Response {
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
pub async fn plivo_dial_result(
    State(state): State<AppState>,
    PlivoSigned(signed): PlivoSigned,
) -> Response {
    let (Some(call_uuid), Some((position, ring_timeout))) =
        (signed.param("CallUUID"), signed.reported_attempt())
    else {
        return bad_request("CallUUID and the attempt are required");
    };
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
pub async fn plivo_status(
    State(state): State<AppState>,
    PlivoSigned(signed): PlivoSigned,
) -> Response {
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
