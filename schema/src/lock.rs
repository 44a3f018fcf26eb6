//! Locks shared by every process on the same server or cluster: holding one
//! is having created the table `{ledger}.<name>_lock`. Creating a table that
//! exists fails, and on a cluster `ON CLUSTER` DDL is one ordered queue, so
//! every server agrees on who created it first. Migrations take `schema`
//! (waiting for it); the collectors' purges take `purge` (skipping a pass
//! while another collector holds it), so two collectors never run the same
//! erasure or retention purge at once. The lock names its holder (the
//! default of its one column): a process restarted after a crash finds its
//! own name on the lock and takes it back at once; a lock older than its
//! staleness was left by a process that never came back and is taken over.

use clickhouse::Client;

use crate::{Databases, Layout};

/// One named lock.
#[derive(Debug, Clone)]
pub struct Lock {
    create: String,
    /// `'<holder>'`, as `system.columns` shows the column's default; none
    /// for an anonymous holder, whose lock is never taken back.
    holder: Option<String>,
    holder_sql: String,
    drop: String,
    age: String,
    stale_secs: u64,
}

impl Lock {
    /// `holder` names who takes it, the same across its restarts (anything
    /// but `[A-Za-z0-9_.:/@-]` becomes `_`); empty: anonymous, never taken back.
    pub fn new(dbs: &Databases, layout: &Layout, name: &str, stale_secs: u64, holder: &str) -> Lock {
        let on = layout.on_cluster();
        let named: String = holder.chars().map(|c| if c.is_ascii_alphanumeric() || "_.:/@-".contains(c) { c } else { '_' }).collect();
        let named = format!("'{named}'");
        Lock {
            create: dbs.render(&format!("CREATE TABLE {{ledger}}.{name}_lock{on} (holder String DEFAULT {named}) ENGINE = TinyLog")),
            holder_sql: dbs.render(&format!("SELECT default_expression FROM system.columns WHERE database = '{{ledger}}' AND table = '{name}_lock' AND name = 'holder'")),
            holder: (!holder.is_empty()).then_some(named),
            drop: dbs.render(&format!("DROP TABLE IF EXISTS {{ledger}}.{name}_lock{on}")),
            age: dbs.render(&format!("SELECT toUInt64(now() - metadata_modification_time) FROM system.tables WHERE database = '{{ledger}}' AND name = '{name}_lock'")),
            stale_secs,
        }
    }

    /// Takes the lock if it is free (or stale); `false` if another holds it.
    pub async fn try_take(&self, client: &Client) -> Result<bool, clickhouse::error::Error> {
        match client.query(&self.create).execute().await {
            Ok(()) => Ok(true),
            Err(e) if e.to_string().contains("already exists") => {
                let held_by: Vec<String> = client.query(&self.holder_sql).fetch_all().await?;
                if self.holder.is_some() && held_by.first() == self.holder.as_ref() {
                    tracing::warn!(lock = %self.create, "this process held the lock when it stopped; taking it back");
                    self.release(client).await?;
                    return Ok(false);
                }
                let held: Vec<u64> = client.query(&self.age).fetch_all().await?;
                match held.first() {
                    Some(&secs) if secs > self.stale_secs => {
                        tracing::warn!(secs, lock = %self.create, "a lock is stale; taking it over");
                        self.release(client).await?;
                        Ok(false)
                    }
                    _ => Ok(false),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Waits until the lock is taken.
    pub async fn take(&self, client: &Client) -> Result<(), clickhouse::error::Error> {
        let mut waited = false;
        while !self.try_take(client).await? {
            if !waited {
                tracing::info!(lock = %self.create, "another process holds the lock; waiting");
                waited = true;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        Ok(())
    }

    pub async fn release(&self, client: &Client) -> Result<(), clickhouse::error::Error> {
        client.query(&self.drop).execute().await
    }

    /// Runs `work` holding the lock if it is free; `None` if another holds
    /// it. A failed release is logged: the lock then goes stale.
    pub async fn holding<T>(&self, client: &Client, work: impl std::future::Future<Output = T>) -> Result<Option<T>, clickhouse::error::Error> {
        if !self.try_take(client).await? {
            return Ok(None);
        }
        let out = work.await;
        if let Err(e) = self.release(client).await {
            tracing::warn!(error = %e, lock = %self.create, "releasing a lock failed; it goes stale");
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_is_a_table_made_on_every_server() {
        let dbs = Databases::new("x_").unwrap();
        let l = Lock::new(&dbs, &Layout::new("mm").unwrap(), "purge", 60, "host-1:127.0.0.1:8091:/var/spool");
        assert_eq!(l.create, "CREATE TABLE x_ledger.purge_lock ON CLUSTER mm (holder String DEFAULT 'host-1:127.0.0.1:8091:/var/spool') ENGINE = TinyLog");
        assert_eq!(l.drop, "DROP TABLE IF EXISTS x_ledger.purge_lock ON CLUSTER mm");
        let single = Lock::new(&dbs, &Layout::Single, "schema", 60, "it's");
        assert_eq!(single.create, "CREATE TABLE x_ledger.schema_lock (holder String DEFAULT 'it_s') ENGINE = TinyLog", "a name is never SQL");
    }
}
