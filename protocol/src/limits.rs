//! The wire's limits, one set for every component.
//!
//! Outside [`crate::wire`] (which is serde) so the `no_std` beacon enforces
//! the very numbers the edge and the collector check.

/// Largest beacon body the edge reads.
pub const MAX_BEACON_BYTES: usize = 64 * 1024;
/// Largest edge batch the collector reads (beacon body plus what the edge adds).
pub const MAX_EDGE_BYTES: usize = 96 * 1024;
/// Largest bundle the collector reads: several edge batches the queue
/// consumer sends in one request.
pub const MAX_BUNDLE_BYTES: usize = 1024 * 1024;
/// Edge batches in one bundle (a queue delivers at most 100 messages).
pub const MAX_BUNDLE_BATCHES: usize = 100;
/// Events in one batch.
pub const MAX_EVENTS: usize = 100;
pub const MAX_URL_LEN: usize = 2048;
pub const MAX_TITLE_LEN: usize = 512;
pub const MAX_SHORT_LEN: usize = 128;
pub const MAX_USER_AGENT_LEN: usize = 512;
pub const MAX_PROPS: usize = 20;
pub const MAX_PROP_KEY_LEN: usize = 40;
pub const MAX_PROP_VALUE_LEN: usize = 256;
/// Line items in one commerce event.
pub const MAX_ITEMS: usize = 50;
pub const MAX_SKU_LEN: usize = 64;
