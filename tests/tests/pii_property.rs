//! A property test of the three privacy layers behind the beacon: personal
//! data (email addresses, phone, card and social security numbers) in every
//! free-text field a client can fill, in the encodings a URL or a careless
//! page produces (percent-encoding, double encoding, `+` for spaces, upper
//! case, full-width and small look-alikes of `@`, `.` and the digits), goes
//! through the edge's real handler (`precheck` → `decide`), the wire, and the
//! collector's row building; no Tier 2 row may contain it in any decoding.
//! Each layer is also checked alone: the edge's forwarded batch is already
//! clean, and the collector cleans a batch that skipped the edge.

use collector::pseudonym::Pseudonyms;
use collector::rows::Prepared;
use edge_worker::tier::Consent;
use edge_worker::{decide, precheck, EdgeKeys, Incoming};
use mintmark_protocol::keys::KeyRing;
use mintmark_protocol::wire::{EdgeBatch, Tier};
use proptest::prelude::*;
use mintmark_e2e::leaks::{leaks, Needle};
use serde_json::{json, Value};

const STORE: &str = "https://shop.example.gov";
const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";

/// The edge's settings as the example config gives them, with test keys.
fn keys() -> EdgeKeys {
    let example = include_str!("../../config/mintmark.example.toml");
    let config = mintmark_config::Config::from_toml(example).expect("the example config loads");
    EdgeKeys {
        settings: config.edge_settings(),
        signing: KeyRing::parse([("e1", &"ab".repeat(32) as &str)]).unwrap(),
        consent: KeyRing::parse([("c1", &"cd".repeat(32) as &str)]).unwrap(),
        metrics_token: None,
    }
}

/// A piece of personal data: how it is written, and what must never be
/// readable in a row (lowercase text, or a digit sequence).
#[derive(Debug, Clone)]
struct Datum {
    written: String,
    needle: Needle,
}

fn email() -> impl Strategy<Value = (String, Needle)> {
    ("[a-z]{3,8}", "[a-z]{3,8}", "[a-z]{4,9}", prop_oneof![Just("com"), Just("org"), Just("gov")]).prop_map(|(a, b, d, tld)| {
        let e = format!("{a}.{b}@{d}.{tld}");
        (e.clone(), Needle::Text(e))
    })
}

fn number() -> impl Strategy<Value = (String, Needle)> {
    prop_oneof![
        // Phone: (555) 867-5309, 555-867-5309, 555 867 5309, 5558675309
        ("[2-9][0-9]{2}", "[0-9]{3}", "[0-9]{4}", 0..4usize).prop_map(|(a, b, c, style)| {
            let w = match style {
                0 => format!("({a}) {b}-{c}"),
                1 => format!("{a}-{b}-{c}"),
                2 => format!("{a} {b} {c}"),
                _ => format!("{a}{b}{c}"),
            };
            (w, Needle::Digits(format!("{a}{b}{c}")))
        }),
        // Card: 16 digits, grouped or not.
        ("4[0-9]{15}", any::<bool>()).prop_map(|(d, grouped)| {
            let w = if grouped { d.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(" ") } else { d.clone() };
            (w, Needle::Digits(d))
        }),
        // SSN.
        ("[1-6][0-9]{2}", "[0-9]{2}", "[0-9]{4}").prop_map(|(a, b, c)| (format!("{a}-{b}-{c}"), Needle::Digits(format!("{a}{b}{c}")))),
    ]
}

fn pct(s: &str, all: bool) -> String {
    s.bytes()
        .map(|b| if all || !(b.is_ascii_alphanumeric() || b == b'.' || b == b'-') { format!("%{b:02X}") } else { (b as char).to_string() })
        .collect()
}

fn look_alike(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '@' => '\u{ff20}',
            '.' => '\u{ff0e}',
            '0'..='9' => char::from_u32(0xff10 + (c as u32 - '0' as u32)).unwrap(),
            c => c,
        })
        .collect()
}

/// The encodings: plain, `%`-escaped specials, everything escaped, double
/// escaping, `+` for spaces, upper case, full-width, small `@`.
fn encoded((plain, needle): (String, Needle)) -> impl Strategy<Value = Datum> {
    (0..8usize).prop_map(move |how| {
        let written = match how {
            0 => plain.clone(),
            1 => pct(&plain, false),
            2 => pct(&plain, true),
            3 => pct(&plain, false).replace('%', "%25"),
            4 => plain.replace(' ', "+"),
            5 => plain.to_uppercase(),
            6 => look_alike(&plain),
            _ => plain.replace('@', "\u{fe6b}"),
        };
        Datum { written, needle: needle.clone() }
    })
}

fn datum() -> impl Strategy<Value = Datum> {
    prop_oneof![email(), number()].prop_flat_map(encoded)
}

/// Where the datum goes.
#[derive(Debug, Clone, Copy)]
enum Field {
    PathSegment,
    PathInSlug,
    Campaign,
    DownloadTarget,
    OutboundTarget,
    Title,
    SearchTerm,
    PropValue,
    Referrer,
    Sku,
    CustomName,
    Language,
    TimeZone,
}

fn field() -> impl Strategy<Value = Field> {
    use Field::*;
    proptest::sample::select(vec![
        PathSegment, PathInSlug, Campaign, DownloadTarget, OutboundTarget, Title, SearchTerm, PropValue, Referrer, Sku, CustomName, Language, TimeZone,
    ])
}

/// A beacon batch with `d` in `f` (URL contexts get URL-safe spaces).
fn batch(f: Field, d: &Datum) -> Value {
    let in_url = d.written.replace(' ', "%20");
    let mut e = json!({"id": "0123456789abcdef0123456789abcdef", "type": "pageview", "ts": 1_800_000_000_000u64,
                       "url": format!("{STORE}/store/products/mug"), "title": "Mug"});
    let mut context = json!({"language": "en-US", "time_zone": "America/New_York"});
    let url_with = |path: String| json!(format!("{STORE}{path}"));
    match f {
        Field::PathSegment => e["url"] = url_with(format!("/store/account/{in_url}/settings")),
        Field::PathInSlug => e["url"] = url_with(format!("/store/files/invoice-{in_url}.pdf")),
        Field::Campaign => e["url"] = url_with(format!("/store/?utm_source=news&utm_term={}", in_url.replace("%20", "+"))),
        Field::DownloadTarget => {
            e["type"] = json!("download");
            e["target"] = url_with(format!("/store/files/{in_url}.pdf"));
        }
        Field::OutboundTarget => {
            e["type"] = json!("outbound");
            e["target"] = json!(d.written);
        }
        Field::Title => e["title"] = json!(format!("Orders of {}", d.written)),
        Field::SearchTerm => {
            e["type"] = json!("search");
            e["target"] = json!(d.written);
        }
        Field::PropValue => {
            e["type"] = json!("custom");
            e["target"] = json!("signup");
            e["props"] = json!([["note", d.written], ["plan", "gold"]]);
        }
        Field::Referrer => e["referrer"] = url_with(format!("/store/search/{in_url}")),
        Field::Sku => {
            e["type"] = json!("add_to_cart");
            e["items"] = json!([{"sku": d.written}, {"sku": "MUG-1"}]);
        }
        Field::CustomName => {
            e["type"] = json!("custom");
            e["target"] = json!(d.written);
        }
        Field::Language => context["language"] = json!(d.written),
        Field::TimeZone => context["time_zone"] = json!(d.written),
    }
    json!({"v": 1, "cookies": true, "context": context, "events": [e]})
}

/// The edge's verdict on a beacon body: the batch it forwards.
fn through_edge(body: &[u8]) -> Result<EdgeBatch, String> {
    let keys = keys();
    let req = Incoming {
        method: "POST",
        path: "/store/_mm/collect",
        origin: Some(STORE),
        cookie: None,
        client_ip: Some("203.0.113.77"),
        user_agent: UA,
        body,
        now_ms: 1_800_000_000_000,
    };
    let checked = precheck(&keys, &req).map_err(|r| format!("{} {:?}", r.status, r.body))?;
    let mut n = 0u32;
    let reply = decide(&keys, &req, checked, Consent::Absent, &mut || {
        n += 1;
        format!("{n:032x}")
    });
    reply.forward.ok_or_else(|| format!("{} {:?}", reply.status, reply.body))
}

fn t2_rows(batch: EdgeBatch) -> Value {
    let ids = Pseudonyms::from_secrets(&"ef".repeat(32), &"cd".repeat(32)).unwrap();
    let prepared = Prepared::new(batch, None);
    serde_json::to_value(prepared.rows(&ids).t2).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_layer_lets_personal_data_into_tier2(f in field(), d in datum()) {
        let body = serde_json::to_vec(&batch(f, &d)).unwrap();
        // Edge, wire, collector: the system as deployed. A refusal stores
        // nothing; the only one expected here is a field over its length
        // limit (a percent-encoded language tag, say).
        let forwarded = match through_edge(&body) {
            Ok(b) => b,
            Err(e) => {
                prop_assert!(e.contains("field_too_long"), "edge refused {f:?} {d:?}: {e}");
                return Ok(());
            }
        };
        let edge_out = serde_json::to_value(&forwarded).unwrap();
        let wire = serde_json::to_vec(&forwarded).unwrap();
        let received = EdgeBatch::from_json(&wire).map_err(|e| TestCaseError::fail(format!("collector refused: {e}")))?;
        let rows = t2_rows(received);
        prop_assert!(rows.as_array().is_some_and(|r| r.len() == 1), "one row: {rows}");
        prop_assert!(leaks(&rows, std::slice::from_ref(&d.needle)).is_empty(), "{f:?} {d:?} reached t2: {:?}", leaks(&rows, std::slice::from_ref(&d.needle)));
        // The edge alone already removed it.
        prop_assert!(leaks(&edge_out, std::slice::from_ref(&d.needle)).is_empty(), "{f:?} {d:?} left the edge: {:?}", leaks(&edge_out, std::slice::from_ref(&d.needle)));
        // The collector alone removes it from a batch that never saw the edge.
        let mut raw: Value = serde_json::from_slice(&body).unwrap();
        let skipped = json!({"v": 1, "received_at": 1_800_000_000_000u64, "tier": Tier::Tier2, "session_id": "5".repeat(32),
                             "ip": "203.0.113.0", "user_agent": UA, "context": raw["context"].take(), "events": raw["events"].take()});
        let skipped = EdgeBatch::from_json(&serde_json::to_vec(&skipped).unwrap()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let rows = t2_rows(skipped);
        prop_assert!(leaks(&rows, std::slice::from_ref(&d.needle)).is_empty(), "{f:?} {d:?} reached t2 past the collector alone: {:?}", leaks(&rows, std::slice::from_ref(&d.needle)));
    }
}
