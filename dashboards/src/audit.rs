//! The access audit: one append-only row in `{ledger}.access_audit` per
//! read, written before the data leaves. A read whose audit row cannot be
//! written fails (503): nothing is shown that was not recorded.

use clickhouse::Row;
use serde::Serialize;

use crate::sessions::LoginSession;

#[derive(Debug, thiserror::Error)]
#[error("the access audit could not be written: {0}")]
pub struct AuditError(#[from] clickhouse::error::Error);

/// One audited read.
#[derive(Debug, Clone, PartialEq, Row, Serialize)]
pub struct AccessEntry {
    /// Unix seconds.
    pub at: u32,
    pub user_name: String,
    pub roles: String,
    pub route: String,
    /// The period, comparison and filters asked for, as the query string.
    pub params: String,
    pub rows_returned: u64,
    pub customers_touched: u64,
    pub customer_refs: Vec<String>,
}

impl AccessEntry {
    /// An entry for an aggregate (Tier 2) read by `who`.
    pub fn aggregate(who: &LoginSession, route: &str, params: &str, rows: u64) -> AccessEntry {
        AccessEntry {
            at: crate::accounts::now_secs() as u32,
            user_name: who.user.name.clone(),
            roles: who.user.roles.to_string(),
            route: route.to_string(),
            params: params.to_string(),
            rows_returned: rows,
            customers_touched: 0,
            customer_refs: Vec::new(),
        }
    }
}

/// Where entries go.
pub struct Audit {
    client: clickhouse::Client,
    table: String,
}

impl Audit {
    pub fn new(client: clickhouse::Client, ledger_db: &str) -> Audit {
        Audit { client, table: format!("{ledger_db}.access_audit") }
    }

    /// Writes `entry` and waits for ClickHouse to confirm it.
    pub async fn record(&self, entry: &AccessEntry) -> Result<(), AuditError> {
        // The name comes from a validated prefix, so unescaped is safe.
        let mut insert = self.client.insert_unescaped::<AccessEntry>(&self.table).await?;
        insert.write(entry).await?;
        insert.end().await?;
        Ok(())
    }
}
