//! The sink: inserts into the event tables.

use clickhouse::insert::Insert;
use clickhouse::Client;

use crate::rows::{T2Row, T3Row};
use mintmark_schema::Databases;

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

    // Names are built from a validated prefix, so unescaped is safe.
    pub async fn open_t2(&self) -> clickhouse::error::Result<Insert<T2Row<'static>>> {
        self.client.insert_unescaped::<T2Row<'static>>(&self.t2_events).await
    }

    pub async fn open_t3(&self) -> clickhouse::error::Result<Insert<T3Row<'static>>> {
        self.client.insert_unescaped::<T3Row<'static>>(&self.t3_events).await
    }
}
