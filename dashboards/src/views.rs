//! Every table the dashboards offer, by name, built from a validated
//! [`StatsQuery`]: the pages, the CSV exports and the JSON API all come
//! through [`table`], so they show the same numbers.

use clickhouse::Client;

use crate::query::{Day, Filter, Interval, Op, Sort, SortBy, StatsQuery};
use crate::release::{seal, Ask, Cube, Groups, Noisy, ReleaseError, ReleasedMetrics, ReleasedSums, ReleasedTable, Releaser, Unit, Unreleased};
use crate::stats::{self, commerce, Metric, Report, Window};
use crate::table::{Cell, Column, Row, Table};

/// A table's name in `/export/<name>` and `/api/v1/<name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableName {
    Top,
    Timeseries,
    Report(Report),
    Funnel,
    Products,
    Sales,
    TierMix,
    BoughtTogether,
    /// Each goal's conversions, conversion rate and revenue.
    Conversions,
}

impl TableName {
    pub fn parse(s: &str) -> Option<TableName> {
        Some(match s {
            "top" => TableName::Top,
            "timeseries" => TableName::Timeseries,
            "funnel" => TableName::Funnel,
            "products" => TableName::Products,
            "sales" => TableName::Sales,
            "tier_mix" => TableName::TierMix,
            "bought_together" => TableName::BoughtTogether,
            "conversions" => TableName::Conversions,
            other => TableName::Report(Report::parse(other)?),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            TableName::Top => "top",
            TableName::Timeseries => "timeseries",
            TableName::Report(r) => r.name(),
            TableName::Funnel => "funnel",
            TableName::Products => "products",
            TableName::Sales => "sales",
            TableName::TierMix => "tier_mix",
            TableName::BoughtTogether => "bought_together",
            TableName::Conversions => "conversions",
        }
    }

    /// Every name, for docs and tests.
    pub fn all() -> Vec<TableName> {
        let mut v = vec![TableName::Top, TableName::Timeseries];
        v.extend(Report::ALL.map(TableName::Report));
        v.extend([TableName::Funnel, TableName::Products, TableName::Sales, TableName::TierMix, TableName::BoughtTogether, TableName::Conversions]);
        v
    }
}

/// What every view reads with.
pub struct Ctx<'a> {
    pub client: &'a Client,
    pub t2: &'a str,
    pub q: &'a StatsQuery,
    pub today: Day,
    /// The release layer, and the question as it sees it (who pays, scope).
    pub releaser: &'a Releaser,
    pub ask: Ask<'a>,
    /// Cross-sell: whether marketplace orders count.
    pub crosssell_marketplace: bool,
    /// Who asks (their budget pays for filtered questions).
    pub user: i64,
}

pub type Result<T> = std::result::Result<T, ViewError>;

/// Why a view has no numbers.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error(transparent)]
    Release(#[from] ReleaseError),
    #[error(transparent)]
    Unreleased(#[from] Unreleased),
}

impl From<clickhouse::error::Error> for ViewError {
    fn from(e: clickhouse::error::Error) -> ViewError {
        ViewError::Release(ReleaseError::ClickHouse(e))
    }
}

impl ViewError {
    /// The budget said no: the user is told why (not an outage).
    pub fn refusal(&self) -> Option<String> {
        match self {
            ViewError::Release(e) if e.is_refusal() => Some(e.to_string()),
            _ => None,
        }
    }
}

/// The metric cells of the period and of the comparison, and the chart's
/// interval.
pub struct Cubes {
    pub interval: Interval,
    pub now: Cube,
    pub before: Option<Cube>,
}

impl Ctx<'_> {
    pub fn window(&self) -> Window {
        self.q.range(self.today).into()
    }

    pub fn compared(&self) -> Option<Window> {
        self.q.comparison_range(self.today).map(Into::into)
    }

    /// The metric cells now and in the comparison period; the hours' cells
    /// too when `chart` is drawn per hour (they are cells of their own, at
    /// their own cost).
    pub async fn cubes(&self, chart: bool) -> Result<Cubes> {
        let interval = self.q.chart_interval(self.today);
        let hourly = chart && interval == Interval::Hour;
        let now = self.releaser.sums(&self.ask, self.q.range(self.today), hourly).await?;
        let before = match self.q.comparison_range(self.today) {
            Some(r) => Some(self.releaser.sums(&self.ask, r, hourly).await?),
            None => None,
        };
        Ok(Cubes { interval, now, before })
    }

    /// The released top metrics now and in the comparison period.
    pub async fn top(&self) -> Result<(ReleasedMetrics, Option<ReleasedMetrics>, Vec<Day>)> {
        let c = self.cubes(false).await?;
        Ok((c.now.total(self.today).metrics(), c.before.as_ref().map(|b| b.total(self.today).metrics()), c.now.pending))
    }

    /// Several reports, each with its share of the period's visits (or,
    /// with a goal's columns asked for, its conversions and revenue).
    pub async fn reports(&self, reports: &[Report], total_visits: Noisy) -> Result<Vec<ReleasedTable>> {
        let range = self.q.range(self.today);
        if let Some(goal) = self.q.goal_columns.as_deref().and_then(|name| self.q.goal(name)) {
            let ask = Ask::with_goal_columns(self.client, self.t2, self.q, goal, self.user, self.today);
            let all = futures_util::future::try_join_all(reports.iter().map(|r| self.releaser.goal_report(&ask, *r, range, goal))).await;
            self.ask.absorb(&ask);
            return reports.iter().zip(all?).map(|(r, g)| Ok(seal(goal_report_table(*r, &g, goal, self.q.sort, self.today))?)).collect();
        }
        let all = futures_util::future::try_join_all(reports.iter().map(|r| self.releaser.report(&self.ask, *r, range))).await?;
        reports.iter().zip(all).map(|(r, g)| Ok(seal(report_table(*r, &g, total_visits, self.q.sort, self.today))?)).collect()
    }

    /// The period's released visits: a breakdown's denominator.
    pub async fn total_visits(&self) -> Result<Noisy> {
        Ok(self.releaser.sums(&self.ask, self.q.range(self.today), false).await?.total(self.today).get("visits"))
    }

    /// Any table by name, released and sealed.
    pub async fn table(&self, name: TableName) -> Result<ReleasedTable> {
        let table = match name {
            TableName::Top => {
                let (now, before, pending) = self.top().await?;
                top_table(&now, before.as_ref(), &pending)
            }
            TableName::Timeseries => {
                let c = self.cubes(true).await?;
                let now = c.now.series(self.window(), c.interval, self.today);
                let before = c.before.as_ref().zip(self.compared()).map(|(b, w)| b.series(w, c.interval, self.today));
                series_table(c.interval, &now, before.as_deref())
            }
            TableName::Report(r) => {
                let total = self.total_visits().await?;
                return Ok(self.reports(&[r], total).await?.remove(0));
            }
            TableName::Funnel => match self.q.chosen_funnel() {
                Some(funnel) => {
                    let range = self.q.range(self.today);
                    let total = self.releaser.sums(&self.ask, range, false).await?;
                    let ask = Ask::with_funnel(self.client, self.t2, self.q, funnel, self.user, self.today);
                    let walked = self.releaser.funnel(&ask, funnel, range).await;
                    self.ask.absorb(&ask);
                    let (steps, pending) = walked?;
                    let mut t = custom_funnel_table(funnel, total.total(self.today).get("visits"), &steps);
                    if let Some(p) = pending_note(&pending, self.today) {
                        t.note = Some(format!("{} {p}", t.note.unwrap_or_default()));
                    }
                    t
                }
                None => funnel_table(&self.releaser.sums(&self.ask, self.q.range(self.today), false).await?.total(self.today)),
            },
            TableName::Products => {
                let (groups, weeks) = self.releaser.products(&self.ask, self.q.range(self.today)).await?;
                products_table(&groups, &weeks, self.q.sort)
            }
            TableName::Sales => sales_table(&self.releaser.sums(&self.ask, self.q.range(self.today), false).await?),
            TableName::TierMix => mix_table(&self.releaser.sums(&self.ask, self.q.range(self.today), false).await?.total(self.today)),
            TableName::BoughtTogether => {
                let pairs = self.releaser.pairs(self.client, self.t2, self.today, self.crosssell_marketplace).await?;
                bought_together_table(&pairs, !self.q.filters.is_empty())
            }
            TableName::Conversions => self.conversions().await?,
        };
        Ok(seal(table)?)
    }
}

impl Ctx<'_> {
    /// Every goal's conversions under this question: the question with the
    /// goal's filter added, released like any filtered question (its
    /// cells name the goal's definition), over the question's visits.
    async fn conversions(&self) -> Result<Table> {
        let range = self.q.range(self.today);
        let total = self.releaser.sums(&self.ask, range, false).await?;
        let (visits, pending) = (total.total(self.today).get("visits"), total.pending.clone());
        let mut t = Table::new(
            "conversions",
            "Goal conversions",
            vec![
                Column::new("Goal", "goal"),
                Column::new("Reached by", "definition"),
                Column::new("Conversions", "conversions"),
                Column::new("Conversion rate", "conversion_rate"),
                Column::new("Revenue", "revenue"),
                Column::new("Revenue per visit", "revenue_per_visit"),
            ],
        );
        let mut refused = None;
        for goal in &self.q.goals {
            let filter = Filter { dimension: crate::query::Dimension::Goal, op: Op::Is, value: goal.name.clone() };
            let q = self.q.with_filter(&filter);
            let ask = Ask::new(self.client, self.t2, &q, self.user, self.today);
            let reached = self.releaser.sums(&ask, range, false).await;
            self.ask.absorb(&ask);
            let mut cells = vec![Cell::Text(goal.name.clone()), Cell::Text(goal.kind.definition())];
            match reached {
                Ok(cube) => {
                    let s = cube.total(self.today);
                    let (n, revenue) = (s.get("visits"), s.get("revenue"));
                    cells.push(Cell::Noisy(n));
                    cells.push(Cell::Noisy(n.ratio(&visits, Unit::Share)));
                    if goal.kind.is_purchase() {
                        cells.push(Cell::Noisy(revenue));
                        cells.push(Cell::Noisy(revenue.ratio(&visits, Unit::Money)));
                    } else {
                        cells.extend([Cell::Text(String::new()), Cell::Text(String::new())]);
                    }
                }
                Err(e) if e.is_refusal() => {
                    refused = Some(e.to_string());
                    cells.extend([Cell::Text("budget spent".into()), Cell::Text(String::new()), Cell::Text(String::new()), Cell::Text(String::new())]);
                }
                Err(e) => return Err(e.into()),
            }
            // A goal leads to the overview of its visits (the goals page
            // under its own filter would draw every goal's cells again).
            let link = format!("/?{}", q.to_params());
            t.rows.push(Row { filter: Some(filter), link: Some(link), ..Row::new(cells) });
        }
        let mut notes = vec![
            "A visit converts when it reached the goal; the rate is over all visits of the question, revenue is what converting visits spent. Numbers carry noise (hover for ±).".to_string(),
        ];
        notes.extend(refused);
        notes.extend(pending_note(&pending, self.today));
        t.note = Some(notes.join(" "));
        Ok(t)
    }
}

/// `1 day`, `3 days`.
fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The label of the folded row.
pub const FOLDED: &str = "other (small groups)";

/// What a table says about days it does not cover yet.
pub fn pending_note(pending: &[Day], today: Day) -> Option<String> {
    match pending {
        [] => None,
        [d] if *d == today => Some("Today is not in these groups yet: a day's groups are released once the day is over.".into()),
        days => Some(format!(
            "{} of the period {} not released yet ({}); a day is released once it is over and rolled up.",
            counted(days.len() as u64, "day", "days"),
            if days.len() == 1 { "is" } else { "are" },
            days.iter().map(|d| if *d == today { "today".to_string() } else { d.to_string() }).collect::<Vec<_>>().join(", ")
        )),
    }
}

fn sort_groups(rows: &mut [(String, Vec<Noisy>)], sort: Sort, hits: usize) {
    rows.sort_by(|a, b| {
        let by = |i: usize| b.1[i].value().total_cmp(&a.1[i].value());
        // Ratios over released visits (the goal columns: 2 conversions, 3 revenue).
        let per_visit = |i: usize| {
            let r = |v: &[Noisy]| v.get(i).map(|x| x.value() / v[0].value().max(1.0)).unwrap_or(0.0);
            r(&b.1).total_cmp(&r(&a.1))
        };
        let order = match sort.by {
            SortBy::Visits => by(0),
            SortBy::Pageviews => by(hits),
            SortBy::Name => a.0.cmp(&b.0).reverse(),
            SortBy::Conversions => by(2),
            SortBy::Revenue => by(3),
            SortBy::ConversionRate => per_visit(2),
            SortBy::RevenuePerVisit => per_visit(3),
        };
        let order = if sort.descending { order } else { order.reverse() };
        order.then_with(|| a.0.cmp(&b.0))
    });
}

pub fn report_table(report: Report, g: &Groups, total_visits: Noisy, sort: Sort, today: Day) -> Table {
    let mut t = Table::new(
        report.name(),
        report.title(),
        vec![
            Column::new(report.key_label(), "name").sorted_by(SortBy::Name),
            Column::new("Visits", "visits").sorted_by(SortBy::Visits),
            Column::new(report.count_label(), "count").sorted_by(SortBy::Pageviews),
            Column::new("Share", "share"),
        ],
    );
    let dim = report.dimension();
    let mut rows = g.released.rows.clone();
    sort_groups(&mut rows, sort, 1);
    let truncated = rows.len() > stats::breakdown::MAX_ROWS as usize;
    for (name, v) in rows.iter().take(stats::breakdown::MAX_ROWS as usize) {
        let shown = if name.is_empty() { report.empty_label().to_string() } else { report.display_key(name) };
        t.rows.push(Row {
            filter: Some(Filter { dimension: dim, op: Op::Is, value: name.clone() }),
            ..Row::new(vec![Cell::Text(shown), Cell::Noisy(v[0]), Cell::Noisy(v[1]), Cell::Noisy(v[0].ratio(&total_visits, Unit::Share))])
        });
    }
    if g.released.cells > 0 {
        let o = &g.released.other;
        // A visit is in one group of a visit-wide value, but in several
        // pages or searches: there the folded row's share would count it
        // several times.
        let share = match report.shape() {
            stats::breakdown::Shape::Column(_) => Cell::Noisy(o[0].ratio(&total_visits, Unit::Share)),
            stats::breakdown::Shape::Array { .. } => Cell::Text(String::new()),
        };
        t.rows.push(Row::folded(vec![Cell::Text(FOLDED.into()), Cell::Noisy(o[0]), Cell::Noisy(o[1]), share]));
    }
    let mut notes = vec![format!(
        "A group is shown for the days on which it had about {} visits or more; the rest of those days are in “{FOLDED}”. Numbers carry noise (hover for ±).",
        g.released.threshold.max(1)
    )];
    if truncated {
        notes.push(format!("Showing the first {} groups.", stats::breakdown::MAX_ROWS));
    }
    notes.extend(pending_note(&g.pending, today));
    t.note = Some(notes.join(" "));
    t
}

/// A report with a goal's columns: visits, conversions, conversion rate,
/// revenue and revenue per visit, sortable by each.
pub fn goal_report_table(report: Report, g: &Groups, goal: &crate::analyst::goals::Goal, sort: Sort, today: Day) -> Table {
    let mut t = Table::new(
        report.name(),
        format!("{} · {}", report.title(), goal.name),
        vec![
            Column::new(report.key_label(), "name").sorted_by(SortBy::Name),
            Column::new("Visits", "visits").sorted_by(SortBy::Visits),
            Column::new("Conversions", "conversions").sorted_by(SortBy::Conversions),
            Column::new("Conversion rate", "conversion_rate").sorted_by(SortBy::ConversionRate),
            Column::new("Revenue", "revenue").sorted_by(SortBy::Revenue),
            Column::new("Revenue per visit", "revenue_per_visit").sorted_by(SortBy::RevenuePerVisit),
        ],
    );
    let dim = report.dimension();
    let mut rows = g.released.rows.clone();
    sort_groups(&mut rows, sort, 1);
    let truncated = rows.len() > stats::breakdown::MAX_ROWS as usize;
    let cells = |v: &[Noisy]| vec![Cell::Noisy(v[0]), Cell::Noisy(v[2]), Cell::Noisy(v[2].ratio(&v[0], Unit::Share)), Cell::Noisy(v[3]), Cell::Noisy(v[3].ratio(&v[0], Unit::Money))];
    for (name, v) in rows.iter().take(stats::breakdown::MAX_ROWS as usize) {
        let shown = if name.is_empty() { report.empty_label().to_string() } else { report.display_key(name) };
        let mut row = vec![Cell::Text(shown)];
        row.extend(cells(v));
        t.rows.push(Row { filter: Some(Filter { dimension: dim, op: Op::Is, value: name.clone() }), ..Row::new(row) });
    }
    if g.released.cells > 0 {
        let mut row = vec![Cell::Text(FOLDED.into())];
        row.extend(cells(&g.released.other));
        t.rows.push(Row::folded(row));
    }
    let mut notes = vec![format!(
        "Conversions are visits that reached “{}” ({}); revenue is what the group's visits spent. A group is shown for the days on which it had about {} visits or more. Numbers carry noise (hover for ±).",
        goal.name,
        goal.kind.definition(),
        g.released.threshold.max(1)
    )];
    if truncated {
        notes.push(format!("Showing the first {} groups.", stats::breakdown::MAX_ROWS));
    }
    notes.extend(pending_note(&g.pending, today));
    t.note = Some(notes.join(" "));
    t
}

/// The relative change, or `None` when there is nothing to compare with.
pub fn change(now: &Noisy, before: &Noisy) -> Option<f64> {
    now.change(before)
}

fn change_cell(now: &Noisy, before: &Noisy) -> Cell {
    Cell::Text(change(now, before).map(|c| format!("{}{:.1} %", if c > 0.0 { "+" } else if c < 0.0 { "−" } else { "" }, (c * 100.0).abs())).unwrap_or_default())
}

pub fn top_table(now: &ReleasedMetrics, before: Option<&ReleasedMetrics>, pending: &[Day]) -> Table {
    let mut t = Table::new("top", "Top metrics", vec![Column::new("Metric", "metric"), Column::new("Value", "value")]);
    if before.is_some() {
        t.columns.push(Column::new("Compared", "compared"));
        t.columns.push(Column::new("Change", "change"));
    }
    for m in Metric::ALL {
        let mut cells = vec![Cell::Text(m.name().into()), Cell::Noisy(now.of(m))];
        if let Some(b) = before {
            cells.push(Cell::Noisy(b.of(m)));
            cells.push(change_cell(&now.of(m), &b.of(m)));
        }
        t.rows.push(Row::new(cells));
    }
    t.note = (!pending.is_empty()).then(|| {
        "Today counts its hours that are over (an hour is released once it is over and rolled up); days not yet rolled up are left out.".to_string()
    });
    t
}

pub fn series_table(i: Interval, now: &[(i64, ReleasedSums)], before: Option<&[(i64, ReleasedSums)]>) -> Table {
    let mut columns = vec![Column::new("Period", "period"), Column::new("Time", "time")];
    columns.extend(Metric::ALL.map(|m| Column::new(m.label(), m.name())));
    let mut t = Table::new("timeseries", "Over time", columns);
    for (label, points) in [("current", Some(now)), ("comparison", before)] {
        for (at, s) in points.unwrap_or_default() {
            let m = s.metrics();
            let mut cells = vec![Cell::Text(label.into()), Cell::Time(*at, i)];
            cells.extend(Metric::ALL.map(|x| Cell::Noisy(m.of(x))));
            t.rows.push(Row::new(cells));
        }
    }
    t
}

pub fn funnel_table(total: &ReleasedSums) -> Table {
    let steps: Vec<(String, Noisy)> = commerce::STEPS.iter().zip(total.funnel()).map(|((_, label), n)| ((*label).to_string(), n)).collect();
    steps_table("Purchase funnel", total.get("visits"), &steps, "A visit reaches a step when it did every step before it, in order, within 24 hours.".into())
}

/// An analyst's funnel: all visits, then each step's visits.
pub fn custom_funnel_table(funnel: &crate::analyst::funnels::Funnel, visits: Noisy, reached: &[Noisy]) -> Table {
    let steps: Vec<(String, Noisy)> = funnel.steps.iter().zip(reached).map(|(s, n)| (s.label(), *n)).collect();
    let hours = funnel.window_secs as f64 / 3600.0;
    let window = if funnel.window_secs % 3600 == 0 { format!("{hours} hour{}", if hours == 1.0 { "" } else { "s" }) } else { format!("{} minutes", funnel.window_secs / 60) };
    let note = format!(
        "A visit reaches a step when it did every step before it, in order (the first such event each time), within {window} of the first step. Numbers carry noise (hover for ±)."
    );
    steps_table(&funnel.name, visits, &steps, note)
}

/// A funnel's table: all visits, then each step with its share of all
/// visits and of the step before.
fn steps_table(title: &str, visits: Noisy, steps: &[(String, Noisy)], note: String) -> Table {
    let mut t = Table::new(
        "funnel",
        title,
        vec![Column::new("Step", "step"), Column::new("Visits", "visits"), Column::new("Of all visits", "share_of_visits"), Column::new("From previous step", "step_conversion")],
    );
    let mut previous = visits;
    t.rows.push(Row::new(vec![Cell::Text("All visits".into()), Cell::Noisy(visits), Cell::Text("100 %".into()), Cell::Text(String::new())]));
    for (label, n) in steps {
        t.rows.push(Row::new(vec![Cell::Text(label.clone()), Cell::Noisy(*n), Cell::Noisy(n.ratio(&visits, Unit::Share)), Cell::Noisy(n.ratio(&previous, Unit::Share))]));
        previous = *n;
    }
    t.note = Some(note);
    t
}

pub fn products_table(g: &Groups, weeks: &[Day], sort: Sort) -> Table {
    let mut t = Table::new(
        "products",
        "Products sold",
        vec![
            Column::new("Product", "sku").sorted_by(SortBy::Name),
            Column::new("Visits", "visits").sorted_by(SortBy::Visits),
            Column::new("Units", "units"),
            Column::new("Revenue", "revenue").sorted_by(SortBy::Pageviews),
        ],
    );
    let mut rows = g.released.rows.clone();
    sort_groups(&mut rows, sort, 2);
    for (sku, v) in rows.iter().take(stats::breakdown::MAX_ROWS as usize) {
        t.rows.push(Row::new(vec![Cell::Text(sku.clone()), Cell::Noisy(v[0]), Cell::Noisy(v[1]), Cell::Noisy(v[2])]));
    }
    if g.released.cells > 0 {
        let o = &g.released.other;
        t.rows.push(Row::folded(vec![Cell::Text(FOLDED.into()), Cell::Noisy(o[0]), Cell::Noisy(o[1]), Cell::Noisy(o[2])]));
    }
    t.note = Some(match (weeks.first(), weeks.last()) {
        (Some(first), Some(last)) => format!(
            "Products are released per week (Monday to Sunday) once the week is over: this covers {} ({first} – {}). A product is shown for the weeks in which about {} visits or more bought it.",
            counted(weeks.len() as u64, "whole week", "whole weeks"),
            Day(last.0 + 6),
            g.released.threshold.max(1)
        ),
        _ => "Products are released per week (Monday to Sunday) once the week is over; this period holds no whole week that is over yet.".into(),
    });
    t
}

pub fn sales_table(c: &Cube) -> Table {
    let mut t = Table::new("sales", "Sales by day", vec![Column::new("Day", "day"), Column::new("Orders", "orders"), Column::new("Revenue", "revenue"), Column::new("Average order", "average_order_value")]);
    for (d, s) in &c.days {
        let (orders, revenue) = (s.get("purchases"), s.get("revenue"));
        t.rows.push(Row::new(vec![Cell::Time(d.start_secs(), Interval::Day), Cell::Noisy(orders), Cell::Noisy(revenue), Cell::Noisy(revenue.ratio(&orders, Unit::Money))]));
    }
    if !c.days.is_empty() {
        let total = ReleasedSums::total(c.days.values());
        let (orders, revenue) = (total.get("purchases"), total.get("revenue"));
        t.rows.push(Row::folded(vec![Cell::Text("Total".into()), Cell::Noisy(orders), Cell::Noisy(revenue), Cell::Noisy(revenue.ratio(&orders, Unit::Money))]));
    }
    t.note = Some(format!(
        "Purchases of the visits in the period, by the day the visit started; each visit counts with at most {} orders and {} of revenue.{}",
        crate::release::caps::PURCHASES,
        crate::release::caps::REVENUE,
        if c.pending.is_empty() { String::new() } else { " Days not over yet are not shown.".into() }
    ));
    t
}

pub fn mix_table(total: &ReleasedSums) -> Table {
    let mut t = Table::new("tier_mix", "Tier mix", vec![Column::new("Tier", "tier"), Column::new("Events", "events"), Column::new("Share", "share")]);
    let parts = [("Anonymous (cookies off)", total.get("anonymous_hits")), ("Tier 2 (session)", total.get("tier2_events")), ("Tier 3 (opted in)", total.get("tier3_events"))];
    let all = Noisy::sum(parts.iter().map(|p| p.1), Unit::Count);
    for (label, n) in parts {
        t.rows.push(Row::new(vec![Cell::Text(label.into()), Cell::Noisy(n), Cell::Noisy(n.ratio(&all, Unit::Share))]));
    }
    t
}

/// Most-lifted pairs shown on a page (the CSV and API have every pair).
pub const PAIR_ROWS: usize = 500;

pub fn bought_together_table(p: &crate::release::pairs::Pairs, filtered: bool) -> Table {
    let mut t = Table::new(
        "bought_together",
        "Bought together",
        vec![
            Column::new("Product", "sku"),
            Column::new("Bought with", "with_sku"),
            Column::new("Orders together", "together"),
            Column::new("Support", "support"),
            Column::new("Confidence", "confidence"),
            Column::new("Lift", "lift"),
        ],
    );
    for pair in p.pairs.iter().take(PAIR_ROWS) {
        t.rows.push(Row::new(vec![
            Cell::Text(pair.sku.clone()),
            Cell::Text(pair.with_sku.clone()),
            Cell::Noisy(pair.together),
            Cell::Noisy(pair.support),
            Cell::Noisy(pair.confidence),
            Cell::Noisy(pair.lift),
        ]));
    }
    let span = match (p.from, p.until) {
        (Some(from), Some(until)) => format!("From store orders placed {from} – {} (placed, not cancelled), released per twelve weeks once they are over", Day(until.0 - 1)),
        _ => "From store orders (placed, not cancelled), released per twelve weeks once they are over".into(),
    };
    let mut note = format!(
        "{span}. A pair is shown for the blocks in which about {} orders or more had it. \
         Confidence is the share of orders with the product that also have the other; lift above 1 means more often together than chance.",
        p.threshold.max(1)
    );
    if filtered {
        note.push_str(" Visit filters and the period do not apply: orders come from the store's backend, not from visits.");
    }
    t.note = Some(note);
    t
}
