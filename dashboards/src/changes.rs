//! Noticing that tables changed since a derived result was last built:
//! each table's row count plus its latest arrival (`received_at`), polled.
//! A replayed insert that collapses later still changes the state once,
//! which costs one needless rebuild, never a missed one.

use clickhouse::Client;

pub struct Changes {
    sql: String,
    seen: Option<Vec<u64>>,
}

impl Changes {
    /// Watches the given tables (`db.table`, each with a `received_at`).
    pub fn of(tables: &[String]) -> Changes {
        let sql = tables
            .iter()
            .map(|t| format!("SELECT toUInt64(count()) + toUInt64(max(received_at)) FROM {t}"))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        Changes { sql, seen: None }
    }

    /// The tables' state when it differs from the last one accepted.
    pub async fn check(&self, client: &Client) -> clickhouse::error::Result<Option<Vec<u64>>> {
        let mut state: Vec<u64> = client.query(&self.sql).fetch_all().await?;
        // UNION ALL gives no order.
        state.sort_unstable();
        Ok((Some(&state) != self.seen.as_ref()).then_some(state))
    }

    /// Records `state` as built.
    pub fn accept(&mut self, state: Vec<u64>) {
        self.seen = Some(state);
    }
}
