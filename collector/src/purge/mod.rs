//! Purges with evidence. [`erasure`] carries out erasure requests (an
//! account cancelled): every Tier 3 row of the customer is deleted, and
//! with their sealing keys every sealed copy a queue or spool still holds
//! becomes unreadable. [`backfill`] gives older rows the subject erasure
//! finds them by.
//! [`retention`] removes what is past its retention. Both write what they
//! found, did and left to `{ledger}.purge_log` ([`Evidence`]).
//!
//! On a cluster a purge's mutations and partition drops act on the stored
//! tables `ON CLUSTER` ([`Layout::storage`]), it waits for the mutations on
//! every replica, and its evidence counts what is left on every replica
//! ([`on_every_replica`]), not only through the Distributed table (which
//! reads one replica per shard).

pub mod backfill;
pub mod erasure;
pub mod retention;

use std::time::{Duration, Instant};

use clickhouse::query::Query;
use clickhouse::{Client, Row};
use mintmark_schema::{replicas, Databases, Layout};
use serde::Serialize;
use serde_repr::Serialize_repr;

/// The lock every purge runs under ([`purge_lock`]); a holder that died is
/// taken over after this.
pub const PURGE_LOCK_STALE_SECS: u64 = 3600;

/// The lock erasure and retention runs hold, so that of several collectors
/// one purges at a time and the evidence has one run per request. `holder`
/// names this collector the same across restarts ([`holder`]), so one
/// restarted after a crash mid-purge takes its lock back at once.
pub fn purge_lock(dbs: &Databases, layout: &Layout, holder: &str) -> mintmark_schema::Lock {
    mintmark_schema::Lock::new(dbs, layout, "purge", PURGE_LOCK_STALE_SECS, holder)
}

/// This collector's name on a lock: host, listen address and spool, which
/// together tell collectors apart and stay the same across a restart.
pub fn holder(config: &mintmark_config::CollectorSection) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{}@{}:{}", host.trim(), config.listen, config.spool_dir.display())
}

/// How long a purge waits for one mutation.
pub const MUTATION_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    #[error(transparent)]
    ClickHouse(#[from] clickhouse::error::Error),
    #[error("the delete on {0} did not finish within {MUTATION_TIMEOUT:?}; the run will be retried")]
    Slow(String),
    #[error("{left} rows remain in {dataset} after the delete; the run will be retried")]
    Remaining { dataset: String, left: u64 },
    #[error("rows remain on a replica of {dataset} after the delete ({counts}); the run will be retried")]
    RemainingOnReplica { dataset: String, counts: String },
    #[error("{spool} still holds {pending} bytes not in ClickHouse; the run will be retried")]
    Spool { spool: String, pending: u64 },
    #[error("an erasure request's subject is not 32 hex digits; it is skipped")]
    BadSubject,
    #[error("unexpected partition value {0:?} in {1}")]
    Partition(String, String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize_repr)]
#[repr(i8)]
pub enum Kind {
    Erasure = 1,
    Retention = 2,
}

/// One row of `{ledger}.purge_log`.
#[derive(Debug, Clone, Row, Serialize)]
pub struct Evidence {
    pub at: u32,
    pub run_id: String,
    pub kind: Kind,
    /// Erasure: the customer's keyed hash. Retention: empty.
    pub subject_hash: String,
    /// Erasure: when it was asked for. Retention: when the run started.
    pub requested_at: u32,
    pub dataset: String,
    pub rows_before: u64,
    pub rows_after: u64,
    pub statement: String,
    pub mutation_id: String,
    pub run_by: String,
    pub done: u8,
    /// Retention: rows dated before this day were due (days since 1970).
    pub cutoff: u16,
    /// Access-audit retention: `<seq> <hash>` of the last entry removed.
    pub anchor: String,
    /// What each copy held afterwards: `s1r1 0, s1r2 0, …` (`server 0` on
    /// a single server); empty where nothing was due.
    pub replicas: String,
}

/// Appends `rows` to the purge log.
pub async fn log(client: &Client, dbs: &Databases, rows: &[Evidence]) -> Result<(), PurgeError> {
    let mut insert = client.insert_unescaped::<Evidence>(&format!("{}.purge_log", dbs.ledger)).await?;
    for r in rows {
        insert.write(r).await?;
    }
    insert.end().await?;
    Ok(())
}

/// Waits until no mutation of `db.table` is left running on any replica;
/// the id of its latest (per replica on a cluster: `s1r1 0000000003 …`).
pub async fn settle(client: &Client, layout: &Layout, db: &str, table: &str) -> Result<String, PurgeError> {
    let deadline = Instant::now() + MUTATION_TIMEOUT;
    let stored = layout.stored_name(table).into_owned();
    let copies = replicas(client, layout).await?;
    loop {
        let mut running = 0;
        for r in &copies {
            running += client
                .query(&format!("SELECT toUInt64(count()) FROM {} WHERE database = ? AND table = ? AND is_done = 0", layout.on_replica(r, "system", "mutations")))
                .bind(db)
                .bind(&stored)
                .fetch_one::<u64>()
                .await?;
        }
        if running == 0 {
            let mut ids = Vec::new();
            for r in &copies {
                let latest: Vec<String> = client
                    .query(&format!(
                        "SELECT mutation_id FROM {} WHERE database = ? AND table = ? ORDER BY create_time DESC, mutation_id DESC LIMIT 1",
                        layout.on_replica(r, "system", "mutations")
                    ))
                    .bind(db)
                    .bind(&stored)
                    .fetch_all()
                    .await?;
                let id = latest.into_iter().next().unwrap_or_default();
                ids.push(if copies.len() == 1 { id } else { format!("{} {id}", r.label()) });
            }
            return Ok(ids.join(" "));
        }
        if Instant::now() > deadline {
            return Err(PurgeError::Slow(format!("{db}.{table}")));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What each replica of `db.table` holds of the rows `count` counts, given
/// the `FROM` source that reads one replica: `[("s1r1", 0), …]`.
pub async fn on_every_replica(client: &Client, layout: &Layout, db: &str, table: &str, count: impl Fn(&str) -> Query) -> Result<Vec<(String, u64)>, PurgeError> {
    let stored = layout.stored_name(&format!("{db}.{table}")).into_owned();
    let mut out = Vec::new();
    for r in replicas(client, layout).await? {
        out.push((r.label(), count(&layout.on_replica(&r, db, &stored)).fetch_one::<u64>().await?));
    }
    Ok(out)
}

/// Per-replica counts as evidence text: `s1r1 0, s1r2 0, …`.
pub fn replicas_text(counts: &[(String, u64)]) -> String {
    counts.iter().map(|(label, n)| format!("{label} {n}")).collect::<Vec<_>>().join(", ")
}

/// An error if any copy of `dataset` still holds rows.
pub fn nothing_left(dataset: &str, counts: &[(String, u64)]) -> Result<(), PurgeError> {
    if counts.iter().any(|(_, n)| *n > 0) {
        return Err(PurgeError::RemainingOnReplica { dataset: dataset.to_string(), counts: replicas_text(counts) });
    }
    Ok(())
}
