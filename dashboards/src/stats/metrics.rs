//! The top metrics, for a whole period or per time bucket (the chart),
//! with the tier mix and the funnel steps, from the visits rollup.
//!
//! Everything here is a sum over visits ([`SUMS`]), and a visit lives in
//! one hour of one day (the hour its first event falls in), so a period is
//! the sum of its hours and a chart point the sum of its bucket's. Without
//! filters the sums come pre-added per hour from `t2.visit_hours`; with
//! filters, from the matching rows of `t2.visits`.

use std::collections::BTreeMap;
use std::ops::AddAssign;

use clickhouse::{Client, Row};
use serde::{Deserialize, Serialize};

use super::sql::{Sql, Window};
use crate::query::{Interval, Where};

/// The columns every unfiltered and filtered read adds up: `t2.visits`
/// carries each per row (a visit's flags and counts, zero where they do
/// not apply), `t2.visit_hours` their sums per hour. Same names in both,
/// so a read is `sum(column)` over either.
pub const SUMS: [&str; 15] = [
    "visits",
    "visit_pageviews",
    "bounces",
    "duration_sum",
    "converted",
    "pageviews",
    "anonymous_hits",
    "revenue",
    "tier2_events",
    "tier3_events",
    "funnel_1",
    "funnel_2",
    "funnel_3",
    "funnel_4",
    "purchases",
];

/// The sums of one bucket, in [`SUMS`] order after the bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Row, Deserialize, Serialize)]
pub struct Sums {
    pub bucket: u32,
    pub visits: u64,
    pub visit_pageviews: u64,
    pub bounces: u64,
    pub duration_sum: u64,
    pub converted: u64,
    pub pageviews: u64,
    pub anonymous_hits: u64,
    pub revenue: f64,
    pub tier2_events: u64,
    pub tier3_events: u64,
    pub funnel: [u64; 4],
    pub purchases: u64,
}

impl AddAssign for Sums {
    fn add_assign(&mut self, o: Sums) {
        self.visits += o.visits;
        self.visit_pageviews += o.visit_pageviews;
        self.bounces += o.bounces;
        self.duration_sum += o.duration_sum;
        self.converted += o.converted;
        self.pageviews += o.pageviews;
        self.anonymous_hits += o.anonymous_hits;
        self.revenue += o.revenue;
        self.tier2_events += o.tier2_events;
        self.tier3_events += o.tier3_events;
        for (a, b) in self.funnel.iter_mut().zip(o.funnel) {
            *a += b;
        }
        self.purchases += o.purchases;
    }
}

impl Sums {
    pub fn metrics(&self) -> TopMetrics {
        TopMetrics {
            visits: self.visits,
            pageviews: self.pageviews,
            anonymous_hits: self.anonymous_hits,
            bounce_rate: ratio(self.bounces, self.visits),
            avg_duration_secs: ratio(self.duration_sum, self.visits),
            pages_per_visit: ratio(self.visit_pageviews, self.visits),
            conversion_rate: ratio(self.converted, self.visits),
            revenue: self.revenue,
        }
    }
}

/// The top metrics of one period or bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct TopMetrics {
    pub visits: u64,
    pub pageviews: u64,
    pub anonymous_hits: u64,
    /// 0..=1
    pub bounce_rate: f64,
    pub avg_duration_secs: f64,
    pub pages_per_visit: f64,
    /// 0..=1
    pub conversion_rate: f64,
    pub revenue: f64,
}

/// One of the top metrics, by name: what the chart plots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Visits,
    Pageviews,
    AnonymousHits,
    BounceRate,
    Duration,
    PagesPerVisit,
    Conversion,
    Revenue,
}

impl Metric {
    pub const ALL: [Metric; 8] = [
        Metric::Visits,
        Metric::Pageviews,
        Metric::AnonymousHits,
        Metric::BounceRate,
        Metric::Duration,
        Metric::PagesPerVisit,
        Metric::Conversion,
        Metric::Revenue,
    ];

    /// The name in URLs, CSV headers and the API.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Visits => "visits",
            Metric::Pageviews => "pageviews",
            Metric::AnonymousHits => "anonymous_hits",
            Metric::BounceRate => "bounce_rate",
            Metric::Duration => "visit_duration",
            Metric::PagesPerVisit => "pages_per_visit",
            Metric::Conversion => "conversion_rate",
            Metric::Revenue => "revenue",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Metric::Visits => "Visits",
            Metric::Pageviews => "Pageviews",
            Metric::AnonymousHits => "Anonymous hits",
            Metric::BounceRate => "Bounce rate",
            Metric::Duration => "Visit duration",
            Metric::PagesPerVisit => "Pages per visit",
            Metric::Conversion => "Conversion",
            Metric::Revenue => "Revenue",
        }
    }

    pub fn parse(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == s)
    }

    pub fn of(self, m: &TopMetrics) -> f64 {
        match self {
            Metric::Visits => m.visits as f64,
            Metric::Pageviews => m.pageviews as f64,
            Metric::AnonymousHits => m.anonymous_hits as f64,
            Metric::BounceRate => m.bounce_rate,
            Metric::Duration => m.avg_duration_secs,
            Metric::PagesPerVisit => m.pages_per_visit,
            Metric::Conversion => m.conversion_rate,
            Metric::Revenue => m.revenue,
        }
    }

    /// Where falling is good news.
    pub fn lower_is_better(self) -> bool {
        self == Metric::BounceRate
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// The bucket expression of a time expression, as Unix seconds (UTC).
fn bucket_of(interval: Option<Interval>, ts: &str) -> String {
    match interval {
        None => "toUInt32(0)".into(),
        Some(Interval::Hour) => format!("toUInt32(toStartOfHour({ts}, 'UTC'))"),
        Some(Interval::Day) => format!("toUInt32(toStartOfDay({ts}, 'UTC'))"),
        Some(Interval::Week) => format!("toUInt32(toDateTime(toMonday({ts}, 'UTC'), 'UTC'))"),
        Some(Interval::Month) => format!("toUInt32(toDateTime(toStartOfMonth({ts}, 'UTC'), 'UTC'))"),
    }
}

/// The `SELECT` list of [`Sums`], over either table. Aliases are
/// prefixed: an alias named like a column would be read back into the
/// other expressions that use it.
pub fn sums_select() -> String {
    SUMS.iter()
        .map(|name| if *name == "revenue" { format!("toFloat64(sum({name})) AS s_{name}") } else { format!("toUInt64(sum({name})) AS s_{name}") })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Sums per bucket start (Unix seconds); `None` puts everything in 0.
pub async fn sums(client: &Client, t2: &str, w: Window, filters: &Where, interval: Option<Interval>) -> clickhouse::error::Result<BTreeMap<u32, Sums>> {
    let rows: Vec<Sums> = sums_sql(w, filters, interval).query(client, t2).fetch_all().await?;
    Ok(rows.into_iter().map(|r| (r.bucket, r)).collect())
}

/// The read behind [`sums`]: the per-hour sums without filters, the
/// per-day facet sums for one `is` filter (not per hour), else the rows.
pub fn sums_sql(w: Window, filters: &Where, interval: Option<Interval>) -> Sql {
    let sql = if filters.is_empty() {
        Sql::new("SELECT ").raw(&bucket_of(interval, "hour")).raw(" AS bucket, ").raw(&sums_select()).raw(" FROM {t2}.visit_hours WHERE ").days(w)
    } else if let (Some((dimension, value)), false) = (&filters.facet, interval == Some(Interval::Hour)) {
        // One `is` filter: the per-day facet sums (hours need the rows).
        Sql::new("SELECT ")
            .raw(&bucket_of(interval, "toDateTime(start_day, 'UTC')"))
            .raw(" AS bucket, ")
            .raw(&sums_select())
            .raw(" FROM {t2}.visit_facets WHERE dimension = '")
            .raw(dimension)
            .raw("' AND value = ")
            .text_value(value)
            .raw(" AND ")
            .days(w)
    } else {
        Sql::new("SELECT ").raw(&bucket_of(interval, "first_ts")).raw(" AS bucket, ").raw(&sums_select()).raw(" FROM {t2}.visits WHERE ").days(w).raw(" AND ").matching(filters)
    };
    sql.raw(" GROUP BY bucket")
}

/// The top metrics of `w` under `filters`.
pub async fn top_metrics(client: &Client, t2: &str, w: impl Into<Window>, filters: &Where) -> clickhouse::error::Result<TopMetrics> {
    Ok(totals(client, t2, w.into(), filters).await?.metrics())
}

/// Every sum of `w`, one bucket.
pub async fn totals(client: &Client, t2: &str, w: Window, filters: &Where) -> clickhouse::error::Result<Sums> {
    Ok(sums(client, t2, w, filters, None).await?.remove(&0).unwrap_or_default())
}

/// One point of the chart.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Bucket start, Unix seconds (UTC).
    pub at: i64,
    pub sums: Sums,
}

impl Point {
    pub fn metrics(&self) -> TopMetrics {
        self.sums.metrics()
    }
}

/// The metrics per `interval` over `w`, every bucket present (zeros where
/// nothing happened) so current and comparison line up by index.
pub async fn series(client: &Client, t2: &str, w: impl Into<Window>, filters: &Where, interval: Interval) -> clickhouse::error::Result<Vec<Point>> {
    let w = w.into();
    let mut got = sums(client, t2, w, filters, Some(interval)).await?;
    Ok(interval
        .buckets(w.from, w.until)
        .into_iter()
        .map(|at| Point { at, sums: got.remove(&(at as u32)).unwrap_or_default() })
        .collect())
}

/// Visits alone: the denominator of a breakdown's share column.
pub async fn visits(client: &Client, t2: &str, w: Window, filters: &Where) -> clickhouse::error::Result<u64> {
    Ok(totals(client, t2, w, filters).await?.visits)
}
