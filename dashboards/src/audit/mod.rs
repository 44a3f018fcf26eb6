//! The access audit: one append-only row in `{ledger}.access_audit` per
//! read, written before the data leaves. A read whose audit row cannot be
//! written fails (503): nothing is shown that was not recorded.
//!
//! Entries are hash-chained ([`chain`]) and name customers only by their
//! subject (the keyed hash of the reference, `keys.subject`, the one the
//! collectors' erasure and purge log use), in `customer_refs` and in the
//! parameters asked for, so an erasure never has to rewrite an entry, and a
//! rewritten entry shows.

pub mod chain;

use mintmark_protocol::subject::Subjects;
use tokio::sync::Mutex;

use clickhouse::Row;
use serde::Serialize;

use crate::sessions::LoginSession;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the access audit could not be written: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    #[error("keys.subject: {0}")]
    Key(String),
}

/// One audited read.
#[derive(Debug, Clone, PartialEq, Row, Serialize)]
pub struct AccessEntry {
    /// Unix seconds.
    pub at: u32,
    pub user_name: String,
    pub roles: String,
    pub route: String,
    /// The period, comparison and filters asked for, as the query string.
    pub params: String,
    pub rows_returned: u64,
    pub customers_touched: u64,
    pub customer_refs: Vec<String>,
}

impl AccessEntry {
    /// An entry for an aggregate (Tier 2) read by `who`.
    pub fn aggregate(who: &LoginSession, route: &str, params: &str, rows: u64) -> AccessEntry {
        AccessEntry {
            at: crate::accounts::now_secs() as u32,
            user_name: who.user.name.clone(),
            roles: who.user.roles.to_string(),
            route: route.to_string(),
            params: params.to_string(),
            rows_returned: rows,
            customers_touched: 0,
            customer_refs: Vec::new(),
        }
    }
}

/// References listed in one entry; beyond this only their count is kept.
pub const MAX_LISTED_REFS: usize = 1_000;

impl AccessEntry {
    /// An entry for a Tier 3 read that touched `refs` (or, for an
    /// aggregate over customers, only `count` of them, with `refs` empty).
    pub fn tier3(who: &LoginSession, route: &str, params: &str, rows: u64, mut refs: Vec<String>, count: u64) -> AccessEntry {
        refs.sort_unstable();
        refs.dedup();
        let touched = count.max(refs.len() as u64);
        if refs.len() > MAX_LISTED_REFS {
            refs.clear();
        }
        AccessEntry { customers_touched: touched, customer_refs: refs, ..AccessEntry::aggregate(who, route, params, rows) }
    }
}

/// High-rate aggregate reads (recommendations) are tallied in memory and
/// written as one entry per user, route and minute: an insert per lookup
/// would cost more than the lookup. They touch no customer.
#[derive(Default)]
pub struct Tally {
    counts: std::sync::Mutex<std::collections::HashMap<(String, String, &'static str), (u64, u64)>>,
}

impl Tally {
    pub fn note(&self, who: &LoginSession, route: &'static str, rows: u64) {
        let mut c = self.counts.lock().expect("not poisoned");
        let e = c.entry((who.user.name.clone(), who.user.roles.to_string(), route)).or_default();
        e.0 += 1;
        e.1 += rows;
    }

    /// Writes what was tallied; on failure keeps it for the next flush.
    pub async fn flush(&self, audit: &Audit) {
        let taken = std::mem::take(&mut *self.counts.lock().expect("not poisoned"));
        let now = crate::accounts::now_secs() as u32;
        for ((user, roles, route), (requests, rows)) in taken {
            let entry = AccessEntry {
                at: now,
                user_name: user.clone(),
                roles: roles.clone(),
                route: route.to_string(),
                params: format!("requests={requests} (tallied)"),
                rows_returned: rows,
                customers_touched: 0,
                customer_refs: Vec::new(),
            };
            if let Err(e) = audit.record(&entry).await {
                tracing::error!(error = %e, "writing tallied audit entries failed; kept for the next flush");
                let mut c = self.counts.lock().expect("not poisoned");
                let back = c.entry((user, roles, route)).or_default();
                back.0 += requests;
                back.1 += rows;
            }
        }
    }
}

/// Where entries go.
pub struct Audit {
    client: clickhouse::Client,
    table: String,
    purge_log: String,
    subjects: Subjects,
    /// Whose chain this process writes (`dashboards.writer_id`).
    writer: String,
    /// The chain's head, `(seq, hash)`, read from the table on first use
    /// and after any failed write (which may or may not have landed).
    head: Mutex<Option<(u64, String)>>,
}

/// Query parameters whose values may name a customer; the audit keeps
/// only their subjects.
pub const IDENTIFYING_PARAMS: [&str; 5] = ["q", "customer", "customer_ref", "order", "order_id"];

/// A writer id: 1-64 of `A-Z a-z 0-9 . _ : -`.
pub fn valid_writer(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_:".contains(&b))
}

impl Audit {
    /// `secret` is `keys.subject` (hex or base64url, 32+ bytes).
    pub fn new(client: clickhouse::Client, ledger_db: &str, secret: &str) -> Result<Audit, AuditError> {
        if secret.is_empty() {
            return Err(AuditError::Key("missing: the secrets file needs a `subject` key, the collectors' (a generated one is added on the next `make up`)".into()));
        }
        let subjects = Subjects::parse(secret).map_err(|e| AuditError::Key(e.to_string()))?;
        Ok(Audit {
            client,
            table: format!("{ledger_db}.access_audit"),
            purge_log: format!("{ledger_db}.purge_log"),
            subjects,
            writer: String::new(),
            head: Mutex::new(None),
        })
    }

    /// The same, writing the chain of `writer`: each dashboards process
    /// has its own, so several can serve at once.
    pub fn for_writer(self, writer: &str) -> Result<Audit, AuditError> {
        if !valid_writer(writer) {
            return Err(AuditError::Key(format!("dashboards.writer_id {writer:?} must be 1-64 of A-Z a-z 0-9 . _ : -")));
        }
        Ok(Audit { writer: writer.to_string(), head: Mutex::new(None), ..self })
    }

    /// How everything names a customer: their subject.
    pub fn subject(&self, customer_ref: &str) -> String {
        self.subjects.of(customer_ref)
    }

    /// `params` with every value that may identify a customer (a reference
    /// searched for, asked about, or typed into a search box; an order
    /// number) replaced by `#<subject>`, whatever route carried it.
    pub fn redact(&self, params: &str) -> String {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(params.as_bytes()).into_owned().collect();
        if !pairs.iter().any(|(k, _)| IDENTIFYING_PARAMS.contains(&k.as_str())) {
            return params.to_string();
        }
        let mut out = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            let v = if IDENTIFYING_PARAMS.contains(&k.as_str()) && !v.is_empty() { format!("#{}", self.subject(&v)) } else { v };
            out.append_pair(&k, &v);
        }
        out.finish()
    }

    async fn head(&self) -> Result<(u64, String), AuditError> {
        let rows: Vec<(u64, String)> = self
            .client
            .query(&format!("SELECT seq, entry_hash FROM {} WHERE seq > 0 AND writer = ? ORDER BY seq DESC LIMIT 1", self.table))
            .bind(&self.writer)
            .fetch_all()
            .await?;
        Ok(rows.into_iter().next().unwrap_or((0, String::new())))
    }

    /// Writes `entry` as the next link of this writer's chain and waits for
    /// ClickHouse to confirm it. Writes are serialised: the chain has one
    /// head, which only this process moves.
    pub async fn record(&self, entry: &AccessEntry) -> Result<(), AuditError> {
        let mut head = self.head.lock().await;
        let (seq, prev_hash) = match head.take() {
            Some(h) => h,
            None => self.head().await?,
        };
        let mut stored = chain::Stored {
            at: entry.at,
            user_name: entry.user_name.clone(),
            roles: entry.roles.clone(),
            route: entry.route.clone(),
            params: self.redact(&entry.params),
            rows_returned: entry.rows_returned,
            customers_touched: entry.customers_touched,
            customer_refs: entry.customer_refs.iter().map(|r| self.subject(r)).collect(),
            seq: seq + 1,
            prev_hash,
            entry_hash: String::new(),
            writer: self.writer.clone(),
        };
        stored.entry_hash = chain::hash(&stored);
        // The name comes from a validated prefix, so unescaped is safe.
        let mut insert = self.client.insert_unescaped::<chain::Stored>(&self.table).await?;
        insert.write(&stored).await?;
        insert.end().await?;
        // Only a confirmed write moves the head; otherwise it is re-read.
        *head = Some((stored.seq, stored.entry_hash));
        Ok(())
    }

    /// Checks every writer's chain, each oldest first, each from its own
    /// retention anchor.
    pub async fn verify(&self) -> Result<chain::Chains, AuditError> {
        let anchors: Vec<String> = self
            .client
            .query(&format!("SELECT anchor FROM {} WHERE kind = 'retention' AND dataset = 'access_audit' AND anchor != '' ORDER BY at DESC LIMIT 1", self.purge_log))
            .fetch_all()
            .await?;
        let anchors = anchors.first().map(|a| chain::parse_anchors(a)).unwrap_or_default();
        let unchained: u64 = self.client.query(&format!("SELECT toUInt64(count()) FROM {} WHERE seq = 0", self.table)).fetch_one().await?;
        let writers: Vec<String> = self.client.query(&format!("SELECT DISTINCT writer FROM {} WHERE seq > 0 ORDER BY writer", self.table)).fetch_all().await?;
        let mut chains = Vec::new();
        for writer in writers {
            let anchor = anchors.iter().find(|(w, ..)| *w == writer).map(|(_, seq, hash)| (*seq, hash.clone()));
            let mut verifier = chain::Verifier::new(anchor);
            let mut cursor = self.client.query(&format!("SELECT ?fields FROM {} WHERE seq > 0 AND writer = ? ORDER BY seq", self.table)).bind(&writer).fetch::<chain::Stored>()?;
            while let Some(e) = cursor.next().await? {
                verifier.push(&e);
            }
            chains.push((writer, verifier.finish()));
        }
        Ok(chain::Chains { chains, unchained })
    }
}
