//! What the dashboards send on their own: scheduled reports ([`reports`])
//! and alerts ([`alerts`]), by e-mail ([`mail`]) and, for alerts, to a
//! signed webhook. Both read numbers through the release layer like every
//! view, as the user who subscribed or set the rule, and both are written
//! to the access audit before anything leaves.

pub mod alerts;
pub mod mail;
pub mod reports;

use std::sync::Arc;

use clickhouse::Client;

use crate::accounts::Accounts;
use crate::audit::Audit;
use crate::release::Releaser;

/// Runs `round` every `period` until the process ends; a round that fails
/// is logged, and the next one tries again.
async fn repeat<F: std::future::Future<Output = anyhow::Result<usize>>>(period: std::time::Duration, what: &str, mut round: impl FnMut() -> F) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = round().await {
            tracing::warn!(error = %format!("{e:#}"), "{what} failed; retrying next time");
        }
    }
}

/// What the background senders read and write with.
pub struct Senders {
    pub client: Client,
    pub t2: String,
    pub accounts: Arc<Accounts>,
    pub releaser: Arc<Releaser>,
    pub audit: Arc<Audit>,
    pub mailer: mail::Mailer,
    /// The dashboards' address as users reach it, for links.
    pub base_url: String,
    pub alerts: alerts::Counters,
}

impl Senders {
    /// Runs an accounts call off the async threads.
    pub async fn accounts<T: Send + 'static>(&self, f: impl FnOnce(&Accounts) -> Result<T, crate::accounts::AccountError> + Send + 'static) -> anyhow::Result<T> {
        Ok(Accounts::off_thread(&self.accounts, f).await.map_err(|_| anyhow::anyhow!("the accounts call did not run"))??)
    }

    /// An entry in the access audit for `user`, as if they had read it.
    pub async fn audited(&self, user: &crate::accounts::User, route: &str, params: &str, rows: u64) -> Result<(), crate::audit::AuditError> {
        let who = crate::sessions::LoginSession { user: user.clone(), csrf: String::new() };
        self.audit.record(&crate::audit::AccessEntry::aggregate(&who, route, params, rows)).await
    }
}
