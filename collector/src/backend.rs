//! The store backend's side of the collector: its API keys and the JSON
//! errors its endpoints (consent, orders) answer with.
//!
//! Every call carries `Authorization: Bearer <key>`; the key's id (never
//! the secret) is what the ledgers record as the caller.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use mintmark_protocol::keys::constant_time_eq;

/// `(id, secret)` of each accepted API key.
#[derive(Debug, Clone, Default)]
pub struct BackendKeys(pub Vec<(String, String)>);

impl BackendKeys {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The id of the API key presented, if it is one of ours.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<String, ApiError> {
        let given = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| err(StatusCode::UNAUTHORIZED, "missing API key (Authorization: Bearer <key>)"))?;
        self.0
            .iter()
            .find(|(_, secret)| constant_time_eq(secret.as_bytes(), given.as_bytes()))
            .map(|(id, _)| id.clone())
            .ok_or_else(|| err(StatusCode::UNAUTHORIZED, "unknown API key"))
    }
}

/// A refusal: status and a reason in `{"error": ...}`.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry = self.0 == StatusCode::SERVICE_UNAVAILABLE;
        let mut resp = (self.0, Json(serde_json::json!({ "error": self.1 }))).into_response();
        if retry {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("5"));
        }
        resp
    }
}

pub fn err(status: StatusCode, msg: impl Into<String>) -> ApiError {
    ApiError(status, msg.into())
}
