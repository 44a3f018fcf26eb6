//! Replay protection: a signed batch is accepted once.
//!
//! The signature's timestamp already bounds a replay to the window; inside
//! it, the MACs seen are remembered and a second arrival is refused. Memory
//! is bounded: past `capacity` the oldest are forgotten early. A replay that
//! slips through that way (or across a restart) still cannot double-count,
//! because rows are idempotent on event id.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

pub struct ReplayGuard {
    window_secs: u64,
    capacity: usize,
    inner: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    set: HashSet<u128>,
    order: VecDeque<(u64, u128)>,
}

impl ReplayGuard {
    pub fn new(window_secs: u64, capacity: usize) -> Self {
        ReplayGuard { window_secs, capacity, inner: Mutex::new(Seen::default()) }
    }

    /// True the first time `mac_hex` is seen at `now`; false for a replay.
    pub fn first_time(&self, mac_hex: &str, now: u64) -> bool {
        // 128 bits of an HMAC-SHA256 are plenty to tell batches apart.
        let key = u128::from_str_radix(mac_hex.get(..32).unwrap_or(mac_hex), 16).unwrap_or(0);
        let mut seen = self.inner.lock().unwrap();
        // Remember for two windows: a signature may be up to one window old
        // and arrive up to one window early.
        let horizon = now.saturating_sub(2 * self.window_secs);
        while let Some(&(t, k)) = seen.order.front() {
            if t >= horizon && seen.order.len() < self.capacity {
                break;
            }
            seen.order.pop_front();
            seen.set.remove(&k);
        }
        if !seen.set.insert(key) {
            return false;
        }
        seen.order.push_back((now, key));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn second_arrival_is_a_replay_until_it_ages_out() {
        let g = ReplayGuard::new(300, 1000);
        assert!(g.first_time(A, 1000));
        assert!(!g.first_time(A, 1100));
        assert!(g.first_time(B, 1100));
        assert!(g.first_time(A, 1000 + 601), "forgotten after two windows (the signature check refuses it anyway)");
    }

    #[test]
    fn memory_is_bounded() {
        let g = ReplayGuard::new(300, 10);
        for i in 0..100u32 {
            assert!(g.first_time(&format!("{i:032x}{:032x}", 0), 1000));
        }
        assert!(g.inner.lock().unwrap().set.len() <= 10);
    }
}
