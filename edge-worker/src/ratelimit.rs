//! Rate limit per truncated address: a token bucket per /24 or /48.
//!
//! State lives in the isolate's memory, so the limit holds per isolate: a
//! visitor spread over several isolates or locations gets the limit in each.
//! That stops floods from one client hitting one location, which is what it
//! is for; a global limit needs the platform's Rate Limiting binding (docs/src/architecture/edge.md).

use std::collections::HashMap;

/// Buckets kept before idle ones are swept, bounding memory.
const MAX_BUCKETS: usize = 10_000;

#[derive(Debug)]
pub struct RateLimiter {
    per_minute: u32,
    buckets: HashMap<String, Bucket>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last_ms: u64,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        RateLimiter { per_minute, buckets: HashMap::new() }
    }

    /// Takes one token for `key` at `now_ms`; `Err(retry_after_secs)` when empty.
    pub fn check(&mut self, key: &str, now_ms: u64) -> Result<(), u64> {
        let capacity = self.per_minute.max(1) as f64;
        let per_ms = capacity / 60_000.0;
        if self.buckets.len() >= MAX_BUCKETS && !self.buckets.contains_key(key) {
            // Full buckets refill within a minute; anything idle that long is
            // indistinguishable from a new one.
            self.buckets.retain(|_, b| now_ms.saturating_sub(b.last_ms) < 60_000);
            if self.buckets.len() >= MAX_BUCKETS {
                self.buckets.clear();
            }
        }
        let b = self.buckets.entry(key.to_string()).or_insert(Bucket { tokens: capacity, last_ms: now_ms });
        b.tokens = (b.tokens + now_ms.saturating_sub(b.last_ms) as f64 * per_ms).min(capacity);
        b.last_ms = now_ms;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - b.tokens) / per_ms / 1000.0).ceil().max(1.0) as u64)
        }
    }

    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_rate_then_refuses_then_refills() {
        let mut rl = RateLimiter::new(3);
        for _ in 0..3 {
            assert_eq!(rl.check("203.0.113.0", 0), Ok(()));
        }
        assert_eq!(rl.check("203.0.113.0", 0), Err(20), "one token per 20 s");
        assert_eq!(rl.check("198.51.100.0", 0), Ok(()), "other addresses are not affected");
        assert_eq!(rl.check("203.0.113.0", 20_000), Ok(()));
    }

    #[test]
    fn memory_stays_bounded() {
        let mut rl = RateLimiter::new(60);
        for i in 0..(MAX_BUCKETS as u64 * 2) {
            let _ = rl.check(&i.to_string(), i);
        }
        assert!(rl.len() <= MAX_BUCKETS);
    }
}
