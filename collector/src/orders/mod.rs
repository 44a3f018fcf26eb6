//! The order feed: order events from the store's backend, never from the
//! browser (the browser cannot be trusted with order numbers or addresses).
//!
//! Same shape as the event path: [`api`] is the source (authenticate,
//! validate with [`feed`], spool, acknowledge), [`route`] decides each
//! event's dataset from the consent ledger, [`rows`] are the three row
//! types, [`writer`] drains the spool into ClickHouse.

pub mod api;
pub mod feed;
pub mod route;
pub mod rows;
pub mod writer;
