//! The dashboards service and its user management.
//!
//! `dashboards [serve]` runs the service: for now a landing page that proves
//! the path from ClickHouse to an analyst's browser (how many Tier 2 events
//! are stored); the views come on top of the accounts foundation.
//! `dashboards user add|list|disable|enable|set-password|set-roles` manages
//! who may log in, in the accounts database under `dashboards.data_dir`.

use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use dashboards::accounts::Accounts;
use dashboards::roles::Roles;
use mintmark_config::{Config, ConfigArg};

#[derive(Parser)]
#[command(name = "dashboards", version, about = "mintmark dashboards")]
struct Cli {
    #[command(flatten)]
    config: ConfigArg,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the dashboards (the default).
    Serve,
    /// Manage who may log in.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; the password is read from the terminal (or one line of stdin).
    Add {
        name: String,
        /// Comma-separated: analyst, marketing, privacy_officer, admin.
        #[arg(long)]
        roles: Roles,
    },
    /// List users, their roles and whether they are disabled.
    List,
    /// Stop a user logging in; ends their sessions at once.
    Disable { name: String },
    Enable { name: String },
    /// Set a new password (read like `add`); ends the user's sessions.
    SetPassword { name: String },
    /// Replace a user's roles.
    SetRoles {
        name: String,
        #[arg(long)]
        roles: Roles,
    },
}

/// A password from the terminal without echo, or one line of stdin when
/// stdin is not a terminal (scripts, `make up`).
fn read_password(prompt: &str) -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal};
    if std::io::stdin().is_terminal() {
        return Ok(rpassword::prompt_password(prompt)?);
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn manage_users(config: &Config, cmd: UserCommand) -> anyhow::Result<()> {
    let dir = &config.dashboards.data_dir;
    let accounts = Accounts::open(dir).with_context(|| format!("opening the accounts in {}", dir.display()))?;
    match cmd {
        UserCommand::Add { name, roles } => {
            let user = accounts.add_user(&name, &read_password("password: ")?, roles)?;
            println!("added {} ({})", user.name, user.roles);
        }
        UserCommand::List => {
            for u in accounts.list()? {
                println!("{}\t{}\t{}", u.name, u.roles, if u.disabled { "disabled" } else { "active" });
            }
        }
        UserCommand::Disable { name } => {
            accounts.set_disabled(&name, true)?;
            println!("disabled {name}; their sessions are ended");
        }
        UserCommand::Enable { name } => {
            accounts.set_disabled(&name, false)?;
            println!("enabled {name}");
        }
        UserCommand::SetPassword { name } => {
            accounts.set_password(&name, &read_password("new password: ")?)?;
            println!("password of {name} changed; their sessions are ended");
        }
        UserCommand::SetRoles { name, roles } => {
            accounts.set_roles(&name, roles)?;
            println!("{name} now has {roles}");
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_target(false).init();
    let cli = Cli::parse();
    let config = cli.config.load().with_context(|| format!("loading {}", cli.config.path.display()))?;
    if let Some(Command::User(cmd)) = cli.command {
        return manage_users(&config, cmd);
    }
    let dir = &config.dashboards.data_dir;
    let accounts = Accounts::open(dir).with_context(|| format!("opening the accounts in {}", dir.display()))?;
    dashboards::web::serve(Arc::new(dashboards::web::App::new(config, accounts)?)).await
}
