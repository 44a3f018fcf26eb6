//! The edge worker: where privacy is enforced first.
//!
//! Every beacon request is turned into a decision by [`handle`], which is
//! plain Rust with no runtime types so it can be tested natively: the tier
//! ([`tier`]), the cookies to set or delete ([`cookies`]) and the signed batch
//! to forward, whose IP is already truncated unless the visitor is Tier 3.
//! [`runtime`] is the thin glue to the Workers platform: read the request,
//! answer at once, forward in `waitUntil`.

pub mod cookies;
pub mod handler;
pub mod keys;
pub mod tier;

pub use handler::{handle, Decision, Incoming, Rejection};
pub use keys::EdgeKeys;

#[cfg(target_arch = "wasm32")]
mod runtime;
