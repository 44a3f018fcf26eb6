//! The sink: rows into ClickHouse.

use anyhow::Context;
use clickhouse::Client;

use crate::rows::Rows;
use crate::schema::Databases;

#[derive(Clone)]
pub struct ClickHouseSink {
    client: Client,
    t2_events: String,
    t3_events: String,
}

impl ClickHouseSink {
    pub fn new(client: Client, dbs: &Databases) -> Self {
        ClickHouseSink { client, t2_events: format!("{}.events", dbs.t2), t3_events: format!("{}.events", dbs.t3) }
    }

    /// Writes one batch's rows: Tier 2 first, then Tier 3.
    pub async fn write(&self, rows: &Rows) -> anyhow::Result<()> {
        if !rows.t2.is_empty() {
            // Names are built from a validated prefix, so unescaped is safe.
            let mut insert = self.client.insert_unescaped::<crate::rows::T2Row>(&self.t2_events).await?;
            for row in &rows.t2 {
                insert.write(row).await?;
            }
            insert.end().await.context("inserting t2 rows")?;
        }
        if !rows.t3.is_empty() {
            let mut insert = self.client.insert_unescaped::<crate::rows::T3Row>(&self.t3_events).await?;
            for row in &rows.t3 {
                insert.write(row).await?;
            }
            insert.end().await.context("inserting t3 rows")?;
        }
        Ok(())
    }
}
