//! `/v1/users`: the people of a workspace, their roles and their sessions. Needs
//! `users:manage` (an admin, or a key that holds it).

use crate::auth::{Authenticated, Caller};
use crate::extract::{Fields, JsonBody, PageQuery, page_from_query};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use switchboard_domain::{Email, Role, Scope, SessionId, Timestamp, UserId};
use switchboard_server::json::{MessageBody, Page, json_response, message_response, page_response};
use switchboard_server::rate_limit::Principal;
use switchboard_server::sessions::base_url;
use switchboard_server::{ApiError, AppState, ErrorResponse};
use switchboard_store::{
    NewUser, Session, SessionEnd, StoreError, User, UserUpdate, new_password_setup,
    password_setup_link,
};
use utoipa::{IntoParams, ToSchema};

const NOT_FOUND: &str = "User not found";

/// A person of the workspace.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = User)]
pub struct UserObject {
    #[schema(example = "usr_4k9m2x7q1z3b")]
    id: String,
    #[schema(example = "ann@example.com")]
    email: String,
    /// `viewer` (reads everything a report needs), `operator` (also routes, renames, buys and
    /// releases numbers, and manages agents) or `admin` (also keys, webhooks and users).
    #[schema(example = "operator")]
    role: &'static str,
    /// Whether they have set a password (else they sign in through the one-time link first).
    has_password: bool,
    #[schema(format = DateTime, example = "2024-01-15T07:00:00.000Z")]
    created_at: String,
    #[schema(format = DateTime, example = "2024-01-15T07:00:00.000Z")]
    updated_at: String,
}

impl From<User> for UserObject {
    fn from(user: User) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email.to_string(),
            role: user.role.as_str(),
            has_password: user.has_password,
            created_at: user.created_at.to_string(),
            updated_at: user.updated_at.to_string(),
        }
    }
}

/// A person just invited, with the link that lets them set a password.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitedUser {
    #[serde(flatten)]
    user: UserObject,
    /// Hand this to the person: it sets their password once, within 72 hours. Shown only now.
    #[schema(
        example = "https://switchboard.example.com/console/#set-password=Q2w9Zb1k0cS7tGx4VYp2mEo8hJd3Lr6uNf5aWyXe"
    )]
    password_setup_link: String,
    #[schema(format = DateTime, example = "2024-01-18T07:00:00.000Z")]
    password_setup_expires_at: String,
}

/// The body of an invitation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "documents the body; the handler checks it field by field"
)]
pub struct UserRequest {
    /// The address they sign in with; no other live person may have it.
    #[schema(example = "ann@example.com", max_length = 254)]
    email: String,
    #[schema(example = "operator", pattern = "^(viewer|operator|admin)$")]
    role: String,
}

/// The body of a change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "documents the body; the handler checks it field by field"
)]
pub struct UserUpdateRequest {
    #[schema(example = "viewer", pattern = "^(viewer|operator|admin)$")]
    role: String,
}

/// A live session of a person (never its secret).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = UserSession)]
pub struct SessionObject {
    #[schema(example = "ses_8c2m4x7q1z9b")]
    id: String,
    #[schema(format = DateTime, example = "2024-01-15T07:00:00.000Z")]
    created_at: String,
    /// Within a minute.
    #[schema(format = DateTime, example = "2024-01-15T09:30:00.000Z")]
    last_seen_at: String,
    /// When it ends however busy it is (an idle session ends sooner).
    #[schema(format = DateTime, example = "2024-01-22T07:00:00.000Z")]
    expires_at: String,
}

impl From<Session> for SessionObject {
    fn from(session: Session) -> Self {
        Self {
            id: session.id.to_string(),
            created_at: session.created_at.to_string(),
            last_seen_at: session.last_seen_at.to_string(),
            expires_at: session.expires_at.to_string(),
        }
    }
}

/// How many sessions ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionsEnded {
    #[schema(example = 2)]
    ended: u64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code, reason = "documents the path")]
pub struct UserPath {
    /// The user's id.
    #[param(example = "usr_4k9m2x7q1z3b")]
    id: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code, reason = "documents the path")]
pub struct UserSessionPath {
    /// The user's id.
    #[param(example = "usr_4k9m2x7q1z3b")]
    id: String,
    /// The session's id.
    #[param(example = "ses_8c2m4x7q1z9b")]
    session_id: String,
}

fn user_id(id: Result<Path<String>, PathRejection>) -> Result<UserId, ApiError> {
    id.ok()
        .and_then(|Path(id)| UserId::parse(&id))
        .ok_or(ApiError::NotFound(NOT_FOUND))
}

fn role_field(fields: &mut Fields, required: bool) -> Option<Role> {
    let text = if required {
        fields.required_string("role", None)
    } else {
        fields.optional_string("role", None)
    }?;
    match Role::parse(&text) {
        Ok(role) => Some(role),
        Err(error) => {
            fields.problem(error.to_string());
            None
        }
    }
}

/// Invite a person (ext): they get a role, and a one-time link to set their password.
/// Needs `users:manage`.
#[utoipa::path(
    post,
    path = "/v1/users",
    operation_id = "createUser",
    tag = "Users",
    request_body = UserRequest,
    responses(
        (status = 201, description = "Invited.", body = InvitedUser),
        (status = 400, description = "`email` is not an address, or `role` is not a role.", body = ErrorResponse),
        (status = 409, description = "Someone already signs in with that address.", body = ErrorResponse),
    )
)]
pub async fn create_user(
    State(state): State<AppState>,
    auth: Authenticated,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::UsersManage)?;
    let mut fields = Fields::new(body.parse()?.object);
    let email = fields.required_string("email", None).and_then(|text| {
        Email::parse(&text)
            .map_err(|error| fields.problem(error.to_string()))
            .ok()
    });
    let role = role_field(&mut fields, true);
    fields.finish()?;
    let (Some(email), Some(role)) = (email, role) else {
        return Err(ApiError::Internal("checked fields are missing".into()));
    };
    let (secret, setup) = new_password_setup(Timestamp::now());
    let expires_at = setup.expires_at;
    let user = state
        .store
        .create_user(NewUser {
            id: UserId::generate(),
            workspace_id: caller.workspace_id.clone(),
            email,
            role,
            password: None,
            setup: Some(setup),
            actor: caller.actor(),
        })
        .await
        .map_err(|error| match error {
            StoreError::Conflict(message) => ApiError::Conflict(message),
            other => other.into(),
        })?;
    Ok(json_response(
        StatusCode::CREATED,
        &InvitedUser {
            user: user.into(),
            password_setup_link: password_setup_link(
                &base_url(&headers, state.calls.public_url.as_deref()),
                secret.expose(),
            ),
            password_setup_expires_at: expires_at.to_string(),
        },
    ))
}

/// List the workspace's people, oldest first (ext). Needs `users:manage`.
#[utoipa::path(
    get,
    path = "/v1/users",
    operation_id = "listUsers",
    tag = "Users",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of people.", body = Page<UserObject>),
        (status = 400, description = "A paging value is invalid.", body = ErrorResponse),
    )
)]
pub async fn list_users(
    State(state): State<AppState>,
    auth: Authenticated,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::UsersManage)?;
    let mut problems = Vec::new();
    let page = page_from_query(&query, &mut problems);
    if !problems.is_empty() {
        return Err(ApiError::BadRequest(problems));
    }
    let users = state.store.list_users(&caller.workspace_id).await?;
    let total = users.len() as u64;
    let items = users
        .into_iter()
        .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
        .take(page.limit as usize)
        .map(UserObject::from)
        .collect();
    Ok(page_response(items, total, page))
}

/// Change a person's role (ext); their sessions hold the new role from their next request.
/// Needs `users:manage`. A person cannot change their own role.
#[utoipa::path(
    patch,
    path = "/v1/users/{id}",
    operation_id = "updateUser",
    tag = "Users",
    params(UserPath),
    request_body = UserUpdateRequest,
    responses(
        (status = 200, description = "Changed.", body = UserObject),
        (status = 400, description = "`role` is missing or not a role.", body = ErrorResponse),
        (status = 403, description = "It is the caller's own role.", body = ErrorResponse),
        (status = 404, description = "No such person in this workspace.", body = ErrorResponse),
    )
)]
pub async fn update_user(
    State(state): State<AppState>,
    auth: Authenticated,
    id: Result<Path<String>, PathRejection>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::UsersManage)?;
    let id = user_id(id)?;
    let mut fields = Fields::new(body.parse()?.object);
    let role = role_field(&mut fields, true);
    fields.finish()?;
    refuse_self(&caller, &id, "change your own role")?;
    let user = state
        .store
        .update_user(
            &caller.workspace_id,
            &id,
            UserUpdate {
                role,
                ..UserUpdate::default()
            },
            &caller.actor(),
        )
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    Ok(json_response(StatusCode::OK, &UserObject::from(user)))
}

/// An admin cannot demote or remove themselves: the workspace would be left without the
/// person who meant to manage it (another admin, or a key, can).
fn refuse_self(caller: &Caller, id: &UserId, what: &str) -> Result<(), ApiError> {
    match &caller.principal {
        Principal::User(me) if me == id => Err(ApiError::ForbiddenBecause(format!(
            "You cannot {what}; another admin can."
        ))),
        _ => Ok(()),
    }
}

/// Remove a person (ext): every session of theirs ends at once, on every replica. Their
/// changes stay in history under their id and address. Needs `users:manage`.
#[utoipa::path(
    delete,
    path = "/v1/users/{id}",
    operation_id = "deleteUser",
    tag = "Users",
    params(UserPath),
    responses(
        (status = 200, description = "Removed.", body = MessageBody),
        (status = 403, description = "It is the caller.", body = ErrorResponse),
        (status = 404, description = "No such person in this workspace.", body = ErrorResponse),
    )
)]
pub async fn delete_user(
    State(state): State<AppState>,
    auth: Authenticated,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::UsersManage)?;
    let id = user_id(id)?;
    refuse_self(&caller, &id, "remove yourself")?;
    if !state
        .store
        .remove_user(&caller.workspace_id, &id, &caller.actor())
        .await?
    {
        return Err(ApiError::NotFound(NOT_FOUND));
    }
    Ok(message_response("User removed successfully."))
}

/// A person's live sessions, newest first (ext). Needs `users:manage`.
#[utoipa::path(
    get,
    path = "/v1/users/{id}/sessions",
    operation_id = "listUserSessions",
    tag = "Users",
    params(UserPath),
    responses(
        (status = 200, description = "The sessions.", body = Vec<SessionObject>),
        (status = 404, description = "No such person in this workspace.", body = ErrorResponse),
    )
)]
pub async fn list_user_sessions(
    State(state): State<AppState>,
    auth: Authenticated,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::UsersManage)?;
    let id = user_id(id)?;
    state
        .store
        .get_user(&caller.workspace_id, &id)
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    let now = Timestamp::now();
    let sessions: Vec<SessionObject> = state
        .store
        .list_sessions(&caller.workspace_id, &id, now)
        .await?
        .into_iter()
        .filter(|s| state.sessions.is_live(s.last_seen_at, s.expires_at, now))
        .map(SessionObject::from)
        .collect();
    Ok(json_response(StatusCode::OK, &sessions))
}

/// Sign a person out everywhere (ext): every session of theirs ends, at once, on every
/// replica. An action, like a webhook's `rotate-secret`: the list of their sessions stays, empty.
/// Needs `users:manage`.
#[utoipa::path(
    post,
    path = "/v1/users/{id}/sign-out",
    operation_id = "signOutUser",
    tag = "Users",
    params(UserPath),
    responses(
        (status = 200, description = "How many ended.", body = SessionsEnded),
        (status = 404, description = "No such person in this workspace.", body = ErrorResponse),
    )
)]
pub async fn sign_out_user(
    State(state): State<AppState>,
    auth: Authenticated,
    id: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    end_sessions(state, auth, id, None).await
}

/// End one session of a person (ext). Needs `users:manage`.
#[utoipa::path(
    delete,
    path = "/v1/users/{id}/sessions/{session_id}",
    operation_id = "endUserSession",
    tag = "Users",
    params(UserSessionPath),
    responses(
        (status = 200, description = "How many ended: 1, or 0 when it had ended already.", body = SessionsEnded),
        (status = 404, description = "No such person or session.", body = ErrorResponse),
    )
)]
pub async fn end_user_session(
    State(state): State<AppState>,
    auth: Authenticated,
    ids: Result<Path<(String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let (id, session) = ids
        .ok()
        .and_then(|Path((id, session))| Some((id, SessionId::parse(&session)?)))
        .ok_or(ApiError::NotFound("Session not found"))?;
    end_sessions(state, auth, Ok(Path(id)), Some(session)).await
}

async fn end_sessions(
    state: AppState,
    auth: Authenticated,
    id: Result<Path<String>, PathRejection>,
    only: Option<SessionId>,
) -> Result<Response, ApiError> {
    let caller = auth.require(Scope::UsersManage)?;
    let id = user_id(id)?;
    state
        .store
        .get_user(&caller.workspace_id, &id)
        .await?
        .ok_or(ApiError::NotFound(NOT_FOUND))?;
    let ended = state
        .store
        .end_sessions(
            &caller.workspace_id,
            &id,
            only.as_ref(),
            SessionEnd::EndedByAdmin,
            &caller.actor(),
        )
        .await?;
    Ok(json_response(StatusCode::OK, &SessionsEnded { ended }))
}
