//! `devstack up` / `devstack up-cluster`: the whole system locally, on one
//! ClickHouse server or on a local cluster, until Ctrl-C.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use devstack::{logins, ClusterStack, Ports, Stack, StackOptions, Urls};

#[derive(Parser)]
#[command(name = "devstack", about = "Run mintmark locally: ClickHouse, collector, edge (workerd), dashboards, demo store")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start everything and wait for Ctrl-C.
    Up {
        /// Config, secrets, ClickHouse data and logs. Reused between runs.
        #[arg(long, default_value = ".dev")]
        state_dir: PathBuf,
    },
    /// The same on a local cluster: ZooKeeper, 2 shards × 2 replicas of
    /// ClickHouse, two collectors (the edge fails over between them), the
    /// dashboards on the cluster; until Ctrl-C.
    UpCluster {
        #[arg(long, default_value = ".dev-cluster")]
        state_dir: PathBuf,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_target(false).init();
    match Cli::parse().command {
        Command::Up { state_dir } => {
            println!("starting mintmark (state in {}) ...", state_dir.display());
            let stack = Stack::start(StackOptions { state_dir, ports: Ports::well_known(), client_ip: None }).await?;
            let logins = devstack::demo_state::ensure(&stack.config, &stack.state_dir, &stack.backend.config_path).await?;
            print_urls(&stack.urls, &stack.state_dir, &logins, "(databases t2, t3, ledger)", &[]);
            devstack_wait().await;
            println!("stopping ...");
            stack.stop();
        }
        Command::UpCluster { state_dir } => {
            println!("starting mintmark on a local cluster (state in {}) ...", state_dir.display());
            let stack = ClusterStack::start(state_dir, Ports::well_known()).await?;
            let logins = devstack::demo_state::ensure(&stack.config, &stack.state_dir, &stack.config_path).await?;
            let zookeeper = format!("  zookeeper         127.0.0.1:{}", stack.cluster.zookeeper.port);
            print_urls(&stack.urls, &stack.state_dir, &logins, "(shard 1: first two, shard 2: last two)", &[zookeeper]);
            devstack_wait().await;
            println!("stopping ...");
            stack.stop();
        }
    }
    println!("stopped.");
    Ok(())
}

fn print_urls(u: &Urls, state_dir: &Path, demo_logins: &[String], clickhouse_note: &str, more: &[String]) {
    println!();
    println!("  demo store        {}", u.store);
    println!("  outside the store {}   (the beacon sends nothing here)", u.out_of_scope_page);
    println!("  dashboards        {}   demo logins (user password, also in {}/{}):", u.dashboards, state_dir.display(), logins::LOGINS_FILE);
    for line in demo_logins {
        println!("                      {line}");
    }
    println!("  collector         {}   (/healthz, POST /ingest, POST /consent/*, POST /orders)", u.collector);
    println!("  edge (workerd)    {}   (routed at the store's /store/_mm/ path)", u.edge);
    println!("  clickhouse        {}   {clickhouse_note}", u.clickhouse);
    for line in more {
        println!("{line}");
    }
    println!();
    println!("  config  {}/mintmark.toml   secrets {}/secrets.toml", state_dir.display(), state_dir.display());
    println!("  logs    {}/logs/", state_dir.display());
    println!();
    println!("Ctrl-C stops everything.");
}

async fn devstack_wait() {
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = term => {} }
}
