//! `collector`: the process operators run.
//!
//! `collector serve` ingests signed edge batches; `collector migrate` brings
//! the ClickHouse schema up to date. Both read the one TOML config.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use mintmark_config::Config;

#[derive(Parser)]
#[command(name = "collector", version, about = "mintmark collector: verified ingest into ClickHouse")]
struct Cli {
    /// The mintmark TOML config.
    #[arg(long, env = "MINTMARK_CONFIG", default_value = "mintmark.toml", global = true)]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the ingest endpoint (applies pending migrations first).
    Serve,
    /// Apply pending schema migrations and exit.
    Migrate,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    collector::telemetry::init();
    let cli = Cli::parse();
    let config = Config::load(&cli.config).with_context(|| format!("loading {}", cli.config.display()))?;
    match cli.command {
        Command::Migrate => {
            let applied = collector::schema::migrate(&config.clickhouse).await?;
            println!("schema up to date ({applied} migration(s) applied)");
            Ok(())
        }
        Command::Serve => collector::server::run(config).await,
    }
}
