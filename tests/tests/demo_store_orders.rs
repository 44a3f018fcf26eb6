//! The demo store's backend path, through every real component: a visitor
//! browses the demo store in Chromium (Tier 2), creates an account (the
//! store's backend reports the opt-in and sets the consent cookie), browses
//! on as Tier 3, buys (the backend sends the order to the feed), and a
//! marketplace order arrives: the order is the customer's in `t3`, what they
//! did before the opt-in is not, and the marketplace order is only in its own dataset.
//! Then they close the account: every Tier 3 row of theirs is erased with
//! evidence in the purge log, the Tier 2 copies stay, and a visit with the
//! old consent cookie is Tier 2 and loses the persistent cookie.

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
    wait_for_count(&stack, "SELECT count() FROM t2.events WHERE tier = 'tier2'", Duration::from_secs(30), |n| n >= 2).await?;
    // Later batches of the visit may still be on their way: what is
    // identified is the customer's, whenever it lands.
    let others = stack.clickhouse_query(&format!("SELECT count() FROM t3.events WHERE customer_ref != '{customer}'")).await?;
    assert_eq!(others.trim(), "0", "nothing else is identified");
    assert!(shots.join("demo-store-account.png").exists());

    // The customer closes the account: erasure, then a visit with the old consent cookie.
    let tier3_copies = stack.clickhouse_query("SELECT count() FROM t2.events WHERE tier = 'tier3'").await?.trim().parse::<u64>()?;
    let jar = serde_json::to_string(&out["jar"])?;
    let consent = stack.config.edge.consent_cookie.clone();
    let visitor = stack.config.edge.visitor_cookie.clone();
    let closed = run_browser("demo_store_close.mjs", &[&stack.urls.store, &prefix, shots.to_str().unwrap(), &jar, &consent]).await?;
    let names = |k: &str| closed[k].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert!(!names("after_close").contains(&consent), "the store forgot the consent cookie: {closed}");
    assert!(!names("after_stale_token").contains(&visitor), "the old consent cookie gets the persistent cookie deleted: {closed}");
    assert!(closed["beacons"].as_array().unwrap().iter().all(|s| s == 204), "{closed}");
    wait_for_count(&stack, &format!("SELECT count() FROM ledger.purge_log WHERE kind = 'erasure' AND done = 1"), Duration::from_secs(60), |n| n == 1).await?;
    for table in ["t3.events", "t3.orders", "t3.order_facts", "ledger.consent_ledger"] {
        wait_for_count(&stack, &format!("SELECT count() FROM {table} WHERE customer_ref = '{customer}'"), Duration::from_secs(30), |n| n == 0).await?;
    }
    let evidence = rows(&stack, "SELECT dataset, rows_before, rows_after FROM ledger.purge_log WHERE kind = 'erasure' AND statement NOT LIKE 'started:%' ORDER BY dataset").await?;
    let of = |d: &str| evidence.iter().find(|r| r["dataset"] == d).map(|r| (r["rows_before"].as_str().unwrap().parse::<u64>().unwrap(), r["rows_after"].clone()));
    assert_eq!(of("t3.orders"), Some((1, "0".into())), "{evidence:?}");
    assert!(of("t3.events").unwrap().0 >= 2 && of("t3.events").unwrap().1 == "0", "{evidence:?}");
    // What stays: the de-identified copies of the journey, and the visit after it, as Tier 2.
    wait_for_count(&stack, "SELECT count() FROM t2.events WHERE tier = 'tier2' AND path = '/store/products/mug.html'", Duration::from_secs(30), |n| n >= 2).await?;
    let copies = stack.clickhouse_query("SELECT count() FROM t2.events WHERE tier = 'tier3'").await?.trim().parse::<u64>()?;
    // (The closing run's first page, still opted in, adds one.)
    assert!(copies >= tier3_copies, "the Tier 2 copies of the Tier 3 period stay: {copies} < {tier3_copies}");
    assert_eq!(stack.clickhouse_query("SELECT count() FROM t2.orders").await?.trim(), "1", "the order's de-identified copy stays");
    assert_eq!(stack.clickhouse_query("SELECT count() FROM t3.events").await?.trim(), "0", "nothing identified after the erasure");
    assert!(shots.join("demo-store-closed.png").exists());
    stack.stop();
    Ok(())
}
