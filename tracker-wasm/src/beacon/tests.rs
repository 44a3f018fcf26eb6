//! The beacon's decisions, natively: every batch it cuts must pass the
//! edge's own validation (`BeaconBatch::from_json`).

use super::*;
use mintmark_protocol::wire::{BeaconBatch, EventKind, Item, PropValue};

const STORE: &str = "https://shop.example.gov";

fn beacon() -> Box<Beacon> {
    let mut b = Box::new(Beacon::new());
    assert_eq!(call(&mut b, op::INIT, &[STORE, " /store/ ", "pdf, .ZIP", "true", "1920", "1080", "24", "en-US", "America/New_York", "4g", "10"]), 1);
    b
}

/// What the loader does: random bytes, then the time and the fields.
fn call(b: &mut Beacon, op: u32, fields: &[&str]) -> u32 {
    for (i, r) in b.io[..RANDOM_BYTES].iter_mut().enumerate() {
        *r = (i as u8).wrapping_mul(37).wrapping_add(op as u8);
    }
    let mut input = String::from("1800000000000");
    for f in fields {
        input.push('\0');
        input.push_str(f);
    }
    let input = input.as_bytes();
    let n = input.len().min(IO_BYTES - RANDOM_BYTES);
    b.io[RANDOM_BYTES..RANDOM_BYTES + n].copy_from_slice(&input[..n]);
    b.on(op, n)
}

fn page(b: &mut Beacon, url: &str, title: &str, referrer: &str, search: &str) -> u32 {
    call(b, op::PAGE, &[url, title, referrer, search])
}

/// Cuts a batch, checks it as the edge would, reports it delivered.
fn sent(b: &mut Beacon) -> BeaconBatch {
    let n = b.batch();
    assert!(n > 0, "nothing queued");
    let json = b.io[..n].to_vec();
    let batch = BeaconBatch::from_json(&json).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&json)));
    b.done(true);
    batch
}

#[test]
fn a_pageview_carries_the_page_and_the_device() {
    let mut b = beacon();
    let url = "https://shop.example.gov/store/mugs?color=red&utm_source=news&email=x%40y.z&utm_campaign=fall#reviews";
    assert_eq!(page(&mut b, url, "Mugs", "https://search.example/results?q=secret+stuff", ""), 1);
    let batch = sent(&mut b);
    assert!(batch.cookies);
    let c = &batch.context;
    assert_eq!((c.screen_width, c.screen_height, c.color_depth), (1920, 1080, 24));
    assert_eq!((c.language.as_str(), c.time_zone.as_str(), c.connection_type.as_str(), c.downlink_mbps), ("en-US", "America/New_York", "4g", 10.0));
    let e = &batch.events[0];
    assert_eq!(e.kind, EventKind::Pageview);
    assert_eq!(e.ts, 1_800_000_000_000);
    assert!(mintmark_protocol::wire::is_id128(&e.id));
    // Only the campaign fields survive from the query; never the fragment.
    assert_eq!(e.url, "https://shop.example.gov/store/mugs?utm_source=news&utm_campaign=fall");
    // The referrer keeps origin and path: its query is somebody's search.
    assert_eq!(e.referrer.as_deref(), Some("https://search.example/results"));
    assert_eq!(e.title.as_deref(), Some("Mugs"));
}

#[test]
fn nothing_happens_outside_the_scope() {
    let mut b = beacon();
    for url in ["https://shop.example.gov/about/", "https://shop.example.gov/storefront", "https://other.example/store/", "not a url"] {
        assert_eq!(page(&mut b, url, "x", "", "q"), 0, "{url}");
        assert_eq!(call(&mut b, op::CLICK, &["https://elsewhere.example/"]), 0);
        assert_eq!(call(&mut b, op::CLICK, &["https://shop.example.gov/files/a.pdf"]), 0);
        assert_eq!(call(&mut b, op::TRACK, &["purchase", "value", "#10"]), 0);
    }
    assert_eq!(b.batch(), 0);
}

#[test]
fn single_page_navigation_makes_pageviews_and_leaving_stops_them() {
    let mut b = beacon();
    page(&mut b, "https://shop.example.gov/store/", "Store", "", "");
    assert_eq!(page(&mut b, "https://shop.example.gov/store/cart", "Cart", "", ""), 1);
    // A state update on the same page is not a view.
    assert_eq!(page(&mut b, "https://shop.example.gov/store/cart?step=2#x", "Cart", "", ""), 0);
    let batch = sent(&mut b);
    assert_eq!(batch.events.len(), 2);
    assert_eq!(batch.events[1].url, "https://shop.example.gov/store/cart");
    assert_eq!(batch.events[1].referrer.as_deref(), Some("https://shop.example.gov/store/"));
    // The store navigates to a page outside it: silence, even for the API.
    assert_eq!(page(&mut b, "https://shop.example.gov/blog/", "Blog", "", ""), 0);
    assert_eq!(call(&mut b, op::TRACK, &["signup"]), 0);
    // And back: a view whose referrer shows it came from outside.
    assert_eq!(page(&mut b, "https://shop.example.gov/store/", "Store", "", ""), 1);
    assert_eq!(sent(&mut b).events[0].referrer.as_deref(), Some("https://shop.example.gov/blog/"));
}

#[test]
fn site_search_terms_unless_personal() {
    let mut b = beacon();
    assert_eq!(page(&mut b, "https://shop.example.gov/store/search?q=blue+mug", "Search", "", "blue mug"), 2);
    let batch = sent(&mut b);
    assert_eq!(batch.events[1].kind, EventKind::Search);
    assert_eq!(batch.events[1].target.as_deref(), Some("blue mug"));
    assert_eq!(batch.events[1].url, "https://shop.example.gov/store/search", "the term is not left in the URL");
    // A single-page store searching again: no new page, a new search.
    assert_eq!(page(&mut b, "https://shop.example.gov/store/search?q=red+mug", "Search", "", "red mug"), 1);
    assert_eq!(page(&mut b, "https://shop.example.gov/store/search?q=red+mug", "Search", "", "red mug"), 0, "a repeat is not");
    assert_eq!(page(&mut b, "https://shop.example.gov/store/search?q=jane%40example.com", "Search", "", "jane@example.com"), 0);
    let batch = sent(&mut b);
    assert_eq!(batch.events.len(), 1);
    assert_eq!(batch.events[0].target.as_deref(), Some("red mug"));
    assert_eq!(batch.pii_dropped, 1);
}

#[test]
fn clicks_make_downloads_and_outbound_domains() {
    let mut b = beacon();
    page(&mut b, "https://shop.example.gov/store/", "Store", "", "");
    sent(&mut b);
    assert_eq!(call(&mut b, op::CLICK, &["https://shop.example.gov/files/Manual.PDF?token=abc"]), 1);
    assert_eq!(call(&mut b, op::CLICK, &["https://cdn.example/x/catalog.zip"]), 1);
    assert_eq!(call(&mut b, op::CLICK, &["https://partner.example/deals?ref=shop"]), 1);
    assert_eq!(call(&mut b, op::CLICK, &["https://shop.example.gov/about/"]), 1, "outside the store is outbound");
    for quiet in ["https://shop.example.gov/store/cart", "mailto:jane@example.com", "tel:+15558675309", "javascript:void(0)", "https://shop.example.gov/store/a.html"] {
        assert_eq!(call(&mut b, op::CLICK, &[quiet]), 0, "{quiet}");
    }
    let batch = sent(&mut b);
    let got: Vec<(EventKind, &str)> = batch.events.iter().map(|e| (e.kind, e.target.as_deref().unwrap())).collect();
    assert_eq!(
        got,
        [
            (EventKind::Download, "https://shop.example.gov/files/Manual.PDF"),
            (EventKind::Download, "https://cdn.example/x/catalog.zip"),
            (EventKind::Outbound, "partner.example"),
            (EventKind::Outbound, "shop.example.gov"),
        ]
    );
}

#[test]
fn commerce_events_carry_value_currency_and_items() {
    let mut b = beacon();
    page(&mut b, "https://shop.example.gov/store/checkout", "Checkout", "", "");
    sent(&mut b);
    let purchase = [
        "purchase", "value", "#27.5", "currency", "$usd", "coupon", "$FALL10", "order_id", "$A-1001", "\u{1}", "", "sku", "$MUG-1",
        "quantity", "#2", "price", "#12.5", "name", "$Mug", "\u{1}", "", "sku", "#42", "price", "#2.5", "value", "#999",
    ];
    assert_eq!(call(&mut b, op::TRACK, &purchase), 1);
    assert_eq!(call(&mut b, op::TRACK, &["product_view", "sku", "$MUG-1", "price", "#12.5", "currency", "$EUR"]), 1);
    // About nothing: no product, no value.
    assert_eq!(call(&mut b, op::TRACK, &["add_to_cart"]), 0);
    assert_eq!(call(&mut b, op::TRACK, &["purchase", "value", "$12", "items", "$nope"]), 0);
    let batch = sent(&mut b);
    let p = &batch.events[0];
    assert_eq!(p.kind, EventKind::Purchase);
    assert_eq!((p.value, p.currency.as_deref()), (Some(27.5), Some("USD")));
    assert_eq!(
        p.items,
        [Item { sku: "MUG-1".into(), quantity: 2, price: Some(12.5) }, Item { sku: "42".into(), quantity: 1, price: Some(2.5) }]
    );
    assert_eq!(p.props, [("coupon".to_string(), PropValue::Str("FALL10".into()))]);
    assert_eq!(batch.pii_dropped, 1, "the order number is Tier 3 data; the beacon never sends it");
    assert_eq!(batch.errors, 2);
    let v = &batch.events[1];
    assert_eq!((v.kind, v.items.len(), v.currency.as_deref()), (EventKind::ProductView, 1, Some("EUR")));
}

#[test]
fn custom_events_keep_ordinary_props_and_drop_personal_ones() {
    let mut b = beacon();
    page(&mut b, "https://shop.example.gov/store/", "Store", "", "");
    sent(&mut b);
    let fields = [
        "newsletter_signup", "plan", "$gold", "step", "#3", "email", "$jane@example.com", "note", "$call me at (555) 867-5309",
        "ship_to", "$742 Evergreen Terrace", "ratio", "#NaN", "flag", "?true",
    ];
    assert_eq!(call(&mut b, op::TRACK, &fields), 1);
    assert_eq!(call(&mut b, op::TRACK, &["bad name!"]), 0);
    assert_eq!(call(&mut b, op::TRACK, &["[object Object]"]), 0);
    let n = b.batch();
    let raw = String::from_utf8(b.io[..n].to_vec()).unwrap();
    for leaked in ["jane", "555", "Evergreen", "email"] {
        assert!(!raw.contains(leaked), "{leaked} left the browser: {raw}");
    }
    let batch = BeaconBatch::from_json(raw.as_bytes()).unwrap();
    let e = &batch.events[0];
    assert_eq!((e.kind, e.target.as_deref()), (EventKind::Custom, Some("newsletter_signup")));
    assert_eq!(e.props, [("plan".to_string(), PropValue::Str("gold".into())), ("step".to_string(), PropValue::Num(3.0))]);
    assert_eq!(batch.pii_dropped, 3);
    assert_eq!(batch.errors, 4, "NaN, a non-string prop, two bad names");
    // Delivered: the counts start again, without losing newer ones.
    b.oops();
    b.done(true);
    call(&mut b, op::TRACK, &["x"]);
    let batch = sent(&mut b);
    assert_eq!((batch.pii_dropped, batch.errors), (0, 1));
}

#[test]
fn hostile_input_still_makes_valid_batches() {
    let mut b = beacon();
    // NUL never arrives: the loader strips it (it separates fields).
    let title = "\"quoted\" \\ \n\t\u{1}\u{1f} ünïcödé ".repeat(100);
    page(&mut b, "https://shop.example.gov/store/", &title, "javascript:alert(1)", "");
    let long = "€".repeat(100); // 300 bytes: clipped to 256 on a character boundary
    let mut fields = vec!["custom.event"];
    let keys: Vec<String> = (0..40).map(|i| format!("k{i}")).collect();
    let value = format!("${long}");
    for k in &keys {
        fields.push(k);
        fields.push(&value);
    }
    call(&mut b, op::TRACK, &fields);
    let batch = sent(&mut b);
    assert_eq!(batch.events.len(), 2);
    assert!(batch.events[0].title.as_ref().unwrap().len() <= MAX_TITLE_LEN);
    assert!(batch.events[0].referrer.is_none());
    assert_eq!(batch.events[1].props.len(), MAX_PROPS);
    assert!(matches!(&batch.events[1].props[0].1, PropValue::Str(v) if v.len() == 255));
    assert_eq!(batch.errors, 20, "props beyond the limit are counted");
    // Input longer than the buffer is cut, never overrun.
    let huge = "x".repeat(3 * IO_BYTES);
    call(&mut b, op::TRACK, &["big", "k", &huge]);
    assert_eq!(sent(&mut b).events.len(), 1);
}

#[test]
fn failed_batches_are_resent_and_the_queue_is_bounded() {
    let mut b = beacon();
    page(&mut b, "https://shop.example.gov/store/", "Store", "", "");
    let n = b.batch();
    let first = b.io[..n].to_vec();
    b.done(false);
    assert_eq!(b.batch(), n);
    assert_eq!(b.io[..n], first[..], "the same events again, same ids");
    b.done(true);
    assert_eq!(b.batch(), 0);
    let mut kept = 0;
    for _ in 0..400 {
        kept += call(&mut b, op::TRACK, &["tick", "n", "#1"]);
    }
    assert_eq!(kept as usize, crate::queue::QUEUE_EVENTS);
    let mut delivered = 0;
    let mut errors = 0;
    while b.batch() > 0 {
        let batch = sent(&mut b);
        delivered += batch.events.len();
        errors += batch.errors;
    }
    assert_eq!(delivered, crate::queue::QUEUE_EVENTS);
    assert_eq!(errors, 400 - crate::queue::QUEUE_EVENTS as u32, "every event that did not fit is counted");
}

#[test]
fn cookies_disabled_is_reported() {
    let mut b = Box::new(Beacon::new());
    call(&mut b, op::INIT, &[STORE, "/store", "", "false", "800", "600", "30", "de", "Europe/Berlin", "undefined", "undefined"]);
    page(&mut b, "https://shop.example.gov/store", "Store", "", "");
    let batch = sent(&mut b);
    assert!(!batch.cookies);
    assert_eq!((batch.context.connection_type.as_str(), batch.context.downlink_mbps), ("", 0.0));
}

#[test]
fn an_unusable_configuration_is_reported() {
    let mut b = Box::new(Beacon::new());
    assert_eq!(call(&mut b, op::INIT, &["", "/store"]), 0);
    assert_eq!(page(&mut b, "https://shop.example.gov/store", "Store", "", ""), 0);
}

#[test]
fn personal_path_segments_campaign_values_and_targets_never_leave() {
    let mut b = beacon();
    page(
        &mut b,
        "https://shop.example.gov/store/orders/4111111111111111?utm_source=news&utm_content=jane.doe%40example.com&utm_term=5558675309",
        "Your order",
        "https://shop.example.gov/store/search/jane.doe@example.com",
        "",
    );
    call(&mut b, op::CLICK, &["https://shop.example.gov/store/files/invoice-jane.doe@example.com.pdf"]);
    page(&mut b, "https://shop.example.gov/store/search/JANE.DOE%2540EXAMPLE.COM", "Search", "", "");
    page(&mut b, "https://shop.example.gov/store/products/enamel-mug-350ml", "Mug", "", "");
    let batch = sent(&mut b);
    let wire = serde_json::to_string(&batch).unwrap();
    for leak in ["jane", "JANE", "4111", "5558675309"] {
        assert!(!wire.contains(leak), "{leak} left the browser: {wire}");
    }
    let urls: Vec<&str> = batch.events.iter().map(|e| e.url.as_str()).collect();
    assert_eq!(urls[0], "https://shop.example.gov/store/orders/:redacted?utm_source=news");
    assert_eq!(batch.events[0].referrer.as_deref(), Some("https://shop.example.gov/store/search/:redacted"));
    assert_eq!(batch.events[1].target.as_deref(), Some("https://shop.example.gov/store/files/:redacted"));
    assert_eq!(urls[2], "https://shop.example.gov/store/search/:redacted");
    assert_eq!(urls[3], "https://shop.example.gov/store/products/enamel-mug-350ml", "a product slug is kept");
    // Two campaign values and four path segments (page, referrer, download, page).
    assert_eq!(batch.pii_dropped, 6);
}
