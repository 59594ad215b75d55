//! What an API key, or a person through their role, may do.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    PhoneNumbersRead,
    PhoneNumbersWrite,
    AgentsRead,
    AgentsWrite,
    ApiKeysManage,
    WebhooksManage,
    CallsRead,
    UsersManage,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "unknown scope {0:?}; known scopes: phone_numbers:read, phone_numbers:write, agents:read, agents:write, api_keys:manage, webhooks:manage, calls:read, users:manage"
)]
pub struct ScopeError(pub String);

impl Scope {
    pub const ALL: [Scope; 8] = [
        Scope::PhoneNumbersRead,
        Scope::PhoneNumbersWrite,
        Scope::AgentsRead,
        Scope::AgentsWrite,
        Scope::ApiKeysManage,
        Scope::WebhooksManage,
        Scope::CallsRead,
        Scope::UsersManage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::PhoneNumbersRead => "phone_numbers:read",
            Scope::PhoneNumbersWrite => "phone_numbers:write",
            Scope::AgentsRead => "agents:read",
            Scope::AgentsWrite => "agents:write",
            Scope::ApiKeysManage => "api_keys:manage",
            Scope::WebhooksManage => "webhooks:manage",
            Scope::CallsRead => "calls:read",
            Scope::UsersManage => "users:manage",
        }
    }

    pub fn parse(s: &str) -> Result<Self, ScopeError> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s.trim())
            .ok_or_else(|| ScopeError(s.trim().to_owned()))
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes(u8);

impl Scopes {
    pub fn all() -> Self {
        Scope::ALL.into_iter().collect()
    }

    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Every scope of `self` is in `other`.
    pub fn is_subset_of(self, other: Scopes) -> bool {
        self.0 & !other.0 == 0
    }

    /// In the canonical order of [`Scope::ALL`].
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }

    /// Parses a comma-separated list (`phone_numbers:read,agents:read`).
    pub fn parse_list(s: &str) -> Result<Self, ScopeError> {
        s.split(',')
            .filter(|part| !part.trim().is_empty())
            .map(Scope::parse)
            .collect()
    }

    /// The canonical comma-separated form, as stored.
    pub fn to_list(self) -> String {
        self.iter().map(Scope::as_str).collect::<Vec<_>>().join(",")
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Scopes(iter.into_iter().fold(0, |bits, s| bits | s.bit()))
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(Scope::as_str))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_round_trip() {
        let scopes = Scopes::parse_list("agents:read, phone_numbers:read").expect("valid");
        assert!(scopes.contains(Scope::PhoneNumbersRead));
        assert!(!scopes.contains(Scope::PhoneNumbersWrite));
        assert_eq!(scopes.to_list(), "phone_numbers:read,agents:read");
        assert_eq!(
            Scopes::parse_list(&Scopes::all().to_list()),
            Ok(Scopes::all())
        );
        assert!(Scopes::parse_list("phone_numbers:admin").is_err());
    }

    #[test]
    fn subsets() {
        let read = Scopes::parse_list("phone_numbers:read").expect("valid");
        let manage = Scopes::parse_list("api_keys:manage").expect("valid");
        assert!(read.is_subset_of(Scopes::all()));
        assert!(read.is_subset_of(read));
        assert!(Scopes::default().is_subset_of(manage));
        assert!(!Scopes::all().is_subset_of(manage));
        assert!(!read.is_subset_of(manage));
    }
}
