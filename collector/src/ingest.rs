//! The source: the HTTP endpoint the edge forwards signed batches to.
//!
//! A request is trusted only after its signature verifies within the time
//! window and has not been seen before; its batches are then parsed and
//! validated (tier invariants included) by the shared protocol crate,
//! appended to the spool, and acknowledged once they are on disk. A request
//! is one batch (answered 204) or a bundle of them from the edge's queue
//! consumer (answered 200 with a receipt naming any batch refused, so one
//! bad batch does not refuse its neighbours). Every refusal is a 4xx (or a
//! 503 when the spool is full) with a JSON reason, and is counted.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use mintmark_protocol::keys::KeyRing;
use mintmark_protocol::bundle::{self, Receipt, Refused};
use mintmark_protocol::signing::{BatchSignature, Payload, HEADER_KEY_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use mintmark_protocol::wire::{EdgeBatch, WireError};

use crate::metrics::Metrics;
use crate::replay::ReplayGuard;
use crate::spool::{Spool, SpoolError};

/// What the ingest handler needs.
pub struct Ingest {
    pub signing: KeyRing,
    pub window_secs: u64,
    pub replay: ReplayGuard,
    /// Each record carries the batch parsed here, so the writer need not parse it again.
    pub spool: Spool<Arc<EdgeBatch>>,
    pub metrics: Arc<Metrics>,
}

/// A refused or failed request.
#[derive(Debug)]
pub struct IngestError {
    status: StatusCode,
    reason: &'static str,
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, Json(serde_json::json!({ "error": self.reason }))).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut().insert(header::RETRY_AFTER, "5".parse().unwrap());
        }
        resp
    }
}

/// A Tier 3 identity reaches the spool only sealed: one sent in the clear
/// (not our edge, or a bug) is refused rather than written to disk.
fn sealed(batch: EdgeBatch) -> Result<EdgeBatch, WireError> {
    batch.validate_sealed()?;
    Ok(batch)
}

pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The edge's delivery: one signed edge batch (`application/json`), or a
/// bundle of up to 100 (`application/vnd.mintmark.bundle+json`) from the
/// queue consumer. Not for the store's backend: only the edge holds the
/// signing key. The wire format is in the manual's edge and collector pages.
#[utoipa::path(
    post,
    path = "/ingest",
    tag = "edge",
    params(
        ("x-mintmark-key-id" = String, Header, description = "Id of the signing key"),
        ("x-mintmark-timestamp" = u64, Header, description = "Unix seconds the edge signed at; outside the collector's window the batch is refused"),
        ("x-mintmark-signature" = String, Header, description = "HMAC-SHA256 of timestamp and body, hex"),
    ),
    request_body(content_type = "application/json", description = "A signed edge batch, or a bundle of them"),
    responses(
        (status = 204, description = "A batch, on disk"),
        (status = 200, description = "A bundle: `{accepted, refused: [{index, status, reason}]}`; the refused batches are not kept, the others are"),
        (status = 401, description = "A missing, stale or wrong signature"),
        (status = 409, description = "Replayed: this signature was seen before"),
        (status = 413, description = "Over the size limit"),
        (status = 422, description = "Not a valid batch (the reason is counted), or a Tier 3 identity in the clear"),
        (status = 503, description = "The spool is full or unavailable; retry"),
    )
)]
pub async fn ingest(
    State(app): State<Arc<Ingest>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, IngestError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let refuse = |status, reason| {
        app.metrics.rejected.with_label_values(&[reason]).inc();
        tracing::warn!(reason, "batch refused");
        IngestError { status, reason }
    };
    // The body limit layer stops reading past MAX_BUNDLE_BYTES; say so in our terms.
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => refuse(StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        _ => refuse(StatusCode::BAD_REQUEST, "unreadable_body"),
    })?;
    let payload = match header(header::CONTENT_TYPE.as_str()) {
        Some(t) if t.starts_with(bundle::CONTENT_TYPE) => Payload::Bundle,
        _ => Payload::Batch,
    };
    let now = unix_now();
    let sig = BatchSignature::from_headers(header(HEADER_KEY_ID), header(HEADER_TIMESTAMP), header(HEADER_SIGNATURE))
        .and_then(|sig| sig.verify_payload(&app.signing, payload, &body, now, app.window_secs).map(|_| sig))
        .map_err(|e| refuse(StatusCode::UNAUTHORIZED, e.reason()))?;
    let wire_refusal = |e: WireError| {
        let status = if e.reason() == "too_large" { StatusCode::PAYLOAD_TOO_LARGE } else { StatusCode::UNPROCESSABLE_ENTITY };
        (status, e.reason())
    };
    let refuse_wire = |e: WireError| {
        let (status, reason) = wire_refusal(e);
        refuse(status, reason)
    };
    // Each batch's bytes, as parsed or refused.
    let parts: Vec<(&[u8], Result<EdgeBatch, WireError>)> = match payload {
        Payload::Batch => {
            let batch = EdgeBatch::from_json(&body).and_then(sealed).map_err(refuse_wire)?;
            vec![(&body[..], Ok(batch))]
        }
        Payload::Bundle => bundle::split(&body)
            .map_err(refuse_wire)?
            .into_iter()
            .map(|raw| (raw, EdgeBatch::from_json(raw).and_then(sealed)))
            .collect(),
    };
    if !app.replay.first_time(&sig.mac_hex, now) {
        return Err(refuse(StatusCode::CONFLICT, "replayed"));
    }
    // A bundle's refused batches are named in its receipt; the others are kept.
    let mut receipt = Receipt::default();
    let mut records = Vec::with_capacity(parts.len());
    let mut counts = Vec::with_capacity(parts.len());
    for (index, (raw, parsed)) in parts.into_iter().enumerate() {
        match parsed {
            Ok(batch) => {
                counts.push((batch.tier.as_str(), batch.events.len() as u64));
                records.push((raw.to_vec(), Some(Arc::new(batch))));
            }
            Err(e) => {
                let (status, reason) = wire_refusal(e);
                app.metrics.rejected.with_label_values(&[reason]).inc();
                tracing::warn!(reason, index, "batch in a bundle refused");
                receipt.refused.push(Refused { index: index as u32, status: status.as_u16(), reason: reason.to_string() });
            }
        }
    }
    if !records.is_empty() {
        // A refusal here may leave a prefix on disk; the sender retries the
        // whole request and the replayed batches collapse on event id.
        app.spool.append_all(records).await.map_err(|e| match e {
            SpoolError::Full(_) => refuse(StatusCode::SERVICE_UNAVAILABLE, "spool_full"),
            SpoolError::Io(_) | SpoolError::Closed => refuse(StatusCode::SERVICE_UNAVAILABLE, "spool_unavailable"),
        })?;
    }
    for (tier, events) in counts {
        app.metrics.accepted_batches.inc();
        app.metrics.accepted_events.with_label_values(&[tier]).inc_by(events);
        receipt.accepted += 1;
    }
    Ok(match payload {
        Payload::Batch => StatusCode::NO_CONTENT.into_response(),
        Payload::Bundle => Json(receipt).into_response(),
    })
}
