//! No accepted batch is dropped between the edge and the collector: the
//! whole stack (workerd with its durable queue, the real collector,
//! ClickHouse, Chromium on the demo store) through a collector outage with
//! a runtime restart in it, a collector refusing with 503 (spool full), and
//! a collector refusing the edge's signatures (4xx: dead-lettered).
//!
//! Its own test binary: the retry schedule and the spool limit come from
//! the environment, which the stack's config and the collector inherit.

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use collector::pseudonym::Pseudonyms;
use devstack::Stack;
use mintmark_e2e::load::{self, EVENTS_PER_BATCH};
use mintmark_e2e::{edge_metrics, metric, run_browser, start_stack, wait_for_count, wait_for_edge_metric};
use mintmark_protocol::signing;

/// Retries every 1, 2, 4, 4 … s: a returning collector is seen within 4 s.
fn quick_retries() {
    std::env::set_var("MINTMARK_EDGE__DELIVERY__RETRY_BASE_SECS", "1");
    std::env::set_var("MINTMARK_EDGE__DELIVERY__RETRY_MAX_SECS", "4");
    // Small enough that load fills it in a few hundred batches.
    std::env::set_var("MINTMARK_COLLECTOR__SPOOL_MAX_MB", "1");
}

/// What the browser sent and the edge accepted: every event id, and how
/// many of the batches went with sendBeacon.
struct Journey {
    event_ids: BTreeSet<String>,
    /// Events in all accepted beacons: more than the ids when the beacon
    /// sent a batch twice (a fetch still in flight at `pagehide`).
    events_sent: u64,
    beacons: usize,
    pings: usize,
}

async fn shop(stack: &Stack) -> anyhow::Result<Journey> {
    let prefix = format!("{}/", stack.config.edge.beacon_path.rsplit_once('/').unwrap().0);
    let seen = run_browser("outage.mjs", &[&stack.urls.store, &stack.urls.out_of_scope_page, &prefix]).await?;
    assert_eq!(seen["pageErrors"].as_array().unwrap().len(), 0, "{seen}");
    let beacons = seen["beacons"].as_array().unwrap();
    let mut event_ids = BTreeSet::new();
    let mut events_sent = 0;
    for b in beacons {
        // The edge answered the browser although the collector was away.
        assert_eq!(b["status"], 204, "every beacon accepted: {b}");
        let body: serde_json::Value = serde_json::from_str(b["body"].as_str().unwrap())?;
        for e in body["events"].as_array().unwrap() {
            event_ids.insert(e["id"].as_str().unwrap().to_string());
            events_sent += 1;
        }
    }
    let pings = beacons.iter().filter(|b| b["mode"] == "no-cors").count();
    Ok(Journey { event_ids, events_sent, beacons: beacons.len(), pings })
}

/// Waits until every one of `ids` is in `t2.events` and checks each is
/// there exactly once (as the dashboards read the table).
async fn assert_stored_once(stack: &Stack, ids: &BTreeSet<String>, extra: u64, timeout: Duration) -> anyhow::Result<()> {
    let want = ids.len() as u64 + extra;
    wait_for_count(stack, "SELECT uniqExact(event_id) FROM t2.events", timeout, |n| n >= want).await?;
    let pseudonyms = Pseudonyms::from_keys(&stack.config.keys)?;
    let list = ids.iter().map(|id| format!("'{}'", pseudonyms.t2_event(id).as_str())).collect::<Vec<_>>().join(",");
    let found = stack.clickhouse_query(&format!("SELECT count() FROM t2.events FINAL WHERE event_id IN ({list})")).await?;
    assert_eq!(found.trim().parse::<u64>()?, ids.len() as u64, "each event of the journey once");
    let total = stack.clickhouse_query("SELECT count() FROM t2.events FINAL").await?;
    assert_eq!(total.trim().parse::<u64>()?, want, "nothing else, nothing twice");
    Ok(())
}

/// Every beacon of the journey acknowledged after the collector had it;
/// nothing waits in the delivery queue and nothing was refused.
async fn assert_drained(stack: &Stack, journey: &Journey) -> anyhow::Result<()> {
    let m = metrics(stack).await?;
    assert_eq!(metric(&m, "mintmark_edge_delivered_total"), journey.beacons as u64, "{m}");
    assert_eq!(metric(&m, "mintmark_edge_queue_backlog_messages{queue=\"delivery\"}"), 0, "{m}");
    assert_eq!(metric(&m, "mintmark_edge_queue_backlog_messages{queue=\"dead_letters\"}"), 0, "a retry is never a refusal: {m}");
    Ok(())
}

async fn metrics(stack: &Stack) -> anyhow::Result<String> {
    edge_metrics(&stack.urls.edge, &stack.config).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_outage_with_a_runtime_restart_loses_nothing() -> anyhow::Result<()> {
    quick_retries();
    let mut stack = start_stack("edge_outage", None).await?;
    let outage = Instant::now();
    stack.backend.kill_collector();

    let journey = shop(&stack).await?;
    assert!(journey.pings >= 1, "the last batch went with sendBeacon: {} beacons, {} pings", journey.beacons, journey.pings);
    let m = metrics(&stack).await?;
    assert_eq!(metric(&m, "mintmark_edge_queued_events_total"), journey.events_sent, "{m}");
    assert_eq!(metric(&m, "mintmark_edge_delivered_total"), 0, "the collector is away: {m}");
    // What an operator sees: a backlog, ageing, and retries by cause.
    assert!(metric(&m, "mintmark_edge_queue_backlog_messages{queue=\"delivery\"}") >= 1, "{m}");

    // The runtime dies with everything still queued, and comes back.
    stack.edge.as_mut().unwrap().restart().await?;
    let m = metrics(&stack).await?;
    assert_eq!(metric(&m, "mintmark_edge_queue_backlog_messages{queue=\"delivery\"}"), journey.beacons as u64, "all still queued: {m}");
    // The restarted runtime retries.
    let m = wait_for_edge_metric(&stack.urls.edge, &stack.config, "mintmark_edge_delivery_retries_total{cause=\"network\"}", 1, Duration::from_secs(30)).await?;
    let age = metric(&m, "mintmark_edge_queue_oldest_age_seconds{queue=\"delivery\"}");
    assert!(age >= 1, "the oldest message's age is visible: {m}");

    // Two minutes down in all.
    tokio::time::sleep(Duration::from_secs(120).saturating_sub(outage.elapsed())).await;
    assert_eq!(stack.clickhouse_query("SELECT count() FROM t2.events").await?.trim(), "0");
    stack.backend.start_collector().await?;
    let back = Instant::now();
    assert_stored_once(&stack, &journey.event_ids, 0, Duration::from_secs(30)).await?;
    eprintln!(
        "outage: {} events ({} sent) in {} beacons ({} sendBeacon) delivered {:.1} s after the collector returned",
        journey.event_ids.len(),
        journey.events_sent,
        journey.beacons,
        journey.pings,
        back.elapsed().as_secs_f64()
    );
    assert_drained(&stack, &journey).await?;
    stack.stop();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_answering_503_loses_nothing() -> anyhow::Result<()> {
    quick_retries();
    let mut stack = start_stack("edge_spool_full", None).await?;
    // ClickHouse away: the collector spools until its 1 MB limit, then 503.
    stack.backend.kill_clickhouse();
    let ring = stack.config.edge_signing_keys()?;
    let http = reqwest::Client::new();
    let ingest = format!("{}/ingest", stack.urls.collector);
    let mut acked = 0u64;
    for n in 0..2000u64 {
        let body = serde_json::to_vec(&load::batch(7, n))?;
        let sig = signing::sign(&ring, SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs(), &body);
        match load::signed_post(&http, &ingest, &sig, body).send().await?.status().as_u16() {
            204 => acked += 1,
            503 => break,
            other => anyhow::bail!("load batch answered {other}"),
        }
    }
    assert!(acked > 0 && acked < 2000, "the spool filled after {acked} batches");

    let journey = shop(&stack).await?;
    // The consumer meets the 503s and keeps the batches.
    wait_for_edge_metric(&stack.urls.edge, &stack.config, "mintmark_edge_delivery_retries_total{cause=\"status_503\"}", 2, Duration::from_secs(30)).await?;
    // ClickHouse returns, the spool drains, the 503s stop.
    stack.backend.start_clickhouse().await?;
    assert_stored_once(&stack, &journey.event_ids, acked * EVENTS_PER_BATCH as u64, Duration::from_secs(60)).await?;
    assert_drained(&stack, &journey).await?;
    stack.stop();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_batch_is_dead_lettered_and_counted_and_nothing_else_is_affected() -> anyhow::Result<()> {
    quick_retries();
    let mut stack = start_stack("edge_refused", None).await?;
    let origin = stack.config.store.origins[0].clone();
    let url = format!("{}{}", stack.urls.edge, stack.config.edge.beacon_path);
    let beacon = |page: &str| {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis();
        let id = format!("{:032x}", now * 1000 + page.len() as u128);
        let body = format!(r#"{{"v":1,"cookies":true,"events":[{{"id":"{id}","type":"pageview","ts":{now},"url":"{origin}{page}"}}]}}"#);
        (id, body)
    };
    let send = |body: String| {
        let (origin, url) = (origin.clone(), url.clone());
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .header("origin", origin)
                .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36")
                .header("cf-connecting-ip", "203.0.113.9")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 204);
        }
    };
    let (before, body) = beacon("/store/before");
    send(body).await;
    wait_for_count(&stack, "SELECT count() FROM t2.events", Duration::from_secs(20), |n| n >= 1).await?;

    // The collector restarts with a signing key the edge does not have (a
    // botched rotation): it answers 401, and the batch is dead-lettered.
    stack.backend.stop_collector();
    let rotated = format!("[{{id=\"rotated\",secret=\"{}\"}}]", "ab".repeat(32));
    stack.backend.start_collector_with_env(&[("MINTMARK_KEYS__EDGE_SIGNING", &rotated)]).await?;
    let (_refused, body) = beacon("/store/refused");
    send(body).await;
    let series = "mintmark_edge_dead_lettered_total{reason=\"signature_unknown_key\"}";
    let m = wait_for_edge_metric(&stack.urls.edge, &stack.config, series, 1, Duration::from_secs(20)).await?;
    assert_eq!(metric(&m, "mintmark_edge_queue_backlog_messages{queue=\"dead_letters\"}"), 1, "{m}");
    assert_eq!(metric(&m, "mintmark_edge_queue_backlog_messages{queue=\"delivery\"}"), 0, "not retried forever: {m}");
    let collector_metrics = reqwest::get(format!("{}/metrics", stack.urls.collector)).await?.text().await?;
    assert_eq!(metric(&collector_metrics, "mintmark_collector_rejected_total{reason=\"signature_unknown_key\"}"), 1);

    // Keys fixed: what comes next is delivered; only the refused one is missing.
    stack.backend.stop_collector();
    stack.backend.start_collector().await?;
    let (after, body) = beacon("/store/after");
    send(body).await;
    assert_stored_once(&stack, &BTreeSet::from([before, after]), 0, Duration::from_secs(20)).await?;
    let m = metrics(&stack).await?;
    assert_eq!(metric(&m, "mintmark_edge_delivered_total"), 2, "{m}");
    assert_eq!(metric(&m, "mintmark_edge_dead_lettered_total{reason=\"signature_unknown_key\"}"), 1, "{m}");
    stack.stop();
    Ok(())
}
