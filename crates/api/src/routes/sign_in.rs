//! `/auth/…`: people signing in to the console and out of it, and setting their password with
//! a one-time link. Outside `/v1`: these are for the console, not for programs, which use API
//! keys.

use crate::extract::{Fields, JsonBody};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use switchboard_domain::{Email, PasswordDigest, SecretDigest, SessionId, Timestamp};
use switchboard_server::auth_throttle::ClientAddr;
use switchboard_server::sessions::{self, SESSION_COOKIE, millis};
use switchboard_server::{ApiError, AppState, ErrorResponse};
use switchboard_store::{Actor, NewSession, SessionEnd};
use utoipa::ToSchema;

/// The body of a sign-in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "documents the body; the handler checks it field by field"
)]
pub struct SignInRequest {
    #[schema(example = "ann@example.com")]
    email: String,
    #[schema(example = "correct horse battery staple", format = Password)]
    password: String,
}

/// The body of a password set with a one-time link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(
    dead_code,
    reason = "documents the body; the handler checks it field by field"
)]
pub struct SetPasswordRequest {
    /// The secret after `#set-password=` in the link.
    #[schema(example = "Q2w9Zb1k0cS7tGx4VYp2mEo8hJd3Lr6uNf5aWyXe")]
    token: String,
    /// At least 12 characters, at most 256.
    #[schema(example = "correct horse battery staple", format = Password, min_length = 12, max_length = 256)]
    password: String,
}

const WRONG_PAIR: &str = "Wrong email address or password.";

/// The request's id: the router's outer layer puts it on every request (the client's, or a
/// new one).
fn request_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// A request to sign in (or set a password) from a page of another site is refused: it
/// would sign the browser in to an account of the attacker's choosing.
fn refuse_foreign(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if sessions::same_origin(headers, state.calls.public_url.as_deref()) {
        Ok(())
    } else {
        Err(ApiError::ForbiddenBecause(
            "This request comes from another site (its Origin is not this server's).".into(),
        ))
    }
}

/// Sign in with an email address and password (console). Answers 204 with the session cookie
/// (`switchboard_session`, HttpOnly) and the forgery token's cookie (`switchboard_csrf`, to
/// send back as `X-CSRF-Token` on every request that changes something). A wrong address or
/// password is the same 401. After 5 wrong passwords in a row, the person's sign-in is refused
/// for a minute, doubling to 15; an address that fails often is refused too (429).
#[utoipa::path(
    post,
    path = "/auth/login",
    operation_id = "signIn",
    tag = "Sign-in",
    request_body = SignInRequest,
    responses(
        (status = 204, description = "Signed in; the cookies are set."),
        (status = 400, description = "`email` or `password` is missing.", body = ErrorResponse),
        (status = 401, description = "Wrong email address or password.", body = ErrorResponse),
        (status = 403, description = "The request comes from another site.", body = ErrorResponse),
        (status = 429, description = "Too many wrong passwords: for this person, or from this address.", body = ErrorResponse),
    )
)]
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    client: Option<axum::Extension<ClientAddr>>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    refuse_foreign(&state, &headers)?;
    let address = client.map(|axum::Extension(ClientAddr(peer))| peer.ip());
    if let Some(throttled) = state.failed_auth.blocked(address) {
        return Err(ApiError::RateLimited {
            retry_after_secs: throttled.retry_after_secs,
        });
    }
    let mut fields = Fields::new(body.parse()?.object);
    let email = fields.required_string("email", None);
    let password = fields.required_string("password", None);
    fields.finish()?;
    let (Some(email), Some(password)) = (email, password) else {
        return Err(ApiError::Internal("checked fields are missing".into()));
    };
    let request_id = request_id(&headers);
    let refused = || match state.failed_auth.failed(address, None) {
        Some(throttled) => ApiError::RateLimited {
            retry_after_secs: throttled.retry_after_secs,
        },
        None => ApiError::UnauthorizedBecause(WRONG_PAIR.into()),
    };
    let record = match Email::parse(&email) {
        Ok(email) => state.store.sign_in_record(&email).await?,
        Err(_) => None,
    };
    let now = Timestamp::now();
    if let Some(until) = record
        .as_ref()
        .and_then(|record| record.blocked_until)
        .filter(|until| *until > now)
    {
        let wait = (until.as_millis() - now.as_millis()).max(1000) / 1000;
        return Err(ApiError::RateLimited {
            retry_after_secs: u64::try_from(wait).unwrap_or(1),
        });
    }
    // Hashing takes tens of milliseconds of CPU: off the request workers, and as long for an
    // unknown address as for a known one.
    let stored = record.as_ref().and_then(|record| record.password.clone());
    let right =
        tokio::task::spawn_blocking(move || PasswordDigest::matches(stored.as_ref(), &password))
            .await
            .unwrap_or(false);
    let Some(record) = record else {
        return Err(refused());
    };
    if !right {
        let blocked_until = sessions::sign_in_lockout(record.failed_sign_ins + 1)
            .map(|wait| Timestamp::from_millis(now.as_millis() + millis(wait)));
        let actor = Actor {
            name: "anonymous".into(),
            label: None,
            request_id: request_id.clone(),
        };
        state
            .store
            .record_failed_sign_in(&record.user, blocked_until, &actor)
            .await?;
        tracing::info!(user = %record.user.id, "a sign-in failed: wrong password");
        return Err(refused());
    }
    let secret = start_session(&state, &record.user, request_id).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    let secure = sessions::over_https(&headers, state.calls.public_url.as_deref());
    sessions::set_cookies(
        response.headers_mut(),
        sessions::start_cookies(secret.expose(), state.sessions.absolute, secure),
    );
    Ok(response)
}

/// Sign out (console): ends the session on the server, on every replica, and clears its
/// cookies. Like every request that changes something with a session, it needs the
/// `X-CSRF-Token` header. Without a live session it only clears the cookies.
#[utoipa::path(
    post,
    path = "/auth/logout",
    operation_id = "signOut",
    tag = "Sign-in",
    responses(
        (status = 204, description = "Signed out; the cookies are cleared."),
        (status = 403, description = "The request comes from another site, or lacks the forgery token.", body = ErrorResponse),
    )
)]
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(secret) = sessions::cookie(&headers, SESSION_COOKIE) {
        let session = state
            .store
            .find_session(&sessions::session_digest(secret))
            .await?;
        if let Some(session) = session {
            sessions::check_forgery(&headers, secret, state.calls.public_url.as_deref())
                .map_err(sessions::Forgery::refusal)?;
            let actor = session.user.as_actor(request_id(&headers));
            state
                .store
                .end_sessions(
                    &session.user.workspace_id,
                    &session.user.id,
                    Some(&session.id),
                    SessionEnd::SignedOut,
                    &actor,
                )
                .await?;
        }
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    sessions::set_cookies(response.headers_mut(), sessions::end_cookies());
    Ok(response)
}

/// Set a password with a one-time link (console): the link from `switchboard user create` or
/// an admin's invitation works once, within 72 hours. Then sign in with it.
#[utoipa::path(
    post,
    path = "/auth/password",
    operation_id = "setPassword",
    tag = "Sign-in",
    request_body = SetPasswordRequest,
    responses(
        (status = 204, description = "The password is set; the link is used up."),
        (status = 400, description = "A field is missing, or the password is too short or too long.", body = ErrorResponse),
        (status = 403, description = "The request comes from another site.", body = ErrorResponse),
        (status = 404, description = "The link is unknown, used or expired.", body = ErrorResponse),
    )
)]
pub async fn set_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, ApiError> {
    refuse_foreign(&state, &headers)?;
    let mut fields = Fields::new(body.parse()?.object);
    let token = fields.required_string("token", None);
    let password = fields.required_string("password", None);
    let digest = password.and_then(|password| {
        PasswordDigest::of(&password)
            .map_err(|error| fields.problem(error.to_string()))
            .ok()
    });
    fields.finish()?;
    let (Some(token), Some(digest)) = (token, digest) else {
        return Err(ApiError::Internal("checked fields are missing".into()));
    };
    state
        .store
        .set_password_with_link(&SecretDigest::of(&token), digest, Timestamp::now())
        .await?
        .ok_or(ApiError::NotFound(
            "That link is unknown, used already, or expired; ask an admin for a new one.",
        ))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// How the console may sign people in.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct SignInMethods {
    /// Email and password (always).
    password: bool,
    /// Through the identity provider (`GET /auth/oidc/login`), when one is configured.
    oidc: bool,
}

/// How people may sign in here (console): with a password, and whether through an identity
/// provider too.
#[utoipa::path(
    get,
    path = "/auth/methods",
    operation_id = "getSignInMethods",
    tag = "Sign-in",
    responses((status = 200, description = "The ways in.", body = SignInMethods))
)]
pub async fn sign_in_methods(State(state): State<AppState>) -> Response {
    switchboard_server::json::json_response(
        StatusCode::OK,
        &SignInMethods {
            password: true,
            oidc: state.identity_provider.is_some(),
        },
    )
}

/// The cookie that ties a sign-in through the provider to the browser that started it.
const OIDC_STATE_COOKIE: &str = "switchboard_oidc_state";
/// How long a sign-in through the provider may take.
const OIDC_LOGIN_LIFETIME: std::time::Duration = std::time::Duration::from_secs(600);

fn redirect_uri(state: &AppState, headers: &HeaderMap) -> String {
    format!(
        "{}/auth/oidc/callback",
        sessions::base_url(headers, state.calls.public_url.as_deref())
    )
}

/// A redirect (303) to `location`, with these cookies.
fn see_other(location: &str, cookies: &[axum::http::HeaderValue]) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = axum::http::HeaderValue::from_str(location) {
        response
            .headers_mut()
            .insert(axum::http::header::LOCATION, value);
    }
    for cookie in cookies {
        response
            .headers_mut()
            .append(axum::http::header::SET_COOKIE, cookie.clone());
    }
    response
}

/// The console's sign-in page, saying why a sign-in through the provider failed.
fn sign_in_failed(why: &str) -> Response {
    tracing::info!(why, "a sign-in through the identity provider failed");
    let message: String = url::form_urlencoded::byte_serialize(why.as_bytes()).collect();
    see_other(
        &format!("/console/#sign-in-error={message}"),
        &[forget_state_cookie()],
    )
}

fn forget_state_cookie() -> axum::http::HeaderValue {
    axum::http::HeaderValue::from_static(
        "switchboard_oidc_state=; Path=/auth/oidc; Max-Age=0; HttpOnly; SameSite=Lax",
    )
}

/// Sign in through the identity provider (console): redirects (303) the browser to the
/// provider, with a fresh state, nonce and PKCE challenge. 404 when no provider is configured.
#[utoipa::path(
    get,
    path = "/auth/oidc/login",
    operation_id = "startProviderSignIn",
    tag = "Sign-in",
    responses(
        (status = 303, description = "To the identity provider."),
        (status = 404, description = "No identity provider is configured.", body = ErrorResponse),
        (status = 502, description = "The identity provider cannot be reached.", body = ErrorResponse),
    )
)]
pub async fn oidc_login(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let provider = state
        .identity_provider
        .as_ref()
        .ok_or(ApiError::NotFound("No identity provider is configured"))?;
    let random = || switchboard_domain::ApiKeySecret::generate().reveal();
    let (login_state, nonce) = (random(), random());
    let verifier = switchboard_server::oidc::new_pkce_verifier();
    let url = provider
        .authorization_url(
            &redirect_uri(&state, &headers),
            login_state.expose(),
            nonce.expose(),
            &verifier,
        )
        .await
        .map_err(|error| ApiError::BadGateway(error.to_string()))?;
    state
        .store
        .save_oidc_login(switchboard_store::OidcLogin {
            state_digest: SecretDigest::of(login_state.expose()),
            nonce: nonce.expose().to_owned(),
            pkce_verifier: verifier,
            expires_at: Timestamp::from_millis(
                Timestamp::now().as_millis() + millis(OIDC_LOGIN_LIFETIME),
            ),
        })
        .await?;
    let secure = if sessions::over_https(&headers, state.calls.public_url.as_deref()) {
        "; Secure"
    } else {
        ""
    };
    let cookie = axum::http::HeaderValue::from_str(&format!(
        "{OIDC_STATE_COOKIE}={}; Path=/auth/oidc; Max-Age={}; HttpOnly; SameSite=Lax{secure}",
        login_state.expose(),
        OIDC_LOGIN_LIFETIME.as_secs()
    ))
    .map_err(|e| ApiError::Internal(Box::new(e)))?;
    Ok(see_other(&url, &[cookie]))
}

/// The identity provider's callback (console): checks the state (this browser's, unused,
/// fresh), trades the code for an ID token and verifies it (the provider's signature, issuer,
/// audience, expiry, nonce), then signs in the person with that verified address — invited,
/// or of an allowed domain — and redirects (303) to the console. Any failure redirects to the
/// console's sign-in page with the reason.
#[utoipa::path(
    get,
    path = "/auth/oidc/callback",
    operation_id = "finishProviderSignIn",
    tag = "Sign-in",
    params(
        ("code" = Option<String>, Query, description = "The provider's authorization code."),
        ("state" = Option<String>, Query, description = "The state this server sent."),
        ("error" = Option<String>, Query, description = "The provider's refusal, instead of a code."),
    ),
    responses(
        (status = 303, description = "Signed in, to the console; or to the sign-in page with the reason."),
        (status = 404, description = "No identity provider is configured.", body = ErrorResponse),
    )
)]
pub async fn oidc_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let provider = state
        .identity_provider
        .as_ref()
        .ok_or(ApiError::NotFound("No identity provider is configured"))?;
    if let Some(error) = query.get("error") {
        return Ok(sign_in_failed(&format!(
            "The identity provider refused the sign-in ({error})."
        )));
    }
    let (Some(code), Some(login_state)) = (query.get("code"), query.get("state")) else {
        return Ok(sign_in_failed(
            "The identity provider's answer lacks its code or state; start again.",
        ));
    };
    let ours = sessions::cookie(&headers, OIDC_STATE_COOKIE).unwrap_or_default();
    if !sessions::same_secret(ours, login_state) {
        return Ok(sign_in_failed(
            "This sign-in did not start in this browser; start again from the sign-in page.",
        ));
    }
    let Some(login) = state
        .store
        .take_oidc_login(&SecretDigest::of(login_state), Timestamp::now())
        .await?
    else {
        return Ok(sign_in_failed(
            "This sign-in was used already or has expired; start again.",
        ));
    };
    let identity = match provider
        .identify(
            code,
            &redirect_uri(&state, &headers),
            &login.pkce_verifier,
            &login.nonce,
        )
        .await
    {
        Ok(identity) => identity,
        Err(error) => {
            return Ok(sign_in_failed(&format!(
                "{}.",
                capitalise(&error.to_string())
            )));
        }
    };
    let Some(email) = identity
        .email
        .as_deref()
        .and_then(|email| Email::parse(email).ok())
    else {
        return Ok(sign_in_failed(
            "The identity provider did not give an email address.",
        ));
    };
    if !identity.email_verified {
        return Ok(sign_in_failed(&format!(
            "The identity provider has not verified {email}; verify it there first."
        )));
    }
    let user = match state.store.sign_in_record(&email).await? {
        Some(record) => record.user,
        None => match provider.admits(&email) {
            Some(workspace) => {
                let actor = Actor {
                    name: "switchboard".into(),
                    label: Some(format!("identity provider, domain {}", email.domain())),
                    request_id: request_id(&headers),
                };
                state
                    .store
                    .create_user(switchboard_store::NewUser {
                        id: switchboard_domain::UserId::generate(),
                        workspace_id: workspace.clone(),
                        email: email.clone(),
                        role: switchboard_domain::Role::Viewer,
                        password: None,
                        setup: None,
                        actor,
                    })
                    .await?
            }
            None => {
                return Ok(sign_in_failed(&format!(
                    "No one here signs in as {email}; ask an admin to invite you."
                )));
            }
        },
    };
    let secret = start_session(&state, &user, request_id(&headers)).await?;
    let secure = sessions::over_https(&headers, state.calls.public_url.as_deref());
    let [session, csrf] = sessions::start_cookies(secret.expose(), state.sessions.absolute, secure);
    Ok(see_other(
        "/console/#/numbers",
        &[session, csrf, forget_state_cookie()],
    ))
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// Starts a session for `user`: its secret, for the cookie.
async fn start_session(
    state: &AppState,
    user: &switchboard_store::User,
    request_id: Option<String>,
) -> Result<switchboard_domain::RevealedToken, ApiError> {
    let secret = switchboard_domain::ApiKeySecret::generate().reveal();
    let now = Timestamp::now();
    let actor = user.as_actor(request_id);
    state
        .store
        .create_session(
            NewSession {
                id: SessionId::generate(),
                token_digest: sessions::session_digest(secret.expose()),
                user_id: user.id.clone(),
                workspace_id: user.workspace_id.clone(),
                created_at: now,
                expires_at: Timestamp::from_millis(
                    now.as_millis() + millis(state.sessions.absolute),
                ),
            },
            &actor,
        )
        .await?;
    Ok(secret)
}
