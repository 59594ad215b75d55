//! Secrets at rest (SIP trunk passwords): sealed with XChaCha20-Poly1305, an authenticated
//! cipher, under a 32-byte key that never touches the database. A random 24-byte nonce per
//! message makes nonce reuse a non-issue; a tampered or foreign ciphertext fails to open.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::Rng;
use std::fmt;

const NONCE_LEN: usize = 24;

#[derive(Clone)]
pub struct SealingKey(Key);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealingError {
    #[error("the secret key must be 64 hexadecimal characters (32 bytes)")]
    BadKey,
    #[error("the sealed value is damaged or was sealed under another key")]
    CannotOpen,
}

impl SealingKey {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill(&mut bytes);
        Self(bytes.into())
    }

    /// From 64 hex characters (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self, SealingError> {
        let bytes: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(SealingError::BadKey)?;
        Ok(Self(bytes.into()))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0.as_slice())
    }

    /// A name for this key that can be stored and shown without revealing it: 16 hex
    /// characters of a domain-separated SHA-256 of the key.
    pub fn id(&self) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(b"switchboard sealing key id v1\0")
            .chain_update(self.0.as_slice())
            .finalize();
        hex::encode(&digest[..8])
    }

    /// `nonce || ciphertext || tag`.
    pub fn seal(&self, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill(&mut nonce);
        let cipher = XChaCha20Poly1305::new(&self.0);
        // Encryption cannot fail for messages under the cipher's 256 GiB limit.
        let sealed = cipher
            .encrypt(XNonce::from_slice(&nonce), plaintext)
            .unwrap_or_default();
        [nonce.as_slice(), &sealed].concat()
    }

    /// Like [`SealingKey::seal`], but the same plaintext always seals to the same bytes: the
    /// nonce is a keyed hash of the plaintext (a synthetic IV), so equal values stay equal
    /// to whoever compares them (e.g. the same feed position gives the same cursor) and
    /// reveal nothing else. Only for values that are not secret when repeated.
    pub fn seal_deterministic(&self, plaintext: &[u8]) -> Vec<u8> {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(b"switchboard synthetic nonce v1\0")
            .chain_update(self.0.as_slice())
            .chain_update(plaintext)
            .finalize();
        let nonce = &digest[..NONCE_LEN];
        let sealed = XChaCha20Poly1305::new(&self.0)
            .encrypt(XNonce::from_slice(nonce), plaintext)
            .unwrap_or_default();
        [nonce, &sealed].concat()
    }

    /// A public name for an internal id (`prefix` and 24 hex characters of a keyed hash of
    /// `scope` and `internal`): stable, unguessable, and saying nothing of the id behind it
    /// (e.g. an event's sequence number, which counts every workspace's events).
    pub fn public_id(&self, prefix: &str, scope: &str, internal: &str) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::new()
            .chain_update(b"switchboard public id v1\0")
            .chain_update(self.0.as_slice())
            .chain_update(scope.as_bytes())
            .chain_update(b"\0")
            .chain_update(internal.as_bytes())
            .finalize();
        format!("{prefix}{}", hex::encode(&digest[..12]))
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>, SealingError> {
        if sealed.len() < NONCE_LEN {
            return Err(SealingError::CannotOpen);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        XChaCha20Poly1305::new(&self.0)
            .decrypt(XNonce::from_slice(nonce), ciphertext)
            .map_err(|_| SealingError::CannotOpen)
    }
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_tamper_detection() {
        let key = SealingKey::generate();
        let sealed = key.seal(b"hunter2-sip-password");
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(key.open(&sealed), Ok(b"hunter2-sip-password".to_vec()));
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(key.open(&tampered), Err(SealingError::CannotOpen));
        assert_eq!(
            SealingKey::generate().open(&sealed),
            Err(SealingError::CannotOpen)
        );
        assert_eq!(
            SealingKey::from_hex(&key.to_hex()).map(|k| k.open(&sealed)),
            Ok(Ok(b"hunter2-sip-password".to_vec()))
        );
        assert!(SealingKey::from_hex("abc").is_err());
        let fixed = key.seal_deterministic(b"0-42");
        assert_eq!(fixed, key.seal_deterministic(b"0-42"));
        assert_ne!(fixed, key.seal_deterministic(b"0-43"));
        assert_eq!(key.open(&fixed), Ok(b"0-42".to_vec()));
        assert!(!format!("{key:?}").contains(&key.to_hex()));
    }
}
