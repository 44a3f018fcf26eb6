//! A stand-in collector for edge tests: records every forwarded batch with
//! its signature headers, and can be told to fail the next N requests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use mintmark_protocol::signing::{BatchSignature, HEADER_KEY_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};

/// One request as the collector would see it.
#[derive(Debug, Clone)]
pub struct Received {
    pub signature: Option<BatchSignature>,
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
    attempts: AtomicUsize,
}

pub struct FakeCollector {
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

async fn ingest(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    shared.attempts.fetch_add(1, Ordering::SeqCst);
    let failing = shared.fail_next.load(Ordering::SeqCst);
    if failing > 0 {
        shared.fail_next.store(failing - 1, Ordering::SeqCst);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let signature = BatchSignature::from_headers(h(HEADER_KEY_ID), h(HEADER_TIMESTAMP), h(HEADER_SIGNATURE)).ok();
    shared.received.lock().unwrap().push(Received { signature, body: body.to_vec() });
    StatusCode::NO_CONTENT
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

    /// Requests seen, failed ones included.
    pub fn attempts(&self) -> usize {
        self.shared.attempts.load(Ordering::SeqCst)
    }

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
