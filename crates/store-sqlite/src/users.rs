//! People and their sessions.

use crate::outbox::record_event;
use crate::queries::require_workspace;
use crate::rows::{corrupt, parse_id};
use crate::{SqliteStore, map_error};
use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params};
use serde_json::json;
use switchboard_domain::{
    Email, PasswordDigest, Role, SecretDigest, SessionId, Timestamp, UserId, WorkspaceId,
};
use switchboard_store::{
    Actor, NewEvent, NewSession, NewUser, OidcLogin, Session, SessionEnd, SignInRecord, StoreError,
    User, UserStore, UserUpdate,
};

const USER_COLUMNS: &str = "users.id, users.workspace_id, users.email, users.role, users.password_hash IS NOT NULL, users.created_at, users.updated_at";

fn user_from_row(row: &Row<'_>) -> rusqlite::Result<User> {
    let email: String = row.get(2)?;
    let role: String = row.get(3)?;
    Ok(User {
        id: parse_id(row.get(0)?, UserId::parse, "user id")?,
        workspace_id: parse_id(row.get(1)?, WorkspaceId::parse, "workspace id")?,
        email: Email::parse(&email).map_err(|_| corrupt("email", &email))?,
        role: Role::parse(&role).map_err(|_| corrupt("role", &role))?,
        has_password: row.get(4)?,
        created_at: Timestamp::from_millis(row.get(5)?),
        updated_at: Timestamp::from_millis(row.get(6)?),
    })
}

/// A session's columns after [`USER_COLUMNS`].
const SESSION_COLUMNS: &str = "s.id, s.created_at, s.last_seen_at, s.expires_at";

fn session_from_row(row: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        user: user_from_row(row)?,
        id: parse_id(row.get(7)?, SessionId::parse, "session id")?,
        created_at: Timestamp::from_millis(row.get(8)?),
        last_seen_at: Timestamp::from_millis(row.get(9)?),
        expires_at: Timestamp::from_millis(row.get(10)?),
    })
}

fn live_user(
    conn: &Connection,
    workspace: &WorkspaceId,
    id: &UserId,
) -> Result<Option<User>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE workspace_id = ?1 AND id = ?2 AND removed_at IS NULL"
    ))
    .and_then(|mut stmt| {
        stmt.query_row([workspace.as_str(), id.as_str()], user_from_row)
            .optional()
    })
    .map_err(map_error)
}

fn email_taken(email: &Email) -> StoreError {
    StoreError::Conflict(format!("someone already signs in as {email}"))
}

/// Ends the person's live sessions (only `only`, when given), with an event for each unless
/// `why` is `None` (the person's removal says it for all); the ids ended.
fn end_sessions_in(
    tx: &Connection,
    user: &User,
    only: Option<&SessionId>,
    why: Option<SessionEnd>,
    actor: &Actor,
) -> Result<u64, StoreError> {
    let now = Timestamp::now();
    let ended: Vec<String> = tx
        .prepare_cached(
            "UPDATE user_sessions SET ended_at = ?1
             WHERE user_id = ?2 AND ended_at IS NULL AND (?3 IS NULL OR id = ?3) RETURNING id",
        )
        .and_then(|mut stmt| {
            stmt.query_map(
                params![
                    now.as_millis(),
                    user.id.as_str(),
                    only.map(SessionId::as_str)
                ],
                |row| row.get(0),
            )?
            .collect()
        })
        .map_err(map_error)?;
    if let Some(why) = why {
        for id in &ended {
            let changes = json!({"session": {"before": id, "after": null}, "reason": why.as_str()});
            record_event(
                tx,
                &user.workspace_id,
                &NewEvent::of_user("user.session_ended", user, changes, actor, now),
            )?;
        }
    }
    Ok(ended.len() as u64)
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn save_oidc_login(&self, login: OidcLogin) -> Result<(), StoreError> {
        self.write(move |tx| {
            tx.execute(
                "DELETE FROM oidc_logins WHERE expires_at <= ?1",
                [Timestamp::now().as_millis()],
            )
            .map_err(map_error)?;
            tx.execute(
                "INSERT INTO oidc_logins (state_sha256, nonce, pkce_verifier, expires_at) VALUES (?1, ?2, ?3, ?4)",
                params![
                    login.state_digest.as_bytes().as_slice(),
                    login.nonce,
                    login.pkce_verifier,
                    login.expires_at.as_millis(),
                ],
            )
            .map(drop)
            .map_err(map_error)
        })
        .await
    }

    async fn take_oidc_login(
        &self,
        state_digest: &SecretDigest,
        now: Timestamp,
    ) -> Result<Option<OidcLogin>, StoreError> {
        let digest = state_digest.clone();
        self.write(move |tx| {
            tx.query_row(
                "DELETE FROM oidc_logins WHERE state_sha256 = ?1 RETURNING nonce, pkce_verifier, expires_at",
                [digest.as_bytes().as_slice()],
                |row| {
                    Ok(OidcLogin {
                        state_digest: digest.clone(),
                        nonce: row.get(0)?,
                        pkce_verifier: row.get(1)?,
                        expires_at: Timestamp::from_millis(row.get(2)?),
                    })
                },
            )
            .optional()
            .map(|login| login.filter(|login| login.expires_at > now))
            .map_err(map_error)
        })
        .await
    }

    async fn create_user(&self, new: NewUser) -> Result<User, StoreError> {
        self.write(move |tx| {
            require_workspace(tx, &new.workspace_id)?;
            let now = Timestamp::now();
            let inserted = tx.execute(
                "INSERT INTO users (id, workspace_id, email, role, password_hash, setup_token_sha256, setup_expires_at, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
                params![
                    new.id.as_str(),
                    new.workspace_id.as_str(),
                    new.email.as_str(),
                    new.role.as_str(),
                    new.password.as_ref().map(PasswordDigest::as_str),
                    new.setup.as_ref().map(|s| s.token_digest.as_bytes().to_vec()),
                    new.setup.as_ref().map(|s| s.expires_at.as_millis()),
                    now.as_millis(),
                ],
            );
            match inserted.map_err(map_error) {
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
            record_event(tx, &user.workspace_id, &NewEvent::of_new_user(&user, &new.actor))?;
            Ok(user)
        })
        .await
    }

    async fn list_users(&self, workspace: &WorkspaceId) -> Result<Vec<User>, StoreError> {
        let workspace = workspace.clone();
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE workspace_id = ?1 AND removed_at IS NULL ORDER BY created_at, id"
            ))
            .and_then(|mut stmt| stmt.query_map([workspace.as_str()], user_from_row)?.collect())
            .map_err(map_error)
        })
        .await
    }

    async fn user_emails(
        &self,
        workspace: &WorkspaceId,
    ) -> Result<Vec<(UserId, Email)>, StoreError> {
        let workspace = workspace.clone();
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM users WHERE workspace_id = ?1"
            ))
            .and_then(|mut stmt| {
                stmt.query_map([workspace.as_str()], |row| {
                    user_from_row(row).map(|user| (user.id, user.email))
                })?
                .collect()
            })
            .map_err(map_error)
        })
        .await
    }

    async fn get_user(
        &self,
        workspace: &WorkspaceId,
        id: &UserId,
    ) -> Result<Option<User>, StoreError> {
        let (workspace, id) = (workspace.clone(), id.clone());
        self.lookup(move |conn| live_user(conn, &workspace, &id))
            .await
    }

    async fn update_user(
        &self,
        workspace: &WorkspaceId,
        id: &UserId,
        update: UserUpdate,
        actor: &Actor,
    ) -> Result<Option<User>, StoreError> {
        let (workspace, id, actor) = (workspace.clone(), id.clone(), actor.clone());
        self.write(move |tx| {
            let Some(before) = live_user(tx, &workspace, &id)? else {
                return Ok(None);
            };
            let now = Timestamp::now();
            tx.execute(
                "UPDATE users SET role = ?1, updated_at = ?2,
                   password_hash = coalesce(?3, password_hash),
                   setup_token_sha256 = CASE WHEN ?3 IS NOT NULL OR ?4 IS NOT NULL THEN ?4 ELSE setup_token_sha256 END,
                   setup_expires_at = CASE WHEN ?3 IS NOT NULL OR ?4 IS NOT NULL THEN ?5 ELSE setup_expires_at END
                 WHERE id = ?6",
                params![
                    update.role.unwrap_or(before.role).as_str(),
                    now.as_millis(),
                    update.password.as_ref().map(PasswordDigest::as_str),
                    update.setup.as_ref().map(|s| s.token_digest.as_bytes().to_vec()),
                    update.setup.as_ref().map(|s| s.expires_at.as_millis()),
                    id.as_str(),
                ],
            )
            .map_err(map_error)?;
            let after = live_user(tx, &workspace, &id)?
                .ok_or_else(|| StoreError::NotFound(format!("user {id}")))?;
            if before.role != after.role {
                let changes = json!({"role": {"before": before.role.as_str(), "after": after.role.as_str()}});
                record_event(tx, &workspace, &NewEvent::of_user("user.updated", &after, changes, &actor, now))?;
            }
            if update.password.is_some() {
                record_event(tx, &workspace, &NewEvent::of_user("user.password_set", &after, json!({}), &actor, now))?;
            }
            Ok(Some(after))
        })
        .await
    }

    async fn remove_user(
        &self,
        workspace: &WorkspaceId,
        id: &UserId,
        actor: &Actor,
    ) -> Result<bool, StoreError> {
        let (workspace, id, actor) = (workspace.clone(), id.clone(), actor.clone());
        self.write(move |tx| {
            let Some(user) = live_user(tx, &workspace, &id)? else {
                return Ok(false);
            };
            let now = Timestamp::now();
            let ended = end_sessions_in(tx, &user, None, None, &actor)?;
            tx.execute(
                "UPDATE users SET removed_at = ?1, updated_at = ?1, password_hash = NULL,
                   setup_token_sha256 = NULL, setup_expires_at = NULL WHERE id = ?2",
                params![now.as_millis(), id.as_str()],
            )
            .map_err(map_error)?;
            let changes = json!({"role": {"before": user.role.as_str(), "after": null}, "sessions_ended": ended});
            record_event(tx, &workspace, &NewEvent::of_user("user.removed", &user, changes, &actor, now))?;
            Ok(true)
        })
        .await
    }

    async fn set_password_with_link(
        &self,
        token_digest: &SecretDigest,
        password: PasswordDigest,
        now: Timestamp,
    ) -> Result<Option<User>, StoreError> {
        let digest = token_digest.as_bytes().to_vec();
        self.write(move |tx| {
            let user = tx
                .prepare_cached(&format!(
                    "SELECT {USER_COLUMNS} FROM users
                     WHERE setup_token_sha256 = ?1 AND setup_expires_at > ?2 AND removed_at IS NULL"
                ))
                .and_then(|mut stmt| stmt.query_row(params![digest, now.as_millis()], user_from_row).optional())
                .map_err(map_error)?;
            let Some(user) = user else {
                return Ok(None);
            };
            tx.execute(
                "UPDATE users SET password_hash = ?1, setup_token_sha256 = NULL, setup_expires_at = NULL,
                   failed_sign_ins = 0, sign_in_blocked_until = NULL, updated_at = ?2 WHERE id = ?3",
                params![password.as_str(), now.as_millis(), user.id.as_str()],
            )
            .map_err(map_error)?;
            let user = User { has_password: true, updated_at: now, ..user };
            record_event(tx, &user.workspace_id, &NewEvent::of_user("user.password_set", &user, json!({}), &user.as_actor(None), now))?;
            Ok(Some(user))
        })
        .await
    }

    async fn sign_in_record(&self, email: &Email) -> Result<Option<SignInRecord>, StoreError> {
        let email = email.clone();
        self.lookup(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {USER_COLUMNS}, password_hash, failed_sign_ins, sign_in_blocked_until
                 FROM users WHERE email = ?1 AND removed_at IS NULL"
            ))
            .and_then(|mut stmt| {
                stmt.query_row([email.as_str()], |row| {
                    Ok(SignInRecord {
                        user: user_from_row(row)?,
                        password: row
                            .get::<_, Option<String>>(7)?
                            .map(PasswordDigest::from_stored),
                        failed_sign_ins: row.get(8)?,
                        blocked_until: row.get::<_, Option<i64>>(9)?.map(Timestamp::from_millis),
                    })
                })
                .optional()
            })
            .map_err(map_error)
        })
        .await
    }

    async fn record_failed_sign_in(
        &self,
        user: &User,
        blocked_until: Option<Timestamp>,
        actor: &Actor,
    ) -> Result<(), StoreError> {
        let (user, actor) = (user.clone(), actor.clone());
        self.write(move |tx| {
            let failed: i64 = tx
                .query_row(
                    "UPDATE users SET failed_sign_ins = failed_sign_ins + 1,
                       sign_in_blocked_until = coalesce(?1, sign_in_blocked_until)
                     WHERE id = ?2 RETURNING failed_sign_ins",
                    params![blocked_until.map(Timestamp::as_millis), user.id.as_str()],
                    |row| row.get(0),
                )
                .map_err(map_error)?;
            let changes = json!({
                "failed_sign_ins": {"before": failed - 1, "after": failed},
                "blocked_until": blocked_until.map(|t| t.to_string()),
            });
            record_event(
                tx,
                &user.workspace_id,
                &NewEvent::of_user(
                    "user.sign_in_failed",
                    &user,
                    changes,
                    &actor,
                    Timestamp::now(),
                ),
            )
        })
        .await
    }

    async fn create_session(&self, new: NewSession, actor: &Actor) -> Result<(), StoreError> {
        let actor = actor.clone();
        self.write(move |tx| {
            let user = live_user(tx, &new.workspace_id, &new.user_id)?
                .ok_or_else(|| StoreError::NotFound(format!("user {}", new.user_id)))?;
            tx.execute(
                "DELETE FROM user_sessions WHERE user_id = ?1 AND (ended_at IS NOT NULL OR expires_at <= ?2)",
                params![user.id.as_str(), new.created_at.as_millis()],
            )
            .map_err(map_error)?;
            tx.execute(
                "UPDATE users SET failed_sign_ins = 0, sign_in_blocked_until = NULL WHERE id = ?1",
                [user.id.as_str()],
            )
            .map_err(map_error)?;
            tx.execute(
                "INSERT INTO user_sessions (id, token_sha256, user_id, workspace_id, created_at, last_seen_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
                params![
                    new.id.as_str(),
                    new.token_digest.as_bytes().as_slice(),
                    user.id.as_str(),
                    user.workspace_id.as_str(),
                    new.created_at.as_millis(),
                    new.expires_at.as_millis(),
                ],
            )
            .map_err(map_error)?;
            let changes = json!({"session": {"before": null, "after": new.id.as_str()}});
            record_event(tx, &user.workspace_id, &NewEvent::of_user("user.signed_in", &user, changes, &actor, new.created_at))
        })
        .await
    }

    async fn find_session(
        &self,
        token_digest: &SecretDigest,
    ) -> Result<Option<Session>, StoreError> {
        let digest = token_digest.as_bytes().to_vec();
        self.lookup(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {USER_COLUMNS}, {SESSION_COLUMNS} FROM user_sessions s JOIN users ON users.id = s.user_id
                 WHERE s.token_sha256 = ?1 AND s.ended_at IS NULL AND users.removed_at IS NULL"
            ))
            .and_then(|mut stmt| stmt.query_row([digest], session_from_row).optional())
            .map_err(map_error)
        })
        .await
    }

    async fn touch_session(&self, id: &SessionId, at: Timestamp) -> Result<(), StoreError> {
        let id = id.clone();
        self.write(move |tx| {
            tx.execute(
                "UPDATE user_sessions SET last_seen_at = max(last_seen_at, ?1) WHERE id = ?2",
                params![at.as_millis(), id.as_str()],
            )
            .map(drop)
            .map_err(map_error)
        })
        .await
    }

    async fn list_sessions(
        &self,
        workspace: &WorkspaceId,
        user: &UserId,
        now: Timestamp,
    ) -> Result<Vec<Session>, StoreError> {
        let (workspace, user) = (workspace.clone(), user.clone());
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {USER_COLUMNS}, {SESSION_COLUMNS} FROM user_sessions s JOIN users ON users.id = s.user_id
                 WHERE s.workspace_id = ?1 AND s.user_id = ?2 AND s.ended_at IS NULL AND s.expires_at > ?3
                   AND users.removed_at IS NULL
                 ORDER BY s.created_at DESC, s.id"
            ))
            .and_then(|mut stmt| {
                stmt.query_map(params![workspace.as_str(), user.as_str(), now.as_millis()], session_from_row)?
                    .collect()
            })
            .map_err(map_error)
        })
        .await
    }

    async fn end_sessions(
        &self,
        workspace: &WorkspaceId,
        user: &UserId,
        only: Option<&SessionId>,
        why: SessionEnd,
        actor: &Actor,
    ) -> Result<u64, StoreError> {
        let (workspace, user, only, actor) = (
            workspace.clone(),
            user.clone(),
            only.cloned(),
            actor.clone(),
        );
        self.write(move |tx| {
            let Some(user) = live_user(tx, &workspace, &user)? else {
                return Ok(0);
            };
            end_sessions_in(tx, &user, only.as_ref(), Some(why), &actor)
        })
        .await
    }
}
