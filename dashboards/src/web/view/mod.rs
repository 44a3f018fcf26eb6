//! What the pages show, as plain structs the templates read: built here
//! from domain types (released tables, Tier 3 tables, the question), so
//! the templates never see a domain type and the handlers never format.

pub mod account;
pub mod alerts;
pub mod analyst;
pub mod chrome;
pub mod marketing;
pub mod privacy;

use crate::query::{Day, SortBy, StatsQuery};
use crate::release::ReleasedTable;
use crate::stats::Report;
use crate::table::Table;
use crate::tier3::{CustomerSort, MarketingQuery};
use crate::views::Ctx;

/// A link in a segmented control.
pub struct Choice {
    pub label: String,
    pub href: String,
    pub current: bool,
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

/// A page's "n–m of k" with its links.
pub struct Pager {
    pub text: String,
    pub prev: Option<String>,
    pub next: Option<String>,
}

/// `path` with the question `q` as its query string.
pub fn href(path: &str, q: &StatsQuery) -> String {
    link(path, q.to_params())
}

/// `path`, with `params` as its query string when there are any.
fn link(path: &str, params: String) -> String {
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

/// `path` with the marketing question `q` as its query string.
pub fn marketing_href(path: &str, q: &MarketingQuery) -> String {
    link(path, q.to_params())
}

/// A table that is not a Tier 2 release (Tier 3, the ledgers) as the
/// template shows it; `sorting` makes the customer list's headers links.
pub fn plain_table(t: &Table, csv: String, sorting: Option<(&str, &MarketingQuery)>) -> TableView {
    let headers = t
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let sort = sorting.and_then(|(path, q)| CustomerSort::ALL.into_iter().find(|s| s.name() == c.key).map(|s| (path, q, s)));
            let (href, sorted) = match sort {
                Some((path, q, s)) => {
                    let current = q.sort == s;
                    let descending = if current { !q.descending } else { s != CustomerSort::Customer };
                    let link = marketing_href(path, &MarketingQuery { sort: s, descending, page: 1, ..q.clone() });
                    (Some(link), if current { if q.descending { "descending" } else { "ascending" } } else { "" })
                }
                None => (None, ""),
            };
            Header { label: c.label, key: c.key, numeric: numeric_column(t, i), href, sorted }
        })
        .collect();
    let rows = t
        .rows
        .iter()
        .map(|r| RowView {
            cells: cells(t, r),
            href: r.link.clone(),
            folded: r.folded,
        })
        .collect();
    let empty = if t.name.starts_with("customer_") { "Nothing recorded." } else { "Nothing in this period." };
    TableView { name: t.name, title: t.title.clone(), headers, rows, note: t.note.clone(), csv, more: None, empty }
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
    /// The goals' forms (the goals page).
    pub goals: Option<analyst::GoalsManager>,
    /// The funnels' list and forms (the funnels page).
    pub funnels: Option<analyst::FunnelsManager>,
    /// The annotations of the chart's period: `(day, text)`.
    pub annotations: Vec<(String, String)>,
    /// The saved segments the user may apply, as links keeping the period.
    pub segments: Vec<Choice>,
    /// The current filters, when they can be saved as a segment.
    pub save_segment: Vec<String>,
    /// The page shows breakdowns (so a goal's columns can be picked).
    pub breakdowns: bool,
}

/// The budget line of a question `ctx` answered.
pub fn budget_line(ctx: &Ctx<'_>) -> Option<String> {
    let payer = ctx.ask.payer();
    let shared = payer == crate::release::Account::Shared;
    let spent = ctx.ask.spent();
    let budget = ctx.releaser.budget(&payer, ctx.q.range(ctx.today)).ok()?;
    let line = BudgetLine {
        shared,
        spent_now: spent.values().next().map(|eps| (*eps, spent.len())),
        most: budget.most(),
        daily: budget.daily,
        per_cell: budget.per_cell,
    };
    Some(line.text())
}
