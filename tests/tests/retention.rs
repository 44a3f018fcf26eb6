//! Retention through the real collector binary and ClickHouse: every
//! dataset gets rows older than its retention and newer ones; `collector
//! purge --dry-run` removes and logs nothing; `collector purge` removes
//! exactly the old rows of every table (whole partitions where it can, a
//! mutation where it must), keeps the new, and logs one entry per dataset
//! with the counts; the collector's own scheduled run logged its (empty)
//! run too. The Tier 2 rollup of a day whose raw events are purged
//! survives the rollup's next run.

use std::process::Command;

use devstack::{Backend, Layout, Ports};
use mintmark_e2e::state_dir;

/// `(table, how a row is dated, the dataset, an INSERT of one row `n` days old)`.
fn tables() -> Vec<(&'static str, &'static str, &'static str, String)> {
    let dated = |table: &str, column: &str, n: i64| format!("INSERT INTO {table} ({column}) VALUES (today() - {n})");
    let timed = |table: &str, column: &str, n: i64| format!("INSERT INTO {table} ({column}) VALUES (now() - {n} * 86400)");
    let mut out = Vec::new();
    // Orders are replaced by key, not date: each test row needs a key of its own.
    let keyed = |table: &str, key: &str| format!("INSERT INTO {table} (order_date, {key}) SELECT today() - 0, toString(rand())");
    out.push(("t3.orders", "order_date", "t3_orders", keyed("t3.orders", "order_id")));
    out.push(("t2.orders", "order_date", "t2_orders", keyed("t2.orders", "order_key")));
    out.push(("t2.marketplace_orders", "order_date", "t2_orders", keyed("t2.marketplace_orders", "order_key")));
    for (table, day, dataset) in [
        ("t2.events", "event_date", "t2_events"),
        ("t2.visits", "start_day", "t2_rollups"),
        ("t2.visit_hours", "start_day", "t2_rollups"),
        ("t2.visit_facets", "start_day", "t2_rollups"),
        ("t2.visit_facet_pages", "start_day", "t2_rollups"),
        ("t2.visit_groups", "start_day", "t2_rollups"),
        ("t2.purchases", "event_date", "t2_rollups"),
        ("t2.rollup_days", "day", "t2_rollups"),
        ("t3.events", "event_date", "t3_events"),
    ] {
        out.push((table, day, dataset, dated(table, day, 0)));
    }
    for (table, dataset) in [("ledger.consent_ledger", "consent_ledger"), ("ledger.access_audit", "access_audit"), ("ledger.purge_log", "purge_log")] {
        out.push((table, "toDate(at)", dataset, timed(table, "at", 0)));
    }
    out.push(("t3.order_facts", "toDate(toDateTime(placed_at))", "t3_orders", "INSERT INTO t3.order_facts (placed_at) VALUES (toUInt32(now()) - 0 * 86400)".into()));
    out
}

/// Retention used by the CLI run, through the environment: short, so a
/// test row can be old without a 6-year-old date.
const RETENTION: &[(&str, i64)] = &[
    ("t2_events", 30),
    ("t2_rollups", 60),
    ("t3_events", 30),
    ("t3_orders", 60),
    ("t2_orders", 60),
    ("consent_ledger", 90),
    ("access_audit", 60),
    ("purge_log", 120),
];

fn days(dataset: &str) -> i64 {
    RETENTION.iter().find(|(d, _)| *d == dataset).unwrap().1
}

async fn count(backend: &Backend, sql: &str) -> anyhow::Result<u64> {
    Ok(backend.query(sql).await?.trim().parse()?)
}

fn purge(backend: &Backend, dry: bool) -> anyhow::Result<String> {
    let mut cmd = Command::new(Layout::discover()?.binary("collector"));
    cmd.arg("--config").arg(&backend.config_path).arg("purge");
    if dry {
        cmd.arg("--dry-run");
    }
    for (dataset, d) in RETENTION {
        cmd.env(format!("MINTMARK_RETENTION__{}_DAYS", dataset.to_uppercase()), d.to_string());
    }
    let out = cmd.output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    anyhow::ensure!(out.status.success(), "collector purge failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    Ok(stdout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_purge_removes_what_is_past_retention_and_logs_every_dataset() -> anyhow::Result<()> {
    let mut backend = Backend::start(&state_dir("retention")?, Ports::free()?).await?;
    // The collector ran its schedule at start: nothing was due, and it says so.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while count(&backend, "SELECT count() FROM ledger.purge_log WHERE kind = 'retention'").await? < 8 {
        anyhow::ensure!(std::time::Instant::now() < deadline, "the scheduled purge never logged");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        count(&backend, "SELECT count() FROM ledger.purge_log WHERE kind = 'retention' AND run_by = 'collector retention schedule' AND rows_before = 0 AND done = 1").await?,
        8,
        "one entry per dataset for a run that removed nothing"
    );

    // Per table: a row well past retention (a partition of its own), one a
    // day past, one a day inside, one of today.
    for (table, _, dataset, insert) in tables() {
        let d = days(dataset);
        for age in [d + 45, d + 1, d - 1, 0] {
            let sql = insert.replace("- 0", &format!("- {age}"));
            backend.query(&sql).await.map_err(|e| anyhow::anyhow!("{table}: {e}"))?;
        }
    }
    let due_sql = |table: &str, day: &str, dataset: &str| format!("SELECT count() FROM {table} WHERE {day} < today() - {}", days(dataset));
    let kept_sql = |table: &str, day: &str, dataset: &str| format!("SELECT count() FROM {table} WHERE {day} >= today() - {}", days(dataset));
    let mut due_per_dataset = std::collections::BTreeMap::<&str, u64>::new();
    let mut kept = Vec::new();
    for (table, day, dataset, _) in tables() {
        let due = count(&backend, &due_sql(table, day, dataset)).await?;
        assert!(due >= 2, "{table}: {due} rows due");
        *due_per_dataset.entry(dataset).or_default() += due;
        kept.push(count(&backend, &kept_sql(table, day, dataset)).await?);
    }

    let dry = purge(&backend, true)?;
    assert!(dry.contains("dry run: nothing was removed"), "{dry}");
    assert!(dry.contains("would run: ALTER TABLE t2.events DROP PARTITION"), "{dry}");
    for (table, day, dataset, _) in tables() {
        assert!(count(&backend, &due_sql(table, day, dataset)).await? >= 2, "--dry-run removed nothing from {table}");
    }
    let logged_before = count(&backend, "SELECT count() FROM ledger.purge_log").await?;
    assert_eq!(logged_before, 8 + 4, "--dry-run logged nothing (8 scheduled entries + 4 test rows)");

    let out = purge(&backend, false)?;
    assert!(out.contains("evidence written to ledger.purge_log"), "{out}");
    for ((table, day, dataset, _), kept_before) in tables().into_iter().zip(kept) {
        assert_eq!(count(&backend, &due_sql(table, day, dataset)).await?, 0, "{table}: nothing past retention is left");
        // The purge log's own run entries of today are newer than its cutoff.
        if table != "ledger.purge_log" {
            assert_eq!(count(&backend, &kept_sql(table, day, dataset)).await?, kept_before, "{table}: what is within retention stays");
        }
    }
    let run: String = backend.query("SELECT run_id FROM ledger.purge_log WHERE run_by LIKE 'collector purge%' LIMIT 1").await?.trim().to_string();
    let entries = backend
        .query(&format!("SELECT dataset, rows_before, rows_after, done FROM ledger.purge_log WHERE run_id = '{run}' ORDER BY dataset FORMAT TSV"))
        .await?;
    let got: Vec<&str> = entries.lines().collect();
    assert_eq!(got.len(), 8, "one entry per dataset: {entries}");
    for line in got {
        let f: Vec<&str> = line.split('\t').collect();
        let want = due_per_dataset[f[0]];
        assert_eq!((f[1].parse::<u64>()?, f[2], f[3]), (want, "0", "1"), "{line}");
    }
    // Whole partitions where it could, a mutation where it had to.
    let statements = backend.query(&format!("SELECT statement FROM ledger.purge_log WHERE run_id = '{run}' AND dataset = 't2_rollups'")).await?;
    assert!(statements.contains("ALTER TABLE t2.visits DROP PARTITION "), "{statements}");
    assert!(statements.contains("ALTER TABLE t2.rollup_days DELETE WHERE day < toDate("), "{statements}");
    // Two runs started in the same second (the schedule's and an
    // operator's, or two collectors') keep their entries apart.
    let client = mintmark_schema::client(&backend.config.clickhouse);
    let dbs = mintmark_schema::Databases::new("")?;
    let retention = &backend.config.retention;
    let (a, b) = tokio::join!(
        collector::purge::retention::run(&client, &dbs, &mintmark_schema::Layout::Single, retention, "test a", false),
        collector::purge::retention::run(&client, &dbs, &mintmark_schema::Layout::Single, retention, "test b", false)
    );
    a?;
    b?;
    let runs = backend
        .query("SELECT count() FROM (SELECT run_id, count() AS n FROM ledger.purge_log WHERE kind = 'retention' GROUP BY run_id HAVING n = 8)")
        .await?;
    assert_eq!(runs.trim(), "4", "the scheduled run, the one by hand and the two at once, 8 entries each");
    backend.stop();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_day_whose_raw_events_are_purged_keeps_its_rollup() -> anyhow::Result<()> {
    let mut backend = Backend::start(&state_dir("retention-rollup")?, Ports::free()?).await?;
    // Two visits 45 days ago (past the raw events' 30 days, inside the rollups' 60).
    backend
        .query(
            "INSERT INTO t2.events (event_date, ts, received_at, event_id, tier, session_id, kind, path) VALUES \
             (today() - 45, toDateTime(today() - 45) + 3600, now(), 'a1', 'tier2', 'sA', 'pageview', '/store/'), \
             (today() - 45, toDateTime(today() - 45) + 3660, now(), 'a2', 'tier2', 'sA', 'pageview', '/store/p'), \
             (today() - 45, toDateTime(today() - 45) + 7200, now(), 'b1', 'tier2', 'sB', 'pageview', '/store/')",
        )
        .await?;
    let client = mintmark_schema::client(&backend.config.clickhouse);
    dashboards::rollup::run(&client, "t2").await?;
    let visits = "SELECT sum(visits) FROM t2.visits WHERE start_day = today() - 45";
    assert_eq!(count(&backend, visits).await?, 2);
    purge(&backend, false)?;
    assert_eq!(count(&backend, "SELECT count() FROM t2.events").await?, 0, "the raw events are gone");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let raw_from = (now / 86_400) as u32 - 30;
    let rebuilt = dashboards::rollup::run_kept(&client, "t2", raw_from).await?;
    assert!(rebuilt.days.is_empty(), "no day before the raw cutoff is rebuilt: {:?}", rebuilt.days);
    assert_eq!(count(&backend, visits).await?, 2, "the views still show the day");
    // Without the guard, the rollup would have rebuilt the day from nothing.
    dashboards::rollup::run(&client, "t2").await?;
    assert_eq!(count(&backend, visits).await?, 0, "the unguarded rebuild empties it: the guard is what keeps it");
    backend.stop();
    Ok(())
}
