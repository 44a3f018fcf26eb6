//! The beacon in headless Chromium: the real build (`target/dist/beacon`),
//! a test store that records every request (`BeaconSite`), one browser
//! scenario per test (`tests/browser/beacon.mjs`). Every recorded batch must
//! pass the edge's own validation.

use std::collections::HashSet;

use mintmark_e2e::beacon_site::{Seen, BEACON_PATH};
use mintmark_e2e::{run_browser, BeaconSite};
use mintmark_protocol::wire::BeaconBatch;
use serde_json::Value;

/// Runs `scenario` against a fresh store; fails on any error thrown in the page.
async fn scenario(site: &BeaconSite, name: &str) -> anyhow::Result<Value> {
    let seen = run_browser("beacon.mjs", &[&site.origin, name]).await?;
    assert_eq!(seen["pageErrors"], serde_json::json!([]), "the beacon let an exception into the page: {seen:#}");
    for b in site.beacons() {
        BeaconBatch::from_json(&b.body)
            .unwrap_or_else(|e| panic!("the edge would refuse this batch ({e}): {}", String::from_utf8_lossy(&b.body)));
    }
    Ok(seen)
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

/// Every beacon body, without the random ids and the times (whose digits
/// would make a search for leaked numbers flaky).
fn bodies(site: &BeaconSite) -> String {
    let mut all = Vec::new();
    for b in site.beacons() {
        let mut v = b.json();
        for e in v["events"].as_array_mut().into_iter().flatten() {
            let e = e.as_object_mut().unwrap();
            e.remove("id");
            e.remove("ts");
        }
        all.push(v.to_string());
    }
    all.join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_type_arrives_with_its_fields() -> anyhow::Result<()> {
    let site = BeaconSite::start().await?;
    let seen = scenario(&site, "shop").await?;
    let o = &site.origin;
    assert_eq!(seen["values"]["thrown"], 0, "hostile API calls threw: {seen:#}");
    let warnings: Vec<&Value> = seen["console"].as_array().unwrap().iter().filter(|m| m["text"].as_str().unwrap().starts_with("mintmark:")).collect();
    // Two page loads met bad calls (the landing page's hostile ones, and on
    // both the garbage in the early queue): one console line each.
    assert_eq!(warnings.len(), 2, "errors are reported to the console once per page: {warnings:#?}");

    let events = site.events();
    let ids: HashSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), events.len(), "every event has its own id");

    // Page views: the landing page (campaign fields kept, anything else in
    // the query and the fragment gone), the SPA's cart, back, the search page.
    let views = of_type(&events, "pageview");
    let urls: Vec<&str> = views.iter().map(|e| e["url"].as_str().unwrap()).collect();
    let landing = format!("{o}/store/?utm_source=news&utm_campaign=fall");
    assert_eq!(urls, [landing.as_str(), &format!("{o}/store/cart"), &landing, &format!("{o}/store/search")]);
    assert_eq!(views[0]["title"], "store");
    assert_eq!((views[1]["title"].as_str(), views[1]["referrer"].as_str()), (Some("Cart"), Some(&*format!("{o}/store/"))));
    assert_eq!(views[2]["referrer"].as_str(), Some(&*format!("{o}/store/cart")));

    // Device and browser facts ride on every batch.
    let batch: BeaconBatch = serde_json::from_slice(&site.beacons()[0].body)?;
    assert!(batch.cookies);
    let c = &batch.context;
    assert!(c.screen_width > 0 && c.screen_height > 0 && c.color_depth > 0, "{c:?}");
    assert!(!c.language.is_empty() && !c.time_zone.is_empty(), "{c:?}");

    // Commerce.
    let one = |kind: &str| -> Value {
        let found = of_type(&events, kind);
        assert_eq!(found.len(), 1, "{kind}: {found:#?}");
        found[0].clone()
    };
    let view = one("product_view");
    assert_eq!((view["items"][0]["sku"].as_str(), view["items"][0]["price"].as_f64(), view["currency"].as_str()), (Some("MUG-1"), Some(12.5), Some("USD")));
    assert_eq!(one("add_to_cart")["items"][0]["quantity"], 2);
    assert_eq!(one("remove_from_cart")["items"][0]["sku"], "MUG-1");
    assert_eq!(one("checkout_start")["value"], 12.5);
    let purchase = one("purchase");
    assert_eq!((purchase["value"].as_f64(), purchase["currency"].as_str()), (Some(27.5), Some("USD")));
    let skus: Vec<&str> = purchase["items"].as_array().unwrap().iter().map(|i| i["sku"].as_str().unwrap()).collect();
    assert_eq!(skus, ["MUG-1", "LID-2"]);

    // Calls queued before the loader ran arrive (the garbage beside them is counted).
    let early: Vec<&Value> = events.iter().filter(|e| e["target"] == "early_call").collect();
    assert!(!early.is_empty() && early[0]["props"] == serde_json::json!([["from", "queue"]]), "{early:#?}");

    // Custom events keep their ordinary props only; personal ones never left.
    let signup: Vec<&Value> = events.iter().filter(|e| e["target"] == "newsletter_signup").collect();
    assert_eq!(signup[0]["props"], serde_json::json!([["plan", "gold"], ["step", 3]]));
    let sent = bodies(&site);
    for leaked in ["jane", "Jane", "555", "867", "Evergreen", "A-1001", "order_id", "token", "abc123", "#top"] {
        assert!(!sent.contains(leaked), "{leaked:?} left the browser");
    }
    let totals = site.beacons().iter().fold((0, 0), |(p, e), b| (p + b.json()["pii_dropped"].as_u64().unwrap(), e + b.json()["errors"].as_u64().unwrap()));
    assert_eq!(totals.0, 6, "email, phone, note, name, ship_to, order_id: dropped and counted");
    assert!(totals.1 >= 5, "bad calls are counted: {totals:?}");

    // Site search, downloads (no query), outbound (domain only); nothing for
    // mailto: or an in-store link.
    assert_eq!(one("search")["target"], "blue mug");
    assert_eq!(one("download")["target"], format!("{o}/files/guide.pdf"));
    assert_eq!(one("outbound")["target"], "partner.example");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_the_store_nothing_is_requested() -> anyhow::Result<()> {
    let site = BeaconSite::start().await?;
    let seen = scenario(&site, "outside").await?;
    assert_eq!(seen["values"]["apiType"], "function", "the API exists outside too, as a no-op");
    let outside_console: Vec<&Value> = seen["console"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| !m["page"].as_str().unwrap().contains("/store/"))
        .collect();
    assert!(outside_console.is_empty(), "not even a console line outside the store: {outside_console:#?}");
    // Everything from the request for /about/ up to the next page.
    let all = site.seen();
    let start = all.iter().position(|s| s.uri == "/about/").expect("/about/ was visited");
    let end = start + all[start..].iter().position(|s| s.uri == "/store/").expect("then /store/");
    let outside: Vec<&str> = all[start..end].iter().map(|s| s.uri.as_str()).filter(|u| *u != "/favicon.ico").collect();
    assert_eq!(outside, ["/about/", "/mintmark/beacon.js"], "no Wasm and no beacon from outside the store");
    // What the store page sent afterwards mentions no page outside it.
    let events = site.events();
    assert!(of_type(&events, "custom").iter().any(|e| e["target"] == "inside"));
    for e in &events {
        let url = e["url"].as_str().unwrap();
        assert!(url.starts_with(&format!("{}/store/", site.origin)), "{url}");
        assert!(e["target"] != "outside");
        assert!(e["url"].as_str() != Some(&*format!("{}/about/", site.origin)));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_without_cookies_says_so() -> anyhow::Result<()> {
    let site = BeaconSite::start().await?;
    let seen = scenario(&site, "cookies_off").await?;
    assert_eq!(seen["values"]["cookieEnabled"], false);
    let beacons = site.beacons();
    assert!(!beacons.is_empty());
    for b in beacons {
        assert_eq!(b.json()["cookies"], false, "{}", String::from_utf8_lossy(&b.body));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_queued_before_leaving_or_hiding_still_arrive() -> anyhow::Result<()> {
    let site = BeaconSite::start().await?;
    scenario(&site, "pagehide").await?;
    let beacons = site.beacons();
    let carrying = |target: &str| -> Vec<&Seen> {
        beacons.iter().filter(|b| b.json()["events"].as_array().unwrap().iter().any(|e| e["target"] == target)).collect()
    };
    let leaving = carrying("before_leaving");
    // One batch carries the three events. When the beacon's timed fetch of
    // that very batch is still in flight at `pagehide`, the batch also goes
    // by sendBeacon (the fetch is not acknowledged yet): the same body twice,
    // which the event ids make harmless. Seen once under CI load.
    assert!(!leaving.is_empty(), "the events arrived: {}", bodies(&site));
    assert!(leaving.iter().all(|b| b.body == leaving[0].body), "copies of one batch only: {}", bodies(&site));
    assert_eq!(leaving[0].json()["events"].as_array().unwrap().iter().filter(|e| e["target"] == "before_leaving").count(), 3);
    // `sendBeacon` requests are no-cors; the beacon's own fetches are cors.
    assert!(leaving.iter().any(|b| b.fetch_mode == "no-cors"), "sent with sendBeacon on pagehide: {}", bodies(&site));
    let hiding = carrying("before_hiding");
    assert_eq!((hiding.len(), hiding[0].fetch_mode.as_str()), (1, "no-cors"), "sent with sendBeacon when hidden");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_deliveries_are_retried_with_the_same_events() -> anyhow::Result<()> {
    let site = BeaconSite::start().await?;
    site.answer_next(&[503, 503]);
    scenario(&site, "retry").await?;
    let beacons: Vec<Seen> = site.beacons();
    assert!(beacons.len() >= 3, "{}", bodies(&site));
    let ids = |b: &Seen| -> Vec<String> { b.json()["events"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_string()).collect() };
    let first = ids(&beacons[0]);
    assert!(!first.is_empty());
    for (i, b) in beacons[1..3].iter().enumerate() {
        let again = ids(b);
        assert_eq!(again[..first.len()], first[..], "attempt {} resends the same events", i + 2);
    }
    assert!(beacons.iter().all(|b| b.uri == BEACON_PATH && b.method == "POST"));
    // After the delivered attempt, nothing is sent twice.
    let after: Vec<String> = beacons[3..].iter().flat_map(ids).collect();
    assert!(after.iter().all(|id| !first.contains(id)), "delivered events were sent again");
    Ok(())
}
