//! The dashboards service. For now a landing page that proves the path from
//! ClickHouse to an analyst's browser: it shows how many Tier 2 events are
//! stored. The Tier 2, Tier 3 and privacy views come with their own issues.

use std::sync::Arc;

use anyhow::Context;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use clap::Parser;
use mintmark_config::{Config, ConfigArg};

#[derive(Parser)]
#[command(name = "dashboards", version, about = "mintmark dashboards")]
struct Cli {
    #[command(flatten)]
    config: ConfigArg,
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
