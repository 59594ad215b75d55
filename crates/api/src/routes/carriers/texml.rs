//! The conversation Twilio (TwiML) and Telnyx (TeXML) both hold with Switchboard once a
//! request's signature is checked: the voice request, the `<Dial action>` reports and the
//! status callbacks, each read from the same form fields and answered with the same XML.

use super::{Answer, attempt_ended, route_call};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode, Uri};
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

/// Why a request was refused: a 403, with nothing recorded.
#[derive(Debug)]
pub struct Refusal(pub &'static str);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (StatusCode::FORBIDDEN, self.0).into_response()
    }
}

/// A request whose signature was checked: its form fields and query, and where it came in.
#[derive(Debug)]
pub struct SignedForm {
    carrier: &'static str,
    /// Where this carrier reports an attempt's end (the `action` of a `<Dial>`).
    dial_result_path: &'static str,
    form: Vec<(String, String)>,
    query: Vec<(String, String)>,
    /// The scheme and host the carrier called, for the `action` URLs.
    base: String,
}

fn field<'a>(list: &'a [(String, String)], name: &str) -> Option<&'a str> {
    list.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

impl SignedForm {
    /// `url` is the whole URL the carrier called (see [`super::called_url`]), `uri` its path
    /// and query as received.
    pub fn new(
        carrier: &'static str,
        dial_result_path: &'static str,
        uri: &Uri,
        url: &str,
        form: Vec<(String, String)>,
    ) -> Self {
        let path_and_query = uri.path_and_query().map_or(0, |p| p.as_str().len());
        Self {
            carrier,
            dial_result_path,
            query: url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
            base: url[..url.len().saturating_sub(path_and_query)].to_owned(),
            form,
        }
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        field(&self.form, name)
    }

    fn query_param(&self, name: &str) -> Option<&str> {
        field(&self.query, name)
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

fn render(state: &AppState, signed: &SignedForm, call_sid: &str, answer: Answer) -> Response {
    match answer {
        Answer::Connect {
            target,
            position,
            ring_timeout_secs,
        } => {
            let mut action = url::form_urlencoded::Serializer::new(String::new());
            action.append_pair("attempt", &position.to_string());
            action.append_pair("timeout", &ring_timeout_secs.to_string());
            let action = format!(
                "{}{}?{}",
                signed.base,
                signed.dial_result_path,
                action.finish()
            );
            tracing::info!(carrier = signed.carrier, call_sid, position, destination = %target.destination, "call: connecting");
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

fn bad_request(message: &str) -> Response {
    (StatusCode::BAD_REQUEST, message.to_owned()).into_response()
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
    let answer = route_call(state, signed.carrier, call_sid, from, to).await;
    render(state, &signed, call_sid, answer)
}

/// An attempt ended: the next step.
pub async fn dial_result(state: &AppState, signed: SignedForm) -> Response {
    let position = signed
        .query_param("attempt")
        .and_then(|p| p.parse::<u32>().ok());
    let (Some(call_sid), Some(position)) = (signed.param("CallSid"), position) else {
        return bad_request("CallSid and the attempt are required");
    };
    let ring_timeout = signed
        .query_param("timeout")
        .and_then(|t| t.parse::<u32>().ok())
        .unwrap_or(switchboard_domain::routing::DEFAULT_RING_TIMEOUT_SECS);
    let outcome = dial_outcome(signed.param("DialCallStatus"));
    let answer = attempt_ended(
        state,
        signed.carrier,
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
            signed.carrier,
            call_sid,
            status,
            duration,
            state.calls.clock.now(),
        )
        .await
    {
        // Never a 5xx to a carrier: the log says what was lost.
        tracing::error!(%error, carrier = signed.carrier, call_sid, "call: its end could not be recorded");
    }
    StatusCode::NO_CONTENT.into_response()
}
