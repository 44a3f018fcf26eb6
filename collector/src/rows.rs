//! The transform: one verified edge batch into table rows.
//!
//! [`T2Row`] is the de-identified row every event gets. It has no field that
//! could hold a full IP, a customer reference, a persistent id, an order
//! number or contact details: Tier 2 cannot carry PII because the type cannot
//! express it. [`T3Row`] exists only for Tier 3 events and has no session id,
//! so the two tables cannot be joined.

use clickhouse::Row;
use mintmark_protocol::ip;
use mintmark_protocol::scope::split_url;
use mintmark_protocol::wire::{BeaconEvent, EdgeBatch, Tier};
use serde::Serialize;
use serde_repr::Serialize_repr;

use crate::enrich::{Agent, Enricher, Place};

/// Browser timestamps further than this from the edge's clock are replaced
/// by the edge's: a wrong device clock must not file events in another month.
const MAX_CLOCK_DRIFT_MS: u64 = 24 * 3600 * 1000;

/// ClickHouse `Enum8` of the `tier` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize_repr)]
#[repr(i8)]
pub enum TierCode {
    Anonymous = 1,
    Tier2 = 2,
    Tier3 = 3,
}

impl From<Tier> for TierCode {
    fn from(t: Tier) -> Self {
        match t {
            Tier::Anonymous => TierCode::Anonymous,
            Tier::Tier2 => TierCode::Tier2,
            Tier::Tier3 => TierCode::Tier3,
        }
    }
}

/// A `{t2}.events` row. Field order is the column order (RowBinary).
#[derive(Debug, Clone, PartialEq, Row, Serialize)]
pub struct T2Row {
    pub event_date: u16,
    pub ts: u32,
    pub received_at: u32,
    pub event_id: String,
    pub tier: TierCode,
    pub session_id: String,
    pub kind: &'static str,
    pub path: String,
    pub title: String,
    pub referrer_domain: String,
    pub target: String,
    pub ip_prefix: String,
    pub screen_width: u16,
    pub screen_height: u16,
    pub color_depth: u8,
    pub language: String,
    pub time_zone: String,
    pub connection_type: String,
    pub downlink_mbps: f32,
    pub props: String,
    pub country: String,
    pub region: String,
    pub network: String,
    pub os: String,
    pub browser: String,
    pub device: String,
}

/// A `{t3}.events` row.
#[derive(Debug, Clone, PartialEq, Row, Serialize)]
pub struct T3Row {
    pub event_date: u16,
    pub ts: u32,
    pub received_at: u32,
    pub event_id: String,
    pub visitor_id: String,
    pub customer_ref: String,
    pub consent_source: &'static str,
    pub policy_version: u32,
    pub ip: String,
    pub kind: &'static str,
    pub path: String,
    pub title: String,
    pub referrer_domain: String,
    pub target: String,
    pub props: String,
    pub country: String,
    pub region: String,
    pub network: String,
    pub os: String,
    pub browser: String,
    pub device: String,
}

/// The rows one batch becomes.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Rows {
    pub t2: Vec<T2Row>,
    pub t3: Vec<T3Row>,
}

impl Rows {
    pub fn extend(&mut self, other: Rows) {
        self.t2.extend(other.t2);
        self.t3.extend(other.t3);
    }

    /// Events held (every event has exactly one t2 row).
    pub fn len(&self) -> usize {
        self.t2.len()
    }

    pub fn is_empty(&self) -> bool {
        self.t2.is_empty()
    }
}

struct Common {
    event_date: u16,
    ts: u32,
    path: String,
    referrer_domain: String,
    props: String,
}

fn common(e: &BeaconEvent, received_at_ms: u64) -> Common {
    let ts_ms = if e.ts.abs_diff(received_at_ms) > MAX_CLOCK_DRIFT_MS { received_at_ms } else { e.ts };
    let ts = (ts_ms / 1000) as u32;
    Common {
        event_date: (ts / 86_400) as u16,
        ts,
        path: split_url(&e.url).map(|p| p.path.to_string()).unwrap_or_default(),
        referrer_domain: referrer_domain(e.referrer.as_deref()),
        props: if e.props.is_empty() { String::new() } else { serde_json::to_string(&e.props).unwrap_or_default() },
    }
}

/// Host of the referring page, nothing of its path or query.
pub fn referrer_domain(referrer: Option<&str>) -> String {
    referrer
        .and_then(split_url)
        .map(|p| p.origin.split_once("://").map(|(_, host)| host.to_string()).unwrap_or_default())
        .unwrap_or_default()
}

/// Turns a validated batch into rows. The Tier 2 copy of every event gets
/// the truncated address whatever the tier (truncation is idempotent), and
/// enrichment always looks up the truncated address.
pub fn from_batch(batch: &EdgeBatch, enricher: Option<&Enricher>) -> Rows {
    let received_at = (batch.received_at / 1000) as u32;
    let truncated = ip::truncate(&batch.ip).ok();
    let ip_prefix = truncated.map(|a| a.to_string()).unwrap_or_default();
    let place = match (enricher, truncated) {
        (Some(e), Some(ip)) => e.place(ip),
        _ => Place::default(),
    };
    let agent = enricher.map(|e| e.agent(&batch.user_agent)).unwrap_or_else(Agent::default);
    let c = &batch.context;
    let mut rows = Rows::default();
    for e in &batch.events {
        let m = common(e, batch.received_at);
        rows.t2.push(T2Row {
            event_date: m.event_date,
            ts: m.ts,
            received_at,
            event_id: e.id.clone(),
            tier: batch.tier.into(),
            session_id: batch.session_id.clone().unwrap_or_default(),
            kind: e.kind.as_str(),
            path: m.path.clone(),
            title: e.title.clone().unwrap_or_default(),
            referrer_domain: m.referrer_domain.clone(),
            target: e.target.clone().unwrap_or_default(),
            ip_prefix: ip_prefix.clone(),
            screen_width: c.screen_width,
            screen_height: c.screen_height,
            color_depth: c.color_depth,
            language: c.language.clone(),
            time_zone: c.time_zone.clone(),
            connection_type: c.connection_type.clone(),
            downlink_mbps: c.downlink_mbps,
            props: m.props.clone(),
            country: place.country.clone(),
            region: place.region.clone(),
            network: place.network.clone(),
            os: agent.os.clone(),
            browser: agent.browser.clone(),
            device: agent.device.clone(),
        });
        if let (Tier::Tier3, Some(id)) = (batch.tier, &batch.identity) {
            rows.t3.push(T3Row {
                event_date: m.event_date,
                ts: m.ts,
                received_at,
                event_id: e.id.clone(),
                visitor_id: id.visitor_id.clone(),
                customer_ref: id.customer_ref.clone(),
                consent_source: id.consent_source.as_str(),
                policy_version: id.policy_version,
                ip: batch.ip.clone(),
                kind: e.kind.as_str(),
                path: m.path,
                title: e.title.clone().unwrap_or_default(),
                referrer_domain: m.referrer_domain,
                target: e.target.clone().unwrap_or_default(),
                props: m.props,
                country: place.country.clone(),
                region: place.region.clone(),
                network: place.network.clone(),
                os: agent.os.clone(),
                browser: agent.browser.clone(),
                device: agent.device.clone(),
            });
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use mintmark_protocol::consent::OptInSource;
    use mintmark_protocol::wire::{EventKind, Identity, PageContext};

    const ID: &str = "0123456789abcdef0123456789abcdef";
    const NOW: u64 = 1_800_000_000_000;

    fn batch(tier: Tier, ip: &str) -> EdgeBatch {
        EdgeBatch {
            v: 1,
            received_at: NOW,
            tier,
            session_id: (tier != Tier::Anonymous).then(|| "5".repeat(32)),
            identity: (tier == Tier::Tier3).then(|| Identity {
                visitor_id: ID.into(),
                customer_ref: "cust-1".into(),
                consent_source: OptInSource::Purchase,
                policy_version: 4,
            }),
            ip: ip.into(),
            user_agent: "UA".into(),
            context: PageContext::default(),
            events: vec![BeaconEvent {
                id: ID.into(),
                kind: EventKind::Pageview,
                ts: NOW - 500,
                url: "https://shop.example.gov/store/item?email=a@b.c".into(),
                referrer: Some("https://search.example/q?name=Jane+Doe".into()),
                title: Some("Item".into()),
                target: None,
                props: vec![],
            }],
        }
    }

    #[test]
    fn tier2_batch_gives_only_t2_rows_without_query_or_referrer_path() {
        let rows = from_batch(&batch(Tier::Tier2, "203.0.113.0"), None);
        assert!(rows.t3.is_empty());
        let r = &rows.t2[0];
        assert_eq!((r.path.as_str(), r.referrer_domain.as_str(), r.ip_prefix.as_str()), ("/store/item", "search.example", "203.0.113.0"));
        let debug = format!("{r:?}");
        assert!(!debug.contains("email") && !debug.contains("Jane"), "query strings must not reach t2: {debug}");
    }

    #[test]
    fn tier3_batch_gives_a_deidentified_t2_copy_and_a_t3_row_without_session() {
        let rows = from_batch(&batch(Tier::Tier3, "203.0.113.77"), None);
        assert_eq!(rows.t2[0].ip_prefix, "203.0.113.0");
        assert_eq!(rows.t2[0].tier, TierCode::Tier3);
        let t3 = &rows.t3[0];
        assert_eq!((t3.ip.as_str(), t3.customer_ref.as_str()), ("203.0.113.77", "cust-1"));
        assert!(!format!("{t3:?}").contains(&"5".repeat(32)), "t3 rows never carry the session id");
        assert!(!format!("{:?}", rows.t2[0]).contains("cust-1"));
    }

    #[test]
    fn wild_browser_clock_is_replaced_by_the_edge_clock() {
        let mut b = batch(Tier::Tier2, "203.0.113.0");
        b.events[0].ts = 0;
        let rows = from_batch(&b, None);
        assert_eq!(rows.t2[0].ts as u64, NOW / 1000);
    }
}
