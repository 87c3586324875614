//! Rate limits keyed by client (IP address, user), on `governor`'s GCRA
//! (the token bucket's continuous form): each key may send up to `burst`
//! at once, refilled at `per_second`; an operation takes one cell or is
//! refused with the time until one is back.
//!
//! Memory stays bounded: `crate::jobs` calls [`RateLimits::retain_recent`]
//! every [`RETAIN_EVERY`], which forgets the keys whose bucket is full again
//! (a forgotten key starts full, so forgetting it changes nothing).

use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use uuid::Uuid;

use crate::config::Settings;

/// How often the idle keys are forgotten.
pub const RETAIN_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Cells refilled per second; 0 turns the limit off.
    pub per_second: f64,
    /// The largest burst (bucket size); below 1 turns the limit off.
    pub burst: f64,
}

impl Rate {
    /// The quota, or None when the limit is off.
    fn quota(&self) -> Option<Quota> {
        if !(self.per_second > 0.0 && self.burst >= 1.0 && self.per_second.is_finite()) {
            return None;
        }
        let period = Duration::try_from_secs_f64(1.0 / self.per_second).ok()?;
        // A rate above a billion per second is no limit at all.
        let quota = Quota::with_period(period)?;
        let burst = NonZeroU32::new(self.burst.min(f64::from(u32::MAX)) as u32)?;
        Some(quota.allow_burst(burst))
    }
}

/// governor's keyed limiter on a DashMap.
type Keyed<K, C> = RateLimiter<K, DashMapStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// One limit keyed by `K`; off when its rate is 0.
pub struct Limiter<K: Hash + Eq + Clone, C: Clock = DefaultClock> {
    limiter: Option<Keyed<K, C>>,
}

impl<K: Hash + Eq + Clone> Limiter<K> {
    pub fn new(rate: Rate) -> Self {
        Self::with_clock(rate, DefaultClock::default())
    }
}

impl<K: Hash + Eq + Clone, C: Clock> Limiter<K, C> {
    pub fn with_clock(rate: Rate, clock: C) -> Self {
        Limiter {
            limiter: rate
                .quota()
                .map(|quota| RateLimiter::dashmap_with_clock(quota, clock)),
        }
    }

    /// Takes a cell for `key`: Ok, or Err with how long until one is back.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(limiter.clock().now()))
    }

    /// Forgets the keys whose bucket is full again.
    pub fn retain_recent(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.limiter.as_ref().map_or(0, |limiter| limiter.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K: Hash + Eq + Clone, C: Clock> std::fmt::Debug for Limiter<K, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter")
            .field("enabled", &self.limiter.is_some())
            .finish()
    }
}

/// The per-IP and per-user limits of one process (RATE_LIMIT_* settings).
#[derive(Debug)]
pub struct RateLimits {
    /// Operations per client IP address.
    pub ip: Limiter<IpAddr>,
    /// Operations per logged-in user.
    pub user: Limiter<Uuid>,
}

impl RateLimits {
    pub fn from_settings(settings: &Settings) -> Self {
        RateLimits {
            ip: Limiter::new(Rate {
                per_second: settings.rate_limit_ip_per_sec,
                burst: settings.rate_limit_ip_burst,
            }),
            user: Limiter::new(Rate {
                per_second: settings.rate_limit_user_per_sec,
                burst: settings.rate_limit_user_burst,
            }),
        }
    }

    /// Forgets the idle keys of both limits (called by `crate::jobs`).
    pub fn retain_recent(&self) {
        self.ip.retain_recent();
        self.user.retain_recent();
    }
}

/// Whole seconds to wait (at least 1), for `Retry-After` and `retryAfter`.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    #[test]
    fn a_bucket_allows_its_burst_then_refills() {
        let clock = FakeRelativeClock::default();
        let limiter = Limiter::with_clock(
            Rate {
                per_second: 2.0,
                burst: 3.0,
            },
            clock.clone(),
        );
        for _ in 0..3 {
            assert!(limiter.check(&"a").is_ok());
        }
        let wait = limiter.check(&"a").err();
        assert!(wait.is_some_and(|w| w > Duration::ZERO && w <= Duration::from_millis(500)));
        // Another key has its own bucket.
        assert!(limiter.check(&"b").is_ok());
        // Half a second later one cell is back, not two.
        clock.advance(Duration::from_millis(500));
        assert!(limiter.check(&"a").is_ok());
        assert!(limiter.check(&"a").is_err());
        assert_eq!(retry_after_secs(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
    }

    #[test]
    fn a_zero_rate_is_off() {
        let limiter = Limiter::new(Rate {
            per_second: 0.0,
            burst: 0.0,
        });
        for _ in 0..1000 {
            assert!(limiter.check(&1u8).is_ok());
        }
        assert!(limiter.is_empty());
    }

    #[test]
    fn idle_keys_are_forgotten() {
        let clock = FakeRelativeClock::default();
        let limiter = Limiter::with_clock(
            Rate {
                per_second: 10.0,
                burst: 2.0,
            },
            clock.clone(),
        );
        for key in 0..1000u32 {
            assert!(limiter.check(&key).is_ok());
        }
        assert_eq!(limiter.len(), 1000);
        // Not yet refilled: remembered.
        limiter.retain_recent();
        assert_eq!(limiter.len(), 1000);
        // Full again after a tenth of a second: forgotten.
        clock.advance(Duration::from_millis(200));
        limiter.retain_recent();
        assert!(limiter.is_empty());
    }
}
