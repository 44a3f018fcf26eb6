//! `{t3}.order_facts`: the counted orders ([`super::orders`]) kept as a
//! table, so the customer list, the geography and the segments aggregate
//! one row per order instead of regrouping every order event per request
//! (on 1 M orders that regrouping alone was about 150 ms of each view).
//!
//! Rebuilt whole when `{t3}.orders` changes (its row count or latest
//! arrival, checked every [`CHECK`]): into a build table of this run, then
//! swapped in with `REPLACE PARTITION`, which is atomic, so a reader sees
//! the old facts or the new, never half. Views are at most one check behind
//! the order feed. One customer's page reads the orders themselves.

use std::time::{Duration, Instant};

use clickhouse::Client;
use mintmark_schema::Databases;

pub const CHECK: Duration = Duration::from_secs(10);

/// The statements of one rebuild through the build table `build`.
pub fn rebuild_statements(dbs: &Databases, build: &str) -> Vec<String> {
    let t3 = &dbs.t3;
    vec![
        format!("DROP TABLE IF EXISTS {t3}.{build}"),
        dbs.render(&mintmark_schema::staging_statement("{t3}.order_facts", &format!("{{t3}}.{build}")).expect("order_facts has a migration")),
        format!(
            "INSERT INTO {t3}.{build} SELECT customer_ref, order_id, placed_at, net, o_state, o_zip, o_channel, o_subject FROM {}",
            dbs.render(super::orders(None, None).text())
        ),
        format!("ALTER TABLE {t3}.order_facts REPLACE PARTITION tuple() FROM {t3}.{build}"),
        format!("DROP TABLE IF EXISTS {t3}.{build}"),
    ]
}

/// Rebuilds the facts now; returns how long it took.
pub async fn rebuild(client: &Client, dbs: &Databases) -> clickhouse::error::Result<Duration> {
    let started = Instant::now();
    // A build table per run: two dashboards rebuilding at once never share one.
    let build = format!("order_facts_build_{:08x}", rand::random::<u32>());
    for stmt in rebuild_statements(dbs, &build) {
        client.query(&stmt).execute().await?;
    }
    Ok(started.elapsed())
}

/// Rebuilds at start and whenever the orders change; each rebuild bumps
/// `version` (what the segment and cluster caches key on). Several
/// dashboards processes rebuild one at a time (the `order_facts` lock):
/// on a cluster two `REPLACE PARTITION`s racing each other were seen to
/// leave both builds' rows, every order twice.
pub async fn keep_fresh(client: Client, dbs: Databases, layout: mintmark_schema::Layout, holder: String, version: std::sync::Arc<std::sync::atomic::AtomicU64>) {
    let mut changes = crate::changes::Changes::of(&[format!("{}.orders", dbs.t3)]);
    let lock = mintmark_schema::Lock::new(&dbs, &layout, "order_facts", 600, &holder);
    loop {
        match changes.check(&client).await {
            Ok(Some(state)) => match lock.holding(&client, rebuild(&client, &dbs)).await {
                Ok(Some(Ok(took))) => {
                    tracing::debug!(secs = took.as_secs_f64(), "order facts rebuilt");
                    changes.accept(state);
                    version.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                }
                // Another process is rebuilding: look again next time.
                Ok(None) => {}
                Ok(Some(Err(e))) | Err(e) => tracing::warn!(error = %e, "rebuilding the order facts failed; retrying"),
            },
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "checking the orders failed; retrying"),
        }
        tokio::time::sleep(CHECK).await;
    }
}
