//! Telnyx's signature on its TeXML voice webhooks (what it answers is TeXML, the TwiML of
//! [`crate::twiml`]).
//!
//! Telnyx signs each webhook with Ed25519: `telnyx-signature-ed25519` is the base64 signature
//! of `{telnyx-timestamp}|{the raw body}`, checked with the account's public key (base64, 32
//! bytes, shown in the Telnyx portal); a timestamp more than five minutes from now is
//! refused, so a captured request cannot be replayed later. (`verify_webhook_signature` in
//! Telnyx's own `telnyx` package; `.ci/run` checks this code against it.)

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, VerifyingKey};

/// How far a webhook's timestamp may be from now, as Telnyx's library allows.
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 300;

/// An account's public key, as the portal shows it (base64 of 32 bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TelnyxPublicKey(VerifyingKey);

impl TelnyxPublicKey {
    pub fn parse(text: &str) -> Result<Self, String> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|e| format!("not base64 ({e})"))?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            format!("{} bytes, where an Ed25519 public key has 32", b.len())
        })?;
        VerifyingKey::from_bytes(&bytes)
            .map(Self)
            .map_err(|e| format!("not an Ed25519 public key ({e})"))
    }
}

/// Why a Telnyx request's signature was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum TelnyxRefusal {
    Missing,
    /// The timestamp is not a number, or more than the tolerance from `now`.
    Stale,
    Wrong,
}

/// Checks `signature` (base64) over `timestamp|body` with `key`, and that `timestamp`
/// (Unix seconds) is within [`TIMESTAMP_TOLERANCE_SECS`] of `now_secs`.
pub fn verify_telnyx(
    key: &TelnyxPublicKey,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_secs: i64,
) -> Result<(), TelnyxRefusal> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(TelnyxRefusal::Missing);
    };
    let at: i64 = timestamp.trim().parse().map_err(|_| TelnyxRefusal::Stale)?;
    if (now_secs - at).abs() > TIMESTAMP_TOLERANCE_SECS {
        return Err(TelnyxRefusal::Stale);
    }
    let signature = STANDARD
        .decode(signature.trim())
        .ok()
        .and_then(|bytes| Signature::from_slice(&bytes).ok())
        .ok_or(TelnyxRefusal::Wrong)?;
    let mut signed = Vec::with_capacity(timestamp.len() + 1 + body.len());
    signed.extend_from_slice(timestamp.as_bytes());
    signed.push(b'|');
    signed.extend_from_slice(body);
    key.0
        .verify_strict(&signed, &signature)
        .map_err(|_| TelnyxRefusal::Wrong)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    #[test]
    fn accepts_its_own_signature_and_refuses_the_rest() {
        let signing = SigningKey::generate(&mut rand_core::OsRng);
        let key = TelnyxPublicKey::parse(&STANDARD.encode(signing.verifying_key().to_bytes()))
            .expect("key");
        let body = b"CallSid=v3%3Aabc&From=%2B14155550123&To=%2B14155550100";
        let now = 1_780_000_000;
        let sign = |at: i64, body: &[u8]| {
            let mut signed = format!("{at}|").into_bytes();
            signed.extend_from_slice(body);
            STANDARD.encode(signing.sign(&signed).to_bytes())
        };
        let good = sign(now, body);
        assert_eq!(
            verify_telnyx(&key, Some(&now.to_string()), Some(&good), body, now),
            Ok(())
        );
        assert_eq!(
            verify_telnyx(
                &key,
                Some(&now.to_string()),
                Some(&good),
                b"CallSid=other",
                now
            ),
            Err(TelnyxRefusal::Wrong)
        );
        assert_eq!(
            verify_telnyx(&key, Some(&(now + 1).to_string()), Some(&good), body, now),
            Err(TelnyxRefusal::Wrong)
        );
        let old = sign(now - 301, body);
        assert_eq!(
            verify_telnyx(&key, Some(&(now - 301).to_string()), Some(&old), body, now),
            Err(TelnyxRefusal::Stale)
        );
        assert_eq!(
            verify_telnyx(&key, None, Some(&good), body, now),
            Err(TelnyxRefusal::Missing)
        );
        assert!(
            TelnyxPublicKey::parse("c2hvcnQ=")
                .expect_err("a short key")
                .contains("5 bytes")
        );
    }
}
