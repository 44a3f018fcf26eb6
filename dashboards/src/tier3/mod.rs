//! The marketing side: Tier 3 reads over opted-in customers' identified
//! orders and events (`t3`), for the `marketing` role only.
//!
//! Same shape as the Tier 2 stats: a request becomes a [`MarketingQuery`]
//! (parsed and validated here, nowhere else), SQL is built from it with
//! every value bound ([`crate::stats::sql::Sql`]), rows come back typed,
//! and the web layer renders them. Every reader returns the customer
//! references its answer touched, so the audit can name them.
//!
//! An order counts once it is placed and not cancelled; its value is the
//! placed value less refunds (never below zero). [`orders`] is that rule,
//! written once for every reader.

pub mod cache;
pub mod clusters;
pub mod customer;
pub mod customers;
pub mod facts;
pub mod personal;
pub mod rfm;
pub mod tables;

use crate::query::Day;
use crate::stats::sql::Sql;

/// One row per counted order: `customer_ref, order_id, placed_at` (Unix
/// seconds), `net`, `o_state`, `o_zip`, `o_channel`; `since` (Unix seconds)
/// skips events before it (an order's events follow its placement, so this
/// keeps every order placed since then whole), `customer` keeps one
/// customer's (the table's key leads with it).
///
/// No `FINAL`: each (order, event) is one key, and a replay of it is the same
/// row again, so `argMax(value, received_at)` per key reads what `FINAL`
/// would keep (the latest), with the aggregation spread over every core.
/// For a refund that latest value is the amount refunded so far.
pub fn orders(since: Option<i64>, subject: Option<&str>) -> Sql {
    // Values are bound, and a customer is named by subject only.
    let mut sql = Sql::new(
        "(SELECT customer_ref, any(subject) AS o_subject, order_id, toUInt32(minIf(at, event = 'placed')) AS placed_at, \
         greatest(argMaxIf(value, received_at, event = 'placed') - argMaxIf(value, received_at, event = 'refunded'), 0) AS net, \
         anyIf(state, event = 'placed') AS o_state, anyIf(zip, event = 'placed') AS o_zip, \
         toString(anyIf(channel, event = 'placed')) AS o_channel, \
         countIf(event = 'placed') AS placements, countIf(event = 'cancelled') AS cancels \
         FROM {t3}.orders WHERE 1",
    );
    if let Some(since) = since {
        sql = sql.raw(" AND at >= toDateTime(").int(since).raw(")");
    }
    if let Some(s) = subject {
        sql = sql.raw(" AND subject = ").text_value(s);
    }
    sql.raw(" GROUP BY customer_ref, order_id HAVING placements > 0 AND cancels = 0)")
}

/// Rows per page of the customer list.
pub const PAGE_ROWS: u64 = 50;

/// The customer list's sort keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerSort {
    Customer,
    Orders,
    Aov,
    LifetimeOrders,
    LifetimeAov,
    LifetimeTotal,
    First,
    Last,
}

impl CustomerSort {
    pub const ALL: [CustomerSort; 8] = [
        CustomerSort::Customer,
        CustomerSort::Orders,
        CustomerSort::Aov,
        CustomerSort::LifetimeOrders,
        CustomerSort::LifetimeAov,
        CustomerSort::LifetimeTotal,
        CustomerSort::First,
        CustomerSort::Last,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CustomerSort::Customer => "customer",
            CustomerSort::Orders => "orders",
            CustomerSort::Aov => "aov",
            CustomerSort::LifetimeOrders => "lifetime_orders",
            CustomerSort::LifetimeAov => "lifetime_aov",
            CustomerSort::LifetimeTotal => "lifetime_total",
            CustomerSort::First => "first_order",
            CustomerSort::Last => "last_order",
        }
    }

    /// The column of the customers query it orders by.
    pub fn column(self) -> &'static str {
        match self {
            CustomerSort::Customer => "customer_ref",
            CustomerSort::Orders => "c_orders",
            CustomerSort::Aov => "c_aov",
            CustomerSort::LifetimeOrders => "c_lifetime_orders",
            CustomerSort::LifetimeAov => "c_lifetime_aov",
            CustomerSort::LifetimeTotal => "c_lifetime_total",
            CustomerSort::First => "c_first",
            CustomerSort::Last => "c_last",
        }
    }
}

/// Why a marketing request was refused (400, said on the page).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MarketingQueryError {
    #[error("unknown parameter {0:?}")]
    Unknown(String),
    #[error("period must be 30d, 90d, 180d or 365d, not {0:?}")]
    Period(String),
    #[error("sort must be one of customer, orders, aov, lifetime_orders, lifetime_aov, lifetime_total, first_order, last_order (with - for descending), not {0:?}")]
    Sort(String),
    #[error("page must be a number from 1")]
    Page,
    #[error("state must be a two-letter code")]
    State,
    #[error("zip3 must be three digits")]
    Zip3,
    #[error("search must be 1-64 printable characters")]
    Search,
    #[error("unknown segment {0:?}")]
    Segment(String),
    #[error("cluster must be a number from 0")]
    Cluster,
}

/// A marketing request, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct MarketingQuery {
    /// Days the period-bound metrics (and the RFM window) cover, up to today.
    pub days: i32,
    pub sort: CustomerSort,
    pub descending: bool,
    pub page: u64,
    pub state: Option<String>,
    pub zip3: Option<String>,
    /// A customer reference searched for (exact: statements name a
    /// customer only by subject, so a prefix cannot be searched).
    pub search: Option<String>,
    /// Its subject, filled in by [`MarketingQuery::with_subject`].
    pub search_subject: Option<String>,
    pub segment: Option<rfm::Segment>,
    pub cluster: Option<usize>,
}

impl Default for MarketingQuery {
    fn default() -> Self {
        MarketingQuery {
            days: 365,
            sort: CustomerSort::LifetimeTotal,
            descending: true,
            page: 1,
            state: None,
            zip3: None,
            search: None,
            search_subject: None,
            segment: None,
            cluster: None,
        }
    }
}

impl MarketingQuery {
    pub fn from_params(params: &[(String, String)]) -> Result<MarketingQuery, MarketingQueryError> {
        let mut q = MarketingQuery::default();
        for (k, v) in params {
            if v.is_empty() {
                continue;
            }
            match k.as_str() {
                "period" => {
                    q.days = match v.as_str() {
                        "30d" => 30,
                        "90d" => 90,
                        "180d" => 180,
                        "365d" => 365,
                        other => return Err(MarketingQueryError::Period(other.into())),
                    }
                }
                "sort" => {
                    let (desc, name) = match v.strip_prefix('-') {
                        Some(n) => (true, n),
                        None => (false, v.as_str()),
                    };
                    q.sort = CustomerSort::ALL.into_iter().find(|s| s.name() == name).ok_or_else(|| MarketingQueryError::Sort(v.clone()))?;
                    q.descending = desc;
                }
                "page" => q.page = v.parse().ok().filter(|p| *p >= 1 && *p < 100_000).ok_or(MarketingQueryError::Page)?,
                "state" => {
                    if v.len() != 2 || !v.bytes().all(|b| b.is_ascii_uppercase()) {
                        return Err(MarketingQueryError::State);
                    }
                    q.state = Some(v.clone());
                }
                "zip3" => {
                    if v.len() != 3 || !v.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(MarketingQueryError::Zip3);
                    }
                    q.zip3 = Some(v.clone());
                }
                "q" => {
                    if v.len() > 64 || v.chars().any(char::is_control) {
                        return Err(MarketingQueryError::Search);
                    }
                    q.search = Some(v.clone());
                }
                "segment" => q.segment = Some(rfm::Segment::parse(v).ok_or_else(|| MarketingQueryError::Segment(v.clone()))?),
                "cluster" => q.cluster = Some(v.parse().map_err(|_| MarketingQueryError::Cluster)?),
                other => return Err(MarketingQueryError::Unknown(other.into())),
            }
        }
        Ok(q)
    }

    /// The query string that gives this query back (defaults left out).
    pub fn to_params(&self) -> String {
        let d = MarketingQuery::default();
        let mut out = form_urlencoded::Serializer::new(String::new());
        if self.days != d.days {
            out.append_pair("period", &format!("{}d", self.days));
        }
        if (self.sort, self.descending) != (d.sort, d.descending) {
            out.append_pair("sort", &format!("{}{}", if self.descending { "-" } else { "" }, self.sort.name()));
        }
        if self.page != 1 {
            out.append_pair("page", &self.page.to_string());
        }
        for (k, v) in [("state", &self.state), ("zip3", &self.zip3), ("q", &self.search)] {
            if let Some(v) = v {
                out.append_pair(k, v);
            }
        }
        if let Some(s) = self.segment {
            out.append_pair("segment", s.slug());
        }
        if let Some(c) = self.cluster {
            out.append_pair("cluster", &c.to_string());
        }
        out.finish()
    }

    /// `[from, until)` in Unix seconds: the last `days` days up to and including `today`.
    pub fn window(&self, today: Day) -> (i64, i64) {
        let until = Day(today.0 + 1).start_secs();
        (until - self.days as i64 * 86_400, until)
    }

    /// The customer-level conditions (state, ZIP3, reference prefix), as
    /// `AND ...` over the customers query's columns, values bound.
    pub fn customer_filters(&self, mut sql: Sql) -> Sql {
        if let Some(s) = &self.state {
            sql = sql.raw(" AND c_state = ").text_value(s);
        }
        if let Some(z) = &self.zip3 {
            sql = sql.raw(" AND c_zip3 = ").text_value(z);
        }
        match (&self.search, &self.search_subject) {
            (Some(_), Some(s)) => sql = sql.raw(" AND c_subject = ").text_value(s),
            // Never searched by the reference itself.
            (Some(_), None) => sql = sql.raw(" AND 0"),
            _ => {}
        }
        sql
    }

    /// The search's subject, computed with the deployment's key.
    pub fn with_subject(mut self, audit: &crate::audit::Audit) -> MarketingQuery {
        self.search_subject = self.search.as_deref().map(|s| audit.subject(s));
        self
    }
}

/// What every Tier 3 reader needs.
pub struct Tier3<'a> {
    pub client: &'a clickhouse::Client,
    pub dbs: &'a mintmark_schema::Databases,
    pub today: Day,
    pub min_customers: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn queries_parse_validate_and_round_trip() {
        let q = MarketingQuery::from_params(&p(&[("period", "90d"), ("sort", "-aov"), ("page", "3"), ("state", "VA"), ("q", "cust-1")])).unwrap();
        assert_eq!((q.days, q.sort, q.descending, q.page), (90, CustomerSort::Aov, true, 3));
        let back: Vec<(String, String)> = form_urlencoded::parse(q.to_params().as_bytes()).into_owned().collect();
        assert_eq!(MarketingQuery::from_params(&back).unwrap(), q);
        assert_eq!(MarketingQuery::default().to_params(), "");
        for bad in [("period", "7y"), ("sort", "value; DROP"), ("page", "0"), ("state", "va"), ("zip3", "12a"), ("segment", "vips"), ("x", "1")] {
            assert!(MarketingQuery::from_params(&p(&[bad])).is_err(), "{bad:?}");
        }
    }
}

/// The counted orders from the materialised facts ([`facts`]), placed in
/// `[from, until)` when given.
pub fn order_facts(window: Option<(i64, i64)>) -> Sql {
    let sql = Sql::new("(SELECT customer_ref, subject, order_id, placed_at, net, o_state, o_zip, o_channel FROM {t3}.order_facts");
    match window {
        None => sql.raw(")"),
        Some((from, until)) => sql.raw(" WHERE placed_at >= ").int(from).raw(" AND placed_at < ").int(until).raw(")"),
    }
}
