//! The source: the HTTP endpoint the edge forwards signed batches to.
//!
//! A batch is trusted only after its signature verifies within the time
//! window; it is then parsed and validated (tier invariants included) by the
//! shared protocol crate before any row is made. Every refusal is a 4xx with
//! a JSON reason.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use mintmark_protocol::keys::KeyRing;
use mintmark_protocol::signing::{BatchSignature, HEADER_KEY_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use mintmark_protocol::wire::EdgeBatch;

use crate::rows;
use crate::sink::ClickHouseSink;

/// What the ingest handler needs.
pub struct Ingest {
    pub signing: KeyRing,
    pub window_secs: u64,
    pub sink: ClickHouseSink,
}

/// A refused or failed request.
#[derive(Debug)]
pub struct IngestError {
    status: StatusCode,
    reason: &'static str,
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        (self.status, Json(serde_json::json!({ "error": self.reason }))).into_response()
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

pub async fn ingest(State(app): State<Arc<Ingest>>, headers: HeaderMap, body: Bytes) -> Result<StatusCode, IngestError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let refuse = |status, reason| {
        tracing::warn!(reason, "batch refused");
        IngestError { status, reason }
    };
    BatchSignature::from_headers(header(HEADER_KEY_ID), header(HEADER_TIMESTAMP), header(HEADER_SIGNATURE))
        .and_then(|sig| sig.verify(&app.signing, &body, unix_now(), app.window_secs))
        .map_err(|e| refuse(StatusCode::UNAUTHORIZED, e.reason()))?;
    let batch = EdgeBatch::from_json(&body).map_err(|e| {
        let status = if e.reason() == "too_large" { StatusCode::PAYLOAD_TOO_LARGE } else { StatusCode::UNPROCESSABLE_ENTITY };
        refuse(status, e.reason())
    })?;
    let rows = rows::from_batch(&batch);
    app.sink.write(&rows).await.map_err(|e| {
        tracing::error!(error = %format!("{e:#}"), "clickhouse write failed");
        IngestError { status: StatusCode::SERVICE_UNAVAILABLE, reason: "storage_unavailable" }
    })?;
    tracing::debug!(tier = batch.tier.as_str(), events = batch.events.len(), "batch stored");
    Ok(StatusCode::NO_CONTENT)
}
