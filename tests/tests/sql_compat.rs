//! The schema and the queries we depend on, on current ClickHouse.
//!
//! Tests elsewhere run against Debian's ClickHouse 18.16 server; production
//! runs current releases. Here every migration statement, rendered by the
//! collector's own schema code, runs in chdb (ClickHouse 26.x in-process),
//! followed by an insert and the reads the product relies on (`FINAL`
//! deduplication on event id, `uniqExact`).

use std::process::Command;

use mintmark_schema::{all_statements, Databases};
use devstack::Layout;
use mintmark_e2e::state_dir;
use serde_json::Value;

#[test]
fn migrations_and_reads_run_on_current_clickhouse() -> anyhow::Result<()> {
    let layout = Layout::discover()?;
    let dir = state_dir("sql_compat")?;
    let mut statements = all_statements(&Databases::new("")?);
    // The same event twice (a replay after a crash), then a second one.
    let cols = "event_date, ts, received_at, event_id, tier, session_id, kind, path, ip_prefix, country";
    for (id, received) in [("a", 100), ("a", 101), ("b", 100)] {
        statements.push(format!(
            "INSERT INTO t2.events ({cols}) VALUES (20000, 1728000000, {received}, '{id}', 'tier2', 's', 'pageview', '/store/', '203.0.113.0', 'US')"
        ));
    }
    let queries = [
        "SELECT count() AS n FROM t2.events FINAL",
        "SELECT uniqExact(event_id) AS n FROM t2.events",
        "SELECT name FROM system.columns WHERE database = 't3' AND table = 'events' AND name = 'session_id'",
        "SELECT count() AS n FROM ledger.consent_ledger",
    ];
    std::fs::write(dir.join("statements.json"), serde_json::to_vec(&statements)?)?;
    std::fs::write(dir.join("queries.json"), serde_json::to_vec(&queries)?)?;
    let out = Command::new("python3")
        .arg(layout.root.join("tests/sqlcompat/run_chdb.py"))
        .arg(dir.join("statements.json"))
        .arg(dir.join("queries.json"))
        .output()?;
    assert!(out.status.success(), "chdb refused our SQL:\n{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout)?;
    let version = report["version"].as_str().unwrap();
    assert!(version.split('.').next().unwrap().parse::<u32>()? >= 24, "a current ClickHouse, not {version}");
    let a = &report["answers"];
    // 64-bit integers come back as numbers or, on older settings, strings.
    let n = |v: &Value| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).unwrap();
    assert_eq!(n(&a[0][0]["n"]), 2, "FINAL collapses the replayed event");
    assert_eq!(n(&a[1][0]["n"]), 2);
    assert_eq!(a[2].as_array().unwrap().len(), 0, "t3.events has no session_id column on current ClickHouse either");
    assert_eq!(n(&a[3][0]["n"]), 0);
    eprintln!("schema ran on ClickHouse {version}: {} statements", report["statements"]);
    Ok(())
}
