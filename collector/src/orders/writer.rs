//! The order writer: drains the order spool into the three order tables.
//!
//! Per chunk of spooled requests: read the consent ledger of every customer
//! named in it (one query), route each event ([`super::route`]), insert the
//! rows, and only then move the checkpoint. A failure rewinds to the
//! checkpoint and retries with a backoff, like the event writer; rows are
//! idempotent on (order id, event), so a retried chunk counts once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use clickhouse::{Client, Row, RowWrite};
use mintmark_schema::Databases;
use serde::Deserialize;
use tokio::sync::watch;

use super::feed::OrderBatch;
use super::route::{route, Destination, LedgerAction, LedgerEntry};
use super::rows::{MarketplaceOrderRow, OrderRows, T2OrderRow, T3OrderRow};
use crate::metrics::Metrics;
use crate::pseudonym::Pseudonyms;
use crate::spool::SpoolReader;

const MAX_BACKOFF: Duration = Duration::from_secs(30);
const CHUNK: usize = 256;

/// Where order rows go, and where consent is read from.
#[derive(Clone)]
pub struct OrderSink {
    client: Client,
    t3_orders: String,
    t2_orders: String,
    marketplace_orders: String,
    ledger: String,
}

#[derive(Row, Deserialize)]
struct LedgerRow {
    subject: String,
    at: u32,
    action: i8,
    token_expires_at: u32,
    source: String,
    policy_version: u32,
}

impl OrderSink {
    pub fn new(client: Client, dbs: &Databases) -> OrderSink {
        OrderSink {
            client,
            t3_orders: format!("{}.orders", dbs.t3),
            t2_orders: format!("{}.orders", dbs.t2),
            marketplace_orders: format!("{}.marketplace_orders", dbs.t2),
            ledger: format!("{}.consent_ledger", dbs.ledger),
        }
    }

    /// Every ledger entry of these customers, by customer. The statement
    /// names them by subject only.
    pub async fn consent_histories(&self, customers: &[&str], ids: &Pseudonyms) -> clickhouse::error::Result<HashMap<String, Vec<LedgerEntry>>> {
        let mut out: HashMap<String, Vec<LedgerEntry>> = HashMap::new();
        if customers.is_empty() {
            return Ok(out);
        }
        let by_subject: HashMap<String, &str> = customers.iter().map(|c| (ids.subject(c).as_str().to_string(), *c)).collect();
        let subjects: Vec<&str> = by_subject.keys().map(String::as_str).collect();
        let sql = format!(
            "SELECT subject, toUInt32(at) AS at, CAST(action, 'Int8') AS action, toUInt32(token_expires_at) AS token_expires_at, \
             source, policy_version FROM {} WHERE has(?, subject)",
            self.ledger
        );
        let rows: Vec<LedgerRow> = self.client.query(&sql).bind(&subjects).fetch_all().await?;
        for r in rows {
            let Some(action) = LedgerAction::from_code(r.action) else { continue };
            let Some(customer) = by_subject.get(&r.subject) else { continue };
            out.entry(customer.to_string()).or_default().push(LedgerEntry {
                at: r.at.into(),
                action,
                token_expires_at: r.token_expires_at.into(),
                source: r.source,
                policy_version: r.policy_version,
            });
        }
        Ok(out)
    }

    async fn insert<R: RowWrite>(&self, table: &str, rows: &[R::Value<'_>]) -> clickhouse::error::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut insert = self.client.insert_unescaped::<R>(table).await?;
        for r in rows {
            insert.write(r).await?;
        }
        insert.end().await
    }

    /// Routes and writes a chunk of requests; returns rows per dataset.
    pub async fn write(&self, batches: &[OrderBatch], ids: &Pseudonyms) -> anyhow::Result<[usize; 3]> {
        let mut customers: Vec<&str> = batches.iter().flat_map(|b| &b.orders).filter_map(|o| o.customer_ref.as_deref()).collect();
        customers.sort_unstable();
        customers.dedup();
        let histories = self.consent_histories(&customers, ids).await?;
        let mut rows = OrderRows::default();
        for b in batches {
            for o in &b.orders {
                let history = o.customer_ref.as_deref().and_then(|c| histories.get(c)).map(Vec::as_slice).unwrap_or(&[]);
                let to: Destination = route(o, history);
                rows.push(o, to, b.received_at, ids);
            }
        }
        // t3 first: a failure after it retries the whole chunk, and every table is idempotent.
        self.insert::<T3OrderRow<'static>>(&self.t3_orders, &rows.t3).await?;
        self.insert::<T2OrderRow<'static>>(&self.t2_orders, &rows.t2).await?;
        self.insert::<MarketplaceOrderRow<'static>>(&self.marketplace_orders, &rows.marketplace).await?;
        Ok([rows.t3.len(), rows.t2.len(), rows.marketplace.len()])
    }
}

pub async fn run(
    mut reader: SpoolReader<Arc<OrderBatch>>,
    sink: OrderSink,
    ids: Pseudonyms,
    metrics: Arc<Metrics>,
    shutdown_grace: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(200);
    let mut stopping_at = None;
    loop {
        if stopping_at.is_none() && *shutdown.borrow() {
            stopping_at = Some(tokio::time::Instant::now() + shutdown_grace);
        }
        let wait = if stopping_at.is_some() { Duration::ZERO } else { Duration::from_millis(500) };
        let chunk = tokio::select! {
            chunk = reader.next_chunk(CHUNK, wait) => chunk,
            _ = shutdown.changed(), if stopping_at.is_none() => continue,
        };
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "reading the order spool failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if chunk.is_empty() {
            if stopping_at.is_some() {
                tracing::info!("order spool drained");
                return;
            }
            continue;
        }
        let mut batches = Vec::with_capacity(chunk.len());
        for record in chunk {
            let parsed = match record.attachment {
                Some(b) => Ok(Arc::unwrap_or_clone(b)),
                None => serde_json::from_slice::<OrderBatch>(&record.payload),
            };
            match parsed {
                Ok(b) => batches.push(b),
                Err(e) => {
                    metrics.spool_unreadable.inc();
                    tracing::error!(error = %e, "order spool record no longer parses; skipped");
                }
            }
        }
        match sink.write(&batches, &ids).await {
            Ok(counts) => {
                for (dataset, n) in ["t3", "t2", "marketplace"].into_iter().zip(counts) {
                    metrics.orders_written.with_label_values(&[dataset]).inc_by(n as u64);
                }
                backoff = Duration::from_millis(200);
                if let Err(e) = reader.commit() {
                    tracing::error!(error = %e, "order spool checkpoint failed; orders may be written again (idempotent)");
                }
            }
            Err(e) => {
                metrics.insert_errors.inc();
                tracing::warn!(error = %format!("{e:#}"), retry_in = ?backoff, "writing orders failed; they stay in the spool");
                reader.rewind();
                if stopping_at.is_some_and(|t| tokio::time::Instant::now() + backoff > t) {
                    tracing::warn!("shutting down with orders unconfirmed; they stay in the spool for the next start");
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
