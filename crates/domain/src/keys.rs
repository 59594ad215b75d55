//! API key secrets and bearer tokens.
//!
//! A token is `<key_id>:<secret>`. Only the SHA-256 digest of the secret is ever stored; the
//! raw secret exists once, when the key is created. Digests are compared in constant time.

use crate::ApiKeyId;
use rand::Rng;
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// A freshly generated secret. `Debug` never shows it.
pub struct ApiKeySecret(String);

impl ApiKeySecret {
    /// 40 random alphanumerics: about 238 bits, above the 32-character floor of the contract.
    const LEN: usize = 40;

    pub fn generate() -> Self {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut rng = rand::rng();
        Self(
            (0..Self::LEN)
                .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
                .collect(),
        )
    }

    pub fn digest(&self) -> SecretDigest {
        SecretDigest::of(&self.0)
    }

    /// The secret alone, for the random secrets that are not key tokens: a session's cookie,
    /// a one-time password-setting link.
    pub fn reveal(self) -> RevealedToken {
        RevealedToken(self.0)
    }

    /// The full bearer token for this secret: shown to the user once.
    pub fn token(&self, key_id: &ApiKeyId) -> RevealedToken {
        RevealedToken(format!("{key_id}:{}", self.0))
    }
}

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeySecret(<redacted>)")
    }
}

/// A full `<key_id>:<secret>` token, about to be shown to its owner. `Debug` redacts it, so it
/// cannot leak into logs by accident; [`RevealedToken::expose`] is the one way to read it.
#[derive(Clone)]
pub struct RevealedToken(String);

impl RevealedToken {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for RevealedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RevealedToken(<redacted>)")
    }
}

/// SHA-256 of a secret: what the database holds.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretDigest([u8; 32]);

impl SecretDigest {
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        Some(Self(bytes.try_into().ok()?))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Constant-time equality, so response timing says nothing about how much of a guess matched.
    pub fn matches(&self, other: &SecretDigest) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretDigest(<redacted>)")
    }
}

/// A bearer token as presented by a client, split into its parts.
pub struct ApiToken {
    pub key_id: ApiKeyId,
    pub secret_digest: SecretDigest,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("token has no ':' between key id and secret")]
    MissingSeparator,
    #[error("key id has the wrong shape")]
    MalformedKeyId,
    #[error("secret is empty")]
    EmptySecret,
}

impl ApiToken {
    pub fn parse(token: &str) -> Result<Self, TokenError> {
        let (key_id, secret) = token.split_once(':').ok_or(TokenError::MissingSeparator)?;
        let key_id = ApiKeyId::parse(key_id).ok_or(TokenError::MalformedKeyId)?;
        if secret.is_empty() {
            return Err(TokenError::EmptySecret);
        }
        Ok(Self {
            key_id,
            secret_digest: SecretDigest::of(secret),
        })
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiToken")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_round_trip() {
        let id = ApiKeyId::generate();
        let secret = ApiKeySecret::generate();
        let token = ApiToken::parse(secret.token(&id).expose()).expect("valid token");
        assert_eq!(token.key_id, id);
        assert!(token.secret_digest.matches(&secret.digest()));
        assert!(!SecretDigest::of("other").matches(&secret.digest()));
    }

    #[test]
    fn malformed_tokens() {
        assert_eq!(
            ApiToken::parse("nocolon").err(),
            Some(TokenError::MissingSeparator)
        );
        assert_eq!(
            ApiToken::parse("short:secret").err(),
            Some(TokenError::MalformedKeyId)
        );
        assert_eq!(
            ApiToken::parse("abcdefghijklmn:").err(),
            Some(TokenError::EmptySecret)
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = ApiKeySecret::generate();
        let revealed = secret.token(&ApiKeyId::generate());
        assert!(!format!("{revealed:?}").contains(revealed.expose()));
        let raw = revealed.expose().to_owned();
        let raw_secret = raw
            .split_once(':')
            .map(|(_, s)| s.to_owned())
            .unwrap_or_default();
        assert!(!format!("{secret:?}").contains(&raw_secret));
        let token = ApiToken::parse(&raw).expect("valid");
        assert!(!format!("{token:?}").contains(&raw_secret));
    }
}
