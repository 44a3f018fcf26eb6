//! Wires config, schema, source, spool, writer and sink into a running
//! server, and shuts it down in order: stop accepting, drain the spool into
//! ClickHouse (bounded by a grace period), exit.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use mintmark_config::Config;
use mintmark_protocol::limits::{MAX_BUNDLE_BYTES, MAX_EDGE_BYTES};
use tokio::sync::watch;

pub use crate::app::{App, Shared};
use crate::consent::{self, ConsentApi};
use crate::ops;
use crate::enrich::{EnrichConfig, Enricher};
use crate::ingest::{self, Ingest};
use crate::revocations::RevocationStore;
use crate::backend::BackendKeys;
use crate::metrics::Metrics;
use crate::orders::{self, api::OrderFeed, writer::OrderSink};
use crate::pseudonym::Pseudonyms;
use crate::replay::ReplayGuard;
use mintmark_schema::{self as schema, Databases};
use crate::sink::ClickHouseSink;
use crate::spool::{Spool, SpoolConfig};
use crate::writer::{self, WriterConfig};

const REPLAY_CAPACITY: usize = 1_000_000;



/// One route of the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
}

/// Every route, each with its own body limit: the router is built from
/// this list and nothing else, and the API test holds the OpenAPI
/// description ([`crate::openapi`]) to it.
fn routes() -> Vec<(Route, MethodRouter<Shared>)> {
    let route = |method, path| Route { method, path };
    let limit = DefaultBodyLimit::max;
    vec![
        // A bundle from the edge's queue consumer holds up to 100 batches.
        (route("POST", "/ingest"), post(ingest::ingest).layer(limit(MAX_BUNDLE_BYTES))),
        (route("POST", "/consent/opt-in"), post(consent::opt_in).layer(limit(MAX_EDGE_BYTES))),
        (route("POST", "/consent/opt-out"), post(consent::opt_out).layer(limit(MAX_EDGE_BYTES))),
        (route("POST", "/consent/erasure"), post(consent::erasure).layer(limit(MAX_EDGE_BYTES))),
        (route("POST", "/orders"), post(orders::api::post_orders).layer(limit(orders::api::MAX_BODY))),
        (route("GET", "/healthz"), get(ops::healthz)),
        (route("GET", "/readyz"), get(ops::readyz)),
        (route("GET", "/metrics"), get(ops::metrics)),
        (route("GET", "/api/openapi.json"), get(crate::openapi::serve)),
    ]
}

/// The routes, for the API test and the docs.
pub fn route_table() -> Vec<Route> {
    routes().into_iter().map(|(r, _)| r).collect()
}

pub fn router(app: Arc<App>) -> Router {
    routes().into_iter().fold(Router::new(), |router, (r, handler)| router.route(r.path, handler)).with_state(Shared(app))
}




pub async fn run(config: Config) -> anyhow::Result<()> {
    // Checked first: without it no row could be written.
    let ids = Pseudonyms::from_keys(&config.keys)?;
    let applied = schema::migrate(&config.clickhouse).await.context("applying migrations")?;
    if applied > 0 {
        tracing::info!(applied, "schema migrated");
    }
    let c = &config.collector;
    let dbs = Databases::new(&config.clickhouse.database_prefix)?;
    let client = schema::client(&config.clickhouse);
    // Rows from before the subject column get theirs before anything runs.
    match crate::purge::backfill::run(&client, &dbs, &mintmark_schema::Layout::new(&config.clickhouse.cluster)?, &ids).await {
        Ok(0) => {}
        Ok(filled) => tracing::info!(filled, "subjects filled in on older rows"),
        Err(e) => tracing::warn!(error = %e, "filling in subjects failed; the erasure job tries again before each erasure"),
    }
    let (spool, reader) = Spool::open(&SpoolConfig {
        dir: c.spool_dir.clone(),
        max_bytes: c.spool_max_mb * 1024 * 1024,
        segment_bytes: 64 * 1024 * 1024,
    })
    .with_context(|| format!("opening the spool in {}", c.spool_dir.display()))?;
    // Orders have a spool of their own beside the events': same durability,
    // a record type of their own, and a stalled one never blocks the other.
    let (order_spool, order_reader) = Spool::open(&SpoolConfig {
        dir: c.spool_dir.join("orders"),
        max_bytes: c.spool_max_mb * 1024 * 1024,
        segment_bytes: 16 * 1024 * 1024,
    })
    .with_context(|| format!("opening the order spool in {}", c.spool_dir.join("orders").display()))?;
    let metrics = Arc::new(Metrics::new());
    let (stop_tx, stop_rx) = watch::channel(false);
    let order_writer = tokio::spawn(orders::writer::run(
        order_reader,
        OrderSink::new(client.clone(), &dbs),
        ids.clone(),
        metrics.clone(),
        Duration::from_secs(c.shutdown_grace_secs),
        stop_rx.clone(),
    ));
    let enricher = Arc::new(Enricher::open(&enrich_config(&config)).context("loading enrichment data")?);
    let seals = crate::seal_keys::SealKeys::new(client.clone(), &dbs.ledger, ids.clone());
    let writer = tokio::spawn(writer::run(
        reader,
        ClickHouseSink::new(client.clone(), &dbs),
        enricher,
        ids.clone(),
        seals.clone(),
        WriterConfig {
            batch_rows: c.batch_rows,
            flush_interval: Duration::from_millis(c.flush_ms),
            shutdown_grace: Duration::from_secs(c.shutdown_grace_secs),
        },
        metrics.clone(),
        stop_rx,
    ));
    // Erasure requests in the ledger are carried out here, with evidence.
    let layout = mintmark_schema::Layout::new(&config.clickhouse.cluster)?;
    let holder = crate::purge::holder(c);
    let local = crate::purge::erasure::LocalSpools::new(&holder).with("events", spool.clone()).with("orders", order_spool.clone());
    let erasures = tokio::spawn(crate::purge::erasure::keep_erasing(client.clone(), dbs.clone(), layout.clone(), ids.clone(), local, Duration::from_secs(5), holder.clone()));
    // So is the retention schedule.
    let purges = tokio::spawn(crate::purge::retention::keep_purging(client.clone(), dbs.clone(), layout, config.retention.clone(), holder));
    let ingest = Arc::new(Ingest {
        signing: config.edge_signing_keys()?,
        window_secs: c.signature_window_secs,
        replay: ReplayGuard::new(c.signature_window_secs, REPLAY_CAPACITY),
        spool,
        metrics,
    });
    let backend_keys = BackendKeys::new(config.keys.backend.clone(), ingest.metrics.backend_refused.clone());
    let order_feed = Arc::new(OrderFeed { keys: backend_keys.clone(), spool: order_spool, metrics: ingest.metrics.clone() });
    let consent = Arc::new(ConsentApi {
        keys: config.consent_keys()?,
        api_keys: backend_keys.clone(),
        revocations: revocation_store(&config)?,
        clickhouse: client.clone(),
        ledger_table: format!("{}.consent_ledger", dbs.ledger),
        seals,
        ids: ids.clone(),
        token_days: c.consent_token_days,
        cookie_name: config.edge.consent_cookie.clone(),
        cookie_path: config.edge.cookie_path.clone(),
    });
    if consent.api_keys.is_empty() {
        tracing::warn!("no [keys] backend keys configured: the consent API and the order feed refuse every call");
    }
    let app = Arc::new(App { ingest, consent, orders: order_feed, clickhouse: client });
    let listener = tokio::net::TcpListener::bind(c.listen).await.with_context(|| format!("binding {}", c.listen))?;
    tracing::info!(addr = %listener.local_addr()?, spool = %c.spool_dir.display(), "collector listening");
    axum::serve(listener, router(app)).with_graceful_shutdown(mintmark_config::service::shutdown_signal()).await?;
    tracing::info!("no longer accepting; draining the spool");
    let _ = stop_tx.send(true);
    writer.await.context("writer task")?;
    order_writer.await.context("order writer task")?;
    erasures.abort();
    purges.abort();
    tracing::info!("collector stopped");
    Ok(())
}

pub fn enrich_config(config: &Config) -> EnrichConfig {
    let c = &config.collector;
    EnrichConfig {
        city_mmdb: c.geo_city_mmdb.clone(),
        asn_mmdb: c.geo_asn_mmdb.clone(),
        geo_disabled: c.geo_disabled,
        ua_regexes: c.ua_regexes.clone(),
    }
}

/// The directory for local runs, Workers KV through Cloudflare's API otherwise.
fn revocation_store(config: &Config) -> anyhow::Result<RevocationStore> {
    let c = &config.collector;
    if let Some(dir) = &c.revocations_dir {
        return Ok(RevocationStore::Directory(dir.clone()));
    }
    let kv = &config.edge.revocations_kv_id;
    let token = &config.keys.cloudflare_api_token;
    anyhow::ensure!(
        !kv.is_empty() && !c.cloudflare_account_id.is_empty() && !token.is_empty() && !kv.starts_with('<'),
        "opt-outs need somewhere to go: set collector.revocations_dir (local), or edge.revocations_kv_id, \
         collector.cloudflare_account_id and keys.cloudflare_api_token (Workers KV)"
    );
    Ok(RevocationStore::CloudflareKv {
        http: reqwest::Client::new(),
        api_base: c.cloudflare_api_base.trim_end_matches('/').to_string(),
        account_id: c.cloudflare_account_id.clone(),
        namespace_id: kv.clone(),
        api_token: token.clone(),
    })
}
