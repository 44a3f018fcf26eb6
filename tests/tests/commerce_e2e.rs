//! A purchase, all real: the demo store's mug page in headless Chromium →
//! beacon → edge worker in workerd → collector → ClickHouse. The commerce
//! fields and the campaign that brought the shopper arrive as columns.

use std::time::Duration;

use mintmark_e2e::{rows, run_browser, start_stack, wait_for_count};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_campaign_purchase_reaches_clickhouse() -> anyhow::Result<()> {
    let stack = start_stack("commerce_e2e", Some("203.0.113.77".parse()?)).await?;
    let seen = run_browser("shop.mjs", &[&stack.urls.store, "/store/_mm/"]).await?;
    assert_eq!(seen["pageErrors"], serde_json::json!([]), "{seen:#}");
    for b in seen["beacons"].as_array().unwrap() {
        assert_eq!(b["status"], 204, "the edge accepted every batch: {b:#}");
    }

    let kinds = "SELECT count() FROM t2.events WHERE kind IN ('product_view', 'add_to_cart', 'purchase')";
    wait_for_count(&stack, kinds, Duration::from_secs(30), |n| n >= 3).await?;
    let stored = rows(
        &stack,
        "SELECT kind, path, utm_source, utm_campaign, value, currency, item_skus, item_quantities, item_prices \
         FROM t2.events FINAL WHERE kind != 'pageview' ORDER BY ts, kind",
    )
    .await?;
    let by_kind = |k: &str| stored.iter().find(|r| r["kind"] == k).unwrap_or_else(|| panic!("no {k} row in {stored:#?}")).clone();
    for kind in ["product_view", "add_to_cart", "purchase"] {
        let r = by_kind(kind);
        assert_eq!(r["path"], "/store/products/mug.html", "{r:#}");
        assert_eq!((r["utm_source"].as_str(), r["utm_campaign"].as_str()), (Some("news"), Some("fall sale")), "{r:#}");
        assert_eq!(r["item_skus"], serde_json::json!(["MUG-01"]), "{r:#}");
    }
    let purchase = by_kind("purchase");
    assert_eq!((purchase["value"].as_f64(), purchase["currency"].as_str()), (Some(12.0), Some("USD")));
    assert_eq!((purchase["item_quantities"].clone(), purchase["item_prices"].clone()), (serde_json::json!([1]), serde_json::json!([12])));
    assert_eq!(stored.len(), 3, "nothing else but the three commerce events: {stored:#?}");
    stack.stop();
    Ok(())
}
