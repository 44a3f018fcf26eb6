//! The contract between mintmark's components.
//!
//! Everything the beacon, the edge worker and the collector must agree on
//! lives here, once: what a batch looks like on the wire and how big it may
//! be ([`wire`]) and how the queue consumer sends several at once
//! ([`bundle`]), how an IP address loses its identifying bits ([`ip`]),
//! which pages belong to the store ([`scope`]), what looks personal ([`pii`])
//! and what of a URL is kept ([`clean`]), how a visitor's opt-in is
//! carried ([`consent`]), how what identifies them is sealed for the queues
//! ([`seal`]) and named where a name must be kept ([`subject`]), and how the
//! collector knows a batch came from our edge ([`signing`]).
//!
//! The crate builds for `wasm32-unknown-unknown` and native. With default
//! features off it is `no_std` and only the allocation-free parts of
//! [`scope`], [`pii`], [`clean`] and the wire's [`limits`]: what the beacon needs and
//! can afford, so the beacon runs the very code the edge and the collector run.

#![cfg_attr(not(feature = "std"), no_std)]

#[cfg(feature = "std")]
pub mod ip;
pub mod clean;
pub mod limits;
pub mod pii;
pub mod scope;

#[cfg(feature = "wire")]
pub mod bundle;
#[cfg(feature = "wire")]
pub mod identity;
#[cfg(feature = "wire")]
pub mod redact;
#[cfg(feature = "wire")]
pub mod settings;
#[cfg(feature = "wire")]
pub mod wire;

#[cfg(feature = "crypto")]
pub mod consent;
#[cfg(feature = "crypto")]
pub mod keys;
#[cfg(feature = "crypto")]
pub mod seal;
#[cfg(feature = "crypto")]
pub mod signing;
#[cfg(feature = "crypto")]
pub mod subject;
