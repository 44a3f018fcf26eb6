//! Erasure through the real collector and ClickHouse: a customer's Tier 3
//! events, orders and order facts are deleted after `POST /consent/erasure`,
//! another customer's are not, the de-identified Tier 2 copies stay, and the
//! purge log holds the evidence (rows before and after, the statement and
//! mutation) under a keyed hash, never the reference; the reference leaves
//! the consent ledger and old audit entries too; a second request is a
//! harmless second run; a run cut short by killing the collector completes
//! after the restart.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use devstack::{Backend, Ports};
use mintmark_e2e::state_dir;
use serde_json::{json, Value};

async fn count(backend: &Backend, sql: &str) -> anyhow::Result<u64> {
    Ok(backend.query(sql).await?.trim().parse()?)
}

async fn wait_for(backend: &Backend, sql: &str, want: u64) -> anyhow::Result<()> {
    mintmark_e2e::eventually(&format!("{sql} (expected {want})"), Duration::from_secs(60), async || count(backend, sql).await, |n| *n == want).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_deletes_every_identified_row_and_leaves_evidence() -> anyhow::Result<()> {
    let mut backend = Backend::start(&state_dir("erasure")?, Ports::free()?).await?;
    let http = reqwest::Client::new();
    let keys = backend.config.keys.clone();
    let post = |path: &str, body: Value| http.post(format!("{}{path}", backend.collector_url)).bearer_auth(keys.backend_secret_for(path)).json(&body).send();
    for c in ["c-gone", "c-stays"] {
        assert!(post("/consent/opt-in", json!({"customer_ref": c, "source": "registration", "policy_version": 1})).await?.status().is_success());
    }
    let at = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() + 2;
    let order = |id: &str, c: &str| json!({"order_id": id, "event": "placed", "at": at, "channel": "web", "customer_ref": c, "value": 10.0, "currency": "USD",
                                             "items": [{"sku": "MUG-1", "quantity": 1, "unit_price": 10.0}], "state": "VA", "zip": "22030"});
    assert_eq!(post("/orders", json!({"orders": [order("O-1", "c-gone"), order("O-2", "c-stays")]})).await?.status().as_u16(), 202);
    wait_for(&backend, "SELECT count() FROM t3.orders", 2).await?;
    backend
        .query(
            "INSERT INTO t3.events (event_date, ts, received_at, event_id, customer_ref, kind, path) VALUES \
             (today(), now(), now(), 'e1', 'c-gone', 'pageview', '/store/'), (today(), now(), now(), 'e2', 'c-gone', 'pageview', '/store/cart'), \
             (today(), now(), now(), 'e3', 'c-stays', 'pageview', '/store/')",
        )
        .await?;
    let client = mintmark_schema::client(&backend.config.clickhouse);
    dashboards::tier3::facts::rebuild(&client, &mintmark_schema::Databases::new("")?).await?;
    let t2_orders = count(&backend, "SELECT count() FROM t2.orders").await?;
    // An access-audit entry from before the audit was chained listed references.
    backend.query("INSERT INTO ledger.access_audit (at, user_name, route, customer_refs) VALUES (now(), 'mia', '/customers', ['c-gone', 'c-stays'])").await?;

    assert_eq!(post("/consent/erasure", json!({"customer_ref": "c-gone", "note": "account closed"})).await?.status().as_u16(), 202);
    wait_for(&backend, "SELECT count() FROM ledger.purge_log WHERE kind = 'erasure' AND done = 1", 1).await?;
    for table in ["t3.events", "t3.orders", "t3.order_facts"] {
        assert_eq!(count(&backend, &format!("SELECT count() FROM {table} WHERE customer_ref = 'c-gone'")).await?, 0, "{table}");
        assert!(count(&backend, &format!("SELECT count() FROM {table} WHERE customer_ref = 'c-stays'")).await? > 0, "{table} keeps the other customer");
    }
    assert_eq!(count(&backend, "SELECT count() FROM t2.orders").await?, t2_orders, "de-identified data stays");
    wait_for(&backend, "SELECT count() FROM ledger.consent_ledger WHERE customer_ref = 'c-gone'", 0).await?;
    assert!(count(&backend, "SELECT count() FROM ledger.consent_ledger WHERE customer_ref = 'c-stays'").await? > 0);
    let ids = collector::pseudonym::Pseudonyms::from_keys(&backend.config.keys)?;
    let refs = backend.query("SELECT arrayJoin(customer_refs) FROM ledger.access_audit").await?;
    let mut refs: Vec<&str> = refs.lines().collect();
    refs.sort_unstable();
    let mut want = vec![ids.subject("c-gone").as_str().to_string(), ids.subject("c-stays").as_str().to_string()];
    want.sort();
    assert_eq!(refs, want, "the old audit entry names both by subject now, neither by reference");
    let mutations = backend.query("SELECT command FROM system.mutations").await?;
    assert!(!mutations.contains("c-gone"), "no statement names the customer: {mutations}");

    // The evidence: per dataset, rows before and after, the statement and mutation, a hash for the customer.
    let everything = backend.query("SELECT * FROM ledger.purge_log FORMAT JSONEachRow").await?;
    assert!(!everything.contains("c-gone"), "the purge log never holds the reference: {everything}");
    let body = backend
        .query("SELECT dataset, rows_before, rows_after, statement, mutation_id, subject_hash, done FROM ledger.purge_log WHERE kind = 'erasure' AND statement NOT LIKE 'started:%' ORDER BY dataset FORMAT JSONEachRow")
        .await?;
    let log: Vec<Value> = body.lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    let got: Vec<(&str, &str, &str, bool)> = log
        .iter()
        .map(|r| (r["dataset"].as_str().unwrap(), r["rows_before"].as_str().unwrap(), r["rows_after"].as_str().unwrap(), !r["mutation_id"].as_str().unwrap().is_empty()))
        .collect();
    assert_eq!(
        got,
        [
            ("*", "6", "0", false),
            ("collector spool (events)", "0", "0", false),
            ("collector spool (orders)", "0", "0", false),
            ("edge queue, dead-letter queue", "0", "0", false),
            ("ledger.access_audit", "0", "0", false),
            ("ledger.consent_ledger", "1", "0", true),
            ("ledger.seal_keys", "1", "0", true),
            ("logs", "0", "0", false),
            ("revocations", "0", "0", false),
            ("t3.events", "2", "0", true),
            ("t3.order_facts", "1", "0", true),
            ("t3.orders", "1", "0", true)
        ]
    );
    let events = log.iter().find(|r| r["dataset"] == "t3.events").unwrap()["statement"].as_str().unwrap();
    assert!(events.starts_with("ALTER TABLE t3.events DELETE WHERE subject = '") && !events.contains("c-gone"), "{events}");
    let subject = log[0]["subject_hash"].as_str().unwrap();
    assert_eq!(subject.len(), 32);

    // A second request for the same customer: a second run that finds nothing.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(post("/consent/erasure", json!({"customer_ref": "c-gone"})).await?.status().as_u16(), 202);
    wait_for(&backend, "SELECT count() FROM ledger.purge_log WHERE kind = 'erasure' AND done = 1", 2).await?;
    wait_for(&backend, "SELECT count() FROM ledger.consent_ledger WHERE customer_ref = 'c-gone'", 0).await?;
    assert_eq!(count(&backend, "SELECT toUInt64(max(rows_before)) FROM ledger.purge_log WHERE kind = 'erasure' AND done = 1 AND at > (SELECT min(at) FROM ledger.purge_log WHERE kind = 'erasure' AND done = 1)").await?, 0);
    backend.stop();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_cut_short_by_a_collector_crash_completes_after_the_restart() -> anyhow::Result<()> {
    let mut backend = Backend::start(&state_dir("erasure-crash")?, Ports::free()?).await?;
    let http = reqwest::Client::new();
    let keys = backend.config.keys.clone();
    let post = |path: &str, body: Value| http.post(format!("{}{path}", backend.collector_url)).bearer_auth(keys.backend_secret_for(path)).json(&body).send();
    assert!(post("/consent/opt-in", json!({"customer_ref": "c-big", "source": "registration", "policy_version": 1})).await?.status().is_success());
    // Enough orders that their delete takes a while: the crash lands in it.
    backend
        .query(
            "INSERT INTO t3.orders (order_date, order_id, event, customer_ref, received_at) \
             SELECT today() - number % 300, concat('O-', toString(number)), 'placed', 'c-big', now() FROM system.numbers LIMIT 3000000",
        )
        .await?;
    backend.query("INSERT INTO t3.events (event_date, ts, received_at, event_id, customer_ref, kind, path) VALUES (today(), now(), now(), 'e1', 'c-big', 'pageview', '/store/')").await?;
    assert_eq!(post("/consent/erasure", json!({"customer_ref": "c-big"})).await?.status().as_u16(), 202);

    // Kill the collector once the orders' delete has started.
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&backend, "SELECT count() FROM ledger.purge_log WHERE kind = 'erasure' AND dataset = 't3.orders' AND statement LIKE 'started:%'").await? == 0 {
        anyhow::ensure!(Instant::now() < deadline, "the erasure never started on t3.orders");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    backend.kill_collector();
    assert_eq!(count(&backend, "SELECT count() FROM ledger.purge_log WHERE kind = 'erasure' AND done = 1").await?, 0, "the kill came before the run completed");
    assert_eq!(count(&backend, "SELECT count() FROM ledger.purge_log WHERE kind = 'erasure' AND dataset = 't3.orders' AND rows_before = 3000000").await?, 1, "what was found is logged already");

    backend.start_collector().await?;
    wait_for(&backend, "SELECT count() FROM ledger.purge_log WHERE kind = 'erasure' AND done = 1", 1).await?;
    for table in ["t3.events", "t3.orders", "ledger.consent_ledger"] {
        wait_for(&backend, &format!("SELECT count() FROM {table} WHERE customer_ref = 'c-big'"), 0).await?;
    }
    assert_eq!(count(&backend, "SELECT count(DISTINCT run_id) FROM ledger.purge_log WHERE kind = 'erasure'").await?, 2, "the cut-short run and the one that completed");
    backend.stop();
    Ok(())
}
