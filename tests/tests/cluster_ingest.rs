//! Several collectors writing into the 2 × 2 cluster: every acknowledged
//! event is stored exactly once, read through the Distributed tables and
//! per shard, and both replicas of each shard hold the same rows.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use collector::pseudonym::Pseudonyms;
use devstack::{Cluster, ClusterCollectors, ClusterSpec};
use mintmark_e2e::load::{self, EVENTS_PER_BATCH};
use mintmark_e2e::state_dir;

/// Batches per collector (20 events each); `CLUSTER_INGEST_BATCHES` overrides.
const BATCHES: u64 = 2_500;

fn count(body: &str) -> u64 {
    body.trim().parse().unwrap_or_else(|_| panic!("not a count: {body:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_collectors_into_the_cluster_store_each_event_once() -> anyhow::Result<()> {
    let root = state_dir("cluster_ingest")?;
    let cluster = Cluster::start(&root.join("cluster"), &ClusterSpec::default()).await?;
    // Started together: their migrations race for the lock.
    let collectors = ClusterCollectors::start(&root, &cluster, 2).await?;
    let config = collectors.config()?;
    let ring = config.edge_signing_keys()?;
    let batches = mintmark_e2e::bench::size("CLUSTER_INGEST_BATCHES", BATCHES);

    let started = Instant::now();
    let runs: Vec<_> = collectors
        .urls
        .iter()
        .enumerate()
        .map(|(i, url)| load::start(format!("{url}/ingest"), ring.clone(), 10 + i as u32, 4, batches))
        .collect();
    let mut acked = HashSet::new();
    for (stats, workers) in runs {
        for w in workers {
            w.await?;
        }
        assert_eq!(stats.acked(), batches, "every batch acknowledged ({} failed attempts)", stats.failed.load(std::sync::atomic::Ordering::SeqCst));
        acked.extend(stats.acked_ids.lock().unwrap().iter().cloned());
    }
    let want = acked.len() as u64;
    assert_eq!(want, 2 * batches * EVENTS_PER_BATCH as u64);

    // Through the Distributed table, from any server.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let n = count(&cluster.query(1, "SELECT count() FROM t2.events").await?);
        if n >= want {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "{n} of {want} events stored after 120 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let took = started.elapsed();
    let exact = cluster.query(2, "SELECT count(), uniqExact(event_id) FROM t2.events FINAL").await?;
    assert_eq!(exact.split_whitespace().map(count).collect::<Vec<_>>(), [want, want], "exactly once through Distributed");
    // Each acknowledged id is there (a sample: the check is per id).
    let ids = Pseudonyms::from_secret(&config.keys.pseudonym)?;
    let sample: Vec<String> = acked.iter().take(500).map(|id| format!("'{}'", ids.t2_event(id).as_str())).collect();
    let found = cluster.query(0, &format!("SELECT uniqExact(event_id) FROM t2.events WHERE event_id IN ({})", sample.join(","))).await?;
    assert_eq!(count(&found), sample.len() as u64);

    // Per shard: the shards split the events, both replicas agree.
    let deadline = Instant::now() + Duration::from_secs(60);
    let local = loop {
        let local: Vec<u64> = cluster.query_each("SELECT count() FROM t2.events_local FINAL").await?.iter().map(|s| count(s)).collect();
        if (local[0] == local[1] && local[2] == local[3]) || Instant::now() > deadline {
            break local;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!((local[0], local[2]), (local[1], local[3]), "replicas agree: {local:?}");
    assert_eq!(local[0] + local[2], want, "the shards hold every event once: {local:?}");
    assert!(local[0] > want / 4 && local[2] > want / 4, "both shards take a share: {local:?}");
    let t3 = cluster.query(0, "SELECT count() - uniqExact(event_id) FROM t3.events FINAL").await?;
    assert_eq!(count(&t3), 0);
    eprintln!("cluster ingest: {want} events through 2 collectors into 2 x 2 in {:.1} s ({:.0} events/s); shards {local:?}", took.as_secs_f64(), want as f64 / took.as_secs_f64());
    Ok(())
}
