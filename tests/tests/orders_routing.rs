//! The order feed through the real collector and ClickHouse: where each
//! order lands by consent at its time, what the datasets can hold (read as
//! an attacker would: every String column of every table), refusals with
//! reasons, replays counted once, and durability across a crash.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::bail;
use devstack::{Backend, Ports};
use mintmark_e2e::state_dir;
use serde_json::{json, Value};

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

struct Feed<'a> {
    backend: &'a Backend,
    http: reqwest::Client,
}

impl Feed<'_> {
    async fn post(&self, path: &str, body: Value) -> anyhow::Result<(u16, Value)> {
        let resp = self.http.post(format!("{}{path}", self.backend.collector_url)).bearer_auth(self.backend.config.keys.backend_secret_for(path)).json(&body).send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        Ok((status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text)? }))
    }

    async fn consent(&self, action: &str, customer: &str) -> anyhow::Result<()> {
        let body = match action {
            "opt-in" => json!({"customer_ref": customer, "source": "registration", "policy_version": 2}),
            _ => json!({"customer_ref": customer}),
        };
        let (status, answer) = self.post(&format!("/consent/{action}"), body).await?;
        anyhow::ensure!(status < 300, "{action} {customer}: {status} {answer}");
        Ok(())
    }

    async fn rows(&self, sql: &str) -> anyhow::Result<Vec<Value>> {
        let body = self.backend.query(&format!("{sql} FORMAT JSONEachRow")).await?;
        body.lines().map(|l| serde_json::from_str(l).map_err(Into::into)).collect()
    }

    async fn count(&self, sql: &str) -> anyhow::Result<u64> {
        Ok(self.backend.query(sql).await?.trim().parse()?)
    }

    async fn wait_for(&self, sql: &str, want: u64) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let n = self.count(sql).await?;
            if n == want {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{sql}: {n}, expected {want}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn order(id: &str, at: u64, channel: &str, customer: Option<&str>) -> Value {
    let mut o = json!({
        "order_id": id, "event": "placed", "at": at, "channel": channel, "value": 30.0, "currency": "USD",
        "items": [{"sku": "MUG-1", "quantity": 2, "unit_price": 10.0, "category": "kitchen"}, {"sku": "LID-2", "quantity": 1, "unit_price": 10.0}],
        "state": "VA", "zip": "22030"
    });
    if let Some(c) = customer {
        o["customer_ref"] = json!(c);
    }
    o
}

/// Every non-empty String or Array(String) value in every table of `db`.
async fn every_string(feed: &Feed<'_>, db: &str) -> anyhow::Result<Vec<(String, String)>> {
    let columns = feed
        .rows(&format!(
            "SELECT table, name FROM system.columns WHERE database = '{db}' AND type IN ('String', 'Array(String)') ORDER BY table, name"
        ))
        .await?;
    let mut out = Vec::new();
    for c in columns {
        let (table, name) = (c["table"].as_str().unwrap(), c["name"].as_str().unwrap());
        for r in feed.rows(&format!("SELECT {name} AS v FROM {db}.{table}")).await? {
            match &r["v"] {
                Value::String(s) if !s.is_empty() => out.push((format!("{table}.{name}"), s.clone())),
                Value::Array(a) => out.extend(a.iter().filter_map(Value::as_str).map(|s| (format!("{table}.{name}"), s.to_string()))),
                _ => {}
            }
        }
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_order_lands_where_consent_at_its_time_says() -> anyhow::Result<()> {
    let mut backend = Backend::start(&state_dir("orders_routing")?, Ports::free()?).await?;
    let feed = Feed { backend: &backend, http: reqwest::Client::new() };
    let t0 = now();

    // Consent as the ledger will record it: opted in; opted in then out; opted in then erased.
    for c in ["c-in", "c-out", "c-erased"] {
        feed.consent("opt-in", c).await?;
    }
    feed.consent("opt-out", "c-out").await?;
    feed.consent("erasure", "c-erased").await?;
    let later = now() + 5;

    let orders = json!({"orders": [
        order("O-before", t0 - 3600, "web", Some("c-in")),   // before the opt-in: never linked
        order("O-in", later, "web", Some("c-in")),            // identified
        order("O-phone", later, "phone", Some("c-in")),       // identified, other channel
        order("O-out", later, "web", Some("c-out")),          // after the opt-out
        order("O-erased", later, "pos", Some("c-erased")),    // after the erasure
        order("O-never", later, "web", Some("c-never")),      // never opted in
        order("O-guest", later, "web", None),                 // no customer
        order("O-market", later, "marketplace", None),        // marketplace
    ]});
    let (status, answer) = feed.post("/orders", orders.clone()).await?;
    assert_eq!((status, &answer), (202, &json!({"accepted": 8})));
    // The same events again (a backend retry) and a refund: counted once, refund added.
    let (status, _) = feed.post("/orders", orders).await?;
    assert_eq!(status, 202);
    let mut refund = order("O-in", later + 1, "web", Some("c-in"));
    refund["event"] = json!("refunded");
    refund["value"] = json!(10.0);
    refund["items"] = json!([]);
    assert_eq!(feed.post("/orders", refund).await?.0, 202);

    // A marketplace order naming a customer is refused, and never consent.
    let (status, answer) = feed.post("/orders", order("O-mc", later, "marketplace", Some("c-in"))).await?;
    assert_eq!(status, 422);
    assert!(answer["error"].as_str().unwrap().contains("marketplace"), "{answer}");
    // Malformed input: the reason, the index, nothing kept.
    let mut bad = order("O-bad", later, "web", None);
    bad["zip"] = json!("ABCDE");
    let (status, answer) = feed.post("/orders", json!({"orders": [order("O-ok", later, "web", None), bad]})).await?;
    assert_eq!(status, 422);
    assert!(answer["error"].as_str().unwrap().starts_with("orders[1]: zip"), "{answer}");
    let unauthenticated = feed.http.post(format!("{}/orders", backend.collector_url)).json(&order("O-x", later, "web", None)).send().await?;
    assert_eq!(unauthenticated.status().as_u16(), 401);

    // 7 store orders + 1 refund de-identified; 2 identified + the refund; 1 marketplace.
    feed.wait_for("SELECT count() FROM t2.orders FINAL", 8).await?;
    feed.wait_for("SELECT count() FROM t3.orders FINAL", 3).await?;
    feed.wait_for("SELECT count() FROM t2.marketplace_orders FINAL", 1).await?;
    let t3 = feed.rows("SELECT order_id, event, customer_ref, consent_source, zip FROM t3.orders FINAL ORDER BY order_id, event").await?;
    let t3: Vec<(&str, &str, &str)> =
        t3.iter().map(|r| (r["order_id"].as_str().unwrap(), r["event"].as_str().unwrap(), r["customer_ref"].as_str().unwrap())).collect();
    assert_eq!(t3, [("O-in", "placed", "c-in"), ("O-in", "refunded", "c-in"), ("O-phone", "placed", "c-in")]);
    let channels = feed.rows("SELECT channel, count() AS n FROM t2.orders FINAL GROUP BY channel ORDER BY channel").await?;
    assert_eq!(channels, [json!({"channel": "web", "n": "6"}), json!({"channel": "phone", "n": "1"}), json!({"channel": "pos", "n": "1"})]);

    // Read as an attacker: no order number, customer reference or ZIP anywhere in t2.
    let t2_strings = every_string(&feed, "t2").await?;
    for needle in ["O-", "c-in", "c-out", "c-erased", "c-never", "22030"] {
        let found: Vec<_> = t2_strings.iter().filter(|(_, v)| v.contains(needle)).collect();
        assert!(found.is_empty(), "{needle} is readable in t2: {found:?}");
    }
    // ...and in t3 only the opted-in customer's orders, nobody else's.
    for (column, v) in every_string(&feed, "t3").await? {
        for needle in ["O-before", "O-out", "O-erased", "O-never", "O-guest", "O-market", "c-out", "c-erased", "c-never"] {
            assert!(!v.contains(needle), "{needle} is in t3 ({column})");
        }
    }
    // The marketplace order never touched consent.
    let ledger = feed.count("SELECT count() FROM ledger.consent_ledger WHERE customer_ref NOT IN ('c-in', 'c-out', 'c-erased') AND action != 'erasure_requested'").await?;
    assert_eq!(ledger, 0);
    // An erasure request names its customer by subject only.
    assert_eq!(feed.count("SELECT count() FROM ledger.consent_ledger WHERE action = 'erasure_requested' AND customer_ref != ''").await?, 0);
    // The de-identified copy of an identified order shares no key with it.
    let keys = feed.rows("SELECT order_key FROM t2.orders").await?;
    assert!(keys.iter().all(|k| k["order_key"].as_str().unwrap().len() == 32));

    let metrics = feed.http.get(format!("{}/metrics", backend.collector_url)).send().await?.text().await?;
    for line in [
        "mintmark_collector_orders_accepted_total{event=\"placed\"} 16",
        "mintmark_collector_rejected_total{reason=\"marketplace_customer\"} 1",
        "mintmark_collector_rejected_total{reason=\"order_bad_zip\"} 1",
        "mintmark_collector_backend_refused_total{reason=\"missing_key\",scope=\"orders\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} missing from /metrics:\n{metrics}");
    }

    // Durable before the 202: with ClickHouse down the order is accepted, the
    // collector is killed, and after both restart it is there, once.
    backend.kill_clickhouse();
    let (status, _) = Feed { backend: &backend, http: reqwest::Client::new() }.post("/orders", order("O-crash", now(), "web", None)).await?;
    assert_eq!(status, 202);
    backend.kill_collector();
    backend.start_clickhouse().await?;
    backend.start_collector().await?;
    let feed = Feed { backend: &backend, http: reqwest::Client::new() };
    feed.wait_for("SELECT count() FROM t2.orders FINAL", 9).await?;
    backend.stop();
    Ok(())
}
