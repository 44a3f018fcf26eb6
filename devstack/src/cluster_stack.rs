//! `make up-cluster`: the whole system on a local cluster. ZooKeeper and
//! 2 shards × 2 replicas of ClickHouse ([`Cluster`]), two collectors
//! ([`ClusterCollectors`]), the edge failing over from the first collector
//! to the second, two dashboards processes on the cluster (each writing its
//! own access-audit chain), and the demo store. The
//! same parts the cluster tests start, put together.

use std::path::PathBuf;

use anyhow::Context;
use mintmark_config::Config;

use crate::cluster::{Cluster, ClusterSpec};
use crate::cluster_collectors::ClusterCollectors;
use crate::local_config::{self, Scale, StateDirs};
use crate::{serve_demo, start_dashboards, start_dashboards_as, start_edge, stop_front, Edge, Layout, Ports, Supervised, Urls};

/// A running system on a cluster. Dropping it stops everything.
pub struct ClusterStack {
    pub config: Config,
    pub config_path: PathBuf,
    pub urls: Urls,
    pub state_dir: PathBuf,
    demo: tokio::task::JoinHandle<()>,
    edge: Option<Edge>,
    dashboards: Option<Supervised>,
    /// A second dashboards process beside the first, writing its own
    /// access-audit chain: several can serve at once.
    second_dashboards: Option<Supervised>,
    pub collectors: ClusterCollectors,
    pub cluster: Cluster,
}

impl ClusterStack {
    /// Starts everything under `state_dir`; the store, edge and dashboards
    /// take their ports from `ports`, the cluster and collectors free ones.
    pub async fn start(state_dir: PathBuf, ports: Ports) -> anyhow::Result<ClusterStack> {
        ClusterStack::start_as(state_dir, ports, None).await
    }

    /// The same, the demo front reporting `client_ip` as the visitors'
    /// address (as [`crate::StackOptions::client_ip`]).
    pub async fn start_as(state_dir: PathBuf, ports: Ports, client_ip: Option<std::net::IpAddr>) -> anyhow::Result<ClusterStack> {
        let layout = Layout::discover()?;
        layout.check_built(&["collector", "dashboards", "edge", "beacon", "workerd"])?;
        let dirs = StateDirs::create(&state_dir)?;
        let cluster = Cluster::start(&dirs.root.join("cluster"), &ClusterSpec::default()).await?;
        let collectors = ClusterCollectors::start(&dirs.root, &cluster, 2).await?;
        let port_of = |url: &str| url.rsplit(':').next().and_then(|p| p.parse::<u16>().ok()).context("a collector URL without a port");
        let front = Ports {
            collector: port_of(&collectors.urls[0])?,
            clickhouse_http: cluster.members[0].http,
            clickhouse_tcp: cluster.members[0].tcp,
            ..ports
        };
        // The edge's and the dashboards' config: the first collector, the
        // second as the edge's failover, the cluster's first server.
        let scale = Scale { cluster: cluster.name.clone(), failover_urls: collectors.urls[1..].iter().map(|u| format!("{u}/ingest")).collect() };
        let config_path = local_config::ensure(&dirs, &front, &layout.root, &scale)?;
        let config = Config::load(&config_path).with_context(|| format!("loading {}", config_path.display()))?;
        let (dashboards, dashboards_url) = start_dashboards(&layout, &config_path, &config, &dirs.logs).await?;
        let second_listen = std::net::SocketAddr::from(([127, 0, 0, 1], crate::free_port()?));
        let second_dashboards = start_dashboards_as(&layout, &config_path, &dirs.logs, "dashboards-2", second_listen, Some("dashboards-2")).await?;
        let dashboards_url = format!("{dashboards_url} http://{second_listen}");
        let edge = start_edge(&dirs.root, &config, ports.edge).await?;
        let (demo, store_addr) = serve_demo(&layout, &config, ports.store, &edge.url, client_ip).await?;
        Ok(ClusterStack {
            urls: Urls::new(store_addr, edge.url.clone(), collectors.urls.join(" "), dashboards_url, cluster.members.iter().map(|m| m.url()).collect::<Vec<_>>().join(" ")),
            config,
            config_path,
            state_dir,
            demo,
            edge: Some(edge),
            dashboards: Some(dashboards),
            second_dashboards: Some(second_dashboards),
            collectors,
            cluster,
        })
    }

    /// Stops everything, front first, ZooKeeper last.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        stop_front(&self.demo, &mut self.edge, &mut self.dashboards);
        if let Some(mut d) = self.second_dashboards.take() {
            d.stop();
        }
        self.collectors.stop();
        self.cluster.stop();
    }
}

impl Drop for ClusterStack {
    fn drop(&mut self) {
        self.shutdown();
    }
}
