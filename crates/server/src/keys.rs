//! API keys as the server knows them: looked up in the store, cached for at most a second,
//! and checked against the secret on every request. The API's authentication layer turns a
//! verified key into the caller its handlers see.

use crate::error::ApiError;
use std::sync::Arc;
use std::time::Duration;
use switchboard_domain::{ApiKeyId, ApiToken, Timestamp};
use switchboard_store::{ApiKeyRecord, Store};

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
    pub fn note_use(&self, store: &Arc<dyn Store>, id: &ApiKeyId) {
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
    pub fn recently_verified(&self, authorization: Option<&str>) -> bool {
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

    /// The live key of `Authorization: Bearer <key_id>:<secret>`, or why not.
    pub async fn verify(
        &self,
        store: &dyn Store,
        authorization: Option<&str>,
    ) -> Result<Arc<ApiKeyRecord>, Rejected> {
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
        Ok(record)
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
