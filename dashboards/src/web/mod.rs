//! The HTTP service, in layers that only point down:
//!
//! - this file: every route, declared once with its [`Access`] in
//!   `routes()`, the router built from that list, and [`serve`];
//! - the handlers, one module per audience: [`dashboard`] (analysts),
//!   [`marketing`], [`privacy`] (the privacy officer), [`admin`] (accounts),
//!   [`api`] (CSV and JSON for machines, described by [`openapi`]) and [`auth`] (login, and the
//!   extractors that decide who gets in). Each is request → typed query →
//!   a domain reader (`crate::views`, `crate::tier3`, `crate::privacy`) →
//!   audit → a view model → a template;
//! - [`page`]: the askama templates, which see only view models;
//! - [`view`]: what a page shows, plain structs built from domain types,
//!   and [`nav`]: the navigation, declared in one place;
//! - [`app`] (the shared state), [`headers`] (CSP, HSTS, request ids),
//!   [`form`] and [`chart`] underneath.
//!
//! A route that shows data takes an [`auth::Authorized`] extractor for the
//! role it needs, and the role × route test checks each declaration
//! against what the running service does. `scripts/modgraph.py dashboards
//! --check` fails on any circle of imports between files; a test runs it.

pub mod admin;
pub mod analyst;
pub mod api;
pub mod api_analyst;
pub mod app;
pub mod auth;
pub mod chart;
pub mod dashboard;
pub mod form;
pub mod headers;
pub mod marketing;
pub mod nav;
pub mod openapi;
pub mod page;
pub mod privacy;
pub mod view;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::http::header;
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::Router;

pub use app::App;
use app::writer_id;
use crate::query::Day;
use headers::{security_headers, with_request_id};

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
        (route("GET", "/goals", Access::Role(Role::Analyst)), get(dashboard::goals)),
        (route("POST", "/goals", Access::Role(Role::Analyst)), post(analyst::goal_form_create)),
        (route("POST", "/goals/{id}", Access::Role(Role::Analyst)), post(analyst::goal_form_update)),
        (route("POST", "/goals/{id}/delete", Access::Role(Role::Analyst)), post(analyst::goal_form_delete)),
        (route("GET", "/funnels", Access::Role(Role::Analyst)), get(dashboard::funnels)),
        (route("POST", "/funnels", Access::Role(Role::Analyst)), post(analyst::funnel_form_create)),
        (route("POST", "/funnels/{id}", Access::Role(Role::Analyst)), post(analyst::funnel_form_update)),
        (route("POST", "/funnels/{id}/delete", Access::Role(Role::Analyst)), post(analyst::funnel_form_delete)),
        (route("GET", "/alerts", Access::Role(Role::Analyst)), get(analyst::alerts_page)),
        (route("POST", "/alerts", Access::Role(Role::Analyst)), post(analyst::alert_form_create)),
        (route("POST", "/alerts/{id}", Access::Role(Role::Analyst)), post(analyst::alert_form_update)),
        (route("POST", "/alerts/{id}/delete", Access::Role(Role::Analyst)), post(analyst::alert_form_delete)),
        (route("GET", "/annotations", Access::Role(Role::Analyst)), get(analyst::annotations_page)),
        (route("POST", "/annotations", Access::Role(Role::Analyst)), post(analyst::annotation_form_create)),
        (route("POST", "/annotations/{id}", Access::Role(Role::Analyst)), post(analyst::annotation_form_update)),
        (route("POST", "/annotations/{id}/delete", Access::Role(Role::Analyst)), post(analyst::annotation_form_delete)),
        (route("GET", "/segments", Access::Role(Role::Analyst)), get(analyst::segments_page)),
        (route("POST", "/segments", Access::Role(Role::Analyst)), post(analyst::segment_form_create)),
        (route("POST", "/segments/{id}", Access::Role(Role::Analyst)), post(analyst::segment_form_update)),
        (route("POST", "/segments/{id}/delete", Access::Role(Role::Analyst)), post(analyst::segment_form_delete)),
        (route("GET", "/realtime", Access::Role(Role::Analyst)), get(dashboard::realtime_page)),
        (route("GET", "/report/{name}", Access::Role(Role::Analyst)), get(dashboard::report)),
        (route("GET", "/export/{name}", Access::Role(Role::Analyst)), get(api::export)),
        (route("GET", "/api/v1/realtime", Access::Role(Role::Analyst)), get(api::realtime)),
        (route("GET", "/api/v1/goals", Access::Role(Role::Analyst)), get(api_analyst::list_goals)),
        (route("POST", "/api/v1/goals", Access::Role(Role::Analyst)), post(api_analyst::create_goal)),
        (route("PUT", "/api/v1/goals/{id}", Access::Role(Role::Analyst)), put(api_analyst::update_goal)),
        (route("DELETE", "/api/v1/goals/{id}", Access::Role(Role::Analyst)), delete(api_analyst::delete_goal)),
        (route("GET", "/api/v1/funnels", Access::Role(Role::Analyst)), get(api_analyst::list_funnels)),
        (route("POST", "/api/v1/funnels", Access::Role(Role::Analyst)), post(api_analyst::create_funnel)),
        (route("PUT", "/api/v1/funnels/{id}", Access::Role(Role::Analyst)), put(api_analyst::update_funnel)),
        (route("DELETE", "/api/v1/funnels/{id}", Access::Role(Role::Analyst)), delete(api_analyst::delete_funnel)),
        (route("GET", "/api/v1/alerts", Access::Role(Role::Analyst)), get(api_analyst::list_alerts)),
        (route("POST", "/api/v1/alerts", Access::Role(Role::Analyst)), post(api_analyst::create_alert)),
        (route("PUT", "/api/v1/alerts/{id}", Access::Role(Role::Analyst)), put(api_analyst::update_alert)),
        (route("DELETE", "/api/v1/alerts/{id}", Access::Role(Role::Analyst)), delete(api_analyst::delete_alert)),
        (route("GET", "/api/v1/annotations", Access::Role(Role::Analyst)), get(api_analyst::list_annotations)),
        (route("POST", "/api/v1/annotations", Access::Role(Role::Analyst)), post(api_analyst::create_annotation)),
        (route("PUT", "/api/v1/annotations/{id}", Access::Role(Role::Analyst)), put(api_analyst::update_annotation)),
        (route("DELETE", "/api/v1/annotations/{id}", Access::Role(Role::Analyst)), delete(api_analyst::delete_annotation)),
        (route("GET", "/api/v1/segments", Access::Role(Role::Analyst)), get(api_analyst::list_segments)),
        (route("POST", "/api/v1/segments", Access::Role(Role::Analyst)), post(api_analyst::create_segment)),
        (route("PUT", "/api/v1/segments/{id}", Access::Role(Role::Analyst)), put(api_analyst::update_segment)),
        (route("DELETE", "/api/v1/segments/{id}", Access::Role(Role::Analyst)), delete(api_analyst::delete_segment)),
        (route("GET", "/api/v1/{name}", Access::Role(Role::Analyst)), get(api::table)),
        (route("GET", "/api/openapi.json", Access::Public), get(openapi::serve)),
        (route("GET", "/marketing", Access::Role(Role::Marketing)), get(marketing::customers)),
        (route("GET", "/marketing/geography", Access::Role(Role::Marketing)), get(marketing::geography)),
        (route("GET", "/marketing/segments", Access::Role(Role::Marketing)), get(marketing::segments)),
        (route("GET", "/marketing/clusters", Access::Role(Role::Marketing)), get(marketing::clusters)),
        (route("GET", "/marketing/customers/{customer}", Access::Role(Role::Marketing)), get(marketing::customer)),
        (route("GET", "/marketing/export/{name}", Access::Role(Role::Marketing)), get(marketing::export)),
        (route("GET", crate::tokens::RECOMMENDATIONS_PATH, Access::Role(Role::Analyst)), get(api::recommendations)),
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
        (route("POST", "/account/reports", Access::Role(Role::Analyst)), post(admin::set_reports)),
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
        .layer(middleware::from_fn_with_state(app.secure_cookies, security_headers))
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
                match app.tier3.warm(&app.tier3_reader(Day::today())).await {
                    Ok(()) | Err(crate::tier3::cache::ComputeError::Cluster(_)) => {}
                    Err(e) => tracing::warn!(error = %e, "warming segments and clusters failed; retrying"),
                }
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            }
        })
    };
    let invariants = tokio::spawn(privacy::keep_checking(app.clone()));
    let n = &app.config.notify;
    let reports = tokio::spawn(crate::notify::reports::keep_sending(app.senders.clone(), std::time::Duration::from_secs(n.reports_every_secs)));
    let alerts = tokio::spawn(crate::notify::alerts::keep_checking(app.senders.clone(), std::time::Duration::from_secs(n.alerts_every_secs)));
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
    reports.abort();
    alerts.abort();
    app.tally.flush(&app.audit).await;
    Ok(())
}

async fn realtime_script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../../static/realtime.js"),
    )
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../../static/app.css"),
    )
}
