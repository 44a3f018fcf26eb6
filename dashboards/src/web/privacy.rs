//! The privacy officer's pages (role `privacy_officer`): the overview
//! (invariant report, retention status, audit chain), the consent ledger,
//! the purge log, the access audit, one customer's status and record (an
//! access request, exported after the officer's password is asked again),
//! the invariant drill-downs, and CSV exports. Plus the public notice and
//! the invariant gauges at `/metrics`.
//!
//! Each handler: request → [`PrivacyQuery`] → a reader → tables → an
//! audit entry (written before anything is sent) → template or file.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::app::App;
use super::auth::{check_csrf, Authorized, PasswordCheck, PrivacyView};
use super::form::{field, pairs};
use super::page;
use super::view::chrome::bare_chrome;
use super::view::privacy::{ChainView, CheckView, Filter, FilterField, Privacy};
use super::view::{plain_table, Pager};
use crate::audit::AccessEntry;
use crate::query::Day;
use crate::privacy::invariants::{Checker, Report, CHECKS};
use crate::privacy::views::{self, Reader};
use crate::privacy::{notice, record, PrivacyQuery, PAGE_ROWS};
use crate::table::{Table, EXPORT_ROWS};



fn render(p: Privacy) -> Response {
    page::render(&page::PrivacyPage { p })
}

fn bad_request(msg: &str) -> Response {
    page::error(StatusCode::BAD_REQUEST, "Bad request", msg)
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "privacy query failed");
    page::error(StatusCode::SERVICE_UNAVAILABLE, "Unavailable", "ClickHouse is not reachable, so there is nothing to show right now. Try again shortly.")
}

fn now() -> u64 {
    crate::accounts::now_secs() as u64
}

fn parse(params: &[(String, String)]) -> Result<PrivacyQuery, Response> {
    PrivacyQuery::from_params(params, Day::today()).map_err(|e| bad_request(&e.to_string()))
}

fn reader(app: &App) -> Reader<'_> {
    Reader { client: &app.clickhouse, dbs: &app.dbs, subjects: &app.audit }
}

fn checker(app: &App) -> Checker<'_> {
    Checker { client: &app.clickhouse, dbs: &app.dbs, retention: &app.config.retention, now: now() }
}

/// Runs every check, keeps the report and sets the gauges.
///
/// One run at a time: a caller that waited while a run finished takes that
/// report instead of scanning every table again (the overview asked for one
/// while the start-up run was under way, and both scanned).
pub async fn run_invariants(app: &App) -> Report {
    let asked = now();
    let _one_at_a_time = app.invariant_run.lock().await;
    let last = app.invariants.read().await.clone();
    if let Some(r) = last.filter(|r| r.ran_at >= asked) {
        return r;
    }
    let outcomes = checker(app).report().await;
    let report = Report { ran_at: now(), outcomes };
    app.invariant_gauges.set(&report);
    *app.invariants.write().await = Some(report.clone());
    report
}

/// Runs the report every `dashboards.invariants_every_minutes`.
pub async fn keep_checking(app: Arc<App>) {
    let every = std::time::Duration::from_secs(app.config.dashboards.invariants_every_minutes.max(1) * 60);
    loop {
        let r = run_invariants(&app).await;
        if r.failing() > 0 {
            tracing::error!(failing = r.failing(), "privacy invariants broken; see /privacy");
        }
        tokio::time::sleep(every).await;
    }
}

fn period_fields(q: &PrivacyQuery) -> Vec<FilterField> {
    let date = |name, label, v: String| FilterField { name, label, value: v, kind: "date", options: Vec::new() };
    vec![date("from", "From", q.from.to_string()), date("until", "Until", q.until.to_string())]
}

fn text_field(name: &'static str, label: &'static str, v: &Option<String>) -> FilterField {
    FilterField { name, label, value: v.clone().unwrap_or_default(), kind: "text", options: Vec::new() }
}

fn select(name: &'static str, label: &'static str, v: Option<&'static str>, options: &[&'static str]) -> FilterField {
    FilterField { name, label, value: v.unwrap_or("").to_string(), kind: "select", options: options.to_vec() }
}

fn pager(path: &str, q: &PrivacyQuery, shown: usize) -> Option<Pager> {
    let link = |page: u64| format!("{path}?{}", PrivacyQuery { page, ..q.clone() }.to_params());
    let first = (q.page - 1) * PAGE_ROWS + 1;
    let more = shown as u64 == PAGE_ROWS;
    (q.page > 1 || more).then(|| Pager {
        text: if shown == 0 { "nothing on this page".into() } else { format!("{first}–{}", first + shown as u64 - 1) },
        prev: (q.page > 1).then(|| link(q.page - 1)),
        next: more.then(|| link(q.page + 1)),
    })
}

fn csv_link(name: &str, q: &PrivacyQuery) -> String {
    format!("/privacy/export/{name}?{}", PrivacyQuery { page: 1, ..q.clone() }.to_params())
}

async fn audit(app: &App, who: &Authorized<PrivacyView>, route: &str, params: &str, rows: u64, refs: Vec<String>) -> Result<(), Response> {
    let n = refs.len() as u64;
    app.audited_entry(&AccessEntry::tier3(&who.session, route, params, rows, refs, n)).await
}

fn chain_view(c: &crate::audit::chain::Chains) -> ChainView {
    let mut summary = if c.entries() == 0 { "No chained entries yet.".to_string() } else { String::new() };
    let named = |w: &str| if w.is_empty() { "the chain from before writers".to_string() } else { format!("writer {w}") };
    for (writer, r) in &c.chains {
        summary.push_str(&format!("{}: {} entries, {} to {}", named(writer), r.entries, r.first_seq, r.last_seq));
        if let Some(at) = r.anchored_at {
            summary.push_str(&format!(", resuming at entry {at} where the retention purge left it (anchor in the purge log)"));
        }
        summary.push_str(if r.intact() { ", intact. " } else { ", broken. " });
    }
    if c.unchained > 0 {
        summary.push_str(&format!("{} older entries predate the chain and are not covered.", c.unchained));
    }
    ChainView {
        ok: c.intact(),
        summary: summary.trim_end().to_string(),
        breaks: c
            .breaks()
            .map(|(w, b)| format!("{}, entry {} ({}): {}", named(w), b.seq, crate::table::Cell::Moment(b.at.into()).display(), b.what))
            .collect(),
    }
}

pub async fn overview(State(app): State<Arc<App>>, who: Authorized<PrivacyView>) -> Response {
    // The read guard must be gone before a run takes the write lock.
    let cached = app.invariants.read().await.clone();
    let report = match cached {
        Some(r) => r,
        None => run_invariants(&app).await,
    };
    let retention = match views::retention(&reader(&app), &app.config.retention, now()).await {
        Ok(r) => r,
        Err(e) => return unavailable(e),
    };
    let chain = match app.audit.verify().await {
        Ok(c) => c,
        Err(e) => return unavailable(e),
    };
    let table = views::retention_table(&retention, app.config.retention.purge_every_hours);
    if let Err(r) = audit(&app, &who, "/privacy", "", (table.rows.len() + report.outcomes.len()) as u64, Vec::new()).await {
        return r;
    }
    let mut p = Privacy::new(bare_chrome(&who.session, "/privacy", "Privacy overview"));
    p.checks = report
        .outcomes
        .iter()
        .map(|o| CheckView {
            id: o.id,
            what: o.what,
            violations: crate::table::thousands(o.violations),
            ok: o.violations == 0 && o.error.is_none(),
            error: o.error.clone(),
        })
        .collect();
    p.checks_ran = crate::table::Cell::Moment(report.ran_at as i64).display();
    p.chain = Some(chain_view(&chain));
    p.lead = Some(format!(
        "{} of {} invariant checks pass. Each is a query that must count 0; a failing one links to the offending rows.",
        report.outcomes.len() - report.failing(),
        report.outcomes.len()
    ));
    let budget = budget_table(&app).await;
    p.tables = vec![plain_table(&table, "/privacy/export/retention".into(), None), plain_table(&budget, String::new(), None)];
    render(p)
}

/// What the release layer has spent per day of data and account over the
/// last 30 days: the shared (unfiltered) views and each analyst.
async fn budget_table(app: &App) -> Table {
    use crate::table::{Cell, Column, Row};
    let today = Day::today();
    let r = &app.config.release;
    let mut t = Table::new(
        "privacy_budget",
        "Tier 2 privacy budget (last 30 days of data)",
        vec![Column::new("Day of data", "day"), Column::new("Account", "account"), Column::new("ε spent", "spent"), Column::new("Cells", "cells"), Column::new("ε left", "left")],
    );
    let releaser = app.releaser.clone();
    let ledger = tokio::task::spawn_blocking(move || releaser.store().ledger(today.0 - 30, today.0 + 1)).await.ok().and_then(Result::ok).unwrap_or_default();
    let users: std::collections::HashMap<String, String> =
        app.with_accounts(|a| a.list()).await.ok().and_then(Result::ok).unwrap_or_default().into_iter().map(|u| (format!("user:{}", u.id), u.name)).collect();
    for (account, day, spent, cells) in ledger.iter().take(500) {
        let (name, budget) = match account.as_str() {
            "shared" => ("shared (unfiltered views)".to_string(), r.shared_daily_budget),
            other => (users.get(other).cloned().unwrap_or_else(|| other.to_string()), r.analyst_daily_budget),
        };
        t.rows.push(Row::new(vec![
            Cell::Time(i64::from(*day) * 86_400, crate::query::Interval::Day),
            Cell::Text(name),
            Cell::Decimal(*spent),
            Cell::Count(*cells as u64),
            Cell::Decimal((budget - spent).max(0.0)),
        ]));
    }
    t.note = Some(format!(
        "Every Tier 2 number is released with differential privacy (the manual, \"Tier 2 disclosure control\"). A filtered cell costs ε {}, an unfiltered one ε {} (whole-store metrics ε {}); each analyst may spend ε {} per day of data, the shared views ε {}; δ = {}. A day whose budget is spent takes no new cells; what was released is still served.",
        r.epsilon, r.shared_epsilon, r.shared_metrics_epsilon, r.analyst_daily_budget, r.shared_daily_budget, r.delta
    ));
    t
}

/// Runs the report now (a form on the overview) and goes back to it.
pub async fn run_now(State(app): State<Arc<App>>, who: Authorized<PrivacyView>, body: Bytes) -> Response {
    let form = pairs(&body);
    if !check_csrf(&who.session.csrf, field(&form, "csrf")) {
        return page::error(StatusCode::FORBIDDEN, "Form expired", "Reload the page and try again.");
    }
    let report = run_invariants(&app).await;
    if let Err(r) = audit(&app, &who, "/privacy/invariants", "run=now", report.outcomes.len() as u64, Vec::new()).await {
        return r;
    }
    Redirect::to("/privacy").into_response()
}

pub async fn drill(State(app): State<Arc<App>>, who: Authorized<PrivacyView>, Path(check): Path<String>) -> Response {
    let Some((id, what)) = CHECKS.iter().find(|(id, _)| *id == check) else {
        return page::error(StatusCode::NOT_FOUND, "No such check", "That invariant check does not exist.");
    };
    let (count, offences) = match checker(&app).run(id, true).await {
        Ok(r) => r,
        Err(e) => return unavailable(e),
    };
    let path = format!("/privacy/invariants/{id}");
    // The offending values may be personal data: reading them is audited
    // like any read, naming the customers the rows name.
    let refs = offences.iter().filter(|o| !o.customer.is_empty()).map(|o| o.customer.clone()).collect();
    if let Err(r) = audit(&app, &who, &path, "", offences.len() as u64, refs).await {
        return r;
    }
    let mut t = Table::new(
        "offending_rows",
        format!("Offending rows (first {})", crate::privacy::invariants::DRILL_ROWS),
        vec![crate::table::Column::new("Table", "place"), crate::table::Column::new("Where", "column"), crate::table::Column::new("Value", "value")],
    );
    t.rows = offences.iter().map(|o| crate::table::Row::new(vec![crate::table::Cell::Text(o.place.clone()), crate::table::Cell::Text(o.column.clone()), crate::table::Cell::Text(o.value.clone())])).collect();
    let mut p = Privacy::new(bare_chrome(&who.session, "/privacy", what));
    p.lead = Some(if count == 0 { "This check passes: it counts 0 rows.".into() } else { format!("{} rows break this invariant.", crate::table::thousands(count)) });
    p.tables = vec![plain_table(&t, String::new(), None)];
    render(p)
}

pub async fn consent(State(app): State<Arc<App>>, who: Authorized<PrivacyView>, Query(params): Query<Vec<(String, String)>>) -> Response {
    let q = match parse(&params) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let lines = match views::ledger(&reader(&app), &q, PAGE_ROWS).await {
        Ok(l) => l,
        Err(e) => return unavailable(e),
    };
    let refs = lines.iter().map(|l| l.customer_ref.clone()).collect();
    if let Err(r) = audit(&app, &who, "/privacy/consent", &q.to_params(), lines.len() as u64, refs).await {
        return r;
    }
    let mut p = Privacy::new(bare_chrome(&who.session, "/privacy/consent", "Consent ledger"));
    p.lead = Some("Every opt-in, opt-out and erasure request the store's backend reported. A customer whose erasure is complete has no entries left: the purge log holds the evidence under a keyed hash.".into());
    p.filter = Some(Filter {
        action: "/privacy/consent".into(),
        fields: [
            period_fields(&q),
            vec![
                text_field("customer", "Customer reference", &q.customer),
                text_field("source", "Source", &q.source),
                select("action", "Action", q.action, &["opt_in", "opt_out", "erasure_requested"]),
            ],
        ]
        .concat(),
    });
    p.pager = pager("/privacy/consent", &q, lines.len());
    p.tables = vec![plain_table(&views::ledger_table(&lines), csv_link("consent_ledger", &q), None)];
    render(p)
}

pub async fn purges(State(app): State<Arc<App>>, who: Authorized<PrivacyView>, Query(params): Query<Vec<(String, String)>>) -> Response {
    let q = match parse(&params) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let lines = match views::purges(&reader(&app), &q, PAGE_ROWS).await {
        Ok(l) => l,
        Err(e) => return unavailable(e),
    };
    if let Err(r) = audit(&app, &who, "/privacy/purges", &q.to_params(), lines.len() as u64, Vec::new()).await {
        return r;
    }
    let mut p = Privacy::new(bare_chrome(&who.session, "/privacy/purges", "Purge log"));
    p.lead = Some(
        "Evidence of every erasure and retention purge: what was found, what was left (must be 0), the statements and mutations, and who ran it. \
         Customers appear only as a keyed hash."
            .into(),
    );
    p.filter = Some(Filter {
        action: "/privacy/purges".into(),
        fields: [period_fields(&q), vec![select("kind", "Kind", q.kind, &["erasure", "retention"]), text_field("customer", "Customer hash", &q.customer)]].concat(),
    });
    p.pager = pager("/privacy/purges", &q, lines.len());
    p.tables = vec![plain_table(&views::purges_table(&lines), csv_link("purge_log", &q), None)];
    render(p)
}

pub async fn access_audit(State(app): State<Arc<App>>, who: Authorized<PrivacyView>, Query(params): Query<Vec<(String, String)>>) -> Response {
    let q = match parse(&params) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let subject = q.customer.as_deref().map(|c| app.audit.subject(c));
    let (lines, chain) = match tokio::try_join!(
        async { views::audit(&reader(&app), &q, subject.as_deref(), PAGE_ROWS).await.map_err(|e| e.to_string()) },
        async { app.audit.verify().await.map_err(|e| e.to_string()) }
    ) {
        Ok(r) => r,
        Err(e) => return unavailable(e),
    };
    if let Err(r) = audit(&app, &who, "/privacy/audit", &q.to_params(), lines.len() as u64, q.customer.iter().cloned().collect()).await {
        return r;
    }
    let mut p = Privacy::new(bare_chrome(&who.session, "/privacy/audit", "Access audit"));
    p.lead = Some(
        "Who read what: every view, export and API call, with the filters asked for, the rows returned and the customers touched (as keyed hashes; \
         type a customer reference to find the reads that touched them)."
            .into(),
    );
    p.chain = Some(chain_view(&chain));
    p.filter = Some(Filter {
        action: "/privacy/audit".into(),
        fields: [period_fields(&q), vec![text_field("user", "User", &q.user), text_field("customer", "Customer reference", &q.customer)]].concat(),
    });
    p.pager = pager("/privacy/audit", &q, lines.len());
    p.tables = vec![plain_table(&views::audit_table(&lines), csv_link("access_audit", &q), None)];
    render(p)
}

fn customer_ok(c: &str) -> bool {
    !c.is_empty() && c.len() <= 128 && !c.chars().any(char::is_control)
}

/// A customer's full record, with what the dashboards' segments say:
/// computed if need be (`fresh`, for an export), else the last results.
async fn full_record(app: &App, customer: &str, fresh: bool) -> Result<record::Record, Response> {
    let mut rec = record::read(&reader(app), customer, now() as u32).await.map_err(unavailable)?;
    let days = crate::tier3::MarketingQuery::default().days;
    let (segments, clusters) = if fresh {
        let t3 = app.tier3_reader(Day::today());
        (app.tier3.segmentation(&t3, days).await.ok().map(|(_, s)| s), app.tier3.clustering(&t3).await.ok().map(|(_, c)| c))
    } else {
        app.tier3.latest(Day::today().0, days)
    };
    rec.segment = segments.and_then(|s| s.scored.iter().find(|x| x.m.customer_ref == customer).map(|x| x.segment.label().to_string()));
    rec.cluster = clusters.and_then(|c| {
        let i = c.features.customers.iter().position(|r| r == customer)?;
        let k = c.membership[i];
        Some(format!("cluster {}: {}", k + 1, c.clusters[k].description))
    });
    Ok(rec)
}

pub async fn customer(State(app): State<Arc<App>>, who: Authorized<PrivacyView>, Path(customer): Path<String>) -> Response {
    if !customer_ok(&customer) {
        return bad_request("not a customer reference");
    }
    let rec = match full_record(&app, &customer, false).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    if let Err(r) = audit(&app, &who, "/privacy/customers/{customer}", "", rec.rows(), vec![customer.clone()]).await {
        return r;
    }
    let mut p = Privacy::new(bare_chrome(&who.session, "/privacy/consent", &format!("Customer {customer}")));
    p.lead = Some(format!("{} {}", rec.status, record::NOTE));
    let mut t = rec.to_table();
    t.title = "What is held (first rows)".into();
    let total = t.rows.len();
    t.rows.truncate(200);
    if total > 200 {
        t.note = Some(format!("{total} rows in all; the export has every one."));
    }
    p.tables = vec![plain_table(&t, String::new(), None)];
    p.export_for = (!rec.is_empty()).then_some(customer);
    render(p)
}

/// The access-request export: the officer's password again, then the file.
pub async fn export_record(
    State(app): State<Arc<App>>,
    who: Authorized<PrivacyView>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
    Path(customer): Path<String>,
    body: Bytes,
) -> Response {
    let form = pairs(&body);
    if !check_csrf(&who.session.csrf, field(&form, "csrf")) {
        return page::error(StatusCode::FORBIDDEN, "Form expired", "Reload the page and try again.");
    }
    if !customer_ok(&customer) {
        return bad_request("not a customer reference");
    }
    let format = field(&form, "format").to_string();
    if format != "json" && format != "csv" {
        return bad_request("format must be json or csv");
    }
    // The same throttle as the login form: otherwise this would be an
    // unthrottled oracle for the officer's password.
    let client = super::auth::client_ip(&app, peer.ip(), &headers);
    match super::auth::check_password(&app, &who.session.user.name, field(&form, "password").to_string(), client).await {
        Ok(PasswordCheck::Right(_)) => {}
        Ok(PasswordCheck::Wrong) => {
            tracing::warn!(user = %who.session.user.name, "access-request export refused: wrong password");
            return page::error(StatusCode::FORBIDDEN, "Password did not match", "Exports of identified data need your password. Go back and try again.");
        }
        Ok(PasswordCheck::Throttled) => {
            tracing::warn!(user = %who.session.user.name, "access-request export refused: throttled");
            return page::error(StatusCode::TOO_MANY_REQUESTS, "Too many attempts", "Too many wrong passwords. Try again in 15 minutes.");
        }
        Err(r) => return r.into_response(),
    }
    let rec = match full_record(&app, &customer, true).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    if let Err(r) = audit(&app, &who, "/privacy/customers/{customer}/export", &format!("format={format}"), rec.rows(), vec![customer.clone()]).await {
        return r;
    }
    let file = format!("mintmark-access-request-{}.{format}", &app.audit.subject(&customer)[..12]);
    let (kind, body) = if format == "json" {
        ("application/json", serde_json::to_string_pretty(&rec).unwrap_or_default())
    } else {
        ("text/csv; charset=utf-8", rec.to_table().to_csv())
    };
    ([(header::CONTENT_TYPE, kind.to_string()), (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\""))], body).into_response()
}

pub async fn export(State(app): State<Arc<App>>, who: Authorized<PrivacyView>, Path(name): Path<String>, Query(params): Query<Vec<(String, String)>>) -> Response {
    let q = match parse(&params) {
        Ok(q) => q,
        Err(r) => return r,
    };
    let r = reader(&app);
    let (table, refs) = match name.as_str() {
        "consent_ledger" => match views::ledger(&r, &q, EXPORT_ROWS).await {
            Ok(l) => (views::ledger_table(&l), l.iter().map(|x| x.customer_ref.clone()).collect()),
            Err(e) => return unavailable(e),
        },
        "purge_log" => match views::purges(&r, &q, EXPORT_ROWS).await {
            Ok(l) => (views::purges_table(&l), Vec::new()),
            Err(e) => return unavailable(e),
        },
        "access_audit" => {
            let subject = q.customer.as_deref().map(|c| app.audit.subject(c));
            match views::audit(&r, &q, subject.as_deref(), EXPORT_ROWS).await {
                Ok(l) => (views::audit_table(&l), q.customer.iter().cloned().collect()),
                Err(e) => return unavailable(e),
            }
        }
        "retention" => match views::retention(&r, &app.config.retention, now()).await {
            Ok(l) => (views::retention_table(&l, app.config.retention.purge_every_hours), Vec::new()),
            Err(e) => return unavailable(e),
        },
        _ => return page::error(StatusCode::NOT_FOUND, "No such export", "That table does not exist."),
    };
    if let Err(r) = audit(&app, &who, &format!("/privacy/export/{name}"), &q.to_params(), table.rows.len() as u64, refs).await {
        return r;
    }
    (
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, format!("attachment; filename=\"mintmark-{}.csv\"", table.name))],
        table.to_csv(),
    )
        .into_response()
}

/// The public notice, as a page the store can link.
pub async fn notice_page(State(app): State<Arc<App>>) -> Response {
    page::render(&page::Notice { html: notice::html(&app.config) })
}

/// The same notice as Markdown.
pub async fn notice_markdown(State(app): State<Arc<App>>) -> Response {
    ([(header::CONTENT_TYPE, "text/markdown; charset=utf-8")], notice::markdown(&app.config)).into_response()
}

/// The invariant gauges, for Prometheus.
/// The invariant gauges, for a scraper holding `keys.dashboards_metrics_token`
/// (`Authorization: Bearer`): which privacy checks fail is not public.
pub async fn metrics(State(app): State<Arc<App>>, headers: axum::http::HeaderMap) -> Response {
    let token = &app.config.keys.dashboards_metrics_token;
    if token.is_empty() {
        return (StatusCode::NOT_FOUND, "metrics are off: set keys.dashboards_metrics_token").into_response();
    }
    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("");
    if !mintmark_protocol::keys::constant_time_eq(token.as_bytes(), given.as_bytes()) {
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer realm=\"mintmark metrics\"")], "a bearer token is needed").into_response();
    }
    let text = format!("{}{}", app.invariant_gauges.render(), app.senders.alerts.render());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
