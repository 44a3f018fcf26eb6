//! Nothing acknowledged is lost, nothing is counted twice: the collector
//! under load while ClickHouse is killed and restarted, and while the
//! collector itself is killed with SIGKILL and restarted.

use std::collections::HashSet;
use std::time::Duration;

use collector::pseudonym::Pseudonyms;
use devstack::{Backend, Ports};
use mintmark_e2e::load::{self, LoadStats, EVENTS_PER_BATCH};
use mintmark_e2e::{state_dir, wait_until};

/// Waits for every acknowledged event, then checks each is stored once.
async fn assert_exactly_once(backend: &Backend, stats: &LoadStats) -> anyhow::Result<()> {
    let acked: HashSet<String> = stats.acked_ids.lock().unwrap().iter().cloned().collect();
    assert_eq!(acked.len() as u64, stats.acked() * EVENTS_PER_BATCH as u64, "ids are unique per send");
    // Stored ids are the collector's keyed pseudonyms of the wire ids.
    let ids = Pseudonyms::from_keys(&backend.config.keys)?;
    let acked: HashSet<String> = acked.iter().map(|id| ids.t2_event(id).as_str().to_string()).collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let stored: Vec<String> = loop {
        let body = backend.query("SELECT event_id FROM t2.events FINAL").await?;
        let stored: Vec<String> = body.lines().map(String::from).collect();
        let have: HashSet<&str> = stored.iter().map(String::as_str).collect();
        if acked.iter().all(|id| have.contains(id.as_str())) {
            break stored;
        }
        anyhow::ensure!(std::time::Instant::now() < deadline, "{} of {} acknowledged events stored after 60 s", acked.iter().filter(|id| have.contains(id.as_str())).count(), acked.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let unique: HashSet<&String> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len(), "an event is stored more than once");
    // Also the idempotency key itself, whatever merges have or have not run.
    let exact = backend.query("SELECT count() = uniqExact(event_id) FROM (SELECT event_id FROM t2.events FINAL)").await?;
    assert_eq!(exact.trim(), "1");
    let t3_dupes = backend.query("SELECT count() - uniqExact(event_id) FROM t3.events FINAL").await?;
    assert_eq!(t3_dupes.trim(), "0");
    // Every tenth batch is Tier 3, sealed under keys the collector can open.
    let t3 = backend.query("SELECT count() FROM t3.events").await?;
    assert!(t3.trim().parse::<u64>()? > 0, "the sealed Tier 3 batches made rows");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_killed_and_restarted_during_ingest() -> anyhow::Result<()> {
    let mut backend = Backend::start(&state_dir("durability_clickhouse")?, Ports::free()?).await?;
    // Tier 3 batches open at the collector, so t3 is exercised too.
    mintmark_e2e::load::mint_seal_keys(&mintmark_schema::client(&backend.config.clickhouse), "ledger", &collector::pseudonym::Pseudonyms::from_keys(&backend.config.keys)?, &[1]).await?;
    let ring = backend.config.edge_signing_keys()?;
    let (stats, workers) = load::start(format!("{}/ingest", backend.collector_url), ring, 1, 4, 3000);

    wait_until("first acknowledgements", Duration::from_secs(30), || stats.acked() >= 50).await?;
    backend.kill_clickhouse();
    // The collector keeps acknowledging into its spool while ClickHouse is gone.
    let at_kill = stats.acked();
    wait_until("acks while ClickHouse is down", Duration::from_secs(30), || stats.acked() >= at_kill + 100).await?;
    let ready = reqwest::get(format!("{}/readyz", backend.collector_url)).await?;
    assert_eq!(ready.status().as_u16(), 503, "not ready without ClickHouse");
    backend.start_clickhouse().await?;
    let at_restart = stats.acked();
    wait_until("acks after the restart", Duration::from_secs(30), || stats.acked() >= at_restart + 50).await?;
    stats.stop();
    for w in workers {
        w.await?;
    }
    assert_exactly_once(&backend, &stats).await?;
    let metrics = reqwest::get(format!("{}/metrics", backend.collector_url)).await?.text().await?;
    let errors: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("mintmark_collector_insert_errors_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    assert!(errors > 0, "inserts failed while ClickHouse was down and were retried:\n{metrics}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_killed_with_sigkill_and_restarted() -> anyhow::Result<()> {
    let mut backend = Backend::start(&state_dir("durability_collector")?, Ports::free()?).await?;
    // Tier 3 batches open at the collector, so t3 is exercised too.
    mintmark_e2e::load::mint_seal_keys(&mintmark_schema::client(&backend.config.clickhouse), "ledger", &collector::pseudonym::Pseudonyms::from_keys(&backend.config.keys)?, &[2]).await?;
    let ring = backend.config.edge_signing_keys()?;
    let (stats, workers) = load::start(format!("{}/ingest", backend.collector_url), ring, 2, 4, 3000);

    for round in 0..2 {
        let before = stats.acked();
        wait_until("acknowledgements", Duration::from_secs(30), || stats.acked() >= before + 100).await?;
        backend.kill_collector();
        let failed = stats.failed.load(std::sync::atomic::Ordering::SeqCst);
        wait_until("senders noticing", Duration::from_secs(10), || stats.failed.load(std::sync::atomic::Ordering::SeqCst) > failed).await?;
        backend.start_collector().await?;
        eprintln!("collector restarted (round {round})");
    }
    let before = stats.acked();
    wait_until("acks after the last restart", Duration::from_secs(30), || stats.acked() >= before + 50).await?;
    stats.stop();
    for w in workers {
        w.await?;
    }
    assert_exactly_once(&backend, &stats).await?;
    Ok(())
}
