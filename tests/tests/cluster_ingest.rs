//! 1 M events through two collectors into the 2 × 2 cluster while a replica and a
//! collector are SIGKILLed and restarted and ZooKeeper is away for 30 s:
//! every acknowledged event is stored
//! exactly once, read through the Distributed tables and per shard, and the
//! restarted replica catches up (both replicas of each shard hold the same
//! rows).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use collector::pseudonym::Pseudonyms;
use devstack::{Cluster, ClusterCollectors, ClusterSpec};
use mintmark_e2e::load::{self, EVENTS_PER_BATCH};
use mintmark_e2e::{eventually, state_dir, wait_until};

/// Batches per collector (20 events each): 1 M events through the two;
/// `CLUSTER_INGEST_BATCHES` overrides.
const BATCHES: u64 = 25_000;

fn count(body: &str) -> u64 {
    body.trim().parse().unwrap_or_else(|_| panic!("not a count: {body:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_collectors_into_the_cluster_store_each_event_once() -> anyhow::Result<()> {
    let root = state_dir("cluster_ingest")?;
    let mut cluster = Cluster::start(&root.join("cluster"), &ClusterSpec::default()).await?;
    // Started together: their migrations race for the lock.
    let mut collectors = ClusterCollectors::start(&root, &cluster, 2).await?;
    let config = collectors.config()?;
    let ring = config.edge_signing_keys()?;
    let batches = mintmark_e2e::bench::size("CLUSTER_INGEST_BATCHES", BATCHES);
    // The Tier 3 batches are sealed under keys the collectors can open.
    let ids = Pseudonyms::from_keys(&config.keys)?;
    load::mint_seal_keys(&mintmark_schema::client(&config.clickhouse), "ledger", &ids, &[10, 11]).await?;

    let started = Instant::now();
    let runs: Vec<_> = collectors
        .urls
        .iter()
        .enumerate()
        .map(|(i, url)| load::start(format!("{url}/ingest"), ring.clone(), 10 + i as u32, 4, batches))
        .collect();
    let acked_total = || runs.iter().map(|(s, _)| s.acked()).sum::<u64>();
    let total = 2 * batches;

    // During the load: one replica of shard 1 is SIGKILLed and comes back,
    // then collector 1 is SIGKILLed and comes back on its spool.
    wait_until("a fifth of the load", Duration::from_secs(120), || acked_total() >= total / 5).await?;
    cluster.kill(1);
    let at_kill = acked_total();
    wait_until("acks with a replica down", Duration::from_secs(120), || acked_total() >= at_kill + total / 10).await?;
    cluster.start_member(1).await?;
    wait_until("half the load", Duration::from_secs(120), || acked_total() >= total / 2).await?;
    collectors.kill(1);
    collectors.start_one(1).await?;
    // ZooKeeper away for 30 s: replicated tables turn read-only, inserts
    // fail and the collectors retry them from their spools while still
    // acknowledging what they spool; then it returns and everything lands.
    wait_until("three fifths of the load", Duration::from_secs(120), || acked_total() >= total * 3 / 5).await?;
    cluster.zookeeper.stop();
    let at_stop = acked_total();
    tokio::time::sleep(Duration::from_secs(30)).await;
    let during_outage = acked_total() - at_stop;
    cluster.zookeeper.resume().await?;

    let mut acked = HashSet::new();
    let mut failed = 0;
    for (stats, workers) in runs {
        for w in workers {
            w.await?;
        }
        failed += stats.failed.load(std::sync::atomic::Ordering::SeqCst);
        acked.extend(stats.acked_ids.lock().unwrap().iter().cloned());
    }
    // What a killed collector had not acknowledged, its senders saw fail.
    let want = acked.len() as u64;
    assert!(want > total * EVENTS_PER_BATCH as u64 / 2, "most of the load acknowledged: {want} events, {failed} failed sends");

    // Through the Distributed table, from any server.
    // A server still catching up may refuse the read: counted as nothing yet.
    let stored_ids = async || Ok(count(&cluster.query(1, "SELECT uniqExact(event_id) FROM t2.events").await.unwrap_or_else(|_| "0".into())));
    eventually(&format!("events stored (of {want})"), Duration::from_secs(180), stored_ids, |n| *n >= want).await?;
    let took = started.elapsed();
    assert!(during_outage > 0, "the collectors kept acknowledging into their spools while ZooKeeper was away");
    let exact: Vec<u64> = cluster.query(2, "SELECT count(), uniqExact(event_id) FROM t2.events FINAL").await?.split_whitespace().map(count).collect();
    assert_eq!(exact[0], exact[1], "no event twice through Distributed: {exact:?}");
    // A send the killed collector had spooled but not answered is stored
    // though its sender saw it fail: at most the failed sends' events more.
    assert!(exact[0] >= want && exact[0] <= want + failed * EVENTS_PER_BATCH as u64, "{exact:?} against {want} acknowledged");
    let stored = exact[0];
    // Each acknowledged id is there (a sample: the check is per id).
    let sample: Vec<String> = acked.iter().take(500).map(|id| format!("'{}'", ids.t2_event(id).as_str())).collect();
    let found = cluster.query(0, &format!("SELECT uniqExact(event_id) FROM t2.events WHERE event_id IN ({})", sample.join(","))).await?;
    assert_eq!(count(&found), sample.len() as u64);

    // Per shard: the shards split the events, both replicas agree.
    let per_replica = async || Ok(cluster.query_each("SELECT count() FROM t2.events_local FINAL").await?.iter().map(|s| count(s)).collect::<Vec<u64>>());
    let local = eventually("both replicas of each shard agreeing", Duration::from_secs(60), per_replica, |l| l[0] == l[1] && l[2] == l[3]).await?;
    assert_eq!((local[0], local[2]), (local[1], local[3]), "replicas agree: {local:?}");
    assert_eq!(local[0] + local[2], stored, "the shards hold every event once: {local:?}");
    assert!(local[0] > stored / 4 && local[2] > stored / 4, "both shards take a share: {local:?}");
    let t3 = cluster.query(0, "SELECT count() - uniqExact(event_id) FROM t3.events FINAL").await?;
    assert_eq!(count(&t3), 0);

    // An erasure asked of one collector while both run their erasure job:
    // one run (the purge lock is the cluster's), and none of the
    // customer's rows on any replica.
    let customer = cluster.query(0, "SELECT customer_ref FROM t3.events GROUP BY customer_ref ORDER BY count() DESC LIMIT 1").await?.trim().to_string();
    let http = reqwest::Client::new();
    let key = config.keys.backend_secret_for("/consent/erasure");
    let asked = http.post(format!("{}/consent/erasure", collectors.urls[1])).bearer_auth(key).json(&serde_json::json!({ "customer_ref": customer })).send().await?;
    assert_eq!(asked.status().as_u16(), 202);
    let completed = "SELECT count() FROM ledger.purge_log WHERE kind = 'erasure' AND done = 1";
    let completions = async || Ok(count(&cluster.query(0, completed).await.unwrap_or_else(|_| "0".into())));
    eventually("the erasure's completing evidence", Duration::from_secs(180), completions, |n| *n >= 1).await?;
    // Two more passes of both collectors' jobs: still one run.
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(count(&cluster.query(0, completed).await?), 1);
    assert_eq!(count(&cluster.query(0, "SELECT uniqExact(run_id) FROM ledger.purge_log WHERE kind = 'erasure'").await?), 1, "one run, not one per collector");
    let left = cluster.query_each(&format!("SELECT count() FROM t3.events_local WHERE customer_ref = '{customer}'")).await?;
    assert!(left.iter().all(|n| n.trim() == "0"), "{left:?}");
    // Both collectors started their retention schedule: one of them ran it
    // (8 datasets, one run), the other found it done for the period.
    // The run is a background task: wait for its eight rows, then check
    // that no second run joined them.
    let logged = async || Ok(count(&cluster.query(0, "SELECT count() FROM ledger.purge_log WHERE kind = 'retention'").await.unwrap_or_else(|_| "0".into())));
    eventually("the scheduled retention run's evidence", Duration::from_secs(120), logged, |n| *n >= 8).await?;
    let scheduled = cluster.query(0, "SELECT uniqExact(run_id), count() FROM ledger.purge_log WHERE kind = 'retention'").await?;
    assert_eq!(scheduled.split_whitespace().collect::<Vec<_>>(), ["1", "8"], "one scheduled retention run across the collectors");
    eprintln!(
        "cluster ingest: {want} events acknowledged, {stored} stored ({failed} sends failed) through 2 collectors into 2 x 2 with a replica and a collector killed and ZooKeeper away 30 s ({during_outage} batches acknowledged meanwhile), all stored {:.1} s after the start; shards {local:?}",
        took.as_secs_f64()
    );
    Ok(())
}
