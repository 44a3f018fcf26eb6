//! The walking skeleton, all real: a pageview from the demo store in
//! headless Chromium → beacon → edge worker in workerd → collector →
//! ClickHouse `t2`. Also: nothing happens outside the store scope, and the
//! session cookie has exactly the attributes DESIGN.md requires.

use std::time::Duration;

use mintmark_e2e::{rows, run_browser, start_stack, wait_for_count};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pageview_travels_from_browser_to_clickhouse() -> anyhow::Result<()> {
    // The demo front reports this as CF-Connecting-IP, as the platform would.
    let stack = start_stack("walking_skeleton", Some("203.0.113.77".parse()?)).await?;
    let beacon_prefix = "/store/_mm/";
    let seen = run_browser("walk.mjs", &[&stack.urls.store, &stack.urls.out_of_scope_page, beacon_prefix]).await?;

    // --- What the browser saw.
    let beacons = seen["beacons"].as_array().unwrap();
    assert_eq!(beacons.len(), 2, "one beacon per store page view: {seen:#}");
    for b in beacons {
        assert_eq!(b["status"], 204, "edge accepted the batch: {b:#}");
        assert!(b["body"].as_str().unwrap().contains("\"type\":\"pageview\""));
    }
    let set_cookie = beacons[0]["setCookie"].as_str().expect("first beacon sets the session cookie");
    let attrs: Vec<&str> = set_cookie.split(';').map(str::trim).collect();
    assert!(attrs[0].starts_with("mm_sid="), "{set_cookie}");
    // `<128-bit id>.<last seen>.<side>`: the stamp lets any isolate see idle
    // time, the side (2 or 3) when Tier 3 begins or ends.
    let (sid, rest) = attrs[0]["mm_sid=".len()..].split_once('.').expect("id.stamp.side");
    assert!(mintmark_protocol::wire::is_id128(sid), "128 random bits as hex: {sid}");
    let (stamp, side) = rest.split_once('.').expect("stamp.side");
    assert!(stamp.parse::<u64>().is_ok(), "{stamp}");
    assert_eq!(side, "2", "a Tier 2 session");
    for required in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/store"] {
        assert!(attrs.contains(&required), "{required} missing from {set_cookie}");
    }
    assert!(
        !attrs.iter().any(|a| a.to_ascii_lowercase().starts_with("expires") || a.to_ascii_lowercase().starts_with("max-age")),
        "a session cookie has no Expires/Max-Age: {set_cookie}"
    );
    // The browser kept it and sent it back: the second view is the same session.
    assert!(beacons[1]["sentCookie"].as_str().unwrap_or("").contains(&format!("mm_sid={sid}.")), "{:#}", beacons[1]);
    assert!(beacons[1]["setCookie"].is_null(), "no new session for a continuing visit: {:#}", beacons[1]);
    let stored: Vec<&Value> = seen["cookies"].as_array().unwrap().iter().filter(|c| c["name"] == "mm_sid").collect();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["expires"], -1, "browser treats it as a session cookie");

    // Outside the store: the loader ran, saw it, and fetched nothing more
    // (not even the Wasm) and sent nothing.
    let outside = &seen["pages"][1];
    assert_eq!(outside["beaconState"], "off", "{outside:#}");
    let after_loader: Vec<&Value> = outside["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["url"].as_str().unwrap().contains(beacon_prefix) || r["url"].as_str().unwrap().ends_with(".wasm"))
        .collect();
    assert!(after_loader.is_empty(), "no Wasm download and no request to the edge outside the store: {after_loader:#?}");

    // --- What ClickHouse holds.
    let t2 = wait_for_count(&stack, "SELECT count() FROM t2.events", Duration::from_secs(30), |n| n >= 2).await?;
    assert_eq!(t2, 2, "exactly the two store page views");
    let stored = rows(&stack, "SELECT tier, session_id, kind, path, ip_prefix, title, country, region, network, os, browser, device FROM t2.events ORDER BY ts").await?;
    // One stored session: the collector's pseudonym of the cookie's id, not the id itself.
    assert_eq!(stored[0]["session_id"], stored[1]["session_id"]);
    assert!(mintmark_protocol::wire::is_id128(stored[0]["session_id"].as_str().unwrap()));
    for row in &stored {
        assert_eq!(row["tier"], "tier2");
        assert_ne!(row["session_id"], sid);
        assert_eq!(row["kind"], "pageview");
        assert_eq!(row["path"], "/store/");
        assert_eq!(row["ip_prefix"], "203.0.113.0", "IPv4 kept to /24");
        assert_eq!(row["title"], "Demo Store");
        // Enriched from the truncated address (the demo's fixture geo data)
        // and the browser's user agent.
        assert_eq!((row["country"].as_str(), row["region"].as_str(), row["network"].as_str()), (Some("US"), Some("Virginia"), Some("Example Transit")));
        assert_eq!((row["os"].as_str(), row["browser"].as_str(), row["device"].as_str()), (Some("Linux"), Some("Chrome"), Some("desktop")));
    }
    let outside_rows = stack.clickhouse_query("SELECT count() FROM t2.events WHERE path NOT LIKE '/store%'").await?;
    assert_eq!(outside_rows.trim(), "0");
    let full_ip = stack.clickhouse_query("SELECT count() FROM t2.events WHERE ip_prefix = '203.0.113.77'").await?;
    assert_eq!(full_ip.trim(), "0");
    let t3 = stack.clickhouse_query("SELECT count() FROM t3.events").await?;
    assert_eq!(t3.trim(), "0", "no consent, no Tier 3 row");

    stack.stop();
    Ok(())
}
