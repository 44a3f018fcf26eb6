//! `mintmark-config`: check a config and derive the edge's deployment files.

use anyhow::Context;
use clap::{Parser, Subcommand};
use mintmark_config::{wrangler_toml, Config, ConfigArg};

#[derive(Parser)]
#[command(name = "mintmark-config", about = "Check the mintmark config and derive the edge worker's deployment files")]
struct Cli {
    #[command(flatten)]
    config: ConfigArg,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load the config (secrets file and environment included) and report.
    Check,
    /// Print wrangler.toml for the edge worker.
    Wrangler {
        /// Bundle entry, relative to where wrangler.toml will live.
        #[arg(long, default_value = "../target/dist/edge/shim.mjs")]
        main: String,
    },
    /// Print the worker secrets as NAME=value lines (pipe into `wrangler secret put`).
    Secrets,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let load = match cli.command {
        Command::Wrangler { .. } => Config::load_public,
        _ => Config::load,
    };
    let config = load(&cli.config.path).with_context(|| format!("loading {}", cli.config.path.display()))?;
    match cli.command {
        Command::Check => {
            let scope = config.scope();
            println!("config ok: store {:?} under {:?}", scope.origins, scope.path_prefixes);
            println!("edge signing keys: {:?}", config.edge_signing_keys()?.ids().collect::<Vec<_>>());
            println!("consent keys: {:?}", config.consent_keys()?.ids().collect::<Vec<_>>());
        }
        Command::Wrangler { main } => print!("{}", wrangler_toml(&config, &main)?),
        Command::Secrets => {
            for (name, value) in config.edge_secrets()? {
                println!("{name}={value}");
            }
        }
    }
    Ok(())
}
