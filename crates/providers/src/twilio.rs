//! Twilio's call dialect: the signature on its voice webhooks, what its callbacks report,
//! and TwiML, the XML that tells it where a call goes.
//!
//! Twilio POSTs form-encoded parameters to the number's voice URL and signs each request in
//! `X-Twilio-Signature`: base64 of HMAC-SHA1, keyed with the account's auth token, over the
//! full URL it called followed by every POST parameter's name and value, sorted by name.
//! (`RequestValidator` in Twilio's own libraries; the tests check this code against it.)

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;
use switchboard_domain::{CallOutcome, Destination, DestinationKind};

/// The `X-Twilio-Signature` of a request to `url` with these form parameters.
pub fn twilio_signature(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    // Stable: values of a repeated name keep their order, as Twilio's validator does.
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut mac = Hmac::<Sha1>::new_from_slice(auth_token.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(url.as_bytes());
    for (name, value) in sorted {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// Whether `signature` is Twilio's for this request, compared in constant time.
pub fn twilio_signature_matches(
    auth_token: &str,
    url: &str,
    params: &[(String, String)],
    signature: &str,
) -> bool {
    let expected = twilio_signature(auth_token, url, params);
    expected
        .as_bytes()
        .ct_eq(signature.trim().as_bytes())
        .into()
}

/// How a `<Dial>` (or `<Connect>`) ended, from its action callback's `DialCallStatus`; a
/// `<Connect>` to a stream reports none and has ended once the stream closed.
pub fn dial_outcome(dial_call_status: Option<&str>) -> CallOutcome {
    match dial_call_status {
        None | Some("completed" | "answered") => CallOutcome::Completed,
        Some("busy") => CallOutcome::Busy,
        Some("no-answer" | "canceled") => CallOutcome::NoAnswer,
        Some(_) => CallOutcome::Failed,
    }
}

/// A call's final status from a status callback's `CallStatus`; `None` while it goes on
/// (`queued`, `ringing`, `in-progress`).
pub fn final_call_status(call_status: &str) -> Option<CallOutcome> {
    match call_status {
        "completed" => Some(CallOutcome::Completed),
        "busy" => Some(CallOutcome::Busy),
        "no-answer" | "canceled" => Some(CallOutcome::NoAnswer),
        "failed" => Some(CallOutcome::Failed),
        _ => None,
    }
}

/// TwiML that connects the call to `destination`, ringing at most `ring_timeout_secs`, and
/// reports how it ended to `action_url` (whose answer is the next step).
pub fn twiml_connect(
    destination: &Destination,
    action_url: &str,
    ring_timeout_secs: u32,
) -> String {
    let action = xml_escape(action_url);
    let target = xml_escape(destination.as_str());
    let body = match destination.kind() {
        DestinationKind::Stream => format!(
            "<Connect action=\"{action}\" method=\"POST\"><Stream url=\"{target}\"/></Connect>"
        ),
        DestinationKind::Sip => format!(
            "<Dial action=\"{action}\" method=\"POST\" timeout=\"{ring_timeout_secs}\"><Sip>{target}</Sip></Dial>"
        ),
        DestinationKind::Phone => format!(
            "<Dial action=\"{action}\" method=\"POST\" timeout=\"{ring_timeout_secs}\"><Number>{}</Number></Dial>",
            xml_escape(destination.phone_number().unwrap_or_default())
        ),
    };
    response(&body)
}

/// TwiML that says `text` and hangs up: the answer for a call with nowhere to go.
pub fn twiml_apology(text: &str) -> String {
    response(&format!("<Say>{}</Say><Hangup/>", xml_escape(text)))
}

/// TwiML that ends the call.
pub fn twiml_hangup() -> String {
    response("<Hangup/>")
}

fn response(body: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>{body}</Response>")
}

fn xml_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            c => escaped.push(c),
        }
    }
    escaped
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

    /// The example of Twilio's security documentation, whose signature its own
    /// `RequestValidator` computes (`.ci/run` checks more against the library itself).
    #[test]
    fn signs_twilios_documented_example() {
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        let params = params(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+12349013030"),
            ("Digits", "1234"),
            ("From", "+12349013030"),
            ("To", "+18005551212"),
        ]);
        let signature = twilio_signature("12345", url, &params);
        assert_eq!(signature, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=");
        assert!(twilio_signature_matches("12345", url, &params, &signature));
        assert!(!twilio_signature_matches("12346", url, &params, &signature));
        let mut tampered = params.clone();
        tampered[3].1 = "+12349013031".into();
        assert!(!twilio_signature_matches(
            "12345", url, &tampered, &signature
        ));
    }

    #[test]
    fn twiml_connects_each_kind_and_escapes() {
        let action = "https://sb.example.com/carriers/twilio/dial-result?call=CA1&attempt=0";
        let sip = Destination::parse("sip:bot@agents.example.com;transport=tls").expect("sip");
        assert_eq!(
            twiml_connect(&sip, action, 20),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Dial action=\"https://sb.example.com/carriers/twilio/dial-result?call=CA1&amp;attempt=0\" method=\"POST\" timeout=\"20\"><Sip>sip:bot@agents.example.com;transport=tls</Sip></Dial></Response>"
        );
        let phone = Destination::parse("tel:+14155550100").expect("tel");
        assert!(
            twiml_connect(&phone, action, 15)
                .contains("timeout=\"15\"><Number>+14155550100</Number></Dial>")
        );
        let stream = Destination::parse("wss://bot.example.com/s?a=1&b=2").expect("wss");
        assert!(twiml_connect(&stream, action, 15).contains("<Connect action=\"https://sb.example.com/carriers/twilio/dial-result?call=CA1&amp;attempt=0\" method=\"POST\"><Stream url=\"wss://bot.example.com/s?a=1&amp;b=2\"/></Connect>"));
        assert_eq!(
            twiml_apology("Sorry <we> can't"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say>Sorry &lt;we&gt; can&apos;t</Say><Hangup/></Response>"
        );
    }
}
