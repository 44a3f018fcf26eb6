//! The writer: drains the spool into ClickHouse in large batches.
//!
//! Records are read in order and their rows streamed straight into open
//! INSERTs (one per table), so memory does not grow with the batch size. A
//! batch is closed when it reaches `batch_rows` or its first row has waited
//! `flush_interval`. One closed batch at a time waits for ClickHouse's
//! confirmation while the next is read and streamed (ClickHouse writes its
//! part while the collector builds rows, instead of each waiting for the
//! other); only after ClickHouse confirms does the spool checkpoint move to
//! that batch's end. If an insert fails, both batches are abandoned, the
//! reader goes back to the checkpoint and the same records are read and
//! inserted again after a backoff (up to 30 s apart), for as long as it
//! takes; ingest keeps
//! accepting meanwhile, up to the spool's limit. A batch is below
//! ClickHouse's `max_insert_block_size`, so an aborted insert leaves nothing
//! behind, and rows are idempotent on event id in any case.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clickhouse::insert::Insert;
use mintmark_protocol::wire::EdgeBatch;
use tokio::sync::watch;

use crate::enrich::Enricher;
use crate::metrics::Metrics;
use crate::pseudonym::Pseudonyms;
use crate::rows::{self, Prepared, T2Row, T3Row};
use crate::seal_keys::{self, SealKeys};
use crate::sink::ClickHouseSink;
use crate::spool::{Mark, SpoolReader};

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

/// The batch being written.
#[derive(Default)]
struct Open {
    t2: Option<Insert<T2Row<'static>>>,
    t3: Option<Insert<T3Row<'static>>>,
    rows: usize,
    since: Option<Instant>,
    /// When the batch's first record reached the edge (Unix ms).
    first_received_at: u64,
    failed: Option<anyhow::Error>,
}

/// A closed batch waiting for ClickHouse, and how far the spool may be
/// committed once it is confirmed.
struct InFlight {
    confirmed: tokio::task::JoinHandle<anyhow::Result<usize>>,
    upto: Mark,
    started: Instant,
}

impl Open {
    async fn write(&mut self, sink: &ClickHouseSink, rows: rows::Rows<'_>) {
        if self.failed.is_some() {
            return;
        }
        let result: anyhow::Result<()> = async {
            if !rows.t2.is_empty() {
                if self.t2.is_none() {
                    self.t2 = Some(sink.open_t2().await?);
                }
                let insert = self.t2.as_mut().expect("opened");
                for r in &rows.t2 {
                    insert.write(r).await?;
                }
            }
            if !rows.t3.is_empty() {
                if self.t3.is_none() {
                    self.t3 = Some(sink.open_t3().await?);
                }
                let insert = self.t3.as_mut().expect("opened");
                for r in &rows.t3 {
                    insert.write(r).await?;
                }
            }
            Ok(())
        }
        .await;
        self.rows += rows.t2.len();
        if let Err(e) = result {
            self.failed = Some(e);
        }
    }

    /// Ends both inserts; Ok once ClickHouse has confirmed them.
    async fn finish(self) -> anyhow::Result<usize> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let end = async {
            if let Some(i) = self.t2 {
                i.end().await?;
            }
            if let Some(i) = self.t3 {
                i.end().await?;
            }
            anyhow::Ok(())
        };
        match tokio::time::timeout(INSERT_TIMEOUT, end).await {
            Ok(r) => r.map(|_| self.rows),
            Err(_) => Err(anyhow::anyhow!("insert not confirmed within {INSERT_TIMEOUT:?}")),
        }
    }
}

pub async fn run(
    mut reader: SpoolReader<Arc<EdgeBatch>>,
    sink: ClickHouseSink,
    enricher: Arc<Enricher>,
    ids: Pseudonyms,
    seals: SealKeys,
    cfg: WriterConfig,
    metrics: Arc<Metrics>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut open = Open::default();
    let mut in_flight: Option<InFlight> = None;
    let mut backoff = Duration::from_millis(200);
    let mut stopping_at: Option<Instant> = None;
    loop {
        if stopping_at.is_none() && *shutdown.borrow() {
            stopping_at = Some(Instant::now() + cfg.shutdown_grace);
        }
        let wait = match (open.since, stopping_at) {
            (_, Some(_)) => Duration::ZERO,
            (Some(t), None) => cfg.flush_interval.saturating_sub(t.elapsed()),
            // Idle but for a batch in flight: look again soon to commit it.
            (None, None) if in_flight.is_some() => Duration::from_millis(10),
            (None, None) => Duration::from_millis(500),
        };
        let chunk = tokio::select! {
            chunk = reader.next_chunk(1024, wait) => chunk,
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
        let parsed: Vec<Result<Arc<EdgeBatch>, _>> = chunk
            .into_iter()
            // Parsed at ingest on the normal path; from disk after a restart or rewind.
            .map(|record| match record.attachment {
                Some(batch) => Ok(batch),
                None => EdgeBatch::from_json(&record.payload).map(Arc::new),
            })
            .collect();
        // One lookup opens every sealed identity of the chunk; a key that is
        // gone (an erasure) leaves its batch only the Tier 2 copy.
        let keys = match seals.lookup(&seal_keys::kids(parsed.iter().filter_map(|p| p.as_deref().ok()))).await {
            Ok(keys) => keys,
            Err(e) => {
                open.failed = Some(anyhow::Error::new(e).context("looking up sealing keys"));
                Default::default()
            }
        };
        for parsed in parsed {
            if open.failed.is_some() {
                break;
            }
            match parsed {
                Ok(batch) => {
                    if open.since.is_none() {
                        open.since = Some(Instant::now());
                        open.first_received_at = batch.received_at;
                        if in_flight.is_none() {
                            reader.set_oldest_pending(batch.received_at);
                        }
                    }
                    let mut batch = Arc::unwrap_or_clone(batch);
                    if let Some(why) = seal_keys::open(&mut batch, &keys).failure() {
                        metrics.unsealable.with_label_values(&[why]).inc();
                    }
                    let prepared = Prepared::new(batch, Some(&enricher));
                    for (field, n) in prepared.pii.iter() {
                        metrics.pii_dropped.with_label_values(&[field.as_str()]).inc_by(n.into());
                    }
                    open.write(&sink, prepared.rows(&ids)).await;
                }
                Err(e) => {
                    // It validated on the way in, so this is disk damage or a
                    // wire change across versions: keep going, loudly.
                    metrics.spool_unreadable.inc();
                    tracing::error!(error = %e, "spool record no longer parses; skipped");
                }
            }
        }
        if open.failed.is_some() && open.since.is_none() {
            open.since = Some(Instant::now());
        }
        let due = open.rows >= cfg.batch_rows
            || open.since.is_some_and(|t| t.elapsed() >= cfg.flush_interval)
            || (stopping_at.is_some() && caught_up)
            || open.failed.is_some();
        // The batch in flight is awaited when the next one is due, when
        // there is nothing else to do, or as soon as it is done.
        let reap = in_flight.as_ref().is_some_and(|f| (due && open.since.is_some()) || caught_up || f.confirmed.is_finished());
        if reap {
            let f = in_flight.take().expect("in flight");
            let result = match f.confirmed.await {
                Ok(r) => r,
                Err(e) => Err(anyhow::anyhow!("insert task failed: {e}")),
            };
            match result {
                Ok(rows) => {
                    metrics.insert_seconds.observe(f.started.elapsed().as_secs_f64());
                    metrics.insert_rows.observe(rows as f64);
                    backoff = Duration::from_millis(200);
                    reader.set_oldest_pending(if open.since.is_some() { open.first_received_at } else { 0 });
                    if let Err(e) = reader.commit_to(f.upto) {
                        tracing::error!(error = %e, "spool checkpoint failed; records may be written again (idempotent)");
                    }
                }
                Err(e) => {
                    metrics.insert_errors.inc();
                    tracing::warn!(error = %format!("{e:#}"), retry_in = ?backoff, "clickhouse insert failed; the records stay in the spool");
                    // The batch being built goes too (its inserts are
                    // dropped unfinished, which aborts them): both are read
                    // again from the checkpoint.
                    open = Open::default();
                    reader.rewind();
                    if stopping_at.is_some_and(|t| Instant::now() + backoff > t) {
                        tracing::warn!("shutting down with records unconfirmed; they stay in the spool for the next start");
                        return;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            }
        }
        if due && open.since.is_some() {
            let batch = std::mem::take(&mut open);
            in_flight = Some(InFlight { confirmed: tokio::spawn(batch.finish()), upto: reader.mark(), started: Instant::now() });
            continue;
        }
        if open.since.is_none() && in_flight.is_none() {
            // Everything read is confirmed (or was unreadable and skipped).
            if let Err(e) = reader.commit() {
                tracing::error!(error = %e, "spool checkpoint failed; records may be written again (idempotent)");
            }
        }
        if stopping_at.is_some() && caught_up && open.since.is_none() && in_flight.is_none() {
            tracing::info!("spool drained");
            return;
        }
    }
}
