//! Throttling of failed authentication: a client that keeps presenting keys that do not work
//! (guessed ids, a wrong secret, garbage) is answered 429 after a burst, without the key
//! lookup each attempt would otherwise cost.
//!
//! Two budgets, both GCRA (`governor`) on this replica:
//! - per client address: [`FailedAuthThrottle::new`]'s `per_minute` failures, all at once
//!   at most, then one more every `60 / per_minute` seconds. While an address is over it,
//!   its requests are answered 429 before any lookup, unless they carry a key this replica
//!   verified a moment ago (a working client behind the same address keeps working).
//! - per key id, for a wrong secret: a tenth of that. A key whose secret is being guessed is
//!   answered 429 for further wrong secrets; its right secret still works.
//!
//! The address is the TCP peer's: behind a proxy every client shares the proxy's budget.

use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::time::{Duration, Instant};
use switchboard_domain::ApiKeyId;

/// The TCP peer of a request, put in its extensions by the server loop.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub SocketAddr);

/// Failed authentications a client address may make in a minute (and at once) by default.
pub const DEFAULT_FAILED_AUTH_PER_MINUTE: u32 = 60;

type Limiter<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock>;

#[derive(Debug)]
pub struct FailedAuthThrottle {
    /// `None` when throttling is off.
    limits: Option<Limits>,
}

#[derive(Debug)]
struct Limits {
    per_minute: u32,
    by_address: Limiter<IpAddr>,
    by_key: Limiter<ApiKeyId>,
    /// Addresses over their budget, until when: checked before any lookup.
    blocked: moka::sync::Cache<IpAddr, Instant>,
}

/// A refusal: 429 with `Retry-After` of this many seconds, and the budget that was spent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after_secs: u64,
    pub limit: u32,
}

impl FailedAuthThrottle {
    /// `per_minute` of 0 turns throttling off.
    pub fn new(per_minute: u32) -> Self {
        let limits = NonZeroU32::new(per_minute).map(|n| {
            let per_key = NonZeroU32::new((per_minute / 10).max(1)).unwrap_or(NonZeroU32::MIN);
            Limits {
                per_minute,
                by_address: RateLimiter::keyed(Quota::per_minute(n)),
                by_key: RateLimiter::keyed(Quota::per_minute(per_key)),
                blocked: moka::sync::Cache::builder()
                    .max_capacity(100_000)
                    .time_to_live(Duration::from_secs(60))
                    .build(),
            }
        });
        Self { limits }
    }

    /// Whether `address` is over its budget now: then it is refused before any lookup.
    pub fn blocked(&self, address: Option<IpAddr>) -> Option<Throttled> {
        let limits = self.limits.as_ref()?;
        let until = limits.blocked.get(&address?)?;
        let left = until.checked_duration_since(Instant::now())?;
        Some(Throttled {
            retry_after_secs: left.as_secs_f64().ceil().max(1.0) as u64,
            limit: limits.per_minute,
        })
    }

    /// Counts a failed authentication from `address` (and against `key`, for a wrong
    /// secret); `Some` when it is over a budget and must be answered 429 instead of 401.
    pub fn failed(&self, address: Option<IpAddr>, key: Option<&ApiKeyId>) -> Option<Throttled> {
        let limits = self.limits.as_ref()?;
        if let Some(address) = address
            && let Some(wait) = spend(&limits.by_address, &address)
        {
            limits.blocked.insert(address, Instant::now() + wait);
            return Some(limits.throttled(wait));
        }
        key.and_then(|key| spend(&limits.by_key, key))
            .map(|wait| limits.throttled(wait))
    }
}

impl Limits {
    fn throttled(&self, wait: Duration) -> Throttled {
        Throttled {
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
            limit: self.per_minute,
        }
    }
}

/// Spends one from `key`'s budget; how long until the next is allowed when none is left.
fn spend<K: Clone + Hash + Eq>(limiter: &Limiter<K>, key: &K) -> Option<Duration> {
    limiter
        .check_key(key)
        .err()
        .map(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_refused_after_its_burst_and_blocked_before_lookups() {
        let throttle = FailedAuthThrottle::new(60);
        let address: Option<IpAddr> = Some("192.0.2.7".parse().expect("address"));
        let other: Option<IpAddr> = Some("192.0.2.8".parse().expect("address"));
        for _ in 0..60 {
            assert_eq!(throttle.failed(address, None), None);
        }
        assert!(throttle.blocked(address).is_none());
        let refused = throttle.failed(address, None).expect("over the burst");
        assert_eq!(refused.limit, 60);
        assert!((1..=2).contains(&refused.retry_after_secs), "{refused:?}");
        assert!(throttle.blocked(address).is_some());
        assert!(throttle.blocked(other).is_none());
        assert_eq!(throttle.failed(other, None), None);
    }

    #[test]
    fn a_key_id_is_refused_after_a_tenth() {
        let throttle = FailedAuthThrottle::new(60);
        let key = ApiKeyId::generate();
        // A different address each time: only the key's own budget counts.
        for i in 0..6u8 {
            let address = Some(IpAddr::from([198, 51, 100, i]));
            assert_eq!(throttle.failed(address, Some(&key)), None);
        }
        assert!(
            throttle
                .failed(Some(IpAddr::from([198, 51, 100, 99])), Some(&key))
                .is_some()
        );
    }

    #[test]
    fn zero_turns_it_off() {
        let throttle = FailedAuthThrottle::new(0);
        for _ in 0..1000 {
            assert_eq!(throttle.failed(None, None), None);
        }
    }
}
