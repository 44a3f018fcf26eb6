//! The ClickHouse schema: versioned migrations owned by the project.
//!
//! Its own crate because two services need it: the collector writes the
//! event tables and ledgers, the dashboards read them and write the access
//! audit; neither reaches into the other.
//!
//! Migrations are SQL files in `schema/migrations/`, applied in order and
//! recorded in `{ledger}.schema_migrations`. Database names are templated
//! (`{t2}`, `{t3}`, `{ledger}`) so a deployment or a test can prefix them.
//! Statements use only what ClickHouse 18.16 (Debian's server) and current
//! releases both accept.

pub mod layout;
pub mod lock;
pub mod replicas;
pub mod retention;

pub use layout::Layout;
pub use lock::Lock;
pub use replicas::{replicas, Replica};

use clickhouse::Client;
use mintmark_config::ClickHouseSection;

/// Why the schema could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("clickhouse.database_prefix may only hold [A-Za-z0-9_], got {0:?}")]
    BadPrefix(String),
    #[error("schema layout: {0}")]
    Layout(String),
    #[error("{what} on {url}: {source}")]
    Query {
        what: String,
        url: String,
        #[source]
        source: clickhouse::error::Error,
    },
}

/// `(version, name, sql)` for every migration, in order.
pub const MIGRATIONS: &[(u32, &str, &str)] = &[
    (1, "events", include_str!("../migrations/0001_events.sql")),
    (2, "consent_ledger", include_str!("../migrations/0002_consent_ledger.sql")),
    (3, "enrichment", include_str!("../migrations/0003_enrichment.sql")),
    (4, "campaign_commerce", include_str!("../migrations/0004_campaign_commerce.sql")),
    (5, "access_audit", include_str!("../migrations/0005_access_audit.sql")),
    (6, "visits", include_str!("../migrations/0006_visits.sql")),
    (7, "visit_facet_pages", include_str!("../migrations/0007_visit_facet_pages.sql")),
    (8, "orders", include_str!("../migrations/0008_orders.sql")),
    (9, "order_facts", include_str!("../migrations/0009_order_facts.sql")),
    (10, "purge_log", include_str!("../migrations/0010_purge_log.sql")),
    (11, "retention_chain", include_str!("../migrations/0011_retention_chain.sql")),
    (12, "purge_replicas", include_str!("../migrations/0012_purge_replicas.sql")),
    (13, "ledger_key_scope", include_str!("../migrations/0013_ledger_key_scope.sql")),
    (14, "audit_writers", include_str!("../migrations/0014_audit_writers.sql")),
    (15, "subjects", include_str!("../migrations/0015_subjects.sql")),
    (16, "visit_events", include_str!("../migrations/0016_visit_events.sql")),
];

/// The three databases mintmark owns, with the configured prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Databases {
    pub t2: String,
    pub t3: String,
    pub ledger: String,
}

impl Databases {
    pub fn new(prefix: &str) -> Result<Databases, SchemaError> {
        if !prefix.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(SchemaError::BadPrefix(prefix.to_string()));
        }
        Ok(Databases { t2: format!("{prefix}t2"), t3: format!("{prefix}t3"), ledger: format!("{prefix}ledger") })
    }

    /// Replaces the `{t2}`, `{t3}`, `{ledger}` placeholders.
    pub fn render(&self, sql: &str) -> String {
        sql.replace("{t2}", &self.t2).replace("{t3}", &self.t3).replace("{ledger}", &self.ledger)
    }
}

/// A client for the configured server. Schema validation is off: the crate's
/// check sends a setting ClickHouse 18.16 does not know. On a cluster an
/// insert into a Distributed table returns only once a replica of every
/// shard it touches has the rows: an acknowledged write is then on a
/// server's disk, not in the Distributed table's local send queue. A
/// subquery over a Distributed table inside a query over another runs
/// once, its result sent to every shard (`GLOBAL`): exact whatever the
/// two tables' sharding keys, where 18.16's default refuses the query.
///
/// Reads and writes through a Distributed table pick a shard's replica the
/// same way (`in_order`: its first healthy one, the server itself when it
/// is one). A read then sees what this client wrote before it, where a
/// random replica may not have fetched it yet: the order writer's look-up
/// of an opt-in written a second earlier must not route the order as
/// de-identified.
pub fn client(ch: &ClickHouseSection) -> Client {
    let client = Client::default().with_url(&ch.url).with_user(&ch.user).with_password(&ch.password).with_validation(false);
    if ch.cluster.is_empty() {
        client
    } else {
        client
            .with_setting("insert_distributed_sync", "1")
            .with_setting("distributed_product_mode", "global")
            .with_setting("load_balancing", "in_order")
    }
}

/// Splits a migration file into statements: `;` at the end of a line ends
/// one; `--` comment lines are dropped.
pub fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("--") || trimmed.is_empty() {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if trimmed.ends_with(';') {
            out.push(current.trim().trim_end_matches(';').to_string());
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        out.push(current.trim().to_string());
    }
    out
}

/// `CREATE TABLE <build> AS <table> ENGINE = …`: an empty table of this
/// server with `table`'s columns (as they are now, after every migration)
/// and the plain engine, partitioning and order its migration gave it,
/// for building a partition to swap into `table` with `REPLACE PARTITION`.
/// On a cluster `table` is replicated; copying its engine would make the
/// build another replica of it. Templated in, templated out; `None` for a
/// table no migration creates.
pub fn staging_statement(table: &str, build: &str) -> Option<String> {
    let head = format!("CREATE TABLE IF NOT EXISTS {table}");
    let create = MIGRATIONS.iter().flat_map(|(_, _, sql)| statements(sql)).find(|s| s.starts_with(&head) && s[head.len()..].starts_with(char::is_whitespace))?;
    let engine = &create[create.find("ENGINE = ")?..];
    Some(format!("CREATE TABLE {build} AS {table} {engine}"))
}

/// What must exist before migrations can be tracked: the databases and
/// `{ledger}.schema_migrations` (templated, like the migrations).
pub fn bootstrap_statements() -> Vec<String> {
    let mut out: Vec<String> = ["{t2}", "{t3}", "{ledger}"].iter().map(|db| format!("CREATE DATABASE IF NOT EXISTS {db}")).collect();
    out.push(
        "CREATE TABLE IF NOT EXISTS {ledger}.schema_migrations\n(version UInt32, name String, applied_at DateTime DEFAULT now())\nENGINE = MergeTree\nORDER BY version"
            .to_string(),
    );
    out
}

/// Every statement a fresh install runs on a single server, in order (for
/// compatibility checks against other ClickHouse versions).
pub fn all_statements(dbs: &Databases) -> Vec<String> {
    layout_statements(dbs, &Layout::Single).expect("every migration has a single-server form")
}

/// Every statement a fresh install runs in `layout`, in order.
pub fn layout_statements(dbs: &Databases, layout: &Layout) -> Result<Vec<String>, SchemaError> {
    let mut out = Vec::new();
    for stmt in bootstrap_statements().into_iter().chain(MIGRATIONS.iter().flat_map(|(_, _, sql)| statements(sql))) {
        out.extend(layout.apply(&stmt)?.iter().map(|s| dbs.render(s)));
    }
    Ok(out)
}

/// A lock older than this was left by a migrator that died: taken over.
const LOCK_STALE_SECS: u64 = 600;

/// Applies pending migrations; returns how many ran.
///
/// Safe when several collectors start at once, on one server or a cluster:
/// the one that takes the `schema` [`Lock`] migrates, the others wait
/// until it is released and then find everything applied.
pub async fn migrate(ch: &ClickHouseSection) -> Result<usize, SchemaError> {
    let dbs = Databases::new(&ch.database_prefix)?;
    let layout = Layout::new(&ch.cluster)?;
    let client = client(ch);
    let failed = |what: String| move |source| SchemaError::Query { what, url: ch.url.clone(), source };
    for stmt in bootstrap_statements() {
        for stmt in layout.apply(&stmt)? {
            let stmt = dbs.render(&stmt);
            client.query(&stmt).execute().await.map_err(failed(format!("preparing the schema ({stmt})")))?;
        }
    }
    // No holder name: a migrator restarted after a crash waits like any
    // other (the lock goes stale), as migrations are not resumable midway.
    let lock = Lock::new(&dbs, &layout, "schema", LOCK_STALE_SECS, "");
    lock.take(&client).await.map_err(failed("taking the migration lock".into()))?;
    let ran = apply_pending(&client, &dbs, &layout, &ch.url).await;
    let dropped = lock.release(&client).await.map_err(failed("dropping the migration lock".into()));
    let ran = ran?;
    dropped?;
    Ok(ran)
}

async fn apply_pending(client: &Client, dbs: &Databases, layout: &Layout, url: &str) -> Result<usize, SchemaError> {
    let failed = |what: String| move |source| SchemaError::Query { what, url: url.to_string(), source };
    // Read under the lock: a migrator that held it before us has recorded
    // everything it applied (the records are written synchronously).
    let applied: Vec<u32> = client
        .query(&dbs.render("SELECT version FROM {ledger}.schema_migrations"))
        .fetch_all()
        .await
        .map_err(failed("reading schema_migrations".into()))?;
    let mut ran = 0;
    for &(version, name, sql) in MIGRATIONS {
        if applied.contains(&version) {
            continue;
        }
        for stmt in statements(sql) {
            for stmt in layout.apply(&stmt)? {
                let stmt = dbs.render(&stmt);
                match client.query(&stmt).execute().await {
                    Ok(()) => {}
                    Err(e) if e.to_string().contains("already exists") && added_everywhere(client, layout, &stmt).await.unwrap_or(false) => {
                        tracing::debug!(version, "replicas that got the column through replication said so");
                    }
                    Err(e) => return Err(failed(format!("migration {version} ({name})"))(e)),
                }
            }
        }
        // Synchronous on a cluster (the client's setting there): the next
        // migrator reads it at once.
        client
            .query(&dbs.render("INSERT INTO {ledger}.schema_migrations (version, name) VALUES (?, ?)"))
            .bind(version)
            .bind(name)
            .execute()
            .await
            .map_err(failed(format!("recording migration {version}")))?;
        tracing::info!(version, name, "migration applied");
        ran += 1;
    }
    Ok(ran)
}

/// Whether every server of the cluster has the columns `stmt` adds
/// (see [`layout::added_columns`]).
async fn added_everywhere(client: &Client, layout: &Layout, stmt: &str) -> Result<bool, clickhouse::error::Error> {
    let (Layout::Cluster { .. }, Some((table, columns))) = (layout, layout::added_columns(stmt)) else { return Ok(false) };
    let Some((db, table)) = table.split_once('.') else { return Ok(false) };
    let members = replicas(client, layout).await?;
    for r in &members {
        let found: Vec<u64> = client
            .query(&format!("SELECT count() FROM {} WHERE database = ? AND table = ? AND has(?, name)", layout.on_replica(r, "system", "columns")))
            .bind(db)
            .bind(table)
            .bind(&columns)
            .fetch_all()
            .await?;
        if found.first().copied().unwrap_or(0) != columns.len() as u64 {
            return Ok(false);
        }
    }
    Ok(!members.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_staging_table_takes_the_columns_and_the_plain_engine() {
        assert_eq!(
            staging_statement("{t3}.order_facts", "{t3}.b1").unwrap(),
            "CREATE TABLE {t3}.b1 AS {t3}.order_facts ENGINE = MergeTree\nPARTITION BY tuple()\nORDER BY (customer_ref, order_id)"
        );
        assert!(staging_statement("{t2}.visit", "{t2}.b").is_none(), "a prefix of a table's name is not the table");
        for t in layout::ON_EVERY_SERVER {
            assert!(staging_statement(t, "{t2}.b").is_some(), "{t}");
        }
    }

    #[test]
    fn statements_split_on_line_final_semicolons() {
        let sql = "-- c\nCREATE TABLE a\n(x UInt8);\n\n-- d\nCREATE TABLE b (y String DEFAULT 'a;b');\n";
        assert_eq!(statements(sql), ["CREATE TABLE a\n(x UInt8)", "CREATE TABLE b (y String DEFAULT 'a;b')"]);
    }

    #[test]
    fn every_migration_is_fully_templated() {
        let dbs = Databases::new("test_").unwrap();
        for (_, _, sql) in MIGRATIONS {
            let rendered = dbs.render(sql);
            assert!(!rendered.contains('{'), "unrendered placeholder in {rendered}");
            assert!(!statements(&rendered).is_empty());
        }
        assert!(Databases::new("bad-prefix;").is_err());
    }
}
