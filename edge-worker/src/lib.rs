//! The edge worker: where privacy is enforced first.
//!
//! Every beacon request becomes a [`Reply`] in two pure steps
//! ([`handler::precheck`], [`handler::decide`]) that test natively: the tier
//! ([`tier`]), the session ([`session`]), the cookies ([`cookies`]) and the
//! signed batch to forward, whose IP is already truncated unless the visitor
//! is Tier 3. [`runtime`] is the thin glue to the Workers platform: it holds
//! the per-isolate state ([`ratelimit`], [`metrics`]), looks up consent
//! revocations, hands the batch to the delivery queue and answers. The
//! same worker consumes that queue: [`delivery`] decides how queued batches
//! become signed collector requests and what becomes of each message.

pub mod bots;
pub mod cookies;
pub mod delivery;
pub mod handler;
pub mod keys;
pub mod metrics;
pub mod ratelimit;
pub mod session;
pub mod tier;

pub use handler::{decide, precheck, Incoming, Outcome, Reply};
pub use keys::EdgeKeys;

#[cfg(target_arch = "wasm32")]
mod runtime;
