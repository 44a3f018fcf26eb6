//! One migration source, two layouts: a single server, or a cluster of
//! shards and replicas.
//!
//! Migrations are written for one server. On a cluster each statement is
//! rewritten here: every table `db.t` becomes a `Replicated…MergeTree`
//! table `db.t_local` on every server (ZooKeeper path per shard, replica
//! from the servers' macros) plus a `Distributed` table `db.t` over them,
//! so every reader and writer keeps using the name it always used. DDL runs
//! `ON CLUSTER`. Each table's sharding key ([`SHARD_KEYS`]) keeps together
//! the rows a query must see together: all rows of one event id (so replays
//! collapse), of one session (Tier 2 visits), of one customer (Tier 3 and
//! the consent ledger).
//!
//! What the dashboards derive and swap in whole (the rollups, the order
//! facts: [`ON_EVERY_SERVER`]) is not sharded but kept complete on every
//! server, one replicated table across all of them: `REPLACE PARTITION`
//! only works between tables of one server, and a swap on any server then
//! reaches every other through ZooKeeper, atomically per server.

use crate::SchemaError;

/// Suffix of the per-server table under each `Distributed` one.
pub const LOCAL_SUFFIX: &str = "_local";

/// Each table's sharding key, by its templated name. A table missing here
/// cannot be created on a cluster (a test checks every migration's tables).
pub const SHARD_KEYS: &[(&str, &str)] = &[
    // A session's events on one shard; an anonymous event has no session,
    // so its id (a replay has the same id, so the same shard).
    ("{t2}.events", "cityHash64(if(session_id = '', event_id, session_id))"),
    ("{t3}.events", "cityHash64(customer_ref)"),
    ("{ledger}.consent_ledger", "cityHash64(customer_ref)"),
    ("{ledger}.access_audit", "cityHash64(user_name)"),
    ("{ledger}.purge_log", "cityHash64(run_id)"),
    ("{ledger}.schema_migrations", "version"),
    ("{t2}.orders", "cityHash64(order_key)"),
    ("{t2}.marketplace_orders", "cityHash64(order_key)"),
    ("{t3}.orders", "cityHash64(customer_ref)"),
    ("{ledger}.seal_keys", "cityHash64(kid)"),
];

/// Tables kept whole on every server of a cluster (one replicated table,
/// every server a replica): derived tables the dashboards rebuild and swap
/// in with `REPLACE PARTITION`. Their short names are unique across the
/// databases (a test checks), so a rendered name is recognised.
pub const ON_EVERY_SERVER: &[&str] = &[
    "{t2}.visits",
    "{t2}.visit_hours",
    "{t2}.visit_facets",
    "{t2}.visit_groups",
    "{t2}.visit_facet_pages",
    "{t2}.purchases",
    "{t2}.rollup_days",
    "{t3}.order_facts",
];

/// Whether `table` (templated or rendered `db.name`) is in [`ON_EVERY_SERVER`].
pub fn on_every_server(table: &str) -> bool {
    let short = |t: &str| t.rsplit('.').next().unwrap_or(t).to_string();
    ON_EVERY_SERVER.iter().any(|t| short(t) == short(table))
}

/// Where the schema lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    Single,
    /// The cluster's name in the servers' `remote_servers`.
    Cluster { name: String },
}

impl Layout {
    /// From `[clickhouse] cluster` (empty: a single server).
    pub fn new(cluster: &str) -> Result<Layout, SchemaError> {
        if cluster.is_empty() {
            return Ok(Layout::Single);
        }
        if !cluster.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(SchemaError::Layout(format!("clickhouse.cluster may only hold [A-Za-z0-9_], got {cluster:?}")));
        }
        Ok(Layout::Cluster { name: cluster.to_string() })
    }

    /// `ON CLUSTER <name>` with a leading space, or nothing.
    pub fn on_cluster(&self) -> String {
        match self {
            Layout::Single => String::new(),
            Layout::Cluster { name } => format!(" ON CLUSTER {name}"),
        }
    }

    /// The table that holds `table`'s rows on each server, for statements
    /// that act on stored parts (mutations, partitions): on a cluster the
    /// local tables `ON CLUSTER`, or, for a table on every server, the
    /// table itself (its replication carries the change to every server).
    pub fn storage(&self, table: &str) -> String {
        match self {
            Layout::Cluster { name } if !on_every_server(table) => format!("{table}{LOCAL_SUFFIX} ON CLUSTER {name}"),
            _ => table.to_string(),
        }
    }

    /// The name of the table that stores `table`'s rows on a server
    /// (`events_local` under a Distributed `events`), without the database.
    pub fn stored_name<'a>(&self, table: &'a str) -> std::borrow::Cow<'a, str> {
        let short = table.rsplit('.').next().unwrap_or(table);
        match self {
            Layout::Cluster { .. } if !on_every_server(table) => format!("{short}{LOCAL_SUFFIX}").into(),
            _ => short.into(),
        }
    }

    /// The statements that make one migration statement (still templated)
    /// true in this layout.
    pub fn apply(&self, stmt: &str) -> Result<Vec<String>, SchemaError> {
        let Layout::Cluster { name } = self else { return Ok(vec![stmt.to_string()]) };
        let unsupported = || SchemaError::Layout(format!("no cluster form for: {}", stmt.lines().next().unwrap_or("")));
        if let Some(db) = stmt.strip_prefix("CREATE DATABASE IF NOT EXISTS ") {
            return Ok(vec![format!("CREATE DATABASE IF NOT EXISTS {} ON CLUSTER {name}", db.trim())]);
        }
        if let Some(rest) = stmt.strip_prefix("CREATE TABLE IF NOT EXISTS ") {
            let (table, body) = rest.split_once(|c: char| c.is_whitespace()).ok_or_else(unsupported)?;
            let everywhere = on_every_server(table);
            if !everywhere {
                shard_key(table)?;
            }
            let (columns, engine_and_rest) = body.split_once("ENGINE = ").ok_or_else(unsupported)?;
            let engine_end = engine_and_rest.find(|c: char| c == '(' || c.is_whitespace()).unwrap_or(engine_and_rest.len());
            let engine = &engine_and_rest[..engine_end];
            if !engine.ends_with("MergeTree") {
                return Err(unsupported());
            }
            let after = &engine_and_rest[engine_end..];
            let (args, tail) = match after.strip_prefix('(') {
                Some(a) => a.split_once(')').map(|(a, t)| (a.trim(), t)).ok_or_else(unsupported)?,
                None => ("", after),
            };
            let zk = if everywhere {
                // One replica set of every server: the replica names must
                // differ across shards too.
                format!("'/clickhouse/tables/all/{table}', '{{shard}}-{{replica}}'")
            } else {
                format!("'/clickhouse/tables/{{shard}}/{table}', '{{replica}}'")
            };
            let args = if args.is_empty() { zk } else { format!("{zk}, {args}") };
            if everywhere {
                return Ok(vec![format!("CREATE TABLE IF NOT EXISTS {table} ON CLUSTER {name}\n{}ENGINE = Replicated{engine}({args}){tail}", columns)]);
            }
            return Ok(vec![
                format!("CREATE TABLE IF NOT EXISTS {table}{LOCAL_SUFFIX} ON CLUSTER {name}\n{}ENGINE = Replicated{engine}({args}){tail}", columns),
                distributed(name, table)?,
            ]);
        }
        if let Some(table) = stmt.strip_prefix("TRUNCATE TABLE ") {
            let table = table.trim();
            let stored = if on_every_server(table) { table.to_string() } else { format!("{table}{LOCAL_SUFFIX}") };
            return Ok(vec![format!("TRUNCATE TABLE {stored} ON CLUSTER {name}")]);
        }
        if let Some(rest) = stmt.strip_prefix("ALTER TABLE ") {
            // The stored table changes (once per shard, replicated), then
            // the Distributed table over it is made again to take the new
            // columns: it holds no rows (writes are synchronous), and 18.16
            // refuses ALTER ON CLUSTER on a table that is not replicated.
            let (table, ops) = rest.split_once(|c: char| c.is_whitespace()).ok_or_else(unsupported)?;
            if !ops.trim_start().starts_with("ADD COLUMN") {
                return Err(unsupported());
            }
            if on_every_server(table) {
                return Ok(vec![format!("ALTER TABLE {table} ON CLUSTER {name} {}", ops.trim_start())]);
            }
            let mut out = vec![
                format!("ALTER TABLE {table}{LOCAL_SUFFIX} ON CLUSTER {name} {}", ops.trim_start()),
                format!("DROP TABLE IF EXISTS {table} ON CLUSTER {name}"),
            ];
            out.push(distributed(name, table)?);
            return Ok(out);
        }
        Err(unsupported())
    }
}

/// The `Distributed` table `table` over its stored table, on every server.
fn distributed(cluster: &str, table: &str) -> Result<String, SchemaError> {
    let key = shard_key(table)?;
    let (db, short) = table.split_once('.').ok_or_else(|| SchemaError::Layout(format!("{table} is not db.table")))?;
    Ok(format!(
        "CREATE TABLE IF NOT EXISTS {table} ON CLUSTER {cluster} AS {table}{LOCAL_SUFFIX} \
         ENGINE = Distributed({cluster}, {db}, {short}{LOCAL_SUFFIX}, {key})"
    ))
}

/// For a cluster's `ALTER TABLE <stored> ON CLUSTER … ADD COLUMN …` (the
/// `_local` table or one on every server): the stored table, rendered as
/// given, and the columns it adds.
///
/// ClickHouse 18.16 runs such an ALTER on every replica, though the first
/// one's change already reaches the others through ZooKeeper, so the
/// others answer "column already exists"; the migrator then checks every
/// server has the columns instead of failing (see `migrate`).
pub fn added_columns(stmt: &str) -> Option<(String, Vec<String>)> {
    let rest = stmt.strip_prefix("ALTER TABLE ")?;
    let (table, ops) = rest.split_once(" ON CLUSTER ")?;
    if !table.ends_with(LOCAL_SUFFIX) && !on_every_server(table) {
        return None;
    }
    let columns: Vec<String> = ops
        .split("ADD COLUMN")
        .skip(1)
        .filter_map(|part| part.split_whitespace().next().map(str::to_string))
        .collect();
    (!columns.is_empty()).then(|| (table.to_string(), columns))
}

fn shard_key(table: &str) -> Result<&'static str, SchemaError> {
    SHARD_KEYS
        .iter()
        .find(|(t, _)| *t == table)
        .map(|(_, k)| *k)
        .ok_or_else(|| SchemaError::Layout(format!("{table} has no sharding key in schema::layout::SHARD_KEYS")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{bootstrap_statements, statements, Databases, MIGRATIONS};

    fn cluster() -> Layout {
        Layout::new("mm").unwrap()
    }

    #[test]
    fn a_single_server_runs_migrations_as_written() {
        let s = "CREATE TABLE IF NOT EXISTS {t2}.x\n(a UInt8)\nENGINE = MergeTree\nORDER BY a";
        assert_eq!(Layout::new("").unwrap().apply(s).unwrap(), vec![s.to_string()]);
        assert_eq!(Layout::Single.storage("t2.events"), "t2.events");
    }

    #[test]
    fn a_table_becomes_replicated_storage_under_a_distributed_table() {
        let s = "CREATE TABLE IF NOT EXISTS {t2}.events\n(\n    a UInt8,\n    received_at DateTime\n)\nENGINE = ReplacingMergeTree(received_at)\nPARTITION BY a\nORDER BY a";
        let out = cluster().apply(s).unwrap();
        assert_eq!(
            out[0],
            "CREATE TABLE IF NOT EXISTS {t2}.events_local ON CLUSTER mm\n(\n    a UInt8,\n    received_at DateTime\n)\n\
             ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{t2}.events', '{replica}', received_at)\nPARTITION BY a\nORDER BY a"
        );
        assert_eq!(
            out[1],
            "CREATE TABLE IF NOT EXISTS {t2}.events ON CLUSTER mm AS {t2}.events_local ENGINE = Distributed(mm, {t2}, events_local, cityHash64(if(session_id = '', event_id, session_id)))"
        );
        let plain = cluster().apply("CREATE TABLE IF NOT EXISTS {t3}.orders\n(a UInt8)\nENGINE = MergeTree\nORDER BY a").unwrap();
        assert!(plain[0].contains("ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{t3}.orders', '{replica}')\nORDER BY a"), "{}", plain[0]);
    }

    #[test]
    fn databases_and_added_columns_go_on_cluster() {
        assert_eq!(cluster().apply("CREATE DATABASE IF NOT EXISTS t2").unwrap(), vec!["CREATE DATABASE IF NOT EXISTS t2 ON CLUSTER mm"]);
        let out = cluster().apply("ALTER TABLE {ledger}.purge_log\n    ADD COLUMN cutoff Date").unwrap();
        assert_eq!(
            out,
            vec![
                "ALTER TABLE {ledger}.purge_log_local ON CLUSTER mm ADD COLUMN cutoff Date",
                "DROP TABLE IF EXISTS {ledger}.purge_log ON CLUSTER mm",
                "CREATE TABLE IF NOT EXISTS {ledger}.purge_log ON CLUSTER mm AS {ledger}.purge_log_local ENGINE = Distributed(mm, {ledger}, purge_log_local, cityHash64(run_id))",
            ]
        );
        assert_eq!(cluster().storage("t2.events"), "t2.events_local ON CLUSTER mm");
        assert_eq!(cluster().apply("TRUNCATE TABLE {t2}.events").unwrap(), vec!["TRUNCATE TABLE {t2}.events_local ON CLUSTER mm"]);
    }

    #[test]
    fn the_columns_an_alter_adds_are_known() {
        let out = cluster().apply("ALTER TABLE {ledger}.access_audit\n    ADD COLUMN seq UInt64,\n    ADD COLUMN prev_hash String").unwrap();
        assert_eq!(added_columns(&out[0]), Some(("{ledger}.access_audit_local".to_string(), vec!["seq".to_string(), "prev_hash".to_string()])));
        assert_eq!(added_columns(&out[1]), None, "the Distributed table's ALTER runs once per server");
    }

    #[test]
    fn derived_tables_are_one_replica_set_of_every_server() {
        let s = "CREATE TABLE IF NOT EXISTS {t2}.visits\n(start_day Date)\nENGINE = MergeTree\nPARTITION BY start_day\nORDER BY start_day";
        assert_eq!(
            cluster().apply(s).unwrap(),
            vec!["CREATE TABLE IF NOT EXISTS {t2}.visits ON CLUSTER mm\n(start_day Date)\n\
                  ENGINE = ReplicatedMergeTree('/clickhouse/tables/all/{t2}.visits', '{shard}-{replica}')\nPARTITION BY start_day\nORDER BY start_day"]
        );
        assert_eq!(cluster().storage("t2.visits"), "t2.visits", "a swap or a mutation on one replica reaches all");
        assert_eq!(cluster().stored_name("t2.visits"), "visits");
        assert_eq!(cluster().stored_name("t2.events"), "events_local");
        assert_eq!(Layout::Single.stored_name("t2.events"), "events");
        assert_eq!(cluster().apply("TRUNCATE TABLE {t2}.rollup_days").unwrap(), vec!["TRUNCATE TABLE {t2}.rollup_days ON CLUSTER mm"]);
        let alter = cluster().apply("ALTER TABLE {t3}.order_facts ADD COLUMN x UInt8").unwrap();
        assert_eq!(alter, vec!["ALTER TABLE {t3}.order_facts ON CLUSTER mm ADD COLUMN x UInt8"]);
        assert_eq!(added_columns(&alter[0]), Some(("{t3}.order_facts".to_string(), vec!["x".to_string()])));
        let short = |t: &str| t.rsplit('.').next().unwrap().to_string();
        for t in ON_EVERY_SERVER {
            assert!(SHARD_KEYS.iter().all(|(s, _)| short(s) != short(t)), "{t}'s short name is unique");
        }
    }

    #[test]
    fn what_has_no_cluster_form_is_refused_not_guessed() {
        for s in ["DROP TABLE {t2}.events", "ALTER TABLE {t2}.events DELETE WHERE 1", "CREATE TABLE IF NOT EXISTS {t2}.nokey\n(a UInt8)\nENGINE = MergeTree\nORDER BY a"] {
            assert!(cluster().apply(s).is_err(), "{s}");
        }
        assert!(Layout::new("bad name").is_err());
    }

    #[test]
    fn every_migration_has_a_cluster_form_and_renders_cleanly() {
        let dbs = Databases::new("").unwrap();
        let (mut tables, mut everywhere) = (0, 0);
        for stmt in bootstrap_statements().into_iter().chain(MIGRATIONS.iter().flat_map(|(_, _, sql)| statements(sql))) {
            let out = cluster().apply(&stmt).unwrap_or_else(|e| panic!("{e}"));
            tables += out.iter().filter(|s| s.contains("ENGINE = Distributed(") && !out.iter().any(|o| o.starts_with("DROP"))).count();
            everywhere += out.iter().filter(|s| s.contains("'/clickhouse/tables/all/")).count();
            for s in out {
                let rendered = dbs.render(&s);
                assert!(!rendered.contains("{t2}") && !rendered.contains("{ledger}") && !rendered.contains("{t3}"), "{rendered}");
                assert!(rendered.contains("ON CLUSTER mm"), "{rendered}");
            }
        }
        assert_eq!(tables, SHARD_KEYS.len(), "every sharding key belongs to a table and every table has one");
        assert_eq!(everywhere, ON_EVERY_SERVER.len(), "every table on every server exists");
    }
}
