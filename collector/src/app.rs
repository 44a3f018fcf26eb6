//! The state the collector's routes share: the ingest source, the consent
//! API, the order feed and the ClickHouse client. Each handler takes only
//! the part it needs, through `FromRef`.

use std::sync::Arc;

use axum::extract::FromRef;

use crate::consent::ConsentApi;
use crate::ingest::Ingest;
use crate::orders::api::OrderFeed;

pub struct App {
    pub ingest: Arc<Ingest>,
    pub consent: Arc<ConsentApi>,
    pub orders: Arc<OrderFeed>,
    pub clickhouse: clickhouse::Client,
}

/// The router's state: each handler takes the part it needs (`FromRef`).
#[derive(Clone)]
pub struct Shared(pub Arc<App>);

impl FromRef<Shared> for Arc<App> {
    fn from_ref(s: &Shared) -> Arc<App> {
        s.0.clone()
    }
}

impl FromRef<Shared> for Arc<Ingest> {
    fn from_ref(s: &Shared) -> Arc<Ingest> {
        s.0.ingest.clone()
    }
}

impl FromRef<Shared> for Arc<ConsentApi> {
    fn from_ref(s: &Shared) -> Arc<ConsentApi> {
        s.0.consent.clone()
    }
}

impl FromRef<Shared> for Arc<OrderFeed> {
    fn from_ref(s: &Shared) -> Arc<OrderFeed> {
        s.0.orders.clone()
    }
}
