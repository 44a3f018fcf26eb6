//! The local cluster devstack starts is a real ClickHouse cluster: ZooKeeper
//! and 2 shards × 2 replicas on loopback, each server knowing all four,
//! `ON CLUSTER` DDL reaching every server, a write through a `Distributed`
//! table landing on one replica per shard and replicated to the other, and
//! a restarted replica catching up.

use std::time::{Duration, Instant};

use devstack::{Cluster, ClusterSpec};
use mintmark_e2e::state_dir;

async fn wait_equal(cluster: &Cluster, sql: &str, want: &[&str], timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let got = cluster.query_each(sql).await?;
        let got: Vec<&str> = got.iter().map(|s| s.trim()).collect();
        if got == want {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "after {timeout:?}, {sql} gave {got:?}, want {want:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_by_two_cluster_shards_and_replicates() -> anyhow::Result<()> {
    let mut cluster = Cluster::start(&state_dir("cluster_layout")?, &ClusterSpec::default()).await?;
    assert_eq!(cluster.members.len(), 4);

    // Every server sees the whole cluster and knows who it is.
    let members = cluster.query_each("SELECT count() FROM system.clusters WHERE cluster = 'mintmark'").await?;
    assert!(members.iter().all(|n| n.trim() == "4"), "{members:?}");
    let macros = cluster.query_each("SELECT substitution FROM system.macros ORDER BY macro").await?;
    let labels: Vec<String> = macros.iter().map(|m| m.split_whitespace().collect::<Vec<_>>().join("/")).collect();
    assert_eq!(labels, ["r1/01", "r2/01", "r1/02", "r2/02"]);

    // DDL on one server reaches all four.
    cluster.query(0, "CREATE DATABASE IF NOT EXISTS probe ON CLUSTER mintmark").await?;
    cluster
        .query(
            0,
            "CREATE TABLE IF NOT EXISTS probe.items_local ON CLUSTER mintmark (id UInt64, v String) \
             ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/probe.items', '{replica}') ORDER BY id",
        )
        .await?;
    cluster
        .query(0, "CREATE TABLE IF NOT EXISTS probe.items ON CLUSTER mintmark AS probe.items_local ENGINE = Distributed(mintmark, probe, items_local, id)")
        .await?;
    wait_equal(&cluster, "SELECT count() FROM system.tables WHERE database = 'probe'", &["2"; 4], Duration::from_secs(30)).await?;

    // 10,000 rows through the Distributed table of one server.
    cluster
        .query(0, "INSERT INTO probe.items SELECT number, toString(number) FROM system.numbers LIMIT 10000 SETTINGS insert_distributed_sync = 1")
        .await?;
    wait_equal(&cluster, "SELECT count() FROM probe.items", &["10000"; 4], Duration::from_secs(30)).await?;
    // Both replicas of a shard hold the same rows; the shards split them.
    let local = |c: &Vec<String>| c.iter().map(|s| s.trim().parse::<u64>().unwrap()).collect::<Vec<_>>();
    let deadline = Instant::now() + Duration::from_secs(30);
    let counts = loop {
        let counts = local(&cluster.query_each("SELECT count() FROM probe.items_local").await?);
        if (counts[0] == counts[1] && counts[2] == counts[3]) || Instant::now() > deadline {
            break counts;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!((counts[0], counts[2]), (counts[1], counts[3]), "replicas agree: {counts:?}");
    assert_eq!(counts[0] + counts[2], 10_000, "{counts:?}");
    assert!(counts[0] > 0 && counts[2] > 0, "both shards hold rows: {counts:?}");

    // A replica killed and written past catches up when it returns.
    cluster.kill(1);
    cluster.query(0, "INSERT INTO probe.items_local SELECT number + 100000, 'late' FROM system.numbers LIMIT 500").await?;
    cluster.start_member(1).await?;
    let want = (counts[0] + 500).to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n = cluster.query(1, "SELECT count() FROM probe.items_local").await?;
        if n.trim() == want {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "the restarted replica has {} rows, want {want}", n.trim());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    cluster.stop();
    Ok(())
}
