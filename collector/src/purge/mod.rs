//! Purges with evidence. [`erasure`] carries out erasure requests (an
//! account cancelled): every Tier 3 row of the customer is deleted.
//! [`retention`] removes what is past its retention. Both write what they
//! found, did and left to `{ledger}.purge_log` ([`Evidence`]).

pub mod erasure;
pub mod retention;

use std::time::{Duration, Instant};

use clickhouse::{Client, Row};
use mintmark_schema::Databases;
use serde::Serialize;
use serde_repr::Serialize_repr;

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

/// Waits until no mutation of `db.table` is left running; the id of its latest.
pub async fn settle(client: &Client, db: &str, table: &str) -> Result<String, PurgeError> {
    let deadline = Instant::now() + MUTATION_TIMEOUT;
    loop {
        let running: u64 = client
            .query("SELECT toUInt64(count()) FROM system.mutations WHERE database = ? AND table = ? AND is_done = 0")
            .bind(db)
            .bind(table)
            .fetch_one()
            .await?;
        if running == 0 {
            let ids: Vec<String> = client
                .query("SELECT mutation_id FROM system.mutations WHERE database = ? AND table = ? ORDER BY create_time DESC, mutation_id DESC LIMIT 1")
                .bind(db)
                .bind(table)
                .fetch_all()
                .await?;
            return Ok(ids.into_iter().next().unwrap_or_default());
        }
        if Instant::now() > deadline {
            return Err(PurgeError::Slow(format!("{db}.{table}")));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
