//! Structured logs through `tracing`: human-readable by default, one JSON
//! object per line with `MINTMARK_LOG_FORMAT=json`; level from `RUST_LOG`.
//! Nothing logged anywhere in the collector carries an IP address.

pub fn init() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let _ = if std::env::var("MINTMARK_LOG_FORMAT").as_deref() == Ok("json") { builder.json().try_init() } else { builder.try_init() };
}
