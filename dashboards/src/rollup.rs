//! The rollup: `t2.visits`, one row per visit and per anonymous hit, built
//! from the raw events a day at a time, each visit's contribution bounded
//! ([`crate::release::caps`]) before anything is added up.
//!
//! Why: the Tier 2 views group events into visits, and doing that on every
//! request costs a GROUP BY over every session of the period (seconds at
//! ten million events). Built once per day instead, a view reads one row
//! per visit. Why not a materialised view: replays (collapsed by
//! `ReplacingMergeTree` only at merge time) and visits that span inserts
//! would be counted wrong by an insert-time aggregate; a rebuild from
//! `events FINAL` is exact.
//!
//! How: a day is rebuilt when its raw events changed (row count or latest
//! arrival differ from what `rollup_days` recorded), and so is the day
//! before it, whose visits may run past midnight. The day is built into a
//! staging table of this run and swapped in with `REPLACE PARTITION`, which
//! is atomic: a reader sees the old day or the new one, never half. Today
//! changes all the time, so it is rebuilt on every run (every
//! `INTERVAL`): the views trail live traffic by at most that, and the
//! realtime view reads the raw events instead.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use clickhouse::{Client, Row};
use serde::{Deserialize, Serialize};

use crate::query::Day;
use crate::stats::breakdown::{visit_group_selects, Report};
use crate::stats::sql::Sql;
use crate::stats::metrics::SUMS;
use crate::stats::props::PROP_PAIRS;

/// How often the service rebuilds what changed.
pub const INTERVAL: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
#[error("rollup of {what}: {source}")]
pub struct RollupError {
    what: String,
    #[source]
    source: clickhouse::error::Error,
}

fn ctx(what: impl Into<String>) -> impl FnOnce(clickhouse::error::Error) -> RollupError {
    let what = what.into();
    move |source| RollupError { what, source }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Row, Deserialize, Serialize)]
struct DayState {
    /// Days since 1970.
    day: u16,
    source_rows: u64,
    source_last: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Row, Serialize)]
struct Built {
    day: u16,
    source_rows: u64,
    source_last: u32,
    built_at: u32,
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunReport {
    pub days: Vec<Day>,
    pub secs: f64,
}

/// The columns every row of `visits` is written with, in order.
const VISIT_COLUMNS: &str = "start_day, first_ts, last_ts, tier, pageviews, events, purchases, revenue, \
    visits, visit_pageviews, bounces, duration_sum, converted, anonymous_hits, tier2_events, tier3_events, \
    funnel_1, funnel_2, funnel_3, funnel_4, entry_page, exit_page, source, utm_source, utm_medium, utm_campaign, \
    country, region, network, os, browser, device, screen, language, time_zone, connection, \
    page_paths, page_views, paths, kinds, downloads, downloads_n, outbound, outbound_n, searches, searches_n, \
    utm_term, utm_content, custom_events, custom_events_n, custom_props, custom_props_n, max_purchase, seq, seq_ts";

/// The contribution bounds of [`crate::release::caps`], written into the
/// rollup's text: each visit's row holds at most that much.
fn caps(text: &str) -> String {
    use crate::release::caps;
    text.replace("{cap_pageviews}", &caps::PAGEVIEWS.to_string())
        .replace("{cap_events}", &caps::EVENTS.to_string())
        .replace("{cap_purchases}", &caps::PURCHASES.to_string())
        .replace("{cap_revenue}", &caps::REVENUE.to_string())
        .replace("{cap_duration}", &caps::DURATION_SECS.to_string())
        .replace("{prop_pairs}", PROP_PAIRS)
        .replace("{step_token}", crate::analyst::funnels::STEP_TOKEN)
}

/// Visits that started on the day, from that day's events and the days
/// around it (a visit's first event decides its day).
const VISITS: &str = "INSERT INTO {t2}.{build} ({columns})
SELECT start_day, first_ts, last_ts, tier, least(pageviews, {cap_pageviews}), least(events, {cap_events}),
       least(purchases, {cap_purchases}), least(greatest(revenue, 0), {cap_revenue}),
       1, least(pageviews, {cap_pageviews}), toUInt8(pageviews = 1 AND events = 1), least(toUInt32(last_ts - first_ts), {cap_duration}),
       toUInt8(purchases > 0), 0,
       if(tier = 'tier2', least(events, {cap_events}), 0), if(tier = 'tier3', least(events, {cap_events}), 0),
       toUInt8(funnel_level >= 1), toUInt8(funnel_level >= 2), toUInt8(funnel_level >= 3), toUInt8(funnel_level >= 4),
       entry_page, exit_page,
       a_source, a_utm_source, a_utm_medium, a_utm_campaign, a_country, a_region, a_network, a_os, a_browser, a_device,
       a_screen, a_language, a_time_zone, a_connection,
       arrayDistinct(pv) AS pp, arrayMap(p -> toUInt32(countEqual(pv, p)), pp),
       all_paths, all_kinds,
       arrayDistinct(dl) AS dd, arrayMap(p -> toUInt32(countEqual(dl, p)), dd),
       arrayDistinct(ob) AS oo, arrayMap(p -> toUInt32(countEqual(ob, p)), oo),
       arrayDistinct(se) AS ss, arrayMap(p -> toUInt32(countEqual(se, p)), ss),
       a_utm_term, a_utm_content,
       arrayDistinct(ce) AS cc, arrayMap(p -> toUInt32(countEqual(ce, p)), cc),
       arrayDistinct(cp) AS pp2, arrayMap(p -> toUInt32(countEqual(cp, p)), pp2),
       greatest(max_purchase, 0),
       arrayMap(x -> x.2, sq), arrayMap(x -> x.1 - sq[1].1 + 1, sq)
FROM (
    SELECT session_id,
           toDate(min(ts)) AS start_day, min(ts) AS first_ts, max(ts) AS last_ts, any(tier) AS tier,
           toUInt32(countIf(kind = 'pageview')) AS pageviews, toUInt32(count()) AS events,
           toUInt32(countIf(kind = 'purchase')) AS purchases, sumIf(value, kind = 'purchase') AS revenue,
           toUInt8(windowFunnel(86400)(ts, kind = 'product_view', kind = 'add_to_cart', kind = 'checkout_start', kind = 'purchase')) AS funnel_level,
           argMinIf(path, ts, kind = 'pageview') AS entry_page, argMaxIf(path, ts, kind = 'pageview') AS exit_page,
           argMin(referrer_domain, ts) AS a_source, argMin(utm_source, ts) AS a_utm_source, argMin(utm_medium, ts) AS a_utm_medium,
           argMin(utm_campaign, ts) AS a_utm_campaign, argMin(country, ts) AS a_country, argMin(region, ts) AS a_region,
           argMin(network, ts) AS a_network, argMin(os, ts) AS a_os, argMin(browser, ts) AS a_browser, argMin(device, ts) AS a_device,
           argMin(concat(toString(screen_width), 'x', toString(screen_height)), ts) AS a_screen, argMin(language, ts) AS a_language,
           argMin(time_zone, ts) AS a_time_zone, argMin(connection_type, ts) AS a_connection,
           groupArrayIf(path, kind = 'pageview') AS pv, groupUniqArray(path) AS all_paths, groupUniqArray(kind) AS all_kinds,
           groupArrayIf(target, kind = 'download') AS dl, groupArrayIf(target, kind = 'outbound') AS ob, groupArrayIf(target, kind = 'search') AS se,
           argMin(utm_term, ts) AS a_utm_term, argMin(utm_content, ts) AS a_utm_content,
           groupArrayIf(target, kind = 'custom') AS ce,
           groupArrayArrayIf(arrayMap(p -> concat(target, '\x1f', p), extractAll(props, {prop_pairs})), kind = 'custom') AS cp,
           maxIf(value, kind = 'purchase') AS max_purchase,
           arraySlice(arraySort(x -> x.1, groupArray((toUInt32(ts), {step_token}))), 1, {cap_events}) AS sq
    FROM {t2}.events FINAL
    WHERE event_date >= toDate(?) - 1 AND event_date <= toDate(?) + 1 AND session_id != ''
    GROUP BY session_id
    HAVING start_day = toDate(?)
)";

/// The day's anonymous hits, one row each: never a visit.
const ANONYMOUS: &str = "INSERT INTO {t2}.{build} ({columns})
SELECT event_date, ts, ts, tier, toUInt32(kind = 'pageview'), 1, toUInt32(kind = 'purchase'), if(kind = 'purchase', least(greatest(value, 0), {cap_revenue}), 0),
       0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, '', '',
       referrer_domain, utm_source, utm_medium, utm_campaign, country, region, network, os, browser, device,
       concat(toString(screen_width), 'x', toString(screen_height)), language, time_zone, connection_type,
       if(kind = 'pageview', [path], emptyArrayString()), if(kind = 'pageview', [toUInt32(1)], emptyArrayUInt32()),
       [path], [kind],
       if(kind = 'download', [target], emptyArrayString()), if(kind = 'download', [toUInt32(1)], emptyArrayUInt32()),
       if(kind = 'outbound', [target], emptyArrayString()), if(kind = 'outbound', [toUInt32(1)], emptyArrayUInt32()),
       if(kind = 'search', [target], emptyArrayString()), if(kind = 'search', [toUInt32(1)], emptyArrayUInt32()),
       utm_term, utm_content,
       if(kind = 'custom', [target], emptyArrayString()), if(kind = 'custom', [toUInt32(1)], emptyArrayUInt32()),
       if(kind = 'custom', arrayDistinct(arrayMap(p -> concat(target, '\x1f', p), extractAll(props, {prop_pairs}))) AS hp, emptyArrayString()),
       if(kind = 'custom', arrayMap(p -> toUInt32(1), hp), emptyArrayUInt32()),
       if(kind = 'purchase', greatest(value, 0), 0),
       [{step_token}], [toUInt32(1)]
FROM {t2}.events FINAL
WHERE event_date = toDate(?) AND session_id = ''";

/// The columns `purchases` shares with `events`.
const PURCHASE_COLUMNS: &str = "event_date, ts, session_id, tier, kind, path, referrer_domain, target, utm_source, utm_medium, utm_campaign, \
    country, region, network, os, browser, device, screen_width, screen_height, language, time_zone, connection_type, \
    value, currency, item_skus, item_quantities, item_prices";

/// Rebuilds the days of `t2` whose events changed since the last run.
pub async fn run(client: &Client, t2: &str) -> Result<RunReport, RollupError> {
    run_kept(client, t2, 0).await
}

/// [`run`], never touching a day before `raw_from` (days since 1970): the
/// raw events' retention cutoff. Before it the raw events are purged (or
/// being purged), and the rollup is the only record of those days left;
/// rebuilding one would empty it.
pub async fn run_kept(client: &Client, t2: &str, raw_from: u32) -> Result<RunReport, RollupError> {
    let started = Instant::now();
    let raw: Vec<DayState> = client
        .query(&format!("SELECT toUInt16(event_date) AS day, toUInt64(count()) AS source_rows, toUInt32(max(received_at)) AS source_last FROM {t2}.events GROUP BY event_date"))
        .fetch_all()
        .await
        .map_err(ctx("reading the event days"))?;
    let built: Vec<DayState> = client
        .query(&format!("SELECT toUInt16(day) AS day, source_rows, toUInt32(source_last) AS source_last FROM {t2}.rollup_days FINAL"))
        .fetch_all()
        .await
        .map_err(ctx("reading rollup_days"))?;
    let now: BTreeMap<u16, DayState> = raw.into_iter().map(|d| (d.day, d)).collect();
    let before: BTreeMap<u16, DayState> = built.into_iter().map(|d| (d.day, d)).collect();
    let mut days = BTreeSet::new();
    for (day, state) in &now {
        if before.get(day) != Some(state) {
            days.insert(*day);
            days.insert(day.saturating_sub(1));
        }
    }
    // Days whose events are all gone (a purge): rebuilt empty.
    for day in before.keys() {
        if !now.contains_key(day) && before[day].source_rows > 0 {
            days.insert(*day);
        }
    }
    days.retain(|d| u32::from(*d) >= raw_from);
    if days.is_empty() {
        return Ok(RunReport { days: Vec::new(), secs: started.elapsed().as_secs_f64() });
    }
    // Staging tables of this run only: another process rolling up at the
    // same time builds in its own.
    let staging = staging(&crate::sessions::random_token()[..12]);
    for create in create_staging(t2, &staging) {
        client.query(&create).execute().await.map_err(ctx("creating a staging table"))?;
    }
    let result = build_days(client, t2, &staging, &days, &now).await;
    for (_, build) in &staging {
        if let Err(e) = client.query(&format!("DROP TABLE IF EXISTS {t2}.{build}")).execute().await {
            tracing::warn!(error = %e, table = %build, "a staging table was left behind");
        }
    }
    result?;
    Ok(RunReport { days: days.into_iter().map(|d| Day(d as i32)).collect(), secs: started.elapsed().as_secs_f64() })
}

/// The rollup's tables, each rebuilt per day.
const TABLES: [&str; 6] = ["visits", "visit_hours", "visit_groups", "purchases", "visit_facets", "visit_facet_pages"];

/// `visit_hours` from the day's staged visits: the sums of [`SUMS`] per
/// hour of visit start.
fn hours_sql(build_visits: &str, build_hours: &str) -> String {
    format!(
        "INSERT INTO {{t2}}.{build_hours} (start_day, hour, {}) SELECT start_day, toStartOfHour(first_ts) AS hour, {} FROM {{t2}}.{build_visits} GROUP BY start_day, hour",
        SUMS.join(", "),
        crate::stats::metrics::sums_select()
    )
}

/// `visit_facets` from the day's staged visits: the sums per dimension
/// and value.
fn facets_sql(build_visits: &str, build_facets: &str) -> String {
    let pairs: Vec<String> = crate::query::facet_arrays().into_iter().map(|(name, values)| format!("arrayMap(v -> ('{name}', v), {values})")).collect();
    format!(
        "INSERT INTO {{t2}}.{build_facets} (start_day, dimension, value, {}) SELECT start_day, f.1 AS dimension, f.2 AS value, {} FROM {{t2}}.{build_visits} ARRAY JOIN arrayConcat({}) AS f GROUP BY start_day, dimension, value",
        SUMS.join(", "),
        crate::stats::metrics::sums_select(),
        pairs.join(", ")
    )
}

/// `visit_facet_pages` from the day's staged visits: visits and
/// pageviews per visit-wide value and page (ClickHouse 18.16 takes one
/// `ARRAY JOIN` per query, so the pages are unnested with `arrayJoin`).
fn facet_pages_sql(build_visits: &str, build_facet_pages: &str) -> String {
    let pairs: Vec<String> = crate::query::column_facets().into_iter().map(|(name, column)| format!("('{name}', {column})")).collect();
    format!(
        "INSERT INTO {{t2}}.{build_facet_pages} (start_day, dimension, value, key, visits, hits) \
         SELECT start_day, dimension, value, p.1 AS key, toUInt64(sum(visits)), toUInt64(sum(p.2)) FROM \
         (SELECT start_day, visits, f.1 AS dimension, f.2 AS value, arrayJoin(arrayMap((k, n) -> (k, n), page_paths, page_views)) AS p \
          FROM {{t2}}.{build_visits} ARRAY JOIN [{}] AS f) \
         GROUP BY start_day, dimension, value, key",
        pairs.join(", ")
    )
}

/// `visit_groups` from the day's staged visits: the same selects the
/// filtered breakdowns make, per day, over every report.
fn groups_sql(build_visits: &str, build_groups: &str) -> Vec<String> {
    visit_group_selects(&Report::ALL, &format!("{{t2}}.{build_visits}"), &Sql::new("1"), true)
        .into_iter()
        .map(|(_, select)| format!("INSERT INTO {{t2}}.{build_groups} (start_day, report, key, visits, hits) {}", select.text()))
        .collect()
}

/// Staging table names of one run: `(table, its staging table)` for
/// every table in [`TABLES`].
pub fn staging(run_id: &str) -> Vec<(&'static str, String)> {
    TABLES.iter().map(|t| (*t, format!("{t}_build_{run_id}"))).collect()
}

/// The statements creating a run's staging tables: each empty, with its
/// table's columns and plain (never replicated) engine.
pub fn create_staging(t2: &str, staging: &[(&'static str, String)]) -> Vec<String> {
    staging
        .iter()
        .map(|(table, build)| {
            let create = mintmark_schema::staging_statement(&format!("{{t2}}.{table}"), &format!("{{t2}}.{build}")).expect("a rollup table has a migration");
            create.replace("{t2}", t2)
        })
        .collect()
}

/// Every statement that rebuilds `day` of `t2` through `staging` and
/// swaps it in, in order. The day is a validated date, written into the
/// text (the same text runs in the SQL-compatibility test).
pub fn day_statements(t2: &str, staging: &[(&'static str, String)], day: Day) -> Vec<String> {
    let (visits, hours, groups, purchases, facets, facet_pages) = (&staging[0].1, &staging[1].1, &staging[2].1, &staging[3].1, &staging[4].1, &staging[5].1);
    let d = format!("'{day}'");
    let fill = |text: &str| caps(text).replace("{t2}", t2).replace("{build}", visits).replace("{columns}", VISIT_COLUMNS).replace('?', &d);
    let mut out = vec![
        fill(VISITS),
        fill(ANONYMOUS),
        format!("INSERT INTO {t2}.{purchases} ({PURCHASE_COLUMNS}) SELECT {PURCHASE_COLUMNS} FROM {t2}.events FINAL WHERE event_date = toDate({d}) AND kind = 'purchase'"),
        fill(&hours_sql(visits, hours)),
        fill(&facets_sql(visits, facets)),
        fill(&facet_pages_sql(visits, facet_pages)),
    ];
    out.extend(groups_sql(visits, groups).iter().map(|g| fill(g)));
    // Atomic per table: readers see the old day or the new one. An empty
    // build partition empties the day.
    for (table, build) in staging {
        out.push(format!("ALTER TABLE {t2}.{table} REPLACE PARTITION {d} FROM {t2}.{build}"));
        out.push(format!("ALTER TABLE {t2}.{build} DROP PARTITION {d}"));
    }
    out
}

async fn build_days(client: &Client, t2: &str, staging: &[(&'static str, String)], days: &BTreeSet<u16>, now: &BTreeMap<u16, DayState>) -> Result<(), RollupError> {
    let built_at = crate::accounts::now_secs() as u32;
    for day in days {
        let d = Day(*day as i32);
        for statement in day_statements(t2, staging, d) {
            client.query(&statement).execute().await.map_err(ctx(format!("rebuilding {d}")))?;
        }
        let state = now.get(day).copied().unwrap_or(DayState { day: *day, source_rows: 0, source_last: 0 });
        let mut insert = client.insert_unescaped::<Built>(&format!("{t2}.rollup_days")).await.map_err(ctx("recording the day"))?;
        insert
            .write(&Built { day: *day, source_rows: state.source_rows, source_last: state.source_last, built_at })
            .await
            .map_err(ctx("recording the day"))?;
        insert.end().await.map_err(ctx("recording the day"))?;
    }
    Ok(())
}

/// Runs [`run`] every [`INTERVAL`] until the process ends; failures are
/// logged and retried on the next tick (the views show the last good build).
pub async fn keep_running(client: Client, t2: String, retention: mintmark_config::RetentionSection) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let raw_from = retention.cutoff_day("t2_events", crate::accounts::now_secs() as u64).unwrap_or(0);
        match run_kept(&client, &t2, raw_from).await {
            Ok(r) if !r.days.is_empty() => tracing::info!(days = r.days.len(), secs = r.secs, "rollup rebuilt"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "rollup failed; retrying next time"),
        }
    }
}
