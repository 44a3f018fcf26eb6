//! The Tier 2 numbers, from `t2.events` only, as typed rows: exact
//! aggregates, which leave the service only through [`crate::release`].
//!
//! Definitions (also in the manual, docs/src/guides/analyst.md):
//! - a **visit** is a session (`session_id` not empty) with an event in the
//!   period; with filters, a visit counts when any of its events matches,
//!   and its metrics use all its events in the period;
//! - **pageviews** and **anonymous hits** count events (anonymous: cookies
//!   disabled, no session; never guessed into visits); filters apply per event;
//! - a **bounce** is a visit with one pageview and no other event;
//! - **duration** is a visit's last event time minus its first;
//! - **pages per visit** is pageviews in visits over visits;
//! - **conversion** is the share of visits with a purchase; **revenue** the
//!   sum of purchase values (the store's currency).
//!
//! Reads use `FINAL`, so replayed events count once before merges. SQL is
//! built with [`sql::Sql`], which binds every value the user chose.

pub mod breakdown;
pub mod commerce;
pub mod crosssell;
pub mod funnels;
pub mod metrics;
pub mod mix;
pub mod props;
pub mod sql;

pub use breakdown::{breakdown, Breakdown, Group, Report};
pub use metrics::{series, top_metrics, visits, Metric, Point, TopMetrics};
pub use sql::Window;
