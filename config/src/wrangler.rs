//! `wrangler.toml` for deploying the edge, generated from the one config so
//! the two cannot drift (a test compares the committed file with what the
//! example config generates).
//!
//! Routes are limited to the beacon's directory under the store path on
//! each store host: the worker sees beacon requests and nothing else of the
//! store, and the browser still sends the store's cookies to it. Secrets are
//! never written here; the file says which `wrangler secret put` to run.

use mintmark_protocol::settings::{
    KV_REVOCATIONS, QUEUE_DEAD_LETTERS, QUEUE_DELIVERY, SECRET_CONSENT_KEYS, SECRET_EDGE_SIGNING_KEYS, SECRET_METRICS_TOKEN, VAR_EDGE_CONFIG,
};

use crate::{Config, ConfigError};

/// Compatibility date the worker is tested against (devstack uses the same).
pub const COMPATIBILITY_DATE: &str = "2025-09-01";

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// `main` is the bundle entry relative to where the file is written
/// (`edge-worker/wrangler.toml` → `../target/dist/edge/shim.mjs`).
pub fn wrangler_toml(config: &Config, main: &str) -> Result<String, ConfigError> {
    let e = &config.edge;
    if e.revocations_kv_id.trim().is_empty() {
        return Err(ConfigError::Check(
            "edge.revocations_kv_id is empty: create the namespace with `wrangler kv namespace create REVOCATIONS` and put its id there".into(),
        ));
    }
    if e.zone_name.trim().is_empty() {
        return Err(ConfigError::Check(
            "edge.zone_name is empty: name the Cloudflare zone the store's hosts are in (e.g. \"example.gov\"); every route needs it".into(),
        ));
    }
    let dir = e.beacon_path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    let mut routes = Vec::new();
    for origin in &config.store.origins {
        let host = mintmark_protocol::scope::split_url(origin)
            .and_then(|p| p.origin.split_once("://").map(|(_, h)| h.split(':').next().unwrap_or(h).to_string()))
            .ok_or_else(|| ConfigError::Check(format!("store origin {origin:?} is not a URL")))?;
        routes.push(format!("  {{ pattern = {}, zone_name = {} }},", toml_string(&format!("{host}{dir}/*")), toml_string(&e.zone_name)));
    }
    let settings = serde_json::to_string(&config.edge_settings()).expect("settings serialize");
    Ok(format!(
        r#"# Generated from the mintmark config by `mintmark-config wrangler`. Do not edit:
# change the config and regenerate. Build the bundle first (`make build-edge`).
#
# Secrets are not in this file. Set them once per deployment:
#   wrangler secret put {SECRET_EDGE_SIGNING_KEYS}   # id:hex,id:hex  (first signs)
#   wrangler secret put {SECRET_CONSENT_KEYS}         # id:hex,id:hex  (all verify)
#   wrangler secret put {SECRET_METRICS_TOKEN}   # optional
# `mintmark-config secrets --config <file>` prints their values from your config.
#
# The two queues must exist once per account:
#   wrangler queues create {queue}
#   wrangler queues create {dlq}
name = {name}
main = {main}
compatibility_date = "{COMPATIBILITY_DATE}"
workers_dev = false

# Only the beacon's path, on the store's own hosts.
routes = [
{routes}
]

[vars]
{VAR_EDGE_CONFIG} = {settings}

# Consent revocations, written by the collector's opt-out API.
[[kv_namespaces]]
binding = "{KV_REVOCATIONS}"
id = {kv}

# Delivery: the worker answers the browser once a batch is in this queue,
# and its own queue consumer signs and forwards batches to the collector.
[[queues.producers]]
binding = "{QUEUE_DELIVERY}"
queue = {queue}

# Batches the collector refused (4xx), sent here by the consumer.
[[queues.producers]]
binding = "{QUEUE_DEAD_LETTERS}"
queue = {dlq}

[[queues.consumers]]
queue = {queue}
max_batch_size = {batch}
max_batch_timeout = {timeout}
max_retries = {retries}
dead_letter_queue = {dlq}

[observability]
enabled = true
"#,
        queue = toml_string(&e.delivery.queue),
        dlq = toml_string(&e.delivery.dead_letter_queue),
        batch = e.delivery.max_batch_size,
        timeout = e.delivery.max_batch_timeout_secs,
        retries = e.delivery.max_retries,
        name = toml_string(&e.worker_name),
        main = toml_string(main),
        routes = routes.join("\n"),
        settings = toml_string(&settings),
        kv = toml_string(&e.revocations_kv_id),
    ))
}
