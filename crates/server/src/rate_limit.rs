//! Per-API-key rate limits (SPEC §6): GCRA, with the `X-RateLimit-*` headers on every
//! authenticated response and `Retry-After` on a 429.
//!
//! By default each replica counts on its own (`governor`): N replicas allow up to N times
//! the limit. With a Redis URL the limit is shared by every replica: one atomic GCRA step per
//! request, in a Lua script on Redis's own clock. When Redis cannot be reached, requests fall
//! back to the replica's own limiter after at most [`SHARED_TIMEOUT`], and Redis is left alone
//! for [`SHARED_RETRY_AFTER`] before it is tried again, so an outage costs requests nothing
//! more; a warning and the `rate_limit_shared_fallbacks_total` metric say so.

use axum::http::{HeaderMap, HeaderValue};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use switchboard_domain::{ApiKeyId, UserId};

/// Whose budget a request spends: an API key's, or a signed-in person's (all their sessions
/// share one).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Principal {
    Key(ApiKeyId),
    User(UserId),
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Principal::Key(id) => id.fmt(f),
            Principal::User(id) => id.fmt(f),
        }
    }
}

type KeyedLimiter = RateLimiter<
    Principal,
    DefaultKeyedStateStore<Principal>,
    DefaultClock,
    StateInformationMiddleware,
>;

/// The default of SPEC §6.
pub const DEFAULT_PER_MINUTE: u32 = 600;

#[derive(Clone)]
pub struct RateLimits {
    /// `None` when limits are off. With a shared limit, used only while Redis is away.
    limiter: Option<Arc<KeyedLimiter>>,
    per_minute: u32,
    shared: Option<Arc<SharedLimit>>,
}

/// How long a request waits for Redis before it is counted by the replica instead.
pub const SHARED_TIMEOUT: Duration = Duration::from_millis(100);
/// After Redis failed, how long the replica counts on its own before it asks Redis again.
pub const SHARED_RETRY_AFTER: Duration = Duration::from_secs(1);

/// One GCRA step, atomic in Redis: KEYS[1] holds the key's theoretical arrival time in
/// microseconds of Redis's clock; ARGV[1] is the interval in which one request is earned back
/// (µs), ARGV[2] the burst. Answers {allowed, remaining, retry after µs, whole again after µs}.
const GCRA_SCRIPT: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local next_tat = tat + interval
local allow_at = next_tat - interval * burst
if now < allow_at then
  return {0, 0, allow_at - now, tat - now}
end
redis.call('SET', KEYS[1], string.format('%d', next_tat), 'PX', math.ceil((next_tat - now) / 1000))
return {1, math.floor((now - allow_at) / interval), 0, next_tat - now}
";

/// The limit every replica shares through one Redis.
struct SharedLimit {
    client: redis::Client,
    connection: tokio::sync::OnceCell<redis::aio::ConnectionManager>,
    script: redis::Script,
    /// Milliseconds since the epoch until which Redis is not asked (it failed just before).
    resting_until_ms: AtomicU64,
    /// Whether the last attempt failed, so that the warning and its all-clear come once each.
    away: AtomicBool,
}

/// Checks a Redis URL (`redis://HOST[:PORT][/DB]`, `rediss://…` for TLS is not built in).
pub fn check_redis_url(url: &str) -> Result<(), String> {
    redis_client(url).map(|_| ())
}

/// The client of a Redis URL; nothing is connected yet.
fn redis_client(url: &str) -> Result<redis::Client, String> {
    redis::Client::open(url).map_err(|e| format!("invalid Redis URL: {e}"))
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("per_minute", &self.per_minute)
            .finish()
    }
}

/// What the response tells the client about its budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub limit: u32,
    pub remaining: u32,
    /// Unix seconds at which the budget is whole again.
    pub reset_at: u64,
}

/// A request over the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub budget: Budget,
    /// Whole seconds until the next request will pass (at least 1).
    pub retry_after_secs: u64,
}

impl Budget {
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        headers.insert("x-ratelimit-limit", HeaderValue::from(self.limit));
        headers.insert("x-ratelimit-remaining", HeaderValue::from(self.remaining));
        headers.insert("x-ratelimit-reset", HeaderValue::from(self.reset_at));
    }
}

fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

impl RateLimits {
    /// `per_minute` of 0 turns limits off. Up to `per_minute` requests may come at once; after
    /// that, one more every `60 / per_minute` seconds.
    pub fn new(per_minute: u32) -> Self {
        let limiter = NonZeroU32::new(per_minute).map(|n| {
            Arc::new(
                RateLimiter::keyed(Quota::per_minute(n))
                    .with_middleware::<StateInformationMiddleware>(),
            )
        });
        Self {
            limiter,
            per_minute,
            shared: None,
        }
    }

    /// The same limit, shared by every replica given the same Redis. Nothing is connected
    /// yet: a Redis that is down at start is a fallback, not a failure to start.
    pub fn shared(per_minute: u32, redis_url: &str) -> Result<Self, String> {
        let client = redis_client(redis_url)?;
        Ok(Self {
            shared: Some(Arc::new(SharedLimit {
                client,
                connection: tokio::sync::OnceCell::new(),
                script: redis::Script::new(GCRA_SCRIPT),
                resting_until_ms: AtomicU64::new(0),
                away: AtomicBool::new(false),
            })),
            ..Self::new(per_minute)
        })
    }

    /// Time for one spent request to be earned back.
    fn replenish_interval(&self) -> Duration {
        Duration::from_secs(60) / self.per_minute.max(1)
    }

    fn reset_at(&self, remaining: u32) -> u64 {
        let until_whole =
            self.replenish_interval() * (self.per_minute - remaining.min(self.per_minute));
        (unix_now() + until_whole).as_secs_f64().ceil() as u64
    }

    /// Spends one request of `key`'s budget: in Redis when the limit is shared and Redis
    /// answers, else on this replica. `Ok(None)` when limits are off.
    pub async fn check(&self, key: &Principal) -> Result<Option<Budget>, Limited> {
        if self.limiter.is_none() {
            return Ok(None);
        }
        if let Some(shared) = &self.shared {
            match shared.step(key, self.per_minute).await {
                Some(answer) => return answer.map(Some),
                None => crate::metrics::rate_limit_fallback(),
            }
        }
        self.check_here(key)
    }

    /// One step of this replica's own limiter.
    fn check_here(&self, key: &Principal) -> Result<Option<Budget>, Limited> {
        let Some(limiter) = &self.limiter else {
            return Ok(None);
        };
        match limiter.check_key(key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                Ok(Some(Budget {
                    limit: self.per_minute,
                    remaining,
                    reset_at: self.reset_at(remaining),
                }))
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(limiter.clock().now());
                Err(Limited {
                    budget: Budget {
                        limit: self.per_minute,
                        remaining: 0,
                        reset_at: self.reset_at(0),
                    },
                    retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
                })
            }
        }
    }

    /// Whether the limit is shared through Redis (whether or not Redis answers right now).
    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    /// Drops the state of keys that are whole again, so idle keys cost no memory.
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
        }
    }
}

impl SharedLimit {
    /// One GCRA step in Redis; `None` when Redis cannot answer now (the caller counts the
    /// request itself).
    async fn step(&self, key: &Principal, per_minute: u32) -> Option<Result<Budget, Limited>> {
        let now_ms = unix_now().as_millis() as u64;
        if now_ms < self.resting_until_ms.load(Ordering::Relaxed) {
            return None;
        }
        // At least a microsecond: limits above 60 million a minute are not limits here.
        let interval_us = (60_000_000 / u64::from(per_minute.max(1))).max(1);
        let attempt = async {
            let connection = self
                .connection
                .get_or_try_init(|| redis::aio::ConnectionManager::new(self.client.clone()))
                .await?;
            let mut connection = connection.clone();
            self.script
                .key(format!("switchboard:ratelimit:{key}"))
                .arg(interval_us)
                .arg(per_minute)
                .invoke_async::<(i64, i64, i64, i64)>(&mut connection)
                .await
        };
        match tokio::time::timeout(SHARED_TIMEOUT, attempt).await {
            Ok(Ok((allowed, remaining, retry_us, whole_us))) => {
                if self.away.swap(false, Ordering::Relaxed) {
                    tracing::info!("Redis answers again; rate limits are shared again");
                    crate::metrics::rate_limit_shared_up(true);
                }
                let reset_at = (unix_now() + Duration::from_micros(whole_us.max(0) as u64))
                    .as_secs_f64()
                    .ceil() as u64;
                let budget = Budget {
                    limit: per_minute,
                    remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
                    reset_at,
                };
                Some(if allowed == 1 {
                    Ok(budget)
                } else {
                    Err(Limited {
                        budget,
                        retry_after_secs: (retry_us.max(0) as f64 / 1e6).ceil().max(1.0) as u64,
                    })
                })
            }
            failed => {
                let cause = match failed {
                    Ok(Err(error)) => error.to_string(),
                    _ => format!("no answer within {} ms", SHARED_TIMEOUT.as_millis()),
                };
                self.resting_until_ms.store(
                    now_ms + SHARED_RETRY_AFTER.as_millis() as u64,
                    Ordering::Relaxed,
                );
                if !self.away.swap(true, Ordering::Relaxed) {
                    tracing::warn!(%cause, "Redis cannot be reached; each replica counts rate limits on its own until it can");
                    crate::metrics::rate_limit_shared_up(false);
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_down_then_limits_per_key() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let limits = RateLimits::new(3);
        let key = Principal::Key(ApiKeyId::generate());
        let remaining: Vec<u32> = (0..3)
            .map(|_| {
                runtime
                    .block_on(limits.check(&key))
                    .ok()
                    .flatten()
                    .map(|b| b.remaining)
                    .unwrap_or(99)
            })
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        let limited = runtime
            .block_on(limits.check(&key))
            .expect_err("fourth request is over the limit");
        assert_eq!(limited.budget.remaining, 0);
        assert!((1..=20).contains(&limited.retry_after_secs), "{limited:?}");
        assert!(
            runtime
                .block_on(limits.check(&Principal::Key(ApiKeyId::generate())))
                .is_ok(),
            "another key has its own budget"
        );
    }

    #[test]
    fn zero_disables() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let limits = RateLimits::new(0);
        let key = Principal::Key(ApiKeyId::generate());
        for _ in 0..1000 {
            assert_eq!(runtime.block_on(limits.check(&key)), Ok(None));
        }
    }
}
