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
}

/// Name of the KV binding holding consent revocations.
pub const KV_REVOCATIONS: &str = "REVOCATIONS";
/// Name of the optional secret that unlocks the edge's metrics endpoint.
pub const SECRET_METRICS_TOKEN: &str = "EDGE_METRICS_TOKEN";
