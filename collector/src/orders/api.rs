//! `POST /orders`: the store backend's order feed.
//!
//! Authenticated with a store-backend API key (as the consent API is),
//! validated whole ([`super::feed`]), appended to the order spool and
//! answered `202 {"accepted": n}` once it is on disk. Nothing is routed
//! here: routing needs the consent ledger and happens in the writer, so a
//! ClickHouse outage delays orders but never refuses them.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;

use super::feed::{self, OrderBatch};
use crate::backend::{err, ApiError, BackendKeys, ErrorBody};
use crate::ingest::unix_now;
use crate::metrics::Metrics;
use crate::spool::{Spool, SpoolError};

/// The largest request body (1000 orders of 200 items fit with room).
pub const MAX_BODY: usize = 8 * 1024 * 1024;

pub struct OrderFeed {
    pub keys: BackendKeys,
    pub spool: Spool<Arc<OrderBatch>>,
    pub metrics: Arc<Metrics>,
}

/// What the feed takes: one order event, or up to 1000 of them.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum OrderRequest {
    One(feed::OrderEvent),
    Many {
        /// At most 1000 events; the request is taken whole or refused whole.
        orders: Vec<feed::OrderEvent>,
    },
}

/// How many order events are now on disk.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Accepted {
    pub accepted: usize,
}

/// Takes order events (placed, cancelled, refunded) from any channel.
/// The request is validated whole and answered once it is on disk; which
/// orders are linked to a customer is decided later, against the consent
/// ledger, so a ClickHouse outage delays orders but never refuses them.
#[utoipa::path(
    post,
    path = "/orders",
    tag = "orders",
    request_body = OrderRequest,
    responses(
        (status = 202, description = "On disk; written to ClickHouse shortly", body = Accepted),
        (status = 400, description = "The body could not be read", body = ErrorBody),
        (status = 401, description = "No API key, or an unknown one", body = ErrorBody),
        (status = 403, description = "The key does not hold the `orders` scope", body = ErrorBody),
        (status = 413, description = "The body is over 8 MiB", body = ErrorBody),
        (status = 422, description = "An event is invalid: the first is named by its index and reason", body = ErrorBody),
        (status = 503, description = "The order spool is full or unavailable; retry", body = ErrorBody),
    ),
    security(("backend_key" = []))
)]
pub async fn post_orders(
    State(feed): State<Arc<OrderFeed>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let refuse = |status: StatusCode, reason: &str, detail: String| {
        feed.metrics.rejected.with_label_values(&[reason]).inc();
        // The detail goes back to the sender only: it may quote a value
        // (a parse error names what it found), and no log holds an order
        // number or a reference.
        tracing::warn!(reason, "order feed request refused");
        err(status, detail)
    };
    feed.keys.authorize(&headers, mintmark_config::BackendScope::Orders)?;
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => refuse(StatusCode::PAYLOAD_TOO_LARGE, "order_too_large", format!("body over {MAX_BODY} bytes")),
        _ => refuse(StatusCode::BAD_REQUEST, "order_unreadable", "unreadable body".into()),
    })?;
    let now = unix_now();
    let orders = feed::parse(&body, now).map_err(|e| refuse(StatusCode::UNPROCESSABLE_ENTITY, e.reason, e.detail))?;
    let batch = OrderBatch { received_at: now, orders };
    let payload = serde_json::to_vec(&batch).expect("order batches serialise");
    let n = batch.orders.len();
    let events: Vec<&'static str> = batch.orders.iter().map(|o| o.event.as_str()).collect();
    feed.spool.append(payload, Some(Arc::new(batch))).await.map_err(|e| match e {
        SpoolError::Full(_) => refuse(StatusCode::SERVICE_UNAVAILABLE, "order_spool_full", "order spool is full; retry".into()),
        SpoolError::Io(_) | SpoolError::Closed => refuse(StatusCode::SERVICE_UNAVAILABLE, "order_spool_unavailable", "order spool unavailable; retry".into()),
    })?;
    for e in events {
        feed.metrics.orders_accepted.with_label_values(&[e]).inc();
    }
    Ok((StatusCode::ACCEPTED, Json(Accepted { accepted: n })))
}
