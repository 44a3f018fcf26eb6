//! The lists a privacy officer reads: the consent ledger, the purge log,
//! the access audit, and retention status per dataset. Each is one query
//! built from a [`PrivacyQuery`] with its values bound, typed rows, and a
//! [`Table`] the page and the CSV export share.

use clickhouse::{Client, Row};
use mintmark_config::RetentionSection;
use mintmark_schema::retention::tables;
use mintmark_schema::Databases;
use serde::Deserialize;

use super::PrivacyQuery;
use crate::query::Interval;
use crate::stats::sql::Sql;
use crate::table::{Cell, Column, Row as TableRow, Table};

/// Where the lists read from.
pub struct Reader<'a> {
    pub client: &'a Client,
    pub dbs: &'a Databases,
    /// Names a customer in a statement: only ever by subject.
    pub subjects: &'a crate::audit::Audit,
}

pub(super) fn when(at: u32) -> Cell {
    Cell::Moment(at.into())
}

pub(super) fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

/// `select` (ending in `WHERE `) limited to the period's `at` window.
fn in_period(select: &'static str, q: &PrivacyQuery) -> Sql {
    let (from, until) = q.window();
    Sql::new(select).raw("at >= toDateTime(").int(from).raw(") AND at < toDateTime(").int(until).raw(")")
}

/// `LIMIT ? OFFSET ?` for page `q.page` of `rows`.
fn page(sql: Sql, q: &PrivacyQuery, rows: u64) -> Sql {
    sql.raw(" LIMIT ").int(rows as i64).raw(" OFFSET ").int(((q.page - 1) * rows) as i64)
}

#[derive(Debug, Clone, PartialEq, Row, Deserialize)]
pub struct LedgerLine {
    pub at: u32,
    pub action: String,
    pub customer_ref: String,
    pub source: String,
    pub policy_version: u32,
    pub expires: u32,
    pub api_key_id: String,
    pub note: String,
}

/// The consent ledger in the period, newest first, by customer, source, action.
pub async fn ledger(r: &Reader<'_>, q: &PrivacyQuery, rows: u64) -> clickhouse::error::Result<Vec<LedgerLine>> {
    let mut sql = in_period(
        // An erasure request holds no reference: it is shown by subject.
        "SELECT toUInt32(at) AS at, toString(action) AS action, if(customer_ref = '', concat('#', subject), customer_ref) AS customer_ref, \
         source, policy_version, toUInt32(token_expires_at) AS expires, api_key_id, note FROM {ledger}.consent_ledger WHERE ",
        q,
    );
    if let Some(c) = &q.customer {
        sql = sql.raw(" AND subject = ").text_value(&r.subjects.subject(c));
    }
    if let Some(s) = &q.source {
        sql = sql.raw(" AND source = ").text_value(s);
    }
    if let Some(a) = q.action {
        sql = sql.raw(" AND action = ").text_value(a);
    }
    page(sql.raw(" ORDER BY at DESC, customer_ref"), q, rows).query_in(r.client, r.dbs).fetch_all().await
}

pub fn ledger_table(lines: &[LedgerLine]) -> Table {
    let mut t = Table::new(
        "consent_ledger",
        "Consent ledger",
        vec![
            Column::new("Time", "at"),
            Column::new("Action", "action"),
            Column::new("Customer", "customer_ref"),
            Column::new("Source", "source"),
            Column::new("Policy", "policy_version"),
            Column::new("Token expires", "token_expires_at"),
            Column::new("Reported by", "api_key_id"),
            Column::new("Note", "note"),
        ],
    );
    t.rows = lines
        .iter()
        .map(|l| {
            let mut row = TableRow::new(vec![
                when(l.at),
                text(l.action.replace('_', " ")),
                text(&l.customer_ref),
                text(&l.source),
                Cell::Count(l.policy_version.into()),
                if l.action == "opt_in" { Cell::Time(l.expires.into(), Interval::Day) } else { text("") },
                text(&l.api_key_id),
                text(&l.note),
            ]);
            row.link = Some(customer_href(&l.customer_ref));
            row
        })
        .collect();
    t
}

/// The privacy officer's page about one customer.
pub fn customer_href(customer_ref: &str) -> String {
    format!("/privacy/customers/{}", percent_encoding::utf8_percent_encode(customer_ref, percent_encoding::NON_ALPHANUMERIC))
}

#[derive(Debug, Clone, PartialEq, Row, Deserialize)]
pub struct PurgeLine {
    pub at: u32,
    pub run_id: String,
    pub kind: String,
    pub subject_hash: String,
    pub requested_at: u32,
    pub dataset: String,
    pub rows_before: u64,
    pub rows_after: u64,
    pub statement: String,
    pub mutation_id: String,
    pub run_by: String,
    pub done: u8,
    pub cutoff: String,
    /// What every copy held afterwards (`s1r1 0, …`).
    pub replicas: String,
}

/// The purge log in the period, newest first, by kind; `customer` finds an
/// erasure by the customer's hash (`subject`, computed by the collector's
/// key, so here only an exact hash matches).
pub async fn purges(r: &Reader<'_>, q: &PrivacyQuery, rows: u64) -> clickhouse::error::Result<Vec<PurgeLine>> {
    let mut sql = in_period(
        "SELECT toUInt32(at) AS at, run_id, toString(kind) AS kind, subject_hash, toUInt32(requested_at) AS requested_at, dataset, rows_before, \
         rows_after, statement, mutation_id, run_by, done, if(cutoff = toDate(0), '', toString(cutoff)) AS cutoff, replicas FROM {ledger}.purge_log \
         WHERE ",
        q,
    );
    if let Some(k) = q.kind {
        sql = sql.raw(" AND kind = ").text_value(k);
    }
    if let Some(c) = &q.customer {
        sql = sql.raw(" AND subject_hash = ").text_value(c);
    }
    page(sql.raw(" ORDER BY at DESC, run_id, dataset"), q, rows).query_in(r.client, r.dbs).fetch_all().await
}

pub fn purges_table(lines: &[PurgeLine]) -> Table {
    let mut t = Table::new(
        "purge_log",
        "Purge log",
        vec![
            Column::new("Time", "at"),
            Column::new("Kind", "kind"),
            Column::new("Dataset", "dataset"),
            Column::new("Rows found", "rows_before"),
            Column::new("Rows left", "rows_after"),
            Column::new("Left per copy", "replicas"),
            Column::new("Complete", "done"),
            Column::new("Customer (keyed hash)", "subject_hash"),
            Column::new("Requested / cutoff", "requested_or_cutoff"),
            Column::new("Statements", "statement"),
            Column::new("Mutations", "mutation_id"),
            Column::new("Run", "run_id"),
            Column::new("Run by", "run_by"),
        ],
    );
    t.rows = lines
        .iter()
        .map(|l| {
            let asked = if l.kind == "erasure" { when(l.requested_at).display() } else { format!("before {}", l.cutoff) };
            TableRow::new(vec![
                when(l.at),
                text(&l.kind),
                text(if l.dataset == "*" { "all (the run completed)" } else { &l.dataset }),
                Cell::Count(l.rows_before),
                Cell::Count(l.rows_after),
                text(&l.replicas),
                text(if l.done == 1 { "yes" } else { "no" }),
                text(&l.subject_hash),
                text(asked),
                text(&l.statement),
                text(&l.mutation_id),
                text(&l.run_id),
                text(&l.run_by),
            ])
        })
        .collect();
    t
}

/// An audit entry as stored (the chain's own row type).
pub type AuditLine = crate::audit::chain::Stored;

/// The access audit in the period, newest first, by user and by the
/// customer's keyed hash (`subject`: [`crate::audit::Audit::subject`] of
/// the reference the officer typed).
pub async fn audit(r: &Reader<'_>, q: &PrivacyQuery, subject: Option<&str>, rows: u64) -> clickhouse::error::Result<Vec<AuditLine>> {
    let mut sql = in_period(
        "SELECT toUInt32(at) AS at, user_name, roles, route, params, rows_returned, customers_touched, customer_refs, seq, prev_hash, entry_hash, writer \
         FROM {ledger}.access_audit WHERE ",
        q,
    );
    if let Some(u) = &q.user {
        sql = sql.raw(" AND user_name = ").text_value(u);
    }
    if let Some(s) = subject {
        sql = sql.raw(" AND has(customer_refs, ").text_value(s).raw(")");
    }
    page(sql.raw(" ORDER BY at DESC, seq DESC"), q, rows).query_in(r.client, r.dbs).fetch_all().await
}

pub fn audit_table(lines: &[AuditLine]) -> Table {
    let mut t = Table::new(
        "access_audit",
        "Access audit",
        vec![
            Column::new("Time", "at"),
            Column::new("Entry", "seq"),
            Column::new("Written by", "writer"),
            Column::new("User", "user_name"),
            Column::new("Roles", "roles"),
            Column::new("Route", "route"),
            Column::new("Asked for", "params"),
            Column::new("Rows", "rows_returned"),
            Column::new("Customers", "customers_touched"),
            Column::new("Customers (keyed hashes)", "customer_refs"),
        ],
    );
    t.rows = lines
        .iter()
        .map(|l| {
            let listed = match l.customer_refs.len() {
                0 => String::new(),
                n if n <= 3 => l.customer_refs.join(" "),
                n => format!("{} … ({n} listed)", l.customer_refs[..3].join(" ")),
            };
            TableRow::new(vec![
                when(l.at),
                if l.seq == 0 { text("unchained") } else { Cell::Count(l.seq) },
                text(&l.writer),
                text(&l.user_name),
                text(&l.roles),
                text(&l.route),
                text(&l.params),
                Cell::Count(l.rows_returned),
                Cell::Count(l.customers_touched),
                text(listed),
            ])
        })
        .collect();
    t
}

/// One dataset's retention, as held now.
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionLine {
    pub dataset: &'static str,
    pub days: u32,
    /// Days since 1970: rows before it are due.
    pub cutoff: u32,
    /// Oldest day held, if any rows.
    pub oldest: Option<u32>,
    pub rows: u64,
    pub due: u64,
    pub last_run: Option<LastRun>,
}

#[derive(Debug, Clone, PartialEq, Row, Deserialize)]
pub struct LastRun {
    pub dataset: String,
    pub at: u32,
    pub rows_before: u64,
    pub rows_after: u64,
    pub done: u8,
}

#[derive(Row, Deserialize)]
struct Held {
    rows: u64,
    oldest: u32,
    due: u64,
}

/// Per dataset: its retention, the oldest day held, rows due now, and the
/// last purge's result.
pub async fn retention(r: &Reader<'_>, retention: &RetentionSection, now: u64) -> clickhouse::error::Result<Vec<RetentionLine>> {
    let last: Vec<LastRun> = Sql::new(
        "SELECT dataset, toUInt32(at) AS at, rows_before, rows_after, done FROM {ledger}.purge_log WHERE kind = 'retention' \
         ORDER BY at DESC LIMIT 1 BY dataset",
    )
    .query_in(r.client, r.dbs)
    .fetch_all()
    .await?;
    let mut out = Vec::new();
    for (dataset, days) in retention.datasets() {
        let cutoff = retention.cutoff_day(dataset, now).unwrap_or(0);
        let mut line = RetentionLine { dataset, days, cutoff, oldest: None, rows: 0, due: 0, last_run: last.iter().find(|l| l.dataset == dataset).cloned() };
        for t in tables(dataset) {
            let held: Held = r
                .client
                .query(&format!(
                    "SELECT toUInt64(count()) AS rows, toUInt32(min(toUInt16({}))) AS oldest, toUInt64(countIf({})) AS due FROM {}",
                    t.day,
                    t.due(),
                    t.full_name(r.dbs)
                ))
                .bind(u64::from(cutoff) * 86_400)
                .fetch_one()
                .await?;
            if held.rows > 0 {
                line.oldest = Some(line.oldest.map_or(held.oldest, |o| o.min(held.oldest)));
            }
            line.rows += held.rows;
            line.due += held.due;
        }
        out.push(line);
    }
    Ok(out)
}

fn day(d: u32) -> Cell {
    Cell::Time(i64::from(d) * 86_400, Interval::Day)
}

pub fn retention_table(lines: &[RetentionLine], every_hours: u32) -> Table {
    let mut t = Table::new(
        "retention",
        "Retention status",
        vec![
            Column::new("Dataset", "dataset"),
            Column::new("Kept (days)", "days"),
            Column::new("Rows held", "rows"),
            Column::new("Oldest held", "oldest"),
            Column::new("Purged before", "cutoff"),
            Column::new("Rows past retention", "due"),
            Column::new("Last purge", "last_purge"),
            Column::new("Last result", "last_result"),
            Column::new("Next purge", "next_purge"),
        ],
    );
    t.rows = lines
        .iter()
        .map(|l| {
            let (last, result, next) = match &l.last_run {
                Some(r) => (
                    when(r.at),
                    text(if r.done == 1 { format!("{} removed, 0 left", r.rows_before) } else { format!("{} found, {} left", r.rows_before, r.rows_after) }),
                    when(r.at + every_hours * 3600),
                ),
                None => (text("never"), text(""), text("when the collector starts")),
            };
            TableRow::new(vec![
                text(l.dataset),
                Cell::Count(l.days.into()),
                Cell::Count(l.rows),
                l.oldest.map(day).unwrap_or_else(|| text("")),
                day(l.cutoff),
                Cell::Count(l.due),
                last,
                result,
                next,
            ])
        })
        .collect();
    t.note = Some(
        "The collector purges on its schedule; rows past retention are removed by the next run; collector purge --dry-run shows what is due.".into(),
    );
    t
}
