//! The demo store's front door.
//!
//! Plays the part of the store's web server *and* of the Workers platform:
//! it serves the static store pages and the beacon, and routes the store's
//! beacon path to the edge worker, adding `CF-Connecting-IP` as the platform
//! does (and dropping any the client sent). So beacon requests are
//! same-origin, under the store path, and carry the store's cookies, exactly
//! as with a `shop.example.gov/store/*` route in production.
//!
//! Like the platform's request log, it remembers each beacon POST it passed
//! on, its fetch mode and the edge's status: `GET /_demo/beacons` lists
//! them, so a test (or someone watching the demo) sees what the browser
//! sent, `sendBeacon` on `pagehide` included, which the browser's own
//! tooling does not report.

use std::net::{IpAddr, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

/// Beacon exchanges remembered for `GET /_demo/beacons`.
const BEACON_LOG: usize = 10_000;
/// Headers passed from browser to edge.
const FORWARDED: &[&str] = &["cookie", "origin", "user-agent", "content-type", "referer", "accept-language"];
/// Headers passed from edge back to browser.
const RETURNED: &[&str] = &["set-cookie", "content-type", "cache-control"];

#[derive(Debug, Clone)]
pub struct DemoFront {
    pub addr: SocketAddr,
    pub site_dir: PathBuf,
    pub tracker_dir: PathBuf,
    pub edge_url: String,
    /// Paths under this prefix go to the edge.
    pub edge_prefix: String,
    pub store_origin: String,
    pub client_ip: Option<IpAddr>,
    /// The store's backend (forms under `/store/account/`).
    pub backend: crate::demo_backend::BackendApi,
}

struct Front {
    cfg: DemoFront,
    http: reqwest::Client,
    /// Beacon POSTs passed to the edge: `{status, body}`.
    beacons: std::sync::Mutex<Vec<serde_json::Value>>,
}

pub async fn serve(cfg: DemoFront) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(cfg.addr).await?;
    let state = Arc::new(Front { cfg, http: reqwest::Client::new(), beacons: Default::default() });
    let app = Router::new().fallback(handle).with_state(state).into_make_service_with_connect_info::<SocketAddr>();
    Ok(tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    }))
}

async fn handle(State(front): State<Arc<Front>>, ConnectInfo(peer): ConnectInfo<SocketAddr>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    if path.starts_with(&front.cfg.edge_prefix) {
        let ip = front.cfg.client_ip.unwrap_or(peer.ip());
        // Its own task: a browser that goes away mid-request (a beacon sent
        // on pagehide, then the browser closed) does not cancel it.
        let task = tokio::spawn(async move { proxy_to_edge(&front, req, ip).await });
        return match task.await {
            Ok(Ok(resp)) => resp,
            Ok(Err(e)) => (StatusCode::BAD_GATEWAY, format!("edge unreachable: {e}")).into_response(),
            Err(e) => (StatusCode::BAD_GATEWAY, format!("edge proxy failed: {e}")).into_response(),
        };
    }
    if path == "/_demo/beacons" && req.method() == Method::GET {
        let list = front.beacons.lock().map(|b| b.clone()).unwrap_or_default();
        return axum::Json(list).into_response();
    }
    if let (true, Some(action)) = (req.method() == Method::POST, path.strip_prefix("/store/account/")) {
        let action = action.to_string();
        let headers = req.headers().clone();
        let Ok(body) = axum::body::to_bytes(req.into_body(), 64 * 1024).await else {
            return StatusCode::PAYLOAD_TOO_LARGE.into_response();
        };
        let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
        return front.cfg.backend.handle(&front.http, &action, &headers, &form).await;
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return StatusCode::METHOD_NOT_ALLOWED.into_response();
    }
    match path.strip_prefix("/mintmark/") {
        Some(asset) => static_file(&front.cfg.tracker_dir, asset, None).await,
        None => static_file(&front.cfg.site_dir, &path, Some(&front.cfg.store_origin)).await,
    }
}

async fn proxy_to_edge(front: &Front, req: Request, client_ip: IpAddr) -> anyhow::Result<Response> {
    let (parts, body) = req.into_parts();
    let body: Bytes = axum::body::to_bytes(body, 256 * 1024).await?;
    let url = format!("{}{}", front.cfg.edge_url, parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    let mut out = reqwest::header::HeaderMap::new();
    for name in FORWARDED {
        for v in parts.headers.get_all(*name) {
            out.append(*name, v.clone());
        }
    }
    // The platform, not the client, says who is connecting.
    out.insert("cf-connecting-ip", client_ip.to_string().parse()?);
    let is_post = parts.method == Method::POST;
    // `no-cors` is a sendBeacon; the tracker's fetches are `cors`.
    let mode = parts.headers.get("sec-fetch-mode").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let resp = front.http.request(parts.method, url).headers(out).body(body.clone()).send().await?;
    let mut headers = HeaderMap::new();
    for name in RETURNED {
        for v in resp.headers().get_all(*name) {
            headers.append(HeaderName::from_static(name), v.clone());
        }
    }
    let status = resp.status();
    if is_post {
        let entry = serde_json::json!({ "status": status.as_u16(), "mode": mode, "body": String::from_utf8_lossy(&body) });
        if let Ok(mut log) = front.beacons.lock() {
            // A long `make up` keeps only the latest.
            if log.len() >= BEACON_LOG {
                log.drain(..BEACON_LOG / 2);
            }
            log.push(entry);
        }
    }
    let mut out = Response::new(Body::from(resp.bytes().await?));
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css; charset=utf-8",
        Some("pdf") => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// Serves `rel` under `dir`; directories serve `index.html`. HTML pages get
/// `{{STORE_ORIGIN}}` replaced so the beacon tag names this stack's origin.
async fn static_file(dir: &Path, rel: &str, store_origin: Option<&str>) -> Response {
    let rel = Path::new(rel.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mut path = dir.join(rel);
    if path.is_dir() {
        path = path.join("index.html");
    }
    let Ok(bytes) = tokio::fs::read(&path).await else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let body = match (store_origin, path.extension().and_then(|e| e.to_str())) {
        (Some(origin), Some("html")) => Body::from(String::from_utf8_lossy(&bytes).replace("{{STORE_ORIGIN}}", origin)),
        _ => Body::from(bytes),
    };
    let mut resp = Response::new(body);
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(&path)));
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}
