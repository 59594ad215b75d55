//! People who sign in to a workspace, and their sessions.

use crate::{Actor, NewEvent, StoreError};
use async_trait::async_trait;
use serde_json::{Value, json};
use switchboard_domain::{
    Email, PasswordDigest, Role, SecretDigest, SessionId, Timestamp, UserId, WorkspaceId,
};

/// A person of a workspace, as admins see them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub workspace_id: WorkspaceId,
    pub email: Email,
    pub role: Role,
    /// Whether they can sign in with a password (else only through the one-time link, or an
    /// identity provider).
    pub has_password: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl User {
    /// The person as the actor of what they do themselves (sign in, sign out, set their
    /// password), in request `request_id`.
    pub fn as_actor(&self, request_id: Option<String>) -> Actor {
        Actor {
            name: self.id.to_string(),
            label: Some(self.email.to_string()),
            request_id,
        }
    }
}

/// The secret of a one-time link that sets a password, and until when it works.
#[derive(Clone, Debug)]
pub struct PasswordSetup {
    pub token_digest: SecretDigest,
    pub expires_at: Timestamp,
}

#[derive(Clone, Debug)]
pub struct NewUser {
    pub id: UserId,
    pub workspace_id: WorkspaceId,
    pub email: Email,
    pub role: Role,
    pub password: Option<PasswordDigest>,
    pub setup: Option<PasswordSetup>,
    pub actor: Actor,
}

/// A change to a person; `None` leaves a part as it is. A new password, or a new one-time
/// link, replaces any link not yet used.
#[derive(Clone, Debug, Default)]
pub struct UserUpdate {
    pub role: Option<Role>,
    pub password: Option<PasswordDigest>,
    pub setup: Option<PasswordSetup>,
}

/// What signing in with a password needs to know of the address's person.
#[derive(Clone, Debug)]
pub struct SignInRecord {
    pub user: User,
    pub password: Option<PasswordDigest>,
    /// Wrong passwords since the last sign-in.
    pub failed_sign_ins: u32,
    /// Sign-in is refused until then, right password or not.
    pub blocked_until: Option<Timestamp>,
}

#[derive(Clone, Debug)]
pub struct NewSession {
    pub id: SessionId,
    pub token_digest: SecretDigest,
    pub user_id: UserId,
    pub workspace_id: WorkspaceId,
    pub created_at: Timestamp,
    /// The absolute end, however active the session.
    pub expires_at: Timestamp,
}

/// A live session (not ended, its person not removed) and its person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user: User,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
}

/// Why a session ended, as its `user.session_ended` event says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionEnd {
    SignedOut,
    EndedByAdmin,
}

impl SessionEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionEnd::SignedOut => "signed_out",
            SessionEnd::EndedByAdmin => "ended_by_admin",
        }
    }
}

/// A sign-in through the identity provider in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcLogin {
    /// SHA-256 of the `state` sent to the provider.
    pub state_digest: SecretDigest,
    pub nonce: String,
    pub pkce_verifier: String,
    pub expires_at: Timestamp,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Records a sign-in through the identity provider as it starts (and forgets those that
    /// expired).
    async fn save_oidc_login(&self, login: OidcLogin) -> Result<(), StoreError>;

    /// Takes the sign-in with this state, if it has not expired: once, on any replica.
    async fn take_oidc_login(
        &self,
        state_digest: &SecretDigest,
        now: Timestamp,
    ) -> Result<Option<OidcLogin>, StoreError>;

    /// Records `user.created`. `Conflict` when a live person already has the address (in any
    /// workspace: the address alone says where one signs in); `NotFound` for an unknown
    /// workspace.
    async fn create_user(&self, new: NewUser) -> Result<User, StoreError>;

    /// The workspace's people (not removed), oldest first.
    async fn list_users(&self, workspace: &WorkspaceId) -> Result<Vec<User>, StoreError>;

    /// Every person the workspace ever had, removed ones included: the names history shows.
    async fn user_emails(
        &self,
        workspace: &WorkspaceId,
    ) -> Result<Vec<(UserId, Email)>, StoreError>;

    async fn get_user(
        &self,
        workspace: &WorkspaceId,
        id: &UserId,
    ) -> Result<Option<User>, StoreError>;

    /// Records `user.updated` for a new role, `user.password_set` for a new password (and
    /// ends no session: signing everyone out is a separate, deliberate act). `None` when there
    /// is no such person.
    async fn update_user(
        &self,
        workspace: &WorkspaceId,
        id: &UserId,
        update: UserUpdate,
        actor: &Actor,
    ) -> Result<Option<User>, StoreError>;

    /// Removes the person and ends every session of theirs, in one transaction, with
    /// `user.removed`. `false` when there is no such person.
    async fn remove_user(
        &self,
        workspace: &WorkspaceId,
        id: &UserId,
        actor: &Actor,
    ) -> Result<bool, StoreError>;

    /// Sets the password of the person whose one-time link has this secret, if the link is
    /// still good, and uses the link up; records `user.password_set`.
    async fn set_password_with_link(
        &self,
        token_digest: &SecretDigest,
        password: PasswordDigest,
        now: Timestamp,
    ) -> Result<Option<User>, StoreError>;

    /// The live person signing in with this address.
    async fn sign_in_record(&self, email: &Email) -> Result<Option<SignInRecord>, StoreError>;

    /// Counts a wrong password against the person, refuses sign-in until `blocked_until`
    /// (when given), and records `user.sign_in_failed`.
    async fn record_failed_sign_in(
        &self,
        user: &User,
        blocked_until: Option<Timestamp>,
        actor: &Actor,
    ) -> Result<(), StoreError>;

    /// Starts a session: clears the person's failed sign-ins, forgets their sessions that
    /// have ended or lapsed, and records `user.signed_in`.
    async fn create_session(&self, new: NewSession, actor: &Actor) -> Result<(), StoreError>;

    /// The live session whose cookie has this secret.
    async fn find_session(
        &self,
        token_digest: &SecretDigest,
    ) -> Result<Option<Session>, StoreError>;

    /// Records that the session was used at `at`.
    async fn touch_session(&self, id: &SessionId, at: Timestamp) -> Result<(), StoreError>;

    /// The person's live sessions (not ended, not past their absolute end), newest first.
    async fn list_sessions(
        &self,
        workspace: &WorkspaceId,
        user: &UserId,
        now: Timestamp,
    ) -> Result<Vec<Session>, StoreError>;

    /// Ends the person's sessions (only `only`, when given), each with
    /// `user.session_ended`; how many ended.
    async fn end_sessions(
        &self,
        workspace: &WorkspaceId,
        user: &UserId,
        only: Option<&SessionId>,
        why: SessionEnd,
        actor: &Actor,
    ) -> Result<u64, StoreError>;
}

/// The person as events carry them.
fn user_object(user: &User) -> Value {
    json!({"id": user.id.as_str(), "email": user.email.as_str(), "role": user.role.as_str()})
}

impl NewEvent {
    /// `user.created`.
    pub fn of_new_user(user: &User, actor: &Actor) -> Self {
        let changes = json!({
            "email": {"before": null, "after": user.email.as_str()},
            "role": {"before": null, "after": user.role.as_str()},
        });
        Self::of_user("user.created", user, changes, actor, user.created_at)
    }

    /// `user.updated` (a new role), `user.password_set`, `user.removed`, `user.signed_in`,
    /// `user.sign_in_failed` or `user.session_ended`: about one person, never a secret.
    pub fn of_user(
        event_type: &str,
        user: &User,
        changes: Value,
        actor: &Actor,
        at: Timestamp,
    ) -> Self {
        Self::of_subject(
            event_type,
            ("user", user_object(user)),
            user.id.as_str(),
            changes,
            actor,
            at,
        )
    }
}

/// How long a one-time link that sets a password works.
pub const PASSWORD_SETUP_LIFETIME_MS: i64 = 72 * 60 * 60 * 1000;

/// A new one-time link's secret (shown once, to whoever hands the link on) and what the
/// database keeps of it.
pub fn new_password_setup(now: Timestamp) -> (switchboard_domain::RevealedToken, PasswordSetup) {
    let secret = switchboard_domain::ApiKeySecret::generate();
    let setup = PasswordSetup {
        token_digest: secret.digest(),
        expires_at: Timestamp::from_millis(now.as_millis() + PASSWORD_SETUP_LIFETIME_MS),
    };
    (secret.reveal(), setup)
}

/// The console's page that sets a password with a one-time link's secret, on the server at
/// `base_url` (`https://switchboard.example.com`).
pub fn password_setup_link(base_url: &str, secret: &str) -> String {
    format!(
        "{}/console/#set-password={secret}",
        base_url.trim_end_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A webhook delivery's `data` names the person who made the change, by id and address.
    #[test]
    fn events_name_the_person_in_their_data() {
        let now = Timestamp::now();
        let user = User {
            id: UserId::generate(),
            workspace_id: WorkspaceId::generate(),
            email: Email::parse("ann@example.com").expect("email"),
            role: Role::Operator,
            has_password: true,
            created_at: now,
            updated_at: now,
        };
        let actor = Actor {
            name: user.id.to_string(),
            label: Some(user.email.to_string()),
            request_id: Some("req-1".into()),
        };
        let event = NewEvent::of_user("user.updated", &user, json!({}), &actor, now);
        let data: Value = serde_json::from_str(&event.data).expect("JSON");
        assert_eq!(data["actor"], json!(user.id.as_str()));
        assert_eq!(data["actor_name"], json!("ann@example.com"));
        assert_eq!(data["request_id"], json!("req-1"));
        assert_eq!(data["user"]["role"], json!("operator"));
        assert!(!event.data.contains("password"), "{}", event.data);
    }
}
