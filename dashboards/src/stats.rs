//! The Tier 2 numbers, from `t2.events` only, as typed rows.
//!
//! Definitions (also in the README):
//! - a **visit** is a session (`session_id` not empty) with an event in the
//!   period; with filters, a visit counts when any of its events matches,
//!   and its metrics use all its events in the period;
//! - **pageviews** and **anonymous hits** count events (anonymous: cookies
//!   disabled, no session; never guessed into visits); filters apply per event;
//! - a **bounce** is a visit with one pageview and no other event;
//! - **duration** is a visit's last event time minus its first;
//! - **pages per visit** is pageviews in visits over visits;
//! - **conversion** is the share of visits with a purchase; **revenue** the
//!   sum of purchase values (the store's currency).
//!
//! Reads use `FINAL`, so replayed events count once before merges.

use clickhouse::{Client, Row};
use serde::Deserialize;

use crate::query::{Range, Where};

#[derive(Debug, Clone, Copy, Default, PartialEq, Row, Deserialize)]
struct VisitRow {
    visits: u64,
    visit_pageviews: u64,
    bounces: u64,
    duration_sum: u64,
    converted: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Row, Deserialize)]
struct EventRow {
    pageviews: u64,
    anonymous_hits: u64,
    revenue: f64,
}

/// The top metrics of one period.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
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

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Binds the range and the filter values in the order the SQL asks.
fn bind_range(mut q: clickhouse::query::Query, range: Range, filters: &Where) -> clickhouse::query::Query {
    q = q.bind(range.from.start_secs()).bind(range.until.start_secs());
    for v in &filters.values {
        q = q.bind(v.as_str());
    }
    q
}

const IN_RANGE: &str = "ts >= toDateTime(?) AND ts < toDateTime(?)";

/// The top metrics of `range` under `filters`, from `{t2}.events`.
pub async fn top_metrics(client: &Client, t2: &str, range: Range, filters: &Where) -> clickhouse::error::Result<TopMetrics> {
    let visits_sql = format!(
        "SELECT toUInt64(count()) AS visits, toUInt64(sum(pv)) AS visit_pageviews, toUInt64(countIf(pv = 1 AND n = 1)) AS bounces,
                toUInt64(sum(dur)) AS duration_sum, toUInt64(countIf(bought = 1)) AS converted
         FROM (
             SELECT session_id, countIf(kind = 'pageview') AS pv, count() AS n, toUInt64(max(ts) - min(ts)) AS dur,
                    max(kind = 'purchase') AS bought
             FROM {t2}.events FINAL
             WHERE session_id != '' AND {IN_RANGE}
               AND session_id IN (SELECT session_id FROM {t2}.events WHERE session_id != '' AND {IN_RANGE} AND ({f}))
             GROUP BY session_id
         )",
        f = filters.sql
    );
    // The range twice (outer and inner), the filters once.
    let mut q = client.query(&visits_sql).bind(range.from.start_secs()).bind(range.until.start_secs());
    q = bind_range(q, range, filters);
    let v: VisitRow = q.fetch_one().await?;
    let events_sql = format!(
        "SELECT toUInt64(countIf(kind = 'pageview')) AS pageviews, toUInt64(countIf(tier = 'anonymous')) AS anonymous_hits,
                toFloat64(sumIf(value, kind = 'purchase')) AS revenue
         FROM {t2}.events FINAL WHERE {IN_RANGE} AND ({f})",
        f = filters.sql
    );
    let e: EventRow = bind_range(client.query(&events_sql), range, filters).fetch_one().await?;
    Ok(TopMetrics {
        visits: v.visits,
        pageviews: e.pageviews,
        anonymous_hits: e.anonymous_hits,
        bounce_rate: ratio(v.bounces, v.visits),
        avg_duration_secs: ratio(v.duration_sum, v.visits),
        pages_per_visit: ratio(v.visit_pageviews, v.visits),
        conversion_rate: ratio(v.converted, v.visits),
        revenue: e.revenue,
    })
}
