//! Authentication as an extractor: a handler that takes [`Authenticated`] can only run for a
//! live API key or a signed-in person's live session, and must name the scope it needs to
//! learn the workspace. A person holds their role's scopes, so one rule serves both.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;
use std::time::Duration;
use switchboard_domain::{Role, Scope, Scopes, Timestamp, WorkspaceId};
use switchboard_server::auth_throttle::{ClientAddr, Throttled};
use switchboard_server::keys::Rejected;
use switchboard_server::rate_limit::Principal;
use switchboard_server::sessions::{self, SESSION_COOKIE};
use switchboard_server::{ApiError, AppState};
use switchboard_store::Actor;
use tower_http::request_id::RequestId;

/// A live API key or session. Handlers get at the workspace only through
/// [`Authenticated::require`], so none can forget its scope check.
#[derive(Clone, Debug)]
#[must_use = "call require() to check the route's scope"]
pub struct Authenticated(Caller);

impl Authenticated {
    /// The key's workspace, when the key holds `scope`; 403 otherwise.
    pub fn require(self, scope: Scope) -> Result<Caller, ApiError> {
        if self.0.scopes.contains(scope) {
            Ok(self.any_scope())
        } else {
            Err(ApiError::Forbidden)
        }
    }

    /// The key's workspace whatever the key's scopes: only for what every live key may ask
    /// (`GET /v1/me`, the key's own identity).
    pub fn any_scope(self) -> Caller {
        self.0
    }
}

/// A caller whose scope for the route has been checked.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The key, or the person.
    pub principal: Principal,
    /// The key's name, or the person's email address.
    pub label: String,
    /// The person's role; none for a key.
    pub role: Option<Role>,
    pub workspace_id: WorkspaceId,
    pub scopes: Scopes,
    pub request_id: Option<String>,
}

impl Caller {
    /// Who the history records as making a change: this key or person, in this request.
    pub fn actor(&self) -> Actor {
        Actor {
            name: self.principal.to_string(),
            label: Some(self.label.clone()),
            request_id: self.request_id.clone(),
        }
    }
}

/// Runs on every `/v1` route (called by the router's `guard_v1`): verifies the key, or, when
/// the request has no `Authorization` header, the session cookie (401; a session's request
/// that changes something must also pass the forgery check, 403), spends one request of the
/// caller's rate budget (429), hands the caller to the handler, and puts the budget in the
/// response's `X-RateLimit-*` headers, whatever the handler answered.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    // A header that is not visible ASCII cannot hold a valid token.
    let header = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let address = request
        .extensions()
        .get::<ClientAddr>()
        .map(|ClientAddr(peer)| peer.ip());
    let session_secret = match header {
        None => sessions::cookie(request.headers(), SESSION_COOKIE),
        Some(_) => None,
    };
    if let Some(throttled) = state.failed_auth.blocked(address)
        && (session_secret.is_some() || !state.keys.recently_verified(header))
    {
        return throttled_response(throttled);
    }
    let verified = match session_secret {
        Some(secret) => {
            session_caller(&state, request.headers(), request.method(), address, secret).await
        }
        None => key_caller(&state, header, address).await,
    };
    let mut caller = match verified {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    caller.request_id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .map(str::to_owned);
    let budget = match state.rate_limits.check(&caller.principal).await {
        Ok(budget) => budget,
        Err(limited) => {
            switchboard_server::metrics::rate_limited();
            let mut response = ApiError::RateLimited {
                retry_after_secs: limited.retry_after_secs,
            }
            .into_response();
            limited.budget.write_headers(response.headers_mut());
            return response;
        }
    };
    match &caller.principal {
        Principal::Key(id) => state.keys.note_use(&state.store, id),
        Principal::User(_) => {}
    }
    request.extensions_mut().insert(Authenticated(caller));
    let mut response = next.run(request).await;
    if let Some(budget) = budget {
        budget.write_headers(response.headers_mut());
    }
    response
}

/// The caller of an `Authorization` header: a live key.
async fn key_caller(
    state: &AppState,
    header: Option<&str>,
    address: Option<IpAddr>,
) -> Result<Caller, Response> {
    match state.keys.verify(state.store.as_ref(), header).await {
        Ok(record) => Ok(Caller {
            principal: Principal::Key(record.id.clone()),
            label: record.name.clone(),
            role: None,
            workspace_id: record.workspace_id.clone(),
            scopes: record.scopes,
            request_id: None,
        }),
        Err(Rejected::Failed(error)) => Err(error.into_response()),
        Err(Rejected::NoKey { wrong_secret }) => {
            Err(failed_attempt(state, address, wrong_secret.as_ref()))
        }
    }
}

/// A 401, or a 429 once the address (or the key whose secret is wrong) has failed too often.
fn failed_attempt(
    state: &AppState,
    address: Option<IpAddr>,
    key: Option<&switchboard_domain::ApiKeyId>,
) -> Response {
    match state.failed_auth.failed(address, key) {
        Some(throttled) => throttled_response(throttled),
        None => ApiError::Unauthorized.into_response(),
    }
}

/// The caller of a session cookie: its person, while the session is live (not ended, not
/// idle too long, not past its absolute end, the person not removed) and, for a request that
/// changes something, when it passes the forgery check.
async fn session_caller(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
    address: Option<IpAddr>,
    secret: &str,
) -> Result<Caller, Response> {
    let session = state
        .store
        .find_session(&sessions::session_digest(secret))
        .await
        .map_err(|error| ApiError::from(error).into_response())?;
    let now = Timestamp::now();
    let Some(session) =
        session.filter(|s| state.sessions.is_live(s.last_seen_at, s.expires_at, now))
    else {
        return Err(match state.failed_auth.failed(address, None) {
            Some(throttled) => throttled_response(throttled),
            None => ApiError::UnauthorizedBecause(
                "Your session has ended or is not known here; sign in again.".into(),
            )
            .into_response(),
        });
    };
    if sessions::changes_state(method) {
        let public_url = state.calls.public_url.as_deref();
        sessions::check_forgery(headers, secret, public_url)
            .map_err(|forgery| forgery.refusal().into_response())?;
    }
    if !state.recently_seen_sessions.contains_key(&session.id) {
        state.recently_seen_sessions.insert(session.id.clone(), ());
        let (store, id) = (state.store.clone(), session.id.clone());
        tokio::spawn(async move {
            if let Err(error) = store.touch_session(&id, now).await {
                tracing::warn!(%error, "could not record a session's last use");
            }
        });
    }
    Ok(Caller {
        principal: Principal::User(session.user.id.clone()),
        label: session.user.email.to_string(),
        role: Some(session.user.role),
        workspace_id: session.user.workspace_id.clone(),
        scopes: session.user.role.scopes(),
        request_id: None,
    })
}
/// The 429 of a client that failed to authenticate too often: the rate limit's envelope and
/// headers, with the failed-authentication budget.
fn throttled_response(throttled: Throttled) -> Response {
    switchboard_server::metrics::rate_limited();
    let mut response = ApiError::RateLimited {
        retry_after_secs: throttled.retry_after_secs,
    }
    .into_response();
    switchboard_server::rate_limit::Budget {
        limit: throttled.limit,
        remaining: 0,
        reset_at: (std::time::SystemTime::now() + Duration::from_secs(throttled.retry_after_secs))
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    }
    .write_headers(response.headers_mut());
    response
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // Put there by `authenticate`; a route without that layer is a wiring bug, and
        // failing closed is the only safe answer.
        parts.extensions.remove::<Authenticated>().ok_or_else(|| {
            ApiError::Internal("route is missing the authenticate middleware".into())
        })
    }
}
