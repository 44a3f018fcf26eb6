//! Wires config, schema, source and sink into a running server.

use std::sync::Arc;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use mintmark_config::Config;
use mintmark_protocol::wire::MAX_EDGE_BYTES;

use crate::ingest::{self, Ingest};
use crate::schema::{self, Databases};
use crate::sink::ClickHouseSink;

pub fn router(app: Arc<Ingest>) -> Router {
    Router::new()
        .route("/ingest", post(ingest::ingest))
        .route("/healthz", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(MAX_EDGE_BYTES))
        .with_state(app)
}

pub async fn run(config: Config) -> anyhow::Result<()> {
    let applied = schema::migrate(&config.clickhouse).await.context("applying migrations")?;
    if applied > 0 {
        tracing::info!(applied, "schema migrated");
    }
    let dbs = Databases::new(&config.clickhouse.database_prefix)?;
    let app = Arc::new(Ingest {
        signing: config.edge_signing_keys()?,
        window_secs: config.collector.signature_window_secs,
        sink: ClickHouseSink::new(schema::client(&config.clickhouse), &dbs),
    });
    let listener = tokio::net::TcpListener::bind(config.collector.listen)
        .await
        .with_context(|| format!("binding {}", config.collector.listen))?;
    tracing::info!(addr = %listener.local_addr()?, "collector listening");
    axum::serve(listener, router(app)).with_graceful_shutdown(shutdown_signal()).await?;
    tracing::info!("collector stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
