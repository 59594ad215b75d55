//! People and their sessions.

use crate::outbox::record_event;
use crate::queries::require_workspace;
use crate::rows::{corrupt, get, parse_id};
use crate::{PostgresStore, map_error};
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use serde_json::json;
use switchboard_domain::{
    Email, PasswordDigest, Role, SecretDigest, SessionId, Timestamp, UserId, WorkspaceId,
};
use switchboard_store::{
    Actor, NewEvent, NewSession, NewUser, OidcLogin, Session, SessionEnd, SignInRecord, StoreError,
    User, UserStore, UserUpdate,
};
use tokio_postgres::Row;

const USER_COLUMNS: &str = "users.id, users.workspace_id, users.email, users.role, users.password_hash IS NOT NULL, users.created_at, users.updated_at";

fn user_from_row(row: &Row) -> Result<User, StoreError> {
    let email: String = get(row, 2)?;
    let role: String = get(row, 3)?;
    Ok(User {
        id: parse_id(get(row, 0)?, UserId::parse, "user id")?,
        workspace_id: parse_id(get(row, 1)?, WorkspaceId::parse, "workspace id")?,
        email: Email::parse(&email).map_err(|_| corrupt("email", &email))?,
        role: Role::parse(&role).map_err(|_| corrupt("role", &role))?,
        has_password: get(row, 4)?,
        created_at: Timestamp::from_millis(get(row, 5)?),
        updated_at: Timestamp::from_millis(get(row, 6)?),
    })
}

/// A session's columns after [`USER_COLUMNS`].
const SESSION_COLUMNS: &str = "s.id, s.created_at, s.last_seen_at, s.expires_at";

fn session_from_row(row: &Row) -> Result<Session, StoreError> {
    Ok(Session {
        user: user_from_row(row)?,
        id: parse_id(get(row, 7)?, SessionId::parse, "session id")?,
        created_at: Timestamp::from_millis(get(row, 8)?),
        last_seen_at: Timestamp::from_millis(get(row, 9)?),
        expires_at: Timestamp::from_millis(get(row, 10)?),
    })
}

/// The live person; in a transaction, locked until it ends.
async fn live_user(
    client: &impl GenericClient,
    workspace: &WorkspaceId,
    id: &UserId,
    lock: bool,
) -> Result<Option<User>, StoreError> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    client
        .query_opt(
            &format!("SELECT {USER_COLUMNS} FROM users WHERE workspace_id = $1 AND id = $2 AND removed_at IS NULL{lock}"),
            &[&workspace.as_str(), &id.as_str()],
        )
        .await
        .map_err(map_error)?
        .as_ref()
        .map(user_from_row)
        .transpose()
}

fn email_taken(email: &Email) -> StoreError {
    StoreError::Conflict(format!("someone already signs in as {email}"))
}

/// Ends the person's live sessions (only `only`, when given), with an event for each unless
/// `why` is `None` (the person's removal says it for all); how many ended.
async fn end_sessions_in(
    tx: &impl GenericClient,
    user: &User,
    only: Option<&SessionId>,
    why: Option<SessionEnd>,
    actor: &Actor,
) -> Result<u64, StoreError> {
    let now = Timestamp::now();
    let ended = tx
        .query(
            "UPDATE user_sessions SET ended_at = $1
             WHERE user_id = $2 AND ended_at IS NULL AND ($3::text IS NULL OR id = $3) RETURNING id",
            &[&now.as_millis(), &user.id.as_str(), &only.map(SessionId::as_str)],
        )
        .await
        .map_err(map_error)?;
    if let Some(why) = why {
        for row in &ended {
            let id: String = get(row, 0)?;
            let changes = json!({"session": {"before": id, "after": null}, "reason": why.as_str()});
            record_event(
                tx,
                &user.workspace_id,
                &NewEvent::of_user("user.session_ended", user, changes, actor, now),
            )
            .await?;
        }
    }
    Ok(ended.len() as u64)
}

#[async_trait]
impl UserStore for PostgresStore {
    async fn save_oidc_login(&self, login: OidcLogin) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM oidc_logins WHERE expires_at <= $1",
                &[&Timestamp::now().as_millis()],
            )
            .await
            .map_err(map_error)?;
        client
            .execute(
                "INSERT INTO oidc_logins (state_sha256, nonce, pkce_verifier, expires_at) VALUES ($1, $2, $3, $4)",
                &[
                    &login.state_digest.as_bytes().as_slice(),
                    &login.nonce,
                    &login.pkce_verifier,
                    &login.expires_at.as_millis(),
                ],
            )
            .await
            .map(drop)
            .map_err(map_error)
    }

    async fn take_oidc_login(
        &self,
        state_digest: &SecretDigest,
        now: Timestamp,
    ) -> Result<Option<OidcLogin>, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                "DELETE FROM oidc_logins WHERE state_sha256 = $1 RETURNING nonce, pkce_verifier, expires_at",
                &[&state_digest.as_bytes().as_slice()],
            )
            .await
            .map_err(map_error)?;
        row.map(|row| {
            Ok(OidcLogin {
                state_digest: state_digest.clone(),
                nonce: get(&row, 0)?,
                pkce_verifier: get(&row, 1)?,
                expires_at: Timestamp::from_millis(get(&row, 2)?),
            })
        })
        .transpose()
        .map(|login| login.filter(|login| login.expires_at > now))
    }

    async fn create_user(&self, new: NewUser) -> Result<User, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        require_workspace(&tx, &new.workspace_id).await?;
        let now = Timestamp::now();
        let inserted = tx
            .execute(
                "INSERT INTO users (id, workspace_id, email, role, password_hash, setup_token_sha256, setup_expires_at, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                &[
                    &new.id.as_str(),
                    &new.workspace_id.as_str(),
                    &new.email.as_str(),
                    &new.role.as_str(),
                    &new.password.as_ref().map(PasswordDigest::as_str),
                    &new.setup.as_ref().map(|s| s.token_digest.as_bytes().as_slice()),
                    &new.setup.as_ref().map(|s| s.expires_at.as_millis()),
                    &now.as_millis(),
                ],
            )
            .await
            .map_err(map_error);
        match inserted {
            Err(StoreError::Conflict(_)) => return Err(email_taken(&new.email)),
            other => other?,
        };
        let user = User {
            id: new.id,
            workspace_id: new.workspace_id,
            email: new.email,
            role: new.role,
            has_password: new.password.is_some(),
            created_at: now,
            updated_at: now,
        };
        record_event(
            &tx,
            &user.workspace_id,
            &NewEvent::of_new_user(&user, &new.actor),
        )
        .await?;
        tx.commit().await.map_err(map_error)?;
        Ok(user)
    }

    async fn list_users(&self, workspace: &WorkspaceId) -> Result<Vec<User>, StoreError> {
        self.client()
            .await?
            .query(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE workspace_id = $1 AND removed_at IS NULL ORDER BY created_at, id"),
                &[&workspace.as_str()],
            )
            .await
            .map_err(map_error)?
            .iter()
            .map(user_from_row)
            .collect()
    }

    async fn user_emails(
        &self,
        workspace: &WorkspaceId,
    ) -> Result<Vec<(UserId, Email)>, StoreError> {
        self.client()
            .await?
            .query(
                &format!("SELECT {USER_COLUMNS} FROM users WHERE workspace_id = $1"),
                &[&workspace.as_str()],
            )
            .await
            .map_err(map_error)?
            .iter()
            .map(|row| user_from_row(row).map(|user| (user.id, user.email)))
            .collect()
    }

    async fn get_user(
        &self,
        workspace: &WorkspaceId,
        id: &UserId,
    ) -> Result<Option<User>, StoreError> {
        live_user(&self.client().await?, workspace, id, false).await
    }

    async fn update_user(
        &self,
        workspace: &WorkspaceId,
        id: &UserId,
        update: UserUpdate,
        actor: &Actor,
    ) -> Result<Option<User>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        let Some(before) = live_user(&tx, workspace, id, true).await? else {
            return Ok(None);
        };
        let now = Timestamp::now();
        tx.execute(
            "UPDATE users SET role = $1, updated_at = $2,
               password_hash = coalesce($3, password_hash),
               setup_token_sha256 = CASE WHEN $3::text IS NOT NULL OR $4::bytea IS NOT NULL THEN $4 ELSE setup_token_sha256 END,
               setup_expires_at = CASE WHEN $3::text IS NOT NULL OR $4::bytea IS NOT NULL THEN $5 ELSE setup_expires_at END
             WHERE id = $6",
            &[
                &update.role.unwrap_or(before.role).as_str(),
                &now.as_millis(),
                &update.password.as_ref().map(PasswordDigest::as_str),
                &update.setup.as_ref().map(|s| s.token_digest.as_bytes().as_slice()),
                &update.setup.as_ref().map(|s| s.expires_at.as_millis()),
                &id.as_str(),
            ],
        )
        .await
        .map_err(map_error)?;
        let after = live_user(&tx, workspace, id, false)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("user {id}")))?;
        if before.role != after.role {
            let changes =
                json!({"role": {"before": before.role.as_str(), "after": after.role.as_str()}});
            record_event(
                &tx,
                workspace,
                &NewEvent::of_user("user.updated", &after, changes, actor, now),
            )
            .await?;
        }
        if update.password.is_some() {
            record_event(
                &tx,
                workspace,
                &NewEvent::of_user("user.password_set", &after, json!({}), actor, now),
            )
            .await?;
        }
        tx.commit().await.map_err(map_error)?;
        Ok(Some(after))
    }

    async fn remove_user(
        &self,
        workspace: &WorkspaceId,
        id: &UserId,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        let Some(user) = live_user(&tx, workspace, id, true).await? else {
            return Ok(false);
        };
        let now = Timestamp::now();
        let ended = end_sessions_in(&tx, &user, None, None, actor).await?;
        tx.execute(
            "UPDATE users SET removed_at = $1, updated_at = $1, password_hash = NULL,
               setup_token_sha256 = NULL, setup_expires_at = NULL WHERE id = $2",
            &[&now.as_millis(), &id.as_str()],
        )
        .await
        .map_err(map_error)?;
        let changes =
            json!({"role": {"before": user.role.as_str(), "after": null}, "sessions_ended": ended});
        record_event(
            &tx,
            workspace,
            &NewEvent::of_user("user.removed", &user, changes, actor, now),
        )
        .await?;
        tx.commit().await.map_err(map_error)?;
        Ok(true)
    }

    async fn set_password_with_link(
        &self,
        token_digest: &SecretDigest,
        password: PasswordDigest,
        now: Timestamp,
    ) -> Result<Option<User>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        let row = tx
            .query_opt(
                &format!(
                    "SELECT {USER_COLUMNS} FROM users
                     WHERE setup_token_sha256 = $1 AND setup_expires_at > $2 AND removed_at IS NULL FOR UPDATE"
                ),
                &[&token_digest.as_bytes().as_slice(), &now.as_millis()],
            )
            .await
            .map_err(map_error)?;
        let Some(user) = row.as_ref().map(user_from_row).transpose()? else {
            return Ok(None);
        };
        tx.execute(
            "UPDATE users SET password_hash = $1, setup_token_sha256 = NULL, setup_expires_at = NULL,
               failed_sign_ins = 0, sign_in_blocked_until = NULL, updated_at = $2 WHERE id = $3",
            &[&password.as_str(), &now.as_millis(), &user.id.as_str()],
        )
        .await
        .map_err(map_error)?;
        let user = User {
            has_password: true,
            updated_at: now,
            ..user
        };
        record_event(
            &tx,
            &user.workspace_id,
            &NewEvent::of_user(
                "user.password_set",
                &user,
                json!({}),
                &user.as_actor(None),
                now,
            ),
        )
        .await?;
        tx.commit().await.map_err(map_error)?;
        Ok(Some(user))
    }

    async fn sign_in_record(&self, email: &Email) -> Result<Option<SignInRecord>, StoreError> {
        let row = self
            .client()
            .await?
            .query_opt(
                &format!(
                    "SELECT {USER_COLUMNS}, password_hash, failed_sign_ins, sign_in_blocked_until
                     FROM users WHERE email = $1 AND removed_at IS NULL"
                ),
                &[&email.as_str()],
            )
            .await
            .map_err(map_error)?;
        row.map(|row| {
            Ok(SignInRecord {
                user: user_from_row(&row)?,
                password: get::<Option<String>>(&row, 7)?.map(PasswordDigest::from_stored),
                failed_sign_ins: u32::try_from(get::<i64>(&row, 8)?).unwrap_or(u32::MAX),
                blocked_until: get::<Option<i64>>(&row, 9)?.map(Timestamp::from_millis),
            })
        })
        .transpose()
    }

    async fn record_failed_sign_in(
        &self,
        user: &User,
        blocked_until: Option<Timestamp>,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        let failed: i64 = tx
            .query_one(
                "UPDATE users SET failed_sign_ins = failed_sign_ins + 1,
                   sign_in_blocked_until = coalesce($1, sign_in_blocked_until)
                 WHERE id = $2 RETURNING failed_sign_ins",
                &[&blocked_until.map(Timestamp::as_millis), &user.id.as_str()],
            )
            .await
            .map_err(map_error)?
            .get(0);
        let changes = json!({
            "failed_sign_ins": {"before": failed - 1, "after": failed},
            "blocked_until": blocked_until.map(|t| t.to_string()),
        });
        record_event(
            &tx,
            &user.workspace_id,
            &NewEvent::of_user(
                "user.sign_in_failed",
                user,
                changes,
                actor,
                Timestamp::now(),
            ),
        )
        .await?;
        tx.commit().await.map_err(map_error)
    }

    async fn create_session(&self, new: NewSession, actor: &Actor) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        let user = live_user(&tx, &new.workspace_id, &new.user_id, true)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("user {}", new.user_id)))?;
        tx.execute(
            "DELETE FROM user_sessions WHERE user_id = $1 AND (ended_at IS NOT NULL OR expires_at <= $2)",
            &[&user.id.as_str(), &new.created_at.as_millis()],
        )
        .await
        .map_err(map_error)?;
        tx.execute(
            "UPDATE users SET failed_sign_ins = 0, sign_in_blocked_until = NULL WHERE id = $1",
            &[&user.id.as_str()],
        )
        .await
        .map_err(map_error)?;
        tx.execute(
            "INSERT INTO user_sessions (id, token_sha256, user_id, workspace_id, created_at, last_seen_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $5, $6)",
            &[
                &new.id.as_str(),
                &new.token_digest.as_bytes().as_slice(),
                &user.id.as_str(),
                &user.workspace_id.as_str(),
                &new.created_at.as_millis(),
                &new.expires_at.as_millis(),
            ],
        )
        .await
        .map_err(map_error)?;
        let changes = json!({"session": {"before": null, "after": new.id.as_str()}});
        record_event(
            &tx,
            &user.workspace_id,
            &NewEvent::of_user("user.signed_in", &user, changes, actor, new.created_at),
        )
        .await?;
        tx.commit().await.map_err(map_error)
    }

    async fn find_session(
        &self,
        token_digest: &SecretDigest,
    ) -> Result<Option<Session>, StoreError> {
        // Every request made with a session asks this: a shared connection and a prepared
        // statement, as for API keys.
        let client = self.point_read_client().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {USER_COLUMNS}, {SESSION_COLUMNS} FROM user_sessions s JOIN users ON users.id = s.user_id
                 WHERE s.token_sha256 = $1 AND s.ended_at IS NULL AND users.removed_at IS NULL"
            ))
            .await
            .map_err(map_error)?;
        client
            .query_opt(&statement, &[&token_digest.as_bytes().as_slice()])
            .await
            .map_err(map_error)?
            .as_ref()
            .map(session_from_row)
            .transpose()
    }

    async fn touch_session(&self, id: &SessionId, at: Timestamp) -> Result<(), StoreError> {
        self.client()
            .await?
            .execute(
                "UPDATE user_sessions SET last_seen_at = greatest(last_seen_at, $1) WHERE id = $2",
                &[&at.as_millis(), &id.as_str()],
            )
            .await
            .map(drop)
            .map_err(map_error)
    }

    async fn list_sessions(
        &self,
        workspace: &WorkspaceId,
        user: &UserId,
        now: Timestamp,
    ) -> Result<Vec<Session>, StoreError> {
        self.client()
            .await?
            .query(
                &format!(
                    "SELECT {USER_COLUMNS}, {SESSION_COLUMNS} FROM user_sessions s JOIN users ON users.id = s.user_id
                     WHERE s.workspace_id = $1 AND s.user_id = $2 AND s.ended_at IS NULL AND s.expires_at > $3
                       AND users.removed_at IS NULL
                     ORDER BY s.created_at DESC, s.id"
                ),
                &[&workspace.as_str(), &user.as_str(), &now.as_millis()],
            )
            .await
            .map_err(map_error)?
            .iter()
            .map(session_from_row)
            .collect()
    }

    async fn end_sessions(
        &self,
        workspace: &WorkspaceId,
        user: &UserId,
        only: Option<&SessionId>,
        why: SessionEnd,
        actor: &Actor,
    ) -> Result<u64, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        let Some(user) = live_user(&tx, workspace, user, true).await? else {
            return Ok(0);
        };
        let ended = end_sessions_in(&tx, &user, only, Some(why), actor).await?;
        tx.commit().await.map_err(map_error)?;
        Ok(ended)
    }
}
