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

/// References listed in one entry; beyond this only their count is kept.
pub const MAX_LISTED_REFS: usize = 1_000;

impl AccessEntry {
    /// An entry for a Tier 3 read that touched `refs` (or, for an
    /// aggregate over customers, only `count` of them, with `refs` empty).
    pub fn tier3(who: &LoginSession, route: &str, params: &str, rows: u64, mut refs: Vec<String>, count: u64) -> AccessEntry {
        refs.sort_unstable();
        refs.dedup();
        let touched = count.max(refs.len() as u64);
        if refs.len() > MAX_LISTED_REFS {
            refs.clear();
        }
        AccessEntry { customers_touched: touched, customer_refs: refs, ..AccessEntry::aggregate(who, route, params, rows) }
    }
}

/// High-rate aggregate reads (recommendations) are tallied in memory and
/// written as one entry per user, route and minute: an insert per lookup
/// would cost more than the lookup. They touch no customer.
#[derive(Default)]
pub struct Tally {
    counts: std::sync::Mutex<std::collections::HashMap<(String, String, &'static str), (u64, u64)>>,
}

impl Tally {
    pub fn note(&self, who: &LoginSession, route: &'static str, rows: u64) {
        let mut c = self.counts.lock().expect("not poisoned");
        let e = c.entry((who.user.name.clone(), who.user.roles.to_string(), route)).or_default();
        e.0 += 1;
        e.1 += rows;
    }

    /// Writes what was tallied; on failure keeps it for the next flush.
    pub async fn flush(&self, audit: &Audit) {
        let taken = std::mem::take(&mut *self.counts.lock().expect("not poisoned"));
        let now = crate::accounts::now_secs() as u32;
        for ((user, roles, route), (requests, rows)) in taken {
            let entry = AccessEntry {
                at: now,
                user_name: user.clone(),
                roles: roles.clone(),
                route: route.to_string(),
                params: format!("requests={requests} (tallied)"),
                rows_returned: rows,
                customers_touched: 0,
                customer_refs: Vec::new(),
            };
            if let Err(e) = audit.record(&entry).await {
                tracing::error!(error = %e, "writing tallied audit entries failed; kept for the next flush");
                let mut c = self.counts.lock().expect("not poisoned");
                let back = c.entry((user, roles, route)).or_default();
                back.0 += requests;
                back.1 += rows;
            }
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
