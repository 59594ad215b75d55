//! Telnyx's TeXML voice webhooks: the number's voice URL, `<Dial action>` reports and status
//! callbacks, each signed with Ed25519 (`telnyx-signature-ed25519` over
//! `{telnyx-timestamp}|{body}`) and answered with TeXML ([`super::texml`]).

use super::texml::{self, VoiceForm};
use super::{CarrierRequest, Refusal, SignedForm};
use axum::extract::{FromRequest, Request, State};
use axum::response::Response;
use switchboard_providers::telnyx::{TelnyxRefusal, verify_telnyx};
use switchboard_server::AppState;

const CARRIER: &str = "telnyx";
const DIAL_RESULT_PATH: &str = "/carriers/telnyx/dial-result";

/// A request Telnyx signed, at most five minutes ago: the extractor answers every other one
/// with the 403.
#[derive(Debug)]
pub struct TelnyxSigned(SignedForm);

impl FromRequest<AppState> for TelnyxSigned {
    type Rejection = Refusal;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Refusal> {
        let Some(key) = &state.calls.telnyx_public_key else {
            return Err(Refusal(
                "Telnyx is not configured on this server (--telnyx-public-key)",
            ));
        };
        let request = CarrierRequest::read(request, state).await?;
        let now = switchboard_domain::Timestamp::now().as_millis() / 1000;
        if let Err(refusal) = verify_telnyx(
            key,
            request.header("telnyx-timestamp"),
            request.header("telnyx-signature-ed25519"),
            &request.body,
            now,
        ) {
            tracing::warn!(
                ?refusal,
                path = request.uri.path(),
                "telnyx: a request was refused"
            );
            return Err(Refusal(match refusal {
                TelnyxRefusal::Missing => "missing telnyx-signature-ed25519 or telnyx-timestamp",
                TelnyxRefusal::Stale => "telnyx-timestamp is more than five minutes from now",
                TelnyxRefusal::Wrong => "wrong telnyx-signature-ed25519",
            }));
        }
        Ok(Self(request.signed(CARRIER, DIAL_RESULT_PATH)))
    }
}

/// Telnyx's TeXML voice webhook (ext): where a call to a number goes.
///
/// Point a Telnyx TeXML application's voice URL here (POST). Checks the Ed25519 signature
/// with `--telnyx-public-key` and refuses a timestamp more than five minutes away, records
/// the call, and answers TeXML that connects it to the chosen target, with `action` pointing
/// at the dial-result endpoint; or a spoken apology and a hang-up. Never a 5xx.
#[utoipa::path(
    post,
    path = "/carriers/telnyx/voice",
    operation_id = "telnyxVoice",
    tag = "Carriers",
    request_body(content = VoiceForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "TeXML.", content_type = "text/xml", body = String),
        (status = 400, description = "The signed request names no call (`CallSid`, `From`, `To`).", body = String),
        (status = 403, description = "A missing, wrong or stale signature, or Telnyx not configured; nothing is recorded.", body = String),
    ),
    security(),
)]
pub async fn telnyx_voice(
    State(state): State<AppState>,
    TelnyxSigned(signed): TelnyxSigned,
) -> Response {
    texml::voice(&state, signed).await
}

/// Telnyx's `<Dial action>` report (ext): how an attempt ended, answered with the next step.
#[utoipa::path(
    post,
    path = "/carriers/telnyx/dial-result",
    operation_id = "telnyxDialResult",
    tag = "Carriers",
    params(
        ("attempt" = u32, Query, description = "The attempt's place in the call's plan (set by Switchboard in the `action` URL)."),
        ("timeout" = Option<u32>, Query, description = "Ring timeout for the next target, seconds."),
    ),
    request_body(content = VoiceForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "TeXML: the next target, or the end.", content_type = "text/xml", body = String),
        (status = 400, description = "The signed request names no call or attempt.", body = String),
        (status = 403, description = "A missing, wrong or stale signature; nothing is recorded.", body = String),
    ),
    security(),
)]
pub async fn telnyx_dial_result(
    State(state): State<AppState>,
    TelnyxSigned(signed): TelnyxSigned,
) -> Response {
    texml::dial_result(&state, signed).await
}

/// Telnyx's status callback (ext): the call's end and duration.
#[utoipa::path(
    post,
    path = "/carriers/telnyx/status",
    operation_id = "telnyxStatus",
    tag = "Carriers",
    request_body(content = VoiceForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 204, description = "Recorded (or not final yet, not a call Switchboard routed, or not recordable now: the server's log says so)."),
        (status = 400, description = "The signed request names no call.", body = String),
        (status = 403, description = "A missing, wrong or stale signature; nothing is recorded.", body = String),
    ),
    security(),
)]
pub async fn telnyx_status(
    State(state): State<AppState>,
    TelnyxSigned(signed): TelnyxSigned,
) -> Response {
    texml::status(&state, signed).await
}
