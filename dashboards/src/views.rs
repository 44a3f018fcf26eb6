//! Every table the dashboards offer, by name, built from a validated
//! [`StatsQuery`]: the pages, the CSV exports and the JSON API all come
//! through [`table`], so they show the same numbers.

use clickhouse::Client;

use crate::query::{Day, Filter, Interval, Op, SortBy, StatsQuery, Where};
use crate::stats::{self, commerce, metrics, mix, Breakdown, Metric, Report, TopMetrics, Window};
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
        }
    }

    /// Every name, for docs and tests.
    pub fn all() -> Vec<TableName> {
        let mut v = vec![TableName::Top, TableName::Timeseries];
        v.extend(Report::ALL.map(TableName::Report));
        v.extend([TableName::Funnel, TableName::Products, TableName::Sales, TableName::TierMix, TableName::BoughtTogether]);
        v
    }
}

/// What every view reads with.
pub struct Ctx<'a> {
    pub client: &'a Client,
    pub t2: &'a str,
    pub q: &'a StatsQuery,
    pub today: Day,
    pub min_visits: u32,
    /// Cross-sell: the smallest pair served, and whether marketplace orders count.
    pub min_orders: u32,
    pub crosssell_marketplace: bool,
}

pub type Result<T> = std::result::Result<T, clickhouse::error::Error>;

impl Ctx<'_> {
    pub fn window(&self) -> Window {
        self.q.range(self.today).into()
    }

    pub fn compared(&self) -> Option<Window> {
        self.q.comparison_range(self.today).map(Into::into)
    }

    /// The filters over the visits rollup (every view but the purchase tables).
    pub fn filters(&self) -> Where {
        self.q.visit_filter_sql()
    }

    /// The filters over raw events (products and sales).
    pub fn event_filters(&self) -> Where {
        self.q.filter_sql()
    }

    /// The top metrics now and in the comparison period.
    pub async fn top(&self) -> Result<(TopMetrics, Option<TopMetrics>)> {
        let f = self.filters();
        let now = stats::top_metrics(self.client, self.t2, self.window(), &f);
        match self.compared() {
            None => Ok((now.await?, None)),
            Some(c) => {
                let (a, b) = tokio::try_join!(now, stats::top_metrics(self.client, self.t2, c, &f))?;
                Ok((a, Some(b)))
            }
        }
    }

    /// The chart's points now and in the comparison period (same length).
    pub async fn series(&self) -> Result<(Interval, Vec<stats::Point>, Option<Vec<stats::Point>>)> {
        let (f, i) = (self.filters(), self.q.chart_interval(self.today));
        let now = stats::series(self.client, self.t2, self.window(), &f, i);
        match self.compared() {
            None => Ok((i, now.await?, None)),
            Some(c) => {
                let (a, b) = tokio::try_join!(now, stats::series(self.client, self.t2, c, &f, i))?;
                Ok((i, a, Some(b)))
            }
        }
    }

    pub async fn total_visits(&self) -> Result<u64> {
        metrics::visits(self.client, self.t2, self.window(), &self.filters()).await
    }

    /// Several reports in one read.
    pub async fn breakdowns(&self, reports: &[Report]) -> Result<Vec<Breakdown>> {
        stats::breakdown::breakdowns(self.client, self.t2, reports, self.window(), &self.filters(), self.min_visits, self.q.sort).await
    }

    /// `report` with its share of `total_visits`.
    pub async fn report(&self, report: Report, total_visits: u64) -> Result<Table> {
        let b = stats::breakdown(self.client, self.t2, report, self.window(), &self.filters(), self.min_visits, self.q.sort).await?;
        Ok(report_table(report, &b, total_visits, self.min_visits))
    }

    /// Any table by name.
    pub async fn table(&self, name: TableName) -> Result<Table> {
        let (w, f) = (self.window(), self.filters());
        match name {
            TableName::Top => Ok(top_table(&self.top().await?)),
            TableName::Timeseries => {
                let (i, now, before) = self.series().await?;
                Ok(series_table(i, &now, before.as_deref()))
            }
            TableName::Report(r) => {
                let total = self.total_visits().await?;
                self.report(r, total).await
            }
            TableName::Funnel => Ok(funnel_table(&commerce::funnel(self.client, self.t2, w, &f).await?)),
            TableName::Products => {
                let f = self.event_filters();
                let (rows, other) = commerce::products(self.client, self.t2, w, &f, self.min_visits, self.q.sort).await?;
                Ok(products_table(&rows, other.as_ref(), self.min_visits))
            }
            TableName::Sales => {
                let f = self.event_filters();
                let (days, currencies) = tokio::try_join!(commerce::sales_by_day(self.client, self.t2, w, &f), commerce::currencies(self.client, self.t2, w, &f))?;
                Ok(sales_table(&days, &currencies))
            }
            TableName::TierMix => Ok(mix_table(&mix::tier_mix(self.client, self.t2, w, &f).await?)),
            TableName::BoughtTogether => {
                let pairs = stats::crosssell::pairs(self.client, self.t2, w, self.crosssell_marketplace, self.min_orders).await?;
                Ok(bought_together_table(&pairs, self.min_orders, !f.is_empty()))
            }
        }
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// `1 group`, `3 groups`.
fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The label of the folded row.
pub const FOLDED: &str = "other (small groups)";

pub fn report_table(report: Report, b: &Breakdown, total_visits: u64, min_visits: u32) -> Table {
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
    for g in &b.rows {
        let shown = if g.name.is_empty() { report.empty_label().to_string() } else { g.name.clone() };
        t.rows.push(Row {
            filter: Some(Filter { dimension: dim, op: Op::Is, value: g.name.clone() }),
            ..Row::new(vec![Cell::Text(shown), Cell::Count(g.visits), Cell::Count(g.hits), Cell::Share(ratio(g.visits, total_visits))])
        });
    }
    if let Some(o) = &b.other {
        t.rows.push(Row::folded(vec![Cell::Text(FOLDED.into()), Cell::Count(o.visits), Cell::Count(o.hits), Cell::Share(ratio(o.visits, total_visits).min(1.0))]));
        t.note = Some(format!("{} with fewer than {min_visits} visits each {} folded into “{FOLDED}”.", counted(o.groups, "group", "groups"), if o.groups == 1 { "is" } else { "are" }));
    }
    if b.truncated {
        let more = format!("Showing the first {} groups.", stats::breakdown::MAX_ROWS);
        t.note = Some(t.note.map_or(more.clone(), |n| format!("{n} {more}")));
    }
    t
}

/// A metric's value as the cell it is shown in.
pub fn metric_cell(m: Metric, v: f64) -> Cell {
    match m {
        Metric::Visits | Metric::Pageviews | Metric::AnonymousHits => Cell::Count(v as u64),
        Metric::BounceRate | Metric::Conversion => Cell::Share(v),
        Metric::Duration => Cell::Duration(v),
        Metric::PagesPerVisit => Cell::Decimal(v),
        Metric::Revenue => Cell::Money(v),
    }
}

/// The relative change, or `None` when there is nothing to compare with.
pub fn change(now: f64, before: f64) -> Option<f64> {
    (before != 0.0).then(|| (now - before) / before)
}

pub fn top_table((now, before): &(TopMetrics, Option<TopMetrics>)) -> Table {
    let mut t = Table::new("top", "Top metrics", vec![Column::new("Metric", "metric"), Column::new("Value", "value")]);
    if before.is_some() {
        t.columns.push(Column::new("Compared", "compared"));
        t.columns.push(Column::new("Change", "change"));
    }
    for m in Metric::ALL {
        let mut cells = vec![Cell::Text(m.name().into()), metric_cell(m, m.of(now))];
        if let Some(b) = before {
            cells.push(metric_cell(m, m.of(b)));
            cells.push(change(m.of(now), m.of(b)).map_or(Cell::Text(String::new()), Cell::Share));
        }
        t.rows.push(Row::new(cells));
    }
    t
}

pub fn series_table(i: Interval, now: &[stats::Point], before: Option<&[stats::Point]>) -> Table {
    let mut columns = vec![Column::new("Period", "period"), Column::new("Time", "time")];
    columns.extend(Metric::ALL.map(|m| Column::new(m.label(), m.name())));
    let mut t = Table::new("timeseries", "Over time", columns);
    for (label, points) in [("current", Some(now)), ("comparison", before)] {
        for p in points.unwrap_or_default() {
            let mut cells = vec![Cell::Text(label.into()), Cell::Time(p.at, i)];
            cells.extend(Metric::ALL.map(|m| metric_cell(m, m.of(&p.metrics()))));
            t.rows.push(Row::new(cells));
        }
    }
    t
}

pub fn funnel_table(f: &commerce::Funnel) -> Table {
    let mut t = Table::new(
        "funnel",
        "Purchase funnel",
        vec![Column::new("Step", "step"), Column::new("Visits", "visits"), Column::new("Of all visits", "share_of_visits"), Column::new("From previous step", "step_conversion")],
    );
    let mut previous = f.visits;
    t.rows.push(Row::new(vec![Cell::Text("All visits".into()), Cell::Count(f.visits), Cell::Share(ratio(f.visits, f.visits)), Cell::Text(String::new())]));
    for ((_, label), n) in commerce::STEPS.iter().zip(f.steps) {
        t.rows.push(Row::new(vec![Cell::Text((*label).into()), Cell::Count(n), Cell::Share(ratio(n, f.visits)), Cell::Share(ratio(n, previous))]));
        previous = n;
    }
    t.note = Some("A visit reaches a step when it did every step before it, in order, within 24 hours.".into());
    t
}

pub fn products_table(rows: &[commerce::ProductRow], other: Option<&commerce::ProductRow>, min_visits: u32) -> Table {
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
    for p in rows {
        t.rows.push(Row::new(vec![Cell::Text(p.sku.clone()), Cell::Count(p.visits), Cell::Count(p.units), Cell::Money(p.revenue)]));
    }
    if let Some(o) = other {
        t.rows.push(Row::folded(vec![Cell::Text(FOLDED.into()), Cell::Count(o.visits), Cell::Count(o.units), Cell::Money(o.revenue)]));
        t.note = Some(format!("{} bought in fewer than {min_visits} visits each {} folded into “{FOLDED}”.", counted(o.groups, "product", "products"), if o.groups == 1 { "is" } else { "are" }));
    }
    t
}

pub fn sales_table(days: &[commerce::SalesDay], currencies: &[String]) -> Table {
    let mut t = Table::new(
        "sales",
        "Sales by day",
        vec![Column::new("Day", "day"), Column::new("Orders", "orders"), Column::new("Units", "units"), Column::new("Revenue", "revenue"), Column::new("Average order", "average_order_value")],
    );
    let (mut orders, mut units, mut revenue) = (0, 0, 0.0);
    for d in days {
        t.rows.push(Row::new(vec![
            Cell::Time(d.day as i64, Interval::Day),
            Cell::Count(d.orders),
            Cell::Count(d.units),
            Cell::Money(d.revenue),
            Cell::Money(if d.orders == 0 { 0.0 } else { d.revenue / d.orders as f64 }),
        ]));
        (orders, units, revenue) = (orders + d.orders, units + d.units, revenue + d.revenue);
    }
    if !days.is_empty() {
        t.rows.push(Row::folded(vec![
            Cell::Text("Total".into()),
            Cell::Count(orders),
            Cell::Count(units),
            Cell::Money(revenue),
            Cell::Money(if orders == 0 { 0.0 } else { revenue / orders as f64 }),
        ]));
    }
    t.note = Some(match currencies {
        [] => "No purchases in this period.".to_string(),
        [one] => format!("Amounts in {one}."),
        many => format!("Amounts mix currencies ({}); they are summed as recorded.", many.join(", ")),
    });
    t
}

pub fn mix_table(m: &mix::TierMix) -> Table {
    let mut t = Table::new("tier_mix", "Tier mix", vec![Column::new("Tier", "tier"), Column::new("Events", "events"), Column::new("Share", "share")]);
    for (label, n) in [("Anonymous (cookies off)", m.anonymous), ("Tier 2 (session)", m.tier2), ("Tier 3 (opted in)", m.tier3)] {
        t.rows.push(Row::new(vec![Cell::Text(label.into()), Cell::Count(n), Cell::Share(ratio(n, m.total()))]));
    }
    t
}

/// Most-lifted pairs shown on a page (the CSV and API have every pair).
pub const PAIR_ROWS: usize = 500;

pub fn bought_together_table(pairs: &[stats::crosssell::Pair], min_orders: u32, filtered: bool) -> Table {
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
    for p in pairs.iter().take(PAIR_ROWS) {
        t.rows.push(Row::new(vec![
            Cell::Text(p.sku.clone()),
            Cell::Text(p.with_sku.clone()),
            Cell::Count(p.together),
            Cell::Share(p.support),
            Cell::Share(p.confidence),
            Cell::Decimal(p.lift),
        ]));
    }
    let mut note = format!(
        "From store orders in the period (placed, not cancelled). Pairs seen in fewer than {min_orders} orders are not shown. \
         Confidence is the share of orders with the product that also have the other; lift above 1 means more often together than chance."
    );
    if filtered {
        note.push_str(" Visit filters do not apply: orders come from the store's backend, not from visits.");
    }
    t.note = Some(note);
    t
}
