//! The consent API the store's backend calls.
//!
//! - `POST /consent/opt-in` `{customer_ref, source, policy_version}` mints a
//!   consent token and returns it with the `Set-Cookie` value the store sets
//!   (first-party, on the store path). Only registration, purchase and email
//!   subscription are sources: a marketplace order can never create consent.
//! - `POST /consent/opt-out` `{customer_ref}` revokes every token issued so
//!   far, where the edge looks, so Tier 3 stops at the next request.
//! - `POST /consent/erasure` `{customer_ref, note?}` records the request (and
//!   revokes); the purge itself belongs to the privacy job.
//!
//! Every call is authenticated with an API key (`Authorization: Bearer`)
//! holding the call's scope (`consent`; `erasure` for an erasure) and
//! written to `{ledger}.consent_ledger` with the key's id and that scope. The revocation is
//! written before the ledger so a ledger failure never delays an opt-out;
//! both are idempotent, so the backend simply retries a 503.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use clickhouse::Row;
use mintmark_config::BackendScope;
use mintmark_protocol::consent::{self, ConsentClaims, OptInSource};
use mintmark_protocol::keys::KeyRing;
use serde::{Deserialize, Serialize};
use serde_repr::Serialize_repr;
use utoipa::ToSchema;

use crate::backend::{err, ApiError, BackendKeys, ErrorBody};
use crate::ingest::unix_now;
use crate::revocations::RevocationStore;

pub struct ConsentApi {
    pub keys: KeyRing,
    pub api_keys: BackendKeys,
    pub revocations: RevocationStore,
    pub clickhouse: clickhouse::Client,
    pub ledger_table: String,
    /// Where each opt-in's sealing key is kept (as a salt).
    pub seals: crate::seal_keys::SealKeys,
    pub ids: crate::pseudonym::Pseudonyms,
    pub token_days: u64,
    pub cookie_name: String,
    pub cookie_path: String,
}

/// The ledger's `action` Enum8.
#[derive(Debug, Clone, Copy, Serialize_repr)]
#[repr(i8)]
pub enum Action {
    OptIn = 1,
    OptOut = 2,
    ErasureRequested = 3,
}

impl Action {
    /// What a backend key must hold to record this.
    pub fn scope(self) -> BackendScope {
        match self {
            Action::ErasureRequested => BackendScope::Erasure,
            Action::OptIn | Action::OptOut => BackendScope::Consent,
        }
    }
}

/// A `{ledger}.consent_ledger` row (also what the demo seeds history with).
/// An erasure request keeps no reference, only the subject: the erasure
/// needs nothing else, and the request outlives the customer's other rows.
#[derive(Row, Serialize)]
pub struct LedgerRow {
    pub at: u32,
    pub action: Action,
    pub customer_ref: String,
    pub subject: String,
    pub source: String,
    pub policy_version: u32,
    pub token_expires_at: u32,
    pub api_key_id: String,
    /// The scope the key used (`consent`, or `erasure` for an erasure).
    pub api_key_scope: String,
    pub note: String,
}

impl ConsentApi {
    async fn record(&self, row: LedgerRow) -> Result<(), ApiError> {
        let write = async {
            let mut insert = self.clickhouse.insert_unescaped::<LedgerRow>(&self.ledger_table).await?;
            insert.write(&row).await?;
            insert.end().await
        };
        write.await.map_err(|e| {
            tracing::error!(error = %e, "consent ledger write failed");
            err(StatusCode::SERVICE_UNAVAILABLE, "consent ledger unavailable; retry")
        })
    }

    fn cookie(&self, token: &str, max_age: u64) -> String {
        format!("{}={token}; Path={}; Max-Age={max_age}; Secure; HttpOnly; SameSite=Lax", self.cookie_name, self.cookie_path)
    }
}

pub fn check_ref(customer_ref: &str) -> Result<(), ApiError> {
    if customer_ref.is_empty() || customer_ref.len() > 128 || customer_ref.chars().any(char::is_control) {
        return Err(err(StatusCode::UNPROCESSABLE_ENTITY, "customer_ref must be 1-128 printable characters"));
    }
    Ok(())
}

/// An opt-in the customer gave on the store.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OptIn {
    /// The store's own reference for the customer: 1-128 printable
    /// characters, opaque to mintmark.
    #[schema(example = "cust-881")]
    customer_ref: String,
    /// Where the opt-in happened: `registration`, `purchase` or
    /// `email_subscription`. A marketplace order never creates consent.
    #[schema(example = "registration")]
    source: String,
    /// The version of the privacy policy the customer accepted.
    #[schema(example = 3)]
    policy_version: u32,
}

/// The consent token, and the cookie that carries it.
#[derive(Serialize, ToSchema)]
pub struct OptInAnswer {
    /// The signed consent token (it also carries the key the edge seals
    /// this customer's identity with).
    pub token: String,
    /// When the token expires (Unix seconds).
    pub expires_at: u64,
    /// The `Set-Cookie` value the store sets, first-party, on its own path.
    pub set_cookie: String,
}

/// Records an opt-in and mints its consent token. From the next request
/// that carries the cookie, the visitor is Tier 3 (identified).
#[utoipa::path(
    post,
    path = "/consent/opt-in",
    tag = "consent",
    request_body = OptIn,
    responses(
        (status = 200, description = "Recorded; the token and its cookie", body = OptInAnswer),
        (status = 401, description = "No API key, or an unknown one", body = ErrorBody),
        (status = 403, description = "The key does not hold the `consent` scope", body = ErrorBody),
        (status = 422, description = "A field is missing or invalid, or the source cannot create consent", body = ErrorBody),
        (status = 503, description = "The consent ledger is unavailable; retry (`Retry-After`)", body = ErrorBody),
    ),
    security(("backend_key" = []))
)]
pub async fn opt_in(State(api): State<Arc<ConsentApi>>, headers: HeaderMap, body: Json<serde_json::Value>) -> Result<Json<OptInAnswer>, ApiError> {
    let key_id = api.api_keys.authorize(&headers, Action::OptIn.scope())?;
    let req: OptIn = serde_json::from_value(body.0).map_err(|e| err(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    check_ref(&req.customer_ref)?;
    let source: OptInSource = serde_json::from_value(serde_json::Value::String(req.source.clone())).map_err(|_| {
        err(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("source {:?} cannot create consent: only registration, purchase or email_subscription (marketplace orders never do)", req.source),
        )
    })?;
    let now = unix_now();
    let lifetime = api.token_days * 86_400;
    let subject = api.ids.subject(&req.customer_ref).as_str().to_string();
    let seal = api.seals.mint(&subject, now as u32).await.map_err(|e| {
        tracing::error!(error = %e, "storing a sealing key failed");
        err(StatusCode::SERVICE_UNAVAILABLE, "consent ledger unavailable; retry")
    })?;
    let claims = ConsentClaims {
        customer_ref: req.customer_ref.clone(),
        source,
        policy_version: req.policy_version,
        issued_at: now,
        expires_at: now + lifetime,
        subject: subject.clone(),
        seal_kid: seal.kid,
        seal_key: mintmark_protocol::seal::encode_key(&seal.key),
    };
    let token = consent::mint(&api.keys, &claims).map_err(|e| err(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))?;
    api.record(LedgerRow {
        at: now as u32,
        action: Action::OptIn,
        customer_ref: req.customer_ref,
        subject,
        source: source.as_str().into(),
        policy_version: req.policy_version,
        token_expires_at: claims.expires_at as u32,
        api_key_id: key_id,
        api_key_scope: Action::OptIn.scope().as_str().into(),
        note: String::new(),
    })
    .await?;
    let set_cookie = api.cookie(&token, lifetime);
    Ok(Json(OptInAnswer { token, expires_at: claims.expires_at, set_cookie }))
}

/// An opt-out or an erasure request, for one customer.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Revoke {
    /// The store's reference for the customer.
    #[schema(example = "cust-881")]
    customer_ref: String,
    /// Why, for the ledger (at most 500 characters are kept).
    #[serde(default)]
    note: String,
}

/// Authorizes before reading the body: a caller without the scope learns
/// nothing about what a valid request looks like.
async fn revoke(api: &ConsentApi, headers: &HeaderMap, body: serde_json::Value, action: Action) -> Result<StatusCode, ApiError> {
    let scope = action.scope();
    let key_id = api.api_keys.authorize(headers, scope)?;
    let req: Revoke = parse(body)?;
    check_ref(&req.customer_ref)?;
    let now = unix_now();
    let subject = api.ids.subject(&req.customer_ref).as_str().to_string();
    api.revocations.revoke(&subject, now).await.map_err(|e| {
        tracing::error!(error = %format!("{e:#}"), "writing a revocation failed");
        err(StatusCode::SERVICE_UNAVAILABLE, "revocation store unavailable; retry")
    })?;
    api.record(LedgerRow {
        at: now as u32,
        action,
        customer_ref: if matches!(action, Action::ErasureRequested) { String::new() } else { req.customer_ref },
        subject,
        source: String::new(),
        policy_version: 0,
        token_expires_at: 0,
        api_key_id: key_id,
        api_key_scope: scope.as_str().into(),
        note: req.note.chars().take(500).collect(),
    })
    .await?;
    Ok(match action {
        Action::ErasureRequested => StatusCode::ACCEPTED,
        _ => StatusCode::OK,
    })
}

fn parse<T: serde::de::DeserializeOwned>(body: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(body).map_err(|e| err(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))
}

/// Revokes every consent token issued to the customer so far: Tier 3
/// stops at their next request. Idempotent.
#[utoipa::path(
    post,
    path = "/consent/opt-out",
    tag = "consent",
    request_body = Revoke,
    responses(
        (status = 200, description = "Revoked and recorded"),
        (status = 401, description = "No API key, or an unknown one", body = ErrorBody),
        (status = 403, description = "The key does not hold the `consent` scope", body = ErrorBody),
        (status = 422, description = "A field is missing or invalid", body = ErrorBody),
        (status = 503, description = "The revocation store or ledger is unavailable; retry", body = ErrorBody),
    ),
    security(("backend_key" = []))
)]
pub async fn opt_out(State(api): State<Arc<ConsentApi>>, headers: HeaderMap, body: Json<serde_json::Value>) -> Result<StatusCode, ApiError> {
    revoke(&api, &headers, body.0, Action::OptOut).await
}

/// Records an erasure request (and revokes, as an opt-out does). The
/// purge job then erases every copy of the customer's identified data;
/// the privacy officer's purge log shows its evidence.
#[utoipa::path(
    post,
    path = "/consent/erasure",
    tag = "consent",
    request_body = Revoke,
    responses(
        (status = 202, description = "Recorded; the erasure runs in the purge job"),
        (status = 401, description = "No API key, or an unknown one", body = ErrorBody),
        (status = 403, description = "The key does not hold the `erasure` scope", body = ErrorBody),
        (status = 422, description = "A field is missing or invalid", body = ErrorBody),
        (status = 503, description = "The revocation store or ledger is unavailable; retry", body = ErrorBody),
    ),
    security(("backend_key" = []))
)]
pub async fn erasure(State(api): State<Arc<ConsentApi>>, headers: HeaderMap, body: Json<serde_json::Value>) -> Result<StatusCode, ApiError> {
    revoke(&api, &headers, body.0, Action::ErasureRequested).await
}
