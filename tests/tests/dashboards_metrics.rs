//! The dashboards' top metrics on a small fixture with answers worked out
//! by hand, against a real ClickHouse server: visits, bounces, durations,
//! pages per visit, conversion, revenue, anonymous hits, a replayed event,
//! filters on visits and on events, and the comparison period.

use dashboards::query::{Day, Range, StatsQuery};
use dashboards::stats::{top_metrics, TopMetrics};
use devstack::{Backend, Ports};
use mintmark_e2e::state_dir;

const D: &str = "2026-11-20";

/// `(event_id, session, tier, kind, path, seconds after 10:00 on D, value)`.
const FIXTURE: &[(&str, &str, &str, &str, &str, i64, f64)] = &[
    ("a1", "sA", "tier2", "pageview", "/", 0, 0.0),
    ("a2", "sA", "tier2", "pageview", "/p", 60, 0.0),
    ("a3", "sA", "tier2", "purchase", "/p", 120, 20.0),
    ("a1", "sA", "tier2", "pageview", "/", 0, 0.0), // a replay of a1
    ("b1", "sB", "tier2", "pageview", "/", 300, 0.0),
    ("c1", "sC", "tier3", "pageview", "/", 400, 0.0),
    ("c2", "sC", "tier3", "add_to_cart", "/", 430, 0.0),
    ("n1", "", "anonymous", "pageview", "/", 500, 0.0),
    ("n2", "", "anonymous", "pageview", "/p", 510, 0.0),
    ("o1", "sA", "tier2", "pageview", "/", -86_400, 0.0), // the day before
];

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_metrics_match_hand_computed_answers() -> anyhow::Result<()> {
    let mut backend = Backend::start(&state_dir("dashboards_metrics")?, Ports::free()?).await?;
    let day = Day::parse(D).unwrap();
    let base = day.start_secs() + 10 * 3600;
    let values: Vec<String> = FIXTURE
        .iter()
        .enumerate()
        .map(|(i, (id, session, tier, kind, path, dt, value))| {
            let ts = base + dt;
            format!("(toDate(toDateTime({ts})), toDateTime({ts}), toDateTime({}), '{id}', '{tier}', '{session}', '{kind}', '{path}', {value})", ts + i as i64)
        })
        .collect();
    backend
        .query(&format!(
            "INSERT INTO t2.events (event_date, ts, received_at, event_id, tier, session_id, kind, path, value) VALUES {}",
            values.join(", ")
        ))
        .await?;
    let client = mintmark_schema::client(&backend.config.clickhouse);
    let range = Range { from: day, until: Day(day.0 + 1) };
    let metrics = |params: &[(&str, &str)], range: Range| {
        let pairs: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let q = StatsQuery::from_params(&pairs, Day(day.0 + 3)).unwrap();
        let client = client.clone();
        async move { top_metrics(&client, "t2", range, &q.filter_sql()).await }
    };

    let m = metrics(&[], range).await?;
    let want = TopMetrics {
        visits: 3,
        pageviews: 6,
        anonymous_hits: 2,
        bounce_rate: 1.0 / 3.0,
        avg_duration_secs: 50.0,
        pages_per_visit: 4.0 / 3.0,
        conversion_rate: 1.0 / 3.0,
        revenue: 20.0,
    };
    assert_eq!((m.visits, m.pageviews, m.anonymous_hits), (want.visits, want.pageviews, want.anonymous_hits), "{m:?}");
    for (got, want, what) in [
        (m.bounce_rate, want.bounce_rate, "bounce rate"),
        (m.avg_duration_secs, want.avg_duration_secs, "duration"),
        (m.pages_per_visit, want.pages_per_visit, "pages per visit"),
        (m.conversion_rate, want.conversion_rate, "conversion"),
        (m.revenue, want.revenue, "revenue"),
    ] {
        assert!(close(got, want), "{what}: {got} != {want}");
    }

    // Visits that saw /p: only A, with all its events of the day.
    let p = metrics(&[("f", "page:is:/p")], range).await?;
    assert_eq!((p.visits, p.pageviews, p.anonymous_hits), (1, 2, 1), "{p:?}");
    assert!(close(p.bounce_rate, 0.0) && close(p.avg_duration_secs, 120.0) && close(p.conversion_rate, 1.0) && close(p.revenue, 20.0), "{p:?}");
    // Visits with an event elsewhere than /p: all three; events elsewhere: four pageviews, no revenue.
    let not_p = metrics(&[("f", "page:is_not:/p")], range).await?;
    assert_eq!((not_p.visits, not_p.pageviews, not_p.anonymous_hits), (3, 4, 1), "{not_p:?}");
    assert!(close(not_p.revenue, 0.0));
    // Contains is literal and case-insensitive: no LIKE wildcards.
    let contains = metrics(&[("f", "page:contains:/P")], range).await?;
    assert_eq!(contains.visits, 1, "{contains:?}");
    let wildcard = metrics(&[("f", "page:contains:%")], range).await?;
    assert_eq!((wildcard.visits, wildcard.pageviews), (0, 0), "{wildcard:?}");
    // Hostile filter values are only values.
    let hostile = metrics(&[("f", "page:is:/' OR 1=1 --")], range).await?;
    assert_eq!((hostile.visits, hostile.pageviews), (0, 0));

    // The day before: one visit of one pageview.
    let before = metrics(&[], Range { from: Day(day.0 - 1), until: day }).await?;
    assert_eq!((before.visits, before.pageviews, before.anonymous_hits), (1, 1, 0), "{before:?}");
    assert!(close(before.bounce_rate, 1.0));
    // An empty period is zeros, not an error.
    let empty = metrics(&[], Range { from: Day(day.0 + 5), until: Day(day.0 + 6) }).await?;
    assert_eq!(empty, TopMetrics::default());
    backend.stop();
    Ok(())
}
