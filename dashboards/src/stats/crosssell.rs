//! "Bought together": product pairs from co-occurrence across orders, an
//! aggregate over de-identified `{t2}.orders` (and marketplace orders only
//! if configured). Nothing individual goes in or comes out.
//!
//! Over counted orders (placed, not cancelled) in the window, with each
//! order's distinct SKUs: for a pair (a, b) seen together in n(a,b) orders,
//! of N orders in all, support = n(a,b) / N, confidence(a → b) = n(a,b) /
//! n(a), lift = n(a,b) · N / (n(a) · n(b)). A pair in fewer than
//! `min_group_orders` distinct orders is dropped inside the query: it is
//! neither shown nor served.

use clickhouse::Row;
use serde::Deserialize;

use crate::stats::sql::{Sql, Window};

#[derive(Debug, Clone, PartialEq, Row, Deserialize)]
pub struct Pair {
    /// The product bought.
    pub sku: String,
    /// What was bought with it.
    pub with_sku: String,
    pub together: u64,
    pub support: f64,
    pub confidence: f64,
    pub lift: f64,
}

/// Which orders count.
pub fn orders(w: Window, marketplace: bool) -> Sql {
    let one = |table: &'static str| {
        // No FINAL: a replayed event adds the same SKUs again, which the
        // distinct array absorbs, and the counts only ask "any?".
        Sql::new("SELECT order_key, arrayFilter(s -> s != '', groupUniqArrayArray(item_skus)) AS skus FROM ")
            .raw(table)
            .raw(" WHERE order_date >= toDate(toDateTime(")
            .int(w.from)
            .raw(")) AND order_date < toDate(toDateTime(")
            .int(w.until)
            .raw(")) GROUP BY order_key HAVING countIf(event = 'cancelled') = 0 AND countIf(event = 'placed') > 0")
    };
    let store = one("{t2}.orders");
    if marketplace {
        Sql::new("(").then(store).raw(" UNION ALL ").then(one("{t2}.marketplace_orders")).raw(")")
    } else {
        Sql::new("(").then(store).raw(")")
    }
}

/// Every pair (both directions) seen in at least `min_orders` orders, by lift.
pub fn pairs_sql(w: Window, marketplace: bool, min_orders: u32) -> Sql {
    // One ARRAY JOIN per query on ClickHouse 18.16: the pairs come from two
    // nested arrayJoins, the per-product counts from their own.
    let counted = || orders(w, marketplace);
    let per_sku = |alias: &'static str, count: &'static str| {
        Sql::new("(SELECT arrayJoin(skus) AS ").raw(alias).raw(", count() AS ").raw(count).raw(" FROM ").then(counted()).raw(" GROUP BY ").raw(alias).raw(") AS ").raw(count)
    };
    Sql::new("SELECT sku, with_sku, together, together / n_orders AS support, together / n_sku AS confidence, \
              together * n_orders / (n_sku * n_with) AS lift FROM (SELECT sku, with_sku, together, n_sku, (SELECT count() FROM ")
        .then(counted())
        .raw(") AS n_orders FROM (SELECT a AS sku, b AS with_sku, count() AS together FROM (SELECT a, arrayJoin(skus) AS b FROM (SELECT skus, arrayJoin(skus) AS a FROM ")
        .then(counted())
        .raw(")) WHERE a != b GROUP BY sku, with_sku HAVING together >= ")
        .int(min_orders.into())
        .raw(") AS pairs ANY LEFT JOIN ")
        .then(per_sku("sku", "n_sku"))
        .raw(" USING sku) AS counted ANY LEFT JOIN ")
        .then(per_sku("with_sku", "n_with"))
        .raw(" USING with_sku ORDER BY lift DESC, together DESC, sku, with_sku")
}

pub async fn pairs(client: &clickhouse::Client, t2: &str, w: Window, marketplace: bool, min_orders: u32) -> clickhouse::error::Result<Vec<Pair>> {
    pairs_sql(w, marketplace, min_orders).query(client, t2).fetch_all().await
}
