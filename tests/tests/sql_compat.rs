//! The schema and the queries we depend on, on current ClickHouse.
//!
//! Tests elsewhere run against Debian's ClickHouse 18.16 server; production
//! runs current releases. Here every migration statement, rendered by the
//! collector's own schema code, runs in chdb (ClickHouse 26.x in-process),
//! followed by an insert and the reads the product relies on (`FINAL`
//! deduplication on event id, `uniqExact`), then the dashboards' rollup of
//! a day (the very statements the service sends) and every read the views
//! make, with and without filters, and the Tier 3 and cross-sell reads.

use std::process::Command;

use dashboards::query::{Day, Interval, Range, Sort, StatsQuery};
use dashboards::rollup;
use dashboards::stats::{breakdown, commerce, crosssell, metrics, Report, Window};
use dashboards::tier3::customers::{customers_sql, order_values_sql, Geo};
use dashboards::tier3::{rfm, MarketingQuery};
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
    // A purchase with line items, a search and an anonymous hit, then the
    // dashboards' rollup of that day, built by the same statements the
    // service sends.
    statements.push(format!(
        "INSERT INTO t2.events ({cols}, value, currency, item_skus, item_quantities, item_prices, target) VALUES \
         (20000, 1728000060, 100, 'c', 'tier2', 's', 'purchase', '/store/thanks', '203.0.113.0', 'US', 12.5, 'USD', ['sku1'], [2], [6.25], ''), \
         (20000, 1728000030, 100, 'd', 'tier2', 's', 'search', '/store/search', '203.0.113.0', 'US', 0, '', [], [], [], 'red shoes'), \
         (20000, 1728000090, 100, 'e', 'anonymous', '', 'pageview', '/store/', '203.0.113.0', 'DE', 0, '', [], [], [], '')"
    ));
    // A custom event with properties (`mintmark.track("signup", …)`).
    statements.push(format!(
        "INSERT INTO t2.events ({cols}, target, props) VALUES (20000, 1728000040, 100, 'f', 'tier2', 's', 'custom', '/store/', '203.0.113.0', 'US', 'signup', '[[\"plan\",\"pro\"],[\"seats\",3.0]]')"
    ));
    let staging = rollup::staging("compat");
    statements.extend(rollup::create_staging("t2", &staging));
    let day = Day(20000);
    statements.extend(rollup::day_statements("t2", &staging, day));
    // The reads the views make, with and without filters.
    let w = Window::from(Range { from: day, until: Day(20001) });
    let today = Day(20001);
    let q = |p: &[(&str, &str)]| StatsQuery::from_params(&p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>(), today).unwrap();
    let (none, one, two) = (q(&[]), q(&[("f", "country:is:US")]), q(&[("f", "page:contains:store"), ("f", "device:is_not:tablet")]));
    let mut reads = vec![
        metrics::sums_sql(w, &none.visit_filter_sql(), None),
        metrics::sums_sql(w, &one.visit_filter_sql(), Some(Interval::Day)),
        metrics::sums_sql(w, &two.visit_filter_sql(), Some(Interval::Hour)),
        commerce::products_sql(w, &one.filter_sql(), 1, Sort::DEFAULT),
        commerce::sales_sql(w, &two.filter_sql()),
    ];
    for filters in [none.visit_filter_sql(), one.visit_filter_sql(), two.visit_filter_sql()] {
        for (_, read) in breakdown::reads(&Report::ALL, w, &filters) {
            reads.push(breakdown::folded(read, 1, Sort::DEFAULT, 10));
        }
    }
    // Goals of each kind, as filters over visits and over raw events.
    let goal = |id: i64, name: &str, kind: dashboards::analyst::goals::GoalKind| dashboards::analyst::goals::Goal { id, name: name.into(), kind, created_by: None, updated_at: 0 };
    use dashboards::analyst::goals::GoalKind;
    let goals = [
        goal(1, "post", GoalKind::Pageview { pattern: "/store/*".into() }),
        goal(2, "pro", GoalKind::Event { name: "signup".into(), property: Some(("seats".into(), "3".into())) }),
        goal(3, "big", GoalKind::Purchase { min_cents: Some(1000) }),
    ];
    let goal_reads_at = reads.len();
    for name in ["post", "pro", "big"] {
        let g = q(&[("f", &format!("goal:is:{name}"))]).with_goals(&goals).unwrap();
        reads.push(metrics::sums_sql(w, &g.visit_filter_sql(), None));
        reads.push(commerce::products_sql(w, &g.filter_sql(), 1, Sort::DEFAULT));
    }
    // The goal columns of a breakdown (a column report and a list report).
    let (sql, values) = goals[2].kind.visit_condition();
    let big = dashboards::query::Where { sql, values, facet: None };
    let within = dashboards::stats::sql::Sql::default().days(w).raw(" AND ").matching(&one.visit_filter_sql());
    reads.push(breakdown::goal_group_select(Report::Referrers, &within, &big));
    reads.push(breakdown::goal_group_select(Report::Pages, &within, &big));
    // An analyst's funnel walking the visits' sequences.
    use dashboards::analyst::funnels::{Funnel, Step};
    let funnel = Funnel { id: 1, name: "f".into(), steps: vec![Step::Pageview("/store/*".into()), Step::Event("signup".into()), Step::Commerce("purchase".into())], window_secs: 3600, created_by: None };
    let funnel_at = reads.len();
    reads.push(dashboards::stats::funnels::day_steps_sql(&funnel, w, &none.visit_filter_sql()));
    let mut queries: Vec<String> = vec![
        "SELECT count() AS n FROM t2.events FINAL".into(),
        "SELECT uniqExact(event_id) AS n FROM t2.events".into(),
        "SELECT name FROM system.columns WHERE database = 't3' AND table = 'events' AND name = 'session_id'".into(),
        "SELECT count() AS n FROM ledger.consent_ledger".into(),
        "SELECT sum(visits) AS visits, sum(pageviews) AS pageviews, sum(anonymous_hits) AS anonymous FROM t2.visits".into(),
    ];
    queries.extend(reads.iter().map(|r| r.literal("t2")));
    // The Tier 3 reads and cross-sell, on an identified order, its refund and
    // its de-identified copy.
    statements.push(
        "INSERT INTO t3.orders VALUES (20000, 1728000060, 1728000061, 'o1', 'placed', 'web', 'c1', 'registration', 1, 30, 'USD', ['A', 'B'], [1, 2], [10, 10], ['x', ''], 'VA', '22030', 'c1-subject'), \
         (20000, 1728000070, 1728000071, 'o1', 'refunded', 'web', 'c1', 'registration', 1, 5, 'USD', [], [], [], [], '', '', 'c1-subject')"
            .into(),
    );
    statements.push("INSERT INTO t2.orders VALUES (20000, 1728000061, 'k1', 'placed', 'web', 30, 'USD', ['A', 'B'], [1, 2], [10, 10], ['x', ''], 'VA')".into());
    let dbs = Databases::new("")?;
    statements.extend(dashboards::tier3::facts::rebuild_statements(&dbs, "order_facts_build_compat"));
    let mq = |p: &[(&str, &str)]| MarketingQuery::from_params(&p.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Vec<_>>()).unwrap();
    // A search is by subject (what `with_subject` fills in from the typed reference).
    let search = MarketingQuery { search_subject: Some("c1-subject".into()), ..mq(&[("state", "VA"), ("sort", "-aov"), ("q", "c1")]) };
    let (page, count) = customers_sql(&search, today, 0, 50);
    let tier3_reads = [
        page,
        count,
        order_values_sql(&mq(&[]), Geo::State, today, 1),
        order_values_sql(&mq(&[("period", "30d")]), Geo::Zip3, today, 1),
        rfm::measures_sql(0, Day(20001).start_secs()),
        crosssell::pairs_sql(w, true, 1),
    ];
    let tier3_at = queries.len();
    queries.extend(tier3_reads.iter().map(|r| r.literal_in(&dbs)));
    // The privacy invariants that join the consent ledger.
    let consent_at = queries.len();
    queries.extend(dashboards::privacy::invariants::consent_count_sql(&dbs));
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
    assert_eq!(n(&a[0][0]["n"]), 6, "FINAL collapses the replayed event (seven rows, six events)");
    assert_eq!(n(&a[1][0]["n"]), 6);
    assert_eq!(a[2].as_array().unwrap().len(), 0, "t3.events has no session_id column on current ClickHouse either");
    assert_eq!(n(&a[3][0]["n"]), 0);
    // The rollup: one visit (s: a, b, c, d) and one anonymous hit.
    assert_eq!((n(&a[4][0]["visits"]), n(&a[4][0]["pageviews"]), n(&a[4][0]["anonymous"])), (1, 3, 1), "{}", a[4]);
    assert_eq!(n(&a[5][0]["s_visits"]), 1, "unfiltered sums: {}", a[5]);
    assert_eq!(n(&a[6][0]["s_visits"]), 1, "facet sums: {}", a[6]);
    let products = &a[8];
    assert_eq!(products[0]["sku"], "sku1", "{products}");
    assert_eq!(n(&products[0]["units"]), 2);
    for (i, answer) in a.as_array().unwrap().iter().enumerate().skip(10) {
        assert!(answer.is_array(), "read {i} answered");
    }
    // The funnel: the visit saw /store/, signed up, bought, in that order.
    let walked = &a[5 + funnel_at];
    assert_eq!(walked[0]["steps"].as_array().unwrap().iter().map(n).collect::<Vec<_>>(), [1, 1, 1], "{walked}");
    // Each goal reached by the one visit, and its purchase found through it.
    for i in 0..3 {
        let (sums, products) = (&a[5 + goal_reads_at + 2 * i], &a[5 + goal_reads_at + 2 * i + 1]);
        assert_eq!(n(&sums[0]["s_visits"]), 1, "goal {i}: {sums}");
        assert_eq!(products[0]["sku"], "sku1", "goal {i}: {products}");
    }
    let answers = a.as_array().unwrap();
    let customers = &answers[tier3_at];
    assert_eq!((customers[0]["customer_ref"].as_str(), customers[0]["c_lifetime_total"].as_f64()), (Some("c1"), Some(25.0)), "{customers}");
    let measures = &answers[tier3_at + 4];
    assert_eq!(n(&measures[0]["r_orders"]), 1, "{measures}");
    // c1's orders have no opt-in in the ledger: the consent check finds both events.
    let consent: Vec<u64> = answers[consent_at..consent_at + 4].iter().map(|a| n(&a[0]["n"])).collect();
    assert_eq!(consent, [0, 2, 0, 0], "no opt-in (events, orders), after opt-out (events, orders)");
    eprintln!("schema ran on ClickHouse {version}: {} statements", report["statements"]);
    Ok(())
}
