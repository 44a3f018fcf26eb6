//! The whole system on one machine, really started.
//!
//! [`Stack::start`] brings up, in data-flow order, ClickHouse (own config and
//! data dir, loopback only), the collector (which applies migrations), the
//! dashboards, the edge worker in workerd and the demo store front. `make up`
//! runs it through the `devstack` binary; the end-to-end tests run the same
//! code with free ports and a throwaway state directory.
//!
//! Every child is killed when the [`Stack`] is dropped, and asks the kernel
//! to kill it if this process dies first, so no process outlives a run.

mod backend;
mod clickhouse;
pub mod cluster;
mod cluster_collectors;
mod cluster_stack;
mod demo;
mod demo_backend;
pub mod demo_state;
pub mod history;
mod layout;
mod local_config;
pub mod logins;
pub mod orders;
mod process;
mod workerd;
pub mod zookeeper;

pub use workerd::{queue_binding, start_edge, Edge, QueuePlatform};

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use mintmark_config::Config;

pub use backend::Backend;
pub use cluster::{Cluster, ClusterSpec};
pub use cluster_collectors::ClusterCollectors;
pub use cluster_stack::ClusterStack;
pub use layout::Layout;
pub use process::{free_port, wait_for_http, Supervised};

/// Ports of one stack.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub store: u16,
    pub edge: u16,
    pub collector: u16,
    pub dashboards: u16,
    pub clickhouse_http: u16,
    pub clickhouse_tcp: u16,
}

impl Ports {
    /// The fixed ports `make up` uses, so URLs stay the same between runs.
    pub fn well_known() -> Ports {
        Ports { store: 8080, edge: 8787, collector: 8091, dashboards: 8092, clickhouse_http: 8123, clickhouse_tcp: 9000 }
    }

    /// Free ports, for tests.
    pub fn free() -> anyhow::Result<Ports> {
        Ok(Ports {
            store: free_port()?,
            edge: free_port()?,
            collector: free_port()?,
            dashboards: free_port()?,
            clickhouse_http: free_port()?,
            clickhouse_tcp: free_port()?,
        })
    }
}

/// How to start a stack.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// Where config, secrets, ClickHouse data and logs live.
    pub state_dir: PathBuf,
    pub ports: Ports,
    /// Address the demo front reports as `CF-Connecting-IP` instead of the
    /// real peer (loopback), so tests can see truncation of a public address.
    pub client_ip: Option<IpAddr>,
}

/// URLs of a running stack.
#[derive(Debug, Clone)]
pub struct Urls {
    pub store: String,
    pub out_of_scope_page: String,
    pub edge: String,
    pub collector: String,
    pub dashboards: String,
    pub clickhouse: String,
}

/// A running system. Dropping it stops everything.
pub struct Stack {
    pub config: Config,
    pub urls: Urls,
    pub state_dir: PathBuf,
    demo: tokio::task::JoinHandle<()>,
    /// The edge worker; stopped first.
    pub edge: Option<Edge>,
    dashboards: Option<Supervised>,
    /// ClickHouse and the collector; stopped last.
    pub backend: Backend,
}

const START_TIMEOUT: Duration = Duration::from_secs(60);

impl Urls {
    fn new(store_addr: SocketAddr, edge: String, collector: String, dashboards: String, clickhouse: String) -> Urls {
        let store = format!("http://{store_addr}");
        Urls { out_of_scope_page: format!("{store}/about/"), store: format!("{store}/store/"), edge, collector, dashboards, clickhouse }
    }
}

/// Stops what faces the store and the analysts, first when a stack stops:
/// the demo front, the edge, the dashboards.
fn stop_front(demo: &tokio::task::JoinHandle<()>, edge: &mut Option<Edge>, dashboards: &mut Option<Supervised>) {
    demo.abort();
    if let Some(mut edge) = edge.take() {
        edge.child.stop();
    }
    if let Some(mut d) = dashboards.take() {
        d.stop();
    }
}

/// The dashboards on `config_path`, once they answer.
async fn start_dashboards(layout: &Layout, config_path: &std::path::Path, config: &Config, logs: &std::path::Path) -> anyhow::Result<(Supervised, String)> {
    let listen = config.dashboards.listen;
    let dashboards = start_dashboards_as(layout, config_path, logs, "dashboards", listen, None).await?;
    Ok((dashboards, format!("http://{listen}")))
}

/// A dashboards process on `config_path` listening on `listen`, logging to
/// `<name>.log`, once it answers. `writer` names its access-audit chain
/// (`dashboards.writer_id`), so several processes can serve at once beside
/// one another; the accounts database and all else are the config's.
pub async fn start_dashboards_as(
    layout: &Layout,
    config_path: &std::path::Path,
    logs: &std::path::Path,
    name: &str,
    listen: SocketAddr,
    writer: Option<&str>,
) -> anyhow::Result<Supervised> {
    let mut cmd = std::process::Command::new(layout.binary("dashboards"));
    cmd.arg("--config").arg(config_path).env("MINTMARK_DASHBOARDS__LISTEN", listen.to_string());
    if let Some(writer) = writer {
        cmd.env("MINTMARK_DASHBOARDS__WRITER_ID", writer);
    }
    let mut dashboards = Supervised::spawn(name, &mut cmd, logs)?;
    wait_for_http(&format!("http://{listen}/healthz"), START_TIMEOUT, Some(&mut dashboards)).await?;
    Ok(dashboards)
}

/// The demo store's front door on `port`, routing the beacon path to the
/// edge at `edge_url` and the store's account forms to the collector.
async fn serve_demo(layout: &Layout, config: &Config, port: u16, edge_url: &str, client_ip: Option<IpAddr>) -> anyhow::Result<(tokio::task::JoinHandle<()>, SocketAddr)> {
    let store_addr = SocketAddr::from(([127, 0, 0, 1], port));
    let demo = demo::serve(demo::DemoFront {
        addr: store_addr,
        site_dir: layout.demo_site(),
        tracker_dir: layout.tracker_dist(),
        edge_url: edge_url.to_string(),
        edge_prefix: format!("{}/", config.edge.beacon_path.rsplit_once('/').map(|(dir, _)| dir).unwrap_or("")),
        store_origin: format!("http://{store_addr}"),
        client_ip,
        backend: demo_backend::BackendApi {
            collector_url: format!("http://{}", config.collector.listen),
            // Only the store backend's keys: the demo backend holds no other secret.
            keys: mintmark_config::KeysSection { backend: config.keys.backend.clone(), ..Default::default() },
            consent_cookie: config.edge.consent_cookie.clone(),
        },
    })
    .await?;
    Ok((demo, store_addr))
}

impl Stack {
    /// SIGTERM the dashboards and wait: they write what they tallied first.
    pub fn stop_dashboards(&mut self) {
        if let Some(mut d) = self.dashboards.take() {
            d.stop();
        }
    }

    pub async fn start(opts: StackOptions) -> anyhow::Result<Stack> {
        let layout = Layout::discover()?;
        layout.check_built(&["collector", "dashboards", "edge", "beacon", "workerd"])?;
        let backend = Backend::start(&opts.state_dir, opts.ports).await?;
        let config = backend.config.clone();

        let (dashboards, dashboards_url) = start_dashboards(&layout, &backend.config_path, &config, &backend.dirs.logs).await?;

        let edge = start_edge(&backend.dirs.root, &config, opts.ports.edge).await?;
        let edge_url = edge.url.clone();

        let (demo, store_addr) = serve_demo(&layout, &config, opts.ports.store, &edge_url, opts.client_ip).await?;
        Ok(Stack {
            urls: Urls::new(store_addr, edge_url, backend.collector_url.clone(), dashboards_url, config.clickhouse.url.clone()),
            config,
            state_dir: opts.state_dir,
            demo,
            edge: Some(edge),
            dashboards: Some(dashboards),
            backend,
        })
    }

    /// Stops everything: demo front and edge first, then the rest in reverse order.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        stop_front(&self.demo, &mut self.edge, &mut self.dashboards);
        self.backend.stop();
    }

    /// Runs a query on this stack's ClickHouse and returns the raw body
    /// (for tests and diagnostics).
    pub async fn clickhouse_query(&self, sql: &str) -> anyhow::Result<String> {
        self.backend.query(sql).await
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.shutdown();
    }
}
