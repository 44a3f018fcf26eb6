//! Fills the subject column ([`mintmark_protocol::subject`]) on rows
//! written before it existed (or by an older collector during an upgrade),
//! so that an erasure, which finds a customer by subject alone, finds them.
//!
//! The mapping must not name anyone in a statement: a mutation's text is
//! kept in `system.mutations`. So the references are read out, their
//! subjects computed here (the key never leaves the collector), and the
//! pairs inserted (as data, never as statement text) into a transient
//! `Join` table that the mutation reads with `joinGet`; the table is
//! dropped as soon as the mutation is done, and any left by a crash is
//! dropped on the next pass. ClickHouse 18.16 resolves `joinGet`'s table
//! in the server's default database, so it lives there.
//!
//! A cluster would need the map on every server; it is not done there
//! (logged): a cluster's collectors all write the subject from the start.

use clickhouse::{Client, Row};
use mintmark_schema::{Databases, Layout};
use serde::Serialize;

use super::{settle, PurgeError};
use crate::pseudonym::Pseudonyms;

const MAP_PREFIX: &str = "mintmark_subject_map_";

#[derive(Row, Serialize)]
struct Pair {
    r: String,
    s: String,
}

/// `(database, table, the reference column, how a row's subject is set)`.
fn places(dbs: &Databases) -> [(&str, &'static str); 4] {
    [(&dbs.t3, "events"), (&dbs.t3, "orders"), (&dbs.t3, "order_facts"), (&dbs.ledger, "consent_ledger")]
}

/// Fills every missing subject; returns for how many customers (per table,
/// and audit entries).
pub async fn run(client: &Client, dbs: &Databases, layout: &Layout, ids: &Pseudonyms) -> Result<u64, PurgeError> {
    drop_leftovers(client).await?;
    let mut filled = 0;
    for (db, table) in places(dbs) {
        let name = format!("{db}.{table}");
        // One read finds what is missing: usually nothing.
        let refs: Vec<String> =
            client.query(&format!("SELECT DISTINCT customer_ref FROM {name} WHERE subject = '' AND customer_ref != ''")).fetch_all().await?;
        if refs.is_empty() {
            continue;
        }
        let missing = refs.len() as u64;
        if !matches!(layout, Layout::Single) {
            tracing::warn!(table = %name, customers = missing, "rows without a subject on a cluster are not backfilled; an erasure cannot find them");
            continue;
        }
        let set = "subject = joinGet('{map}', 's', customer_ref) WHERE subject = '' AND customer_ref != ''";
        through_map(client, layout, ids, refs, db, table, set).await?;
        filled += missing;
        tracing::info!(table = %name, customers = missing, "subjects filled in");
    }
    filled += audit(client, dbs, layout, ids).await?;
    Ok(filled)
}

/// Access-audit entries from before the audit was chained (seq 0) listed
/// references: they get the subjects instead, the same way.
async fn audit(client: &Client, dbs: &Databases, layout: &Layout, ids: &Pseudonyms) -> Result<u64, PurgeError> {
    let name = format!("{}.access_audit", dbs.ledger);
    let unhashed = "seq = 0 AND arrayExists(r -> NOT match(r, '^[0-9a-f]{32}$'), customer_refs)";
    if !matches!(layout, Layout::Single) {
        return Ok(0);
    }
    let refs: Vec<String> = client
        .query(&format!("SELECT DISTINCT r FROM {name} ARRAY JOIN customer_refs AS r WHERE seq = 0 AND NOT match(r, '^[0-9a-f]{{32}}$')"))
        .fetch_all()
        .await?;
    if refs.is_empty() {
        return Ok(0);
    }
    let missing = refs.len() as u64;
    let set = format!("customer_refs = arrayMap(r -> if(joinGet('{{map}}', 's', r) = '', r, joinGet('{{map}}', 's', r)), customer_refs) WHERE {unhashed}");
    through_map(client, layout, ids, refs, &dbs.ledger, "access_audit", &set).await?;
    Ok(missing)
}

async fn drop_leftovers(client: &Client) -> Result<(), PurgeError> {
    let left: Vec<String> = client.query("SELECT name FROM system.tables WHERE database = 'default' AND startsWith(name, ?)").bind(MAP_PREFIX).fetch_all().await?;
    for t in left {
        client.query(&format!("DROP TABLE IF EXISTS default.{t}")).execute().await?;
    }
    Ok(())
}

/// Puts `refs` and their subjects into a transient `Join` table, runs
/// `ALTER TABLE db.table UPDATE <set>` (`{map}` naming that table), waits
/// for the mutation and drops the table, whatever happened.
async fn through_map(client: &Client, layout: &Layout, ids: &Pseudonyms, refs: Vec<String>, db: &str, table: &str, set: &str) -> Result<(), PurgeError> {
    let map = format!("{MAP_PREFIX}{table}_{}", crate::ingest::unix_now());
    client.query(&format!("CREATE TABLE default.{map} (r String, s String) ENGINE = Join(ANY, LEFT, r)")).execute().await?;
    let fill = async {
        let mut insert = client.insert_unescaped::<Pair>(&format!("default.{map}")).await?;
        for r in refs {
            let s = ids.subject(&r).as_str().to_string();
            insert.write(&Pair { r, s }).await?;
        }
        insert.end().await?;
        client.query(&format!("ALTER TABLE {db}.{table} UPDATE {}", set.replace("{map}", &map))).execute().await?;
        settle(client, layout, db, table).await
    };
    let result = fill.await;
    client.query(&format!("DROP TABLE IF EXISTS default.{map}")).execute().await?;
    result.map(|_| ())
}
