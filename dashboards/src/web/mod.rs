//! The HTTP service: routes, the security headers every answer carries,
//! and the shared state.
//!
//! Every route that shows data takes an [`auth::Authorized`] extractor for
//! the role it needs; the login, logout, health and stylesheet routes are
//! the only ones without.

pub mod auth;
pub mod overview;
pub mod page;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use mintmark_config::Config;

use crate::accounts::Accounts;
use crate::audit::Audit;
use crate::sessions::Lifetimes;

pub struct App {
    pub config: Config,
    pub accounts: Arc<Accounts>,
    pub clickhouse: clickhouse::Client,
    pub dbs: mintmark_schema::Databases,
    pub audit: Audit,
    pub life: Lifetimes,
    /// `Secure` cookies unless we serve plain http on loopback.
    pub secure_cookies: bool,
}

impl App {
    pub fn new(config: Config, accounts: Accounts) -> anyhow::Result<App> {
        let d = &config.dashboards;
        let dbs = mintmark_schema::Databases::new(&config.clickhouse.database_prefix)?;
        let clickhouse = mintmark_schema::client(&config.clickhouse);
        Ok(App {
            audit: Audit::new(clickhouse.clone(), &dbs.ledger),
            clickhouse,
            dbs,
            life: Lifetimes { idle_secs: d.session_idle_minutes as i64 * 60, max_secs: d.session_max_hours as i64 * 3600 },
            secure_cookies: !d.listen.ip().is_loopback(),
            accounts: Arc::new(accounts),
            config,
        })
    }
}

/// No inline script or style anywhere; nothing from other origins.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    resp
}

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(overview::overview))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/static/app.css", get(stylesheet))
        .route("/healthz", get(|| async { "ok" }))
        // No icon yet; say so without a 404 in every browser console.
        .route("/favicon.ico", get(|| async { axum::http::StatusCode::NO_CONTENT }))
        .layer(middleware::from_fn(security_headers))
        .with_state(app)
}

/// Serves until Ctrl-C / SIGTERM.
pub async fn serve(app: Arc<App>) -> anyhow::Result<()> {
    let listen = app.config.dashboards.listen;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    tracing::info!(addr = %listener.local_addr()?, "dashboards listening");
    axum::serve(listener, router(app).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../../static/app.css"),
    )
}
