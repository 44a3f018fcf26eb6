//! A stand-in collector for edge tests: records every batch it is sent with
//! the signature of the request that carried it, answers bundles with a
//! receipt as the real collector does, and can be told to fail the next N
//! requests (503), refuse the next N (any status), or refuse each batch
//! containing a marker (named in the receipt).

use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use mintmark_protocol::bundle::{self, Receipt, Refused};
use mintmark_protocol::signing::{BatchSignature, Payload, HEADER_KEY_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};

/// One batch as the collector would see it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The signature of the request that carried it.
    pub signature: Option<BatchSignature>,
    /// What that signature covers: the whole request body.
    pub signed: Arc<Vec<u8>>,
    pub payload: Payload,
    /// This batch's bytes.
    pub body: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("forwarded body is JSON")
    }
}

#[derive(Default)]
struct Shared {
    received: Mutex<Vec<Received>>,
    fail_next: AtomicUsize,
    refuse_next: AtomicUsize,
    refuse_status: AtomicU16,
    refuse_marker: Mutex<Option<String>>,
    attempts: AtomicUsize,
    requests: AtomicUsize,
}

pub struct FakeCollector {
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

fn take_one(counter: &AtomicUsize) -> bool {
    counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
}

async fn ingest(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    shared.attempts.fetch_add(1, Ordering::SeqCst);
    if take_one(&shared.fail_next) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if take_one(&shared.refuse_next) {
        let status = StatusCode::from_u16(shared.refuse_status.load(Ordering::SeqCst)).unwrap();
        return (status, Json(serde_json::json!({ "error": "refused_by_test" }))).into_response();
    }
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let signature = BatchSignature::from_headers(h(HEADER_KEY_ID), h(HEADER_TIMESTAMP), h(HEADER_SIGNATURE)).ok();
    let is_bundle = h(header::CONTENT_TYPE.as_str()).is_some_and(|t| t.starts_with(bundle::CONTENT_TYPE));
    let signed = Arc::new(body.to_vec());
    let (payload, parts): (Payload, Vec<&[u8]>) = if is_bundle {
        match bundle::split(&body) {
            Ok(parts) => (Payload::Bundle, parts),
            Err(e) => return (StatusCode::UNPROCESSABLE_ENTITY, Json(serde_json::json!({ "error": e.reason() }))).into_response(),
        }
    } else {
        (Payload::Batch, vec![&body[..]])
    };
    let marker = shared.refuse_marker.lock().unwrap().clone();
    let mut receipt = Receipt::default();
    let mut received = shared.received.lock().unwrap();
    for (index, part) in parts.into_iter().enumerate() {
        if marker.as_ref().is_some_and(|m| String::from_utf8_lossy(part).contains(m.as_str())) {
            receipt.refused.push(Refused { index: index as u32, status: 422, reason: "bad_event".into() });
            continue;
        }
        received.push(Received { signature: signature.clone(), signed: signed.clone(), payload, body: part.to_vec() });
        receipt.accepted += 1;
    }
    if is_bundle {
        Json(receipt).into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}

impl FakeCollector {
    pub async fn start() -> anyhow::Result<FakeCollector> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/ingest", listener.local_addr()?);
        let shared = Arc::new(Shared::default());
        let app = Router::new().route("/ingest", post(ingest)).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(FakeCollector { url, shared, task })
    }

    /// Answer the next `n` requests with 503.
    pub fn fail_next(&self, n: usize) {
        self.shared.fail_next.store(n, Ordering::SeqCst);
    }

    /// Refuse the next `n` requests whole with `status`.
    pub fn refuse_next(&self, n: usize, status: u16) {
        self.shared.refuse_status.store(status, Ordering::SeqCst);
        self.shared.refuse_next.store(n, Ordering::SeqCst);
    }

    /// Refuse (in the receipt, 422) every batch whose bytes contain `marker`.
    pub fn refuse_batches_containing(&self, marker: Option<&str>) {
        *self.shared.refuse_marker.lock().unwrap() = marker.map(str::to_string);
    }

    /// Requests seen, failed and refused ones included.
    pub fn attempts(&self) -> usize {
        self.shared.attempts.load(Ordering::SeqCst)
    }

    /// Requests that were read (not failed or refused whole).
    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Batches kept, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits until `n` batches have been received; returns them.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> anyhow::Result<Vec<Received>> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n {
                return Ok(got);
            }
            if Instant::now() > deadline {
                bail!("fake collector got {} of {n} batches within {timeout:?}", got.len());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for FakeCollector {
    fn drop(&mut self) {
        self.task.abort();
    }
}
