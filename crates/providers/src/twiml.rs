//! TwiML, the XML that tells a carrier where a call goes, and the statuses its callbacks
//! report. Twilio speaks it; Telnyx's TeXML is the same language for everything used here
//! (`<Dial>` with `<Sip>` or `<Number>` and an `action`, `<Connect><Stream>`, `<Say>`,
//! `<Hangup>`, and the `DialCallStatus`/`CallStatus` values of its callbacks).

use switchboard_domain::{CallOutcome, Destination, DestinationKind};

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
