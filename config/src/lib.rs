//! The one configuration file.
//!
//! Every component reads the same TOML file (`config/mintmark.example.toml`
//! documents each key). Values are layered, last wins:
//!
//! 1. the file given by `--config` / `MINTMARK_CONFIG`;
//! 2. the secrets file it names in `secrets_file` (relative to it), which
//!    holds the `[keys]` section and is never committed;
//! 3. environment variables `MINTMARK_<SECTION>__<KEY>`, e.g.
//!    `MINTMARK_COLLECTOR__LISTEN=127.0.0.1:9000`.
//!
//! The edge worker cannot read files; [`Config::edge_settings`] and
//! [`Config::edge_secrets`] turn this config into its vars and secrets.
//! [`service`] holds what every service shares beyond its config: the
//! signals that stop it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use mintmark_protocol::keys::{KeyError, KeyRing};
use mintmark_protocol::scope::StoreScope;
use mintmark_protocol::settings::{DeliverySettings, EdgeSettings};
use serde::{Deserialize, Serialize};

mod secrets;
pub mod service;
pub mod wrangler;
pub use secrets::{ensure_secrets_file, generate_secrets_toml};
pub use wrangler::wrangler_toml;

/// The `--config` argument every binary takes (`MINTMARK_CONFIG` works too).
#[derive(Debug, Clone, clap::Args)]
pub struct ConfigArg {
    /// The mintmark TOML config.
    #[arg(long = "config", env = "MINTMARK_CONFIG", default_value = "mintmark.toml", global = true)]
    pub path: PathBuf,
}

impl ConfigArg {
    /// Loads it with its secrets file and the environment, naming the file on error.
    pub fn load(&self) -> Result<Config, ConfigError> {
        Config::load(&self.path)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config is invalid: {0}")]
    Invalid(#[from] Box<figment::Error>),
    #[error("config: {0}")]
    Check(String),
    #[error("config [keys]: {0}")]
    Keys(#[from] KeyError),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Secrets file layered over this one, relative to this file.
    #[serde(default)]
    pub secrets_file: Option<PathBuf>,
    pub store: StoreSection,
    #[serde(default)]
    pub edge: EdgeSection,
    #[serde(default)]
    pub collector: CollectorSection,
    #[serde(default)]
    pub clickhouse: ClickHouseSection,
    #[serde(default)]
    pub dashboards: DashboardsSection,
    #[serde(default)]
    pub retention: RetentionSection,
    #[serde(default)]
    pub release: ReleaseSection,
    #[serde(default)]
    pub keys: KeysSection,
    #[serde(default)]
    pub smtp: SmtpSection,
    #[serde(default)]
    pub notify: NotifySection,
}

/// The mail server scheduled reports and alerts are sent through. No
/// host: no e-mail (webhooks still work).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpSection {
    pub host: String,
    pub port: u16,
    /// `starttls` (upgrade on the submission port), `tls` (implicit, 465)
    /// or `none` (plain: loopback relays and tests only).
    pub security: String,
    pub username: String,
    /// Keep it in the secrets file or `MINTMARK_SMTP__PASSWORD`.
    pub password: String,
    /// The sender, e.g. `mintmark <analytics@store.example>`.
    pub from: String,
}

impl Default for SmtpSection {
    fn default() -> Self {
        SmtpSection { host: String::new(), port: 587, security: "starttls".into(), username: String::new(), password: String::new(), from: "mintmark <mintmark@localhost>".into() }
    }
}

/// How often the dashboards check for reports due and evaluate alerts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifySection {
    pub reports_every_secs: u64,
    pub alerts_every_secs: u64,
    /// Where links in reports and alerts point: the dashboards' address
    /// as users reach it. Empty: `http://<dashboards.listen>`.
    pub base_url: String,
}

impl Default for NotifySection {
    fn default() -> Self {
        NotifySection { reports_every_secs: 300, alerts_every_secs: 60, base_url: String::new() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// `scheme://host[:port]` of the store.
    pub origins: Vec<String>,
    /// Path prefixes that are the store, e.g. `/store`.
    pub path_prefixes: Vec<String>,
    /// The store's name, as the public notice says it.
    #[serde(default = "default_store_name")]
    pub name: String,
    /// Who answers privacy questions and access requests (the notice shows it).
    #[serde(default)]
    pub privacy_contact: String,
}

fn default_store_name() -> String {
    "the online store".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EdgeSection {
    pub beacon_path: String,
    pub collector_url: String,
    /// More collectors, tried in order when the one before is away or busy.
    pub collector_failover_urls: Vec<String>,
    pub cookie_path: String,
    pub consent_cookie: String,
    pub session_cookie: String,
    pub visitor_cookie: String,
    pub session_idle_minutes: u64,
    pub visitor_max_age_days: u64,
    /// Beacon batches per minute from one truncated address, per isolate.
    pub rate_limit_per_minute: u32,
    /// Workers KV namespace id holding consent revocations (production).
    pub revocations_kv_id: String,
    /// Name of the deployed worker.
    pub worker_name: String,
    /// The Cloudflare zone the store's hosts are in (e.g. "example.gov"):
    /// each route names it, as the platform requires.
    pub zone_name: String,
    /// The durable queue between the edge and the collector.
    pub delivery: DeliverySection,
}

/// `[edge.delivery]`: the queue every accepted batch goes through. The
/// queue's settings are Cloudflare Queues' (written to `wrangler.toml`, and
/// to the local runtime's config by devstack); the retry schedule is the
/// worker's own (its `EDGE_CONFIG`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliverySection {
    /// Queue the edge sends every accepted batch to.
    pub queue: String,
    /// Queue of batches the collector refused (4xx) or that ran out of attempts.
    pub dead_letter_queue: String,
    /// Messages per consumer invocation (at most 100).
    pub max_batch_size: u32,
    /// Longest wait for a batch to fill, in seconds (at most 60).
    pub max_batch_timeout_secs: u32,
    /// Attempts after the first before the platform dead-letters a message (at most 100).
    pub max_retries: u32,
    /// First retry's delay; doubled on each further attempt.
    pub retry_base_secs: u32,
    /// Longest delay between two attempts.
    pub retry_max_secs: u32,
    /// Per-request limit on the collector's answer.
    pub timeout_ms: u32,
}

impl Default for DeliverySection {
    fn default() -> Self {
        DeliverySection {
            queue: "mintmark-delivery".into(),
            dead_letter_queue: "mintmark-dead-letters".into(),
            max_batch_size: 100,
            max_batch_timeout_secs: 1,
            max_retries: 100,
            retry_base_secs: 2,
            retry_max_secs: 300,
            timeout_ms: 10_000,
        }
    }
}

impl DeliverySection {
    /// How long the collector may be unreachable before a batch runs out of
    /// attempts: the sum of every retry delay.
    pub fn outage_covered_secs(&self) -> u64 {
        let d = self.settings();
        (1..=self.max_retries).map(|a| u64::from(d.retry_delay_secs(a))).sum()
    }

    /// The worker's part.
    pub fn settings(&self) -> DeliverySettings {
        DeliverySettings { retry_base_secs: self.retry_base_secs, retry_max_secs: self.retry_max_secs, timeout_ms: self.timeout_ms }
    }

    fn check(&self) -> Result<(), String> {
        let name_ok = |n: &str| !n.is_empty() && n.len() <= 63 && n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok(&self.queue) || !name_ok(&self.dead_letter_queue) || self.queue == self.dead_letter_queue {
            return Err("edge.delivery.queue and edge.delivery.dead_letter_queue must be two different names of lowercase letters, digits and '-'".into());
        }
        if !(1..=100).contains(&self.max_batch_size) || self.max_batch_timeout_secs > 60 || self.max_retries > 100 {
            return Err("edge.delivery: max_batch_size must be 1..=100, max_batch_timeout_secs at most 60 and max_retries at most 100 (Cloudflare Queues' limits)".into());
        }
        if self.retry_base_secs == 0 || self.retry_max_secs < self.retry_base_secs || self.retry_max_secs > 43_200 {
            return Err("edge.delivery: retry_base_secs must be positive and retry_max_secs between it and 43200 (12 h, the platform's longest delay)".into());
        }
        if self.timeout_ms < 100 {
            return Err("edge.delivery.timeout_ms must be at least 100".into());
        }
        Ok(())
    }
}

impl Default for EdgeSection {
    fn default() -> Self {
        EdgeSection {
            beacon_path: "/store/_mm/collect".into(),
            collector_url: "http://127.0.0.1:8091/ingest".into(),
            collector_failover_urls: Vec::new(),
            cookie_path: "/store".into(),
            consent_cookie: "mm_consent".into(),
            session_cookie: "mm_sid".into(),
            visitor_cookie: "mm_vid".into(),
            session_idle_minutes: 30,
            visitor_max_age_days: 365,
            rate_limit_per_minute: 120,
            revocations_kv_id: String::new(),
            worker_name: "mintmark-edge".into(),
            zone_name: String::new(),
            delivery: DeliverySection::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectorSection {
    pub listen: SocketAddr,
    /// Allowed distance between the edge's signing time and ours.
    pub signature_window_secs: u64,
    /// Write-ahead spool directory (relative paths are relative to the
    /// working directory). Must be on local disk.
    pub spool_dir: PathBuf,
    /// Unconfirmed spool size at which ingest answers 503.
    pub spool_max_mb: u64,
    /// Rows per ClickHouse insert, at most.
    pub batch_rows: usize,
    /// Longest a row waits in the writer before its batch is inserted.
    pub flush_ms: u64,
    /// How long shutdown waits for ClickHouse to take what is spooled.
    pub shutdown_grace_secs: u64,
    /// Lifetime of the consent tokens the opt-in API mints.
    pub consent_token_days: u64,
    /// Local runs: write opt-outs as files here (the edge's KV binding is
    /// served from the same directory). Production leaves it unset and
    /// writes to Workers KV (`edge.revocations_kv_id`) with the account below.
    pub revocations_dir: Option<PathBuf>,
    pub cloudflare_account_id: String,
    pub cloudflare_api_base: String,
    /// City database (.mmdb): MaxMind's nested layout or ip-location-db's flat one.
    pub geo_city_mmdb: Option<PathBuf>,
    /// ASN database (.mmdb) for the network name; optional.
    pub geo_asn_mmdb: Option<PathBuf>,
    /// Run without geo data (country, region and network stay empty).
    pub geo_disabled: bool,
    /// uap-core's `regexes.yaml`.
    pub ua_regexes: Option<PathBuf>,
}

impl Default for CollectorSection {
    fn default() -> Self {
        CollectorSection {
            listen: "127.0.0.1:8091".parse().unwrap(),
            signature_window_secs: 300,
            spool_dir: PathBuf::from("spool"),
            spool_max_mb: 1024,
            batch_rows: 100_000,
            flush_ms: 1000,
            shutdown_grace_secs: 20,
            consent_token_days: 365,
            revocations_dir: None,
            cloudflare_account_id: String::new(),
            cloudflare_api_base: "https://api.cloudflare.com/client/v4".into(),
            geo_city_mmdb: None,
            geo_asn_mmdb: None,
            geo_disabled: false,
            ua_regexes: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseSection {
    /// HTTP interface.
    pub url: String,
    pub user: String,
    pub password: String,
    /// Prefix for the project's databases (`t2`, `t3`, `ledger`): lets tests
    /// and several deployments share one server.
    pub database_prefix: String,
    /// The cluster's name in the servers' `remote_servers`; empty for a
    /// single server. With a name, tables are replicated and sharded and
    /// every migration runs `ON CLUSTER` (see the manual, "ClickHouse clustered").
    pub cluster: String,
}

impl Default for ClickHouseSection {
    fn default() -> Self {
        ClickHouseSection {
            url: "http://127.0.0.1:8123".into(),
            user: "default".into(),
            password: String::new(),
            database_prefix: String::new(),
            cluster: String::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DashboardsSection {
    pub listen: SocketAddr,
    /// Where the accounts database (users, sessions, API tokens) lives
    /// (relative paths are relative to the working directory).
    pub data_dir: PathBuf,
    /// A state or ZIP3 cell of the Tier 3 order-value views backed by fewer
    /// customers than this is folded into "other".
    pub min_group_customers: u32,
    /// Whether marketplace orders count in "bought together" (they never
    /// count as store customers anywhere).
    pub crosssell_marketplace: bool,
    /// A login session ends after this long without a request...
    pub session_idle_minutes: u64,
    /// ...and after this long in any case.
    pub session_max_hours: u64,
    /// The privacy invariant report runs this often (and its result is
    /// exported at `/metrics`).
    pub invariants_every_minutes: u64,
    /// API tokens expire this many days after they are made.
    pub token_days: u32,
    /// `Secure` on the session cookies (and `Strict-Transport-Security`).
    /// Unset: on, unless the service listens on loopback over plain http.
    /// Behind a TLS proxy on loopback, set it to true.
    pub secure_cookies: Option<bool>,
    /// Proxies (CIDRs, e.g. "10.0.0.0/8") whose `X-Forwarded-For` is
    /// believed, so login throttling counts clients, not the proxy.
    pub trusted_proxies: Vec<String>,
    /// Password verifications (Argon2id, 19 MiB each) running at once;
    /// further logins wait up to 10 s, then get a 503.
    pub max_concurrent_logins: u32,
    /// This process's name in the access audit: each dashboards process
    /// writes a hash chain of its own. Keep it stable across restarts and
    /// different for every process. Empty: `<hostname>:<listen port>`.
    pub writer_id: String,
    /// Who may create, edit and delete goals: `analyst` (every analyst)
    /// or `admin` (analysts read them; admins edit).
    pub goal_editors: String,
}

impl DashboardsSection {
    /// `trusted_proxies` parsed: each a CIDR, or one address.
    pub fn trusted_proxy_nets(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.trusted_proxies
            .iter()
            .map(|c| {
                c.parse::<ipnet::IpNet>()
                    .or_else(|_| c.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| format!("dashboards.trusted_proxies: {c:?} is not an address or a CIDR such as 10.0.0.0/8"))
            })
            .collect()
    }
}

impl Default for DashboardsSection {
    fn default() -> Self {
        DashboardsSection {
            listen: "127.0.0.1:8092".parse().unwrap(),
            data_dir: PathBuf::from("dashboards-data"),
            min_group_customers: 5,
            crosssell_marketplace: false,
            session_idle_minutes: 30,
            session_max_hours: 12,
            invariants_every_minutes: 15,
            token_days: 90,
            secure_cookies: None,
            trusted_proxies: Vec::new(),
            max_concurrent_logins: 4,
            writer_id: String::new(),
            goal_editors: "analyst".into(),
        }
    }
}

/// The Tier 2 release layer: every number an analyst reads from Tier 2
/// data is released with differential privacy, one visit being the unit
/// protected (the manual, "Tier 2 disclosure control"). A *cell* is one view
/// over one day (a day's metrics, a day's hours, a day's groups of one
/// report); each is released once, with noise, and then only read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReleaseSection {
    /// ε of one cell of a filtered view: what an analyst's filtered
    /// question costs per day it covers, the first time it is asked.
    pub epsilon: f64,
    /// ε of one day's whole-store metrics (visits, pageviews, bounce rate,
    /// duration, conversion, revenue...), and again of its hours, released
    /// once for everyone: the numbers the store steers by.
    pub shared_metrics_epsilon: f64,
    /// ε of every other unfiltered cell (a day's groups of one report,
    /// realtime, a week of products), released once for everyone.
    pub shared_epsilon: f64,
    /// δ of one cell: the chance that a group backed by a single visit is
    /// shown at all. The threshold a group must pass follows from ε and δ.
    pub delta: f64,
    /// What one analyst may spend on filtered cells per data day.
    pub analyst_daily_budget: f64,
    /// What the shared unfiltered cells may spend per data day.
    pub shared_daily_budget: f64,
    /// A day (an hour, for today) is released this long after it ends,
    /// once the rollup has built it: later arrivals are not in its numbers.
    pub settle_minutes: u32,
}

impl Default for ReleaseSection {
    fn default() -> Self {
        ReleaseSection {
            epsilon: 0.5,
            shared_metrics_epsilon: 4.0,
            shared_epsilon: 1.0,
            delta: 1e-6,
            analyst_daily_budget: 5.0,
            shared_daily_budget: 40.0,
            settle_minutes: 10,
        }
    }
}

impl ReleaseSection {
    fn check(&self) -> Result<(), String> {
        let eps = [self.epsilon, self.shared_metrics_epsilon, self.shared_epsilon];
        if !eps.iter().chain(&[self.delta, self.analyst_daily_budget, self.shared_daily_budget]).all(|v| v.is_finite()) || !eps.iter().all(|e| (0.01..=10.0).contains(e)) {
            return Err("release.epsilon, release.shared_metrics_epsilon and release.shared_epsilon must be between 0.01 and 10".into());
        }
        if !(1e-12..=1e-3).contains(&self.delta) {
            return Err("release.delta must be between 1e-12 and 1e-3 (the chance one visit's group shows at all)".into());
        }
        if self.analyst_daily_budget < self.epsilon || self.shared_daily_budget < self.shared_metrics_epsilon.max(self.shared_epsilon) {
            return Err("release.analyst_daily_budget must be at least release.epsilon, and release.shared_daily_budget at least both shared ε".into());
        }
        Ok(())
    }
}

/// How long each dataset is kept, in days, and how often the purge runs.
/// Six years for orders follows the store's records schedule (reference
/// 003: "retained for 6 years after final payment or cancellation").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSection {
    /// Raw Tier 2 events (`{t2}.events`).
    pub t2_events_days: u32,
    /// Tier 2 rollups (visits and what is built from them). They outlive
    /// the raw events: a period whose raw events are gone is still shown.
    pub t2_rollups_days: u32,
    /// Tier 3 events.
    pub t3_events_days: u32,
    /// Tier 3 orders and what is derived from them.
    pub t3_orders_days: u32,
    /// Tier 2 and marketplace orders.
    pub t2_orders_days: u32,
    /// The consent ledger: the evidence behind every Tier 3 row, so at
    /// least as long as any Tier 3 dataset.
    pub consent_ledger_days: u32,
    /// The dashboards' access audit.
    pub access_audit_days: u32,
    /// The purge log: the evidence of every purge, kept longest.
    pub purge_log_days: u32,
    /// The collector runs the purge this often (and once at start).
    pub purge_every_hours: u32,
}

impl Default for RetentionSection {
    fn default() -> Self {
        RetentionSection {
            t2_events_days: 396,
            t2_rollups_days: 2192,
            t3_events_days: 365,
            t3_orders_days: 2192,
            t2_orders_days: 2192,
            consent_ledger_days: 2557,
            access_audit_days: 2192,
            purge_log_days: 3653,
            purge_every_hours: 24,
        }
    }
}

impl RetentionSection {
    /// `(dataset, days)` in the order the purge runs them.
    pub fn datasets(&self) -> [(&'static str, u32); 8] {
        [
            ("t2_events", self.t2_events_days),
            ("t2_rollups", self.t2_rollups_days),
            ("t3_events", self.t3_events_days),
            ("t3_orders", self.t3_orders_days),
            ("t2_orders", self.t2_orders_days),
            ("consent_ledger", self.consent_ledger_days),
            ("access_audit", self.access_audit_days),
            ("purge_log", self.purge_log_days),
        ]
    }

    /// Days kept for `dataset` (a name from [`RetentionSection::datasets`]).
    pub fn days(&self, dataset: &str) -> Option<u32> {
        self.datasets().into_iter().find(|(d, _)| *d == dataset).map(|(_, days)| days)
    }

    /// The first day (days since 1970) `dataset` still keeps at unix time
    /// `now`: rows dated before it are due for purging.
    pub fn cutoff_day(&self, dataset: &str, now: u64) -> Option<u32> {
        self.days(dataset).map(|days| ((now / 86_400) as u32).saturating_sub(days))
    }

    fn check(&self) -> Result<(), String> {
        if let Some((name, _)) = self.datasets().into_iter().find(|(_, days)| *days == 0) {
            return Err(format!("retention.{name}_days must be at least 1"));
        }
        if self.purge_every_hours == 0 {
            return Err("retention.purge_every_hours must be at least 1".into());
        }
        let t3 = self.t3_events_days.max(self.t3_orders_days);
        if self.consent_ledger_days < t3 {
            return Err(format!(
                "retention.consent_ledger_days ({}) must be at least the Tier 3 retention ({t3}): the ledger is the evidence behind every Tier 3 row",
                self.consent_ledger_days
            ));
        }
        if self.t2_rollups_days < self.t2_events_days {
            return Err(format!(
                "retention.t2_rollups_days ({}) must be at least t2_events_days ({}): the rollups are built from the raw events",
                self.t2_rollups_days, self.t2_events_days
            ));
        }
        if let Some((name, days)) = self.datasets().into_iter().find(|(_, days)| *days > self.purge_log_days) {
            return Err(format!(
                "retention.purge_log_days ({}) must be at least {name}_days ({days}): the purge log is the evidence of every purge",
                self.purge_log_days
            ));
        }
        Ok(())
    }
}

/// One key as written in TOML: `{ id = "k1", secret = "<hex>" }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    pub id: String,
    pub secret: String,
}

/// What a store-backend key may call on the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendScope {
    /// `POST /orders`: the order feed (web shop, point of sale, marketplace).
    Orders,
    /// `POST /consent/opt-in` and `/consent/opt-out`.
    Consent,
    /// `POST /consent/erasure`.
    Erasure,
}

impl BackendScope {
    pub const ALL: [BackendScope; 3] = [BackendScope::Orders, BackendScope::Consent, BackendScope::Erasure];

    /// The scope a collector endpoint needs (`/orders`, `/consent/...`).
    pub fn for_path(path: &str) -> Option<BackendScope> {
        match path {
            "/orders" => Some(BackendScope::Orders),
            "/consent/opt-in" | "/consent/opt-out" => Some(BackendScope::Consent),
            "/consent/erasure" => Some(BackendScope::Erasure),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BackendScope::Orders => "orders",
            BackendScope::Consent => "consent",
            BackendScope::Erasure => "erasure",
        }
    }
}

impl std::fmt::Display for BackendScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A store-backend key: `{ id = "pos-1", secret = "...", scopes = ["orders"] }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendKey {
    pub id: String,
    pub secret: String,
    pub scopes: Vec<BackendScope>,
}

impl KeysSection {
    /// The first backend key allowed `scope`.
    pub fn backend_key(&self, scope: BackendScope) -> Option<&BackendKey> {
        self.backend.iter().find(|k| k.scopes.contains(&scope))
    }

    /// The secret of the first backend key allowed `scope` (demo backend, tests).
    pub fn backend_secret(&self, scope: BackendScope) -> Option<&str> {
        self.backend_key(scope).map(|k| k.secret.as_str())
    }

    /// The secret of the first backend key that may call the collector's
    /// `path`; empty if none may.
    pub fn backend_secret_for(&self, path: &str) -> &str {
        BackendScope::for_path(path).and_then(|s| self.backend_secret(s)).unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeysSection {
    /// Edge → collector batch signing; first signs, all verify.
    pub edge_signing: Vec<KeyEntry>,
    /// Consent tokens; first mints, all verify.
    pub consent: Vec<KeyEntry>,
    /// Bearer token for the dashboards' `/metrics` (which shows the privacy
    /// invariant counts); empty: `/metrics` answers 404.
    pub dashboards_metrics_token: String,
    /// Bearer token for the edge's metrics path (optional; off when empty).
    pub edge_metrics_token: String,
    /// API keys of the store's backend (`Authorization: Bearer <secret>`),
    /// each allowed only what its `scopes` name: a point of sale's order
    /// key cannot mint consent or erase a customer. The id and the scope
    /// used go into the ledger.
    pub backend: Vec<BackendKey>,
    /// Replaced by `backend` (keys with scopes); a file that still has it
    /// is refused with directions rather than keep an all-powerful key.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub consent_api: Vec<KeyEntry>,
    /// Cloudflare API token allowed to write the revocations KV namespace.
    pub cloudflare_api_token: String,
    /// Collectors only: the secret behind the ids stored in ClickHouse
    /// (hex or base64url, 32+ bytes, like every key here). Keyed hashes of the wire ids, one derived key per
    /// table, so `t2` and `t3` share no id. Keep it stable and identical on
    /// every collector; never give it to the edge or the dashboards.
    pub pseudonym: String,
    /// Collectors and dashboards: keys the *subject*, the hash by which
    /// everything that must keep naming a customer names them (Tier 3 rows
    /// and the consent ledger beside the reference, the erasure's
    /// statements and evidence, revocations, the access audit). Identical
    /// on every collector and dashboards process; never given to the edge.
    pub subject: String,
    /// Replaced by `subject` (one hash for the audit and everything else);
    /// still accepted in an older secrets file, and ignored.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub audit: String,
}

fn ring(entries: &[KeyEntry]) -> Result<KeyRing, KeyError> {
    KeyRing::parse(entries.iter().map(|k| (k.id.as_str(), k.secret.as_str())))
}

impl Config {
    /// Loads `path`, its secrets file and the environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with_env(path, Env::prefixed("MINTMARK_").split("__"), true)
    }

    /// Loads `path` and the environment but not the secrets file: for
    /// deriving deployment files, which must never contain secrets.
    pub fn load_public(path: &Path) -> Result<Config, ConfigError> {
        Config::load_with_env(path, Env::prefixed("MINTMARK_").split("__"), false)
    }

    fn load_with_env(path: &Path, env: Env, with_secrets: bool) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        let mut figment = Figment::from(Toml::string(&text));
        let secrets: Option<PathBuf> = figment.extract_inner("secrets_file").ok().filter(|_| with_secrets);
        if let Some(rel) = secrets {
            let secrets_path = path.parent().unwrap_or(Path::new(".")).join(rel);
            let secrets_text = std::fs::read_to_string(&secrets_path)
                .map_err(|source| ConfigError::Read { path: secrets_path, source })?;
            figment = figment.merge(Toml::string(&secrets_text));
        }
        // MINTMARK_CONFIG names the file; it is not a key of it.
        let env = env.ignore(&["config"]);
        let config: Config = figment.merge(env).extract().map_err(Box::new)?;
        config.check()?;
        Ok(config)
    }

    /// Parses a config from a string (tests, generated configs).
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = Figment::from(Toml::string(text)).extract().map_err(Box::new)?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        if !self.scope().is_usable() {
            return Err(ConfigError::Check(
                "[store] needs at least one origin (scheme://host[:port]) and one path prefix starting with '/'".into(),
            ));
        }
        let e = &self.edge;
        if !self.scope().has_path(&e.beacon_path) {
            return Err(ConfigError::Check(format!(
                "edge.beacon_path {:?} must lie inside the store path so the browser sends the store's cookies with beacons",
                e.beacon_path
            )));
        }
        if !self.scope().has_path(&e.cookie_path) {
            return Err(ConfigError::Check(format!("edge.cookie_path {:?} must lie inside the store path", e.cookie_path)));
        }
        if e.session_idle_minutes == 0 || e.visitor_max_age_days == 0 || e.rate_limit_per_minute == 0 {
            return Err(ConfigError::Check(
                "edge.session_idle_minutes, edge.visitor_max_age_days and edge.rate_limit_per_minute must be positive".into(),
            ));
        }
        e.delivery.check().map_err(ConfigError::Check)?;
        self.retention.check().map_err(ConfigError::Check)?;
        self.release.check().map_err(ConfigError::Check)?;
        if !self.keys.consent_api.is_empty() {
            return Err(ConfigError::Check(
                "keys.consent_api is replaced by keys.backend, where every key names what it may do: \
                 backend = [{ id = \"store-orders\", secret = \"...\", scopes = [\"orders\"] }, ...] with scopes from \
                 orders, consent, erasure (the manual, \"Keys and rotation\")"
                    .into(),
            ));
        }
        if let Some(k) = self.keys.backend.iter().find(|k| k.scopes.is_empty() || k.secret.len() < 16 || k.id.is_empty()) {
            return Err(ConfigError::Check(format!(
                "keys.backend key {:?} needs an id, a secret of at least 16 characters and at least one scope (orders, consent, erasure)",
                k.id
            )));
        }
        let d = &self.dashboards;
        if d.token_days == 0 || d.max_concurrent_logins == 0 {
            return Err(ConfigError::Check("dashboards.token_days and dashboards.max_concurrent_logins must be positive".into()));
        }
        d.trusted_proxy_nets().map_err(ConfigError::Check)?;
        if !["starttls", "tls", "none"].contains(&self.smtp.security.as_str()) {
            return Err(ConfigError::Check("smtp.security must be starttls, tls or none".into()));
        }
        if self.notify.reports_every_secs == 0 || self.notify.alerts_every_secs == 0 {
            return Err(ConfigError::Check("notify.reports_every_secs and notify.alerts_every_secs must be positive".into()));
        }
        if !["analyst", "admin"].contains(&d.goal_editors.as_str()) {
            return Err(ConfigError::Check("dashboards.goal_editors must be analyst or admin".into()));
        }
        if !self.keys.dashboards_metrics_token.is_empty() && self.keys.dashboards_metrics_token.len() < 16 {
            return Err(ConfigError::Check("keys.dashboards_metrics_token must be at least 16 characters (or empty to disable /metrics)".into()));
        }
        if !self.keys.edge_metrics_token.is_empty() && self.keys.edge_metrics_token.len() < 16 {
            return Err(ConfigError::Check("keys.edge_metrics_token must be at least 16 characters (or empty to disable)".into()));
        }
        Ok(())
    }

    pub fn scope(&self) -> StoreScope {
        StoreScope::new(self.store.origins.iter().cloned(), self.store.path_prefixes.iter().cloned())
    }

    /// Keys that sign and verify edge → collector batches.
    pub fn edge_signing_keys(&self) -> Result<KeyRing, ConfigError> {
        Ok(ring(&self.keys.edge_signing)?)
    }

    /// Keys that mint and verify consent tokens.
    pub fn consent_keys(&self) -> Result<KeyRing, ConfigError> {
        Ok(ring(&self.keys.consent)?)
    }

    /// The worker's `EDGE_CONFIG` var.
    pub fn edge_settings(&self) -> EdgeSettings {
        let e = &self.edge;
        EdgeSettings {
            scope: self.scope(),
            beacon_path: e.beacon_path.clone(),
            collector_url: e.collector_url.clone(),
            collector_failover_urls: e.collector_failover_urls.clone(),
            cookie_path: e.cookie_path.clone(),
            consent_cookie: e.consent_cookie.clone(),
            session_cookie: e.session_cookie.clone(),
            visitor_cookie: e.visitor_cookie.clone(),
            session_idle_secs: e.session_idle_minutes * 60,
            visitor_max_age_secs: e.visitor_max_age_days * 86_400,
            rate_limit_per_minute: e.rate_limit_per_minute,
            delivery: e.delivery.settings(),
        }
    }

    /// The worker's secrets: `(name, value)` pairs.
    pub fn edge_secrets(&self) -> Result<Vec<(&'static str, String)>, ConfigError> {
        use mintmark_protocol::settings::{SECRET_CONSENT_KEYS, SECRET_EDGE_SIGNING_KEYS, SECRET_METRICS_TOKEN};
        let mut secrets = vec![
            (SECRET_EDGE_SIGNING_KEYS, self.edge_signing_keys()?.to_list()),
            (SECRET_CONSENT_KEYS, self.consent_keys()?.to_list()),
        ];
        if !self.keys.edge_metrics_token.is_empty() {
            secrets.push((SECRET_METRICS_TOKEN, self.keys.edge_metrics_token.clone()));
        }
        Ok(secrets)
    }
}

#[cfg(test)]
mod tests;
