//! Where a call goes: an agent's `destination`, or a routing policy's direct target.
//!
//! Three kinds, each with the URI scheme a carrier can connect a call to:
//! - `sip:` / `sips:` — a SIP endpoint (an agent runtime such as LiveKit SIP or Retell);
//! - `wss://` — a media stream (Twilio Media Streams, Telnyx and Plivo audio streams);
//! - `tel:+E164` — a phone, e.g. a person to hand the call to.

use crate::E164;
use std::fmt;

/// Longest destination accepted, in bytes: far above any real SIP or stream address, well
/// below what would bloat a carrier's answer document.
pub const DESTINATION_MAX_LEN: usize = 512;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    kind: DestinationKind,
    uri: String,
}

/// How a carrier reaches a destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DestinationKind {
    /// `sip:` or `sips:`: dial a SIP address.
    Sip,
    /// `wss://`: connect the call's audio to a WebSocket stream.
    Stream,
    /// `tel:`: dial a phone number.
    Phone,
}

impl DestinationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DestinationKind::Sip => "sip",
            DestinationKind::Stream => "stream",
            DestinationKind::Phone => "phone",
        }
    }
}

/// Why a destination was refused: the sentence ends a message that starts with the field.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct DestinationError(String);

fn refuse<T>(reason: impl Into<String>) -> Result<T, DestinationError> {
    Err(DestinationError(reason.into()))
}

impl Destination {
    pub fn parse(text: &str) -> Result<Self, DestinationError> {
        if text.len() > DESTINATION_MAX_LEN {
            return refuse(format!("must be at most {DESTINATION_MAX_LEN} characters"));
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return refuse("must not contain spaces or control characters");
        }
        let lower = text.to_ascii_lowercase();
        let kind = if lower.starts_with("sip:") || lower.starts_with("sips:") {
            check_sip(text)?;
            DestinationKind::Sip
        } else if lower.starts_with("wss://") {
            check_stream(text)?;
            DestinationKind::Stream
        } else if let Some(number) = lower.strip_prefix("tel:") {
            if E164::parse(number).is_err() {
                return refuse(
                    "must be tel: followed by a valid E.164 number, e.g. tel:+14155550100",
                );
            }
            DestinationKind::Phone
        } else if lower.starts_with("ws://") {
            return refuse("must use wss:// (carriers stream call audio only over TLS)");
        } else {
            return refuse(
                "must be a sip:, sips:, wss:// or tel: URI, e.g. sip:agent@sip.example.com, wss://bot.example.com/stream or tel:+14155550100",
            );
        };
        Ok(Self {
            kind,
            uri: text.to_owned(),
        })
    }

    pub fn kind(&self) -> DestinationKind {
        self.kind
    }

    pub fn as_str(&self) -> &str {
        &self.uri
    }

    /// The E.164 number of a `tel:` destination.
    pub fn phone_number(&self) -> Option<&str> {
        (self.kind == DestinationKind::Phone).then(|| &self.uri[4..])
    }
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uri)
    }
}

/// `sip:[user@]host[:port][;param…]` (RFC 3261 §19.1, without a password or headers: a
/// password in a URI would be stored and shown in clear, and headers are not passed on).
fn check_sip(text: &str) -> Result<(), DestinationError> {
    let rest = &text[text.find(':').map_or(0, |i| i + 1)..];
    if rest.contains('?') {
        return refuse("must not carry SIP headers (?…)");
    }
    let (address, params) = rest.split_once(';').unwrap_or((rest, ""));
    let host_port = match address.rsplit_once('@') {
        Some((user, host_port)) => {
            if user.contains(':') {
                return refuse(
                    "must not carry a password (sip:user:password@… is stored and shown in clear)",
                );
            }
            if user.is_empty() || !user.chars().all(is_sip_user_char) {
                return refuse("has an invalid user part");
            }
            host_port
        }
        None => address,
    };
    check_host_port(host_port)?;
    let param_ok = |p: &str| !p.is_empty() && p.chars().all(is_sip_param_char);
    if !params.is_empty() && !params.split(';').all(param_ok) {
        return refuse("has an invalid ;parameter");
    }
    Ok(())
}

fn is_sip_user_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.!~*'()%&=+$,;?/".contains(c)
}

fn is_sip_param_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.!~*'()%=[]/:&+$".contains(c)
}

/// A host name, IPv4 address or bracketed IPv6 address, and an optional port.
fn check_host_port(text: &str) -> Result<(), DestinationError> {
    let (host, port) = if let Some(v6) = text.strip_prefix('[') {
        let Some((address, after)) = v6.split_once(']') else {
            return refuse("has an unclosed [IPv6] host");
        };
        if address.parse::<std::net::Ipv6Addr>().is_err() {
            return refuse("has an invalid IPv6 host");
        }
        match after {
            "" => (address, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (address, Some(port)),
                None => return refuse("has an invalid host"),
            },
        }
    } else {
        let (host, port) = match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        };
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
            return refuse("must name a host, e.g. sip:agent@sip.example.com");
        }
        (host, port)
    };
    if let Some(port) = port
        && !port.parse::<u16>().is_ok_and(|p| p > 0)
    {
        return refuse(format!("has an invalid port in {host}: {port}"));
    }
    Ok(())
}

fn check_stream(text: &str) -> Result<(), DestinationError> {
    let Ok(url) = url::Url::parse(text) else {
        return refuse("is not a valid URL");
    };
    if url.host_str().is_none_or(str::is_empty) {
        return refuse("must name a host, e.g. wss://bot.example.com/stream");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return refuse(
            "must not carry credentials (user:password@); put a token in the path or query instead",
        );
    }
    if url.fragment().is_some() {
        return refuse("must not have a #fragment");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(text: &str) -> String {
        Destination::parse(text).expect_err(text).to_string()
    }

    #[test]
    fn accepts_each_kind() {
        for (text, kind) in [
            ("sip:agent@sip.example.com", DestinationKind::Sip),
            (
                "sips:agent@sip.example.com:5061;transport=tls",
                DestinationKind::Sip,
            ),
            ("sip:10.0.0.7:5080", DestinationKind::Sip),
            ("sip:bot@[2001:db8::1]:5060", DestinationKind::Sip),
            (
                "wss://bot.example.com/stream?token=abc",
                DestinationKind::Stream,
            ),
            ("tel:+14155550100", DestinationKind::Phone),
        ] {
            let destination = Destination::parse(text).expect(text);
            assert_eq!(destination.kind(), kind, "{text}");
            assert_eq!(destination.as_str(), text);
        }
        assert_eq!(
            Destination::parse("tel:+14155550100")
                .expect("tel")
                .phone_number(),
            Some("+14155550100")
        );
    }

    #[test]
    fn refuses_with_the_reason() {
        assert!(reason("http://example.com").contains("sip:, sips:, wss:// or tel:"));
        assert!(reason("ws://bot.example.com").contains("wss://"));
        assert!(reason("tel:12345").contains("E.164"));
        assert!(reason("sip:agent:secret@example.com").contains("password"));
        assert!(reason("sip:agent@").contains("host"));
        assert!(reason("sip:agent@exa mple.com").contains("spaces"));
        assert!(reason("sip:agent@example.com:99999").contains("port"));
        assert!(reason("sip:agent@example.com?X-Token=1").contains("headers"));
        assert!(reason("wss://user:pw@bot.example.com/").contains("credentials"));
        assert!(reason(&format!("sip:{}@example.com", "a".repeat(600))).contains("512"));
    }
}
