//! Twilio's signature on its voice webhooks (what it answers is TwiML: [`crate::twiml`]).
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
}
