//! The operator's routes: liveness, readiness (what a load balancer
//! asks) and the Prometheus metrics.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;

use crate::app::App;
use crate::ingest;

/// Above this share of its limit the spool makes the collector not ready.
const READY_SPOOL_FRACTION: f64 = 0.8;

/// Alive: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "`ok`", content_type = "text/plain")))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// Ready to take traffic: ClickHouse answers and the spool is below 80 %
/// of its limit. A load balancer stops sending while it is not.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    responses(
        (status = 200, description = "Ready: `{clickhouse, spool, spool_pending_bytes}`"),
        (status = 503, description = "Not ready; the body says which part is not"),
    )
)]
pub async fn readyz(State(app): State<Arc<App>>) -> impl IntoResponse {
    let clickhouse = matches!(
        tokio::time::timeout(Duration::from_secs(2), app.clickhouse.query("SELECT 1").fetch_one::<u8>()).await,
        Ok(Ok(1))
    );
    let spool_ok = !app.ingest.spool.is_over(READY_SPOOL_FRACTION);
    let status = if clickhouse && spool_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = serde_json::json!({
        "clickhouse": if clickhouse { "ok" } else { "unreachable" },
        "spool": if spool_ok { "ok" } else { "nearly_full" },
        "spool_pending_bytes": app.ingest.spool.pending_bytes(),
    });
    (status, Json(body))
}

/// Prometheus metrics (text format): accepted and refused batches by
/// reason, spool depth and age, writer and purge progress.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
pub async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    let m = &app.ingest.metrics;
    let spool = &app.ingest.spool;
    m.spool_pending_bytes.set(spool.pending_bytes() as f64);
    m.spool_oldest_age_seconds.set(spool.oldest_pending_age_secs(ingest::unix_now() * 1000));
    ([("content-type", "text/plain; version=0.0.4")], m.render())
}
