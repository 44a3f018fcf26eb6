//! The dashboards service and its user management.
//!
//! `dashboards [serve]` runs the service: for now a landing page that proves
//! the path from ClickHouse to an analyst's browser (how many Tier 2 events
//! are stored); the views come on top of the accounts foundation.
//! `dashboards user add|list|disable|enable|set-password|set-roles` manages
//! who may log in, in the accounts database under `dashboards.data_dir`.

use std::sync::Arc;

use anyhow::Context;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use axum::Router;
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

struct App {
    config: Config,
    http: reqwest::Client,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_target(false).init();
    let cli = Cli::parse();
    let config = cli.config.load().with_context(|| format!("loading {}", cli.config.path.display()))?;
    if let Some(Command::User(cmd)) = cli.command {
        return manage_users(&config, cmd);
    }
    let listen = config.dashboards.listen;
    let app = Arc::new(App { config, http: reqwest::Client::new() });
    let router = Router::new().route("/", get(index)).route("/healthz", get(|| async { "ok" })).with_state(app);
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("binding {listen}"))?;
    tracing::info!(addr = %listener.local_addr()?, "dashboards listening");
    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

async fn t2_event_count(app: &App) -> anyhow::Result<String> {
    let ch = &app.config.clickhouse;
    let sql = format!("SELECT count() FROM {}t2.events", ch.database_prefix);
    let resp = app
        .http
        .post(&ch.url)
        .basic_auth(&ch.user, Some(&ch.password))
        .body(sql)
        .send()
        .await?
        .error_for_status()?;
    Ok(resp.text().await?.trim().to_string())
}

async fn index(State(app): State<Arc<App>>) -> Html<String> {
    let count = match t2_event_count(&app).await {
        Ok(n) => format!("<strong>{n}</strong> Tier 2 events stored."),
        Err(e) => format!("ClickHouse is not reachable: {}", html_escape(&e.to_string())),
    };
    Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>mintmark dashboards</title></head>\
         <body style=\"font:16px system-ui;max-width:40rem;margin:2rem auto\"><h1>mintmark</h1><p>{count}</p>\
         <p>The Tier 2, Tier 3 and privacy views are not built yet.</p></body></html>"
    ))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
