//! The demo store's backend path, through every real component: a visitor
//! browses the demo store in Chromium (Tier 2), creates an account (the
//! store's backend reports the opt-in and sets the consent cookie), browses
//! on as Tier 3, buys (the backend sends the order to the feed), and a
//! marketplace order arrives: the order is the customer's in `t3`, what they
//! did before the opt-in is not, and the marketplace order is only in its own dataset.

use std::time::Duration;

use devstack::Layout;
use mintmark_e2e::{rows, run_browser, start_stack, wait_for_count};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_becomes_a_customer_through_the_demo_backend() -> anyhow::Result<()> {
    let stack = start_stack("demo_store_orders", None).await?;
    let shots = Layout::discover()?.target.join("screenshots");
    std::fs::create_dir_all(&shots)?;
    let prefix = stack.config.edge.beacon_path.rsplit_once('/').map(|(d, _)| format!("{d}/")).unwrap();
    let out = run_browser("demo_store.mjs", &[&stack.urls.store, &prefix, shots.to_str().unwrap()]).await?;
    let customer = out["customer"].as_str().unwrap().to_string();
    assert!(customer.starts_with("web-"), "{out}");
    assert!(out["cookies"].as_array().unwrap().iter().any(|c| c == "mm_consent"), "the store set the consent cookie: {out}");
    assert!(out["beacons"].as_array().unwrap().iter().all(|s| s == 204), "{out}");

    wait_for_count(&stack, &format!("SELECT count() FROM t3.orders WHERE customer_ref = '{customer}'"), Duration::from_secs(30), |n| n == 1).await?;
    wait_for_count(&stack, "SELECT count() FROM t2.marketplace_orders", Duration::from_secs(30), |n| n == 1).await?;
    wait_for_count(&stack, "SELECT count() FROM t2.orders", Duration::from_secs(30), |n| n == 1).await?;
    let order = rows(&stack, "SELECT order_id, zip, item_skus FROM t3.orders").await?;
    assert_eq!((order[0]["order_id"].as_str(), order[0]["zip"].as_str()), (out["order"].as_str(), Some("22031")));
    // Browsing after the opt-in is the customer's; the two pageviews before it are not.
    wait_for_count(&stack, &format!("SELECT count() FROM t3.events WHERE customer_ref = '{customer}'"), Duration::from_secs(30), |n| n >= 2).await?;
    let paths = rows(&stack, &format!("SELECT path, kind, toUInt32(ts) AS at FROM t3.events WHERE customer_ref = '{customer}' ORDER BY ts")).await?;
    let opted_in: u64 = stack.clickhouse_query(&format!("SELECT toUInt32(at) FROM ledger.consent_ledger WHERE customer_ref = '{customer}'")).await?.trim().parse()?;
    assert!(paths.iter().all(|p| p["at"].as_u64().unwrap() >= opted_in), "no identified event before the opt-in: {paths:?}");
    let before = stack.clickhouse_query("SELECT count() FROM t2.events WHERE tier = 'tier2'").await?;
    assert!(before.trim().parse::<u64>()? >= 2, "the visit before the opt-in is Tier 2");
    let t3_total = stack.clickhouse_query("SELECT count() FROM t3.events").await?;
    assert_eq!(t3_total.trim().parse::<u64>()?, paths.len() as u64, "nothing else is identified");
    assert!(shots.join("demo-store-account.png").exists());
    stack.stop();
    Ok(())
}
