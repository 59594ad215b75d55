//! People who sign in to a workspace: their role, their email address and their password.
//!
//! A role is a fixed set of scopes, so the server has one authorisation rule for keys and
//! people: a route asks for a scope, and a person holds their role's scopes.

use crate::{Scope, Scopes};
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, PasswordHash};
use std::fmt;
use std::sync::LazyLock;

/// What a person may do in their workspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Reads everything a report needs: numbers, agents, calls, their history.
    Viewer,
    /// Also routes, renames, buys and releases numbers, and manages agents.
    Operator,
    /// Also API keys, webhooks and users.
    Admin,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("unknown role {0:?}; roles: viewer, operator, admin")]
pub struct RoleError(pub String);

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Result<Self, RoleError> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s.trim())
            .ok_or_else(|| RoleError(s.trim().to_owned()))
    }

    /// The scopes a person with this role holds.
    pub fn scopes(self) -> Scopes {
        use Scope::*;
        match self {
            Role::Viewer => [PhoneNumbersRead, AgentsRead, CallsRead]
                .into_iter()
                .collect(),
            Role::Operator => [
                PhoneNumbersRead,
                PhoneNumbersWrite,
                AgentsRead,
                AgentsWrite,
                CallsRead,
            ]
            .into_iter()
            .collect(),
            Role::Admin => Scopes::all(),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An email address as people sign in with it: trimmed and lower-cased, so `Ann@Example.com`
/// and `ann@example.com` are one person. Only the shape is checked (one `@`, something either
/// side, a dot in the domain, no spaces); whether it receives mail is the identity provider's
/// business, or the admin's who invites.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

/// The longest address SMTP allows.
const EMAIL_MAX_LEN: usize = 254;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is not an email address (like ann@example.com)")]
pub struct EmailError(pub String);

impl Email {
    pub fn parse(s: &str) -> Result<Self, EmailError> {
        let email = s.trim().to_lowercase();
        let well_formed = email.len() <= EMAIL_MAX_LEN
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && email.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            });
        if well_formed {
            Ok(Self(email))
        } else {
            Err(EmailError(s.chars().take(EMAIL_MAX_LEN).collect()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after the `@`.
    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, domain)| domain)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The shortest password accepted (NIST SP 800-63B asks for at least 8; a console that
/// controls paid numbers asks for more).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The longest: hashing is deliberately slow, and should not be made slower by a megabyte.
pub const MAX_PASSWORD_CHARS: usize = 256;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("a password needs at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("a password may have at most {MAX_PASSWORD_CHARS} characters")]
    TooLong,
    #[error("the password could not be hashed: {0}")]
    Hashing(String),
}

/// A password's argon2id hash in PHC form (`$argon2id$v=19$m=19456,t=2,p=1$…`): what the
/// database holds. The parameters are argon2's defaults, OWASP's recommended minimum.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordDigest(String);

impl PasswordDigest {
    /// Hashes a new password with a fresh salt, after checking its length.
    pub fn of(password: &str) -> Result<Self, PasswordError> {
        let chars = password.chars().count();
        if chars < MIN_PASSWORD_CHARS {
            return Err(PasswordError::TooShort);
        }
        if chars > MAX_PASSWORD_CHARS {
            return Err(PasswordError::TooLong);
        }
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| Self(hash.to_string()))
            .map_err(|e| PasswordError::Hashing(e.to_string()))
    }

    /// A stored hash, as read back.
    pub fn from_stored(phc: String) -> Self {
        Self(phc)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `password` is the one hashed. A password too long to have been set is wrong
    /// without hashing it.
    pub fn verify(&self, password: &str) -> bool {
        if password.chars().count() > MAX_PASSWORD_CHARS {
            return false;
        }
        PasswordHash::new(&self.0).is_ok_and(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
    }

    /// Whether `password` is the one `stored` hashes. With nothing stored (an unknown address,
    /// or a person without a password) it spends the time a verification takes and says no:
    /// the answer's timing then says nothing about which addresses exist.
    pub fn matches(stored: Option<&PasswordDigest>, password: &str) -> bool {
        static STAND_IN: LazyLock<PasswordDigest> = LazyLock::new(|| {
            PasswordDigest::of("a password nobody has, hashed once").expect("valid length")
        });
        match stored {
            Some(digest) => digest.verify(password),
            None => {
                let _ = STAND_IN.verify(password);
                false
            }
        }
    }
}

impl fmt::Debug for PasswordDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordDigest(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grow_by_scope() {
        assert!(Role::Viewer.scopes().contains(Scope::CallsRead));
        assert!(!Role::Viewer.scopes().contains(Scope::PhoneNumbersWrite));
        assert!(Role::Viewer.scopes().is_subset_of(Role::Operator.scopes()));
        assert!(Role::Operator.scopes().contains(Scope::PhoneNumbersWrite));
        for scope in [
            Scope::ApiKeysManage,
            Scope::WebhooksManage,
            Scope::UsersManage,
        ] {
            assert!(!Role::Operator.scopes().contains(scope), "{scope}");
        }
        assert_eq!(Role::Admin.scopes(), Scopes::all());
        assert_eq!(Role::parse(" admin "), Ok(Role::Admin));
        assert!(Role::parse("owner").is_err());
    }

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse(" Ann@Example.COM ").map(|e| e.to_string()),
            Ok("ann@example.com".into())
        );
        assert_eq!(
            Email::parse("ann@example.com").map(|e| e.domain().to_owned()),
            Ok("example.com".into())
        );
        for bad in [
            "",
            "ann",
            "@example.com",
            "ann@",
            "ann@example",
            "a b@example.com",
            "a@b@c.com",
            "ann@.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_are_hashed_with_argon2id_and_checked() {
        assert_eq!(
            PasswordDigest::of("short").expect_err("too short"),
            PasswordError::TooShort
        );
        assert_eq!(
            PasswordDigest::of(&"x".repeat(MAX_PASSWORD_CHARS + 1)).expect_err("too long"),
            PasswordError::TooLong
        );
        let digest = PasswordDigest::of("correct horse battery").expect("hashes");
        assert!(digest.as_str().starts_with("$argon2id$"));
        assert!(!digest.as_str().contains("correct horse"));
        assert!(digest.verify("correct horse battery"));
        assert!(!digest.verify("correct horse battery "));
        let again = PasswordDigest::of("correct horse battery").expect("hashes");
        assert_ne!(digest, again, "each hash has its own salt");
        assert!(!PasswordDigest::from_stored("garbage".into()).verify("anything at all"));
        assert!(PasswordDigest::matches(
            Some(&digest),
            "correct horse battery"
        ));
        assert!(!PasswordDigest::matches(None, "correct horse battery"));
    }
}
