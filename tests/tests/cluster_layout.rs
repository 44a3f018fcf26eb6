//! The local cluster devstack starts is a real ClickHouse cluster: ZooKeeper
//! and 2 shards × 2 replicas on loopback, each server knowing all four,
//! `ON CLUSTER` DDL reaching every server, a write through a `Distributed`
//! table landing on one replica per shard and replicated to the other, and
//! a restarted replica catching up; the schema's migrations applied to it by
//! two collectors at once, once, the same on all four servers.

use std::time::Duration;

use devstack::{Cluster, ClusterSpec};
use mintmark_e2e::{eventually, state_dir};

async fn wait_equal(cluster: &Cluster, sql: &str, want: &[&str], timeout: Duration) -> anyhow::Result<()> {
    let each = async || Ok(cluster.query_each(sql).await?.iter().map(|s| s.trim().to_string()).collect::<Vec<_>>());
    eventually(&format!("{sql} (want {want:?})"), timeout, each, |got| got == want).await?;
    Ok(())
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
    let local = async || Ok(cluster.query_each("SELECT count() FROM probe.items_local").await?.iter().map(|s| s.trim().parse::<u64>().unwrap()).collect::<Vec<_>>());
    let counts = eventually("both replicas of each shard agreeing", Duration::from_secs(30), local, |c| c[0] == c[1] && c[2] == c[3]).await?;
    assert_eq!((counts[0], counts[2]), (counts[1], counts[3]), "replicas agree: {counts:?}");
    assert_eq!(counts[0] + counts[2], 10_000, "{counts:?}");
    assert!(counts[0] > 0 && counts[2] > 0, "both shards hold rows: {counts:?}");

    // A replica killed and written past catches up when it returns.
    cluster.kill(1);
    cluster.query(0, "INSERT INTO probe.items_local SELECT number + 100000, 'late' FROM system.numbers LIMIT 500").await?;
    cluster.start_member(1).await?;
    let want = (counts[0] + 500).to_string();
    let restarted = async || Ok(cluster.query(1, "SELECT count() FROM probe.items_local").await?.trim().to_string());
    eventually(&format!("the restarted replica's rows (want {want})"), Duration::from_secs(60), restarted, |n| *n == want).await?;

    // Two collectors' migrations at once, against different servers: one
    // applies, the other waits and finds everything applied.
    let section = |i: usize| mintmark_config::ClickHouseSection { url: cluster.members[i].url(), cluster: "mintmark".into(), ..Default::default() };
    let (a, b) = (section(0), section(3));
    let (ran_a, ran_b) = tokio::join!(mintmark_schema::migrate(&a), mintmark_schema::migrate(&b));
    let (ran_a, ran_b) = (ran_a?, ran_b?);
    assert_eq!(ran_a + ran_b, mintmark_schema::MIGRATIONS.len(), "applied once in all: {ran_a} + {ran_b}");
    let recorded = cluster.query(1, "SELECT count(), uniqExact(version) FROM ledger.schema_migrations").await?;
    let n = mintmark_schema::MIGRATIONS.len();
    assert_eq!(recorded.split_whitespace().collect::<Vec<_>>(), [n.to_string(), n.to_string()], "recorded once each");
    assert_eq!(mintmark_schema::migrate(&section(2)).await?, 0, "a later start finds nothing to do");
    // The same schema on all four servers: each table stored per server
    // (replicated) under a Distributed table of the name readers use.
    let schemas = cluster
        .query_each(
            "SELECT database, name, engine FROM system.tables WHERE database IN ('t2', 't3', 'ledger') ORDER BY database, name FORMAT TSV",
        )
        .await?;
    assert!(schemas.iter().all(|s| *s == schemas[0]), "{schemas:#?}");
    assert!(schemas[0].contains("t2\tevents\tDistributed") && schemas[0].contains("t2\tevents_local\tReplicatedReplacingMergeTree"), "{}", schemas[0]);
    assert!(!schemas[0].contains("schema_lock"), "the lock is gone");
    let columns = cluster
        .query_each("SELECT database, table, name, type FROM system.columns WHERE database IN ('t2', 't3', 'ledger') ORDER BY database, table, name FORMAT TSV")
        .await?;
    assert!(columns.iter().all(|c| *c == columns[0]), "columns differ between servers");
    assert!(columns[0].contains("ledger\taccess_audit\tentry_hash\tString"), "the last migration's columns are there");

    cluster.stop();
    Ok(())
}
