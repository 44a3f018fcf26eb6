//! Backpressure: with ClickHouse gone, the collector spools until its limit,
//! then refuses with 503 and Retry-After (counted) instead of growing; once
//! ClickHouse is back, everything it acknowledged arrives.
//!
//! Its own test binary: the spool limit comes from the environment, which
//! the collector inherits from this process.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use devstack::{Backend, Ports};
use mintmark_e2e::load::{self, EVENTS_PER_BATCH};
use mintmark_e2e::state_dir;
use mintmark_protocol::signing;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_spool_answers_503_and_loses_nothing() -> anyhow::Result<()> {
    std::env::set_var("MINTMARK_COLLECTOR__SPOOL_MAX_MB", "1");
    let mut backend = Backend::start(&state_dir("collector_backpressure")?, Ports::free()?).await?;
    let ring = backend.config.edge_signing_keys()?;
    backend.kill_clickhouse();
    let http = reqwest::Client::new();
    let url = format!("{}/ingest", backend.collector_url);

    let mut acked = 0u64;
    let mut refused = None;
    // Each batch is ~5 KB, so the 1 MB limit is reached within a few hundred.
    for n in 0..2000u64 {
        let body = serde_json::to_vec(&load::batch(9, n))?;
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let sig = signing::sign(&ring, now, &body);
        let resp = load::signed_post(&http, &url, &sig, body).send().await?;
        match resp.status().as_u16() {
            204 => acked += 1,
            503 => {
                let retry_after = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
                refused = Some((retry_after, resp.text().await?));
                break;
            }
            other => anyhow::bail!("unexpected {other}: {}", resp.text().await?),
        }
    }
    let (retry_after, body) = refused.expect("the collector pushed back before 2000 batches");
    assert_eq!(retry_after.as_deref(), Some("5"));
    assert_eq!(body, r#"{"error":"spool_full"}"#);
    assert!(acked > 50, "it spooled first: {acked} batches");
    let ready = http.get(format!("{}/readyz", backend.collector_url)).send().await?;
    assert_eq!(ready.status().as_u16(), 503);
    let metrics = http.get(format!("{}/metrics", backend.collector_url)).send().await?.text().await?;
    assert!(metrics.contains("mintmark_collector_rejected_total{reason=\"spool_full\"} 1"), "{metrics}");

    // ClickHouse returns: the spool drains and every acknowledged event is there.
    backend.start_clickhouse().await?;
    let want = acked * EVENTS_PER_BATCH as u64;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let n: u64 = backend.query("SELECT count() FROM t2.events FINAL").await?.trim().parse()?;
        if n == want {
            break;
        }
        anyhow::ensure!(n < want, "more rows than acknowledged events: {n} > {want}");
        anyhow::ensure!(std::time::Instant::now() < deadline, "{n} of {want} events after 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
