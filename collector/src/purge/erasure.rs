//! Erasure: the consent ledger's `erasure_requested` entries are the queue.
//!
//! A request names the customer by subject only (the keyed hash of the
//! reference: [`mintmark_protocol::subject`]), and so does everything a run
//! does: every count, every `ALTER TABLE … DELETE`, and so what ClickHouse
//! keeps of its statements (`system.mutations`, `mutation_N.txt`), and the
//! evidence. A request is pending until the purge log holds a completed run
//! (`done = 1`) for that subject, requested at or after it.
//!
//! A run, in order ([`erase`]):
//! 1. this collector's spools give up everything from before the request
//!    ([`crate::spool::Spool::release`]): what was not yet in ClickHouse
//!    gets there (to be deleted next), and the segments are deleted; other
//!    collectors' spools do the same on their own within
//!    [`crate::spool::RELEASE_AFTER`];
//! 2. per place in ClickHouse ([`steps`]: the Tier 3 tables, the consent
//!    history, the sealing keys): count, delete with a mutation, wait for
//!    it, count again on every replica, log that dataset's evidence.
//!    Deleting the sealing keys is what reaches the copies nobody can
//!    rewrite: the edge's queue and dead-letter queue hold the customer's
//!    identity only sealed under those keys;
//! 3. the evidence of the places that need no statement (revocation, audit,
//!    queues, logs), then the completing row, then the request itself.
//!
//! The revocation at the edge was written by the consent API before the
//! request reached the ledger, so no new Tier 3 batch is made meanwhile;
//! one still in a queue can no longer be opened once the keys are gone,
//! and an order that arrives later finds no opt-in.
//!
//! A run interrupted by a crash leaves no completing row, so the next pass
//! runs it again; removing what is already gone finds 0 rows and is
//! harmless, as is a second request for the same customer. De-identified
//! Tier 2 data is not touched: it never held them.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use clickhouse::{Client, Row};
use mintmark_schema::{Databases, Layout};
use serde::Deserialize;

use super::{log, nothing_left, on_every_replica, replicas_text, settle, Evidence, Kind, PurgeError};
use crate::ingest::unix_now;
use crate::pseudonym::Pseudonyms;
use crate::spool::{Released, Spool};

/// Where a customer's identified data is stored in ClickHouse, in the
/// order a run removes it: `(database, table, rows of the subject)`, `{s}`
/// standing for the bound subject. The erasure request itself is removed
/// from the ledger last, after the completing evidence ([`finish`]).
fn steps(dbs: &Databases) -> [(&str, &'static str, &'static str); 5] {
    [
        (&dbs.t3, "events", "subject = {s}"),
        (&dbs.t3, "orders", "subject = {s}"),
        (&dbs.t3, "order_facts", "subject = {s}"),
        (&dbs.ledger, "consent_ledger", "subject = {s} AND action != 'erasure_requested'"),
        (&dbs.ledger, "seal_keys", "subject = {s}"),
    ]
}

/// The places that need no statement, and what is true of each once the
/// steps are done: `(place, what)`. Each becomes a line of evidence.
const SEALED_AND_KEPT: [(&str, &str); 4] = [
    (
        "edge queue, dead-letter queue",
        "the identity and full address of every Tier 3 batch are sealed there under the customer's keys, deleted with ledger.seal_keys: \
         unreadable from now on, and a redelivery makes no Tier 3 row; the platform drops the messages after its retention (4 days)",
    ),
    ("revocations", "kept, keyed by the subject (no reference): the customer's old tokens keep failing"),
    ("ledger.access_audit", "names customers only by subject: nothing to remove, the chain stays whole"),
    ("logs", "no reference, order number, persistent id, full address or token is ever logged"),
];

/// `sql` with every `{s}` bound to `subject`.
fn bound(client: &Client, sql: &str, subject: &str) -> clickhouse::query::Query {
    let parts: Vec<&str> = sql.split("{s}").collect();
    let mut query = client.query(&parts.join("?"));
    for _ in 1..parts.len() {
        query = query.bind(subject);
    }
    query
}

type ReleaseFuture = Pin<Box<dyn Future<Output = Result<Released, Released>> + Send>>;

/// This collector's spools, for step 1.
#[derive(Clone, Default)]
pub struct LocalSpools {
    spools: Vec<(String, Arc<dyn Fn(Duration) -> ReleaseFuture + Send + Sync>)>,
    /// Names this collector in the evidence.
    holder: String,
}

/// How long step 1 waits for ClickHouse to take a spool's records.
const RELEASE_TIMEOUT: Duration = Duration::from_secs(120);

impl LocalSpools {
    pub fn new(holder: &str) -> LocalSpools {
        LocalSpools { spools: Vec::new(), holder: holder.to_string() }
    }

    pub fn with<A: Send + 'static>(mut self, name: &str, spool: Spool<A>) -> LocalSpools {
        let spool = Arc::new(spool);
        self.spools.push((name.to_string(), Arc::new(move |t| {
            let spool = spool.clone();
            Box::pin(async move { spool.release(t).await })
        })));
        self
    }
}

#[derive(Row, Deserialize)]
struct Request {
    subject: String,
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
    pub subject: String,
    pub requested_at: u32,
    /// The purge log holds a completed run since the request: only the
    /// request itself is left to remove.
    pub complete: bool,
}

/// The erasure requests still in the ledger.
pub async fn pending(client: &Client, dbs: &Databases) -> Result<Vec<Pending>, PurgeError> {
    let requests: Vec<Request> = client
        .query(&dbs.render(
            "SELECT subject, toUInt32(max(at)) AS requested_at FROM {ledger}.consent_ledger \
             WHERE action = 'erasure_requested' AND subject != '' GROUP BY subject",
        ))
        .fetch_all()
        .await?;
    let done: Vec<(String, u32)> = client
        .query(&dbs.render(
            "SELECT subject_hash, toUInt32(max(requested_at)) AS requested_at FROM {ledger}.purge_log \
             WHERE kind = 'erasure' AND done = 1 GROUP BY subject_hash",
        ))
        .fetch_all()
        .await?;
    let done: std::collections::HashMap<String, u32> = done.into_iter().collect();
    Ok(requests
        .into_iter()
        .map(|r| {
            let complete = done.get(&r.subject).is_some_and(|at| *at >= r.requested_at);
            Pending { subject: r.subject, requested_at: r.requested_at, complete }
        })
        .collect())
}

async fn count(client: &Client, table: &str, rows: &str, subject: &str) -> Result<u64, PurgeError> {
    Ok(bound(client, &format!("SELECT toUInt64(count()) FROM {table} WHERE {rows}"), subject).fetch_one().await?)
}

/// Erases one customer's identified data and writes the evidence, one
/// purge-log row per place as it is done (an interrupted run leaves what
/// it did), then the completing row, then removes the request itself.
pub async fn erase(client: &Client, dbs: &Databases, layout: &Layout, local: &LocalSpools, subject: &str, requested_at: u32, run_by: &str) -> Result<Outcome, PurgeError> {
    if !mintmark_protocol::subject::is_subject(subject) {
        return Err(PurgeError::BadSubject);
    }
    // One run per customer per pass: the time and the subject name it.
    let run_id = format!("erasure-{}-{}", unix_now(), &subject[..8]);
    let mut outcome = Outcome { subject_hash: subject.to_string(), datasets: Vec::new() };
    let evidence = |dataset: String, rows_before: u64, rows_after: u64, statement: String, mutation_id: String, done: u8, replicas: String| Evidence {
        at: unix_now() as u32,
        run_id: run_id.clone(),
        kind: Kind::Erasure,
        subject_hash: subject.to_string(),
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
    for (name, release) in &local.spools {
        let place = format!("collector spool ({name})");
        match release(RELEASE_TIMEOUT).await {
            Ok(r) => {
                let what = format!(
                    "every record from before the request is in ClickHouse and its segment deleted ({} segment file(s) left, {} bytes arrived since); \
                     other collectors' spools delete confirmed records within {}s",
                    r.segments,
                    r.pending_bytes,
                    crate::spool::RELEASE_AFTER.as_secs()
                );
                log(client, dbs, &[evidence(place, 0, 0, what, String::new(), 0, local.holder.clone())]).await?;
            }
            Err(r) => return Err(PurgeError::Spool { spool: place, pending: r.pending_bytes }),
        }
    }
    for (db, name, rows) in steps(dbs) {
        let table = format!("{db}.{name}");
        let before = count(client, &table, rows, subject).await?;
        let (statement, mutation_id) = if before > 0 {
            let sql = format!("ALTER TABLE {} DELETE WHERE {rows}", layout.storage(&table));
            let logged = sql.replace("{s}", &format!("'{subject}'"));
            // What was found is logged before the mutation: a crash while it
            // runs must not lose the count (the rerun finds the rows gone).
            log(client, dbs, &[evidence(table.clone(), before, before, format!("started: {logged}"), String::new(), 0, String::new())]).await?;
            bound(client, &sql, subject).execute().await?;
            let id = settle(client, layout, db, name).await?;
            (logged, id)
        } else {
            (String::new(), String::new())
        };
        let after = count(client, &table, rows, subject).await?;
        outcome.datasets.push((table.clone(), before, after));
        if after > 0 {
            log(client, dbs, &[evidence(table.clone(), before, after, statement, mutation_id, 0, String::new())]).await?;
            return Err(PurgeError::Remaining { dataset: table, left: after });
        }
        // Through the Distributed table one replica per shard answered;
        // every copy is counted for the evidence.
        let copies = on_every_replica(client, layout, db, name, |from| bound(client, &format!("SELECT toUInt64(count()) FROM {from} WHERE {rows}"), subject)).await?;
        log(client, dbs, &[evidence(table.clone(), before, after, statement, mutation_id, 0, replicas_text(&copies))]).await?;
        nothing_left(&table, &copies)?;
    }
    let kept: Vec<Evidence> = SEALED_AND_KEPT.iter().map(|(place, what)| evidence(place.to_string(), 0, 0, what.to_string(), String::new(), 0, String::new())).collect();
    log(client, dbs, &kept).await?;
    let total = outcome.datasets.iter().map(|d| d.1).sum();
    let closing = "then the erasure request itself is removed from the consent ledger".to_string();
    log(client, dbs, &[evidence("*".into(), total, 0, closing, String::new(), 1, String::new())]).await?;
    finish(client, dbs, layout, subject).await?;
    Ok(outcome)
}

/// Removes the erasure request of a customer whose erasure is complete.
/// Run again by the next pass if a crash came between the completing
/// evidence and this.
async fn finish(client: &Client, dbs: &Databases, layout: &Layout, subject: &str) -> Result<(), PurgeError> {
    let table = layout.storage(&format!("{}.consent_ledger", dbs.ledger));
    bound(client, &format!("ALTER TABLE {table} DELETE WHERE subject = {{s}}"), subject).execute().await?;
    settle(client, layout, &dbs.ledger, "consent_ledger").await?;
    Ok(())
}

/// Carries out pending erasures every `every`, for as long as the collector runs.
pub async fn keep_erasing(client: Client, dbs: Databases, layout: Layout, ids: Pseudonyms, local: LocalSpools, every: Duration, holder: String) {
    let lock = super::purge_lock(&dbs, &layout, &holder);
    loop {
        // Held by another collector: its pass covers these requests.
        if let Err(e) = lock.holding(&client, erase_pending(&client, &dbs, &layout, &ids, &local)).await {
            tracing::warn!(error = %e, "taking the purge lock failed; retrying");
        }
        tokio::time::sleep(every).await;
    }
}

/// One pass over the pending requests.
async fn erase_pending(client: &Client, dbs: &Databases, layout: &Layout, ids: &Pseudonyms, local: &LocalSpools) {
    let requests = match pending(client, dbs).await {
        Ok(r) => r,
        Err(e) => return tracing::warn!(error = %e, "reading erasure requests failed; retrying"),
    };
    if requests.iter().any(|p| !p.complete) {
        // Rows an older collector wrote without a subject would be missed.
        if let Err(e) = super::backfill::run(client, dbs, layout, ids).await {
            return tracing::warn!(error = %e, "filling in subjects failed; erasures wait for the next pass");
        }
    }
    for p in requests {
        if p.complete {
            if let Err(e) = finish(client, dbs, layout, &p.subject).await {
                tracing::warn!(error = %e, "removing a completed erasure request failed; retrying next pass");
            }
            continue;
        }
        match erase(client, dbs, layout, local, &p.subject, p.requested_at, "collector erasure job").await {
            Ok(o) => tracing::info!(subject = %o.subject_hash, rows = o.datasets.iter().map(|d| d.1).sum::<u64>(), "erasure carried out"),
            Err(e) => tracing::warn!(error = %e, "erasure run failed; retrying next pass"),
        }
    }
}
