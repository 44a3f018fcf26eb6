//! Personal data out of wire messages, field by field.
//!
//! The edge runs [`BeaconBatch::strip_personal`] on every batch it accepts
//! (the beacon's own filter is the first layer) and the collector runs
//! [`EdgeBatch::strip_personal`] before it builds rows (the last layer: it
//! does not trust the edge). Both apply the same rules, from [`crate::pii`]
//! and [`crate::clean`]:
//!
//! | field | personal → |
//! |---|---|
//! | page URL path segment | replaced by `:redacted` (the page still counts) |
//! | `utm_*` value | the parameter is dropped; other query parameters and the fragment always are |
//! | referrer | origin and redacted path only |
//! | download target | origin and redacted path only |
//! | outbound target, search term, custom event name | dropped |
//! | title | dropped |
//! | prop key or string value | the prop is dropped |
//! | item SKU | the item is dropped |
//! | language, time zone, connection type | emptied |
//!
//! Every removal is counted by [`PiiField`] so `/metrics` can say which
//! layer caught what where.

use crate::clean::{origin_path_rewritten, page_url_rewritten};
use crate::pii::{key_looks_personal, sku_looks_personal, value_looks_personal};
use crate::wire::{BeaconBatch, BeaconEvent, EdgeBatch, EventKind, PageContext, PropValue};

/// Where a personal value was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PiiField {
    Path,
    Campaign,
    Referrer,
    Target,
    Search,
    Title,
    Props,
    Sku,
    Context,
    /// Browser, OS or device names read from the user agent (collector only).
    Agent,
}

impl PiiField {
    pub const ALL: [PiiField; 10] = [
        PiiField::Path,
        PiiField::Campaign,
        PiiField::Referrer,
        PiiField::Target,
        PiiField::Search,
        PiiField::Title,
        PiiField::Props,
        PiiField::Sku,
        PiiField::Context,
        PiiField::Agent,
    ];

    /// The metrics label.
    pub fn as_str(self) -> &'static str {
        match self {
            PiiField::Path => "path",
            PiiField::Campaign => "campaign",
            PiiField::Referrer => "referrer",
            PiiField::Target => "target",
            PiiField::Search => "search",
            PiiField::Title => "title",
            PiiField::Props => "props",
            PiiField::Sku => "sku",
            PiiField::Context => "context",
            PiiField::Agent => "agent",
        }
    }
}

/// Personal values removed, by field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PiiCounts([u32; PiiField::ALL.len()]);

impl PiiCounts {
    pub fn add(&mut self, field: PiiField, n: u32) {
        self.0[field as usize] += n;
    }

    pub fn get(&self, field: PiiField) -> u32 {
        self.0[field as usize]
    }

    pub fn total(&self) -> u32 {
        self.0.iter().sum()
    }

    /// The fields with a non-zero count.
    pub fn iter(&self) -> impl Iterator<Item = (PiiField, u32)> + '_ {
        PiiField::ALL.into_iter().map(|f| (f, self.get(f))).filter(|&(_, n)| n > 0)
    }

    pub fn merge(&mut self, other: PiiCounts) {
        for (f, n) in other.iter() {
            self.add(f, n);
        }
    }
}

/// `s`, unless it looks personal (then counted under `field`).
fn kept_unless_personal(s: String, field: PiiField, n: &mut PiiCounts) -> Option<String> {
    if value_looks_personal(&s) {
        n.add(field, 1);
        None
    } else {
        Some(s)
    }
}

/// `url` as origin and redacted path (redactions counted under `field`);
/// dropped, and counted unless empty, when it is not an absolute URL.
fn origin_and_path(url: String, field: PiiField, n: &mut PiiCounts) -> Option<String> {
    match origin_path_rewritten(&url) {
        Some((clean, segments)) => {
            n.add(field, segments);
            Some(clean.unwrap_or(url))
        }
        None => {
            n.add(field, u32::from(!url.is_empty()));
            None
        }
    }
}

impl BeaconEvent {
    /// Removes or redacts what looks personal, field by field (see the
    /// module docs), and counts it.
    pub fn strip_personal(&mut self) -> PiiCounts {
        let mut n = PiiCounts::default();
        // The URL validated as absolute, so cleaning succeeds; if it did not,
        // the original could not be trusted either and the event must go.
        match page_url_rewritten(&self.url) {
            Some((clean, removed)) => {
                n.add(PiiField::Path, removed.segments);
                n.add(PiiField::Campaign, removed.campaign);
                if let Some(url) = clean {
                    self.url = url;
                }
            }
            None => self.url.clear(),
        }
        if let Some(referrer) = self.referrer.take() {
            self.referrer = origin_and_path(referrer, PiiField::Referrer, &mut n);
        }
        if let Some(target) = self.target.take() {
            self.target = match self.kind {
                EventKind::Download => origin_and_path(target, PiiField::Target, &mut n),
                EventKind::Search => kept_unless_personal(target, PiiField::Search, &mut n),
                _ => kept_unless_personal(target, PiiField::Target, &mut n),
            };
        }
        if let Some(title) = self.title.take() {
            self.title = kept_unless_personal(title, PiiField::Title, &mut n);
        }
        let before = self.props.len();
        self.props
            .retain(|(k, v)| !key_looks_personal(k) && !matches!(v, PropValue::Str(s) if value_looks_personal(s)));
        n.add(PiiField::Props, (before - self.props.len()) as u32);
        let before = self.items.len();
        self.items.retain(|i| !sku_looks_personal(&i.sku));
        n.add(PiiField::Sku, (before - self.items.len()) as u32);
        n
    }
}

impl PageContext {
    /// Empties the free-text facts that look personal.
    pub fn strip_personal(&mut self) -> PiiCounts {
        let mut n = PiiCounts::default();
        for s in [&mut self.language, &mut self.time_zone, &mut self.connection_type] {
            if value_looks_personal(s) {
                s.clear();
                n.add(PiiField::Context, 1);
            }
        }
        n
    }
}

fn strip_all(context: &mut PageContext, events: &mut [BeaconEvent]) -> PiiCounts {
    let mut n = context.strip_personal();
    for e in events {
        n.merge(e.strip_personal());
    }
    n
}

impl BeaconBatch {
    /// [`BeaconEvent::strip_personal`] over every event, and the context.
    pub fn strip_personal(&mut self) -> PiiCounts {
        strip_all(&mut self.context, &mut self.events)
    }
}

impl EdgeBatch {
    /// [`BeaconEvent::strip_personal`] over every event, and the context.
    pub fn strip_personal(&mut self) -> PiiCounts {
        strip_all(&mut self.context, &mut self.events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Item;

    const ID: &str = "0123456789abcdef0123456789abcdef";

    fn event(kind: EventKind) -> BeaconEvent {
        BeaconEvent { title: Some("Store".into()), ..BeaconEvent::new(ID, kind, 1_800_000_000_000, "https://shop.example.gov/store/") }
    }

    #[test]
    fn every_free_text_field_is_cleaned_and_counted() {
        let mut e = event(EventKind::Download);
        e.url = "https://shop.example.gov/store/orders/4111111111111111?utm_term=5558675309&utm_source=mail&token=abc#x".into();
        e.referrer = Some("https://shop.example.gov/store/search/jane.doe@example.com".into());
        e.target = Some("https://shop.example.gov/store/files/invoice-jane.doe@example.com.pdf".into());
        e.title = Some("Order for jane@example.com".into());
        e.props = vec![("plan".into(), PropValue::Str("gold".into())), ("note".into(), PropValue::Str("Mrs Smith".into()))];
        e.items = vec![Item { sku: "MUG-1".into(), quantity: 1, price: None }, Item { sku: "a@b.co".into(), quantity: 1, price: None }];
        let n = e.strip_personal();
        assert_eq!(e.url, "https://shop.example.gov/store/orders/:redacted?utm_source=mail");
        assert_eq!(e.referrer.as_deref(), Some("https://shop.example.gov/store/search/:redacted"));
        assert_eq!(e.target.as_deref(), Some("https://shop.example.gov/store/files/:redacted"));
        assert_eq!((e.title.as_deref(), e.props.len(), e.items.len()), (None, 1, 1));
        let counts: Vec<(&str, u32)> = n.iter().map(|(f, n)| (f.as_str(), n)).collect();
        assert_eq!(counts, [("path", 1), ("campaign", 1), ("referrer", 1), ("target", 1), ("title", 1), ("props", 1), ("sku", 1)]);
        // Idempotent: a second layer finds nothing more.
        assert_eq!(e.strip_personal().total(), 0);
    }

    #[test]
    fn search_outbound_custom_and_context() {
        let mut search = event(EventKind::Search);
        search.target = Some("jane%40example.com".into());
        assert_eq!(search.strip_personal().get(PiiField::Search), 1);
        assert_eq!(search.target, None);
        let mut out = event(EventKind::Outbound);
        out.target = Some("partner.example".into());
        assert_eq!(out.strip_personal().total(), 0);
        assert_eq!(out.target.as_deref(), Some("partner.example"));
        let mut custom = event(EventKind::Custom);
        custom.target = Some("call-5558675309".into());
        assert_eq!(custom.strip_personal().get(PiiField::Target), 1);
        let mut ctx = PageContext { language: "jane@example.com".into(), time_zone: "Europe/Berlin".into(), ..Default::default() };
        assert_eq!(ctx.strip_personal().get(PiiField::Context), 1);
        assert_eq!((ctx.language.as_str(), ctx.time_zone.as_str()), ("", "Europe/Berlin"));
    }
}
