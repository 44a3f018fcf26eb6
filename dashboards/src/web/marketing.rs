//! The marketing pages (role `marketing`): customers, order values by
//! state and ZIP3, one customer, RFM segments, behaviour clusters, and
//! their CSV exports.
//!
//! Each handler: request → [`MarketingQuery`] → a Tier 3 reader → tables →
//! an audit entry naming the customers touched (written before anything is
//! sent; no audit, no data) → template or CSV.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};


use super::app::App;
use super::auth::{Authorized, MarketingView};
use super::view::chrome::{bare_chrome, Chrome};
use super::view::marketing::{Marketing, Search};
use super::view::{marketing_href, plain_table, Choice, Pager};
use super::{chart, page};
use crate::audit::AccessEntry;
use crate::query::Day;
use crate::table::{Table, EXPORT_ROWS};
use crate::tier3::customers::{self, Geo};
use crate::tier3::cache::Job;
use crate::tier3::{self, tables, MarketingQuery, PAGE_ROWS};








fn marketing_chrome(who: &Authorized<MarketingView>, path: &str, title: &str) -> Chrome {
    // No section is current; the navigation marks the marketing page that is.
    bare_chrome(&who.session, path, title)
}

fn periods(path: &str, q: &MarketingQuery) -> Vec<Choice> {
    [30, 90, 180, 365]
        .into_iter()
        .map(|d| Choice { label: format!("{d} days"), href: marketing_href(path, &MarketingQuery { days: d, page: 1, ..q.clone() }), current: q.days == d })
        .collect()
}

fn bad_request(msg: &str) -> Response {
    page::error(StatusCode::BAD_REQUEST, "Bad request", msg)
}

fn unavailable(app_error: impl std::fmt::Display) -> Response {
    tracing::error!(error = %app_error, "marketing query failed");
    page::error(StatusCode::SERVICE_UNAVAILABLE, "Unavailable", "ClickHouse is not reachable, so there are no numbers to show right now. Try again shortly.")
}

fn render(m: Marketing) -> Response {
    page::render(&page::MarketingPage { m })
}

async fn audit(app: &App, who: &Authorized<MarketingView>, route: &str, params: &str, rows: u64, refs: Vec<String>, count: u64) -> Result<(), Response> {
    app.audited_entry(&AccessEntry::tier3(&who.session, route, params, rows, refs, count)).await
}

pub async fn customers(State(app): State<Arc<App>>, who: Authorized<MarketingView>, Query(params): Query<Vec<(String, String)>>) -> Response {
    let q = match MarketingQuery::from_params(&params) {
        Ok(q) => q.with_subject(&app.audit),
        Err(e) => return bad_request(&e.to_string()),
    };
    let path = "/marketing";
    let (rows, total) = match customers::customers(&app.tier3_reader(Day::today()), &q, (q.page - 1) * PAGE_ROWS, PAGE_ROWS).await {
        Ok(r) => r,
        Err(e) => return unavailable(e),
    };
    let refs: Vec<String> = rows.iter().map(|r| r.customer_ref.clone()).collect();
    if let Err(r) = audit(&app, &who, path, &q.to_params(), rows.len() as u64, refs, 0).await {
        return r;
    }
    let t = tables::customers_table(&rows, q.days);
    let first = (q.page - 1) * PAGE_ROWS;
    let pager = Pager {
        text: if total == 0 { "No customers match.".into() } else { format!("{}–{} of {}", first + 1, first + rows.len() as u64, crate::table::thousands(total)) },
        prev: (q.page > 1).then(|| marketing_href(path, &MarketingQuery { page: q.page - 1, ..q.clone() })),
        next: (first + (rows.len() as u64) < total).then(|| marketing_href(path, &MarketingQuery { page: q.page + 1, ..q.clone() })),
    };
    let mut hidden = vec![("period".to_string(), format!("{}d", q.days))];
    hidden.push(("sort".into(), format!("{}{}", if q.descending { "-" } else { "" }, q.sort.name())));
    render(Marketing {
        chrome: marketing_chrome(&who, path, "Customers"),
        periods: periods(path, &q),
        search: Some(Search {
            state: q.state.clone().unwrap_or_default(),
            zip3: q.zip3.clone().unwrap_or_default(),
            q: q.search.clone().unwrap_or_default(),
            hidden,
        }),
        lead: None,
        charts: Vec::new(),
        tables: vec![plain_table(&t, marketing_href("/marketing/export/customers", &MarketingQuery { page: 1, ..q.clone() }), Some((path, &q)))],
        pager: Some(pager),
        error: None,
        refresh_secs: None,
    })
}

pub async fn geography(State(app): State<Arc<App>>, who: Authorized<MarketingView>, Query(params): Query<Vec<(String, String)>>) -> Response {
    let q = match MarketingQuery::from_params(&params) {
        Ok(q) => q.with_subject(&app.audit),
        Err(e) => return bad_request(&e.to_string()),
    };
    let path = "/marketing/geography";
    let t3 = app.tier3_reader(Day::today());
    let (states, zips) = match tokio::try_join!(customers::order_values(&t3, &q, Geo::State), customers::order_values(&t3, &q, Geo::Zip3)) {
        Ok(r) => r,
        Err(e) => return unavailable(e),
    };
    let customers_counted = states.iter().map(|r| r.g_customers).sum();
    if let Err(r) = audit(&app, &who, path, &q.to_params(), (states.len() + zips.len()) as u64, Vec::new(), customers_counted).await {
        return r;
    }
    let min = app.config.dashboards.min_group_customers;
    let mut charts = Vec::new();
    let mut views = Vec::new();
    for (rows, geo) in [(&states, Geo::State), (&zips, Geo::Zip3)] {
        let t = tables::geo_table(rows, geo, min);
        let bars: Vec<(String, f64)> = rows.iter().filter(|r| r.g_folded == 0 && !r.g_name.is_empty()).take(25).map(|r| (r.g_name.clone(), r.g_total)).collect();
        if let Some(svg) = chart::bars(geo.title(), &bars) {
            charts.push((format!("{} (top {})", geo.title(), bars.len()), svg));
        }
        views.push(plain_table(&t, marketing_href(&format!("/marketing/export/{}", geo.name()), &q), None));
    }
    render(Marketing {
        chrome: marketing_chrome(&who, path, "Order values by state and ZIP3"),
        periods: periods(path, &q),
        search: None,
        lead: None,
        charts,
        tables: views,
        pager: None,
        error: None,
        refresh_secs: None,
    })
}

/// How the audit names the customer page: the reference itself is in the
/// entry's customer list, as a keyed hash, never in the route.
const CUSTOMER_ROUTE: &str = "/marketing/customers/{customer}";

pub async fn customer(State(app): State<Arc<App>>, who: Authorized<MarketingView>, Path(customer_ref): Path<String>) -> Response {
    if customer_ref.is_empty() || customer_ref.len() > 128 || customer_ref.chars().any(char::is_control) {
        return bad_request("not a customer reference");
    }
    let path = tables::customer_href(&customer_ref);
    let file = match tier3::customer::file(&app.tier3_reader(Day::today()), &app.audit.subject(&customer_ref)).await {
        Ok(f) => f,
        Err(e) => return unavailable(e),
    };
    if file.is_empty() {
        // Still audited: asking about somebody is itself a Tier 3 read.
        if let Err(r) = audit(&app, &who, CUSTOMER_ROUTE, "", 0, vec![customer_ref.clone()], 1).await {
            return r;
        }
        return page::error(StatusCode::NOT_FOUND, "No such customer", "There is no Tier 3 data for that customer reference (never opted in, or erased).");
    }
    if let Err(r) = audit(&app, &who, CUSTOMER_ROUTE, "", file.rows(), vec![customer_ref.clone()], 1).await {
        return r;
    }
    let lead = match file.first_event {
        Some(at) => format!(
            "Tier 3 data for this customer starts at their opt-in: the first event recorded for them is from {}. Nothing from before is linked to them.",
            crate::table::Cell::Time(at.into(), crate::query::Interval::Hour).display()
        ),
        None => "No browsing has been recorded for this customer since they opted in; only orders and consent are shown.".into(),
    };
    let consent: Vec<(u32, &str, u32)> = file.consent.iter().map(|c| (c.at, c.action.as_str(), c.expires)).collect();
    let now = crate::accounts::now_secs() as u32;
    let lead = format!("{} {lead}", crate::privacy::record::status(&consent, now));
    let picks = crate::privacy::record::opted_in(&consent, now).then(|| tier3::personal::picks(&file.interests, app.recommender.snapshot().as_deref()));
    let mut shown = tables::customer_tables(&file);
    shown.insert(2, tables::picks_table(picks.as_deref()));
    let tables = shown.iter().map(|t| plain_table(t, String::new(), None)).collect();
    render(Marketing {
        chrome: marketing_chrome(&who, &path, &format!("Customer {customer_ref}")),
        periods: Vec::new(),
        search: None,
        lead: Some(lead),
        charts: Vec::new(),
        tables,
        pager: None,
        error: None,
        refresh_secs: None,
    })
}

pub async fn segments(State(app): State<Arc<App>>, who: Authorized<MarketingView>, Query(params): Query<Vec<(String, String)>>) -> Response {
    let q = match MarketingQuery::from_params(&params) {
        Ok(q) => q.with_subject(&app.audit),
        Err(e) => return bad_request(&e.to_string()),
    };
    let path = "/marketing/segments";
    let job = Job::Segments(q.days);
    ask(&app, job);
    let Some((at, s)) = app.tier3.peek_segmentation(Day::today().0, q.days) else {
        return computing(&app, &who, path, "RFM segments", job, periods(path, &q));
    };
    if let Err(r) = audit(&app, &who, path, &q.to_params(), s.summary.len() as u64, Vec::new(), s.scored.len() as u64).await {
        return r;
    }
    let summary = tables::segments_table(&s, q.days);
    let cuts = tables::cuts_table(&s);
    let bars: Vec<(String, f64)> = s.summary.iter().map(|g| (g.segment.label().to_string(), g.size as f64)).collect();
    render(Marketing {
        chrome: marketing_chrome(&who, path, "RFM segments"),
        periods: periods(path, &q),
        search: None,
        lead: Some(format!(
            "{} customers with an order in the last {} days, scored {}.",
            crate::table::thousands(s.scored.len() as u64),
            q.days,
            computed(at)
        )),
        charts: chart::bars("Customers per segment", &bars).map(|svg| ("Customers per segment".to_string(), svg)).into_iter().collect(),
        tables: vec![plain_table(&summary, marketing_href("/marketing/export/segments", &q), None), plain_table(&cuts, marketing_href("/marketing/export/rfm_cut_points", &q), None)],
        pager: None,
        error: None,
        refresh_secs: None,
    })
}

/// Has `job` computed in the background when the page found no result
/// of the current facts, or one older than the TTL: pages never wait for
/// scoring or k-means.
fn ask(app: &Arc<App>, job: Job) {
    let today = Day::today();
    if app.tier3.needs(job, today.0) {
        let app = app.clone();
        tokio::spawn(async move { app.tier3.run(&app.tier3_reader(today), job).await });
    }
}

/// The page while its first result is computed: it says so, and reloads.
fn computing(app: &App, who: &Authorized<MarketingView>, path: &str, title: &str, job: Job, periods: Vec<Choice>) -> Response {
    let since = (crate::accounts::now_secs() - app.tier3.pending_since(job)).max(0);
    render(Marketing {
        chrome: marketing_chrome(who, path, title),
        periods,
        search: None,
        lead: Some(format!(
            "Computing for the first time with today's orders (started {since} s ago). This page reloads itself every {COMPUTING_REFRESH_SECS} s until the result is ready."
        )),
        charts: Vec::new(),
        tables: Vec::new(),
        pager: None,
        error: None,
        refresh_secs: Some(COMPUTING_REFRESH_SECS),
    })
}

const COMPUTING_REFRESH_SECS: u32 = 3;

fn computed(at: i64) -> String {
    let ago = crate::accounts::now_secs() - at;
    if ago < 60 {
        "just now".into()
    } else {
        format!("{} min ago (recomputed every {} min)", ago / 60, tier3::cache::TTL_SECS / 60)
    }
}

pub async fn clusters(State(app): State<Arc<App>>, who: Authorized<MarketingView>) -> Response {
    let path = "/marketing/clusters";
    ask(&app, Job::Clusters);
    let (at, c) = match app.tier3.peek_clustering(Day::today().0) {
        Some((at, Ok(c))) => (at, c),
        Some((_, Err(e))) => {
            return page::error(StatusCode::OK, "Behaviour clusters", &format!("Not enough data to cluster yet: {e}."));
        }
        None => return computing(&app, &who, path, "Behaviour clusters", Job::Clusters, Vec::new()),
    };
    if let Err(r) = audit(&app, &who, path, "", c.clusters.len() as u64, Vec::new(), c.features.customers.len() as u64).await {
        return r;
    }
    let t = tables::clusters_table(&c);
    let bars: Vec<(String, f64)> = c.clusters.iter().enumerate().map(|(i, cl)| (format!("{}", i + 1), cl.size as f64)).collect();
    render(Marketing {
        chrome: marketing_chrome(&who, path, "Behaviour clusters"),
        periods: Vec::new(),
        search: None,
        lead: Some(format!("{} customers with an order, clustered {}.", crate::table::thousands(c.features.customers.len() as u64), computed(at))),
        charts: chart::bars("Customers per cluster", &bars).map(|svg| ("Customers per cluster".to_string(), svg)).into_iter().collect(),
        tables: vec![plain_table(&t, "/marketing/export/clusters".into(), None)],
        pager: None,
        error: None,
        refresh_secs: None,
    })
}

/// A members export with each member's personal recommendations (none
/// for a member whose opt-in does not stand now).
async fn members_with_picks(app: &App, t3: &tier3::Tier3<'_>, mut t: Table, refs: Vec<String>) -> Result<(Table, Vec<String>, u64), Response> {
    let subjects: Vec<String> = refs.iter().map(|r| app.audit.subject(r)).collect();
    let now = crate::accounts::now_secs() as u32;
    let by_subject = tier3::personal::for_customers(t3, &subjects, app.recommender.snapshot().as_deref(), now).await.map_err(unavailable)?;
    let by_ref = refs.iter().zip(&subjects).filter_map(|(r, s)| by_subject.get(s).map(|p| (r.clone(), p.clone()))).collect();
    tables::with_picks(&mut t, &refs, &by_ref);
    Ok((t, refs, 0))
}

/// `/marketing/export/<name>`: CSV of any marketing table (members included).
pub async fn export(State(app): State<Arc<App>>, who: Authorized<MarketingView>, Path(name): Path<String>, Query(params): Query<Vec<(String, String)>>) -> Response {
    let q = match MarketingQuery::from_params(&params) {
        Ok(q) => q.with_subject(&app.audit),
        Err(e) => return bad_request(&e.to_string()),
    };
    let t3 = app.tier3_reader(Day::today());
    let min = app.config.dashboards.min_group_customers;
    let result: Result<(Table, Vec<String>, u64), Response> = match name.as_str() {
        "customers" => customers::customers(&t3, &q, 0, EXPORT_ROWS).await.map_err(unavailable).map(|(rows, _)| {
            let refs = rows.iter().map(|r| r.customer_ref.clone()).collect();
            (tables::customers_table(&rows, q.days), refs, 0)
        }),
        "order_values_by_state" | "order_values_by_zip3" => {
            let geo = if name.ends_with("state") { Geo::State } else { Geo::Zip3 };
            customers::order_values(&t3, &q, geo).await.map_err(unavailable).map(|rows| {
                let n = rows.iter().map(|r| r.g_customers).sum();
                (tables::geo_table(&rows, geo, min), Vec::new(), n)
            })
        }
        "segments" | "rfm_cut_points" | "segment_members" => match app.tier3.segmentation(&t3, q.days).await {
            Err(e) => Err(unavailable(e)),
            Ok((_, s)) => match name.as_str() {
                "segments" => Ok((tables::segments_table(&s, q.days), Vec::new(), s.scored.len() as u64)),
                "rfm_cut_points" => Ok((tables::cuts_table(&s), Vec::new(), s.scored.len() as u64)),
                _ => match q.segment {
                    None => Err(bad_request("segment_members needs segment=<name>")),
                    Some(g) => {
                        let (t, refs) = tables::segment_members_table(&s, g);
                        members_with_picks(&app, &t3, t, refs).await
                    }
                },
            },
        },
        "clusters" | "cluster_members" => match app.tier3.clustering(&t3).await {
            Err(e) => Err(unavailable(e)),
            Ok((_, c)) if name == "clusters" => Ok((tables::clusters_table(&c), Vec::new(), c.features.customers.len() as u64)),
            Ok((_, c)) => match q.cluster.filter(|i| *i < c.clusters.len()) {
                None => Err(bad_request("cluster_members needs cluster=<number> of an existing cluster")),
                Some(i) => {
                    let (t, refs) = tables::cluster_members_table(&c, i);
                    members_with_picks(&app, &t3, t, refs).await
                }
            },
        },
        _ => Err(page::error(StatusCode::NOT_FOUND, "No such export", "That table does not exist.")),
    };
    let (table, refs, count) = match result {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    if let Err(r) = audit(&app, &who, &format!("/marketing/export/{name}"), &q.to_params(), table.rows.len() as u64, refs, count).await {
        return r;
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"mintmark-{}.csv\"", table.name)),
        ],
        table.to_csv(),
    )
        .into_response()
}
