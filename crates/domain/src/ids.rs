//! Typed, prefixed, random identifiers.
//!
//! An id of the wrong shape can never name a record, so parsing rejects it up front and the
//! API answers with the same 404 as for an unknown id.

use rand::Rng;
use std::fmt;

const ID_ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
const ID_RANDOM_LEN: usize = 12;

fn random_from(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new random id.
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, random_from(ID_ALPHABET, ID_RANDOM_LEN)))
            }

            /// The id, if `s` has the id's exact shape: the prefix, then 12 of `[0-9a-z]`.
            pub fn parse(s: &str) -> Option<Self> {
                let rest = s.strip_prefix($prefix)?;
                let well_formed = rest.len() == ID_RANDOM_LEN
                    && rest.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase());
                well_formed.then(|| Self(s.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

prefixed_id!(
    /// An inbound call in the call log: `cal_3k8m2x9q4w7z`.
    CallId,
    "cal_"
);
prefixed_id!(
    /// A phone number record: `phn_f7w2kx5mb9qz`.
    PhoneNumberId,
    "phn_"
);
prefixed_id!(
    /// An agent that calls are routed to: `agt_k7m2nq9xw4p8`.
    AgentId,
    "agt_"
);
prefixed_id!(
    /// A person who signs in to a workspace: `usr_4k9m2x7q1z3b`.
    UserId,
    "usr_"
);
prefixed_id!(
    /// A signed-in person's session, as an admin sees it (never its secret): `ses_8c2m4x7q1z9b`.
    SessionId,
    "ses_"
);
prefixed_id!(
    /// A workspace (tenant): `ws_3n8c1v0q7d2k`.
    WorkspaceId,
    "ws_"
);
prefixed_id!(
    /// A webhook endpoint: `whe_5t2k8m1q9x3z`.
    WebhookEndpointId,
    "whe_"
);
prefixed_id!(
    /// One event's (or ping's) delivery to one webhook endpoint: `whd_0c4f7a2b9e1d`.
    WebhookDeliveryId,
    "whd_"
);

/// An API key's public id: 14 lowercase letters, DialNexa's form.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ApiKeyId(String);

impl ApiKeyId {
    const LEN: usize = 14;

    pub fn generate() -> Self {
        Self(random_from(b"abcdefghijklmnopqrstuvwxyz", Self::LEN))
    }

    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == Self::LEN && s.bytes().all(|b| b.is_ascii_lowercase()))
            .then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ApiKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back() {
        for _ in 0..100 {
            let id = PhoneNumberId::generate();
            assert_eq!(PhoneNumberId::parse(id.as_str()), Some(id.clone()));
            assert_eq!(id.as_str().len(), 16);
            let key = ApiKeyId::generate();
            assert_eq!(ApiKeyId::parse(key.as_str()), Some(key));
        }
    }

    #[test]
    fn wrong_shapes_are_rejected() {
        for bad in [
            "",
            "phn_",
            "phn_abc",
            "phn_ABCDEFGHIJKL",
            "phn_abcdefghijk!",
            "phn_abcdefghijklm",
            "agt_abcdefghijkl",
            "xphn_abcdefghijkl",
        ] {
            assert_eq!(PhoneNumberId::parse(bad), None, "{bad:?}");
        }
        assert!(PhoneNumberId::parse("phn_f7w2kx5mb9qz").is_some());
        assert_eq!(ApiKeyId::parse("abcdefghijklm"), None);
        assert_eq!(ApiKeyId::parse("abcdefghijklmN"), None);
    }
}
