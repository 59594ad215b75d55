//! The conversation Twilio (TwiML) and Telnyx (TeXML) both hold with Switchboard once a
//! request's signature is checked: the voice request, the `<Dial action>` reports and the
//! status callbacks, each read from the same form fields and answered with the same XML.

use super::{Answer, SignedForm, attempt_ended, bad_request, route_call, xml};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use switchboard_providers::twiml::{
    dial_outcome, final_call_status, twiml_apology, twiml_connect, twiml_hangup,
};
use switchboard_server::AppState;
use utoipa::ToSchema;

/// What the carrier posts (form-encoded) to a number's voice URL, its dial results and its
/// status callbacks; it posts more, all covered by the signature.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
#[allow(dead_code, reason = "documents the form; the handler reads it itself")]
pub struct VoiceForm {
    #[schema(example = "CA1234567890abcdef1234567890abcdef")]
    call_sid: String,
    account_sid: Option<String>,
    /// The caller.
    #[schema(example = "+14155550123")]
    from: String,
    /// The number called.
    #[schema(example = "+14155550100")]
    to: String,
    /// On `<Dial action>` reports: `completed`, `answered`, `busy`, `no-answer`, `failed` or
    /// `canceled`.
    dial_call_status: Option<String>,
    /// On status callbacks: the call's status.
    call_status: Option<String>,
    /// On status callbacks: seconds.
    call_duration: Option<String>,
}

fn render(state: &AppState, signed: &SignedForm, call_sid: &str, answer: Answer) -> Response {
    match answer {
        Answer::Connect {
            target,
            position,
            ring_timeout_secs,
        } => {
            let action = signed.action_url(position, ring_timeout_secs);
            tracing::info!(carrier = signed.carrier(), call_sid, position, destination = %target.destination, "call: connecting");
            xml(twiml_connect(
                &target.destination,
                &action,
                ring_timeout_secs,
            ))
        }
        Answer::Apology => xml(twiml_apology(&state.calls.apology)),
        Answer::HangUp => xml(twiml_hangup()),
    }
}

/// The number rings: where the call goes.
pub async fn voice(state: &AppState, signed: SignedForm) -> Response {
    let (Some(call_sid), Some(from), Some(to)) = (
        signed.param("CallSid"),
        signed.param("From"),
        signed.param("To"),
    ) else {
        return bad_request("CallSid, From and To are required");
    };
    let answer = route_call(state, signed.carrier(), call_sid, from, to).await;
    render(state, &signed, call_sid, answer)
}

/// An attempt ended: the next step.
pub async fn dial_result(state: &AppState, signed: SignedForm) -> Response {
    let (Some(call_sid), Some((position, ring_timeout))) =
        (signed.param("CallSid"), signed.reported_attempt())
    else {
        return bad_request("CallSid and the attempt are required");
    };
    let outcome = dial_outcome(signed.param("DialCallStatus"));
    let answer = attempt_ended(
        state,
        signed.carrier(),
        call_sid,
        position,
        outcome,
        ring_timeout,
    )
    .await;
    render(state, &signed, call_sid, answer)
}

/// The call ended: its outcome and duration.
pub async fn status(state: &AppState, signed: SignedForm) -> Response {
    let Some(call_sid) = signed.param("CallSid") else {
        return bad_request("CallSid is required");
    };
    let Some(status) = signed.param("CallStatus").and_then(final_call_status) else {
        return StatusCode::NO_CONTENT.into_response();
    };
    let duration = signed
        .param("CallDuration")
        .and_then(|d| d.parse::<i64>().ok());
    if let Err(error) = state
        .store
        .end_call(
            signed.carrier(),
            call_sid,
            status,
            duration,
            state.calls.clock.now(),
        )
        .await
    {
        // Never a 5xx to a carrier: the log says what was lost.
        tracing::error!(%error, carrier = signed.carrier(), call_sid, "call: its end could not be recorded");
    }
    StatusCode::NO_CONTENT.into_response()
}
