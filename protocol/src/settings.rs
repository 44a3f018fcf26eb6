//! What the edge worker is told at deploy time.
//!
//! The one TOML config is the source of truth; `mintmark-config` turns it into
//! an [`EdgeSettings`] JSON var (non-secret) plus two secrets in
//! [`crate::keys::KeyRing::parse_list`] form. Keeping the type here means the
//! generator and the worker cannot drift apart.

use serde::{Deserialize, Serialize};

use crate::scope::StoreScope;

/// Name of the worker var holding the JSON settings.
pub const VAR_EDGE_CONFIG: &str = "EDGE_CONFIG";
/// Name of the worker secret with the edge → collector signing keys.
pub const SECRET_EDGE_SIGNING_KEYS: &str = "EDGE_SIGNING_KEYS";
/// Name of the worker secret with the consent token keys.
pub const SECRET_CONSENT_KEYS: &str = "CONSENT_KEYS";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeSettings {
    pub scope: StoreScope,
    /// Path the beacon POSTs to; inside the store path so cookies flow.
    pub beacon_path: String,
    /// Where signed batches go.
    pub collector_url: String,
    /// Collectors tried in order when the one before is away or busy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub collector_failover_urls: Vec<String>,
    /// Path attribute of every cookie we set.
    pub cookie_path: String,
    /// Name of the store backend's consent cookie.
    pub consent_cookie: String,
    pub session_cookie: String,
    pub visitor_cookie: String,
    /// Idle time after which a new session starts.
    pub session_idle_secs: u64,
    /// Max-Age of the Tier 3 persistent cookie.
    pub visitor_max_age_secs: u64,
    /// Beacon batches per minute from one truncated address (per isolate).
    pub rate_limit_per_minute: u32,
    /// How the queue consumer retries the collector.
    pub delivery: DeliverySettings,
}

/// The queue consumer's retry schedule. The queue's own settings (batch
/// size and timeout, attempts, dead-letter queue) are the platform's and
/// live in `wrangler.toml`; these are the worker's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverySettings {
    /// First retry's delay; each further attempt doubles it.
    pub retry_base_secs: u32,
    /// Longest delay between two attempts.
    pub retry_max_secs: u32,
    /// Per-request limit on the collector's answer.
    pub timeout_ms: u32,
}

impl DeliverySettings {
    /// Delay before the next attempt of a message delivered `attempts`
    /// times (1 after its first failure): base·2^(attempts-1), capped.
    pub fn retry_delay_secs(&self, attempts: u32) -> u32 {
        let doublings = attempts.saturating_sub(1).min(31);
        self.retry_base_secs.saturating_mul(1u32 << doublings).min(self.retry_max_secs).max(1)
    }
}

/// Name of the queue binding every accepted batch is sent to.
pub const QUEUE_DELIVERY: &str = "DELIVERY";
/// Name of the queue binding batches the collector refused are sent to.
pub const QUEUE_DEAD_LETTERS: &str = "DEAD_LETTERS";

impl EdgeSettings {
    /// Every collector, in the order a delivery tries them.
    pub fn collector_urls(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.collector_url.as_str()).chain(self.collector_failover_urls.iter().map(String::as_str))
    }
}

/// Name of the KV binding holding consent revocations.
pub const KV_REVOCATIONS: &str = "REVOCATIONS";
/// Name of the optional secret that unlocks the edge's metrics endpoint.
pub const SECRET_METRICS_TOKEN: &str = "EDGE_METRICS_TOKEN";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_double_up_to_the_cap() {
        let d = DeliverySettings { retry_base_secs: 2, retry_max_secs: 300, timeout_ms: 10_000 };
        let delays: Vec<u32> = (1..=10).map(|a| d.retry_delay_secs(a)).collect();
        assert_eq!(delays, [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(d.retry_delay_secs(100), 300, "no overflow");
        let zero = DeliverySettings { retry_base_secs: 0, ..d };
        assert_eq!(zero.retry_delay_secs(1), 1, "never a busy loop");
    }
}
