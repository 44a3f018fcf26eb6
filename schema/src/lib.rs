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

pub mod retention;

use clickhouse::Client;
use mintmark_config::ClickHouseSection;

/// Why the schema could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("clickhouse.database_prefix may only hold [A-Za-z0-9_], got {0:?}")]
    BadPrefix(String),
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
/// check sends a setting ClickHouse 18.16 does not know.
pub fn client(ch: &ClickHouseSection) -> Client {
    Client::default().with_url(&ch.url).with_user(&ch.user).with_password(&ch.password).with_validation(false)
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

/// What must exist before migrations can be tracked: the databases and
/// `{ledger}.schema_migrations`.
pub fn bootstrap_statements(dbs: &Databases) -> Vec<String> {
    let mut out: Vec<String> = [&dbs.t2, &dbs.t3, &dbs.ledger].iter().map(|db| format!("CREATE DATABASE IF NOT EXISTS {db}")).collect();
    out.push(dbs.render(
        "CREATE TABLE IF NOT EXISTS {ledger}.schema_migrations \
         (version UInt32, name String, applied_at DateTime DEFAULT now()) \
         ENGINE = MergeTree ORDER BY version",
    ));
    out
}

/// Every statement a fresh install runs, in order (for compatibility checks
/// against other ClickHouse versions).
pub fn all_statements(dbs: &Databases) -> Vec<String> {
    let mut out = bootstrap_statements(dbs);
    for (_, _, sql) in MIGRATIONS {
        out.extend(statements(&dbs.render(sql)));
    }
    out
}

/// Applies pending migrations; returns how many ran.
pub async fn migrate(ch: &ClickHouseSection) -> Result<usize, SchemaError> {
    let dbs = Databases::new(&ch.database_prefix)?;
    let client = client(ch);
    let failed = |what: String| move |source| SchemaError::Query { what, url: ch.url.clone(), source };
    for stmt in bootstrap_statements(&dbs) {
        client.query(&stmt).execute().await.map_err(failed(format!("preparing the schema ({stmt})")))?;
    }
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
        for stmt in statements(&dbs.render(sql)) {
            client.query(&stmt).execute().await.map_err(failed(format!("migration {version} ({name})")))?;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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
