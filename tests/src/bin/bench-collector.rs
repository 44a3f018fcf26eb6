//! `make bench-collector`: sustained end-to-end ingest of the collector
//! (release build) into a ClickHouse server it starts, against the raw
//! speed of the `clickhouse` crate inserting the same rows.
//!
//! The load generator signs every 20-event batch before the clock starts and
//! then only sends, with a bounded number in flight, over loopback.
//! `events_per_s` runs from the first send to the moment ClickHouse holds
//! every event. Writes `target/bench/collector.json`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use collector::rows::{self, T2Row};
use devstack::{Backend, Layout, Ports};
use mintmark_e2e::load::{self, EVENTS_PER_BATCH};
use mintmark_e2e::bench::{cpu_secs, peak_rss_mb, percentile};
use mintmark_e2e::state_dir;
use mintmark_protocol::signing;

const BATCHES: usize = 50_000;
const IN_FLIGHT: usize = 64;
const RAW_BATCH_ROWS: usize = 100_000;

/// The harness's own ceiling: the same sends to a server that does nothing.
async fn harness_ceiling(prepared: &Arc<Vec<(Vec<u8>, signing::BatchSignature)>>) -> anyhow::Result<f64> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/ingest", listener.local_addr()?);
    let app = axum::Router::new()
        .route("/ingest", axum::routing::post(|_body: axum::body::Bytes| async { axum::http::StatusCode::NO_CONTENT }));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let started = Instant::now();
    load::send_all(&[url], prepared, IN_FLIGHT).await;
    let secs = started.elapsed().as_secs_f64();
    server.abort();
    Ok((prepared.len() * EVENTS_PER_BATCH) as f64 / secs)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    mintmark_e2e::bench::release_collectors();
    let layout = Layout::discover()?;
    let backend = Backend::start(&state_dir("bench_collector")?, Ports::free()?).await?;
    let pid = backend.collector_pid().context("collector pid")?;
    let ring = backend.config.edge_signing_keys()?;
    // Tier 3 batches sealed under keys the collector opens, as from the edge.
    let ids = collector::pseudonym::Pseudonyms::from_keys(&backend.config.keys)?;
    load::mint_seal_keys(&mintmark_schema::client(&backend.config.clickhouse), "ledger", &ids, &[7]).await?;

    eprintln!("signing {BATCHES} batches of {EVENTS_PER_BATCH} events ...");
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let prepared: Vec<(Vec<u8>, signing::BatchSignature)> = (0..BATCHES as u64)
        .map(|n| {
            let body = serde_json::to_vec(&load::batch(7, n)).unwrap();
            let sig = signing::sign(&ring, now, &body);
            (body, sig)
        })
        .collect();
    let prepared = Arc::new(prepared);
    let total_events = (BATCHES * EVENTS_PER_BATCH) as u64;

    eprintln!("sending, {IN_FLIGHT} in flight ...");
    let url = format!("{}/ingest", backend.collector_url);
    let ch_pid = backend.clickhouse_pid().context("clickhouse pid")?;
    let me = std::process::id();
    let cpu0 = (cpu_secs(pid), cpu_secs(ch_pid), cpu_secs(me));
    let started = Instant::now();
    let mut acks = load::send_all(&[url.clone()], &prepared, IN_FLIGHT).await;
    let acked_in = started.elapsed();
    loop {
        let n: u64 = backend.query("SELECT count() FROM t2.events").await?.trim().parse()?;
        if n >= total_events {
            break;
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(300), "only {n} of {total_events} events in ClickHouse after 300 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let end_to_end = started.elapsed();
    let rss = peak_rss_mb(pid);
    let cpu = (cpu_secs(pid) - cpu0.0, cpu_secs(ch_pid) - cpu0.1, cpu_secs(me) - cpu0.2);

    eprintln!("raw clickhouse crate inserts of the same rows ...");
    let batches: Vec<rows::Prepared> =
        prepared.iter().map(|(body, _)| rows::Prepared::new(serde_json::from_slice(body).unwrap(), None)).collect();
    let rows: Vec<T2Row> = batches.iter().flat_map(|b| b.rows(&ids).t2).collect();
    backend.query("CREATE TABLE t2.raw_bench AS t2.events").await?;
    let client = mintmark_schema::client(&backend.config.clickhouse);
    let raw_started = Instant::now();
    for chunk in rows.chunks(RAW_BATCH_ROWS) {
        let mut insert = client.insert_unescaped::<T2Row<'static>>("t2.raw_bench").await?;
        for r in chunk {
            insert.write(r).await?;
        }
        insert.end().await?;
    }
    let raw_elapsed = raw_started.elapsed();
    backend.query("DROP TABLE t2.raw_bench").await?;

    acks.sort_by(f64::total_cmp);
    eprintln!("the harness alone, against a server that does nothing ...");
    let ceiling = harness_ceiling(&prepared).await?;
    let events_per_s = total_events as f64 / end_to_end.as_secs_f64();
    let raw_rows_per_s = rows.len() as f64 / raw_elapsed.as_secs_f64();
    let json = serde_json::json!({
        "events_per_s": events_per_s.round(),
        "acked_events_per_s": (total_events as f64 / acked_in.as_secs_f64()).round(),
        "ack_ms_p50": percentile(&acks, 0.5),
        "ack_ms_p99": percentile(&acks, 0.99),
        "peak_rss_mb": rss,
        "raw_insert_rows_per_s": raw_rows_per_s.round(),
        "harness_ceiling_events_per_s": ceiling.round(),
        "ratio": events_per_s / raw_rows_per_s,
        "events": total_events,
        "seconds": end_to_end.as_secs_f64(),
        "cpu_seconds": { "collector": cpu.0, "clickhouse": cpu.1, "load_generator": cpu.2 },
        "batch_events": EVENTS_PER_BATCH,
        "in_flight": IN_FLIGHT,
        "goal_ratio": 0.5,
        "goal_peak_rss_mb": 150,
        "harness": "release collector + Debian ClickHouse 18.16 started by the bench on loopback; batches pre-signed before timing; events_per_s = events / (first send → all rows counted in t2.events); ack_ms from the client; harness_ceiling = the same sends to an axum server that only answers 204 (what loopback HTTP and the load generator allow on this machine); peak_rss_mb = collector VmHWM; raw = clickhouse crate RowBinary inserts of the same T2 rows in 100k-row batches into a copy of t2.events, same run",
        "machine": format!("{} cores", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)),
    });
    let out = layout.target.join("bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("collector.json"), serde_json::to_string_pretty(&json)?)?;
    println!("{}", serde_json::to_string_pretty(&json)?);
    drop(backend);
    Ok(())
}
