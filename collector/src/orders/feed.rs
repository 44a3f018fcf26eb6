//! The order feed's wire format and its validation, in one place.
//!
//! The store's backend posts one order event or `{"orders": [...]}` (up to
//! [`MAX_ORDERS`]). A request is taken whole or refused whole: the first
//! malformed event is named by its index and reason, and nothing of the
//! request is kept. Free-text values that look personal (a SKU that is a
//! card number, a category that is an email address) are refused, not
//! silently dropped: the backend is ours and should be fixed.

use mintmark_protocol::pii::{sku_looks_personal, value_looks_personal};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub const MAX_ORDERS: usize = 1000;
pub const MAX_ITEMS: usize = 200;
/// An order event dated further ahead than this is a clock or unit error.
const MAX_FUTURE_SECS: u64 = 86_400;
/// 2000-01-01: anything earlier is a unit error (milliseconds are later, not earlier).
const MIN_AT: u64 = 946_684_800;

/// What happened to the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderAction {
    Placed,
    Cancelled,
    Refunded,
}

impl OrderAction {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderAction::Placed => "placed",
            OrderAction::Cancelled => "cancelled",
            OrderAction::Refunded => "refunded",
        }
    }
}

/// Where the order was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Web,
    Phone,
    Pos,
    Marketplace,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Web => "web",
            Channel::Phone => "phone",
            Channel::Pos => "pos",
            Channel::Marketplace => "marketplace",
        }
    }
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderItem {
    pub sku: String,
    pub quantity: u32,
    pub unit_price: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

/// One order event as the backend sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderEvent {
    /// The store's order number (1-64 printable characters).
    #[schema(example = "A-1001")]
    pub order_id: String,
    pub event: OrderAction,
    /// Unix seconds.
    pub at: u64,
    pub channel: Channel,
    /// The customer, if the store knows them. Whether the order is
    /// linked to them is decided by the consent ledger, never by the sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_ref: Option<String>,
    /// The order's total for `placed`; for `refunded`, the total refunded
    /// so far (a later refund event of the order replaces the earlier one).
    pub value: f64,
    /// ISO 4217, three capital letters.
    #[schema(example = "USD")]
    pub currency: String,
    #[serde(default)]
    pub items: Vec<OrderItem>,
    /// Shipping state: a two-letter US state or territory code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Shipping ZIP: five digits, or ZIP+4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip: Option<String>,
}

/// A validated request: what the spool keeps (as JSON) and the writer routes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderBatch {
    pub received_at: u64,
    pub orders: Vec<OrderEvent>,
}

/// Why a request was refused; `reason` is the counted label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct FeedError {
    pub reason: &'static str,
    pub detail: String,
}

fn refuse(reason: &'static str, detail: impl Into<String>) -> FeedError {
    FeedError { reason, detail: detail.into() }
}

const STATES: &[&str] = &[
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY", "LA", "ME", "MD", "MA",
    "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX",
    "UT", "VT", "VA", "WA", "WV", "WI", "WY", "PR", "GU", "VI", "AS", "MP", "AA", "AE", "AP",
];

fn printable(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && !s.chars().any(char::is_control)
}

fn zip_ok(zip: &str) -> bool {
    let b = zip.as_bytes();
    let digits = |r: &[u8]| r.iter().all(u8::is_ascii_digit);
    match b.len() {
        5 => digits(b),
        10 => digits(&b[..5]) && b[5] == b'-' && digits(&b[6..]),
        _ => false,
    }
}

impl OrderEvent {
    /// Checks one event; `now` is the collector's clock (Unix seconds).
    pub fn validate(&self, now: u64) -> Result<(), FeedError> {
        if !printable(&self.order_id, 64) {
            return Err(refuse("order_bad_id", "order_id must be 1-64 printable characters"));
        }
        if self.at < MIN_AT || self.at > now + MAX_FUTURE_SECS {
            return Err(refuse("order_bad_time", "at must be Unix seconds, after 2000 and not more than a day ahead"));
        }
        if let Some(c) = &self.customer_ref {
            if self.channel == Channel::Marketplace {
                return Err(refuse(
                    "marketplace_customer",
                    "a marketplace order never carries a customer reference: marketplace buyers are not store customers and never give consent here",
                ));
            }
            if !printable(c, 128) {
                return Err(refuse("order_bad_customer", "customer_ref must be 1-128 printable characters"));
            }
        }
        if !self.value.is_finite() || self.value < 0.0 || self.value > 1e9 {
            return Err(refuse("order_bad_value", "value must be a number from 0 to 1e9"));
        }
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(refuse("order_bad_currency", "currency must be an ISO 4217 code such as USD"));
        }
        if self.event == OrderAction::Placed && self.items.is_empty() {
            return Err(refuse("order_no_items", "a placed order needs at least one item"));
        }
        if self.items.len() > MAX_ITEMS {
            return Err(refuse("order_too_many_items", format!("at most {MAX_ITEMS} items per order")));
        }
        for (i, item) in self.items.iter().enumerate() {
            if !printable(&item.sku, 64) || sku_looks_personal(&item.sku) {
                return Err(refuse("order_bad_sku", format!("items[{i}].sku must be 1-64 printable characters and nothing personal")));
            }
            if item.quantity == 0 || item.quantity > 100_000 {
                return Err(refuse("order_bad_quantity", format!("items[{i}].quantity must be 1-100000")));
            }
            if !item.unit_price.is_finite() || item.unit_price < 0.0 || item.unit_price > 1e9 {
                return Err(refuse("order_bad_price", format!("items[{i}].unit_price must be a number from 0 to 1e9")));
            }
            if let Some(c) = &item.category {
                if !printable(c, 64) || value_looks_personal(c) {
                    return Err(refuse("order_bad_category", format!("items[{i}].category must be 1-64 printable characters and nothing personal")));
                }
            }
        }
        if let Some(s) = &self.state {
            if !STATES.contains(&s.as_str()) {
                return Err(refuse("order_bad_state", "state must be a two-letter US state or territory code (upper case)"));
            }
        }
        if let Some(z) = &self.zip {
            if !zip_ok(z) {
                return Err(refuse("order_bad_zip", "zip must be 5 digits or ZIP+4 (12345-6789)"));
            }
        }
        Ok(())
    }
}

/// Parses and validates a request body: one event, or `{"orders": [...]}`.
pub fn parse(body: &[u8], now: u64) -> Result<Vec<OrderEvent>, FeedError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| refuse("order_bad_json", format!("not JSON: {e}")))?;
    let (list, many) = match value {
        serde_json::Value::Object(mut o) if o.contains_key("orders") => {
            if o.len() > 1 {
                return Err(refuse("order_bad_json", "a batch is {\"orders\": [...]} and nothing else"));
            }
            match o.remove("orders") {
                Some(serde_json::Value::Array(a)) => (a, true),
                _ => return Err(refuse("order_bad_json", "orders must be an array")),
            }
        }
        one @ serde_json::Value::Object(_) => (vec![one], false),
        _ => return Err(refuse("order_bad_json", "send one order event (an object) or {\"orders\": [...]}")),
    };
    if list.is_empty() {
        return Err(refuse("order_empty", "orders is empty"));
    }
    if list.len() > MAX_ORDERS {
        return Err(refuse("order_too_many", format!("at most {MAX_ORDERS} order events per request")));
    }
    let at = |i: usize, e: FeedError| if many { FeedError { detail: format!("orders[{i}]: {}", e.detail), ..e } } else { e };
    list.into_iter()
        .enumerate()
        .map(|(i, v)| {
            let order: OrderEvent = serde_json::from_value(v).map_err(|e| at(i, refuse("order_bad_field", e.to_string())))?;
            order.validate(now).map_err(|e| at(i, e))?;
            Ok(order)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;

    fn order() -> serde_json::Value {
        json!({"order_id": "A-1", "event": "placed", "at": NOW - 60, "channel": "web", "customer_ref": "c-1",
               "value": 25.0, "currency": "USD", "items": [{"sku": "MUG-1", "quantity": 2, "unit_price": 12.5, "category": "kitchen"}],
               "state": "VA", "zip": "22030-1234"})
    }

    fn reason(v: serde_json::Value) -> &'static str {
        parse(v.to_string().as_bytes(), NOW).unwrap_err().reason
    }

    #[test]
    fn one_event_or_a_batch() {
        assert_eq!(parse(order().to_string().as_bytes(), NOW).unwrap().len(), 1);
        let batch = json!({"orders": [order(), order()]});
        let parsed = parse(batch.to_string().as_bytes(), NOW).unwrap();
        assert_eq!(parsed[1].items[0].category.as_deref(), Some("kitchen"));
    }

    #[test]
    fn malformed_events_are_refused_with_a_reason_and_index() {
        let with = |k: &str, v: serde_json::Value| {
            let mut o = order();
            o[k] = v;
            o
        };
        assert_eq!(reason(with("event", json!("shipped"))), "order_bad_field");
        assert_eq!(reason(with("email", json!("a@b.c"))), "order_bad_field", "unknown fields are refused, not ignored");
        assert_eq!(reason(with("at", json!(NOW * 1000))), "order_bad_time");
        assert_eq!(reason(with("value", json!(-1))), "order_bad_value");
        assert_eq!(reason(with("currency", json!("usd"))), "order_bad_currency");
        assert_eq!(reason(with("state", json!("Virginia"))), "order_bad_state");
        assert_eq!(reason(with("zip", json!("2203"))), "order_bad_zip");
        assert_eq!(reason(with("items", json!([]))), "order_no_items");
        assert_eq!(reason(with("items", json!([{"sku": "4111111111111111", "quantity": 1, "unit_price": 1}]))), "order_bad_sku");
        assert_eq!(reason(with("items", json!([{"sku": "A", "quantity": 1, "unit_price": 1, "category": "jane@example.com"}]))), "order_bad_category");
        assert_eq!(reason(with("items", json!([{"sku": "A", "quantity": 0, "unit_price": 1}]))), "order_bad_quantity");
        assert_eq!(reason(json!({"orders": []})), "order_empty");
        assert_eq!(reason(json!([order()])), "order_bad_json");
        let mut bad = order();
        bad["order_id"] = json!("");
        let err = parse(json!({"orders": [order(), bad]}).to_string().as_bytes(), NOW).unwrap_err();
        assert!(err.detail.starts_with("orders[1]: "), "{}", err.detail);
    }

    #[test]
    fn a_marketplace_order_with_a_customer_is_refused() {
        let mut o = order();
        o["channel"] = json!("marketplace");
        assert_eq!(reason(o.clone()), "marketplace_customer");
        o.as_object_mut().unwrap().remove("customer_ref");
        assert!(parse(o.to_string().as_bytes(), NOW).is_ok());
    }
}
