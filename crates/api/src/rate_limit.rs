//! Per-API-key rate limits (SPEC §6): GCRA from `governor`, with the `X-RateLimit-*` headers
//! on every authenticated response and `Retry-After` on a 429.
//!
//! The limit is per replica: N replicas behind a load balancer allow up to N times the limit
//! in total. Shared limits need shared state and are not built.

use axum::http::{HeaderMap, HeaderValue};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use switchboard_domain::ApiKeyId;

type KeyedLimiter = RateLimiter<
    ApiKeyId,
    DefaultKeyedStateStore<ApiKeyId>,
    DefaultClock,
    StateInformationMiddleware,
>;

/// The default of SPEC §6.
pub const DEFAULT_PER_MINUTE: u32 = 600;

#[derive(Clone)]
pub struct RateLimits {
    /// `None` when limits are off.
    limiter: Option<Arc<KeyedLimiter>>,
    per_minute: u32,
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
        }
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

    /// Spends one request of `key`'s budget. `Ok(None)` when limits are off.
    pub fn check(&self, key: &ApiKeyId) -> Result<Option<Budget>, Limited> {
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

    /// Drops the state of keys that are whole again, so idle keys cost no memory.
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_down_then_limits_per_key() {
        let limits = RateLimits::new(3);
        let key = ApiKeyId::generate();
        let remaining: Vec<u32> = (0..3)
            .map(|_| {
                limits
                    .check(&key)
                    .ok()
                    .flatten()
                    .map(|b| b.remaining)
                    .unwrap_or(99)
            })
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        let limited = limits
            .check(&key)
            .expect_err("fourth request is over the limit");
        assert_eq!(limited.budget.remaining, 0);
        assert!((1..=20).contains(&limited.retry_after_secs), "{limited:?}");
        assert!(
            limits.check(&ApiKeyId::generate()).is_ok(),
            "another key has its own budget"
        );
    }

    #[test]
    fn zero_disables() {
        let limits = RateLimits::new(0);
        let key = ApiKeyId::generate();
        for _ in 0..1000 {
            assert_eq!(limits.check(&key), Ok(None));
        }
    }
}
