//! The top metrics, for a whole period or per time bucket (the chart).
//!
//! One pair of queries serves both: sessions grouped into visits, then
//! visits grouped by the bucket of their first event; events grouped by
//! their own bucket. The whole period is the bucket "everything".

use std::collections::BTreeMap;

use clickhouse::{Client, Row};
use serde::{Deserialize, Serialize};

use super::sql::{events_in, sessions_in, Sql, Window};
use crate::query::{Interval, Where};

#[derive(Debug, Clone, Copy, Default, PartialEq, Row, Deserialize)]
struct VisitRow {
    bucket: u32,
    visits: u64,
    visit_pageviews: u64,
    bounces: u64,
    duration_sum: u64,
    converted: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Row, Deserialize)]
struct EventRow {
    bucket: u32,
    pageviews: u64,
    anonymous_hits: u64,
    revenue: f64,
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

/// Metrics per bucket start (Unix seconds); `None` puts everything in 0.
async fn by_bucket(client: &Client, t2: &str, w: Window, filters: &Where, interval: Option<Interval>) -> clickhouse::error::Result<BTreeMap<u32, TopMetrics>> {
    let visits = Sql::new("SELECT b AS bucket, toUInt64(count()) AS visits, toUInt64(sum(pv)) AS visit_pageviews, toUInt64(countIf(pv = 1 AND n = 1)) AS bounces, toUInt64(sum(dur)) AS duration_sum, toUInt64(countIf(bought = 1)) AS converted FROM (SELECT session_id, ")
        .raw(&bucket_of(interval, "min(ts)"))
        .raw(" AS b, countIf(kind = 'pageview') AS pv, count() AS n, toUInt64(max(ts) - min(ts)) AS dur, max(kind = 'purchase') AS bought FROM {t2}.events FINAL WHERE ")
        .then(sessions_in(w, filters))
        .raw(" GROUP BY session_id) GROUP BY b");
    let events = Sql::new("SELECT ")
        .raw(&bucket_of(interval, "ts"))
        .raw(" AS bucket, toUInt64(countIf(kind = 'pageview')) AS pageviews, toUInt64(countIf(tier = 'anonymous')) AS anonymous_hits, toFloat64(sumIf(value, kind = 'purchase')) AS revenue FROM {t2}.events FINAL WHERE ")
        .then(events_in(w, filters))
        .raw(" GROUP BY bucket");
    let (v, e) = tokio::try_join!(visits.query(client, t2).fetch_all::<VisitRow>(), events.query(client, t2).fetch_all::<EventRow>())?;
    let mut out: BTreeMap<u32, TopMetrics> = BTreeMap::new();
    for v in v {
        let m = out.entry(v.bucket).or_default();
        m.visits = v.visits;
        m.bounce_rate = ratio(v.bounces, v.visits);
        m.avg_duration_secs = ratio(v.duration_sum, v.visits);
        m.pages_per_visit = ratio(v.visit_pageviews, v.visits);
        m.conversion_rate = ratio(v.converted, v.visits);
    }
    for e in e {
        let m = out.entry(e.bucket).or_default();
        m.pageviews = e.pageviews;
        m.anonymous_hits = e.anonymous_hits;
        m.revenue = e.revenue;
    }
    Ok(out)
}

/// The top metrics of `w` under `filters`, from `{t2}.events`.
pub async fn top_metrics(client: &Client, t2: &str, w: impl Into<Window>, filters: &Where) -> clickhouse::error::Result<TopMetrics> {
    Ok(by_bucket(client, t2, w.into(), filters, None).await?.remove(&0).unwrap_or_default())
}

/// One point of the chart.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    /// Bucket start, Unix seconds (UTC).
    pub at: i64,
    pub metrics: TopMetrics,
}

/// The top metrics per `interval` over `w`, every bucket present (zeros
/// where nothing happened) so current and comparison line up by index.
pub async fn series(client: &Client, t2: &str, w: impl Into<Window>, filters: &Where, interval: Interval) -> clickhouse::error::Result<Vec<Point>> {
    let w = w.into();
    let mut got = by_bucket(client, t2, w, filters, Some(interval)).await?;
    Ok(interval.buckets(w.from, w.until).into_iter().map(|at| Point { at, metrics: got.remove(&(at as u32)).unwrap_or_default() }).collect())
}

#[derive(Row, Deserialize)]
struct Visits {
    visits: u64,
}

/// Visits alone: the denominator of a breakdown's share column.
pub async fn visits(client: &Client, t2: &str, w: Window, filters: &Where) -> clickhouse::error::Result<u64> {
    let v: Visits = Sql::new("SELECT toUInt64(uniqExact(session_id)) AS visits FROM {t2}.events WHERE ")
        .then(sessions_in(w, filters))
        .query(client, t2)
        .fetch_one()
        .await?;
    Ok(v.visits)
}
