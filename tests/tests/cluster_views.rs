//! The dashboards and the purges on the 2 × 2 cluster: the same history
//! written to a single server and to the cluster gives the same top
//! metrics, breakdowns and Tier 3 views, the rollup built through one
//! server is read the same through another, and an erasure and a retention
//! purge leave nothing on any replica, with evidence naming every replica,
//! and the purge lock is one for the whole cluster.

use std::time::Duration;

use collector::pseudonym::Pseudonyms;
use collector::purge::{erasure, retention};
use dashboards::query::{Day, Range, Sort, StatsQuery};
use dashboards::rollup;
use dashboards::stats::breakdown::breakdowns;
use dashboards::stats::{top_metrics, Report, TopMetrics, Window};
use dashboards::tier3::{customers::customers, facts, MarketingQuery, Tier3};
use devstack::history::{self, Plan};
use devstack::orders::{seed_orders, OrderPlan};
use devstack::{Backend, Cluster, ClusterSpec, Ports};
use mintmark_config::{ClickHouseSection, RetentionSection};
use mintmark_e2e::{eventually, state_dir};
use mintmark_schema::{Databases, Layout};

const PSEUDONYM_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

fn same_metrics(a: &TopMetrics, b: &TopMetrics) -> bool {
    (a.visits, a.pageviews, a.anonymous_hits) == (b.visits, b.pageviews, b.anonymous_hits)
        && close(a.bounce_rate, b.bounce_rate)
        && close(a.avg_duration_secs, b.avg_duration_secs)
        && close(a.pages_per_visit, b.pages_per_visit)
        && close(a.conversion_rate, b.conversion_rate)
        && close(a.revenue, b.revenue)
}

/// What the views show, in a form two stores can be compared by.
#[derive(Debug, PartialEq)]
struct Shown {
    rolled_days: usize,
    metrics: Vec<TopMetrics>,
    groups: Vec<Vec<(String, u64, u64)>>,
    customers: (u64, Vec<(String, u64, u64)>),
}

async fn shown(client: &clickhouse::Client, dbs: &Databases, today: Day) -> anyhow::Result<Shown> {
    let rolled = rollup::run(client, &dbs.t2).await?;
    facts::rebuild(client, dbs).await?;
    let range = Range { from: Day(today.0 - 14), until: Day(today.0 + 1) };
    let q = |p: &[(&str, &str)]| StatsQuery::from_params(&p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>(), today).unwrap();
    let mut metrics = Vec::new();
    for filters in [&[][..], &[("f", "device:is:mobile")], &[("f", "page:contains:product")]] {
        metrics.push(top_metrics(client, &dbs.t2, range, &q(filters).visit_filter_sql()).await?);
    }
    let all = breakdowns(client, &dbs.t2, &Report::ALL, Window::from(range), &q(&[]).filter_sql(), 1, Sort::DEFAULT).await?;
    let groups = all.iter().map(|b| b.rows.iter().map(|g| (g.name.clone(), g.visits, g.hits)).collect()).collect();
    let t3 = Tier3 { client, dbs, today, min_customers: 1 };
    let mq = MarketingQuery::from_params(&[])?;
    let (rows, total) = customers(&t3, &mq, 0, 1000).await?;
    let mut listed: Vec<(String, u64, u64)> = rows.iter().map(|r| (r.customer_ref.clone(), r.c_orders, r.c_lifetime_orders)).collect();
    listed.sort();
    Ok(Shown { rolled_days: rolled.days.len(), metrics, groups, customers: (total, listed) })
}

/// Seeds the same history and orders through `client`.
async fn seed(client: &clickhouse::Client, dbs: &Databases, until: i64) -> anyhow::Result<()> {
    let ids = Pseudonyms::from_secrets(PSEUDONYM_KEY, PSEUDONYM_KEY)?;
    history::seed(client, dbs, &ids, None, Plan { events: 40_000, days: 10, until, seed: 14 }, |_| {}).await?;
    seed_orders(client, dbs, &ids, OrderPlan { customers: 400, orders: 2_000, days: 60, until, seed: 14 }, |_| {}).await?;
    Ok(())
}

async fn wait_each(cluster: &Cluster, sql: &str, ok: impl Fn(&[String]) -> bool, timeout: Duration) -> anyhow::Result<Vec<String>> {
    let each = async || Ok(cluster.query_each(sql).await?.into_iter().map(|s| s.trim().to_string()).collect::<Vec<_>>());
    eventually(sql, timeout, each, |got| ok(got)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_and_purges_on_the_cluster_match_a_single_server() -> anyhow::Result<()> {
    let dir = state_dir("cluster_views")?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
    let until = now - 3600;
    let today = Day((now / 86_400) as i32);

    let mut single = Backend::start(&dir.join("single"), Ports::free()?).await?;
    let single_client = mintmark_schema::client(&single.config.clickhouse);
    let dbs = Databases::new("")?;
    let mut cluster = Cluster::start(&dir.join("cluster"), &ClusterSpec::default()).await?;
    let ch = ClickHouseSection { url: cluster.members[0].url(), cluster: cluster.name.clone(), ..ClickHouseSection::default() };
    mintmark_schema::migrate(&ch).await?;
    let cluster_client = mintmark_schema::client(&ch);
    let layout = Layout::new(&ch.cluster)?;

    seed(&single_client, &dbs, until).await?;
    seed(&cluster_client, &dbs, until).await?;
    let on_single = shown(&single_client, &dbs, today).await?;
    let on_cluster = shown(&cluster_client, &dbs, today).await?;
    assert!(on_single.rolled_days >= 10 && on_single.metrics[0].visits > 1000, "{on_single:?}");
    assert!(on_single.customers.0 > 50, "{:?}", on_single.customers.0);
    assert_eq!(on_single.rolled_days, on_cluster.rolled_days);
    for (s, c) in on_single.metrics.iter().zip(&on_cluster.metrics) {
        assert!(same_metrics(s, c), "single {s:?}\ncluster {c:?}");
    }
    assert_eq!(on_single.groups, on_cluster.groups, "breakdowns");
    assert_eq!(on_single.customers, on_cluster.customers, "Tier 3 customer list");

    // The rollup built through server 1 is on every server: read through
    // server 4, the same numbers.
    let t2_visits: u64 = cluster_client.query("SELECT toUInt64(count()) FROM t2.visits").fetch_one().await?;
    wait_each(&cluster, "SELECT count() FROM t2.visits", |got| got.iter().all(|n| *n == t2_visits.to_string()), Duration::from_secs(60)).await?;
    let fourth = mintmark_schema::client(&ClickHouseSection { url: cluster.members[3].url(), ..ch.clone() });
    let range = Range { from: Day(today.0 - 14), until: Day(today.0 + 1) };
    let through_fourth = top_metrics(&fourth, "t2", range, &StatsQuery::from_params(&[], today).unwrap().visit_filter_sql()).await?;
    assert!(same_metrics(&through_fourth, &on_single.metrics[0]), "{through_fourth:?}");

    // Erasure of the customer with the most Tier 3 rows: nothing of them on
    // any replica of any table, and the evidence names all four.
    let (customer, rows): (String, u64) =
        cluster_client.query("SELECT customer_ref, toUInt64(count()) AS n FROM t3.orders GROUP BY customer_ref ORDER BY n DESC LIMIT 1").fetch_one().await?;
    assert!(rows > 0);
    let ids = Pseudonyms::from_secrets(PSEUDONYM_KEY, PSEUDONYM_KEY)?;
    let outcome = erasure::erase(&cluster_client, &dbs, &layout, &erasure::LocalSpools::default(), ids.subject(&customer).as_str(), now as u32, "cluster test").await?;
    assert!(outcome.datasets.iter().all(|(_, _, after)| *after == 0), "{outcome:?}");
    for table in ["t3.events_local", "t3.orders_local", "t3.order_facts"] {
        let counts = cluster.query_each(&format!("SELECT count() FROM {table} WHERE customer_ref = '{customer}'")).await?;
        assert!(counts.iter().all(|n| n.trim() == "0"), "{table}: {counts:?}");
    }
    let evidence = cluster.query(0, &format!("SELECT dataset, replicas FROM ledger.purge_log WHERE kind = 'erasure' AND subject_hash = '{}' AND replicas != '' ORDER BY dataset FORMAT TSV", outcome.subject_hash)).await?;
    assert!(evidence.contains("t3.orders\ts1r1 0, s1r2 0, s2r1 0, s2r2 0"), "{evidence}");
    assert!(evidence.contains("t3.order_facts\ts1r1 0, s1r2 0, s2r1 0, s2r2 0"), "{evidence}");

    // Retention: Tier 2 events older than 5 days go from every replica; the
    // rest stays, the same on both replicas of each shard.
    let keep = RetentionSection { t2_events_days: 5, ..RetentionSection::default() };
    let due_sql = format!("SELECT count() FROM t2.events_local WHERE event_date < toDate('{}')", Day(today.0 - 5));
    let before = cluster.query_each(&due_sql).await?;
    assert!(before.iter().all(|n| n.trim() != "0"), "every replica holds due rows first: {before:?}");
    let reports = retention::run(&cluster_client, &dbs, &layout, &keep, "cluster test", false).await?;
    let events = reports.iter().find(|r| r.dataset == "t2_events").unwrap();
    assert!(events.rows_due > 0 && events.rows_left == 0, "{events:?}");
    let after = cluster.query_each(&due_sql).await?;
    assert!(after.iter().all(|n| n.trim() == "0"), "{after:?}");
    let kept = wait_each(&cluster, "SELECT count() FROM t2.events_local", |c| c[0] == c[1] && c[2] == c[3], Duration::from_secs(60)).await?;
    assert!(kept.iter().all(|n| n != "0"), "{kept:?}");
    let logged = cluster.query(0, "SELECT replicas FROM ledger.purge_log WHERE kind = 'retention' AND dataset = 't2_events' FORMAT TSV").await?;
    assert_eq!(logged.trim(), "events: s1r1 0, s1r2 0, s2r1 0, s2r2 0");

    // Two collectors never purge at once: the purge lock is one for the
    // whole cluster, whichever server is asked.
    let lock = collector::purge::purge_lock(&dbs, &layout, "collector-a");
    let other = collector::purge::purge_lock(&dbs, &layout, "collector-b");
    assert!(lock.try_take(&cluster_client).await?, "free");
    assert!(!other.try_take(&fourth).await?, "held, seen from another server");
    assert!(!other.try_take(&fourth).await?, "still held");
    // A holder restarted after a crash takes its own lock back.
    assert!(!lock.try_take(&fourth).await? && lock.try_take(&fourth).await?, "taken back by its holder");
    lock.release(&cluster_client).await?;
    assert!(other.try_take(&fourth).await?, "free again");
    other.release(&fourth).await?;

    cluster.stop();
    single.stop();
    Ok(())
}
