//! The writer: drains the spool into ClickHouse in large batches.
//!
//! Records are read in order and turned into rows; a batch is inserted when
//! it reaches `batch_rows` or its oldest record has waited `flush_interval`.
//! Only after ClickHouse confirms does the spool checkpoint move. A failed
//! insert is retried with backoff (up to 30 s apart) for as long as it takes;
//! the data stays in the spool meanwhile, and ingest keeps accepting until
//! the spool's limit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mintmark_protocol::wire::EdgeBatch;
use tokio::sync::watch;

use crate::enrich::Enricher;
use crate::metrics::Metrics;
use crate::rows::{self, Rows};
use crate::sink::ClickHouseSink;
use crate::spool::SpoolReader;

#[derive(Debug, Clone)]
pub struct WriterConfig {
    pub batch_rows: usize,
    pub flush_interval: Duration,
    /// How long a shutdown waits for ClickHouse before leaving the rest in
    /// the spool for the next start.
    pub shutdown_grace: Duration,
}

const MAX_BACKOFF: Duration = Duration::from_secs(30);
const INSERT_TIMEOUT: Duration = Duration::from_secs(60);

pub async fn run(
    mut reader: SpoolReader,
    sink: ClickHouseSink,
    enricher: Arc<Enricher>,
    cfg: WriterConfig,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut rows = Rows::default();
    let mut held_since: Option<Instant> = None;
    let mut stopping_at: Option<Instant> = None;
    loop {
        if stopping_at.is_none() && *shutdown.borrow() {
            stopping_at = Some(Instant::now() + cfg.shutdown_grace);
        }
        let wait = match (held_since, stopping_at) {
            (_, Some(_)) => Duration::ZERO,
            (Some(t), None) => cfg.flush_interval.saturating_sub(t.elapsed()),
            (None, None) => Duration::from_millis(500),
        };
        let chunk = tokio::select! {
            chunk = reader.next_chunk(4096, wait) => chunk,
            _ = shutdown.changed(), if stopping_at.is_none() => continue,
        };
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "reading the spool failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let caught_up = chunk.is_empty();
        for (_, payload) in chunk {
            match EdgeBatch::from_json(&payload) {
                Ok(batch) => {
                    if held_since.is_none() {
                        held_since = Some(Instant::now());
                        reader.set_oldest_pending(batch.received_at);
                    }
                    rows.extend(rows::from_batch(&batch, Some(&enricher)));
                }
                Err(e) => {
                    // It validated on the way in, so this is disk damage or a
                    // wire change across versions: keep going, loudly.
                    metrics.spool_unreadable.inc();
                    tracing::error!(error = %e, "spool record no longer parses; skipped");
                }
            }
        }
        let due = rows.len() >= cfg.batch_rows
            || held_since.is_some_and(|t| t.elapsed() >= cfg.flush_interval)
            || (stopping_at.is_some() && caught_up);
        if due && !rows.is_empty() {
            if !insert_with_retry(&sink, &rows, &metrics, stopping_at).await {
                tracing::warn!(rows = rows.len(), "shutting down with rows unconfirmed; they stay in the spool for the next start");
                return;
            }
            rows = Rows::default();
            held_since = None;
            reader.set_oldest_pending(0);
        }
        if rows.is_empty() {
            if let Err(e) = reader.commit() {
                tracing::error!(error = %e, "spool checkpoint failed; records may be written again (idempotent)");
            }
        }
        if stopping_at.is_some() && caught_up && rows.is_empty() {
            tracing::info!("spool drained");
            return;
        }
    }
}

/// Inserts until ClickHouse confirms; false if a shutdown deadline passed.
async fn insert_with_retry(sink: &ClickHouseSink, rows: &Rows, metrics: &Metrics, stopping_at: Option<Instant>) -> bool {
    let mut backoff = Duration::from_millis(200);
    loop {
        let started = Instant::now();
        let result = match tokio::time::timeout(INSERT_TIMEOUT, sink.write(rows)).await {
            Ok(r) => r,
            Err(_) => Err(anyhow::anyhow!("insert timed out after {INSERT_TIMEOUT:?}")),
        };
        match result {
            Ok(()) => {
                metrics.insert_seconds.observe(started.elapsed().as_secs_f64());
                metrics.insert_rows.observe(rows.len() as f64);
                return true;
            }
            Err(e) => {
                metrics.insert_errors.inc();
                tracing::warn!(error = %format!("{e:#}"), retry_in = ?backoff, rows = rows.len(), "clickhouse insert failed; data kept in the spool");
            }
        }
        if stopping_at.is_some_and(|t| Instant::now() + backoff > t) {
            return false;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
