//! A store for beacon tests: serves the real beacon build and test pages
//! carrying its tag, records every request the browser makes, and plays
//! the edge at the beacon path (recording bodies, answering whatever status
//! the test scripted).
//!
//! Pages are generated: `/store/...` is inside the store scope, anything
//! else (`/about/`, `/blog/`) outside. Each page has a download link, an
//! outbound link, a `mailto:` link, an in-store link and a `?q=` search form.
//! `GET /_test/beacons` returns the recorded beacon bodies, so the browser
//! script can wait for a condition instead of sleeping.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use devstack::Layout;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// `Sec-Fetch-Mode`: `no-cors` for `sendBeacon`, `cors` for `fetch`.
    pub fetch_mode: String,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

#[derive(Default)]
struct Shared {
    seen: Mutex<Vec<Seen>>,
    /// Statuses for the next beacon POSTs; 204 when empty.
    statuses: Mutex<VecDeque<u16>>,
}

pub struct BeaconSite {
    pub origin: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

pub const BEACON_PATH: &str = "/store/_mm/collect";

fn page(origin: &str, path: &str) -> String {
    let title = path.trim_matches('/').replace('/', " · ");
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<script>(window.mintmark = window.mintmark || []).push(["early_call", {{ "from": "queue" }}], 5, null, ["product_view"]);</script>
<script defer src="/mintmark/beacon.js" data-mintmark data-endpoint="{BEACON_PATH}"
  data-origins="{origin}" data-paths="/store" data-downloads="pdf,zip" data-search="q"></script>
</head><body>
<h1>{title}</h1>
<a id="download" href="/files/guide.pdf?token=secret">guide</a>
<a id="outbound" href="https://partner.example/deals?ref=store">partner</a>
<a id="mail" href="mailto:jane@example.com">mail us</a>
<a id="inside" href="/store/products/mug"><span id="inside-span">mug</span></a>
<form action="/store/search"><input name="q"></form>
</body></html>"#
    )
}

async fn handle(State((shared, origin)): State<(Arc<Shared>, String)>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body: Bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let headers: &HeaderMap = &parts.headers;
    let path = parts.uri.path().to_string();
    if path == "/_test/beacons" {
        let seen = shared.seen.lock().unwrap();
        let beacons: Vec<serde_json::Value> = seen.iter().filter(|s| s.uri == BEACON_PATH).map(Seen::json).collect();
        return axum::Json(beacons).into_response();
    }
    shared.seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        uri: parts.uri.to_string(),
        fetch_mode: headers.get("sec-fetch-mode").and_then(|v| v.to_str().ok()).unwrap_or("").to_string(),
        body: body.to_vec(),
    });
    if path == BEACON_PATH {
        let status = shared.statuses.lock().unwrap().pop_front().unwrap_or(204);
        return StatusCode::from_u16(status).unwrap_or(StatusCode::NO_CONTENT).into_response();
    }
    if let Some(file) = path.strip_prefix("/mintmark/") {
        let dist = Layout::discover().map(|l| l.tracker_dist()).unwrap_or_default();
        let kind = if file.ends_with(".wasm") { "application/wasm" } else { "text/javascript" };
        return match std::fs::read(dist.join(file.replace('/', ""))) {
            Ok(bytes) => ([(header::CONTENT_TYPE, kind)], bytes).into_response(),
            Err(_) => StatusCode::NOT_FOUND.into_response(),
        };
    }
    if path.starts_with("/files/") {
        return ([(header::CONTENT_TYPE, "application/pdf")], "%PDF-1.4").into_response();
    }
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page(&origin, &path)).into_response()
}

impl BeaconSite {
    pub async fn start() -> anyhow::Result<BeaconSite> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let origin = format!("http://{}", listener.local_addr()?);
        let shared = Arc::new(Shared::default());
        let app = Router::new().fallback(handle).with_state((shared.clone(), origin.clone()));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(BeaconSite { origin, shared, task })
    }

    /// The next beacon POSTs get these statuses, in order.
    pub fn answer_next(&self, statuses: &[u16]) {
        self.shared.statuses.lock().unwrap().extend(statuses);
    }

    /// Every request so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// Beacon POSTs so far.
    pub fn beacons(&self) -> Vec<Seen> {
        self.seen().into_iter().filter(|s| s.uri == BEACON_PATH).collect()
    }

    /// Every event of every beacon POST, flattened, in arrival order.
    pub fn events(&self) -> Vec<serde_json::Value> {
        self.beacons().iter().flat_map(|b| b.json()["events"].as_array().cloned().unwrap_or_default()).collect()
    }
}

impl Drop for BeaconSite {
    fn drop(&mut self) {
        self.task.abort();
    }
}
