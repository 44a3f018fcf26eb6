//! The collector: the pipeline from a signed edge batch to ClickHouse rows.
//!
//! Shaped like a Vector pipeline: [`ingest`] is the source (HTTP, signature,
//! validation), [`rows`] the transform (one edge batch into de-identified
//! Tier 2 rows and, for Tier 3 only, identified rows, with personal data
//! removed and ids pseudonymised per table by [`pseudonym`]), [`sink`] writes them to
//! ClickHouse. The tables are `mintmark-schema`'s; [`server`] wires it together.

pub mod app;
pub mod backend;
pub mod consent;
pub mod enrich;
pub mod ingest;
pub mod metrics;
pub mod openapi;
pub mod ops;
pub mod orders;
pub mod pseudonym;
pub mod purge;
pub mod replay;
pub mod revocations;
pub mod rows;
pub mod seal_keys;
pub mod server;
pub mod sink;
pub mod spool;
pub mod telemetry;
pub mod writer;
