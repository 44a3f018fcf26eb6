//! The store backend's side of the collector: its API keys, what each may
//! call, and the JSON errors its endpoints (consent, orders) answer with.
//!
//! Every call carries `Authorization: Bearer <key>`; the key's id (never
//! the secret) and the scope it used are what the ledgers record as the
//! caller. A key holds only the scopes it was given: the order key handed
//! to a point of sale cannot mint a consent token (and with it have its own
//! browsing stored as some customer's Tier 3 data), nor erase anyone.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use mintmark_config::{BackendKey, BackendScope};
use mintmark_protocol::keys::constant_time_eq;
use prometheus::IntCounterVec;

/// The accepted API keys, and a counter of refusals by reason and scope.
#[derive(Debug, Clone)]
pub struct BackendKeys {
    keys: Vec<BackendKey>,
    refused: IntCounterVec,
}

impl BackendKeys {
    pub fn new(keys: Vec<BackendKey>, refused: IntCounterVec) -> BackendKeys {
        BackendKeys { keys, refused }
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The id of the API key presented, if it is one of ours and holds
    /// `scope`: 401 for no key or an unknown one, 403 (naming the key's
    /// scopes) for a key that may not make this call; each counted.
    pub fn authorize(&self, headers: &HeaderMap, scope: BackendScope) -> Result<String, ApiError> {
        let refuse = |status: StatusCode, reason: &str, msg: String| {
            self.refused.with_label_values(&[reason, scope.as_str()]).inc();
            tracing::warn!(reason, %scope, "backend call refused");
            err(status, msg)
        };
        let given = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| refuse(StatusCode::UNAUTHORIZED, "missing_key", "missing API key (Authorization: Bearer <key>)".into()))?;
        let key = self
            .keys
            .iter()
            .find(|k| constant_time_eq(k.secret.as_bytes(), given.as_bytes()))
            .ok_or_else(|| refuse(StatusCode::UNAUTHORIZED, "unknown_key", "unknown API key".into()))?;
        if !key.scopes.contains(&scope) {
            let has: Vec<&str> = key.scopes.iter().map(|s| s.as_str()).collect();
            return Err(refuse(
                StatusCode::FORBIDDEN,
                "out_of_scope",
                format!("API key {:?} may not call {scope} endpoints (its scopes: {})", key.id, has.join(", ")),
            ));
        }
        Ok(key.id.clone())
    }
}

/// A refusal: status and a reason in `{"error": ...}`.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

/// What every refusal answers with.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Why, said plainly.
    #[schema(example = "missing API key (Authorization: Bearer <key>)")]
    pub error: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry = self.0 == StatusCode::SERVICE_UNAVAILABLE;
        let mut resp = (self.0, Json(ErrorBody { error: self.1 })).into_response();
        if retry {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("5"));
        }
        resp
    }
}

pub fn err(status: StatusCode, msg: impl Into<String>) -> ApiError {
    ApiError(status, msg.into())
}
