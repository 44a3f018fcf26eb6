//! What `make up` writes into a fresh state the first time, and finds there
//! on every later start: one demo login per role, the demo analyst's goals,
//! 30 days of synthetic history and a year of orders. The first-load test
//! seeds through this same function, so it opens the pages a newcomer does.

use std::path::Path;

use anyhow::Context;

use crate::{logins, Layout};

/// About 30 days of a small store.
pub const DEMO_EVENTS: u64 = 300_000;

/// Seeds what is missing; returns the `user password` lines of the logins.
pub async fn ensure(config: &mintmark_config::Config, state_dir: &Path, config_path: &Path) -> anyhow::Result<Vec<String>> {
    let layout = Layout::discover()?;
    let demo_logins = logins::ensure(&layout, state_dir, config_path)?;
    logins::ensure_demo_goals(&layout, config_path)?;
    println!("checking for demo history ...");
    if let Some(seeded) = crate::history::seed_demo(config, DEMO_EVENTS).await? {
        println!("wrote 30 days of demo history: {} visits, {} events (synthetic; see docs/src/getting-started.md)", seeded.visits, seeded.t2_events);
    }
    if let Some(o) = crate::orders::seed_demo_orders(config).await? {
        println!(
            "wrote a year of demo orders: {} orders, {} customers opted in; {} identified, {} de-identified, {} marketplace rows",
            o.orders, o.opted_in, o.rows[0], o.rows[1], o.rows[2]
        );
        order_facts_built(config).await?;
    }
    Ok(demo_logins)
}

/// Waits until the running dashboards have folded the new orders into
/// `{t3}.order_facts` (they check every 10 s), so the logins are printed
/// when the customer pages already show the orders, not an empty list.
async fn order_facts_built(config: &mintmark_config::Config) -> anyhow::Result<()> {
    let client = mintmark_schema::client(&config.clickhouse);
    let dbs = mintmark_schema::Databases::new(&config.clickhouse.database_prefix)?;
    let count = format!("SELECT toUInt64(count()) FROM {}.order_facts", dbs.t3);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    println!("waiting for the dashboards to index the orders ...");
    loop {
        let facts: u64 = client.query(&count).fetch_one().await.context("counting t3.order_facts")?;
        if facts > 0 {
            return Ok(());
        }
        anyhow::ensure!(std::time::Instant::now() < deadline, "the dashboards did not index the demo orders within 120 s (is the dashboards process running?)");
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}
