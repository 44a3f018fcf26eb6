//! `devstack up`: the whole system locally, until Ctrl-C.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use devstack::{logins, Layout, Ports, Stack, StackOptions};

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
}

/// About 30 days of a small store.
const DEMO_EVENTS: u64 = 300_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_target(false).init();
    let Command::Up { state_dir } = Cli::parse().command;
    println!("starting mintmark (state in {}) ...", state_dir.display());
    let stack = Stack::start(StackOptions { state_dir, ports: Ports::well_known(), client_ip: None }).await?;
    let demo_logins = logins::ensure(&Layout::discover()?, &stack.state_dir, &stack.backend.config_path)?;
    println!("checking for demo history ...");
    if let Some(seeded) = devstack::history::seed_demo(&stack.config, DEMO_EVENTS).await? {
        println!("wrote 30 days of demo history: {} visits, {} events (synthetic; see README, \"Demo data\")", seeded.visits, seeded.t2_events);
    }
    if let Some(o) = devstack::orders::seed_demo_orders(&stack.config).await? {
        println!(
            "wrote a year of demo orders: {} orders, {} customers opted in; {} identified, {} de-identified, {} marketplace rows",
            o.orders, o.opted_in, o.rows[0], o.rows[1], o.rows[2]
        );
    }
    let u = &stack.urls;
    println!();
    println!("  demo store        {}", u.store);
    println!("  outside the store {}   (the beacon sends nothing here)", u.out_of_scope_page);
    println!("  dashboards        {}   demo logins (user password, also in {}/{}):", u.dashboards, stack.state_dir.display(), logins::LOGINS_FILE);
    for line in &demo_logins {
        println!("                      {line}");
    }
    println!("  collector         {}   (/healthz, POST /ingest, POST /consent/*, POST /orders)", u.collector);
    println!("  edge (workerd)    {}   (routed at the store's /store/_mm/ path)", u.edge);
    println!("  clickhouse        {}   (databases t2, t3, ledger)", u.clickhouse);
    println!();
    println!("  config  {}/mintmark.toml   secrets {}/secrets.toml", stack.state_dir.display(), stack.state_dir.display());
    println!("  logs    {}/logs/", stack.state_dir.display());
    println!();
    println!("Ctrl-C stops everything.");
    devstack_wait().await;
    println!("stopping ...");
    stack.stop();
    println!("stopped.");
    Ok(())
}

async fn devstack_wait() {
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = term => {} }
}
