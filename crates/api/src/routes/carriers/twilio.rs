//! Twilio's voice webhooks: the number's voice URL, `<Dial action>` reports and status
//! callbacks, each signed in `X-Twilio-Signature` and answered with TwiML.

use super::{Answer, attempt_ended, called_url, route_call};
use axum::extract::{FromRequest, OriginalUri, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use switchboard_domain::Timestamp;
use switchboard_providers::twilio::{
    dial_outcome, final_call_status, twilio_signature_matches, twiml_apology, twiml_connect,
    twiml_hangup,
};
use switchboard_server::AppState;
use utoipa::ToSchema;

const CARRIER: &str = "twilio";
const DIAL_RESULT_PATH: &str = "/carriers/twilio/dial-result";

/// What Twilio posts (form-encoded) to a number's voice URL; it posts more, all signed.
#[derive(Debug, serde::Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
#[allow(dead_code, reason = "documents the form; the handler reads it itself")]
pub struct TwilioVoiceForm {
    #[schema(example = "CA1234567890abcdef1234567890abcdef")]
    call_sid: String,
    account_sid: String,
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

/// A signed Twilio request, read: its form parameters and query.
#[derive(Debug)]
pub struct Signed {
    form: Vec<(String, String)>,
    query: Vec<(String, String)>,
    base: String,
}

impl Signed {
    fn get<'a>(list: &'a [(String, String)], name: &str) -> Option<&'a str> {
        list.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn param(&self, name: &str) -> Option<&str> {
        Self::get(&self.form, name)
    }
}

/// Why a request was refused: a 403, with nothing recorded.
#[derive(Debug)]
pub struct Refusal(&'static str);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (StatusCode::FORBIDDEN, self.0).into_response()
    }
}

/// Largest form a Twilio request carries (it is a few hundred bytes).
const FORM_MAX_BYTES: usize = 64 * 1024;

/// A request is read as `Signed` only when Twilio signed it: the extractor answers every
/// other one with the 403.
impl FromRequest<AppState> for Signed {
    type Rejection = Refusal;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Refusal> {
        let (parts, body) = request.into_parts();
        // The URL as the client called it, not as a nested router rewrote it.
        let uri = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.clone(), |original| original.0.clone());
        let body = axum::body::to_bytes(body, FORM_MAX_BYTES)
            .await
            .map_err(|_| Refusal("the form could not be read"))?;
        verify(state, &parts.headers, &uri, &body)
    }
}

/// Checks the request's signature (and account).
fn verify(
    state: &AppState,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
    body: &[u8],
) -> Result<Signed, Refusal> {
    let Some(token) = &state.calls.twilio_auth_token else {
        return Err(Refusal(
            "Twilio is not configured on this server (--twilio-auth-token)",
        ));
    };
    let form: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    let url = called_url(state, headers, uri);
    let signature = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if signature.is_empty() || !twilio_signature_matches(token, &url, &form, signature) {
        tracing::warn!(
            url,
            "twilio: a request with a missing or wrong signature was refused"
        );
        return Err(Refusal("missing or wrong X-Twilio-Signature"));
    }
    let signed = Signed {
        query: url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect(),
        base: url[..url.len() - uri.path_and_query().map_or(0, |p| p.as_str().len())].to_owned(),
        form,
    };
    if let Some(account) = &state.calls.twilio_account_sid
        && signed.param("AccountSid") != Some(account.as_str())
    {
        return Err(Refusal("the request is from another Twilio account"));
    }
    Ok(signed)
}

fn twiml(body: String) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    response
}

fn render(state: &AppState, signed: &Signed, call_sid: &str, answer: Answer) -> Response {
    match answer {
        Answer::Connect {
            target,
            position,
            ring_timeout_secs,
        } => {
            let mut action = url::form_urlencoded::Serializer::new(String::new());
            action.append_pair("attempt", &position.to_string());
            action.append_pair("timeout", &ring_timeout_secs.to_string());
            let action = format!("{}{DIAL_RESULT_PATH}?{}", signed.base, action.finish());
            tracing::info!(carrier = CARRIER, call_sid, position, destination = %target.destination, "call: connecting");
            twiml(twiml_connect(
                &target.destination,
                &action,
                ring_timeout_secs,
            ))
        }
        Answer::Apology => twiml(twiml_apology(&state.calls.apology)),
        Answer::HangUp => twiml(twiml_hangup()),
    }
}

fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, message.to_owned()).into_response()
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
    request_body(content = TwilioVoiceForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "TwiML.", content_type = "text/xml", body = String),
        (status = 400, description = "The signed request names no call (`CallSid`, `From`, `To`).", body = String),
        (status = 403, description = "A missing or wrong signature, another account, or Twilio not configured; nothing is recorded.", body = String),
    ),
    security(),
)]
pub async fn twilio_voice(State(state): State<AppState>, signed: Signed) -> Response {
    let (Some(call_sid), Some(from), Some(to)) = (
        signed.param("CallSid"),
        signed.param("From"),
        signed.param("To"),
    ) else {
        return bad_request("CallSid, From and To are required");
    };
    let answer = route_call(&state, CARRIER, call_sid, from, to).await;
    render(&state, &signed, call_sid, answer)
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
    request_body(content = TwilioVoiceForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "TwiML: the next target, or the end.", content_type = "text/xml", body = String),
        (status = 400, description = "The signed request names no call or attempt.", body = String),
        (status = 403, description = "A missing or wrong signature; nothing is recorded.", body = String),
    ),
    security(),
)]
pub async fn twilio_dial_result(State(state): State<AppState>, signed: Signed) -> Response {
    let position = Signed::get(&signed.query, "attempt").and_then(|p| p.parse::<u32>().ok());
    let (Some(call_sid), Some(position)) = (signed.param("CallSid"), position) else {
        return bad_request("CallSid and the attempt are required");
    };
    let ring_timeout = Signed::get(&signed.query, "timeout")
        .and_then(|t| t.parse::<u32>().ok())
        .unwrap_or(switchboard_domain::routing::DEFAULT_RING_TIMEOUT_SECS);
    let outcome = dial_outcome(signed.param("DialCallStatus"));
    let answer = attempt_ended(&state, CARRIER, call_sid, position, outcome, ring_timeout).await;
    render(&state, &signed, call_sid, answer)
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
    request_body(content = TwilioVoiceForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 204, description = "Recorded (or not final yet, not a call Switchboard routed, or not recordable now: the server's log says so)."),
        (status = 400, description = "The signed request names no call.", body = String),
        (status = 403, description = "A missing or wrong signature; nothing is recorded.", body = String),
    ),
    security(),
)]
pub async fn twilio_status(State(state): State<AppState>, signed: Signed) -> Response {
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
        .end_call(CARRIER, call_sid, status, duration, Timestamp::now())
        .await
    {
        // Never a 5xx to a carrier: the log says what was lost.
        tracing::error!(%error, call_sid, "twilio: a call's end could not be recorded");
    }
    StatusCode::NO_CONTENT.into_response()
}
