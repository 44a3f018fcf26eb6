//! A ClickHouse cluster on one machine, with ClickHouse's own clustering:
//! ZooKeeper and `shards × replicas` servers on loopback ports. Each server
//! gets a generated config naming its shard and replica (`macros`), every
//! member (`remote_servers`, with `internal_replication`: a write goes to
//! one replica of a shard and replication copies it), ZooKeeper and the
//! distributed DDL queue that `ON CLUSTER` statements travel through.
//! Tests and `make up-cluster` start it through the same code.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::clickhouse::{config_xml, query, start_server};
use crate::process::{free_port, Supervised};
use crate::zookeeper::ZooKeeper;

/// What cluster to start.
#[derive(Debug, Clone)]
pub struct ClusterSpec {
    /// The cluster's name in `remote_servers` (what `ON CLUSTER` names).
    pub name: String,
    pub shards: usize,
    pub replicas: usize,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec { name: "mintmark".into(), shards: 2, replicas: 2 }
    }
}

/// One server of the cluster.
pub struct Member {
    /// 1-based.
    pub shard: usize,
    /// 1-based.
    pub replica: usize,
    pub http: u16,
    pub tcp: u16,
    pub interserver: u16,
    dir: PathBuf,
    child: Option<Supervised>,
}

impl Member {
    /// `http://127.0.0.1:<http>`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }

    /// `s<shard>r<replica>`, for names and logs.
    pub fn label(&self) -> String {
        format!("s{}r{}", self.shard, self.replica)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.pid())
    }
}

/// A running cluster; dropping it stops every server and ZooKeeper.
pub struct Cluster {
    pub name: String,
    pub zookeeper: ZooKeeper,
    pub members: Vec<Member>,
    logs: PathBuf,
}

impl Cluster {
    /// Starts ZooKeeper and every server under `root` (`zookeeper/`,
    /// `clickhouse-s<n>r<m>/`, `logs/`), on free loopback ports.
    pub async fn start(root: &Path, spec: &ClusterSpec) -> anyhow::Result<Cluster> {
        let root = std::path::absolute(root)?;
        let logs = root.join("logs");
        std::fs::create_dir_all(&logs)?;
        let zookeeper = ZooKeeper::start(&root.join("zookeeper"), &logs, free_port()?).await?;
        let mut members = Vec::new();
        for shard in 1..=spec.shards {
            for replica in 1..=spec.replicas {
                let dir = root.join(format!("clickhouse-s{shard}r{replica}"));
                members.push(Member { shard, replica, http: free_port()?, tcp: free_port()?, interserver: free_port()?, dir, child: None });
            }
        }
        let mut cluster = Cluster { name: spec.name.clone(), zookeeper, members, logs };
        for i in 0..cluster.members.len() {
            cluster.start_member(i).await?;
        }
        Ok(cluster)
    }

    /// Every member as a `<shard>` of `remote_servers`.
    fn remote_servers(&self) -> String {
        let mut xml = String::new();
        let shards = self.members.iter().map(|m| m.shard).max().unwrap_or(0);
        for shard in 1..=shards {
            xml.push_str("      <shard><internal_replication>true</internal_replication>\n");
            for m in self.members.iter().filter(|m| m.shard == shard) {
                let _ = writeln!(xml, "        <replica><host>127.0.0.1</host><port>{}</port></replica>", m.tcp);
            }
            xml.push_str("      </shard>\n");
        }
        xml
    }

    fn member_config(&self, m: &Member) -> String {
        let extra = format!(
            r#"  <interserver_http_port>{interserver}</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <zookeeper><node><host>127.0.0.1</host><port>{zk}</port></node><session_timeout_ms>30000</session_timeout_ms></zookeeper>
  <macros><shard>{shard:02}</shard><replica>r{replica}</replica></macros>
  <remote_servers>
    <{name}>
{servers}    </{name}>
  </remote_servers>
  <distributed_ddl><path>/clickhouse/task_queue/ddl</path></distributed_ddl>
"#,
            interserver = m.interserver,
            zk = self.zookeeper.port,
            shard = m.shard,
            replica = m.replica,
            name = self.name,
            servers = self.remote_servers(),
        );
        config_xml(&m.dir, m.http, m.tcp, &extra)
    }

    /// Starts member `i` (again, after [`Cluster::kill`]) on its data.
    pub async fn start_member(&mut self, i: usize) -> anyhow::Result<()> {
        let config = self.member_config(&self.members[i]);
        let m = &self.members[i];
        let child = start_server(&format!("clickhouse-{}", m.label()), &m.dir, &self.logs, m.http, &config).await?;
        self.members[i].child = Some(child);
        Ok(())
    }

    /// SIGKILL member `i`: no flush, no goodbye.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            c.kill();
        }
    }

    /// A query on member `i`.
    pub async fn query(&self, i: usize, sql: &str) -> anyhow::Result<String> {
        query(&self.members[i].url(), sql).await
    }

    /// The same query on every member, in member order.
    pub async fn query_each(&self, sql: &str) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::with_capacity(self.members.len());
        for i in 0..self.members.len() {
            out.push(self.query(i, sql).await?);
        }
        Ok(out)
    }

    /// Stops every server, then ZooKeeper.
    pub fn stop(&mut self) {
        for m in &mut self.members {
            if let Some(mut c) = m.child.take() {
                c.stop();
            }
        }
        self.zookeeper.stop();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}
