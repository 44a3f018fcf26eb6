//! The customer list and order values by state and ZIP3.
//!
//! Per opted-in customer with at least one counted order: orders and
//! average order value in the period, lifetime orders, average and total,
//! first and last order, the state and ZIP3 of their latest order, and the
//! source of their latest opt-in. By state / ZIP3: customers, orders,
//! total and average in the period; a cell backed by fewer than
//! `min_group_customers` customers is folded into "other" inside the query,
//! so a small cell's value never leaves ClickHouse under its own name.

use clickhouse::Row;
use serde::Deserialize;

use super::{order_facts, MarketingQuery, Tier3};
use crate::stats::sql::Sql;

#[derive(Debug, Clone, PartialEq, Row, Deserialize)]
pub struct CustomerRow {
    pub customer_ref: String,
    pub c_orders: u64,
    pub c_aov: f64,
    pub c_lifetime_orders: u64,
    pub c_lifetime_aov: f64,
    pub c_lifetime_total: f64,
    pub c_first: u32,
    pub c_last: u32,
    pub c_state: String,
    pub c_zip3: String,
    pub opt_in_source: String,
}

/// One customer per row, with the period's bounds bound in.
fn per_customer(from: i64, until: i64) -> Sql {
    Sql::new(
        "(SELECT customer_ref, any(subject) AS c_subject, countIf(placed_at >= ",
    )
    .int(from)
    .raw(" AND placed_at < ")
    .int(until)
    .raw(") AS c_orders, sumIf(net, placed_at >= ")
    .int(from)
    .raw(" AND placed_at < ")
    .int(until)
    .raw(
        ") AS c_total, if(c_orders = 0, 0, c_total / c_orders) AS c_aov, \
         count() AS c_lifetime_orders, sum(net) AS c_lifetime_total, c_lifetime_total / c_lifetime_orders AS c_lifetime_aov, \
         min(placed_at) AS c_first, max(placed_at) AS c_last, \
         argMax(o_state, placed_at) AS c_state, substring(argMax(o_zip, placed_at), 1, 3) AS c_zip3 FROM ",
    )
    .then(order_facts(None))
    .raw(" GROUP BY customer_ref)")
}

/// The page of customers and the count of all that match.
pub fn customers_sql(q: &MarketingQuery, today: crate::query::Day, offset: u64, limit: u64) -> (Sql, Sql) {
    let (from, until) = q.window(today);
    let filtered = |select: &'static str| q.customer_filters(Sql::new(select).then(per_customer(from, until)).raw(" WHERE 1"));
    let order = format!(" ORDER BY {} {}, customer_ref LIMIT ", q.sort.column(), if q.descending { "DESC" } else { "ASC" });
    let page = Sql::new(
        "SELECT customer_ref, c_orders, c_aov, c_lifetime_orders, c_lifetime_aov, c_lifetime_total, c_first, c_last, c_state, c_zip3, \
         opt_in_source FROM (",
    )
    .then(filtered("SELECT * FROM "))
    // Current ClickHouse wants every joined subquery named.
    .raw(
        ") AS c ANY LEFT JOIN (SELECT customer_ref, argMax(source, at) AS opt_in_source FROM {ledger}.consent_ledger \
         WHERE action = 'opt_in' GROUP BY customer_ref) AS l USING customer_ref",
    )
    .raw(&order)
    .int(offset as i64)
    .raw(", ")
    .int(limit as i64);
    let count = Sql::new("SELECT count() FROM (").then(filtered("SELECT customer_ref FROM ")).raw(")");
    (page, count)
}

/// `limit` customers from `offset` in the query's order, and how many match in all.
pub async fn customers(t: &Tier3<'_>, q: &MarketingQuery, offset: u64, limit: u64) -> clickhouse::error::Result<(Vec<CustomerRow>, u64)> {
    let (page, count) = customers_sql(q, t.today, offset, limit);
    let (rows, total) = tokio::try_join!(page.query_in(t.client, t.dbs).fetch_all::<CustomerRow>(), count.query_in(t.client, t.dbs).fetch_one::<u64>())?;
    Ok((rows, total))
}

/// Which geography a value table is by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Geo {
    State,
    Zip3,
}

impl Geo {
    fn expr(self) -> &'static str {
        match self {
            Geo::State => "o_state",
            Geo::Zip3 => "substring(o_zip, 1, 3)",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Geo::State => "Order values by state",
            Geo::Zip3 => "Order values by ZIP3",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Geo::State => "order_values_by_state",
            Geo::Zip3 => "order_values_by_zip3",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Geo::State => "State",
            Geo::Zip3 => "ZIP3",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Row, Deserialize)]
pub struct GeoRow {
    /// Empty for the folded small cells (and for orders without an address).
    pub g_name: String,
    pub g_folded: u8,
    pub g_customers: u64,
    pub g_orders: u64,
    pub g_total: f64,
}

/// Period orders by state or ZIP3, small cells folded; largest total first,
/// the folded row last.
pub async fn order_values(t: &Tier3<'_>, q: &MarketingQuery, geo: Geo) -> clickhouse::error::Result<Vec<GeoRow>> {
    order_values_sql(q, geo, t.today, t.min_customers).query_in(t.client, t.dbs).fetch_all().await
}

pub fn order_values_sql(q: &MarketingQuery, geo: Geo, today: crate::query::Day, min_customers: u32) -> Sql {
    let window = Some(q.window(today));
    let cells = Sql::new("SELECT ")
        .raw(geo.expr())
        .raw(" AS g, uniqExact(customer_ref) AS n FROM ")
        .then(order_facts(window))
        .raw(" GROUP BY g HAVING n >= ")
        .int(min_customers.into());
    Sql::new(
        "SELECT if(g_named, g, '') AS g_name, toUInt8(NOT g_named) AS g_folded, uniqExact(customer_ref) AS g_customers, \
         count() AS g_orders, sum(net) AS g_total FROM (SELECT customer_ref, net, ",
    )
    .raw(geo.expr())
    .raw(" AS g, g IN (SELECT g FROM (")
    .then(cells)
    .raw(")) AS g_named FROM ")
    .then(order_facts(window))
    .raw(") GROUP BY g_name, g_folded ORDER BY g_folded, g_total DESC, g_name")
}
