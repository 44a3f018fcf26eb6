//! The live invariant report: each privacy promise of DESIGN.md ("Tiers
//! and identity") as a query that must count 0, with a drill-down to the
//! offending rows. Run on request, on a schedule (exported as Prometheus
//! gauges), and by the tests, which plant a bad row for every check.
//!
//! The checks read every table, not just the column a promise is about:
//! the Tier 2 pattern checks take every `String` and `Array(String)`
//! column of every Tier 2 table from `system.columns`, so a column added
//! later is covered without touching this file.

use clickhouse::{Client, Row};
use mintmark_config::RetentionSection;
use mintmark_schema::retention::tables;
use mintmark_schema::Databases;
use serde::{Deserialize, Serialize};

/// Personal data a Tier 2 value must never look like. The boundaries keep
/// the keyed ids (32 hex digits) and truncated addresses (last IPv4 octet
/// 0, IPv6 cut after 48 bits) from matching.
const PATTERNS: [(&str, &str, &str); 4] = [
    ("t2_email", "Tier 2 values that hold an e-mail address", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
    ("t2_phone", "Tier 2 values that hold a phone number", r"(^|[^0-9A-Za-z])(\+?1[ .-]?)?\(?[2-9][0-9]{2}\)?[ .-]?[0-9]{3}[ .-]?[0-9]{4}([^0-9A-Za-z]|$)"),
    ("t2_card", "Tier 2 values that hold a card-like number", r"(^|[^0-9A-Za-z])[0-9]([ -]?[0-9]){12,18}([^0-9A-Za-z]|$)"),
    (
        "t2_ip",
        "Tier 2 values that hold a full IP address",
        r"(^|[^0-9.])([0-9]{1,3}\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9][0-9]?)([^0-9.]|$)|(^|[^0-9A-Za-z:])(([0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|([0-9A-Fa-f]{1,4}:){1,6}:([0-9A-Fa-f]{1,4}:){0,5}[0-9A-Fa-f]{1,4})([^0-9A-Za-z:]|$)",
    ),
];

/// Every check, `(id, what it counts)`, in report order.
pub const CHECKS: [(&str, &str); 11] = [
    ("t2_email", PATTERNS[0].1),
    ("t2_phone", PATTERNS[1].1),
    ("t2_card", PATTERNS[2].1),
    ("t2_ip", PATTERNS[3].1),
    ("t2_customer_ref", "Tier 2 values equal to a known customer reference"),
    ("t3_without_opt_in", "Tier 3 rows with no opt-in in the ledger at or before them"),
    ("t3_after_opt_out", "Tier 3 rows after an opt-out, an erasure request or the opt-in's expiry"),
    ("t3_session_ids", "Tier 3 values equal to a Tier 2 session id"),
    ("marketplace_linked", "Marketplace orders holding a customer reference or a Tier 3 order number"),
    ("t3_erased", "Tier 3 rows of customers whose erasure was asked for over 15 minutes ago"),
    ("past_retention", "Rows past their retention by more than a purge interval"),
];

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub id: &'static str,
    pub what: &'static str,
    pub violations: u64,
    /// Why the check could not run, if it could not.
    pub error: Option<String>,
}

/// One offending value, as the drill-down shows it.
#[derive(Debug, Clone, PartialEq, Row, Deserialize, Serialize)]
pub struct Offence {
    pub place: String,
    pub column: String,
    pub value: String,
    /// The customer reference the row names, if it names one: the
    /// drill-down's audit entry lists it (as a keyed hash).
    #[serde(default)]
    pub customer: String,
}

/// Checks whose offending values are customer references.
fn names_customers(check: &str) -> bool {
    matches!(check, "t2_customer_ref" | "marketplace_linked")
}

/// Offending rows a drill-down shows at most.
pub const DRILL_ROWS: usize = 50;

pub struct Checker<'a> {
    pub client: &'a Client,
    pub dbs: &'a Databases,
    pub retention: &'a RetentionSection,
    pub now: u64,
}

#[derive(Row, Deserialize)]
struct StringColumn {
    table: String,
    name: String,
    is_array: u8,
}

/// A column test as SQL over one value `{v}`: pattern checks and the
/// customer-reference check are both "does this string offend".
fn test(check: &str, dbs: &Databases) -> Option<String> {
    if let Some((_, _, re)) = PATTERNS.iter().find(|(id, ..)| *id == check) {
        return Some(format!("match({{v}}, {})", literal(re)));
    }
    match check {
        "t2_customer_ref" => Some(dbs.render("{v} IN (SELECT customer_ref FROM {ledger}.consent_ledger UNION ALL SELECT customer_ref FROM {t3}.orders)")),
        "t3_session_ids" => Some(dbs.render("{v} IN (SELECT session_id FROM {t2}.events WHERE session_id != '')")),
        "marketplace_linked" => Some(dbs.render(
            "{v} IN (SELECT customer_ref FROM {ledger}.consent_ledger UNION ALL SELECT customer_ref FROM {t3}.orders UNION ALL SELECT order_id FROM {t3}.orders)",
        )),
        _ => None,
    }
}

/// `test` over a column: a `String` directly, an `Array(String)` by any element.
fn over(column: &StringColumn, test: &str) -> String {
    let col = format!("`{}`", column.name.replace('`', ""));
    if column.is_array == 1 {
        format!("arrayExists(x -> {}, {col})", test.replace("{v}", "x"))
    } else {
        test.replace("{v}", &col)
    }
}

/// The consent checks' tables: `(table, time column, row id)`.
const CONSENT_TABLES: [(&str, &str, &str); 2] = [("events", "ts", "event_id"), ("orders", "at", "concat(order_id, ' ', toString(event))")];

/// `FROM … WHERE` of the Tier 3 rows of `table` whose customer's consent
/// state at the row's time is wrong: `bad` over `{last}` (the latest ledger
/// action at or before the row) and `{expires}` (that opt-in's token expiry).
pub fn consent_rows(dbs: &Databases, table: &str, time: &str, id: &str, bad: &str) -> String {
    // ClickHouse 18.16 cannot capture a column in a lambda over joined
    // arrays, so the row's time is passed as an array too.
    let at_or_before = |of: &str| format!("arrayElement(arrayFilter((x, t, r) -> t <= r, {of}, c_at, arrayResize([row_at], length(c_at), row_at)), -1)");
    dbs.render(&format!(
        "FROM (SELECT ref, cref, row_at, row_id, {} AS s_last, {} AS s_expires \
         FROM (SELECT subject AS ref, customer_ref AS cref, toUInt32({time}) AS row_at, {id} AS row_id FROM {{t3}}.{table}) AS r \
         ANY LEFT JOIN (SELECT subject AS ref, groupArray(toString(action)) AS c_act, groupArray(toUInt32(at)) AS c_at, \
         groupArray(toUInt32(token_expires_at)) AS c_exp FROM (SELECT * FROM {{ledger}}.consent_ledger ORDER BY at, action) GROUP BY subject) AS c \
         USING ref) AS j WHERE ({bad})",
        at_or_before("c_act"),
        at_or_before("c_exp")
    ))
    .replace("{last}", "s_last")
    .replace("{expires}", "s_expires")
}

/// The `bad` condition of each consent check.
pub const NO_OPT_IN: &str = "{last} = ''";
pub const AFTER_OPT_OUT: &str = "{last} IN ('opt_out', 'erasure_requested') OR ({last} = 'opt_in' AND {expires} < row_at)";

/// Every consent check's count query (the SQL-compatibility test runs them on current ClickHouse).
pub fn consent_count_sql(dbs: &Databases) -> Vec<String> {
    [NO_OPT_IN, AFTER_OPT_OUT]
        .iter()
        .flat_map(|bad| CONSENT_TABLES.iter().map(move |(t, time, id)| format!("SELECT toUInt64(count()) AS n {}", consent_rows(dbs, t, time, id, bad))))
        .collect()
}

/// Every string value of a row as one array: one test per value, and a
/// subquery in the test (`IN (SELECT …)`) is built once, not per column.
fn values(cols: &[&StringColumn]) -> String {
    let col = |c: &StringColumn| format!("`{}`", c.name.replace('`', ""));
    let plain: Vec<String> = cols.iter().filter(|c| c.is_array == 0).map(|c| col(c)).collect();
    let mut parts: Vec<String> = cols.iter().filter(|c| c.is_array == 1).map(|c| col(c)).collect();
    if !plain.is_empty() {
        parts.insert(0, format!("[{}]", plain.join(", ")));
    }
    if parts.len() == 1 {
        parts.remove(0)
    } else {
        format!("arrayConcat({})", parts.join(", "))
    }
}

/// Columns grouped by table, in order.
fn by_table(columns: &[StringColumn]) -> Vec<(&str, Vec<&StringColumn>)> {
    let mut out: Vec<(&str, Vec<&StringColumn>)> = Vec::new();
    for c in columns {
        match out.last_mut() {
            Some((t, cols)) if *t == c.table => cols.push(c),
            _ => out.push((&c.table, vec![c])),
        }
    }
    out
}

/// A pattern as a ClickHouse string literal: quotes and backslashes
/// escaped, and `?` doubled (the client reads a lone one as a bind).
fn literal(re: &str) -> String {
    format!("'{}'", re.replace('\\', "\\\\").replace('\'', "\\'").replace('?', "??"))
}

impl Checker<'_> {
    /// The string columns of `db`'s tables (staging tables left out).
    async fn string_columns(&self, db: &str, only: Option<&str>) -> clickhouse::error::Result<Vec<StringColumn>> {
        let mut q = "SELECT table, name, toUInt8(type = 'Array(String)') AS is_array FROM system.columns \
                     WHERE database = ? AND type IN ('String', 'Array(String)') AND position(table, '_build_') = 0"
            .to_string();
        if only.is_some() {
            q.push_str(" AND table = ?");
        }
        let mut query = self.client.query(&format!("{q} ORDER BY table, name")).bind(db);
        if let Some(t) = only {
            query = query.bind(t);
        }
        query.fetch_all().await
    }

    /// Where a value-test check looks.
    fn scope(&self, check: &str) -> Option<(&str, Option<&'static str>)> {
        match check {
            "t3_session_ids" => Some((&self.dbs.t3, None)),
            "marketplace_linked" => Some((&self.dbs.t2, Some("marketplace_orders"))),
            c if test(c, self.dbs).is_some() => Some((&self.dbs.t2, None)),
            _ => None,
        }
    }

    async fn value_check(&self, check: &str, drill: bool) -> clickhouse::error::Result<(u64, Vec<Offence>)> {
        let (db, only) = self.scope(check).expect("a value check");
        let test = test(check, self.dbs).expect("a value check");
        let columns = self.string_columns(db, only).await?;
        let mut total = 0;
        let mut offences = Vec::new();
        for (table, cols) in by_table(&columns) {
            let any = format!("arrayExists(x -> {}, {})", test.replace("{v}", "x"), values(&cols));
            let n: u64 = self.client.query(&format!("SELECT toUInt64(count()) FROM {db}.`{table}` WHERE {any}")).fetch_one().await?;
            total += n;
            if drill && n > 0 {
                for c in cols {
                    if offences.len() >= DRILL_ROWS {
                        break;
                    }
                    let value = if c.is_array == 1 { format!("arrayStringConcat(`{}`, ' | ')", c.name) } else { format!("`{}`", c.name) };
                    // Where the test is "equals a known customer reference",
                    // the matching value is one.
                    let customer = match (names_customers(check), c.is_array == 1) {
                        (false, _) => "''".to_string(),
                        (true, true) => format!("arrayFirst(x -> {}, `{}`)", test.replace("{v}", "x"), c.name),
                        (true, false) => format!("`{}`", c.name),
                    };
                    let rows: Vec<Offence> = self
                        .client
                        .query(&format!(
                            "SELECT ? AS place, ? AS column, {value} AS value, {customer} AS customer FROM {db}.`{table}` WHERE {} LIMIT {}",
                            over(c, &test),
                            DRILL_ROWS - offences.len()
                        ))
                        .bind(format!("{db}.{table}"))
                        .bind(c.name.as_str())
                        .fetch_all()
                        .await?;
                    offences.extend(rows);
                }
            }
        }
        Ok((total, offences))
    }

    /// Tier 3 rows whose customer's consent state at the row's time is
    /// wrong ([`consent_rows`]).
    async fn consent_check(&self, bad: &str, drill: bool) -> clickhouse::error::Result<(u64, Vec<Offence>)> {
        let mut total = 0;
        let mut offences = Vec::new();
        for (table, time, id) in CONSENT_TABLES {
            let from = consent_rows(self.dbs, table, time, id, bad);
            let n: u64 = self.client.query(&format!("SELECT toUInt64(count()) {from}")).fetch_one().await?;
            total += n;
            if drill && n > 0 && offences.len() < DRILL_ROWS {
                let rows: Vec<Offence> = self
                    .client
                    .query(&format!(
                        "SELECT ? AS place, concat(cref, ' at ', toString(toDateTime(row_at))) AS column, row_id AS value, cref AS customer {from} LIMIT {}",
                        DRILL_ROWS - offences.len()
                    ))
                    .bind(format!("{}.{table}", self.dbs.t3))
                    .fetch_all()
                    .await?;
                offences.extend(rows);
            }
        }
        Ok((total, offences))
    }

    async fn erased_check(&self, drill: bool) -> clickhouse::error::Result<(u64, Vec<Offence>)> {
        let mut total = 0;
        let mut offences = Vec::new();
        for table in ["events", "orders", "order_facts"] {
            let from = self.dbs.render(&format!(
                "FROM {{t3}}.{table} WHERE subject IN (SELECT subject FROM {{ledger}}.consent_ledger \
                 WHERE action = 'erasure_requested' AND at < now() - 900)"
            ));
            let n: u64 = self.client.query(&format!("SELECT toUInt64(count()) {from}")).fetch_one().await?;
            total += n;
            if drill && n > 0 {
                let rows: Vec<Offence> = self
                    .client
                    .query(&format!("SELECT ? AS place, 'customer_ref' AS column, customer_ref AS value, customer_ref AS customer {from} LIMIT {DRILL_ROWS}"))
                    .bind(format!("{}.{table}", self.dbs.t3))
                    .fetch_all()
                    .await?;
                offences.extend(rows);
            }
        }
        Ok((total, offences))
    }

    /// Rows older than their cutoff by more than one purge interval (and a
    /// day): the purge should have taken them.
    async fn retention_check(&self) -> clickhouse::error::Result<(u64, Vec<Offence>)> {
        let grace = u64::from(self.retention.purge_every_hours).div_ceil(24) + 1;
        let mut total = 0;
        let mut offences = Vec::new();
        for (dataset, _) in self.retention.datasets() {
            let cutoff = u64::from(self.retention.cutoff_day(dataset, self.now).unwrap_or(0)).saturating_sub(grace);
            for t in tables(dataset) {
                let n: u64 = self.client.query(&t.count_due_sql(self.dbs)).bind(cutoff * 86_400).fetch_one().await?;
                if n > 0 {
                    total += n;
                    offences.push(Offence { place: t.full_name(self.dbs), column: dataset.to_string(), value: format!("{n} rows"), customer: String::new() });
                }
            }
        }
        Ok((total, offences))
    }

    /// Runs one check; with `drill`, also lists offending rows.
    pub async fn run(&self, check: &str, drill: bool) -> clickhouse::error::Result<(u64, Vec<Offence>)> {
        match check {
            "t3_without_opt_in" => self.consent_check(NO_OPT_IN, drill).await,
            "t3_after_opt_out" => self.consent_check(AFTER_OPT_OUT, drill).await,
            "t3_erased" => self.erased_check(drill).await,
            "past_retention" => self.retention_check().await,
            other => self.value_check(other, drill).await,
        }
    }

    /// Every check, counted.
    /// The four pattern checks in one scan per Tier 2 table: rows whose
    /// values match any pattern (one regular expression, the four joined)
    /// are found first, then counted per pattern.
    async fn pattern_counts(&self) -> clickhouse::error::Result<[u64; 4]> {
        let any = PATTERNS.iter().map(|(.., re)| format!("({re})")).collect::<Vec<_>>().join("|");
        let mut counts = [0; 4];
        for (table, cols) in by_table(&self.string_columns(&self.dbs.t2, None).await?) {
            let per: Vec<String> = PATTERNS.iter().map(|(.., re)| format!("toUInt64(countIf(arrayExists(x -> match(x, {}), v)))", literal(re))).collect();
            let found: Vec<u64> = self
                .client
                .query(&format!(
                    "SELECT [{}] FROM (SELECT {} AS v FROM {}.`{table}` WHERE arrayExists(x -> match(x, {}), v))",
                    per.join(", "),
                    values(&cols),
                    self.dbs.t2,
                    literal(&any)
                ))
                .fetch_one()
                .await?;
            for (c, n) in counts.iter_mut().zip(found) {
                *c += n;
            }
        }
        Ok(counts)
    }

    pub async fn report(&self) -> Vec<Outcome> {
        let mut out = Vec::new();
        let patterns = self.pattern_counts().await.map_err(|e| e.to_string());
        for (id, what) in CHECKS {
            let result = match PATTERNS.iter().position(|(p, ..)| *p == id) {
                Some(i) => patterns.clone().map(|counts| counts[i]),
                None => self.run(id, false).await.map(|(n, _)| n).map_err(|e| e.to_string()),
            };
            let (violations, error) = match result {
                Ok(n) => (n, None),
                Err(e) => (0, Some(e)),
            };
            out.push(Outcome { id, what, violations, error });
        }
        out
    }
}

/// The latest report, kept for the overview page and `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// When the run finished, Unix seconds.
    pub ran_at: u64,
    pub outcomes: Vec<Outcome>,
}

impl Report {
    pub fn failing(&self) -> usize {
        self.outcomes.iter().filter(|o| o.violations > 0 || o.error.is_some()).count()
    }
}

/// The report as Prometheus gauges: violations per check (-1 when the
/// check could not run), checks failing, and when it last ran.
pub struct Gauges {
    registry: prometheus::Registry,
    violations: prometheus::IntGaugeVec,
    failing: prometheus::IntGauge,
    last_run: prometheus::IntGauge,
}

impl Default for Gauges {
    fn default() -> Gauges {
        let registry = prometheus::Registry::new_custom(Some("mintmark_dashboards".into()), None).expect("valid prefix");
        let violations = prometheus::IntGaugeVec::new(
            prometheus::Opts::new("invariant_violations", "Rows breaking each privacy invariant at the last run (-1: the check failed to run)"),
            &["check"],
        )
        .expect("valid gauge");
        let failing = prometheus::IntGauge::new("invariant_checks_failing", "Privacy invariant checks not at 0 at the last run").expect("valid gauge");
        let last_run = prometheus::IntGauge::new("invariant_last_run_timestamp_seconds", "When the invariant report last ran").expect("valid gauge");
        for c in [Box::new(violations.clone()) as Box<dyn prometheus::core::Collector>, Box::new(failing.clone()), Box::new(last_run.clone())] {
            registry.register(c).expect("registered once");
        }
        Gauges { registry, violations, failing, last_run }
    }
}

impl Gauges {
    pub fn set(&self, report: &Report) {
        for o in &report.outcomes {
            let v = if o.error.is_some() { -1 } else { o.violations as i64 };
            self.violations.with_label_values(&[o.id]).set(v);
        }
        self.failing.set(report.failing() as i64);
        self.last_run.set(report.ran_at as i64);
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = prometheus::Encoder::encode(&prometheus::TextEncoder::new(), &self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(check: &str, s: &str) -> bool {
        let re = regex::Regex::new(PATTERNS.iter().find(|(id, ..)| *id == check).unwrap().2).unwrap();
        re.is_match(s)
    }

    #[test]
    fn patterns_catch_personal_data_and_spare_what_tier_2_holds() {
        assert!(matches("t2_email", "/store/account/jane.doe@example.com"));
        assert!(matches("t2_phone", "call 703-555-0147"));
        assert!(matches("t2_phone", "(703) 555 0147"));
        assert!(matches("t2_card", "4111 1111 1111 1111"));
        assert!(matches("t2_ip", "from 198.51.100.23"));
        assert!(matches("t2_ip", "2001:db8:1:2:3:4:5:6"));
        assert!(matches("t2_ip", "2001:db8::7"));
        for clean in ["198.51.100.0", "2001:db8:1::", "5f3c9a0d1e2b4c6f8a7b9c0d1e2f3a4b", "/store/product/mug-1", "Chrome", "120.0.0.0", "12:30:45"] {
            for (id, ..) in PATTERNS {
                assert!(!matches(id, clean), "{id} flagged {clean:?}");
            }
        }
    }

    #[test]
    fn every_check_has_a_way_to_run() {
        let dbs = Databases::new("").unwrap();
        for (id, _) in CHECKS {
            let known = test(id, &dbs).is_some() || ["t3_without_opt_in", "t3_after_opt_out", "t3_erased", "past_retention"].contains(&id);
            assert!(known, "{id}");
        }
    }
}
