//! `make bench-cluster`: 1 M events end to end through two collectors
//! (release build) into the local 2 × 2 cluster, and, in the same run, the
//! same load through two collectors into one server: `cluster_vs_single`
//! is what replication and sharding cost on this machine.
//!
//! On 2 cores the cluster's four servers, ZooKeeper, the collectors and
//! the load generator share the same CPUs, so this shows the path works
//! and what it costs here, not a speed-up. Batches of 20 events are signed
//! before the clock starts; `events_per_s` runs from the first send to the
//! moment every event can be read through the Distributed table, and
//! `replicated_s` to the moment both replicas of each shard hold them all.
//! Writes `target/bench/cluster.json`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use devstack::{Backend, Cluster, ClusterCollectors, ClusterSpec, Layout, Ports};
use mintmark_e2e::bench::{cpu_secs, machine, percentile};
use mintmark_e2e::load::{self, EVENTS_PER_BATCH};
use mintmark_e2e::{eventually, state_dir};
use mintmark_protocol::keys::KeyRing;
use mintmark_protocol::signing;

const BATCHES: u64 = 50_000;
const IN_FLIGHT: usize = 64;

/// Every batch, signed with `ring`.
fn prepare(ring: &KeyRing, batches: u64) -> Arc<Vec<(Vec<u8>, signing::BatchSignature)>> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    Arc::new(
        (0..batches)
            .map(|n| {
                let body = serde_json::to_vec(&load::batch(7, n)).unwrap();
                let sig = signing::sign(ring, now, &body);
                (body, sig)
            })
            .collect(),
    )
}

struct Run {
    events_per_s: f64,
    acked_events_per_s: f64,
    replicated_s: Option<f64>,
    ack_ms_p50: f64,
    ack_ms_p99: f64,
    collector_cpu_s: f64,
    clickhouse_cpu_s: f64,
}

fn count(body: &str) -> u64 {
    body.trim().parse().unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    mintmark_e2e::bench::release_collectors();
    let layout = Layout::discover()?;
    let batches = mintmark_e2e::bench::size("BENCH_CLUSTER_BATCHES", BATCHES);
    let total = batches * EVENTS_PER_BATCH as u64;
    let root = state_dir("bench_cluster")?;

    eprintln!("single server: two collectors, {total} events ...");
    let single = {
        let mut backend = Backend::start(&root.join("single"), Ports::free()?).await?;
        backend.stop_collector();
        let collectors = ClusterCollectors::start_on(&root.join("single"), &[backend.config.clickhouse.url.clone()], "", 2).await?;
        let ring = collectors.config()?.edge_signing_keys()?;
        let prepared = prepare(&ring, batches);
        let server = backend.clickhouse_pid().unwrap_or(0);
        let cpu0 = (collectors.pids().iter().map(|p| cpu_secs(*p)).sum::<f64>(), cpu_secs(server));
        let started = Instant::now();
        let mut acks = load::send_all(&collectors.urls.iter().map(|u| format!("{u}/ingest")).collect::<Vec<_>>(), &prepared, IN_FLIGHT).await;
        let acked_in = started.elapsed();
        let stored = async || Ok(count(&backend.query("SELECT count() FROM t2.events").await.unwrap_or_default()));
        eventually("single server", Duration::from_secs(600), stored, |n| *n >= total).await?;
        let secs = started.elapsed().as_secs_f64();
        acks.sort_by(f64::total_cmp);
        Run {
            events_per_s: total as f64 / secs,
            acked_events_per_s: total as f64 / acked_in.as_secs_f64(),
            replicated_s: None,
            ack_ms_p50: percentile(&acks, 0.5),
            ack_ms_p99: percentile(&acks, 0.99),
            collector_cpu_s: collectors.pids().iter().map(|p| cpu_secs(*p)).sum::<f64>() - cpu0.0,
            clickhouse_cpu_s: cpu_secs(server) - cpu0.1,
        }
    };

    eprintln!("cluster (2 shards x 2 replicas, ZooKeeper): two collectors, {total} events ...");
    let cluster_run = {
        let cluster = Cluster::start(&root.join("cluster"), &ClusterSpec::default()).await?;
        let collectors = ClusterCollectors::start(&root.join("cluster"), &cluster, 2).await?;
        let ring = collectors.config()?.edge_signing_keys()?;
        let prepared = prepare(&ring, batches);
        let servers: Vec<u32> = cluster.members.iter().filter_map(|m| m.pid()).collect();
        let cpu0 = (collectors.pids().iter().map(|p| cpu_secs(*p)).sum::<f64>(), servers.iter().map(|p| cpu_secs(*p)).sum::<f64>());
        let started = Instant::now();
        let mut acks = load::send_all(&collectors.urls.iter().map(|u| format!("{u}/ingest")).collect::<Vec<_>>(), &prepared, IN_FLIGHT).await;
        let acked_in = started.elapsed();
        let stored = async || Ok(count(&cluster.query(0, "SELECT count() FROM t2.events").await.unwrap_or_default()));
        eventually("through the Distributed table", Duration::from_secs(900), stored, |n| *n >= total).await?;
        let secs = started.elapsed().as_secs_f64();
        // Every row on both replicas of its shard.
        let on_replicas = async || Ok(cluster.query_each("SELECT count() FROM t2.events_local").await.unwrap_or_default().iter().map(|c| count(c)).sum::<u64>());
        eventually("on every replica", Duration::from_secs(900), on_replicas, |n| *n >= 2 * total).await?;
        let replicated = started.elapsed().as_secs_f64();
        let distinct = count(&cluster.query(0, "SELECT uniqExact(event_id) FROM t2.events").await?);
        anyhow::ensure!(distinct == total, "{distinct} distinct event ids of {total}");
        acks.sort_by(f64::total_cmp);
        Run {
            events_per_s: total as f64 / secs,
            acked_events_per_s: total as f64 / acked_in.as_secs_f64(),
            replicated_s: Some(replicated),
            ack_ms_p50: percentile(&acks, 0.5),
            ack_ms_p99: percentile(&acks, 0.99),
            collector_cpu_s: collectors.pids().iter().map(|p| cpu_secs(*p)).sum::<f64>() - cpu0.0,
            clickhouse_cpu_s: servers.iter().map(|p| cpu_secs(*p)).sum::<f64>() - cpu0.1,
        }
    };

    let side = |r: &Run| {
        serde_json::json!({
            "events_per_s": r.events_per_s.round(),
            "acked_events_per_s": r.acked_events_per_s.round(),
            "all_replicas_hold_every_event_s": r.replicated_s,
            "ack_ms_p50": r.ack_ms_p50,
            "ack_ms_p99": r.ack_ms_p99,
            "cpu_seconds": { "collectors": r.collector_cpu_s, "clickhouse_servers": r.clickhouse_cpu_s },
        })
    };
    let json = serde_json::json!({
        "events": total,
        "batch_events": EVENTS_PER_BATCH,
        "in_flight": IN_FLIGHT,
        "collectors": 2,
        "cluster": side(&cluster_run),
        "single": side(&single),
        "cluster_vs_single": cluster_run.events_per_s / single.events_per_s,
        "clickhouse_cpu_per_event_vs_single": (cluster_run.clickhouse_cpu_s / single.clickhouse_cpu_s),
        "harness": "release collectors; Debian ClickHouse 18.16 and ZooKeeper started by the bench on loopback; the same pre-signed batches sent with 64 in flight, spread over two collectors; single = both collectors into one server; cluster = both into 2 shards x 2 replicas (each collector to a different server, insert_distributed_sync = 1); events_per_s = events / (first send -> all counted through t2.events); all_replicas_hold_every_event_s = first send -> both replicas of each shard hold every row",
        "machine": format!("{} cores, {}", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0), machine().unwrap_or_default()),
    });
    let out = layout.target.join("bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("cluster.json"), serde_json::to_string_pretty(&json)?)?;
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(())
}
