//! Where an order event goes: the one place that decides.
//!
//! From the customer's consent ledger entries (everything the backend
//! reported, read at write time):
//! - `marketplace` → the marketplace dataset, whatever else it says (the
//!   feed already refused one that names a customer);
//! - a customer whose latest opt-in or opt-out at or before the order's
//!   time is an opt-in whose token had not expired, and who has asked for
//!   erasure at no time since that opt-in → identified in `t3` (and its
//!   de-identified copy in `t2`);
//! - anything else (no customer, before the opt-in, after an opt-out or
//!   expiry, erased) → a de-identified `t2` order only.
//!
//! "At or before": an order placed in the same second as the opt-in is the
//! customer's; one placed a second earlier is not, even if the opt-in came
//! with that very purchase. What came before the opt-in stays unlinked.

use super::feed::{Channel, OrderEvent};

/// A consent ledger row, as routing needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub at: u64,
    pub action: LedgerAction,
    pub token_expires_at: u64,
    pub source: String,
    pub policy_version: u32,
}

/// The ledger's `action` (its Enum8 codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerAction {
    OptIn = 1,
    OptOut = 2,
    ErasureRequested = 3,
}

impl LedgerAction {
    pub fn from_code(code: i8) -> Option<LedgerAction> {
        match code {
            1 => Some(LedgerAction::OptIn),
            2 => Some(LedgerAction::OptOut),
            3 => Some(LedgerAction::ErasureRequested),
            _ => None,
        }
    }
}

/// The routing decision for one order event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination<'a> {
    /// `t3` (with the opt-in it rests on) and the de-identified `t2` copy.
    Identified { customer_ref: &'a str, consent_source: &'a str, policy_version: u32 },
    /// `t2` only.
    Deidentified,
    /// The marketplace dataset only.
    Marketplace,
}

/// Decides for `order` given its customer's ledger `history` (any order).
pub fn route<'a>(order: &'a OrderEvent, history: &'a [LedgerEntry]) -> Destination<'a> {
    if order.channel == Channel::Marketplace {
        return Destination::Marketplace;
    }
    let Some(customer_ref) = order.customer_ref.as_deref() else {
        return Destination::Deidentified;
    };
    let standing = history
        .iter()
        .filter(|e| e.at <= order.at && e.action != LedgerAction::ErasureRequested)
        .max_by_key(|e| (e.at, e.action == LedgerAction::OptOut));
    let Some(opt_in) = standing.filter(|e| e.action == LedgerAction::OptIn && e.token_expires_at > order.at) else {
        return Destination::Deidentified;
    };
    let erased_since = history.iter().any(|e| e.action == LedgerAction::ErasureRequested && e.at >= opt_in.at);
    if erased_since {
        return Destination::Deidentified;
    }
    Destination::Identified { customer_ref, consent_source: &opt_in.source, policy_version: opt_in.policy_version }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::feed::OrderAction;

    const T: u64 = 1_800_000_000;

    fn order(at: u64, channel: Channel, customer: Option<&str>) -> OrderEvent {
        OrderEvent {
            order_id: "A-1".into(),
            event: OrderAction::Placed,
            at,
            channel,
            customer_ref: customer.map(Into::into),
            value: 10.0,
            currency: "USD".into(),
            items: vec![],
            state: None,
            zip: None,
        }
    }

    fn entry(at: u64, action: LedgerAction) -> LedgerEntry {
        LedgerEntry { at, action, token_expires_at: at + 365 * 86_400, source: "registration".into(), policy_version: 3 }
    }

    fn identified(d: &Destination) -> bool {
        matches!(d, Destination::Identified { .. })
    }

    #[test]
    fn only_orders_inside_a_valid_opt_in_are_identified() {
        let opted_in = [entry(T, LedgerAction::OptIn)];
        let web = |at| order(at, Channel::Web, Some("c-1"));
        assert!(identified(&route(&web(T), &opted_in)), "the same second as the opt-in counts");
        assert_eq!(route(&web(T - 1), &opted_in), Destination::Deidentified, "before the opt-in");
        assert_eq!(route(&web(T + 10), &[]), Destination::Deidentified, "never opted in");
        assert_eq!(route(&order(T + 10, Channel::Phone, None), &opted_in), Destination::Deidentified, "no customer");
        let later = web(T + 10);
        let d = route(&later, &opted_in);
        assert_eq!(d, Destination::Identified { customer_ref: "c-1", consent_source: "registration", policy_version: 3 });

        let out = [entry(T, LedgerAction::OptIn), entry(T + 100, LedgerAction::OptOut)];
        assert!(identified(&route(&web(T + 50), &out)), "placed while opted in");
        assert_eq!(route(&web(T + 100), &out), Destination::Deidentified, "an opt-out in the same second wins");
        assert_eq!(route(&web(T + 200), &out), Destination::Deidentified, "after the opt-out");
        let back = [entry(T, LedgerAction::OptIn), entry(T + 100, LedgerAction::OptOut), entry(T + 300, LedgerAction::OptIn)];
        assert!(identified(&route(&web(T + 400), &back)), "opted in again");

        let mut expired = entry(T, LedgerAction::OptIn);
        expired.token_expires_at = T + 10;
        assert_eq!(route(&web(T + 10), &[expired]), Destination::Deidentified, "after the token's expiry");
    }

    #[test]
    fn erasure_ends_identification_even_for_orders_delivered_late() {
        let erased = [entry(T, LedgerAction::OptIn), entry(T + 100, LedgerAction::ErasureRequested)];
        let web = |at| order(at, Channel::Web, Some("c-1"));
        assert_eq!(route(&web(T + 200), &erased), Destination::Deidentified);
        assert_eq!(route(&web(T + 50), &erased), Destination::Deidentified, "placed before the erasure, delivered after it");
        let again = [entry(T, LedgerAction::OptIn), entry(T + 100, LedgerAction::ErasureRequested), entry(T + 300, LedgerAction::OptIn)];
        assert!(identified(&route(&web(T + 400), &again)), "a new registration after an erasure is a new opt-in");
    }

    #[test]
    fn marketplace_orders_never_touch_customers() {
        let opted_in = [entry(T, LedgerAction::OptIn)];
        assert_eq!(route(&order(T + 10, Channel::Marketplace, Some("c-1")), &opted_in), Destination::Marketplace);
        assert_eq!(route(&order(T + 10, Channel::Marketplace, None), &[]), Destination::Marketplace);
    }
}
