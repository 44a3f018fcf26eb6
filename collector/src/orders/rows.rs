//! The three order row types, one per dataset.
//!
//! As with events, what a row cannot express it cannot leak:
//! [`T2OrderRow`] and [`MarketplaceOrderRow`] have no field for an order
//! number, a customer reference, a ZIP or a time of day, and their only key
//! is a keyed hash made for that table ([`crate::pseudonym`]).

use clickhouse::Row;
use serde::Serialize;
use serde_repr::Serialize_repr;

use super::feed::{Channel, OrderAction, OrderEvent};
use super::route::Destination;
use crate::pseudonym::{Pseudonyms, RowId};

/// `event` Enum8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize_repr)]
#[repr(i8)]
pub enum EventCode {
    Placed = 1,
    Cancelled = 2,
    Refunded = 3,
}

impl From<OrderAction> for EventCode {
    fn from(a: OrderAction) -> Self {
        match a {
            OrderAction::Placed => EventCode::Placed,
            OrderAction::Cancelled => EventCode::Cancelled,
            OrderAction::Refunded => EventCode::Refunded,
        }
    }
}

/// `channel` Enum8 of the store's own channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize_repr)]
#[repr(i8)]
pub enum StoreChannel {
    Web = 1,
    Phone = 2,
    Pos = 3,
}

impl StoreChannel {
    fn of(c: Channel) -> Option<StoreChannel> {
        match c {
            Channel::Web => Some(StoreChannel::Web),
            Channel::Phone => Some(StoreChannel::Phone),
            Channel::Pos => Some(StoreChannel::Pos),
            Channel::Marketplace => None,
        }
    }
}

/// Line items as the tables keep them: parallel arrays.
type Items<'a> = (Vec<&'a str>, Vec<u32>, Vec<f64>, Vec<&'a str>);

fn items(o: &OrderEvent) -> Items<'_> {
    (
        o.items.iter().map(|i| i.sku.as_str()).collect(),
        o.items.iter().map(|i| i.quantity).collect(),
        o.items.iter().map(|i| i.unit_price).collect(),
        o.items.iter().map(|i| i.category.as_deref().unwrap_or("")).collect(),
    )
}

/// A `{t3}.orders` row. Field order is column order (RowBinary).
#[derive(Debug, Clone, PartialEq, Row, Serialize)]
pub struct T3OrderRow<'a> {
    pub order_date: u16,
    pub at: u32,
    pub received_at: u32,
    pub order_id: &'a str,
    pub event: EventCode,
    pub channel: StoreChannel,
    pub customer_ref: &'a str,
    pub subject: RowId,
    pub consent_source: &'a str,
    pub policy_version: u32,
    pub value: f64,
    pub currency: &'a str,
    pub item_skus: Vec<&'a str>,
    pub item_quantities: Vec<u32>,
    pub item_prices: Vec<f64>,
    pub item_categories: Vec<&'a str>,
    pub state: &'a str,
    pub zip: &'a str,
}

/// A `{t2}.orders` row.
#[derive(Debug, Clone, PartialEq, Row, Serialize)]
pub struct T2OrderRow<'a> {
    pub order_date: u16,
    pub received_at: u32,
    pub order_key: RowId,
    pub event: EventCode,
    pub channel: StoreChannel,
    pub value: f64,
    pub currency: &'a str,
    pub item_skus: Vec<&'a str>,
    pub item_quantities: Vec<u32>,
    pub item_prices: Vec<f64>,
    pub item_categories: Vec<&'a str>,
    pub state: &'a str,
}

/// A `{t2}.marketplace_orders` row.
#[derive(Debug, Clone, PartialEq, Row, Serialize)]
pub struct MarketplaceOrderRow<'a> {
    pub order_date: u16,
    pub received_at: u32,
    pub order_key: RowId,
    pub event: EventCode,
    pub value: f64,
    pub currency: &'a str,
    pub item_skus: Vec<&'a str>,
    pub item_quantities: Vec<u32>,
    pub item_prices: Vec<f64>,
    pub item_categories: Vec<&'a str>,
    pub state: &'a str,
}

/// What one order event becomes.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct OrderRows<'a> {
    pub t3: Vec<T3OrderRow<'a>>,
    pub t2: Vec<T2OrderRow<'a>>,
    pub marketplace: Vec<MarketplaceOrderRow<'a>>,
}

impl<'a> OrderRows<'a> {
    /// Adds the rows of `o`, sent where `to` says.
    pub fn push(&mut self, o: &'a OrderEvent, to: Destination<'a>, received_at: u64, ids: &Pseudonyms) {
        let order_date = (o.at / 86_400) as u16;
        let received_at = received_at as u32;
        let state = o.state.as_deref().unwrap_or("");
        let event = EventCode::from(o.event);
        let (item_skus, item_quantities, item_prices, item_categories) = items(o);
        let Some(channel) = StoreChannel::of(o.channel) else {
            self.marketplace.push(MarketplaceOrderRow {
                order_date,
                received_at,
                order_key: ids.marketplace_order(&o.order_id),
                event,
                value: o.value,
                currency: &o.currency,
                item_skus,
                item_quantities,
                item_prices,
                item_categories,
                state,
            });
            return;
        };
        if let Destination::Identified { customer_ref, consent_source, policy_version } = to {
            self.t3.push(T3OrderRow {
                order_date,
                at: o.at as u32,
                received_at,
                order_id: &o.order_id,
                event,
                channel,
                customer_ref,
                subject: ids.subject(customer_ref),
                consent_source,
                policy_version,
                value: o.value,
                currency: &o.currency,
                item_skus: item_skus.clone(),
                item_quantities: item_quantities.clone(),
                item_prices: item_prices.clone(),
                item_categories: item_categories.clone(),
                state,
                zip: o.zip.as_deref().unwrap_or(""),
            });
        }
        self.t2.push(T2OrderRow {
            order_date,
            received_at,
            order_key: ids.t2_order(&o.order_id),
            event,
            channel,
            value: o.value,
            currency: &o.currency,
            item_skus,
            item_quantities,
            item_prices,
            item_categories,
            state,
        });
    }
}
