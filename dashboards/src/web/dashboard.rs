//! The analysts' pages: one handler shape for every section. Request →
//! [`StatsQuery`] → the section's tables through [`views::Ctx`] → audit →
//! template. A ClickHouse failure still renders the page, saying so.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::app::App;
use super::auth::{AnalystView, Authorized};
use super::nav::Section;
use super::view::chrome::chrome;
use super::view::analyst::{funnel_rows, goal_rows, FunnelsManager, GoalsManager};
use super::view::{budget_line, href, table_view, Card, Choice, Shown};
use crate::analyst::annotations::Annotation;
use crate::analyst::segments::Segment;
use super::{chart, headers, page};
use crate::query::{Day, Interval, StatsQuery};
use crate::release::{Noisy, ReleasedMetrics};
use crate::stats::{Metric, Report};
use crate::views::{self, Ctx, TableName};

/// The breakdowns a section shows as panels.
fn reports(section: Section) -> &'static [Report] {
    match section {
        Section::Overview => &[Report::Pages, Report::Referrers],
        Section::Content => &[Report::Pages, Report::EntryPages, Report::ExitPages, Report::Downloads, Report::Outbound, Report::SiteSearch],
        Section::Acquisition => &[Report::Referrers, Report::UtmSource, Report::UtmMedium, Report::UtmCampaign, Report::UtmTerm, Report::UtmContent],
        Section::Audience => &[Report::Country, Report::Region, Report::Network, Report::Language, Report::TimeZone],
        Section::Technology => &[Report::Device, Report::Os, Report::Browser, Report::Screen, Report::Connection],
        Section::Goals => &[Report::CustomEvents, Report::EventProps],
        Section::Commerce | Section::Funnels | Section::Realtime => &[],
    }
}

/// Rows per panel; the full table is one click away.
const PANEL_ROWS: usize = 10;

fn change_text(now: &Noisy, before: Option<&Noisy>) -> (String, &'static str) {
    match before {
        None => (String::new(), "flat"),
        Some(b) if b.value() == 0.0 && now.value() == 0.0 => ("0 %".into(), "flat"),
        Some(b) => match views::change(now, b) {
            // Nothing to compare with: no direction, no colour.
            None => ("new".into(), "flat"),
            Some(c) => {
                let pct = c * 100.0;
                let trend = if pct > 0.05 { "up" } else if pct < -0.05 { "down" } else { "flat" };
                (format!("{}{:.1} %", if pct > 0.0 { "+" } else if pct < 0.0 { "−" } else { "" }, pct.abs()), trend)
            }
        },
    }
}

fn cards(m: &ReleasedMetrics, c: Option<&ReleasedMetrics>, q: &StatsQuery) -> Vec<Card> {
    Metric::ALL
        .into_iter()
        .map(|metric| {
            let now = m.of(metric);
            let (change, direction) = change_text(&now, c.map(|c| c.of(metric)).as_ref());
            let trend = match (direction, metric.lower_is_better()) {
                ("up", false) | ("down", true) => "good",
                ("down", false) | ("up", true) => "bad",
                _ => "flat",
            };
            let hint = crate::table::Cell::Noisy(now).hint().unwrap_or_default();
            Card { label: metric.label(), value: now.display(), hint, change, trend, href: href("/", &StatsQuery { metric, ..q.clone() }), current: q.metric == metric }
        })
        .collect()
}

async fn gather(ctx: &Ctx<'_>, section: Section, path: &str, today: Day, annotations: &[Annotation]) -> views::Result<Shown> {
    let q = ctx.q;
    let mut shown = Shown::default();
    let reports = reports(section);
    match section {
        Section::Overview => {
            // One set of metric cells gives the chart, the cards and the
            // tier mix: each is a sum of released cells.
            let cubes = ctx.cubes(true).await?;
            let (total_now, total_before) = (cubes.now.total(today), cubes.before.as_ref().map(|b| b.total(today)));
            shown.cards = cards(&total_now.metrics(), total_before.map(|s| s.metrics()).as_ref(), q);
            let mix = crate::release::seal(views::mix_table(&total_now))?;
            let panels = ctx.reports(reports, total_now.get("visits")).await?;
            let window = ctx.window();
            let points = |c: &crate::release::Cube, w: crate::stats::Window| -> Vec<(i64, f64)> {
                c.series(w, cubes.interval, today).iter().map(|(at, s)| (*at, s.metrics().of(q.metric).value())).collect()
            };
            let now = points(&cubes.now, window);
            let before = cubes.before.as_ref().zip(ctx.compared()).map(|(b, w)| points(b, w));
            let marks: Vec<(i64, String)> = annotations.iter().map(|a| (a.day.start_secs(), a.text.clone())).collect();
            shown.chart = chart::svg(q.metric, cubes.interval, &now, before.as_deref(), &marks);
            shown.annotations = annotations.iter().map(|a| (a.day.to_string(), a.text.clone())).collect();
            shown.intervals = Interval::ALL
                .into_iter()
                .filter(|i| *i != Interval::Hour || q.range(today).days() <= 31)
                .map(|i| Choice { label: i.name().into(), href: href("/", &StatsQuery { interval: Some(i), ..q.clone() }), current: i == cubes.interval })
                .collect();
            shown.rows = Metric::ALL.len() as u64 + now.len() as u64 * (1 + u64::from(before.is_some()));
            shown.tables = panels.iter().chain([&mix]).map(|t| table_view(t, q, path, Some(PANEL_ROWS))).collect();
            shown.rows += panels.iter().chain([&mix]).map(|t| t.rows.len() as u64).sum::<u64>();
        }
        Section::Commerce => {
            let (funnel, products, sales, pairs) = tokio::try_join!(
                ctx.table(TableName::Funnel),
                ctx.table(TableName::Products),
                ctx.table(TableName::Sales),
                ctx.table(TableName::BoughtTogether)
            )?;
            shown.rows = [&funnel, &products, &sales, &pairs].iter().map(|t| t.rows.len() as u64).sum();
            shown.tables =
                [(funnel, None), (products, Some(20)), (sales, None), (pairs, Some(20))].iter().map(|(t, limit)| table_view(t, q, path, *limit)).collect();
        }
        Section::Funnels => {
            let funnel = ctx.table(TableName::Funnel).await?;
            shown.rows = funnel.rows.len() as u64;
            shown.tables = vec![table_view(&funnel, q, path, None)];
        }
        Section::Goals => {
            let total = ctx.total_visits().await?;
            let (conversions, panels) = tokio::try_join!(ctx.table(TableName::Conversions), ctx.reports(reports, total))?;
            shown.rows = conversions.rows.len() as u64 + panels.iter().map(|t| t.rows.len() as u64).sum::<u64>();
            shown.tables = [&conversions].into_iter().chain(&panels).map(|t| table_view(t, q, path, Some(PANEL_ROWS))).collect();
        }
        _ => {
            let total = ctx.total_visits().await?;
            let panels = ctx.reports(reports, total).await?;
            shown.rows = panels.iter().map(|t| t.rows.len() as u64).sum();
            shown.tables = panels.iter().map(|t| table_view(t, q, path, Some(PANEL_ROWS))).collect();
        }
    }
    Ok(shown)
}

/// Parses, reads, audits, renders.
async fn render_section(app: &App, who: &Authorized<AnalystView>, params: &[(String, String)], section: Option<Section>, report: Option<Report>) -> Response {
    let today = Day::today();
    let q = match app.stats_query(params, today).await {
        Ok(q) => q,
        Err(e) => return page::error(e.status(), "Bad request", &e.to_string()),
    };
    let ctx = app.ctx(&q, today, who.session.user.id);
    let (path, title) = match (section, report) {
        (Some(s), _) => (s.path().to_string(), s.title().to_string()),
        (None, Some(r)) => (format!("/report/{}", r.name()), r.title().to_string()),
        (None, None) => ("/".into(), "Overview".into()),
    };
    // The filter bar's fields become an `f=` like any other filter: the
    // address to bookmark and share is that one.
    if params.iter().any(|(k, _)| k == "fd" || k == "fo" || k == "fv") {
        return axum::response::Redirect::to(&href(&path, &q)).into_response();
    }
    // What the chart marks, and the segments the filter bar offers.
    let range = q.range(today);
    let (annotations, segments) = match tokio::try_join!(super::analyst::annotations(app, range.from, range.until), super::analyst::segments(app, &who.session)) {
        Ok(both) => both,
        Err(f) => return page::error(f.status, "Unavailable", &f.message),
    };
    let result = match (section, report) {
        (Some(s), _) => gather(&ctx, s, &path, today, &annotations).await,
        (None, Some(r)) => ctx
            .table(TableName::Report(r))
            .await
            .map(|t| Shown { rows: t.rows.len() as u64, tables: vec![table_view(&t, &q, &path, None)], ..Shown::default() }),
        (None, None) => unreachable!("a page is a section or a report"),
    };
    // The budget said no: the page says why, with no numbers.
    let result = match result {
        Err(e) if e.refusal().is_some() => Ok(Shown { refused: e.refusal(), ..Shown::default() }),
        other => other,
    };
    let result = result.map(|mut shown| {
        shown.budget = budget_line(&ctx);
        shown.segments = segment_choices(&segments, &q, &path);
        shown.breakdowns = report.is_some() || section.is_some_and(|s| !reports(s).is_empty());
        shown.save_segment = q.filters.iter().map(|f| format!("{}:{}:{}", f.dimension.name(), f.op.name(), f.value)).collect();
        if section == Some(Section::Funnels) {
            let link = |name: Option<&str>| href(&path, &StatsQuery { funnel: name.map(String::from), ..q.clone() });
            let (rows, default_href) = funnel_rows(&q.funnels, q.funnel.as_deref(), link);
            shown.funnels = Some(FunnelsManager { rows, default_href, default_current: q.funnel.is_none(), back: href(&path, &q), blank: (1..=crate::analyst::funnels::MAX_STEPS).collect() });
        }
        if section == Some(Section::Goals) {
            shown.goals = Some(GoalsManager { rows: goal_rows(&q.goals), can_edit: app.config.dashboards.goal_editors != "admin" || who.session.user.roles.has(crate::roles::Role::Admin), back: href(&path, &q) });
        }
        shown
    });
    if let Ok(shown) = &result {
        if let Err(refused) = app.audited(&who.session, &path, &q.to_params(), shown.rows).await {
            return refused;
        }
    }
    let chrome = chrome(&who.session, &q, today, &path, &title, section);
    match result {
        Ok(shown) if shown.refused.is_some() => {
            let mut resp = page::render(&page::Dashboard { chrome, shown, error: None, realtime: false });
            *resp.status_mut() = StatusCode::FORBIDDEN;
            resp
        }
        Ok(shown) => page::render(&page::Dashboard { chrome, shown, error: None, realtime: section == Some(Section::Realtime) }),
        Err(e) => {
            // The detail (ClickHouse's own text) goes to the log only.
            tracing::error!(error = %e, "dashboard query failed");
            let mut resp = page::render(&page::Dashboard {
                chrome,
                shown: Shown::default(),
                error: Some(headers::request_id()),
                realtime: false,
            });
            *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            resp
        }
    }
}

/// Links applying each saved segment to the page: the period kept, the
/// filters the segment's.
fn segment_choices(segments: &[Segment], q: &StatsQuery, path: &str) -> Vec<Choice> {
    segments
        .iter()
        .filter_map(|s| {
            let filters = s.filters.iter().map(|f| crate::query::parse_filter(f).ok()).collect::<Option<Vec<_>>>()?;
            let current = filters == q.filters;
            Some(Choice { label: s.name.clone(), href: href(path, &StatsQuery { filters, ..q.clone() }), current })
        })
        .collect()
}

macro_rules! section_handler {
    ($name:ident, $section:expr) => {
        pub async fn $name(State(app): State<Arc<App>>, who: Authorized<AnalystView>, Query(params): Query<Vec<(String, String)>>) -> Response {
            render_section(&app, &who, &params, Some($section), None).await
        }
    };
}

section_handler!(overview, Section::Overview);
section_handler!(content, Section::Content);
section_handler!(acquisition, Section::Acquisition);
section_handler!(audience, Section::Audience);
section_handler!(technology, Section::Technology);
section_handler!(commerce, Section::Commerce);
section_handler!(goals, Section::Goals);
section_handler!(funnels, Section::Funnels);

/// One breakdown in full: every named group (up to the cap), sortable.
pub async fn report(State(app): State<Arc<App>>, who: Authorized<AnalystView>, Path(name): Path<String>, Query(params): Query<Vec<(String, String)>>) -> Response {
    match Report::parse(&name) {
        Some(r) => render_section(&app, &who, &params, None, Some(r)).await,
        None => page::error(StatusCode::NOT_FOUND, "No such report", "That breakdown does not exist."),
    }
}

/// The realtime page: the shared chrome, numbers filled in by
/// `/static/realtime.js`.
pub async fn realtime_page(who: Authorized<AnalystView>, Query(params): Query<Vec<(String, String)>>) -> Response {
    let today = Day::today();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_read_well() {
        let exact = |visits: u64, bounces: u64| {
            let s = crate::stats::metrics::Sums { visits, bounces, ..Default::default() };
            crate::release::ReleasedSums::total([&crate::release::metrics::for_tests(&s)]).metrics()
        };
        let (now, before) = (exact(110, 55), exact(100, 25));
        assert_eq!(change_text(&now.of(Metric::Visits), Some(&before.of(Metric::Visits))), ("+10.0 %".into(), "up"));
        assert_eq!(change_text(&before.of(Metric::Visits), Some(&now.of(Metric::Visits))), ("−9.1 %".into(), "down"));
        assert_eq!(change_text(&now.of(Metric::Visits), Some(&exact(0, 0).of(Metric::Visits))), ("new".into(), "flat"));
        assert_eq!(change_text(&now.of(Metric::Visits), None), (String::new(), "flat"));
        let q = StatsQuery::from_params(&[], Day(20_000)).unwrap();
        let c = cards(&now, Some(&before), &q);
        assert_eq!((c[0].label, c[0].trend, c[0].value.as_str()), ("Visits", "good", "110"));
        assert_eq!((c[3].label, c[3].trend), ("Bounce rate", "bad"));
    }
}
