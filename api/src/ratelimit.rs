//! Token buckets keyed by client (IP address, user): each key holds up to
//! `burst` tokens, refilled at `per_second`; a request takes one token or is
//! refused with the time until one is back.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many keys a limiter keeps before it forgets the full (idle) buckets.
const PRUNE_AT: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    /// Tokens refilled per second; 0 turns the limit off.
    pub per_second: f64,
    /// The largest burst (bucket size).
    pub burst: f64,
}

impl Rate {
    pub fn enabled(&self) -> bool {
        self.per_second > 0.0 && self.burst >= 1.0
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

#[derive(Debug)]
pub struct Limiter<K> {
    rate: Rate,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Eq + Hash> Limiter<K> {
    pub fn new(rate: Rate) -> Self {
        Limiter {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `key` at `now`: Ok, or Err with how long until one is back.
    pub fn check_at(&self, key: K, now: Instant) -> Result<(), Duration> {
        if !self.rate.enabled() {
            return Ok(());
        }
        let Rate { per_second, burst } = self.rate;
        // A poisoned lock only means another thread panicked mid-update: the
        // map is still usable.
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= PRUNE_AT {
            buckets.retain(|_, b| {
                let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
                b.tokens + elapsed * per_second < burst
            });
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / per_second))
        }
    }

    pub fn check(&self, key: K) -> Result<(), Duration> {
        self.check_at(key, Instant::now())
    }
}

/// Whole seconds to wait (at least 1), for `Retry-After` and `retryAfter`.
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills() {
        let limiter = Limiter::new(Rate {
            per_second: 2.0,
            burst: 3.0,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at("a", t0).is_ok());
        }
        let wait = limiter.check_at("a", t0).err();
        assert!(wait.is_some_and(|w| w <= Duration::from_millis(500)));
        // Another key has its own bucket.
        assert!(limiter.check_at("b", t0).is_ok());
        // Half a second later one token is back, not two.
        let t1 = t0 + Duration::from_millis(500);
        assert!(limiter.check_at("a", t1).is_ok());
        assert!(limiter.check_at("a", t1).is_err());
        assert_eq!(retry_after_secs(Duration::from_millis(10)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
    }

    #[test]
    fn a_zero_rate_is_off() {
        let limiter = Limiter::new(Rate {
            per_second: 0.0,
            burst: 0.0,
        });
        let t0 = Instant::now();
        for _ in 0..1000 {
            assert!(limiter.check_at(1u8, t0).is_ok());
        }
    }
}
