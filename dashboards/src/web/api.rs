//! The same tables for machines: CSV exports (`/export/<table>`) for
//! people with a spreadsheet, JSON (`/api/v1/<table>`) for scripts with an
//! API token. Same queries ([`views::Ctx::table`]), same roles, same audit.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::app::{today, App};
use super::auth::{AnalystView, Authorized};
use super::nav::Section;
use super::view::chrome::chrome;
use super::view::Shown;
use super::page;
use crate::query::StatsQuery;
use crate::views::TableName;

fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
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
    let today = today();
    let q = match StatsQuery::from_params(params, today) {
        Ok(q) => q,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, &e.to_string()),
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
    match format {
        Format::Json => {
            let mut body = table.to_json();
            body["period"] = serde_json::json!({ "from": q.range(today).from.to_string(), "until": q.range(today).until.to_string() });
            body["privacy"] = privacy_json(&ctx);
            Json(body).into_response()
        }
        Format::Csv => {
            let file = format!("attachment; filename=\"mintmark-{}-{}.csv\"", table.name, q.range(today).from);
            ([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, file)], table.to_csv()).into_response()
        }
    }
}

pub async fn export(State(app): State<Arc<App>>, who: Authorized<AnalystView>, Path(name): Path<String>, Query(params): Query<Vec<(String, String)>>) -> Response {
    serve_table(&app, &who, &name, &params, Format::Csv, &format!("/export/{name}")).await
}

pub async fn table(State(app): State<Arc<App>>, who: Authorized<AnalystView>, Path(name): Path<String>, Query(params): Query<Vec<(String, String)>>) -> Response {
    serve_table(&app, &who, &name, &params, Format::Json, &format!("/api/v1/{name}")).await
}

/// What the question cost and what is left, beside every API answer.
fn privacy_json(ctx: &crate::views::Ctx<'_>) -> serde_json::Value {
    let spent = ctx.ask.spent();
    let budget = ctx.releaser.budget(&ctx.ask.account, ctx.q.range(ctx.today)).ok();
    serde_json::json!({
        "account": ctx.ask.account.key(),
        "epsilon_per_day_spent_now": spent.values().next().copied().unwrap_or(0.0),
        "days_charged_now": spent.len(),
        "daily_budget": budget.as_ref().map(|b| b.daily),
        "most_spent_day": budget.as_ref().and_then(|b| b.most()).map(|(d, e)| serde_json::json!({ "day": d.to_string(), "spent": e })),
    })
}

fn noisy_json(n: &crate::release::Noisy) -> serde_json::Value {
    serde_json::json!({ "value": n.json_value(), "error": n.json_error(), "display": n.display() })
}

/// The last five-minute window that is over: what the realtime page polls.
/// Unfiltered, like every realtime view (see [`crate::release::realtime`]).
pub async fn realtime(State(app): State<Arc<App>>, who: Authorized<AnalystView>, Query(params): Query<Vec<(String, String)>>) -> Response {
    let q = match StatsQuery::from_params(&params, today()) {
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
    Json(serde_json::json!({
        "window_secs": crate::release::realtime::WINDOW_SECS,
        "from": rt.from,
        "until": rt.until,
        "at": now,
        "visits": noisy_json(&rt.visits),
        "pageviews": noisy_json(&rt.pageviews),
        "top_pages": rt.pages.rows.iter().map(|(page, v)| serde_json::json!({ "page": page, "visits": noisy_json(&v[0]) })).collect::<Vec<_>>(),
        "folded": rt.pages.other.first().map(noisy_json),
    }))
    .into_response()
}

/// The realtime page: the shared chrome, numbers filled in by
/// `/static/realtime.js`.
pub async fn realtime_page(who: Authorized<AnalystView>, Query(params): Query<Vec<(String, String)>>) -> Response {
    let today = today();
    let q = match StatsQuery::from_params(&params, today) {
        Ok(q) => q,
        Err(e) => return page::error(StatusCode::BAD_REQUEST, "Bad request", &e.to_string()),
    };
    let chrome = chrome(&who.session, &q, today, "/realtime", "Realtime", Some(Section::Realtime));
    page::render(&page::Dashboard {
        chrome,
        shown: Shown::default(),
        error: None,
        realtime: true,
    })
}
