//! Wire types and their limits.
//!
//! Two messages cross a network: [`BeaconBatch`] from the browser to the edge,
//! and [`EdgeBatch`] from the edge to the collector. Both are JSON. Each has a
//! `validate` that the receiver runs before it trusts anything; the limits
//! are constants here so every component enforces the same numbers.
//!
//! An [`EdgeBatch`] also carries the tier decision, and its `validate` checks
//! the tier invariants of DESIGN.md a second time, after the edge: only
//! Tier 3 may carry an identity or a full IP, and only visitors with cookies
//! have a session.

use serde::{Deserialize, Serialize};

use crate::ip;
pub use crate::identity::{is_id128, Identity};

pub use crate::limits::*;
pub const WIRE_VERSION: u8 = 1;

/// What happened on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Pageview,
    Download,
    Outbound,
    Search,
    ProductView,
    AddToCart,
    RemoveFromCart,
    CheckoutStart,
    Purchase,
    Custom,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Pageview => "pageview",
            EventKind::Download => "download",
            EventKind::Outbound => "outbound",
            EventKind::Search => "search",
            EventKind::ProductView => "product_view",
            EventKind::AddToCart => "add_to_cart",
            EventKind::RemoveFromCart => "remove_from_cart",
            EventKind::CheckoutStart => "checkout_start",
            EventKind::Purchase => "purchase",
            EventKind::Custom => "custom",
        }
    }
}

/// One event as the beacon sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BeaconEvent {
    /// 128 random bits as 32 lowercase hex digits; the idempotency key.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// Unix milliseconds on the browser's clock.
    pub ts: u64,
    /// Absolute URL of the page the event happened on.
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Download URL (without query), outbound destination domain, search
    /// term, or a custom event's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Bounded page-supplied properties (custom and commerce events).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub props: Vec<(String, PropValue)>,
    /// Commerce: order or cart value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Commerce: ISO 4217 code, three uppercase letters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Commerce: the products concerned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<Item>,
}

/// One product line of a commerce event. Never an order number: the
/// beacon cannot know the visitor's tier, and order numbers are Tier 3 only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub sku: String,
    #[serde(default = "one")]
    pub quantity: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<f64>,
}

impl BeaconEvent {
    /// An event with only its required fields; the rest empty.
    pub fn new(id: &str, kind: EventKind, ts: u64, url: &str) -> BeaconEvent {
        BeaconEvent {
            id: id.into(),
            kind,
            ts,
            url: url.into(),
            referrer: None,
            title: None,
            target: None,
            props: vec![],
            value: None,
            currency: None,
            items: vec![],
        }
    }
}

fn one() -> u32 {
    1
}

/// A property value: the only two shapes a page may send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PropValue {
    Num(f64),
    Str(String),
}

/// Device and browser facts, sent once per batch.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageContext {
    #[serde(default)]
    pub screen_width: u16,
    #[serde(default)]
    pub screen_height: u16,
    #[serde(default)]
    pub color_depth: u8,
    #[serde(default)]
    pub language: String,
    #[serde(default)]
    pub time_zone: String,
    /// Network Information API `effectiveType`, where the browser has it.
    #[serde(default)]
    pub connection_type: String,
    /// Network Information API `downlink` in Mbit/s, where the browser has it.
    #[serde(default)]
    pub downlink_mbps: f32,
}

/// What the beacon POSTs to the edge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BeaconBatch {
    pub v: u8,
    /// `navigator.cookieEnabled`; false makes the visitor anonymous.
    pub cookies: bool,
    #[serde(default)]
    pub context: PageContext,
    pub events: Vec<BeaconEvent>,
    /// Page-supplied props the beacon dropped as personal since its last
    /// delivered batch (the edge counts them; the props themselves never left).
    #[serde(default)]
    pub pii_dropped: u32,
    /// Bad calls and failures the beacon caught since its last delivered batch.
    #[serde(default)]
    pub errors: u32,
}

/// The privacy tier of a batch (DESIGN.md, "Tiers and identity").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Cookies disabled: no identifier at all.
    Anonymous,
    /// The default: a session cookie, truncated IP.
    Tier2,
    /// Valid opt-in consent: persistent visitor id, customer, full IP.
    Tier3,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Anonymous => "anonymous",
            Tier::Tier2 => "tier2",
            Tier::Tier3 => "tier3",
        }
    }
}

/// What the edge forwards to the collector, signed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeBatch {
    pub v: u8,
    /// Unix milliseconds on the edge's clock.
    pub received_at: u64,
    pub tier: Tier,
    /// Session cookie value; absent for anonymous visitors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Who a Tier 3 visitor is, opened: only ever in memory (the collector
    /// opens [`EdgeBatch::sealed`] just before writing rows). On the wire a
    /// batch carrying it is refused ([`EdgeBatch::validate_sealed`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
    /// A Tier 3 batch's identity and full address, sealed by the edge
    /// ([`crate::seal`]); `ip` then holds the truncated address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<String>,
    /// Truncated unless the batch carries an opened identity.
    pub ip: String,
    pub user_agent: String,
    #[serde(default)]
    pub context: PageContext,
    pub events: Vec<BeaconEvent>,
}

/// Why a batch was refused. `reason()` is the stable label for metrics and
/// error bodies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("body is {0} bytes, over the limit")]
    TooLarge(usize),
    #[error("body is not a valid batch: {0}")]
    Malformed(String),
    #[error("unsupported wire version {0}")]
    Version(u8),
    #[error("batch has no events")]
    Empty,
    #[error("batch has more than {MAX_EVENTS} events")]
    TooManyEvents,
    #[error("event {index}: {what}")]
    BadEvent { index: usize, what: &'static str },
    #[error("field {0} too long")]
    FieldTooLong(&'static str),
    #[error("tier invariant violated: {0}")]
    TierViolation(&'static str),
}

impl WireError {
    pub fn reason(&self) -> &'static str {
        match self {
            WireError::TooLarge(_) => "too_large",
            WireError::Malformed(_) => "malformed",
            WireError::Version(_) => "bad_version",
            WireError::Empty => "empty",
            WireError::TooManyEvents => "too_many_events",
            WireError::BadEvent { .. } => "bad_event",
            WireError::FieldTooLong(_) => "field_too_long",
            WireError::TierViolation(_) => "tier_violation",
        }
    }
}

fn parse_json<'a, T: Deserialize<'a>>(body: &'a [u8], limit: usize) -> Result<T, WireError> {
    if body.len() > limit {
        return Err(WireError::TooLarge(body.len()));
    }
    serde_json::from_slice(body).map_err(|e| {
        let mut msg = e.to_string();
        msg.truncate(160);
        WireError::Malformed(msg)
    })
}

fn check_len(value: &str, max: usize, field: &'static str) -> Result<(), WireError> {
    if value.len() > max {
        Err(WireError::FieldTooLong(field))
    } else {
        Ok(())
    }
}

fn validate_events(events: &[BeaconEvent]) -> Result<(), WireError> {
    if events.is_empty() {
        return Err(WireError::Empty);
    }
    if events.len() > MAX_EVENTS {
        return Err(WireError::TooManyEvents);
    }
    for (index, e) in events.iter().enumerate() {
        let bad = |what| WireError::BadEvent { index, what };
        if !is_id128(&e.id) {
            return Err(bad("id must be 32 lowercase hex digits"));
        }
        check_len(&e.url, MAX_URL_LEN, "url")?;
        if crate::scope::parse_url(&e.url).is_none() {
            return Err(bad("url must be an absolute http(s) URL"));
        }
        check_len(e.referrer.as_deref().unwrap_or(""), MAX_URL_LEN, "referrer")?;
        check_len(e.title.as_deref().unwrap_or(""), MAX_TITLE_LEN, "title")?;
        check_len(e.target.as_deref().unwrap_or(""), MAX_URL_LEN, "target")?;
        if e.props.len() > MAX_PROPS {
            return Err(bad("too many props"));
        }
        for (k, v) in &e.props {
            check_len(k, MAX_PROP_KEY_LEN, "prop key")?;
            match v {
                PropValue::Str(s) => check_len(s, MAX_PROP_VALUE_LEN, "prop value")?,
                PropValue::Num(n) if !n.is_finite() => return Err(bad("prop number must be finite")),
                PropValue::Num(_) => {}
            }
        }
        if e.value.is_some_and(|v| !v.is_finite()) {
            return Err(bad("value must be finite"));
        }
        if let Some(c) = &e.currency {
            if c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(bad("currency must be three uppercase letters"));
            }
        }
        if e.items.len() > MAX_ITEMS {
            return Err(bad("too many items"));
        }
        for item in &e.items {
            if item.sku.is_empty() {
                return Err(bad("item without sku"));
            }
            check_len(&item.sku, MAX_SKU_LEN, "sku")?;
            if item.price.is_some_and(|p| !p.is_finite()) {
                return Err(bad("item price must be finite"));
            }
        }
    }
    Ok(())
}

impl PageContext {
    fn validate(&self) -> Result<(), WireError> {
        check_len(&self.language, 35, "language")?;
        check_len(&self.time_zone, 64, "time_zone")?;
        check_len(&self.connection_type, 16, "connection_type")?;
        if !self.downlink_mbps.is_finite() || self.downlink_mbps < 0.0 {
            return Err(WireError::Malformed("downlink_mbps must be a finite, non-negative number".into()));
        }
        Ok(())
    }
}

impl BeaconBatch {
    /// Parses and validates a beacon body.
    pub fn from_json(body: &[u8]) -> Result<BeaconBatch, WireError> {
        let batch: BeaconBatch = parse_json(body, MAX_BEACON_BYTES)?;
        batch.validate()?;
        Ok(batch)
    }

    pub fn validate(&self) -> Result<(), WireError> {
        if self.v != WIRE_VERSION {
            return Err(WireError::Version(self.v));
        }
        self.context.validate()?;
        validate_events(&self.events)
    }
}

/// Longest sealed identity accepted (a reference of 128 characters seals
/// to well under this).
pub const MAX_SEALED_LEN: usize = 1024;

impl EdgeBatch {
    /// [`EdgeBatch::validate`], and what may cross a queue or a spool: a
    /// Tier 3 identity only sealed. The collector's ingest refuses anything
    /// else, so no spool ever holds an identity in the clear.
    pub fn validate_sealed(&self) -> Result<(), WireError> {
        self.validate()?;
        if self.identity.is_some() {
            return Err(WireError::TierViolation("tier3 identity not sealed"));
        }
        Ok(())
    }

    /// Parses and validates an edge batch, tier invariants included.
    pub fn from_json(body: &[u8]) -> Result<EdgeBatch, WireError> {
        let batch: EdgeBatch = parse_json(body, MAX_EDGE_BYTES)?;
        batch.validate()?;
        Ok(batch)
    }

    pub fn validate(&self) -> Result<(), WireError> {
        if self.v != WIRE_VERSION {
            return Err(WireError::Version(self.v));
        }
        check_len(&self.user_agent, MAX_USER_AGENT_LEN, "user_agent")?;
        self.context.validate()?;
        validate_events(&self.events)?;
        ip::parse(&self.ip).map_err(|_| WireError::Malformed("ip is not an address".into()))?;
        if let Some(s) = &self.session_id {
            if !is_id128(s) {
                return Err(WireError::Malformed("session_id must be 32 lowercase hex digits".into()));
            }
        }
        match (self.tier, &self.identity, &self.sealed) {
            (Tier::Tier3, None, None) => return Err(WireError::TierViolation("tier3 batch without identity")),
            (Tier::Tier3, Some(_), Some(_)) => return Err(WireError::TierViolation("tier3 batch with an identity both sealed and open")),
            (Tier::Tier3, None, Some(s)) => {
                if crate::seal::kid(s).is_none() || s.len() > MAX_SEALED_LEN {
                    return Err(WireError::Malformed("sealed identity is not a seal".into()));
                }
            }
            (Tier::Tier3, Some(id), None) => {
                if !is_id128(&id.visitor_id) {
                    return Err(WireError::Malformed("visitor_id must be 32 lowercase hex digits".into()));
                }
                check_len(&id.customer_ref, MAX_SHORT_LEN, "customer_ref")?;
                if id.customer_ref.is_empty() {
                    return Err(WireError::Malformed("customer_ref is empty".into()));
                }
            }
            (_, Some(_), _) | (_, _, Some(_)) => return Err(WireError::TierViolation("identity on a batch below tier3")),
            (_, None, None) => {}
        }
        if self.identity.is_none() && !ip::is_truncated(&self.ip) {
            return Err(WireError::TierViolation(if self.tier == Tier::Tier3 { "full IP outside the seal" } else { "full IP on a batch below tier3" }));
        }
        if self.tier == Tier::Anonymous && self.session_id.is_some() {
            return Err(WireError::TierViolation("session id on an anonymous batch"));
        }
        if self.tier != Tier::Anonymous && self.session_id.is_none() {
            return Err(WireError::TierViolation("cookie tier without a session id"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef";

    fn event() -> BeaconEvent {
        BeaconEvent { title: Some("Store".into()), ..BeaconEvent::new(ID, EventKind::Pageview, 1_800_000_000_000, "https://shop.example.gov/store/") }
    }

    fn edge(tier: Tier, ip: &str) -> EdgeBatch {
        EdgeBatch {
            v: 1,
            received_at: 1_800_000_000_000,
            tier,
            session_id: (tier != Tier::Anonymous).then(|| ID.to_string()),
            identity: (tier == Tier::Tier3).then(|| Identity {
                visitor_id: ID.into(),
                customer_ref: "cust-1".into(),
                consent_source: crate::consent::OptInSource::Registration,
                policy_version: 1,
                consent_issued_at: 0,
            }),
            sealed: None,
            ip: ip.into(),
            user_agent: "Mozilla/5.0".into(),
            context: PageContext::default(),
            events: vec![event()],
        }
    }

    #[test]
    fn beacon_json_round_trip() {
        let json = br#"{"v":1,"cookies":true,"context":{"screen_width":1920,"language":"en-US"},
            "events":[{"id":"0123456789abcdef0123456789abcdef","type":"pageview","ts":1,"url":"https://a.example/store","props":[["k","v"],["n",2]]}]}"#;
        let b = BeaconBatch::from_json(json).unwrap();
        assert_eq!(b.context.screen_width, 1920);
        assert_eq!(b.events[0].props[1], ("n".into(), PropValue::Num(2.0)));
    }

    #[test]
    fn beacon_rejects_bad_input_with_reasons() {
        let too_big = vec![b' '; MAX_BEACON_BYTES + 1];
        assert_eq!(BeaconBatch::from_json(&too_big).unwrap_err().reason(), "too_large");
        assert_eq!(BeaconBatch::from_json(b"{").unwrap_err().reason(), "malformed");
        assert_eq!(BeaconBatch::from_json(br#"{"v":1,"cookies":true,"events":[]}"#).unwrap_err().reason(), "empty");
        assert_eq!(BeaconBatch::from_json(br#"{"v":9,"cookies":true,"events":[]}"#).unwrap_err().reason(), "bad_version");
        // Unknown fields are refused: a page cannot smuggle an "email" in.
        let smuggled = br#"{"v":1,"cookies":true,"email":"a@b.c","events":[]}"#;
        assert_eq!(BeaconBatch::from_json(smuggled).unwrap_err().reason(), "malformed");
        let mut b = BeaconBatch { v: 1, cookies: true, context: PageContext::default(), events: vec![event()], pii_dropped: 0, errors: 0 };
        b.events[0].id = "not-hex".into();
        assert_eq!(b.validate().unwrap_err().reason(), "bad_event");
        b.events[0] = event();
        b.events[0].url = "/relative".into();
        assert_eq!(b.validate().unwrap_err().reason(), "bad_event");
        b.events[0] = event();
        b.events[0].title = Some("x".repeat(MAX_TITLE_LEN + 1));
        assert_eq!(b.validate().unwrap_err().reason(), "field_too_long");
        b.events = vec![event(); MAX_EVENTS + 1];
        assert_eq!(b.validate().unwrap_err().reason(), "too_many_events");
    }

    #[test]
    fn commerce_fields_are_checked() {
        let json = br#"{"v":1,"cookies":true,"events":[{"id":"0123456789abcdef0123456789abcdef","type":"purchase","ts":1,
            "url":"https://a.example/store","value":27.5,"currency":"USD","items":[{"sku":"MUG-1","quantity":2,"price":12.5},{"sku":"LID"}]}],
            "pii_dropped":2,"errors":1}"#;
        let b = BeaconBatch::from_json(json).unwrap();
        assert_eq!(b.events[0].items[1], Item { sku: "LID".into(), quantity: 1, price: None });
        assert_eq!((b.pii_dropped, b.errors), (2, 1));
        let mut e = event();
        e.currency = Some("usd".into());
        let mut b = BeaconBatch { v: 1, cookies: true, context: PageContext::default(), events: vec![e], pii_dropped: 0, errors: 0 };
        assert_eq!(b.validate().unwrap_err().reason(), "bad_event");
        b.events[0] = event();
        b.events[0].items = vec![Item { sku: String::new(), quantity: 1, price: None }];
        assert_eq!(b.validate().unwrap_err().reason(), "bad_event");
        b.events[0].items = vec![Item { sku: "A".into(), quantity: 1, price: None }; MAX_ITEMS + 1];
        assert_eq!(b.validate().unwrap_err().reason(), "bad_event");
        // An order number is not a field at all.
        let order = br#"{"v":1,"cookies":true,"events":[{"id":"0123456789abcdef0123456789abcdef","type":"purchase","ts":1,
            "url":"https://a.example/store","order_id":"A-1"}]}"#;
        assert_eq!(BeaconBatch::from_json(order).unwrap_err().reason(), "malformed");
    }

    #[test]
    fn edge_batch_tier_invariants() {
        assert_eq!(edge(Tier::Tier2, "203.0.113.0").validate(), Ok(()));
        assert_eq!(edge(Tier::Anonymous, "203.0.113.0").validate(), Ok(()));
        assert_eq!(edge(Tier::Tier3, "203.0.113.77").validate(), Ok(()));
        // Full IP below Tier 3.
        assert_eq!(edge(Tier::Tier2, "203.0.113.77").validate().unwrap_err().reason(), "tier_violation");
        assert_eq!(edge(Tier::Anonymous, "2001:db8:abcd::1").validate().unwrap_err().reason(), "tier_violation");
        assert_eq!(edge(Tier::Tier2, "::ffff:203.0.113.0").validate().unwrap_err().reason(), "tier_violation");
        // Identity below Tier 3.
        let mut b = edge(Tier::Tier2, "203.0.113.0");
        b.identity = edge(Tier::Tier3, "1.2.3.4").identity;
        assert_eq!(b.validate().unwrap_err().reason(), "tier_violation");
        // Tier 3 without identity.
        let mut b = edge(Tier::Tier3, "203.0.113.7");
        b.identity = None;
        assert_eq!(b.validate().unwrap_err().reason(), "tier_violation");
        // Session on anonymous, none on Tier 2.
        let mut b = edge(Tier::Anonymous, "203.0.113.0");
        b.session_id = Some(ID.into());
        assert_eq!(b.validate().unwrap_err().reason(), "tier_violation");
        let mut b = edge(Tier::Tier2, "203.0.113.0");
        b.session_id = None;
        assert_eq!(b.validate().unwrap_err().reason(), "tier_violation");
    }

    #[test]
    fn only_sealed_identities_cross_a_queue() {
        let open = edge(Tier::Tier3, "203.0.113.77");
        assert_eq!(open.validate_sealed().unwrap_err().reason(), "tier_violation", "an identity in the clear");
        let kid = "0123456789abcdef0123456789abcdef";
        let what = crate::seal::Sealed { identity: open.identity.clone().unwrap(), ip: open.ip.clone() };
        let sealed = EdgeBatch { identity: None, sealed: Some(crate::seal::seal(&[3; 32], kid, [0; 12], &what)), ip: "203.0.113.0".into(), ..open.clone() };
        assert_eq!(sealed.validate_sealed(), Ok(()));
        let json = serde_json::to_vec(&sealed).unwrap();
        assert!(!String::from_utf8_lossy(&json).contains("cust-1"));
        assert_eq!(EdgeBatch::from_json(&json).unwrap(), sealed);
        let full_ip = EdgeBatch { ip: "203.0.113.77".into(), ..sealed.clone() };
        assert_eq!(full_ip.validate_sealed().unwrap_err().reason(), "tier_violation", "the full address only inside the seal");
        let both = EdgeBatch { identity: open.identity.clone(), ..sealed.clone() };
        assert_eq!(both.validate().unwrap_err().reason(), "tier_violation");
        let junk = EdgeBatch { sealed: Some("s1.nope".into()), ..sealed.clone() };
        assert_eq!(junk.validate().unwrap_err().reason(), "malformed");
        let below = EdgeBatch { tier: Tier::Tier2, ..sealed };
        assert_eq!(below.validate().unwrap_err().reason(), "tier_violation");
    }

    #[test]
    fn edge_batch_json_round_trip() {
        let b = edge(Tier::Tier3, "203.0.113.77");
        let json = serde_json::to_vec(&b).unwrap();
        assert_eq!(EdgeBatch::from_json(&json).unwrap(), b);
        let t2 = serde_json::to_string(&edge(Tier::Tier2, "203.0.113.0")).unwrap();
        assert!(!t2.contains("identity"), "no identity key at all below tier3: {t2}");
    }
}
