//! A customer's full record, for an access request (Privacy Act): their
//! consent history, every Tier 3 event, every order event, and the segment
//! and cluster they are in, as JSON and as CSV. Also their consent status,
//! which the marketing and privacy pages show.

use clickhouse::Row;
use serde::{Deserialize, Serialize};

use super::views::{text, when, LedgerLine, Reader};
use crate::stats::sql::Sql;
use crate::table::{Cell, Column, Row as TableRow, Table};

#[derive(Debug, Clone, PartialEq, Row, Deserialize, Serialize)]
pub struct EventRecord {
    pub at: u32,
    pub kind: String,
    pub url: String,
    pub path: String,
    pub title: String,
    pub referrer_domain: String,
    pub target: String,
    pub ip: String,
    pub consent_source: String,
    pub policy_version: u32,
}

#[derive(Debug, Clone, PartialEq, Row, Deserialize, Serialize)]
pub struct OrderRecord {
    pub at: u32,
    pub order_id: String,
    pub event: String,
    pub channel: String,
    pub value: f64,
    pub currency: String,
    pub item_skus: Vec<String>,
    pub item_quantities: Vec<u32>,
    pub state: String,
    pub zip: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsentRecord {
    pub at: u32,
    pub action: String,
    pub source: String,
    pub policy_version: u32,
    pub token_expires_at: Option<u32>,
}

/// Everything held about one customer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    pub customer_ref: String,
    pub generated_at: u32,
    pub status: String,
    pub consent: Vec<ConsentRecord>,
    pub events: Vec<EventRecord>,
    pub orders: Vec<OrderRecord>,
    /// RFM segment over the marketing window, if they have counted orders.
    pub segment: Option<String>,
    /// Behaviour cluster, if they are in the clustering.
    pub cluster: Option<String>,
    /// What the record cannot contain, said plainly.
    pub note: &'static str,
}

pub const NOTE: &str = "Only data linked to you after your opt-in is held under your reference. What was recorded before it, and \
    de-identified copies, carry no reference and cannot be linked to you; they are not part of this record.";

impl Record {
    pub fn rows(&self) -> u64 {
        (self.consent.len() + self.events.len() + self.orders.len()) as u64 + u64::from(self.segment.is_some()) + u64::from(self.cluster.is_some())
    }

    pub fn is_empty(&self) -> bool {
        self.consent.is_empty() && self.events.is_empty() && self.orders.is_empty()
    }

    /// One CSV for the whole record: a row per item, by section.
    pub fn to_table(&self) -> Table {
        let mut t = Table::new(
            "access_request",
            format!("Record of {}", self.customer_ref),
            vec![
                Column::new("Section", "section"),
                Column::new("Time", "at"),
                Column::new("What", "what"),
                Column::new("Item", "item"),
                Column::new("Value", "value"),
                Column::new("Detail", "detail"),
            ],
        );
        t.rows.push(TableRow::new(vec![text("status"), when(self.generated_at), text(&self.status), text(&self.customer_ref), text(""), text(NOTE)]));
        for c in &self.consent {
            let expires = c.token_expires_at.map(|e| format!("token expires {}", when(e).display())).unwrap_or_default();
            t.rows.push(TableRow::new(vec![text("consent"), when(c.at), text(&c.action), text(&c.source), Cell::Count(c.policy_version.into()), text(&expires)]));
        }
        for e in &self.events {
            let detail = format!("url {} | title {} | referrer {} | target {} | ip {} | consent {}", e.url, e.title, e.referrer_domain, e.target, e.ip, e.consent_source);
            t.rows.push(TableRow::new(vec![text("event"), when(e.at), text(&e.kind), text(&e.path), text(""), text(&detail)]));
        }
        for o in &self.orders {
            let items: Vec<String> = o.item_skus.iter().zip(&o.item_quantities).map(|(s, q)| format!("{q} × {s}")).collect();
            let detail = format!("{} | {} | {} {}", o.channel, items.join(", "), o.state, o.zip);
            t.rows.push(TableRow::new(vec![text("order"), when(o.at), text(&o.event), text(&o.order_id), Cell::Money(o.value), text(&detail)]));
        }
        for (what, v) in [("rfm segment", &self.segment), ("behaviour cluster", &self.cluster)] {
            if let Some(v) = v {
                t.rows.push(TableRow::new(vec![text("segment"), when(self.generated_at), text(what), text(v), text(""), text("")]));
            }
        }
        t
    }
}

/// The ledger line that decides a customer's consent at `now`: the latest
/// at or before it, from `(at, action, token expiry)` lines oldest first
/// (in one second an opt-out sorts after an opt-in, and wins).
fn standing<'a>(lines: &'a [(u32, &'a str, u32)], now: u32) -> Option<&'a (u32, &'a str, u32)> {
    lines.iter().filter(|(t, ..)| *t <= now).next_back()
}

/// Whether the customer's opt-in stands at `now`: not opted out, not
/// expired, no erasure asked for since. What Tier 3 purposes that act on
/// the customer (personal recommendations) require.
pub fn opted_in(lines: &[(u32, &str, u32)], now: u32) -> bool {
    matches!(standing(lines, now), Some((_, "opt_in", expires)) if *expires > now)
}

/// The customer's consent status from their ledger lines (oldest first).
pub fn status(lines: &[(u32, &str, u32)], now: u32) -> String {
    let at = |t: u32| when(t).display();
    match standing(lines, now) {
        None => "No consent on record: never opted in, or erased.".into(),
        Some((t, "opt_in", expires)) if *expires > now => format!("Opted in since {} (until {}).", at(*t), at(*expires)),
        Some((_, "opt_in", expires)) => format!("Opt-in expired {}: no Tier 3 data is recorded since.", at(*expires)),
        Some((t, "opt_out", _)) => format!("Opted out {}: no Tier 3 data is recorded since.", at(*t)),
        Some((t, _, _)) => format!("Erasure requested {}: their Tier 3 data is being deleted.", at(*t)),
    }
}

/// Reads the whole record of `customer_ref` (segments are the caller's:
/// they live in the dashboards' cache).
pub async fn read(r: &Reader<'_>, customer_ref: &str, now: u32) -> clickhouse::error::Result<Record> {
    // Statements name the customer by subject only.
    let subject = r.subjects.subject(customer_ref);
    let consent = Sql::new(
        "SELECT toUInt32(at) AS at, toString(action) AS action, customer_ref, source, policy_version, toUInt32(token_expires_at) AS expires, \
         api_key_id, note FROM {ledger}.consent_ledger WHERE subject = ",
    )
    .text_value(&subject)
    .raw(" ORDER BY at, action");
    // Replays are the same row again; LIMIT 1 BY keeps one.
    let events = Sql::new(
        "SELECT toUInt32(ts) AS at, kind, url, path, title, referrer_domain, target, ip, consent_source, policy_version \
         FROM {t3}.events WHERE subject = ",
    )
    .text_value(&subject)
    .raw(" ORDER BY ts, event_id LIMIT 1 BY event_id");
    let orders = Sql::new(
        "SELECT toUInt32(at) AS at, order_id, toString(event) AS event, toString(channel) AS channel, value, currency, item_skus, \
         item_quantities, state, zip FROM {t3}.orders WHERE subject = ",
    )
    .text_value(&subject)
    .raw(" ORDER BY at, order_id, event LIMIT 1 BY order_id, event");
    let (consent, events, orders) = tokio::try_join!(
        consent.query_in(r.client, r.dbs).fetch_all::<LedgerLine>(),
        events.query_in(r.client, r.dbs).fetch_all::<EventRecord>(),
        orders.query_in(r.client, r.dbs).fetch_all::<OrderRecord>(),
    )?;
    let lines: Vec<(u32, &str, u32)> = consent.iter().map(|l| (l.at, l.action.as_str(), l.expires)).collect();
    Ok(Record {
        customer_ref: customer_ref.to_string(),
        generated_at: now,
        status: status(&lines, now),
        consent: consent
            .iter()
            .map(|l| ConsentRecord {
                at: l.at,
                action: l.action.clone(),
                source: l.source.clone(),
                policy_version: l.policy_version,
                token_expires_at: (l.action == "opt_in").then_some(l.expires),
            })
            .collect(),
        events,
        orders,
        segment: None,
        cluster: None,
        note: NOTE,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_the_latest_action() {
        let now = 1_800_000_000;
        assert!(!opted_in(&[], now) && opted_in(&[(now - 100, "opt_in", now + 100)], now));
        assert!(!opted_in(&[(now - 100, "opt_in", now - 1)], now), "expired");
        assert!(!opted_in(&[(now - 100, "opt_in", now + 100), (now - 100, "opt_out", 0)], now), "an opt-out in the same second");
        assert!(!opted_in(&[(now - 100, "opt_in", now + 100), (now - 50, "erasure_requested", 0)], now), "erasure asked for");
        assert!(status(&[], now).starts_with("No consent on record"));
        assert!(status(&[(now - 100, "opt_in", now + 100)], now).starts_with("Opted in since"));
        assert!(status(&[(now - 100, "opt_in", now - 1)], now).starts_with("Opt-in expired"));
        assert!(status(&[(now - 100, "opt_in", now + 100), (now - 50, "opt_out", 0)], now).starts_with("Opted out"));
        assert!(status(&[(now - 100, "opt_out", 0), (now - 50, "opt_in", now + 100)], now).starts_with("Opted in"));
        assert!(status(&[(now - 100, "opt_in", now + 100), (now - 50, "erasure_requested", 0)], now).starts_with("Erasure requested"));
    }
}
