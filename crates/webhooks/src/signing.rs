//! Standard Webhooks signatures: the secret's shape, the HMAC, and the `webhook-id` receivers see.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;
use switchboard_domain::{SealingKey, WorkspaceId};

/// A signing secret: `whsec_` and the base64 of 32 random bytes, as Standard Webhooks
/// libraries expect it.
pub fn generate_secret() -> String {
    let mut key = [0u8; 32];
    rand::rng().fill(&mut key);
    format!("whsec_{}", BASE64.encode(key))
}

/// `v1,<base64 of HMAC-SHA256 over "{id}.{timestamp}.{body}">`, keyed with the secret's
/// decoded bytes. `None` for a secret that is not `whsec_` and base64.
pub fn sign(secret: &str, message_id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = BASE64.decode(secret.strip_prefix("whsec_")?).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{message_id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    Some(format!("v1,{}", BASE64.encode(mac.finalize().into_bytes())))
}

/// The `webhook-id` receivers see for a delivery's stored message id (`evt_<seq>` for an
/// event): the same for every attempt and replay of one event to the workspace, and the same
/// as the event's `id` in the change feed, without the sequence number, which would count
/// other workspaces' events.
pub fn public_message_id(key: &SealingKey, workspace: &WorkspaceId, message_id: &str) -> String {
    key.public_id("evt_", workspace.as_str(), message_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_like_the_specification() {
        let signature = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(
            signature.as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
        assert_eq!(sign("not-a-secret", "m", 1, "{}"), None);
    }

    #[test]
    fn generated_secrets_are_whsec_and_32_bytes() {
        let secret = generate_secret();
        let key = BASE64
            .decode(secret.strip_prefix("whsec_").expect("prefix"))
            .expect("base64");
        assert_eq!(key.len(), 32);
        assert_ne!(secret, generate_secret());
    }
}
