//! The dashboards: analyst, marketing and privacy-officer views over the
//! mintmark ClickHouse databases.
//!
//! [`accounts`] and [`sessions`] keep users, roles, login sessions and
//! throttling in an SQLite file (mutable records, transactional updates);
//! [`roles`] says who may read what; [`web`] serves the pages, every one
//! behind its role check; [`audit`] records every read before its data
//! leaves; [`query`] is what a view asks for, validated in one place;
//! [`stats`] computes exact Tier 2 aggregates and [`release`] is the only
//! way they leave (differential privacy). The views build on these;
//! [`analyst`] keeps what analysts make (goals, segments, annotations).

pub mod accounts;
pub mod analyst;
pub mod audit;
pub mod changes;
pub mod notify;
pub mod privacy;
pub mod query;
pub mod recommend;
pub mod release;
pub mod roles;
pub mod rollup;
pub mod sessions;
pub mod stats;
pub mod table;
pub mod tier3;
pub mod tokens;
pub mod views;
pub mod web;
