//! The shared state every handler reads with: configuration, the
//! ClickHouse client, accounts, the audit, the release layer and the
//! caches; and the two ways a handler reads through it, Tier 2
//! ([`App::ctx`]) and Tier 3 ([`App::tier3_reader`]), each behind the
//! access audit ([`App::audited`]).

use std::sync::Arc;

use anyhow::Context;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use mintmark_config::Config;

use super::page;
use crate::accounts::Accounts;
use crate::audit::Audit;
use crate::query::Day;
use crate::sessions::Lifetimes;

pub struct App {
    pub config: Config,
    pub accounts: Arc<Accounts>,
    pub clickhouse: clickhouse::Client,
    pub dbs: mintmark_schema::Databases,
    /// One per process: its hash chain has one head (shared with the senders).
    pub audit: Arc<Audit>,
    pub life: Lifetimes,
    /// `Secure` cookies and HSTS: `dashboards.secure_cookies`, or unless
    /// we serve plain http on loopback.
    pub secure_cookies: bool,
    /// Whose `X-Forwarded-For` is believed (`dashboards.trusted_proxies`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Password verifications running at once (`max_concurrent_logins`).
    pub verifications: tokio::sync::Semaphore,
    pub recommender: Arc<crate::recommend::Recommender>,
    /// The Tier 2 release layer (differential privacy) and its store.
    pub releaser: Arc<crate::release::Releaser>,
    pub tally: Arc<crate::audit::Tally>,
    pub tier3: crate::tier3::cache::Tier3Cache,
    /// The latest invariant report, and its gauges for `/metrics`.
    pub invariants: tokio::sync::RwLock<Option<crate::privacy::invariants::Report>>,
    pub invariant_gauges: crate::privacy::invariants::Gauges,
    /// Held while a report runs: one at a time.
    pub invariant_run: tokio::sync::Mutex<()>,
    /// Scheduled reports and alerts.
    pub senders: Arc<crate::notify::Senders>,
}

impl App {
    pub fn new(config: Config, accounts: Accounts) -> anyhow::Result<App> {
        let d = &config.dashboards;
        let dbs = mintmark_schema::Databases::new(&config.clickhouse.database_prefix)?;
        let clickhouse = mintmark_schema::client(&config.clickhouse);
        let audit = Arc::new(Audit::new(clickhouse.clone(), &dbs.ledger, &config.keys.subject)?.for_writer(&writer_id(d))?);
        let accounts = Arc::new(accounts);
        let releaser = Arc::new(crate::release::Releaser::open(config.release.clone(), &d.data_dir).context("opening the release store")?);
        let base_url = if config.notify.base_url.is_empty() { format!("http://{}", d.listen) } else { config.notify.base_url.trim_end_matches('/').to_string() };
        let senders = Arc::new(crate::notify::Senders {
            client: clickhouse.clone(),
            t2: dbs.t2.clone(),
            accounts: accounts.clone(),
            releaser: releaser.clone(),
            audit: audit.clone(),
            mailer: crate::notify::mail::Mailer::new(&config.smtp)?,
            base_url,
            alerts: Default::default(),
        });
        Ok(App {
            audit,
            senders,
            clickhouse,
            dbs,
            life: Lifetimes { idle_secs: d.session_idle_minutes as i64 * 60, max_secs: d.session_max_hours as i64 * 3600 },
            secure_cookies: d.secure_cookies.unwrap_or(!d.listen.ip().is_loopback()),
            trusted_proxies: d.trusted_proxy_nets().map_err(anyhow::Error::msg)?,
            verifications: tokio::sync::Semaphore::new(d.max_concurrent_logins as usize),
            recommender: Arc::default(),
            releaser,
            tally: Arc::default(),
            tier3: Default::default(),
            invariants: Default::default(),
            invariant_gauges: Default::default(),
            invariant_run: Default::default(),
            accounts,
            config,
        })
    }

    /// What every Tier 2 view reads with: the question as `user` asks it
    /// (their budget pays for it when it is filtered).
    pub fn ctx<'a>(&'a self, q: &'a crate::query::StatsQuery, today: Day, user: i64) -> crate::views::Ctx<'a> {
        let d = &self.config.dashboards;
        crate::views::Ctx {
            client: &self.clickhouse,
            t2: &self.dbs.t2,
            q,
            today,
            releaser: &self.releaser,
            ask: crate::release::Ask::new(&self.clickhouse, &self.dbs.t2, q, user, today),
            crosssell_marketplace: d.crosssell_marketplace,
            user,
        }
    }

    /// A dashboard question from URL parameters, its goal filters and
    /// funnel resolved against the store's goals and funnels.
    pub async fn stats_query(&self, params: &[(String, String)], today: Day) -> Result<crate::query::StatsQuery, StatsQueryError> {
        let q = crate::query::StatsQuery::from_params(params, today)?;
        let (goals, funnels) = self.with_accounts(|a| Ok((a.goals()?, a.funnels()?))).await.map_err(|_| StatsQueryError::Unavailable)?.map_err(|e| {
            tracing::error!(error = %e, "reading the goals and funnels failed");
            StatsQueryError::Unavailable
        })?;
        Ok(q.with_goals(&goals)?.with_funnels(&funnels)?)
    }

    /// What every Tier 3 reader reads with.
    pub fn tier3_reader(&self, today: Day) -> crate::tier3::Tier3<'_> {
        crate::tier3::Tier3 { client: &self.clickhouse, dbs: &self.dbs, today, min_customers: self.config.dashboards.min_group_customers }
    }

    /// Runs an accounts call off the async threads (SQLite blocks). A call
    /// that could not run is [`AccountsUnavailable`]; its own error is the
    /// caller's to show or log.
    pub async fn with_accounts<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Accounts) -> Result<T, crate::accounts::AccountError> + Send + 'static,
    ) -> Result<Result<T, crate::accounts::AccountError>, AccountsUnavailable> {
        Accounts::off_thread(&self.accounts, f).await.map_err(|_| AccountsUnavailable)
    }

    /// Records a read in the access audit before its data leaves; when
    /// the audit cannot be written, the answer is a 503 instead of data.
    pub async fn audited(&self, who: &crate::sessions::LoginSession, route: &str, params: &str, rows: u64) -> Result<(), Response> {
        self.audited_entry(&crate::audit::AccessEntry::aggregate(who, route, params, rows)).await
    }

    /// The same for a Tier 3 read, naming the customers it touched.
    pub async fn audited_entry(&self, entry: &crate::audit::AccessEntry) -> Result<(), Response> {
        match self.audit.record(entry).await {
            Ok(()) => Ok(()),
            Err(e) => {
                tracing::error!(error = %e, "access audit failed; the read is refused");
                let mut resp = page::error(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "Unavailable",
                    "The access audit cannot be written, so no data is shown. Try again shortly.",
                );
                resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
                Err(resp)
            }
        }
    }
}

/// Why a dashboard question could not be made.
#[derive(Debug, thiserror::Error)]
pub enum StatsQueryError {
    #[error(transparent)]
    Query(#[from] crate::query::QueryError),
    #[error("the accounts database (goals, funnels) is not available; try again shortly")]
    Unavailable,
}

impl StatsQueryError {
    pub fn status(&self) -> axum::http::StatusCode {
        match self {
            StatsQueryError::Query(_) => axum::http::StatusCode::BAD_REQUEST,
            StatsQueryError::Unavailable => axum::http::StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// The accounts database could not be reached (its thread did not run).
#[derive(Debug, Clone, Copy)]
pub struct AccountsUnavailable;

/// `dashboards.writer_id`, or `<hostname>:<listen port>`.
pub(super) fn writer_id(d: &mintmark_config::DashboardsSection) -> String {
    if !d.writer_id.is_empty() {
        return d.writer_id.clone();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|h| h.trim().to_string()).filter(|h| !h.is_empty());
    let host: String = host.unwrap_or_else(|| "dashboards".into()).chars().filter(|c| c.is_ascii_alphanumeric() || ".-_".contains(*c)).take(48).collect();
    format!("{host}:{}", d.listen.port())
}
