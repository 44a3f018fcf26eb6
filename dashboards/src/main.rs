//! The dashboards service and its user management.
//!
//! `dashboards [serve]` runs the service: for now a landing page that proves
//! the path from ClickHouse to an analyst's browser (how many Tier 2 events
//! are stored); the views come on top of the accounts foundation.
//! `dashboards user add|list|disable|enable|set-password|set-roles` manages
//! who may log in, in the accounts database under `dashboards.data_dir`;
//! `dashboards token …` their API tokens and `dashboards goal add|list` the
//! analysts' goals.

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
    /// Manage API tokens for `/api/v1/...`.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Manage the analysts' goals (also on /goals and /api/v1/goals).
    #[command(subcommand)]
    Goal(GoalCommand),
    /// Rebuild the visits rollup for every day whose events changed, once
    /// (the service does this every 30 seconds on its own).
    Rollup,
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

#[derive(Subcommand)]
enum GoalCommand {
    /// Add a goal, as made by the user `--by`.
    Add {
        name: String,
        /// pageview, event or purchase.
        #[arg(long)]
        kind: String,
        /// A pageview goal's path: exact, or with * (any but /) and ** (any).
        #[arg(long, default_value = "")]
        pattern: String,
        /// An event goal's custom event name.
        #[arg(long, default_value = "")]
        event: String,
        /// An event goal's property, `key=value`.
        #[arg(long, default_value = "")]
        property: String,
        /// A purchase goal's least value.
        #[arg(long, default_value = "")]
        min_value: String,
        #[arg(long)]
        by: String,
    },
    /// List the goals.
    List,
}

fn manage_goals(config: &Config, cmd: GoalCommand) -> anyhow::Result<()> {
    use dashboards::analyst::goals::GoalKind;
    let accounts = Accounts::open(&config.dashboards.data_dir)?;
    match cmd {
        GoalCommand::Add { name, kind, pattern, event, property, min_value, by } => {
            let (key, value) = property.split_once('=').unwrap_or((property.as_str(), ""));
            let kind = GoalKind::from_fields(&kind, &pattern, &event, key, value, &min_value)?;
            let user = accounts.get(&by)?.with_context(|| format!("no user named {by:?}"))?;
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
            let goal = accounts.add_goal(&name, &kind, user.id, now)??;
            println!("goal {}: {} ({})", goal.id, goal.name, goal.kind.definition());
        }
        GoalCommand::List => {
            for g in accounts.goals()? {
                println!("{}\t{}\t{}", g.id, g.name, g.kind.definition());
            }
        }
    }
    Ok(())
}

/// A password from the terminal without echo, or one line of stdin when
/// stdin is not a terminal (scripts, `make up`).
#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token for a user; prints it once.
    Create {
        name: String,
        #[arg(long, default_value = "API token")]
        label: String,
        /// `read` (the API the user's roles allow) or `recommendations`
        /// (only /api/v1/recommendations: for a store page or backend).
        #[arg(long, default_value = "read")]
        scope: String,
    },
    /// List a user's tokens (never the secret).
    List { name: String },
    /// Revoke one of a user's tokens by id.
    Revoke { name: String, id: i64 },
}

fn manage_tokens(config: &Config, cmd: TokenCommand) -> anyhow::Result<()> {
    let accounts = Accounts::open(&config.dashboards.data_dir)?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
    match cmd {
        TokenCommand::Create { name, label, scope } => {
            let scope = dashboards::tokens::TokenScope::parse(&scope)?;
            let lifetime = i64::from(config.dashboards.token_days) * 86_400;
            let (info, secret) = accounts.create_token(&name, &label, scope, now, lifetime)?;
            eprintln!("token {} for {name} ({}, scope {}, expires {}); shown once:", info.id, info.label, scope.as_str(), info.expires_at);
            println!("{secret}");
        }
        TokenCommand::List { name } => {
            for t in accounts.tokens(&name)? {
                let used = t.last_used_at.map(|u| u.to_string()).unwrap_or_else(|| "never".into());
                println!("{}\t{}\t{}\tcreated {}\texpires {}\tlast used {used}", t.id, t.label, t.scope.as_str(), t.created_at, t.expires_at);
            }
        }
        TokenCommand::Revoke { name, id } => {
            anyhow::ensure!(accounts.revoke_token(&name, id)?, "{name} has no token {id}");
            println!("revoked token {id} of {name}");
        }
    }
    Ok(())
}

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
    match cli.command {
        Some(Command::User(cmd)) => return manage_users(&config, cmd),
        Some(Command::Token(cmd)) => return manage_tokens(&config, cmd),
        Some(Command::Goal(cmd)) => return manage_goals(&config, cmd),
        Some(Command::Rollup) => {
            let dbs = mintmark_schema::Databases::new(&config.clickhouse.database_prefix)?;
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
            let raw_from = config.retention.cutoff_day("t2_events", now).unwrap_or(0);
            let r = dashboards::rollup::run_kept(&mintmark_schema::client(&config.clickhouse), &dbs.t2, raw_from).await?;
            println!("rebuilt {} days in {:.1} s", r.days.len(), r.secs);
            return Ok(());
        }
        Some(Command::Serve) | None => {}
    }
    let dir = &config.dashboards.data_dir;
    let accounts = Accounts::open(dir).with_context(|| format!("opening the accounts in {}", dir.display()))?;
    dashboards::web::serve(Arc::new(dashboards::web::App::new(config, accounts)?)).await
}
