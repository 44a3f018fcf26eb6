//! Retention: every dataset is kept for the days `[retention]` gives it,
//! then purged, with evidence.
//!
//! A run takes each dataset in turn ([`RetentionSection::datasets`]), with
//! its cutoff day (today minus its retention): rows dated before it are due.
//! Per table: partitions whose newest row is due are dropped whole (cheap
//! and immediate); rows still due in a partition that straddles the cutoff
//! are deleted by a mutation, waited for. Rows due are counted before and
//! after, and the run writes one purge-log row per dataset, also when
//! nothing was due, so the log shows the job ran. ClickHouse 18.16 has no
//! TTL; on current ClickHouse a `TTL <date> + INTERVAL n DAY DELETE` per
//! table with `ttl_only_drop_parts = 1` would do the dropping, and this job
//! would remain as the writer of the evidence (the manual, "Retention and purge").
//!
//! The Tier 2 rollups outlive the raw events they were built from; the
//! dashboards' rollup never rebuilds a day older than the raw events'
//! cutoff, so a day whose raw events are purged keeps its visits.

use std::time::Duration;

use clickhouse::Client;
use mintmark_config::RetentionSection;
use mintmark_schema::retention::{tables, Table};
use mintmark_schema::{Databases, Layout};
use serde::Serialize;

use super::{log, nothing_left, on_every_replica, replicas_text, settle, Evidence, Kind, PurgeError};
use crate::ingest::unix_now;

/// What a run did (or, dry, would do) to one dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DatasetReport {
    pub dataset: String,
    pub retention_days: u32,
    /// `YYYY-MM-DD`: rows dated before it were due.
    pub cutoff: String,
    pub rows_due: u64,
    pub rows_left: u64,
    pub statements: Vec<String>,
}

/// A day (days since 1970) as `YYYY-MM-DD`, for the statements and reports.
fn date_of(day: u32) -> String {
    let date = time::Date::from_julian_day(2_440_588 + day as i32).expect("in range");
    format!("{:04}-{:02}-{:02}", date.year(), date.month() as u8, date.day())
}

/// Rows of `t` dated before the cutoff (Unix seconds of its first day).
async fn due(client: &Client, dbs: &Databases, t: &Table, cutoff_secs: u64) -> Result<u64, PurgeError> {
    Ok(client.query(&t.count_due_sql(dbs)).bind(cutoff_secs).fetch_one().await?)
}

/// A partition value as a literal for `DROP PARTITION`: a month number or
/// a quoted date, nothing else.
fn partition_literal(value: &str, table: &str) -> Result<String, PurgeError> {
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(value.to_string())
    } else if value.len() == 10 && value.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        Ok(format!("'{value}'"))
    } else {
        Err(PurgeError::Partition(value.to_string(), table.to_string()))
    }
}

/// Each writer's last access-audit entry before `cutoff`, a line each:
/// `<seq> <hash>`, then ` <writer>` for a named one (each dashboards
/// process writes its own chain). The chain check lets each remaining
/// chain resume there.
async fn audit_anchor(client: &Client, table: &str, cutoff_secs: u64) -> Result<String, PurgeError> {
    let last: Vec<(String, u64, String)> = client
        .query(&format!(
            "SELECT writer, max(seq), argMax(entry_hash, seq) FROM {table} WHERE toDate(at) < toDate(toDateTime(?)) AND seq > 0 GROUP BY writer ORDER BY writer"
        ))
        .bind(cutoff_secs)
        .fetch_all()
        .await?;
    let line = |(writer, seq, hash): (String, u64, String)| if writer.is_empty() { format!("{seq} {hash}") } else { format!("{seq} {hash} {writer}") };
    Ok(last.into_iter().map(line).collect::<Vec<_>>().join("\n"))
}

/// What a purge of one dataset did besides its report.
#[derive(Default)]
struct Done {
    anchor: String,
    mutations: Vec<String>,
    /// `<table>: <per-replica counts>` for every table that had rows due.
    replicas: Vec<String>,
}

/// Purges one dataset (or, `dry`, only counts and plans).
async fn purge_dataset(client: &Client, dbs: &Databases, layout: &Layout, dataset: &str, days: u32, cutoff_day: u32, dry: bool) -> Result<(DatasetReport, Done), PurgeError> {
    let (cutoff, cutoff_secs) = (date_of(cutoff_day), u64::from(cutoff_day) * 86_400);
    let mut report = DatasetReport { dataset: dataset.into(), retention_days: days, cutoff: cutoff.clone(), rows_due: 0, rows_left: 0, statements: Vec::new() };
    let mut done = Done::default();
    for t in tables(dataset) {
        let db = t.db.name(dbs);
        let full = t.full_name(dbs);
        let before = due(client, dbs, t, cutoff_secs).await?;
        report.rows_due += before;
        if before == 0 {
            continue;
        }
        if dataset == "access_audit" && done.anchor.is_empty() {
            done.anchor = audit_anchor(client, &full, cutoff_secs).await?;
        }
        let mut in_whole = 0;
        if let Some(partition) = t.partition {
            let whole: Vec<(String, u64)> = client
                .query(&format!(
                    "SELECT p, rows FROM (SELECT toString({partition}) AS p, max({}) AS newest, toUInt64(count()) AS rows FROM {full} GROUP BY p) \
                     WHERE newest < toDate(toDateTime(?)) ORDER BY p",
                    t.day
                ))
                .bind(cutoff_secs)
                .fetch_all()
                .await?;
            for (p, rows) in whole {
                let sql = format!("ALTER TABLE {} DROP PARTITION {}", layout.storage(&full), partition_literal(&p, &full)?);
                if !dry {
                    client.query(&sql).execute().await?;
                }
                in_whole += rows;
                report.statements.push(sql);
            }
        }
        let straddling = if dry { before - in_whole.min(before) } else { due(client, dbs, t, cutoff_secs).await? };
        if straddling > 0 {
            let sql = format!("ALTER TABLE {} DELETE WHERE {} < toDate('{cutoff}')", layout.storage(&full), t.day);
            if !dry {
                client.query(&sql).execute().await?;
                done.mutations.push(settle(client, layout, db, t.name).await?);
            }
            report.statements.push(sql);
        }
        if !dry {
            let left = due(client, dbs, t, cutoff_secs).await?;
            report.rows_left += left;
            if left == 0 {
                // Every copy, not only the replica per shard that answered.
                let copies = on_every_replica(client, layout, db, t.name, |from| {
                    client.query(&format!("SELECT toUInt64(count()) FROM {from} WHERE {}", t.due())).bind(cutoff_secs)
                })
                .await?;
                done.replicas.push(format!("{}: {}", t.name, replicas_text(&copies)));
                nothing_left(&full, &copies)?;
            }
        }
    }
    if dry {
        report.rows_left = report.rows_due;
    }
    Ok((report, done))
}

/// Runs the purge over every dataset. Unless `dry`, writes one purge-log
/// row per dataset (also for those with nothing due) and errs if anything
/// due is left. `dry` changes nothing and logs nothing.
pub async fn run(client: &Client, dbs: &Databases, layout: &Layout, retention: &RetentionSection, run_by: &str, dry: bool) -> Result<Vec<DatasetReport>, PurgeError> {
    let started = unix_now() as u32;
    // Nanoseconds, not seconds: the schedule and `collector purge` (or two
    // collectors) can start runs in the same second, and each run's
    // entries must stay apart.
    let run_id = format!(
        "retention-{}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default()
    );
    let mut reports = Vec::new();
    for (dataset, days) in retention.datasets() {
        let cutoff_day = retention.cutoff_day(dataset, u64::from(started)).expect("a configured dataset");
        let (report, done) = purge_dataset(client, dbs, layout, dataset, days, cutoff_day, dry).await?;
        if !dry {
            let evidence = Evidence {
                at: unix_now() as u32,
                run_id: run_id.clone(),
                kind: Kind::Retention,
                subject_hash: String::new(),
                requested_at: started,
                dataset: dataset.to_string(),
                rows_before: report.rows_due,
                rows_after: report.rows_left,
                statement: report.statements.join(";\n"),
                mutation_id: done.mutations.join(" "),
                run_by: run_by.to_string(),
                done: u8::from(report.rows_left == 0),
                cutoff: cutoff_day as u16,
                anchor: done.anchor,
                replicas: done.replicas.join("; "),
            };
            log(client, dbs, &[evidence]).await?;
            if report.rows_left > 0 {
                return Err(PurgeError::Remaining { dataset: dataset.to_string(), left: report.rows_left });
            }
        }
        reports.push(report);
    }
    Ok(reports)
}

/// How long ago any collector's scheduled run logged (very long if none did).
async fn since_last_run(client: &Client, dbs: &Databases) -> Result<Duration, PurgeError> {
    let secs: u64 = client
        .query(&dbs.render("SELECT toUInt64(now() - max(at)) FROM {ledger}.purge_log WHERE kind = 'retention' AND run_by = 'collector retention schedule'"))
        .fetch_one()
        .await?;
    Ok(Duration::from_secs(secs))
}

/// Runs the purge at start and then every `retention.purge_every_hours`,
/// unless another collector's run came within that period.
pub async fn keep_purging(client: Client, dbs: Databases, layout: Layout, retention: RetentionSection, holder: String) {
    let every = Duration::from_secs(u64::from(retention.purge_every_hours) * 3600);
    let lock = super::purge_lock(&dbs, &layout, &holder);
    loop {
        // One run per period across every collector: another that ran it
        // lately leaves this one nothing to do.
        let scheduled = async {
            let ago = since_last_run(&client, &dbs).await?;
            if ago < every {
                return Ok(every - ago);
            }
            let reports = run(&client, &dbs, &layout, &retention, "collector retention schedule", false).await?;
            tracing::info!(removed = reports.iter().map(|r| r.rows_due).sum::<u64>(), "retention purge done");
            Ok::<_, PurgeError>(every)
        };
        let wait = match lock.holding(&client, scheduled).await {
            Ok(Some(Ok(wait))) => wait,
            Ok(Some(Err(e))) => {
                tracing::warn!(error = %e, "retention purge failed; retrying in a minute");
                Duration::from_secs(60)
            }
            // An erasure pass (seconds) or another collector's run holds
            // it: try again shortly.
            Ok(None) => Duration::from_secs(5),
            Err(e) => {
                tracing::warn!(error = %e, "taking the purge lock failed; retrying in a minute");
                Duration::from_secs(60)
            }
        };
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutoff_days_are_calendar_days() {
        // 2026-11-24T12:00:00Z, 396 days back and one.
        let r = RetentionSection { t2_events_days: 396, t3_events_days: 1, ..RetentionSection::default() };
        assert_eq!(date_of(r.cutoff_day("t2_events", 1_795_521_600).unwrap()), "2025-10-24");
        assert_eq!(date_of(r.cutoff_day("t3_events", 1_795_521_600).unwrap()), "2026-11-23");
    }

    #[test]
    fn only_month_numbers_and_dates_become_partition_literals() {
        assert_eq!(partition_literal("202601", "t").unwrap(), "202601");
        assert_eq!(partition_literal("2026-01-31", "t").unwrap(), "'2026-01-31'");
        for bad in ["", "2026'; DROP", "tuple()", "2026-01-31x"] {
            assert!(partition_literal(bad, "t").is_err(), "{bad}");
        }
    }

}
