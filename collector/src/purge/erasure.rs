//! Erasure: the consent ledger's `erasure_requested` entries are the queue.
//!
//! A request is pending until the purge log holds a completed run (`done =
//! 1`) for that customer's keyed hash, requested at or after it. A run, per
//! identified dataset ([`DATASETS`]): count the customer's rows, delete
//! them with a mutation (`ALTER TABLE … DELETE`, which ClickHouse 18.16 has),
//! wait for the mutation to finish, count again, and log the dataset's
//! evidence; then, if nothing is left anywhere, the completing row. The
//! revocation at the edge was written by the consent API before the request
//! reached the ledger, so no new Tier 3 row arrives meanwhile.
//!
//! A run interrupted by a crash (of the collector or ClickHouse) leaves no
//! completing row, so the next pass runs it again; deleting what is already
//! gone finds 0 rows and is harmless, as is a second request for the same
//! customer. De-identified Tier 2 data is not touched: it never held them.

use std::time::{Duration, Instant};

use clickhouse::{Client, Row};
use mintmark_schema::Databases;
use serde::{Deserialize, Serialize};
use serde_repr::Serialize_repr;

use crate::pseudonym::Pseudonyms;

/// The identified datasets, `{t3}` tables keyed by `customer_ref`.
pub const DATASETS: [&str; 3] = ["events", "orders", "order_facts"];
/// How long a run waits for one mutation.
const MUTATION_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum ErasureError {
    #[error(transparent)]
    ClickHouse(#[from] clickhouse::error::Error),
    #[error("the delete on {0} did not finish within {MUTATION_TIMEOUT:?}; the run will be retried")]
    Slow(String),
    #[error("{left} rows of the customer remain in {dataset} after the delete; the run will be retried")]
    Remaining { dataset: String, left: u64 },
}

#[derive(Debug, Clone, Copy, Serialize_repr)]
#[repr(i8)]
enum Kind {
    Erasure = 1,
}

#[derive(Debug, Clone, Row, Serialize)]
struct PurgeRow {
    at: u32,
    run_id: String,
    kind: Kind,
    subject_hash: String,
    requested_at: u32,
    dataset: String,
    rows_before: u64,
    rows_after: u64,
    statement: String,
    mutation_id: String,
    run_by: String,
    done: u8,
}

#[derive(Row, Deserialize)]
struct Request {
    customer_ref: String,
    requested_at: u32,
}

#[derive(Row, Deserialize)]
struct Completed {
    subject_hash: String,
    requested_at: u32,
}

/// What one run found and left, per dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub subject_hash: String,
    pub datasets: Vec<(String, u64, u64)>,
}

fn now() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as u32).unwrap_or(0)
}

/// Erasure requests without a completed run since they were made.
pub async fn pending(client: &Client, dbs: &Databases, ids: &Pseudonyms) -> Result<Vec<(String, u32)>, ErasureError> {
    let requests: Vec<Request> = client
        .query(&dbs.render(
            "SELECT customer_ref, toUInt32(max(at)) AS requested_at FROM {ledger}.consent_ledger \
             WHERE action = 'erasure_requested' GROUP BY customer_ref",
        ))
        .fetch_all()
        .await?;
    let done: Vec<Completed> = client
        .query(&dbs.render(
            "SELECT subject_hash, toUInt32(max(requested_at)) AS requested_at FROM {ledger}.purge_log \
             WHERE kind = 'erasure' AND done = 1 GROUP BY subject_hash",
        ))
        .fetch_all()
        .await?;
    let done: std::collections::HashMap<String, u32> = done.into_iter().map(|c| (c.subject_hash, c.requested_at)).collect();
    Ok(requests
        .into_iter()
        .filter(|r| done.get(ids.purge_subject(&r.customer_ref).as_str()).is_none_or(|at| *at < r.requested_at))
        .map(|r| (r.customer_ref, r.requested_at))
        .collect())
}

async fn count(client: &Client, table: &str, customer_ref: &str) -> Result<u64, ErasureError> {
    Ok(client.query(&format!("SELECT toUInt64(count()) FROM {table} WHERE customer_ref = ?")).bind(customer_ref).fetch_one().await?)
}

/// Waits until no mutation of `table` is left running; the id of its latest.
async fn settle(client: &Client, db: &str, table: &str) -> Result<String, ErasureError> {
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
            return Err(ErasureError::Slow(format!("{db}.{table}")));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Erases one customer's identified rows and writes the evidence.
pub async fn erase(client: &Client, dbs: &Databases, ids: &Pseudonyms, customer_ref: &str, requested_at: u32, run_by: &str) -> Result<Outcome, ErasureError> {
    let subject = ids.purge_subject(customer_ref).as_str().to_string();
    // One run per customer per pass: the time and the subject name it.
    let run_id = format!("erasure-{}-{}", now(), &subject[..8]);
    let mut evidence = Vec::new();
    let mut outcome = Outcome { subject_hash: subject.clone(), datasets: Vec::new() };
    for dataset in DATASETS {
        let table = format!("{}.{dataset}", dbs.t3);
        let before = count(client, &table, customer_ref).await?;
        let (statement, mutation_id) = if before > 0 {
            client.query(&format!("ALTER TABLE {table} DELETE WHERE customer_ref = ?")).bind(customer_ref).execute().await?;
            let id = settle(client, &dbs.t3, dataset).await?;
            (format!("ALTER TABLE {table} DELETE WHERE customer_ref = <subject {subject}>"), id)
        } else {
            (String::new(), String::new())
        };
        let after = count(client, &table, customer_ref).await?;
        outcome.datasets.push((table.clone(), before, after));
        evidence.push(PurgeRow {
            at: now(),
            run_id: run_id.clone(),
            kind: Kind::Erasure,
            subject_hash: subject.clone(),
            requested_at,
            dataset: table.clone(),
            rows_before: before,
            rows_after: after,
            statement,
            mutation_id,
            run_by: run_by.to_string(),
            done: 0,
        });
        if after > 0 {
            write(client, dbs, &evidence).await?;
            return Err(ErasureError::Remaining { dataset: table, left: after });
        }
    }
    evidence.push(PurgeRow {
        at: now(),
        run_id,
        kind: Kind::Erasure,
        subject_hash: subject,
        requested_at,
        dataset: "*".into(),
        rows_before: outcome.datasets.iter().map(|d| d.1).sum(),
        rows_after: 0,
        statement: String::new(),
        mutation_id: String::new(),
        run_by: run_by.to_string(),
        done: 1,
    });
    write(client, dbs, &evidence).await?;
    Ok(outcome)
}

async fn write(client: &Client, dbs: &Databases, rows: &[PurgeRow]) -> Result<(), ErasureError> {
    let mut insert = client.insert_unescaped::<PurgeRow>(&format!("{}.purge_log", dbs.ledger)).await?;
    for r in rows {
        insert.write(r).await?;
    }
    insert.end().await?;
    Ok(())
}

/// Carries out pending erasures every `every`, for as long as the collector runs.
pub async fn keep_erasing(client: Client, dbs: Databases, ids: Pseudonyms, every: Duration) {
    loop {
        match pending(&client, &dbs, &ids).await {
            Ok(requests) => {
                for (customer, requested_at) in requests {
                    match erase(&client, &dbs, &ids, &customer, requested_at, "collector erasure job").await {
                        Ok(o) => tracing::info!(subject = %o.subject_hash, rows = o.datasets.iter().map(|d| d.1).sum::<u64>(), "erasure carried out"),
                        Err(e) => tracing::warn!(error = %e, "erasure run failed; retrying next pass"),
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading erasure requests failed; retrying"),
        }
        tokio::time::sleep(every).await;
    }
}
