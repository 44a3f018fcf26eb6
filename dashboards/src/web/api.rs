//! The same tables for machines: CSV exports (`/export/<table>`) for
//! people with a spreadsheet, JSON (`/api/v1/…`) for scripts with an API
//! token. Same queries ([`crate::views::Ctx::table`]), same roles, same
//! audit. The JSON answers are typed here, and those types are what the
//! OpenAPI description ([`super::openapi`]) is generated from.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::app::App;
use super::auth::{AnalystView, Authorized};
use super::page;
use crate::query::{Day, StatsQuery};
use crate::recommend::Recommendation;
use crate::release::Noisy;
use crate::views::{Ctx, TableName};

/// What every refusal answers with.
#[derive(Serialize, ToSchema)]
pub struct ApiError {
    /// Why, said plainly.
    #[schema(example = "n must be 1-20")]
    pub error: String,
}

pub fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(ApiError { error: message.to_string() })).into_response()
}

/// The question, as every Tier 2 view takes it (see the manual's analyst
/// guide). Parsed and validated in one place, [`StatsQuery::from_params`];
/// this type only describes it.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct StatsParams {
    /// `today`, `7d`, `30d` (the default), `month` or `custom` (then `from` and `to`).
    #[param(example = "7d")]
    period: Option<String>,
    /// First day of a custom period, `YYYY-MM-DD`.
    from: Option<String>,
    /// Last day of a custom period, `YYYY-MM-DD`, included.
    to: Option<String>,
    /// `none` (the default), `previous` (the period before) or `year` (a year before).
    compare: Option<String>,
    /// A filter `dimension:op:value` (op `is`, `is_not`, `contains`); repeatable. A
    /// filtered question spends the caller's privacy budget.
    #[param(example = "country:is:US")]
    f: Option<Vec<String>>,
    /// The metric a time series plots: `visits` (the default), `pageviews`, `anonymous_hits`,
    /// `bounce_rate`, `visit_duration`, `pages_per_visit`, `conversion_rate` or `revenue`.
    metric: Option<String>,
    /// `hour`, `day`, `week` or `month`.
    interval: Option<String>,
    /// `visits`, `pageviews` or `name`, then `:asc` or `:desc` (the default).
    #[param(example = "visits:desc")]
    sort: Option<String>,
}

/// A released number: its value, how far off it may be, and how the pages
/// show it. `value` is null when the number is below the release threshold
/// (`display` then says `< n`) or too uncertain to state.
#[derive(Serialize, ToSchema)]
pub struct Released {
    pub value: Option<f64>,
    /// ± at about 95 % (null where it cannot be said).
    pub error: Option<f64>,
    #[schema(example = "1,204 ± 9")]
    pub display: String,
}

impl From<&Noisy> for Released {
    fn from(n: &Noisy) -> Released {
        Released { value: n.json_value(), error: n.json_error(), display: n.display() }
    }
}

/// The days a question covers, `until` excluded.
#[derive(Serialize, ToSchema)]
pub struct Span {
    #[schema(example = "2026-11-02")]
    pub from: String,
    #[schema(example = "2026-12-02")]
    pub until: String,
}

/// The day of the period the caller has spent most on, and how much.
#[derive(Serialize, ToSchema)]
pub struct SpentDay {
    pub day: String,
    pub spent: f64,
}

/// What the question cost and what is left, beside every table.
#[derive(Serialize, ToSchema)]
pub struct PrivacySpend {
    /// `shared` (unfiltered: released once for everyone, free) or `user:<id>`.
    pub account: String,
    /// ε per day this request spent on new releases (0 when answered before).
    pub epsilon_per_day_spent_now: f64,
    /// Days this request charged.
    pub days_charged_now: usize,
    /// The caller's daily budget.
    pub daily_budget: Option<f64>,
    pub most_spent_day: Option<SpentDay>,
}

/// One table, as the dashboards show it.
#[derive(Serialize, ToSchema)]
pub struct TableAnswer {
    #[schema(example = "pages")]
    pub name: String,
    pub title: String,
    /// Column keys, in order.
    pub columns: Vec<String>,
    /// One object per row, keyed by column. A released number `c` comes
    /// with `c_error` (its ±) and, when below the release threshold,
    /// `c_below` (the threshold) and a null `c`. The folded row (everything
    /// too small to name) has `"folded": true`.
    pub rows: Vec<HashMap<String, serde_json::Value>>,
    /// What the table leaves out, or how to read it.
    pub note: Option<String>,
    pub period: Span,
    pub privacy: PrivacySpend,
}

enum Format {
    Csv,
    Json,
}

async fn serve_table(app: &App, who: &Authorized<AnalystView>, name: &str, params: &[(String, String)], format: Format, route: &str) -> Response {
    let refuse = |status, message: &str| match format {
        Format::Json => json_error(status, message),
        Format::Csv => page::error(status, "Bad request", message),
    };
    let Some(table_name) = TableName::parse(name) else {
        return refuse(StatusCode::NOT_FOUND, "no such table");
    };
    let today = Day::today();
    let q = match app.stats_query(params, today).await {
        Ok(q) => q,
        Err(e) => return refuse(e.status(), &e.to_string()),
    };
    let ctx = app.ctx(&q, today, who.session.user.id);
    let table = match ctx.table(table_name).await {
        Ok(t) => t,
        Err(e) => {
            if let Some(why) = e.refusal() {
                return refuse(StatusCode::FORBIDDEN, &why);
            }
            tracing::error!(error = %e, "export query failed");
            return refuse(StatusCode::SERVICE_UNAVAILABLE, "ClickHouse is not reachable; try again shortly");
        }
    };
    if let Err(refused) = app.audited(&who.session, route, &q.to_params(), table.rows.len() as u64).await {
        return refused;
    }
    let range = q.range(today);
    match format {
        Format::Json => Json(TableAnswer {
            name: table.name.to_string(),
            title: table.title.clone(),
            columns: table.columns.iter().map(|c| c.key.to_string()).collect(),
            rows: table.json_rows().into_iter().map(|m| m.into_iter().collect()).collect(),
            note: table.note.clone(),
            period: Span { from: range.from.to_string(), until: range.until.to_string() },
            privacy: privacy_spend(&ctx),
        })
        .into_response(),
        Format::Csv => {
            let file = format!("attachment; filename=\"mintmark-{}-{}.csv\"", table.name, range.from);
            ([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, file)], table.to_csv()).into_response()
        }
    }
}

/// One table as CSV, for a spreadsheet: the same rows as the page.
pub async fn export(State(app): State<Arc<App>>, who: Authorized<AnalystView>, Path(name): Path<String>, Query(params): Query<Vec<(String, String)>>) -> Response {
    serve_table(&app, &who, &name, &params, Format::Csv, &format!("/export/{name}")).await
}

/// One table of the analysts' dashboards, released (differential privacy)
/// exactly as the page shows it. Unfiltered tables are released once for
/// everyone; a filtered one spends the caller's budget, and when the
/// budget is spent the answer is 403 with no numbers.
#[utoipa::path(
    get,
    path = "/api/v1/{name}",
    tag = "analytics",
    params(
        ("name" = String, Path, description = "The table: `top`, `timeseries`, a breakdown (`pages`, `referrers`, `country`, …), `funnel`, `products`, `sales`, `tier_mix` or `bought_together`"),
        StatsParams,
    ),
    responses(
        (status = 200, description = "The table", body = TableAnswer),
        (status = 400, description = "A parameter is invalid", body = ApiError),
        (status = 401, description = "No API token or session", body = ApiError),
        (status = 403, description = "Not an analyst, a recommendations-only token, or the privacy budget is spent", body = ApiError),
        (status = 404, description = "No such table", body = ApiError),
        (status = 503, description = "ClickHouse or the access audit is unavailable; retry", body = ApiError),
    ),
    security(("api_token" = []), ("session" = []))
)]
pub async fn table(State(app): State<Arc<App>>, who: Authorized<AnalystView>, Path(name): Path<String>, Query(params): Query<Vec<(String, String)>>) -> Response {
    serve_table(&app, &who, &name, &params, Format::Json, &format!("/api/v1/{name}")).await
}

/// What the question cost and what is left, beside every API answer.
fn privacy_spend(ctx: &Ctx<'_>) -> PrivacySpend {
    let spent = ctx.ask.spent();
    let payer = ctx.ask.payer();
    let budget = ctx.releaser.budget(&payer, ctx.q.range(ctx.today)).ok();
    PrivacySpend {
        account: payer.key(),
        epsilon_per_day_spent_now: spent.values().next().copied().unwrap_or(0.0),
        days_charged_now: spent.len(),
        daily_budget: budget.as_ref().map(|b| b.daily),
        most_spent_day: budget.as_ref().and_then(|b| b.most()).map(|(d, e)| SpentDay { day: d.to_string(), spent: e }),
    }
}

/// A page's visits in the window.
#[derive(Serialize, ToSchema)]
pub struct PageVisits {
    #[schema(example = "/products/kettle")]
    pub page: String,
    pub visits: Released,
}

/// The last five-minute window that is over, for the whole store.
#[derive(Serialize, ToSchema)]
pub struct RealtimeAnswer {
    /// The window's length: 300 seconds.
    pub window_secs: i64,
    /// Unix seconds.
    pub from: i64,
    pub until: i64,
    /// When this was answered (Unix seconds).
    pub at: i64,
    pub visits: Released,
    pub pageviews: Released,
    /// The most visited pages, named when over the release threshold.
    pub top_pages: Vec<PageVisits>,
    /// Every other page together.
    pub folded: Option<Released>,
}

/// The last five-minute window that is over: what the realtime page polls.
/// Always the whole store, unfiltered, from its own small budget.
#[utoipa::path(
    get,
    path = "/api/v1/realtime",
    tag = "analytics",
    responses(
        (status = 200, description = "The window", body = RealtimeAnswer),
        (status = 400, description = "A filter was given: realtime is always the whole store", body = ApiError),
        (status = 401, description = "No API token or session", body = ApiError),
        (status = 403, description = "Not an analyst, or the realtime budget is spent", body = ApiError),
        (status = 503, description = "ClickHouse or the access audit is unavailable; retry", body = ApiError),
    ),
    security(("api_token" = []), ("session" = []))
)]
pub async fn realtime(State(app): State<Arc<App>>, who: Authorized<AnalystView>, Query(params): Query<Vec<(String, String)>>) -> Response {
    let q = match StatsQuery::from_params(&params, Day::today()) {
        Ok(q) => q,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    if !q.filters.is_empty() {
        return json_error(StatusCode::BAD_REQUEST, "realtime shows the whole store: filters apply to the other views");
    }
    let now = crate::accounts::now_secs();
    let rt = match app.releaser.realtime(&app.clickhouse, &app.dbs.t2, now).await {
        Ok(rt) => rt,
        Err(e) if e.is_refusal() => return json_error(StatusCode::FORBIDDEN, &e.to_string()),
        Err(e) => {
            tracing::error!(error = %e, "realtime query failed");
            return json_error(StatusCode::SERVICE_UNAVAILABLE, "ClickHouse is not reachable; try again shortly");
        }
    };
    if let Err(refused) = app.audited(&who.session, "/api/v1/realtime", &q.to_params(), 2 + rt.pages.rows.len() as u64).await {
        return refused;
    }
    Json(RealtimeAnswer {
        window_secs: crate::release::realtime::WINDOW_SECS,
        from: rt.from,
        until: rt.until,
        at: now,
        visits: (&rt.visits).into(),
        pageviews: (&rt.pageviews).into(),
        top_pages: rt.pages.rows.iter().map(|(page, v)| PageVisits { page: page.clone(), visits: (&v[0]).into() }).collect(),
        folded: rt.pages.other.first().map(Released::from),
    })
    .into_response()
}

/// What the recommendations endpoint takes: a SKU, nothing about a customer.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct RecommendationParams {
    /// The product: 1-64 printable characters.
    #[param(example = "SKU-1001")]
    sku: String,
    /// How many, 1-20 (default 5).
    n: Option<u32>,
}

/// Products bought together with one.
#[derive(Serialize, ToSchema)]
pub struct RecommendationsAnswer {
    pub sku: String,
    /// Best lift first.
    pub recommendations: Vec<Recommendation>,
    /// The days of orders the pairs come from.
    pub window_days: i32,
    /// When the pairs were computed (Unix seconds); refreshed hourly.
    pub computed_at: i64,
}

/// Products bought with `sku`, best lift first, from released pairs held
/// in memory (a lookup, cacheable for 5 minutes). Nothing but `sku` and
/// `n` is accepted: in particular nothing about a customer. A token of
/// scope `recommendations` opens this route and no other.
#[utoipa::path(
    get,
    path = "/api/v1/recommendations",
    tag = "recommendations",
    params(RecommendationParams),
    responses(
        (status = 200, description = "The recommendations (empty when the product has none)", body = RecommendationsAnswer),
        (status = 400, description = "`sku` missing or invalid, `n` out of range, or another parameter given", body = ApiError),
        (status = 401, description = "No API token or session", body = ApiError),
        (status = 403, description = "Not an analyst", body = ApiError),
        (status = 503, description = "Still being computed after a start; retry (`Retry-After`)", body = ApiError),
    ),
    security(("api_token" = []), ("session" = []))
)]
pub async fn recommendations(State(app): State<Arc<App>>, who: Authorized<AnalystView>, Query(params): Query<Vec<(String, String)>>) -> Response {
    let (mut sku, mut n) = (None, 5usize);
    for (k, v) in &params {
        match k.as_str() {
            "sku" if !v.is_empty() && v.len() <= 64 && !v.chars().any(char::is_control) => sku = Some(v.as_str()),
            "sku" => return json_error(StatusCode::BAD_REQUEST, "sku must be 1-64 printable characters"),
            "n" => match v.parse::<usize>() {
                Ok(x) if (1..=crate::recommend::MAX_N).contains(&x) => n = x,
                _ => return json_error(StatusCode::BAD_REQUEST, "n must be 1-20"),
            },
            _ => return json_error(StatusCode::BAD_REQUEST, "only sku and n are accepted: recommendations take no customer input"),
        }
    }
    let Some(sku) = sku else {
        return json_error(StatusCode::BAD_REQUEST, "sku is required");
    };
    let Some(snapshot) = app.recommender.snapshot() else {
        let mut r = json_error(StatusCode::SERVICE_UNAVAILABLE, "recommendations are being computed; retry shortly");
        r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("10"));
        return r;
    };
    let recs: Vec<Recommendation> = snapshot.by_sku.get(sku).map(|v| v.iter().take(n).cloned().collect()).unwrap_or_default();
    app.tally.note(&who.session, "/api/v1/recommendations", recs.len() as u64);
    let mut resp = Json(RecommendationsAnswer {
        sku: sku.to_string(),
        recommendations: recs,
        window_days: crate::release::pairs::BLOCK_DAYS * crate::release::pairs::BLOCKS,
        computed_at: snapshot.computed_at,
    })
    .into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("private, max-age=300"));
    resp
}
