//! The HTTP service: routes, the security headers every answer carries,
//! and the shared state.
//!
//! Every route is declared once in `routes()` with its [`Access`]; a route
//! that shows data takes an [`auth::Authorized`] extractor for the role it
//! needs, and the role × route test checks each declaration against what
//! the running service does.

pub mod admin;
pub mod api;
pub mod auth;
pub mod chart;
pub mod dashboard;
pub mod marketing;
pub mod page;
pub mod privacy;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
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
    /// `Secure` cookies and HSTS: `dashboards.secure_cookies`, or unless
    /// we serve plain http on loopback.
    pub secure_cookies: bool,
    /// Whose `X-Forwarded-For` is believed (`dashboards.trusted_proxies`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Password verifications running at once (`max_concurrent_logins`).
    pub verifications: tokio::sync::Semaphore,
    pub recommender: Arc<crate::recommend::Recommender>,
    /// The Tier 2 release layer (differential privacy) and its store.
    pub releaser: Arc<crate::release::Releaser>,
    pub tally: Arc<crate::audit::Tally>,
    pub tier3: crate::tier3::cache::Tier3Cache,
    /// The latest invariant report, and its gauges for `/metrics`.
    pub invariants: tokio::sync::RwLock<Option<crate::privacy::invariants::Report>>,
    pub invariant_gauges: crate::privacy::invariants::Gauges,
    /// Held while a report runs: one at a time.
    pub invariant_run: tokio::sync::Mutex<()>,
}

impl App {
    pub fn new(config: Config, accounts: Accounts) -> anyhow::Result<App> {
        let d = &config.dashboards;
        let dbs = mintmark_schema::Databases::new(&config.clickhouse.database_prefix)?;
        let clickhouse = mintmark_schema::client(&config.clickhouse);
        Ok(App {
            audit: Audit::new(clickhouse.clone(), &dbs.ledger, &config.keys.subject)?.for_writer(&writer_id(d))?,
            clickhouse,
            dbs,
            life: Lifetimes { idle_secs: d.session_idle_minutes as i64 * 60, max_secs: d.session_max_hours as i64 * 3600 },
            secure_cookies: d.secure_cookies.unwrap_or(!d.listen.ip().is_loopback()),
            trusted_proxies: d.trusted_proxy_nets().map_err(anyhow::Error::msg)?,
            verifications: tokio::sync::Semaphore::new(d.max_concurrent_logins as usize),
            recommender: Arc::default(),
            releaser: Arc::new(crate::release::Releaser::open(config.release.clone(), &d.data_dir).context("opening the release store")?),
            tally: Arc::default(),
            tier3: Default::default(),
            invariants: Default::default(),
            invariant_gauges: Default::default(),
            invariant_run: Default::default(),
            accounts: Arc::new(accounts),
            config,
        })
    }
}

/// `dashboards.writer_id`, or `<hostname>:<listen port>`.
fn writer_id(d: &mintmark_config::DashboardsSection) -> String {
    if !d.writer_id.is_empty() {
        return d.writer_id.clone();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|h| h.trim().to_string()).filter(|h| !h.is_empty());
    let host: String = host.unwrap_or_else(|| "dashboards".into()).chars().filter(|c| c.is_ascii_alphanumeric() || ".-_".contains(*c)).take(48).collect();
    format!("{host}:{}", d.listen.port())
}

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

async fn with_request_id(req: Request, next: Next) -> Response {
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

async fn security_headers(axum::extract::State(app): axum::extract::State<Arc<App>>, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if app.secure_cookies {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    resp
}

/// Who may use a route. What a handler actually lets through is decided by
/// the extractor it takes ([`auth::Authorized`], [`auth::Signed`]); this is
/// the declaration the role × route test holds every route to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    /// Any logged-in user.
    SignedIn,
    /// A user whose roles allow this one ([`crate::roles::Roles::allow`]).
    Role(crate::roles::Role),
    /// A scraper holding `keys.dashboards_metrics_token`; no session opens it.
    Scraper,
}

/// One route of the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

/// Every route, with its access: the router is built from this list and
/// nothing else, so a route cannot exist without an entry in the matrix.
fn routes() -> Vec<(Route, MethodRouter<Arc<App>>)> {
    use crate::roles::Role;
    let route = |method, path, access| Route { method, path, access };
    vec![
        (route("GET", "/", Access::Role(Role::Analyst)), get(dashboard::overview)),
        (route("GET", "/content", Access::Role(Role::Analyst)), get(dashboard::content)),
        (route("GET", "/acquisition", Access::Role(Role::Analyst)), get(dashboard::acquisition)),
        (route("GET", "/audience", Access::Role(Role::Analyst)), get(dashboard::audience)),
        (route("GET", "/technology", Access::Role(Role::Analyst)), get(dashboard::technology)),
        (route("GET", "/commerce", Access::Role(Role::Analyst)), get(dashboard::commerce)),
        (route("GET", "/realtime", Access::Role(Role::Analyst)), get(api::realtime_page)),
        (route("GET", "/report/{name}", Access::Role(Role::Analyst)), get(dashboard::report)),
        (route("GET", "/export/{name}", Access::Role(Role::Analyst)), get(api::export)),
        (route("GET", "/api/v1/realtime", Access::Role(Role::Analyst)), get(api::realtime)),
        (route("GET", "/api/v1/{name}", Access::Role(Role::Analyst)), get(api::table)),
        (route("GET", "/marketing", Access::Role(Role::Marketing)), get(marketing::customers)),
        (route("GET", "/marketing/geography", Access::Role(Role::Marketing)), get(marketing::geography)),
        (route("GET", "/marketing/segments", Access::Role(Role::Marketing)), get(marketing::segments)),
        (route("GET", "/marketing/clusters", Access::Role(Role::Marketing)), get(marketing::clusters)),
        (route("GET", "/marketing/customers/{customer}", Access::Role(Role::Marketing)), get(marketing::customer)),
        (route("GET", "/marketing/export/{name}", Access::Role(Role::Marketing)), get(marketing::export)),
        (route("GET", crate::tokens::RECOMMENDATIONS_PATH, Access::Role(Role::Analyst)), get(marketing::recommendations)),
        (route("GET", "/privacy", Access::Role(Role::PrivacyOfficer)), get(privacy::overview)),
        (route("POST", "/privacy/invariants", Access::Role(Role::PrivacyOfficer)), post(privacy::run_now)),
        (route("GET", "/privacy/invariants/{check}", Access::Role(Role::PrivacyOfficer)), get(privacy::drill)),
        (route("GET", "/privacy/consent", Access::Role(Role::PrivacyOfficer)), get(privacy::consent)),
        (route("GET", "/privacy/purges", Access::Role(Role::PrivacyOfficer)), get(privacy::purges)),
        (route("GET", "/privacy/audit", Access::Role(Role::PrivacyOfficer)), get(privacy::access_audit)),
        (route("GET", "/privacy/customers/{customer}", Access::Role(Role::PrivacyOfficer)), get(privacy::customer)),
        (route("POST", "/privacy/customers/{customer}/export", Access::Role(Role::PrivacyOfficer)), post(privacy::export_record)),
        (route("GET", "/privacy/export/{name}", Access::Role(Role::PrivacyOfficer)), get(privacy::export)),
        (route("GET", "/notice", Access::Public), get(privacy::notice_page)),
        (route("GET", "/notice.md", Access::Public), get(privacy::notice_markdown)),
        (route("GET", "/metrics", Access::Scraper), get(privacy::metrics)),
        (route("GET", "/account", Access::SignedIn), get(admin::account)),
        (route("POST", "/account/tokens", Access::SignedIn), post(admin::create_token)),
        (route("POST", "/account/tokens/{id}/revoke", Access::SignedIn), post(admin::revoke_token)),
        (route("GET", "/admin/users", Access::Role(Role::Admin)), get(admin::users)),
        (route("POST", "/admin/users", Access::Role(Role::Admin)), post(admin::add_user)),
        (route("POST", "/admin/users/{name}", Access::Role(Role::Admin)), post(admin::change_user)),
        (route("GET", "/login", Access::Public), get(auth::login_page)),
        (route("POST", "/login", Access::Public), post(auth::login)),
        (route("POST", "/logout", Access::SignedIn), post(auth::logout)),
        (route("GET", "/static/app.css", Access::Public), get(stylesheet)),
        (route("GET", "/static/realtime.js", Access::Public), get(realtime_script)),
        (route("GET", "/healthz", Access::Public), get(|| async { "ok" })),
        // No icon yet; say so without a 404 in every browser console.
        (route("GET", "/favicon.ico", Access::Public), get(|| async { axum::http::StatusCode::NO_CONTENT })),
    ]
}

/// The routes and their access, for the role × route test and for docs.
pub fn route_table() -> Vec<Route> {
    routes().into_iter().map(|(r, _)| r).collect()
}

pub fn router(app: Arc<App>) -> Router {
    routes()
        .into_iter()
        .fold(Router::new(), |router, (r, handler)| router.route(r.path, handler))
        .fallback(|| async { page::error(axum::http::StatusCode::NOT_FOUND, "Not found", "There is no page at this address.") })
        .layer(middleware::from_fn_with_state(app.clone(), security_headers))
        .layer(middleware::from_fn(with_request_id))
        .with_state(app)
}

/// Serves until Ctrl-C or SIGTERM, then writes what is tallied in memory
/// (recommendation reads) to the access audit before returning.
pub async fn serve(app: Arc<App>) -> anyhow::Result<()> {
    let listen = app.config.dashboards.listen;
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    tracing::info!(addr = %listener.local_addr()?, "dashboards listening");
    let rollup = tokio::spawn(crate::rollup::keep_running(app.clickhouse.clone(), app.dbs.t2.clone(), app.config.retention.clone()));
    let layout = mintmark_schema::Layout::new(&app.config.clickhouse.cluster)?;
    let facts = tokio::spawn(crate::tier3::facts::keep_fresh(
        app.clickhouse.clone(),
        app.dbs.clone(),
        layout,
        writer_id(&app.config.dashboards),
        app.tier3.facts_version.clone(),
    ));
    let d = &app.config.dashboards;
    let recommendations =
        tokio::spawn(app.recommender.clone().keep_refreshing(app.releaser.clone(), app.clickhouse.clone(), app.dbs.t2.clone(), d.crosssell_marketplace));
    let warm = {
        let app = app.clone();
        tokio::spawn(async move {
            loop {
                match app.tier3.warm(&app.tier3_reader(dashboard::today())).await {
                    Ok(()) | Err(crate::tier3::cache::ComputeError::Cluster(_)) => {}
                    Err(e) => tracing::warn!(error = %e, "warming segments and clusters failed; retrying"),
                }
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            }
        })
    };
    let invariants = tokio::spawn(privacy::keep_checking(app.clone()));
    let tallies = {
        let app = app.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                app.tally.flush(&app.audit).await;
            }
        })
    };
    axum::serve(listener, router(app.clone()).into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(mintmark_config::service::shutdown_signal())
        .await?;
    tracing::info!("stopping: writing the tallied reads to the access audit");
    rollup.abort();
    recommendations.abort();
    facts.abort();
    warm.abort();
    tallies.abort();
    invariants.abort();
    app.tally.flush(&app.audit).await;
    Ok(())
}

async fn realtime_script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../../static/realtime.js"),
    )
}

impl App {
    /// What every Tier 2 view reads with: the question as `user` asks it
    /// (their budget pays for it when it is filtered).
    pub fn ctx<'a>(&'a self, q: &'a crate::query::StatsQuery, today: crate::query::Day, user: i64) -> crate::views::Ctx<'a> {
        let d = &self.config.dashboards;
        crate::views::Ctx {
            client: &self.clickhouse,
            t2: &self.dbs.t2,
            q,
            today,
            releaser: &self.releaser,
            ask: crate::release::Ask::new(&self.clickhouse, &self.dbs.t2, q, user, today),
            crosssell_marketplace: d.crosssell_marketplace,
        }
    }

    /// What every Tier 3 reader reads with.
    pub fn tier3_reader(&self, today: crate::query::Day) -> crate::tier3::Tier3<'_> {
        crate::tier3::Tier3 { client: &self.clickhouse, dbs: &self.dbs, today, min_customers: self.config.dashboards.min_group_customers }
    }

    /// Runs an accounts call off the async threads (SQLite blocks). A call
    /// that could not run is `Refused::Unavailable`; its own error is the
    /// caller's to show or log.
    pub async fn with_accounts<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Accounts) -> Result<T, crate::accounts::AccountError> + Send + 'static,
    ) -> Result<Result<T, crate::accounts::AccountError>, auth::Refused> {
        let accounts = self.accounts.clone();
        tokio::task::spawn_blocking(move || f(&accounts)).await.map_err(|_| auth::Refused::Unavailable)
    }

    /// Records a read in the access audit before its data leaves; when
    /// the audit cannot be written, the answer is a 503 instead of data.
    pub async fn audited(&self, who: &crate::sessions::LoginSession, route: &str, params: &str, rows: u64) -> Result<(), Response> {
        self.audited_entry(&crate::audit::AccessEntry::aggregate(who, route, params, rows)).await
    }

    /// The same for a Tier 3 read, naming the customers it touched.
    pub async fn audited_entry(&self, entry: &crate::audit::AccessEntry) -> Result<(), Response> {
        match self.audit.record(entry).await {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::error!(error = %e, "access audit failed; the read is refused");
                let mut resp = page::error(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "Unavailable",
                    "The access audit cannot be written, so no data is shown. Try again shortly.",
                );
                resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
                Err(resp)
            }
        }
    }
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../../static/app.css"),
    )
}
