//! Erasure: the consent ledger's `erasure_requested` entries are the queue.
//!
//! A request is pending until the purge log holds a completed run (`done =
//! 1`) for that customer's keyed hash, requested at or after it. A run, per
//! place the reference is stored ([`steps`]: the Tier 3 tables, references
//! in access-audit entries from before the audit was chained, the
//! customer's consent history): count the customer's rows, remove them with
//! a mutation (`ALTER TABLE … DELETE`/`UPDATE`, which ClickHouse 18.16 has),
//! wait for it to finish, count again, and log that dataset's evidence;
//! then, with nothing left anywhere, the completing row; then the request
//! itself leaves the ledger. The revocation at the edge was written by the
//! consent API before the request reached the ledger, so no new Tier 3 row
//! arrives meanwhile, and an order that arrives later finds no opt-in.
//!
//! A run interrupted by a crash (of the collector or ClickHouse) leaves no
//! completing row, so the next pass runs it again; removing what is already
//! gone finds 0 rows and is harmless, as is a second request for the same
//! customer. De-identified Tier 2 data is not touched: it never held them.

use std::time::Duration;

use clickhouse::{Client, Row};
use mintmark_schema::{Databases, Layout};
use serde::Deserialize;

use super::{log, nothing_left, on_every_replica, replicas_text, settle, Evidence, Kind, PurgeError};
use crate::ingest::unix_now;
use crate::pseudonym::Pseudonyms;

/// Where a customer's reference is stored, in the order a run removes it:
/// `(database, table, rows of the customer, how they are removed)`. `{ref}`
/// stands for the bound reference. The erasure request itself is removed
/// from the ledger last, after the completing evidence ([`finish`]).
fn steps(dbs: &Databases) -> [(&str, &'static str, &'static str, &'static str); 5] {
    [
        (&dbs.t3, "events", "customer_ref = {ref}", "DELETE"),
        (&dbs.t3, "orders", "customer_ref = {ref}", "DELETE"),
        (&dbs.t3, "order_facts", "customer_ref = {ref}", "DELETE"),
        // Entries written before the audit was chained (seq 0) listed
        // references; chained entries hold keyed hashes and are never rewritten.
        (&dbs.ledger, "access_audit", "seq = 0 AND has(customer_refs, {ref})", "UPDATE customer_refs = arrayFilter(r -> r != {ref}, customer_refs)"),
        (&dbs.ledger, "consent_ledger", "customer_ref = {ref} AND action != 'erasure_requested'", "DELETE"),
    ]
}

/// `sql` with every `{ref}` bound to `customer_ref`.
fn bound(client: &Client, sql: &str, customer_ref: &str) -> clickhouse::query::Query {
    let parts: Vec<&str> = sql.split("{ref}").collect();
    let mut query = client.query(&parts.join("?"));
    for _ in 1..parts.len() {
        query = query.bind(customer_ref);
    }
    query
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

/// An erasure request still in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub customer_ref: String,
    pub requested_at: u32,
    /// The purge log holds a completed run since the request: only the
    /// request itself is left to remove.
    pub complete: bool,
}

/// The erasure requests still in the ledger.
pub async fn pending(client: &Client, dbs: &Databases, ids: &Pseudonyms) -> Result<Vec<Pending>, PurgeError> {
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
        .map(|r| {
            let complete = done.get(ids.purge_subject(&r.customer_ref).as_str()).is_some_and(|at| *at >= r.requested_at);
            Pending { customer_ref: r.customer_ref, requested_at: r.requested_at, complete }
        })
        .collect())
}

async fn count(client: &Client, table: &str, rows: &str, customer_ref: &str) -> Result<u64, PurgeError> {
    Ok(bound(client, &format!("SELECT toUInt64(count()) FROM {table} WHERE {rows}"), customer_ref).fetch_one().await?)
}

/// Erases one customer's identified rows and writes the evidence, one
/// purge-log row per dataset as it is done (an interrupted run leaves what
/// it did), then the completing row, then removes the request itself.
pub async fn erase(client: &Client, dbs: &Databases, layout: &Layout, ids: &Pseudonyms, customer_ref: &str, requested_at: u32, run_by: &str) -> Result<Outcome, PurgeError> {
    let subject = ids.purge_subject(customer_ref).as_str().to_string();
    // One run per customer per pass: the time and the subject name it.
    let run_id = format!("erasure-{}-{}", unix_now(), &subject[..8]);
    let mut outcome = Outcome { subject_hash: subject.clone(), datasets: Vec::new() };
    let evidence = |dataset: String, rows_before: u64, rows_after: u64, statement: String, mutation_id: String, done: u8, replicas: String| Evidence {
        at: unix_now() as u32,
        run_id: run_id.clone(),
        kind: Kind::Erasure,
        subject_hash: subject.clone(),
        requested_at,
        dataset,
        rows_before,
        rows_after,
        statement,
        mutation_id,
        run_by: run_by.to_string(),
        done,
        cutoff: 0,
        anchor: String::new(),
        replicas,
    };
    for (db, name, rows, action) in steps(dbs) {
        let table = format!("{db}.{name}");
        let before = count(client, &table, rows, customer_ref).await?;
        let (statement, mutation_id) = if before > 0 {
            let sql = format!("ALTER TABLE {} {action} WHERE {rows}", layout.storage(&table));
            let logged = sql.replace("{ref}", &format!("<subject {subject}>"));
            // What was found is logged before the mutation: a crash while it
            // runs must not lose the count (the rerun finds the rows gone).
            log(client, dbs, &[evidence(table.clone(), before, before, format!("started: {logged}"), String::new(), 0, String::new())]).await?;
            bound(client, &sql, customer_ref).execute().await?;
            let id = settle(client, layout, db, name).await?;
            (logged, id)
        } else {
            (String::new(), String::new())
        };
        let after = count(client, &table, rows, customer_ref).await?;
        outcome.datasets.push((table.clone(), before, after));
        if after > 0 {
            log(client, dbs, &[evidence(table.clone(), before, after, statement, mutation_id, 0, String::new())]).await?;
            return Err(PurgeError::Remaining { dataset: table, left: after });
        }
        // Through the Distributed table one replica per shard answered;
        // every copy is counted for the evidence.
        let copies = on_every_replica(client, layout, db, name, |from| bound(client, &format!("SELECT toUInt64(count()) FROM {from} WHERE {rows}"), customer_ref)).await?;
        log(client, dbs, &[evidence(table.clone(), before, after, statement, mutation_id, 0, replicas_text(&copies))]).await?;
        nothing_left(&table, &copies)?;
    }
    let total = outcome.datasets.iter().map(|d| d.1).sum();
    let closing = "then the erasure request itself is removed from the consent ledger".to_string();
    log(client, dbs, &[evidence("*".into(), total, 0, closing, String::new(), 1, String::new())]).await?;
    finish(client, dbs, layout, customer_ref).await?;
    Ok(outcome)
}

/// Removes the erasure request of a customer whose erasure is complete:
/// the last place their reference was kept. Run again by the next pass if
/// a crash came between the completing evidence and this.
async fn finish(client: &Client, dbs: &Databases, layout: &Layout, customer_ref: &str) -> Result<(), PurgeError> {
    let table = layout.storage(&format!("{}.consent_ledger", dbs.ledger));
    bound(client, &format!("ALTER TABLE {table} DELETE WHERE customer_ref = {{ref}}"), customer_ref).execute().await?;
    settle(client, layout, &dbs.ledger, "consent_ledger").await?;
    Ok(())
}

/// Carries out pending erasures every `every`, for as long as the collector runs.
pub async fn keep_erasing(client: Client, dbs: Databases, layout: Layout, ids: Pseudonyms, every: Duration, holder: String) {
    let lock = super::purge_lock(&dbs, &layout, &holder);
    loop {
        // Held by another collector: its pass covers these requests.
        if let Err(e) = lock.holding(&client, erase_pending(&client, &dbs, &layout, &ids)).await {
            tracing::warn!(error = %e, "taking the purge lock failed; retrying");
        }
        tokio::time::sleep(every).await;
    }
}

/// One pass over the pending requests.
async fn erase_pending(client: &Client, dbs: &Databases, layout: &Layout, ids: &Pseudonyms) {
    match pending(client, dbs, ids).await {
        Ok(requests) => {
            for p in requests {
                if p.complete {
                    if let Err(e) = finish(client, dbs, layout, &p.customer_ref).await {
                        tracing::warn!(error = %e, "removing a completed erasure request failed; retrying next pass");
                    }
                    continue;
                }
                match erase(client, dbs, layout, ids, &p.customer_ref, p.requested_at, "collector erasure job").await {
                    Ok(o) => tracing::info!(subject = %o.subject_hash, rows = o.datasets.iter().map(|d| d.1).sum::<u64>(), "erasure carried out"),
                    Err(e) => tracing::warn!(error = %e, "erasure run failed; retrying next pass"),
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "reading erasure requests failed; retrying"),
    }
}
