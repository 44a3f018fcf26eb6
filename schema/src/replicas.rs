//! The servers that hold a copy of the data, for work that must reach or
//! check every one of them: a purge's per-replica evidence, a migration's
//! check that every server took a column. A single server is the one
//! replica of the one shard; a cluster lists its members from
//! `system.clusters` and each is read through `remote()` on its native
//! port (ClickHouse 18.16 has no `clusterAllReplicas`).

use clickhouse::Client;

use crate::Layout;

/// One copy of the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    pub shard: u32,
    pub replica: u32,
    /// `host:port` (native protocol) on a cluster; empty on a single server.
    pub address: String,
}

impl Replica {
    /// `s1r2`, or `server` on a single server: how evidence names it.
    pub fn label(&self) -> String {
        if self.address.is_empty() {
            "server".into()
        } else {
            format!("s{}r{}", self.shard, self.replica)
        }
    }
}

/// Every copy of the data in `layout`.
pub async fn replicas(client: &Client, layout: &Layout) -> Result<Vec<Replica>, clickhouse::error::Error> {
    let Layout::Cluster { name } = layout else { return Ok(vec![Replica { shard: 1, replica: 1, address: String::new() }]) };
    let rows: Vec<(u32, u32, String, u16)> = client
        .query("SELECT toUInt32(shard_num), toUInt32(replica_num), host_address, port FROM system.clusters WHERE cluster = ? ORDER BY shard_num, replica_num")
        .bind(name.as_str())
        .fetch_all()
        .await?;
    Ok(rows.into_iter().map(|(shard, replica, host, port)| Replica { shard, replica, address: format!("{host}:{port}") }).collect())
}

impl Layout {
    /// A `FROM` source reading `db.table` (the stored table, see
    /// [`Layout::stored_name`]) on replica `r` only.
    pub fn on_replica(&self, r: &Replica, db: &str, table: &str) -> String {
        if r.address.is_empty() {
            format!("{db}.{table}")
        } else {
            format!("remote('{}', {db}, {table})", r.address)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_is_read_where_it_is() {
        let one = Replica { shard: 1, replica: 1, address: String::new() };
        assert_eq!(Layout::Single.on_replica(&one, "t2", "events"), "t2.events");
        assert_eq!(one.label(), "server");
        let r = Replica { shard: 2, replica: 1, address: "127.0.0.1:9000".into() };
        assert_eq!(Layout::new("mm").unwrap().on_replica(&r, "t2", "events_local"), "remote('127.0.0.1:9000', t2, events_local)");
        assert_eq!(r.label(), "s2r1");
    }
}
