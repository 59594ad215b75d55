//! API key authentication as an extractor: a handler that takes [`Authenticated`] can only run
//! for a live key, and must name the scope it needs to learn the workspace.

use crate::auth_throttle::{ClientAddr, Throttled};
use crate::error::ApiError;
use crate::router::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;
use switchboard_domain::{ApiKeyId, ApiToken, Scope, Scopes, Timestamp, WorkspaceId};
use switchboard_store::{Actor, ApiKeyRecord, Store};
use tower_http::request_id::RequestId;

/// The longest a verified key may be served from memory. A key revoked on another replica
/// (or straight in the database) therefore stops working within this time; a key revoked
/// through this process stops at once, because revocation evicts it here.
pub const MAX_KEY_CACHE_TTL: Duration = Duration::from_secs(1);

/// Looks keys up in the store, with a short-lived in-process cache of key records so that a
/// busy client costs one database read per key per TTL instead of one per request. The
/// secret is checked against the record's digest on every request, cached or not.
#[derive(Clone, Debug)]
pub struct KeyVerifier {
    cache: Option<moka::sync::Cache<ApiKeyId, Arc<ApiKeyRecord>>>,
    /// Keys whose `last_used_at` was written within the last minute: one write per key per
    /// minute at most, not one per request.
    recently_used: moka::sync::Cache<ApiKeyId, ()>,
}

/// How stale `last_used_at` may be.
const LAST_USED_RESOLUTION: Duration = Duration::from_secs(60);

impl KeyVerifier {
    /// `ttl` of zero disables the cache; anything above [`MAX_KEY_CACHE_TTL`] is capped to it.
    pub fn new(ttl: Duration) -> Self {
        let ttl = ttl.min(MAX_KEY_CACHE_TTL);
        let cache = (!ttl.is_zero()).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl)
                .build()
        });
        Self {
            cache,
            recently_used: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(LAST_USED_RESOLUTION)
                .build(),
        }
    }

    /// Forgets every cached key at once (after a rotation that expires the others).
    pub fn evict_all(&self) {
        if let Some(cache) = &self.cache {
            cache.invalidate_all();
        }
    }

    /// Records the key's use, at most once a minute, in the background.
    fn note_use(&self, store: &Arc<dyn Store>, id: &ApiKeyId) {
        if self.recently_used.contains_key(id) {
            return;
        }
        self.recently_used.insert(id.clone(), ());
        let (store, id) = (store.clone(), id.clone());
        tokio::spawn(async move {
            if let Err(error) = store.touch_api_key(&id, Timestamp::now()).await {
                tracing::warn!(%error, "could not record a key's last use");
            }
        });
    }

    /// Forgets a key at once (after revocation through this process).
    pub fn evict(&self, id: &ApiKeyId) {
        if let Some(cache) = &self.cache {
            cache.invalidate(id);
        }
    }

    async fn record(
        &self,
        store: &dyn Store,
        id: &ApiKeyId,
    ) -> Result<Option<Arc<ApiKeyRecord>>, ApiError> {
        if let Some(hit) = self.cache.as_ref().and_then(|cache| cache.get(id)) {
            return Ok(Some(hit));
        }
        let Some(record) = store.find_api_key(id).await? else {
            return Ok(None);
        };
        let record = Arc::new(record);
        if let Some(cache) = &self.cache {
            cache.insert(id.clone(), record.clone());
        }
        Ok(Some(record))
    }

    /// Whether the key of `authorization` was verified by this replica a moment ago (its
    /// record is cached and the secret matches): no lookup needed.
    fn recently_verified(&self, authorization: Option<&str>) -> bool {
        let Some(cache) = &self.cache else {
            return false;
        };
        authorization
            .and_then(bearer_token)
            .and_then(|token| ApiToken::parse(token).ok())
            .and_then(|token| {
                cache
                    .get(&token.key_id)
                    .map(|record| record.secret_digest.matches(&token.secret_digest))
            })
            .unwrap_or(false)
    }

    /// The caller behind `Authorization: Bearer <key_id>:<secret>`, or why not.
    pub async fn verify(
        &self,
        store: &dyn Store,
        authorization: Option<&str>,
    ) -> Result<Authenticated, Rejected> {
        let token = authorization
            .and_then(bearer_token)
            .and_then(|token| ApiToken::parse(token).ok())
            .ok_or(Rejected::NoKey { wrong_secret: None })?;
        let record = self
            .record(store, &token.key_id)
            .await
            .map_err(Rejected::Failed)?
            .ok_or(Rejected::NoKey { wrong_secret: None })?;
        if !record.secret_digest.matches(&token.secret_digest) {
            return Err(Rejected::NoKey {
                wrong_secret: Some(record.id.clone()),
            });
        }
        if !record.is_live(Timestamp::now()) {
            return Err(Rejected::NoKey { wrong_secret: None });
        }
        Ok(Authenticated {
            key_id: record.id.clone(),
            workspace_id: record.workspace_id.clone(),
            scopes: record.scopes,
            request_id: None,
        })
    }
}

/// Why a request is not authenticated.
#[derive(Debug)]
pub enum Rejected {
    /// No usable key (401); `wrong_secret` names the key when its id was right and its
    /// secret wrong.
    NoKey { wrong_secret: Option<ApiKeyId> },
    /// The lookup itself failed (e.g. the database is unavailable).
    Failed(ApiError),
}

/// The token of a `Bearer` authorization header; the scheme name is case-insensitive.
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

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
        Ok(authenticated) => authenticated,
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
            crate::metrics::rate_limited();
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
    crate::metrics::rate_limited();
    let mut response = ApiError::RateLimited {
        retry_after_secs: throttled.retry_after_secs,
    }
    .into_response();
    crate::rate_limit::Budget {
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

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token("Bearer abc:def"), Some("abc:def"));
        assert_eq!(bearer_token("bearer   abc:def "), Some("abc:def"));
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Basic dXNlcjpwYXNz"), None);
    }
}
