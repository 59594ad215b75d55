//! Plivo's call dialect: the V3 signature on its answer, action and hangup callbacks, what
//! they report, and Plivo XML, which tells it where a call goes.
//!
//! `X-Plivo-Signature-V3` is base64 of HMAC-SHA256, keyed with the auth token, over
//! `{url}.{X-Plivo-Signature-V3-Nonce}`, where for a POST `url` is the address called without
//! its query, then `?` and the query's parameters sorted (`k=v` joined with `&`), then — when
//! the body has parameters — `.` if there was a query, and every body parameter sorted by
//! name as `namevalue`. The header may carry several signatures, comma-separated; one must
//! match. (`validate_v3_signature` in Plivo's own `plivo` package; `.ci/run` checks this code
//! against it.)

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use switchboard_domain::{CallOutcome, Destination, DestinationKind};

/// The `X-Plivo-Signature-V3` of a POST to `url` (with its query) carrying `params`.
pub fn plivo_signature(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    nonce: &str,
) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut query: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    query.sort();
    let query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut signed = base.to_owned();
    if !query.is_empty() || !params.is_empty() {
        signed.push('?');
        signed.push_str(&query);
    }
    if !query.is_empty() && !params.is_empty() {
        signed.push('.');
    }
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort();
    for (name, value) in sorted {
        signed.push_str(name);
        signed.push_str(value);
    }
    signed.push('.');
    signed.push_str(nonce);
    let mut mac = Hmac::<Sha256>::new_from_slice(auth_token.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(signed.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether one of the comma-separated `signatures` is Plivo's for this request.
pub fn plivo_signature_matches(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    nonce: &str,
    signatures: &str,
) -> bool {
    let expected = plivo_signature(auth_token, url, params, nonce);
    signatures
        .split(',')
        .any(|s| bool::from(expected.as_bytes().ct_eq(s.trim().as_bytes())))
}

/// A number as Plivo writes it (`14155550100`) in E.164 (`+14155550100`).
pub fn e164_of(number: &str) -> String {
    if number.starts_with('+') {
        number.to_owned()
    } else {
        format!("+{number}")
    }
}

/// How a `<Dial>` ended, from its action callback's `DialStatus`.
pub fn dial_outcome(dial_status: Option<&str>) -> CallOutcome {
    match dial_status {
        None | Some("completed" | "answer" | "answered") => CallOutcome::Completed,
        Some("busy") => CallOutcome::Busy,
        Some("no-answer" | "timeout" | "cancel" | "canceled") => CallOutcome::NoAnswer,
        Some(_) => CallOutcome::Failed,
    }
}

/// A call's final status from the hangup callback's `CallStatus`.
pub fn final_call_status(call_status: &str) -> Option<CallOutcome> {
    match call_status {
        "completed" => Some(CallOutcome::Completed),
        "busy" => Some(CallOutcome::Busy),
        "no-answer" | "timeout" | "cancel" | "canceled" => Some(CallOutcome::NoAnswer),
        "failed" => Some(CallOutcome::Failed),
        _ => None,
    }
}

/// Plivo XML that connects the call to `destination` and reports to `action_url`: `<Dial>`
/// with `<User>` (SIP) or `<Number>`; a stream is `<Stream>`, which reports no result (the
/// stream takes the call).
pub fn plivo_connect(
    destination: &Destination,
    action_url: &str,
    ring_timeout_secs: u32,
) -> String {
    let action = xml_escape(action_url);
    let body = match destination.kind() {
        DestinationKind::Stream => format!(
            "<Stream bidirectional=\"true\" keepCallAlive=\"true\">{}</Stream>",
            xml_escape(destination.as_str())
        ),
        DestinationKind::Sip => format!(
            "<Dial action=\"{action}\" method=\"POST\" timeout=\"{ring_timeout_secs}\"><User>{}</User></Dial>",
            xml_escape(destination.as_str())
        ),
        DestinationKind::Phone => format!(
            "<Dial action=\"{action}\" method=\"POST\" timeout=\"{ring_timeout_secs}\"><Number>{}</Number></Dial>",
            destination
                .phone_number()
                .unwrap_or_default()
                .trim_start_matches('+')
        ),
    };
    response(&body)
}

/// Plivo XML that says `text` and hangs up.
pub fn plivo_apology(text: &str) -> String {
    response(&format!("<Speak>{}</Speak><Hangup/>", xml_escape(text)))
}

/// Plivo XML that ends the call.
pub fn plivo_hangup() -> String {
    response("<Hangup/>")
}

fn response(body: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>{body}</Response>")
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Signatures computed by Plivo's own `validate_v3_signature` scheme (plivo 4.63.0, its
    /// `construct_post_url` and `get_signature_v3`) for these inputs.
    #[test]
    fn signs_as_plivos_library_does() {
        let token = "MAXXXXXXXXXXXXXXXXXX";
        let form = params(&[
            ("CallUUID", "abc-123"),
            ("From", "14155550123"),
            ("To", "14155550100"),
        ]);
        let with_query = plivo_signature(
            token,
            "https://sb.example.com/carriers/plivo/dial-result?attempt=0&timeout=20",
            &form,
            "12345",
        );
        let without_query = plivo_signature(
            token,
            "https://sb.example.com/carriers/plivo/voice",
            &form,
            "12345",
        );
        assert_eq!(with_query, "GenNXUUdAQemy7Gi66g4ujooOxnJY1KBO34yxkIuCpA=");
        assert_eq!(
            without_query,
            "rhdkx4q4/9PwjGwaImTsr6uwTx+QuIho/XppQ+5Jwr8="
        );
        assert!(plivo_signature_matches(
            token,
            "https://sb.example.com/carriers/plivo/voice",
            &form,
            "12345",
            &format!("other,{without_query}")
        ));
        assert!(!plivo_signature_matches(
            token,
            "https://sb.example.com/carriers/plivo/voice",
            &form,
            "12346",
            &without_query
        ));
    }

    #[test]
    fn plivo_xml_connects_each_kind() {
        let action = "https://sb.example.com/carriers/plivo/dial-result?attempt=0&timeout=20";
        let sip = Destination::parse("sip:bot@agents.example.com").expect("sip");
        assert!(plivo_connect(&sip, action, 20).contains("<Dial action=\"https://sb.example.com/carriers/plivo/dial-result?attempt=0&amp;timeout=20\" method=\"POST\" timeout=\"20\"><User>sip:bot@agents.example.com</User></Dial>"));
        let phone = Destination::parse("tel:+14155550177").expect("tel");
        assert!(plivo_connect(&phone, action, 20).contains("<Number>14155550177</Number>"));
        let stream = Destination::parse("wss://bot.example.com/s").expect("wss");
        assert!(plivo_connect(&stream, action, 20).contains(
            "<Stream bidirectional=\"true\" keepCallAlive=\"true\">wss://bot.example.com/s</Stream>"
        ));
        assert!(plivo_apology("Sorry").contains("<Speak>Sorry</Speak><Hangup/>"));
        assert_eq!(e164_of("14155550100"), "+14155550100");
    }
}
