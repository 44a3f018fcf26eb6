//! What wraps every answer: the security headers (CSP, HSTS, no
//! framing, no caching) and the request id that error pages show and
//! every log line carries.

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// No inline script or style anywhere; nothing from other origins.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served ("" outside one): error pages show
/// it, and every log line written while serving it carries it, so a user's
/// report finds the detail that pages never show.
pub fn request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

pub(super) async fn with_request_id(req: Request, next: Next) -> Response {
    use tracing::Instrument;
    let id = crate::sessions::random_token()[..16].to_string();
    let span = tracing::info_span!("request", id = %id, path = %loggable(req.uri().path()));
    let mut resp = REQUEST_ID.scope(id.clone(), next.run(req).instrument(span)).await;
    resp.headers_mut().insert("x-request-id", HeaderValue::from_str(&id).expect("hex is a header value"));
    resp
}

/// A path as logs may show it: a customer's page is named by its route,
/// never by the reference in it.
fn loggable(path: &str) -> String {
    for prefix in ["/marketing/customers/", "/privacy/customers/"] {
        if let Some(rest) = path.strip_prefix(prefix) {
            let tail = rest.split_once('/').map(|(_, t)| format!("/{t}")).unwrap_or_default();
            return format!("{prefix}{{customer}}{tail}");
        }
    }
    path.to_string()
}

/// HSTS for a year where the service is reached over https.
const HSTS: &str = "max-age=31536000; includeSubDomains";

/// `secure` is the app's `secure_cookies`: the service is reached over https.
pub(super) async fn security_headers(axum::extract::State(secure): axum::extract::State<bool>, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if secure {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    resp
}
