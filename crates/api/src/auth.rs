//! API key authentication as an extractor: a handler that takes [`Authenticated`] can only run
//! for a live key, and must name the scope it needs to learn the workspace.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;
use switchboard_domain::{ApiKeyId, Scope, Scopes, WorkspaceId};
use switchboard_server::auth_throttle::{ClientAddr, Throttled};
use switchboard_server::keys::Rejected;
use switchboard_server::{ApiError, AppState};
use switchboard_store::Actor;
use tower_http::request_id::RequestId;

/// A live API key. Handlers get at the workspace only through [`Authenticated::require`],
/// so none can forget its scope check.
#[derive(Clone, Debug)]
#[must_use = "call require() to check the route's scope"]
pub struct Authenticated {
    key_id: ApiKeyId,
    workspace_id: WorkspaceId,
    scopes: Scopes,
    request_id: Option<String>,
}

impl Authenticated {
    /// The key's workspace, when the key holds `scope`; 403 otherwise.
    pub fn require(self, scope: Scope) -> Result<Caller, ApiError> {
        if self.scopes.contains(scope) {
            Ok(self.any_scope())
        } else {
            Err(ApiError::Forbidden)
        }
    }

    /// The key's workspace whatever the key's scopes: only for what every live key may ask
    /// (`GET /v1/me`, the key's own identity).
    pub fn any_scope(self) -> Caller {
        Caller {
            key_id: self.key_id,
            workspace_id: self.workspace_id,
            scopes: self.scopes,
            request_id: self.request_id,
        }
    }
}

/// A caller whose scope for the route has been checked.
#[derive(Debug)]
pub struct Caller {
    pub key_id: ApiKeyId,
    pub workspace_id: WorkspaceId,
    pub scopes: Scopes,
    pub request_id: Option<String>,
}

impl Caller {
    /// Who the history records as making a change: this key, in this request.
    pub fn actor(&self) -> Actor {
        Actor {
            name: self.key_id.to_string(),
            request_id: self.request_id.clone(),
        }
    }
}

/// Runs on every `/v1` route (called by the router's `guard_v1`): verifies the key (401),
/// spends one request of its rate budget (429), hands the verified key to the handler, and
/// puts the budget in the response's `X-RateLimit-*` headers, whatever the handler answered.
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
    if let Some(throttled) = state.failed_auth.blocked(address)
        && !state.keys.recently_verified(header)
    {
        return throttled_response(throttled);
    }
    let mut authenticated = match state.keys.verify(state.store.as_ref(), header).await {
        Ok(record) => Authenticated {
            key_id: record.id.clone(),
            workspace_id: record.workspace_id.clone(),
            scopes: record.scopes,
            request_id: None,
        },
        Err(Rejected::Failed(error)) => return error.into_response(),
        Err(Rejected::NoKey { wrong_secret }) => {
            return match state.failed_auth.failed(address, wrong_secret.as_ref()) {
                Some(throttled) => throttled_response(throttled),
                None => ApiError::Unauthorized.into_response(),
            };
        }
    };
    authenticated.request_id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .map(str::to_owned);
    let budget = match state.rate_limits.check(&authenticated.key_id).await {
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
    state.keys.note_use(&state.store, &authenticated.key_id);
    request.extensions_mut().insert(authenticated);
    let mut response = next.run(request).await;
    if let Some(budget) = budget {
        budget.write_headers(response.headers_mut());
    }
    response
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
