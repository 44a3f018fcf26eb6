//! The store's numbers: the purchase funnel (from the visits rollup),
//! revenue and units by product and by day, average order value (from the
//! purchase events themselves: few, and their line items are not rolled
//! up, so they are kept whole in `t2.purchases`, one row per purchase).
//! Purchase reads take event filters ([`crate::query::StatsQuery::filter_sql`]):
//! the purchases table has the events' columns.

use clickhouse::{Client, Row};
use serde::{Deserialize, Serialize};

use super::breakdown::MAX_ROWS;
use super::sql::{events_in, Sql, Window};
use crate::query::{Sort, SortBy, Where};

/// The funnel's steps, in order.
pub const STEPS: [(&str, &str); 4] =
    [("product_view", "Viewed a product"), ("add_to_cart", "Added to cart"), ("checkout_start", "Started checkout"), ("purchase", "Purchased")];

/// Visits reaching each step of [`STEPS`], in order within a day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Funnel {
    pub visits: u64,
    pub steps: [u64; 4],
}

/// A visit reaches step k when it has the events of steps 1..=k in that
/// order, within 24 hours of its first step (`windowFunnel`, worked out
/// per visit by the rollup).
pub async fn funnel(client: &Client, t2: &str, w: Window, visit_filters: &Where) -> clickhouse::error::Result<Funnel> {
    let t = super::metrics::totals(client, t2, w, visit_filters).await?;
    Ok(Funnel { visits: t.visits, steps: t.funnel })
}

/// One product line.
#[derive(Debug, Clone, PartialEq, Row, Deserialize, Serialize)]
pub struct ProductRow {
    pub small: u8,
    pub sku: String,
    /// Distinct visits that bought it.
    pub visits: u64,
    pub units: u64,
    pub revenue: f64,
    pub groups: u64,
}

/// Products bought, small groups folded as in every breakdown.
pub async fn products(client: &Client, t2: &str, w: Window, filters: &Where, min_visits: u32, sort: Sort) -> clickhouse::error::Result<(Vec<ProductRow>, Option<ProductRow>)> {
    let mut all: Vec<ProductRow> = products_sql(w, filters, min_visits, sort).query(client, t2).fetch_all().await?;
    let other = if all.first().is_some_and(|g| g.small == 1) { Some(all.remove(0)) } else { None };
    all.truncate(MAX_ROWS as usize);
    Ok((all, other))
}

/// The read behind [`products`].
pub fn products_sql(w: Window, filters: &Where, min_visits: u32, sort: Sort) -> Sql {
    let order = match (sort.by, sort.descending) {
        (SortBy::Name, false) => "sku ASC",
        (SortBy::Name, true) => "sku DESC",
        (SortBy::Visits, false) => "visits ASC, sku ASC",
        (SortBy::Visits, true) => "visits DESC, sku ASC",
        // For products the second count is revenue.
        (SortBy::Pageviews, false) => "revenue ASC, sku ASC",
        (SortBy::Pageviews, true) => "revenue DESC, sku ASC",
        (_, _) => "visits DESC, sku ASC",
    };
    Sql::new("SELECT small, if(small = 1, '', key) AS sku, toUInt64(sum(v)) AS visits, toUInt64(sum(u)) AS units, sum(r) AS revenue, toUInt64(count()) AS groups FROM (SELECT key, v, u, r, toUInt8(v < ")
        .int(i64::from(min_visits))
        .raw(") AS small FROM (SELECT item_sku AS key, uniqExactIf(session_id, session_id != '') AS v, sum(item_qty) AS u, sum(item_qty * item_price) AS r FROM (SELECT session_id, item_skus, item_quantities, item_prices FROM {t2}.purchases WHERE ")
        .then(events_in(w, filters))
        .raw(") ARRAY JOIN item_skus AS item_sku, item_quantities AS item_qty, item_prices AS item_price GROUP BY key)) GROUP BY small, sku ORDER BY small DESC, ")
        .raw(order)
        .raw(" LIMIT ")
        .int(MAX_ROWS as i64 + 1)
}

/// One day of sales.
#[derive(Debug, Clone, PartialEq, Row, Deserialize, Serialize)]
pub struct SalesDay {
    /// Unix seconds at 00:00 UTC.
    pub day: u32,
    pub orders: u64,
    pub units: u64,
    pub revenue: f64,
}

/// Orders, units and revenue per day, and the currencies they were in.
pub async fn sales_by_day(client: &Client, t2: &str, w: Window, filters: &Where) -> clickhouse::error::Result<Vec<SalesDay>> {
    sales_sql(w, filters).query(client, t2).fetch_all().await
}

/// The read behind [`sales_by_day`].
pub fn sales_sql(w: Window, filters: &Where) -> Sql {
    Sql::new("SELECT toUInt32(toStartOfDay(ts, 'UTC')) AS day, toUInt64(count()) AS orders, toUInt64(sum(arraySum(item_quantities))) AS units, sum(value) AS revenue FROM {t2}.purchases WHERE ")
        .then(events_in(w, filters))
        .raw(" GROUP BY day ORDER BY day")
}

#[derive(Debug, Clone, Default, PartialEq, Row, Deserialize, Serialize)]
pub struct Currencies {
    pub currencies: Vec<String>,
}

/// The currencies purchases were made in (the store's, normally one).
pub async fn currencies(client: &Client, t2: &str, w: Window, filters: &Where) -> clickhouse::error::Result<Vec<String>> {
    let c: Currencies = Sql::new("SELECT arraySort(groupUniqArray(currency)) AS currencies FROM {t2}.purchases WHERE currency != '' AND ")
        .then(events_in(w, filters))
        .query(client, t2)
        .fetch_one()
        .await?;
    Ok(c.currencies)
}
