//! `collector`: the process operators run.
//!
//! `collector serve` ingests signed edge batches; `collector migrate` brings
//! the ClickHouse schema up to date. Both read the one TOML config.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use mintmark_config::{Config, ConfigArg};

// The ingest path allocates many small strings per batch; mimalloc cut the
// collector's CPU per event noticeably against glibc malloc (the manual, "Benchmarks").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "collector", version, about = "mintmark collector: verified ingest into ClickHouse")]
struct Cli {
    #[command(flatten)]
    config: ConfigArg,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the ingest endpoint (applies pending migrations first).
    Serve,
    /// Apply pending schema migrations and exit.
    Migrate,
    /// Purge what is past its retention (`[retention]`) and write the
    /// evidence to the purge log, as the collector's schedule does.
    Purge {
        /// Show what is due, remove nothing, log nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Debug enrichment: JSON lines `{"ip":..,"ua":..}` on stdin, JSON lines
    /// with `country`, `region`, `network`, `os`, `browser`, `device` on stdout.
    /// Uses the configured databases unless given here; the config file is
    /// optional when all are given.
    Enrich {
        #[arg(long)]
        city: Option<PathBuf>,
        #[arg(long)]
        asn: Option<PathBuf>,
        #[arg(long)]
        ua_regexes: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    collector::telemetry::init();
    let cli = Cli::parse();
    if let Command::Enrich { city, asn, ua_regexes } = cli.command {
        let mut cfg = if cli.config.path.exists() {
            let config = Config::load_public(&cli.config.path).with_context(|| format!("loading {}", cli.config.path.display()))?;
            collector::server::enrich_config(&config)
        } else {
            collector::enrich::EnrichConfig::default()
        };
        cfg.city_mmdb = city.or(cfg.city_mmdb);
        cfg.asn_mmdb = asn.or(cfg.asn_mmdb);
        cfg.ua_regexes = ua_regexes.or(cfg.ua_regexes);
        return collector::enrich::debug_lines(&cfg, std::io::stdin().lock(), std::io::stdout().lock());
    }
    let config = cli.config.load().with_context(|| format!("loading {}", cli.config.path.display()))?;
    match cli.command {
        Command::Migrate => {
            let applied = mintmark_schema::migrate(&config.clickhouse).await?;
            println!("schema up to date ({applied} migration(s) applied)");
            Ok(())
        }
        Command::Serve => collector::server::run(config).await,
        Command::Purge { dry_run } => {
            mintmark_schema::migrate(&config.clickhouse).await?;
            let dbs = mintmark_schema::Databases::new(&config.clickhouse.database_prefix)?;
            let client = mintmark_schema::client(&config.clickhouse);
            let who = format!("collector purge (by {})", std::env::var("USER").unwrap_or_else(|_| "an operator".into()));
            let layout = mintmark_schema::Layout::new(&config.clickhouse.cluster)?;
            // The collectors' own purges wait meanwhile (a dry run changes nothing).
            let lock = collector::purge::purge_lock(&dbs, &layout, "");
            if !dry_run {
                lock.take(&client).await?;
            }
            let reports = collector::purge::retention::run(&client, &dbs, &layout, &config.retention, &who, dry_run).await;
            if !dry_run {
                lock.release(&client).await?;
            }
            let reports = reports?;
            println!("{:<16} {:>6} {:<10} {:>10} {:>10}", "dataset", "days", "cutoff", if dry_run { "due" } else { "removed" }, "left");
            for r in &reports {
                let removed = if dry_run { r.rows_due } else { r.rows_due - r.rows_left };
                println!("{:<16} {:>6} {:<10} {:>10} {:>10}", r.dataset, r.retention_days, r.cutoff, removed, r.rows_left);
                for s in &r.statements {
                    println!("    {}{s}", if dry_run { "would run: " } else { "" });
                }
            }
            if dry_run {
                println!("dry run: nothing was removed and nothing was logged");
            } else {
                println!("evidence written to {}.purge_log", dbs.ledger);
            }
            Ok(())
        }
        Command::Enrich { .. } => unreachable!("handled above"),
    }
}
