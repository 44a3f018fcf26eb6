//! The transform: one verified edge batch into table rows.
//!
//! The only way to rows is [`Prepared`], which first removes personal data
//! from every free-text field ([`EdgeBatch::strip_personal`], the same rules
//! as the beacon's and the edge's: the collector is the last layer and trusts
//! neither) and from the names enrichment read out of the user agent.
//!
//! [`T2Row`] is the de-identified row every event gets. It has no field that
//! could hold a full IP, a customer reference, a persistent id, an order
//! number or contact details: Tier 2 cannot carry PII because the type cannot
//! express it. [`T3Row`] exists only for Tier 3 events and has no session id.
//! Stored ids are keyed hashes, one key per table ([`crate::pseudonym`]), so
//! no id of a `t3` row is an id in `t2`, and the two tables cannot be joined.

use std::borrow::Cow;

use clickhouse::Row;
use mintmark_protocol::ip;
use mintmark_protocol::pii::value_looks_personal;
use mintmark_protocol::redact::{PiiCounts, PiiField};
use mintmark_protocol::scope::parse_url;
use mintmark_protocol::wire::{BeaconEvent, EdgeBatch, Tier};
use serde::Serialize;
use serde_repr::Serialize_repr;

use crate::enrich::{Agent, Enricher, Place};
use crate::pseudonym::{Pseudonyms, RowId};

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
/// Strings borrow from the batch and its [`BatchFacts`]: building a row
/// allocates nothing but the props JSON.
#[derive(Debug, Clone, PartialEq, Row, Serialize)]
pub struct T2Row<'a> {
    pub event_date: u16,
    pub ts: u32,
    pub received_at: u32,
    pub event_id: RowId,
    pub tier: TierCode,
    pub session_id: RowId,
    pub kind: &'static str,
    pub path: &'a str,
    pub title: &'a str,
    pub referrer_domain: &'a str,
    pub target: &'a str,
    pub ip_prefix: &'a str,
    pub screen_width: u16,
    pub screen_height: u16,
    pub color_depth: u8,
    pub language: &'a str,
    pub time_zone: &'a str,
    pub connection_type: &'a str,
    pub downlink_mbps: f32,
    pub props: String,
    pub country: &'a str,
    pub region: &'a str,
    pub network: &'a str,
    pub os: &'a str,
    pub browser: &'a str,
    pub device: &'a str,
    pub utm_source: Cow<'a, str>,
    pub utm_medium: Cow<'a, str>,
    pub utm_campaign: Cow<'a, str>,
    pub utm_term: Cow<'a, str>,
    pub utm_content: Cow<'a, str>,
    pub value: f64,
    pub currency: &'a str,
    pub item_skus: Vec<&'a str>,
    pub item_quantities: Vec<u32>,
    pub item_prices: Vec<f64>,
}

/// A `{t3}.events` row.
#[derive(Debug, Clone, PartialEq, Row, Serialize)]
pub struct T3Row<'a> {
    pub event_date: u16,
    pub ts: u32,
    pub received_at: u32,
    pub event_id: RowId,
    pub visitor_id: &'a str,
    pub customer_ref: &'a str,
    pub subject: RowId,
    pub consent_source: &'static str,
    pub policy_version: u32,
    pub ip: &'a str,
    pub kind: &'static str,
    pub path: &'a str,
    pub title: &'a str,
    pub referrer_domain: &'a str,
    pub target: &'a str,
    pub props: String,
    pub country: &'a str,
    pub region: &'a str,
    pub network: &'a str,
    pub os: &'a str,
    pub browser: &'a str,
    pub device: &'a str,
    pub utm_source: Cow<'a, str>,
    pub utm_medium: Cow<'a, str>,
    pub utm_campaign: Cow<'a, str>,
    pub utm_term: Cow<'a, str>,
    pub utm_content: Cow<'a, str>,
    pub value: f64,
    pub currency: &'a str,
    pub item_skus: Vec<&'a str>,
    pub item_quantities: Vec<u32>,
    pub item_prices: Vec<f64>,
}

/// The rows one batch becomes.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Rows<'a> {
    pub t2: Vec<T2Row<'a>>,
    pub t3: Vec<T3Row<'a>>,
}

/// What is worked out once per batch: the truncated address and what
/// enrichment says about it and the user agent.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct BatchFacts {
    pub ip_prefix: String,
    pub place: Place,
    pub agent: Agent,
}

impl BatchFacts {
    /// Enrichment always looks up the truncated address. A name read out of
    /// the user agent that looks personal (a crafted agent string) becomes
    /// empty and is counted in `pii`.
    pub fn new(batch: &EdgeBatch, enricher: Option<&Enricher>, pii: &mut PiiCounts) -> BatchFacts {
        let truncated = ip::truncate(&batch.ip).ok();
        let mut agent = enricher.map(|e| e.agent(&batch.user_agent)).unwrap_or_default();
        for name in [&mut agent.os, &mut agent.browser, &mut agent.device] {
            if value_looks_personal(name) {
                name.clear();
                pii.add(PiiField::Agent, 1);
            }
        }
        BatchFacts {
            ip_prefix: truncated.map(|a| a.to_string()).unwrap_or_default(),
            place: match (enricher, truncated) {
                (Some(e), Some(ip)) => e.place(ip),
                _ => Place::default(),
            },
            agent,
        }
    }
}

/// A batch made fit for storage: personal data removed, enrichment done.
#[derive(Debug, Clone)]
pub struct Prepared {
    batch: EdgeBatch,
    facts: BatchFacts,
    /// What was removed, by field (for `/metrics`).
    pub pii: PiiCounts,
}

impl Prepared {
    pub fn new(mut batch: EdgeBatch, enricher: Option<&Enricher>) -> Prepared {
        let mut pii = batch.strip_personal();
        let facts = BatchFacts::new(&batch, enricher, &mut pii);
        Prepared { batch, facts, pii }
    }

    pub fn rows(&self, ids: &Pseudonyms) -> Rows<'_> {
        from_batch(&self.batch, &self.facts, ids)
    }
}

fn event_time(e: &BeaconEvent, received_at_ms: u64) -> (u16, u32) {
    let ts_ms = if e.ts.abs_diff(received_at_ms) > MAX_CLOCK_DRIFT_MS { received_at_ms } else { e.ts };
    let ts = (ts_ms / 1000) as u32;
    ((ts / 86_400) as u16, ts)
}

/// The `utm_*` parameters of a page URL, percent-decoded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Campaign<'a> {
    pub source: Cow<'a, str>,
    pub medium: Cow<'a, str>,
    pub campaign: Cow<'a, str>,
    pub term: Cow<'a, str>,
    pub content: Cow<'a, str>,
}

impl<'a> Campaign<'a> {
    pub fn from_url(url: &'a str) -> Campaign<'a> {
        let mut c = Campaign::default();
        let query = url.split('#').next().and_then(|u| u.split_once('?')).map_or("", |(_, q)| q);
        for (key, value) in query.split('&').filter_map(|p| p.split_once('=')) {
            let slot = match key {
                "utm_source" => &mut c.source,
                "utm_medium" => &mut c.medium,
                "utm_campaign" => &mut c.campaign,
                "utm_term" => &mut c.term,
                "utm_content" => &mut c.content,
                _ => continue,
            };
            *slot = decode(value);
        }
        c
    }
}

/// Form decoding (`+` is a space); invalid UTF-8 keeps the raw text.
fn decode(value: &str) -> Cow<'_, str> {
    if !value.contains(['%', '+']) {
        return Cow::Borrowed(value);
    }
    let spaced = value.replace('+', " ");
    match percent_encoding::percent_decode_str(&spaced).decode_utf8() {
        Ok(decoded) => Cow::Owned(decoded.into_owned()),
        Err(_) => Cow::Borrowed(value),
    }
}

/// Host of the referring page, nothing of its path or query.
pub fn referrer_domain(referrer: Option<&str>) -> &str {
    referrer.and_then(parse_url).map(|u| u.host).unwrap_or("")
}

fn props_json(e: &BeaconEvent) -> String {
    if e.props.is_empty() {
        String::new()
    } else {
        serde_json::to_string(&e.props).unwrap_or_default()
    }
}

/// Turns a validated, stripped batch into rows. The Tier 2 copy of every
/// event gets the truncated address whatever the tier (truncation is
/// idempotent) and ids of its own.
fn from_batch<'a>(batch: &'a EdgeBatch, facts: &'a BatchFacts, ids: &Pseudonyms) -> Rows<'a> {
    let received_at = (batch.received_at / 1000) as u32;
    let session_id = ids.t2_session(batch.tier, batch.session_id.as_deref());
    let c = &batch.context;
    let (place, agent) = (&facts.place, &facts.agent);
    let mut rows = Rows { t2: Vec::with_capacity(batch.events.len()), t3: Vec::new() };
    let subject = batch.identity.as_ref().map(|id| ids.subject(&id.customer_ref)).unwrap_or(RowId::EMPTY);
    for e in &batch.events {
        let (event_date, ts) = event_time(e, batch.received_at);
        let path = parse_url(&e.url).map(|u| u.path).unwrap_or("");
        let referrer_domain = referrer_domain(e.referrer.as_deref());
        let props = props_json(e);
        let campaign = Campaign::from_url(&e.url);
        let item_skus: Vec<&str> = e.items.iter().map(|i| i.sku.as_str()).collect();
        let item_quantities: Vec<u32> = e.items.iter().map(|i| i.quantity).collect();
        let item_prices: Vec<f64> = e.items.iter().map(|i| i.price.unwrap_or(0.0)).collect();
        // An event recorded before the consent was given is not the
        // customer's, even when it reaches us with their token (a page's
        // last events are flushed on pagehide, after the opt-in response
        // set the cookie): it keeps only its de-identified copy.
        let before_consent = batch.identity.as_ref().is_some_and(|id| e.ts < id.consent_issued_at.saturating_mul(1000));
        if let (Tier::Tier3, Some(id), false) = (batch.tier, &batch.identity, before_consent) {
            rows.t3.push(T3Row {
                event_date,
                ts,
                received_at,
                event_id: ids.t3_event(&e.id),
                visitor_id: &id.visitor_id,
                customer_ref: &id.customer_ref,
                subject,
                consent_source: id.consent_source.as_str(),
                policy_version: id.policy_version,
                ip: &batch.ip,
                kind: e.kind.as_str(),
                path,
                title: e.title.as_deref().unwrap_or(""),
                referrer_domain,
                target: e.target.as_deref().unwrap_or(""),
                props: props.clone(),
                country: &place.country,
                region: &place.region,
                network: &place.network,
                os: &agent.os,
                browser: &agent.browser,
                device: &agent.device,
                utm_source: campaign.source.clone(),
                utm_medium: campaign.medium.clone(),
                utm_campaign: campaign.campaign.clone(),
                utm_term: campaign.term.clone(),
                utm_content: campaign.content.clone(),
                value: e.value.unwrap_or(0.0),
                currency: e.currency.as_deref().unwrap_or(""),
                item_skus: item_skus.clone(),
                item_quantities: item_quantities.clone(),
                item_prices: item_prices.clone(),
            });
        }
        rows.t2.push(T2Row {
            event_date,
            ts,
            received_at,
            event_id: ids.t2_event(&e.id),
            tier: batch.tier.into(),
            session_id,
            kind: e.kind.as_str(),
            path,
            title: e.title.as_deref().unwrap_or(""),
            referrer_domain,
            target: e.target.as_deref().unwrap_or(""),
            ip_prefix: &facts.ip_prefix,
            screen_width: c.screen_width,
            screen_height: c.screen_height,
            color_depth: c.color_depth,
            language: &c.language,
            time_zone: &c.time_zone,
            connection_type: &c.connection_type,
            downlink_mbps: c.downlink_mbps,
            props,
            country: &place.country,
            region: &place.region,
            network: &place.network,
            os: &agent.os,
            browser: &agent.browser,
            device: &agent.device,
            utm_source: campaign.source,
            utm_medium: campaign.medium,
            utm_campaign: campaign.campaign,
            utm_term: campaign.term,
            utm_content: campaign.content,
            value: e.value.unwrap_or(0.0),
            currency: e.currency.as_deref().unwrap_or(""),
            item_skus,
            item_quantities,
            item_prices,
        });
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;
    use mintmark_protocol::consent::OptInSource;
    use mintmark_protocol::wire::{EventKind, Identity, Item, PageContext};

    const ID: &str = "0123456789abcdef0123456789abcdef";
    const NOW: u64 = 1_800_000_000_000;

    fn ids() -> Pseudonyms {
        Pseudonyms::from_secrets(&"ab".repeat(32), &"cd".repeat(32)).unwrap()
    }

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
                consent_issued_at: 0,
            }),
            sealed: None,
            ip: ip.into(),
            user_agent: "UA".into(),
            context: PageContext::default(),
            events: vec![BeaconEvent {
                referrer: Some("https://search.example/q?name=Jane+Doe".into()),
                title: Some("Item".into()),
                ..BeaconEvent::new(ID, EventKind::Pageview, NOW - 500, "https://shop.example.gov/store/item?email=a@b.c")
            }],
        }
    }

    #[test]
    fn tier2_batch_gives_only_t2_rows_without_query_or_referrer_path() {
        let b = batch(Tier::Tier2, "203.0.113.0");
        let prepared = Prepared::new(b, None);
        let rows = prepared.rows(&ids());
        assert!(rows.t3.is_empty());
        let r = &rows.t2[0];
        assert_eq!((r.path, r.referrer_domain, r.ip_prefix), ("/store/item", "search.example", "203.0.113.0"));
        let debug = format!("{r:?}");
        assert!(!debug.contains("email") && !debug.contains("Jane"), "query strings must not reach t2: {debug}");
    }

    #[test]
    fn tier3_batch_gives_a_deidentified_t2_copy_and_a_t3_row_without_session() {
        let b = batch(Tier::Tier3, "203.0.113.77");
        let prepared = Prepared::new(b, None);
        let rows = prepared.rows(&ids());
        assert_eq!(rows.t2[0].ip_prefix, "203.0.113.0");
        assert_eq!(rows.t2[0].tier, TierCode::Tier3);
        let t3 = &rows.t3[0];
        assert_eq!((t3.ip, t3.customer_ref), ("203.0.113.77", "cust-1"));
        assert!(!format!("{t3:?}").contains(&"5".repeat(32)), "t3 rows never carry the session id");
        assert!(!format!("{:?}", rows.t2[0]).contains("cust-1"));
        // No id is shared between the copies, nor stored as it came.
        let t2 = &rows.t2[0];
        assert_ne!(t2.event_id, t3.event_id);
        assert!(t2.event_id.as_str() != ID && t3.event_id.as_str() != ID);
        assert_ne!(t2.session_id.as_str(), "5".repeat(32));
        for t3_value in [t3.event_id.as_str(), t3.visitor_id, t3.customer_ref, t3.ip] {
            assert!(!format!("{t2:?}").contains(t3_value), "{t3_value} of t3 is in the t2 copy: {t2:?}");
        }
    }

    #[test]
    fn events_recorded_before_the_consent_are_not_linked_to_the_customer() {
        let mut b = batch(Tier::Tier3, "203.0.113.77");
        let mut late = b.events[0].clone();
        late.id = "f".repeat(32);
        late.ts = NOW;
        b.events[0].ts = NOW - 5_000;
        b.events.push(late);
        b.identity.as_mut().unwrap().consent_issued_at = (NOW - 1_000) / 1000;
        let prepared = Prepared::new(b, None);
        let rows = prepared.rows(&ids());
        assert_eq!(rows.t2.len(), 2, "both keep their de-identified copy");
        assert_eq!(rows.t3.len(), 1, "only the event after the opt-in is the customer's");
        assert_eq!(rows.t3[0].ts as u64, NOW / 1000);
    }

    #[test]
    fn personal_data_is_removed_even_when_the_edge_let_it_through() {
        let mut b = batch(Tier::Tier2, "203.0.113.0");
        b.events[0].url = "https://shop.example.gov/store/orders/4111111111111111?utm_content=jane.doe%40example.com".into();
        b.events[0].title = Some("jane.doe@example.com".into());
        b.context.language = "jane.doe@example.com".into();
        let prepared = Prepared::new(b, None);
        let rows = prepared.rows(&ids());
        let t2 = &rows.t2[0];
        assert_eq!((t2.path, &*t2.utm_content, t2.title, t2.language), ("/store/orders/:redacted", "", "", ""));
        assert_eq!(prepared.pii.total(), 4, "{:?}", prepared.pii);
    }

    #[test]
    fn campaign_fields_and_commerce_become_columns() {
        let mut b = batch(Tier::Tier3, "203.0.113.77");
        b.events[0].url = "https://shop.example.gov/store/?utm_source=news+letter&utm_campaign=fall%20sale&utm_medium=email#x".into();
        b.events[0].kind = EventKind::Purchase;
        b.events[0].value = Some(27.5);
        b.events[0].currency = Some("USD".into());
        b.events[0].items = vec![
            Item { sku: "MUG-1".into(), quantity: 2, price: Some(12.5) },
            Item { sku: "LID-2".into(), quantity: 1, price: None },
        ];
        let prepared = Prepared::new(b, None);
        let rows = prepared.rows(&ids());
        let (t2, t3) = (&rows.t2[0], &rows.t3[0]);
        assert_eq!((&*t2.utm_source, &*t2.utm_medium, &*t2.utm_campaign, &*t2.utm_term), ("news letter", "email", "fall sale", ""));
        assert_eq!((t2.value, t2.currency), (27.5, "USD"));
        assert_eq!((&t2.item_skus[..], &t2.item_quantities[..], &t2.item_prices[..]), (&["MUG-1", "LID-2"][..], &[2, 1][..], &[12.5, 0.0][..]));
        assert_eq!((&t3.item_skus, &t3.utm_campaign), (&t2.item_skus, &t2.utm_campaign));
        assert_eq!(t2.path, "/store/", "the query stays out of the path");
        assert_eq!(Campaign::from_url("https://a.example/?utm_source=%FF"), Campaign { source: "%FF".into(), ..Default::default() });
    }

    #[test]
    fn wild_browser_clock_is_replaced_by_the_edge_clock() {
        let mut b = batch(Tier::Tier2, "203.0.113.0");
        b.events[0].ts = 0;
        let prepared = Prepared::new(b, None);
        let rows = prepared.rows(&ids());
        assert_eq!(rows.t2[0].ts as u64, NOW / 1000);
    }
}
