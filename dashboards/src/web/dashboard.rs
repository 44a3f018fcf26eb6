//! The analysts' pages: one handler shape for every section. Request →
//! [`StatsQuery`] → the section's tables through [`views::Ctx`] → audit →
//! template. A ClickHouse failure still renders the page, saying so.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::auth::{AnalystView, Authorized};
use super::{chart, page, App};
use crate::query::{Comparison, Day, Dimension, Interval, Period, SortBy, StatsQuery};
use crate::release::{Noisy, ReleasedMetrics, ReleasedTable};
use crate::stats::{Metric, Report};
use crate::table::Table;
use crate::views::{self, Ctx, TableName};

/// A group of views with its own page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Overview,
    Content,
    Acquisition,
    Audience,
    Technology,
    Commerce,
    Realtime,
}

impl Section {
    pub const ALL: [Section; 7] =
        [Section::Overview, Section::Content, Section::Acquisition, Section::Audience, Section::Technology, Section::Commerce, Section::Realtime];

    pub fn path(self) -> &'static str {
        match self {
            Section::Overview => "/",
            Section::Content => "/content",
            Section::Acquisition => "/acquisition",
            Section::Audience => "/audience",
            Section::Technology => "/technology",
            Section::Commerce => "/commerce",
            Section::Realtime => "/realtime",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Section::Overview => "Overview",
            Section::Content => "Content",
            Section::Acquisition => "Acquisition",
            Section::Audience => "Audience",
            Section::Technology => "Technology",
            Section::Commerce => "Commerce",
            Section::Realtime => "Realtime",
        }
    }

    /// The breakdowns shown as panels.
    fn reports(self) -> &'static [Report] {
        match self {
            Section::Overview => &[Report::Pages, Report::Referrers],
            Section::Content => &[Report::Pages, Report::EntryPages, Report::ExitPages, Report::Downloads, Report::Outbound, Report::SiteSearch],
            Section::Acquisition => &[Report::Referrers, Report::UtmSource, Report::UtmMedium, Report::UtmCampaign],
            Section::Audience => &[Report::Country, Report::Region, Report::Network, Report::Language, Report::TimeZone],
            Section::Technology => &[Report::Device, Report::Os, Report::Browser, Report::Screen, Report::Connection],
            Section::Commerce | Section::Realtime => &[],
        }
    }
}

/// Rows per panel; the full table is one click away.
const PANEL_ROWS: usize = 10;

/// A link in a segmented control.
pub struct Choice {
    pub label: String,
    pub href: String,
    pub current: bool,
}

pub struct Chip {
    pub text: String,
    pub remove: String,
}

/// One metric card.
pub struct Card {
    pub label: &'static str,
    pub value: String,
    /// The value's ± (a released number), for its tooltip.
    pub hint: String,
    /// `+12.5 %`, `−3.0 %`, `new`, or empty without a comparison.
    pub change: String,
    /// `good`, `bad` or `flat`, for the colour: a rising bounce rate is bad.
    pub trend: &'static str,
    /// Plots this metric.
    pub href: String,
    pub current: bool,
}

pub struct Header {
    pub label: &'static str,
    /// The column's key, as a class (`col-share`), so narrow screens can
    /// drop secondary columns.
    pub key: &'static str,
    pub numeric: bool,
    /// Sorts by this column (toggling direction when it is the current one).
    pub href: Option<String>,
    /// `ascending` / `descending` when the table is sorted by it.
    pub sorted: &'static str,
}

pub struct RowView {
    /// `(text, numeric, column key, ± of a released number or "")`.
    pub cells: Vec<(String, bool, &'static str, String)>,
    /// Filters the dashboard by this row.
    pub href: Option<String>,
    pub folded: bool,
}

pub struct TableView {
    pub name: &'static str,
    pub title: String,
    pub headers: Vec<Header>,
    pub rows: Vec<RowView>,
    pub note: Option<String>,
    pub csv: String,
    /// The full table, when the panel shows part of it.
    pub more: Option<String>,
    /// What an empty table says.
    pub empty: &'static str,
}

fn href(path: &str, q: &StatsQuery) -> String {
    let params = q.to_params();
    if params.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{params}")
    }
}

/// Column `i` is right-aligned: a number, and not the label column.
pub fn numeric_column(t: &Table, i: usize) -> bool {
    i > 0 && t.rows.first().is_some_and(|r| r.cells.get(i).is_some_and(|c| c.numeric()))
}

/// A row's cells as the template shows them: `(text, numeric, column key, ±)`.
pub fn cells(t: &Table, r: &crate::table::Row) -> Vec<(String, bool, &'static str, String)> {
    r.cells.iter().zip(&t.columns).map(|(c, col)| (c.display(), c.numeric(), col.key, c.hint().unwrap_or_default())).collect()
}

/// `t` as the template shows it, the first `limit` rows (the folded row
/// always kept), links keeping the rest of the state. Tier 2 tables only:
/// released and sealed.
pub fn table_view(t: &ReleasedTable, q: &StatsQuery, path: &str, limit: Option<usize>) -> TableView {
    let t: &Table = t;
    let headers = t
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let current = c.sort == Some(q.sort.by);
            let href = c.sort.map(|by| {
                let descending = if current { !q.sort.descending } else { by != SortBy::Name };
                href(path, &StatsQuery { sort: crate::query::Sort { by, descending }, ..q.clone() })
            });
            let sorted = match (current, q.sort.descending) {
                (true, true) => "descending",
                (true, false) => "ascending",
                _ => "",
            };
            Header { label: c.label, key: c.key, numeric: numeric_column(t, i), href, sorted }
        })
        .collect();
    let (named_rows, folded): (Vec<&crate::table::Row>, Vec<&crate::table::Row>) = t.rows.iter().partition(|r| !r.folded);
    let named = named_rows.len();
    let rows = named_rows
        .into_iter()
        .take(limit.unwrap_or(usize::MAX))
        .chain(folded)
        .map(|r| RowView {
            cells: cells(t, r),
            href: r.link.clone().or_else(|| r.filter.as_ref().map(|f| href(path, &q.with_filter(f)))),
            folded: r.folded,
        })
        .collect();
    TableView {
        name: t.name,
        title: t.title.clone(),
        headers,
        rows,
        note: t.note.clone(),
        csv: href(&format!("/export/{}", t.name), q),
        // Reports have a page of their own; other tables have their CSV.
        more: (limit.is_some_and(|l| named > l) && Report::parse(t.name).is_some()).then(|| href(&format!("/report/{}", t.name), q)),
        empty: "Nothing in this period.",
    }
}

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

/// What a page's numbers cost, and what is left: said on every page.
pub struct BudgetLine {
    /// Unfiltered: released once for everyone, free to read.
    pub shared: bool,
    /// What this request spent (new releases): `(ε per day, days)`.
    pub spent_now: Option<(f64, usize)>,
    /// The most the analyst has spent on one day of the period, that day,
    /// and their daily budget.
    pub most: Option<(Day, f64)>,
    pub daily: f64,
    pub per_cell: f64,
}

impl BudgetLine {
    pub fn text(&self) -> String {
        if self.shared {
            return "Unfiltered numbers are released once for everyone and cost you nothing to read. Filtered questions spend your privacy budget.".into();
        }
        let now = match self.spent_now {
            Some((eps, days)) => format!("This question spent ε {eps:.2} on each of {days} day{} that had no answer for it yet. ", if days == 1 { "" } else { "s" }),
            None => "This question was answered before: asking again costs nothing. ".into(),
        };
        let left = match self.most {
            Some((day, spent)) => format!("Your budget: ε {:.2} of {:.2} left on {day}, the period's most used day.", (self.daily - spent).max(0.0), self.daily),
            None => format!("Your budget: ε {:.2} per day, none used in this period.", self.daily),
        };
        format!("{now}{left} A new filtered question costs ε {:.2} per day it covers.", self.per_cell)
    }
}

/// Everything a dashboard page shows.
#[derive(Default)]
pub struct Shown {
    pub cards: Vec<Card>,
    pub chart: Option<String>,
    pub intervals: Vec<Choice>,
    pub tables: Vec<TableView>,
    /// Rows read, for the audit.
    pub rows: u64,
    /// The budget line under the filter bar.
    pub budget: Option<String>,
    /// Why the page has no numbers although ClickHouse answered: the
    /// budget refused the question.
    pub refused: Option<String>,
}

async fn gather(ctx: &Ctx<'_>, section: Section, path: &str, today: Day) -> views::Result<Shown> {
    let q = ctx.q;
    let mut shown = Shown::default();
    let reports = section.reports();
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
            shown.chart = chart::svg(q.metric, cubes.interval, &now, before.as_deref());
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
        _ => {
            let total = ctx.total_visits().await?;
            let panels = ctx.reports(reports, total).await?;
            shown.rows = panels.iter().map(|t| t.rows.len() as u64).sum();
            shown.tables = panels.iter().map(|t| table_view(t, q, path, Some(PANEL_ROWS))).collect();
        }
    }
    Ok(shown)
}

/// The budget line of a question `ctx` answered.
pub fn budget_line(ctx: &Ctx<'_>) -> Option<String> {
    let shared = ctx.ask.account == crate::release::Account::Shared;
    let spent = ctx.ask.spent();
    let budget = ctx.releaser.budget(&ctx.ask.account, ctx.q.range(ctx.today)).ok()?;
    let line = BudgetLine {
        shared,
        spent_now: spent.values().next().map(|eps| (*eps, spent.len())),
        most: budget.most(),
        daily: budget.daily,
        per_cell: budget.per_cell,
    };
    Some(line.text())
}

/// The controls and chrome every dashboard page shares.
pub struct Chrome {
    pub user: String,
    pub roles: String,
    pub csrf: String,
    pub admin: bool,
    pub nav: Vec<Choice>,
    pub title: String,
    pub span: String,
    pub compared: String,
    pub periods: Vec<Choice>,
    pub comparisons: Vec<Choice>,
    pub chips: Vec<Chip>,
    /// The current state as hidden fields of the filter bar.
    pub hidden: Vec<(String, String)>,
    /// The current state as a query string.
    pub params: String,
    pub dimensions: Vec<&'static str>,
    pub action: String,
}

pub fn chrome(who: &crate::sessions::LoginSession, q: &StatsQuery, today: Day, path: &str, title: &str, current: Option<Section>) -> Chrome {
    let range = q.range(today);
    let periods = [(Period::Today, "Today"), (Period::Last7, "7 days"), (Period::Last30, "30 days"), (Period::Month, "This month")]
        .into_iter()
        .map(|(p, label)| Choice { label: label.into(), href: href(path, &StatsQuery { period: p, interval: None, ..q.clone() }), current: q.period == p })
        .collect();
    let comparisons = [(Comparison::None, "No comparison"), (Comparison::Previous, "Previous period"), (Comparison::PreviousYear, "Year before")]
        .into_iter()
        .map(|(c, label)| Choice { label: label.into(), href: href(path, &StatsQuery { comparison: c, ..q.clone() }), current: q.comparison == c })
        .collect();
    let chips = q
        .filters
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut without = q.clone();
            without.filters.remove(i);
            Chip { text: format!("{} {} {}", f.dimension.name(), f.op.label(), f.value), remove: href(path, &without) }
        })
        .collect();
    // Each user sees the sections their roles open, nothing they would be refused.
    let roles = who.user.roles;
    let mut nav: Vec<Choice> = Vec::new();
    if roles.allow(crate::roles::Role::Analyst) {
        nav.extend(Section::ALL.into_iter().map(|s| Choice { label: s.title().into(), href: href(s.path(), q), current: Some(s) == current }));
    }
    let pages = |list: &[(&'static str, &'static str)]| -> Vec<Choice> {
        list.iter().map(|(p, label)| Choice { label: (*label).into(), href: (*p).into(), current: *p == path }).collect()
    };
    if roles.has(crate::roles::Role::Marketing) {
        nav.extend(pages(&super::marketing::PAGES));
    }
    if roles.has(crate::roles::Role::PrivacyOfficer) {
        nav.extend(pages(&super::privacy::PAGES));
    }
    Chrome {
        user: who.user.name.clone(),
        roles: who.user.roles.to_string(),
        csrf: who.csrf.clone(),
        admin: who.user.roles.has(crate::roles::Role::Admin),
        nav,
        title: title.to_string(),
        span: format!("{} – {}", range.from, Day(range.until.0 - 1)),
        compared: q.comparison_range(today).map(|r| format!("compared with {} – {}", r.from, Day(r.until.0 - 1))).unwrap_or_default(),
        periods,
        comparisons,
        chips,
        hidden: form_urlencoded::parse(q.to_params().as_bytes()).into_owned().collect(),
        params: q.to_params(),
        dimensions: Dimension::ALL.iter().map(|d| d.name()).collect(),
        action: path.to_string(),
    }
}

pub fn today() -> Day {
    Day::from_unix(crate::accounts::now_secs())
}

/// Parses, reads, audits, renders.
async fn render_section(app: &App, who: &Authorized<AnalystView>, params: &[(String, String)], section: Option<Section>, report: Option<Report>) -> Response {
    let today = today();
    let q = match StatsQuery::from_params(params, today) {
        Ok(q) => q,
        Err(e) => return page::error(StatusCode::BAD_REQUEST, "Bad request", &e.to_string()),
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
    let result = match (section, report) {
        (Some(s), _) => gather(&ctx, s, &path, today).await,
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
                error: Some(super::request_id()),
                realtime: false,
            });
            *resp.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            resp
        }
    }
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

/// One breakdown in full: every named group (up to the cap), sortable.
pub async fn report(State(app): State<Arc<App>>, who: Authorized<AnalystView>, Path(name): Path<String>, Query(params): Query<Vec<(String, String)>>) -> Response {
    match Report::parse(&name) {
        Some(r) => render_section(&app, &who, &params, None, Some(r)).await,
        None => page::error(StatusCode::NOT_FOUND, "No such report", "That breakdown does not exist."),
    }
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
