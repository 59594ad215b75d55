//! Twilio's voice webhooks: the number's voice URL, `<Dial action>` reports and status
//! callbacks, each signed in `X-Twilio-Signature` and answered with TwiML
//! ([`super::texml`]).

use super::texml::{self, VoiceForm};
use super::{CarrierRequest, Refusal, SignedForm};
use axum::extract::{FromRequest, Request, State};
use axum::response::Response;
use switchboard_providers::twilio::twilio_signature_matches;
use switchboard_server::AppState;

const CARRIER: &str = "twilio";
const DIAL_RESULT_PATH: &str = "/carriers/twilio/dial-result";

/// A request Twilio signed: the extractor answers every other one with the 403.
#[derive(Debug)]
pub struct TwilioSigned(SignedForm);

impl FromRequest<AppState> for TwilioSigned {
    type Rejection = Refusal;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Refusal> {
        let Some(token) = &state.calls.twilio_auth_token else {
            return Err(Refusal(
                "Twilio is not configured on this server (--twilio-auth-token)",
            ));
        };
        let request = CarrierRequest::read(request, state).await?;
        let signature = request.header("x-twilio-signature").unwrap_or_default();
        if signature.is_empty()
            || !twilio_signature_matches(token, &request.url, &request.form, signature)
        {
            tracing::warn!(
                url = request.url,
                "twilio: a request with a missing or wrong signature was refused"
            );
            return Err(Refusal("missing or wrong X-Twilio-Signature"));
        }
        let signed = request.signed(CARRIER, DIAL_RESULT_PATH);
        if let Some(account) = &state.calls.twilio_account_sid
            && signed.param("AccountSid") != Some(account.as_str())
        {
            return Err(Refusal("the request is from another Twilio account"));
        }
        Ok(Self(signed))
    }
}

/// Twilio's voice webhook (ext): where a call to a number goes.
///
/// Point a Twilio number's voice URL here (POST). Checks `X-Twilio-Signature` with the
/// account's auth token over the URL Twilio called (`--public-url` behind a proxy), records
/// the call, and answers TwiML that connects it to the chosen target (`<Dial><Sip>`,
/// `<Dial><Number>`, `<Connect><Stream>`) with `action` pointing at the dial-result endpoint,
/// or a spoken apology and a hang-up when the number is unknown, released or has no working
/// route. Never a 5xx.
#[utoipa::path(
    post,
    path = "/carriers/twilio/voice",
    operation_id = "twilioVoice",
    tag = "Carriers",
    request_body(content = VoiceForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "TwiML.", content_type = "text/xml", body = String),
        (status = 400, description = "The signed request names no call (`CallSid`, `From`, `To`).", body = String),
        (status = 403, description = "A missing or wrong signature, another account, or Twilio not configured; nothing is recorded.", body = String),
    ),
    security(),
)]
pub async fn twilio_voice(
    State(state): State<AppState>,
    TwilioSigned(signed): TwilioSigned,
) -> Response {
    texml::voice(&state, signed).await
}

/// Twilio's `<Dial action>` report (ext): how an attempt ended, answered with the next step.
///
/// `DialCallStatus` `completed`/`answered` ends the call there; `busy`, `no-answer` or
/// `failed` moves it to the next target of its plan, or ends it with the apology.
#[utoipa::path(
    post,
    path = "/carriers/twilio/dial-result",
    operation_id = "twilioDialResult",
    tag = "Carriers",
    params(
        ("attempt" = u32, Query, description = "The attempt's place in the call's plan (set by Switchboard in the `action` URL)."),
        ("timeout" = Option<u32>, Query, description = "Ring timeout for the next target, seconds."),
    ),
    request_body(content = VoiceForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "TwiML: the next target, or the end.", content_type = "text/xml", body = String),
        (status = 400, description = "The signed request names no call or attempt.", body = String),
        (status = 403, description = "A missing or wrong signature; nothing is recorded.", body = String),
    ),
    security(),
)]
pub async fn twilio_dial_result(
    State(state): State<AppState>,
    TwilioSigned(signed): TwilioSigned,
) -> Response {
    texml::dial_result(&state, signed).await
}

/// Twilio's status callback (ext): the call's end and duration.
///
/// Set as the number's `StatusCallback`. A final `CallStatus` (`completed`, `busy`,
/// `no-answer`, `failed`, `canceled`) ends the call in the log with `CallDuration`; reports
/// may arrive in any order with the dial results, and more than once.
#[utoipa::path(
    post,
    path = "/carriers/twilio/status",
    operation_id = "twilioStatus",
    tag = "Carriers",
    request_body(content = VoiceForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 204, description = "Recorded (or not final yet, not a call Switchboard routed, or not recordable now: the server's log says so)."),
        (status = 400, description = "The signed request names no call.", body = String),
        (status = 403, description = "A missing or wrong signature; nothing is recorded.", body = String),
    ),
    security(),
)]
pub async fn twilio_status(
    State(state): State<AppState>,
    TwilioSigned(signed): TwilioSigned,
) -> Response {
    texml::status(&state, signed).await
}
