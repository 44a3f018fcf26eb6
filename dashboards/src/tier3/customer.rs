//! One customer: their orders, their browsing (Tier 3 events, which exist
//! only from their opt-in onward: what came before was never linked to
//! them), their product interests, and their consent history.

use clickhouse::Row;
use serde::Deserialize;

use super::{orders, Tier3};
use crate::stats::sql::Sql;

/// Browsing rows shown (newest first).
pub const HISTORY_ROWS: i64 = 200;
/// Products / categories per interest list.
pub const INTEREST_ROWS: i64 = 10;

#[derive(Debug, Clone, PartialEq, Row, Deserialize)]
pub struct OrderLine {
    pub order_id: String,
    pub placed_at: u32,
    pub o_channel: String,
    pub net: f64,
    pub o_state: String,
    pub o_zip: String,
    pub items: u64,
}

#[derive(Debug, Clone, PartialEq, Row, Deserialize)]
pub struct EventLine {
    pub at: u32,
    pub kind: String,
    pub path: String,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Row, Deserialize)]
pub struct Interest {
    pub subject: String,
    /// `viewed`, `carted`, `bought` (products), `bought_category`.
    pub how: String,
    pub name: String,
    pub times: u64,
}

#[derive(Debug, Clone, PartialEq, Row, Deserialize)]
pub struct ConsentLine {
    pub at: u32,
    pub action: String,
    pub source: String,
    pub policy_version: u32,
    /// The opt-in token's expiry (0 for other actions).
    pub expires: u32,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct CustomerFile {
    pub orders: Vec<OrderLine>,
    pub events: Vec<EventLine>,
    pub interests: Vec<Interest>,
    pub consent: Vec<ConsentLine>,
    /// When their first Tier 3 event was recorded, if any.
    pub first_event: Option<u32>,
}

impl CustomerFile {
    pub fn is_empty(&self) -> bool {
        self.orders.is_empty() && self.events.is_empty() && self.consent.is_empty()
    }

    pub fn rows(&self) -> u64 {
        (self.orders.len() + self.events.len() + self.interests.len() + self.consent.len()) as u64
    }
}

/// The product interests of the customers whose subjects are `subjects`
/// (each row names its subject): products from the events (viewed,
/// carted: distinct events, so replays count once) and the counted orders
/// (bought, by quantity; each order's placement once, cancelled orders left
/// out); categories from the orders (the beacon sends none). At most
/// [`INTEREST_ROWS`] per customer and kind, most frequent first.
pub fn interests_sql(subjects: &[String]) -> Sql {
    let within = |sql: Sql| sql.raw("subject").text_in(subjects);
    let placed = || {
        within(within(Sql::new("(SELECT subject, item_skus, item_quantities, item_categories FROM {t3}.orders WHERE event = 'placed' AND ")).raw(
            " AND order_id NOT IN (SELECT order_id FROM {t3}.orders WHERE event = 'cancelled' AND ",
        ))
        .raw(") ORDER BY received_at DESC LIMIT 1 BY order_id)")
    };
    within(Sql::new(
        "SELECT subject, how, name, times FROM (SELECT subject, how, name, times FROM (\
         SELECT subject, multiIf(kind = 'product_view', 'viewed', 'carted') AS how, sku AS name, uniqExact(event_id) AS times FROM \
         (SELECT subject, kind, event_id, arrayJoin(item_skus) AS sku FROM {t3}.events WHERE ",
    ))
    .raw(" AND kind IN ('product_view', 'add_to_cart')) GROUP BY subject, how, name UNION ALL SELECT subject, 'bought' AS how, sku AS name, sum(toUInt64(qty)) AS times FROM ")
    .then(placed())
    .raw(" ARRAY JOIN item_skus AS sku, item_quantities AS qty GROUP BY subject, how, name UNION ALL SELECT subject, 'bought_category' AS how, cat AS name, sum(toUInt64(qty)) AS times FROM ")
    .then(placed())
    .raw(" ARRAY JOIN item_categories AS cat, item_quantities AS qty WHERE cat != '' GROUP BY subject, how, name) ORDER BY subject, how, times DESC, name LIMIT ")
    .int(INTEREST_ROWS)
    .raw(" BY subject, how)")
}

/// Everything the customer page shows about the customer whose subject is
/// `subject` (statements never name the reference).
pub async fn file(t: &Tier3<'_>, subject: &str) -> clickhouse::error::Result<CustomerFile> {
    let orders = Sql::new(
        "SELECT order_id, placed_at, o_channel, net, o_state, o_zip, toUInt64(items) AS items FROM (SELECT customer_ref, order_id, placed_at, o_channel, net, o_state, o_zip FROM ",
    )
    .then(orders(None, Some(subject)))
    .raw(") AS o ANY LEFT JOIN (SELECT order_id, argMax(arraySum(item_quantities), received_at) AS items FROM {t3}.orders WHERE event = 'placed' AND subject = ")
    .text_value(subject)
    .raw(" GROUP BY order_id) AS i USING order_id ORDER BY placed_at DESC");
    // No FINAL (it costs several times the read on this key range): a
    // replayed event is the same row again, and LIMIT 1 BY drops it.
    let events = Sql::new("SELECT toUInt32(ts) AS at, kind, path, title FROM {t3}.events WHERE subject = ")
        .text_value(subject)
        .raw(" ORDER BY ts DESC LIMIT 1 BY event_id LIMIT ")
        .int(HISTORY_ROWS);
    let interests = interests_sql(&[subject.to_string()]);
    let consent = Sql::new(
        "SELECT toUInt32(at) AS at, toString(action) AS action, source, policy_version, toUInt32(token_expires_at) AS expires \
         FROM {ledger}.consent_ledger WHERE subject = ",
    )
    .text_value(subject)
    .raw(" ORDER BY at, action");
    let first = Sql::new("SELECT toUInt32(min(ts)) FROM {t3}.events WHERE subject = ").text_value(subject);
    let (orders, events, interests, consent, first) = tokio::try_join!(
        orders.query_in(t.client, t.dbs).fetch_all::<OrderLine>(),
        events.query_in(t.client, t.dbs).fetch_all::<EventLine>(),
        interests.query_in(t.client, t.dbs).fetch_all::<Interest>(),
        consent.query_in(t.client, t.dbs).fetch_all::<ConsentLine>(),
        first.query_in(t.client, t.dbs).fetch_one::<u32>(),
    )?;
    Ok(CustomerFile { orders, events, interests, consent, first_event: (first > 0).then_some(first) })
}
