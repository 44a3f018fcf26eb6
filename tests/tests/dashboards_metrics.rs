//! The dashboards' top metrics on a small fixture with answers worked out
//! by hand, against a real ClickHouse server: visits, bounces, durations,
//! pages per visit, conversion, revenue, anonymous hits, a replayed event,
//! filters on visits and on events, and the comparison period.

use dashboards::query::{Day, Interval, Range, Sort, SortBy, StatsQuery, Where};
use dashboards::rollup;
use dashboards::stats::{breakdown, commerce, mix, series, top_metrics, Breakdown, Report, TopMetrics, Window};
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
    ("o1", "sO", "tier2", "pageview", "/", -86_400, 0.0), // a visit the day before
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
    let built = rollup::run(&client, "t2").await?;
    assert_eq!(built.days.len(), 3, "the fixture's two days and the day before the first: {:?}", built.days);
    assert!(rollup::run(&client, "t2").await?.days.is_empty(), "nothing changed, nothing rebuilt");
    let range = Range { from: day, until: Day(day.0 + 1) };
    let metrics = |params: &[(&str, &str)], range: Range| {
        let pairs: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let q = StatsQuery::from_params(&pairs, Day(day.0 + 3)).unwrap();
        let client = client.clone();
        async move { top_metrics(&client, "t2", range, &q.visit_filter_sql()).await }
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

    // Visits that saw /p: only A, with all its events; and the anonymous hit on /p.
    let p = metrics(&[("f", "page:is:/p")], range).await?;
    assert_eq!((p.visits, p.pageviews, p.anonymous_hits), (1, 3, 1), "{p:?}");
    assert!(close(p.bounce_rate, 0.0) && close(p.avg_duration_secs, 120.0) && close(p.conversion_rate, 1.0) && close(p.revenue, 20.0), "{p:?}");
    // Visits with an event elsewhere than /p: all three, with all their
    // pageviews and A's purchase; of the anonymous hits, the one on /.
    let not_p = metrics(&[("f", "page:is_not:/p")], range).await?;
    assert_eq!((not_p.visits, not_p.pageviews, not_p.anonymous_hits), (3, 5, 1), "{not_p:?}");
    assert!(close(not_p.revenue, 20.0));
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

    // A replay arriving late changes nothing once the day is rebuilt; a new
    // late event changes the day.
    backend.query(&format!("INSERT INTO t2.events (event_date, ts, received_at, event_id, tier, session_id, kind, path) VALUES (toDate(toDateTime({b})), toDateTime({b}), now(), 'a1', 'tier2', 'sA', 'pageview', '/')", b = base)).await?;
    assert_eq!(rollup::run(&client, "t2").await?.days, [Day(day.0 - 1), day], "the day and the one before it");
    assert_eq!(metrics(&[], range).await?.pageviews, 6, "the replay counts once");

    breakdowns_commerce_mix_and_series(&backend, &client).await?;
    backend.stop();
    Ok(())
}

/// One event of the second fixture.
#[derive(Default, Clone)]
struct Ev {
    id: &'static str,
    session: &'static str,
    tier: &'static str,
    kind: &'static str,
    path: &'static str,
    dt: i64,
    country: &'static str,
    referrer: &'static str,
    target: &'static str,
    value: f64,
    /// (sku, quantity, price)
    items: &'static [(&'static str, u32, f64)],
}

const D2: &str = "2026-11-10";

fn second_fixture() -> Vec<Ev> {
    let e = |id, session, kind, path, dt, country, referrer| Ev { id, session, tier: "tier2", kind, path, dt, country, referrer, ..Ev::default() };
    vec![
        e("s1a", "s1", "pageview", "/home", 0, "DE", "google.com"),
        e("s1b", "s1", "product_view", "/p/1", 10, "DE", "shop.example"),
        e("s1c", "s1", "add_to_cart", "/p/1", 20, "DE", "shop.example"),
        e("s1d", "s1", "checkout_start", "/cart", 30, "DE", "shop.example"),
        Ev { value: 30.0, items: &[("sku1", 2, 10.0), ("sku2", 1, 10.0)], ..e("s1e", "s1", "purchase", "/done", 40, "DE", "shop.example") },
        e("s2a", "s2", "pageview", "/home", 100, "DE", "google.com"),
        e("s2b", "s2", "product_view", "/p/1", 110, "DE", "shop.example"),
        e("s2c", "s2", "add_to_cart", "/p/1", 120, "DE", "shop.example"),
        e("s3a", "s3", "pageview", "/home", 200, "DE", ""),
        Ev { target: "red shoes", ..e("s3b", "s3", "search", "/search", 210, "DE", "shop.example") },
        e("s4a", "s4", "pageview", "/home", 300, "FR", "google.com"),
        e("s4b", "s4", "add_to_cart", "/p/2", 305, "FR", "shop.example"),
        Ev { value: 10.0, items: &[("sku1", 1, 10.0)], ..e("s4c", "s4", "purchase", "/done", 310, "FR", "shop.example") },
        e("s5a", "s5", "pageview", "/secret-page", 400, "US", "bing.com"),
        Ev { tier: "anonymous", ..e("n1", "", "pageview", "/home", 500, "DE", "") },
        Ev { tier: "tier3", ..e("s6a", "s6", "pageview", "/home", 600, "DE", "google.com") },
        Ev { tier: "tier3", target: "red shoes", ..e("s6b", "s6", "search", "/search", 610, "DE", "shop.example") },
    ]
}

fn group(name: &str, visits: u64, hits: u64) -> (String, u64, u64) {
    (name.to_string(), visits, hits)
}

fn named(b: &Breakdown) -> Vec<(String, u64, u64)> {
    b.rows.iter().map(|g| (g.name.clone(), g.visits, g.hits)).collect()
}

fn other(b: &Breakdown) -> Option<(u64, u64, u64)> {
    b.other.as_ref().map(|g| (g.visits, g.hits, g.groups))
}

/// Breakdowns with small groups folded, the funnel, products, sales, the
/// tier mix and the chart's buckets, on a second day of hand-made events.
async fn breakdowns_commerce_mix_and_series(backend: &Backend, client: &clickhouse::Client) -> anyhow::Result<()> {
    let day = Day::parse(D2).unwrap();
    let base = day.start_secs() + 10 * 3600;
    let rows: Vec<String> = second_fixture()
        .iter()
        .map(|e| {
            let ts = base + e.dt;
            let skus: Vec<String> = e.items.iter().map(|i| format!("'{}'", i.0)).collect();
            let qty: Vec<String> = e.items.iter().map(|i| i.1.to_string()).collect();
            let price: Vec<String> = e.items.iter().map(|i| format!("{:.2}", i.2)).collect();
            format!(
                "(toDate(toDateTime({ts})), toDateTime({ts}), toDateTime({ts}), '{}', '{}', '{}', '{}', '{}', {}, '{}', '{}', '{}', '{}', [{}], [{}], [{}])",
                e.id, e.tier, e.session, e.kind, e.path, e.value, e.country, e.referrer, e.target,
                if e.items.is_empty() { "" } else { "EUR" }, skus.join(","), qty.join(","), price.join(",")
            )
        })
        .collect();
    backend
        .query(&format!(
            "INSERT INTO t2.events (event_date, ts, received_at, event_id, tier, session_id, kind, path, value, country, referrer_domain, target, currency, item_skus, item_quantities, item_prices) VALUES {}",
            rows.join(", ")
        ))
        .await?;
    rollup::run(client, "t2").await?;
    let w: Window = Range { from: day, until: Day(day.0 + 1) }.into();
    let none = Where::none();
    let de_query = StatsQuery::from_params(&[("f".to_string(), "country:is:DE".to_string())], Day(day.0 + 3)).unwrap();
    let de = de_query.visit_filter_sql();
    let by = |report, filters: &Where, min| {
        let (client, filters) = (client.clone(), filters.clone());
        async move { breakdown(&client, "t2", report, w, &filters, min, Sort::DEFAULT).await }
    };

    // /secret-page has one visit: folded, never named.
    let pages = by(Report::Pages, &none, 2).await?;
    assert_eq!(named(&pages), [group("/home", 5, 6)]);
    assert_eq!(other(&pages), Some((1, 1, 1)));
    let countries = by(Report::Country, &none, 2).await?;
    assert_eq!(named(&countries), [group("DE", 4, 5)]);
    assert_eq!(other(&countries), Some((2, 2, 2)), "FR and US, one visit each");
    // A visit's source is its first event's referrer.
    let sources = by(Report::Referrers, &none, 2).await?;
    assert_eq!(named(&sources), [group("google.com", 4, 4)]);
    assert_eq!(other(&sources), Some((2, 3, 2)), "s3 (direct) and s5 (bing); the anonymous hit's pageview is in the direct group");
    let sources_de = by(Report::Referrers, &de, 2).await?;
    assert_eq!(named(&sources_de), [group("google.com", 3, 3)]);
    // Filtered breakdowns group the rollup's visits; unfiltered ones add up
    // its per-day groups: the same numbers.
    // One `is` filter reads the pre-added facets; the same question asked
    // of the visit rows gives the same numbers.
    assert!(de.facet.is_some());
    let rows_de = Where { facet: None, ..de.clone() };
    let (facet_top, rows_top) = (top_metrics(client, "t2", w, &de).await?, top_metrics(client, "t2", w, &rows_de).await?);
    assert_eq!(facet_top, rows_top);
    assert_eq!((facet_top.visits, facet_top.pageviews, facet_top.anonymous_hits), (4, 5, 1));
    let facet_days = series(client, "t2", w, &de, Interval::Day).await?;
    assert_eq!(facet_days[0].metrics(), rows_top);
    let pages_de = by(Report::Pages, &de, 1).await?;
    assert_eq!(named(&pages_de), [group("/home", 4, 5)], "DE visits on /home, and DE's anonymous hit");
    assert_eq!(by(Report::Pages, &rows_de, 1).await?, pages_de, "pre-added per country, or unnested from the rows: the same");
    let search = by(Report::SiteSearch, &none, 2).await?;
    assert_eq!((named(&search), other(&search)), (vec![group("red shoes", 2, 2)], None));
    let search_de = by(Report::SiteSearch, &de, 2).await?;
    assert_eq!(named(&search_de), [group("red shoes", 2, 2)], "filtered: from the visits' search lists");
    let entry = by(Report::EntryPages, &none, 1).await?;
    assert_eq!(named(&entry), [group("/home", 5, 5), group("/secret-page", 1, 1)]);
    // The default threshold of 5: /home stays, Germany (4 visits) folds.
    assert_eq!(named(&by(Report::Pages, &none, 5).await?), [group("/home", 5, 6)]);
    let de5 = by(Report::Country, &none, 5).await?;
    assert_eq!((named(&de5), other(&de5)), (vec![], Some((6, 7, 3))));
    // Sorting by name, ascending.
    let by_name = breakdown(client, "t2", Report::Country, w, &none, 1, Sort { by: SortBy::Name, descending: false }).await?;
    assert_eq!(by_name.rows.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), ["DE", "FR", "US"]);

    // s1 goes all the way; s2 stops at the cart; s4 added to cart without a product view.
    let f = commerce::funnel(client, "t2", w, &none).await?;
    assert_eq!((f.visits, f.steps), (6, [2, 2, 1, 1]));
    let (products, folded) = commerce::products(client, "t2", w, &none, 2, Sort::DEFAULT).await?;
    assert_eq!(products.iter().map(|p| (p.sku.as_str(), p.visits, p.units, p.revenue)).collect::<Vec<_>>(), [("sku1", 2, 3, 30.0)]);
    assert_eq!(folded.map(|p| (p.visits, p.units, p.revenue, p.groups)), Some((1, 1, 10.0, 1)), "sku2 was bought in one visit");
    let sales = commerce::sales_by_day(client, "t2", w, &none).await?;
    assert_eq!(sales.iter().map(|s| (s.day as i64, s.orders, s.units, s.revenue)).collect::<Vec<_>>(), [(day.start_secs(), 2, 4, 40.0)]);
    assert_eq!(commerce::currencies(client, "t2", w, &none).await?, ["EUR"]);

    let mix = mix::tier_mix(client, "t2", w, &none).await?;
    assert_eq!((mix.anonymous, mix.tier2, mix.tier3), (1, 14, 2));

    let two_days: Window = Range { from: Day(day.0 - 1), until: Day(day.0 + 1) }.into();
    let daily = series(client, "t2", two_days, &none, Interval::Day).await?;
    assert_eq!(daily.iter().map(|p| (p.at, p.metrics().visits, p.metrics().pageviews)).collect::<Vec<_>>(), [(day.start_secs() - 86_400, 0, 0), (day.start_secs(), 6, 7)]);
    let hourly = series(client, "t2", w, &none, Interval::Hour).await?;
    assert_eq!(hourly.len(), 24);
    assert_eq!(hourly.iter().map(|p| p.metrics().visits).sum::<u64>(), 6);
    assert_eq!((hourly[10].metrics().visits, hourly[10].metrics().revenue), (6, 40.0));

    let rt = mix::realtime(client, "t2", base + 700, 300, &none, 2).await?;
    assert_eq!((rt.visits, rt.pageviews, named(&rt.top_pages)), (2, 3, vec![]), "s5, n1 (no visit) and s6 in the last five minutes; each page has one visit");
    Ok(())
}

/// One visit that does far more than any visit may count for: the rollup
/// caps it (what the release layer's noise is scaled to), in the visit's
/// row, the per-hour sums and the page groups alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rollup_caps_what_one_visit_adds() -> anyhow::Result<()> {
    use dashboards::release::caps;
    let mut backend = Backend::start(&state_dir("dashboards_caps")?, Ports::free()?).await?;
    let day = Day::parse(D).unwrap();
    let base = day.start_secs() + 8 * 3600;
    // 40 pageviews over 6 distinct pages across two hours, 5 purchases of 900 each.
    let mut values = Vec::new();
    for i in 0..40i64 {
        let ts = base + i * 180;
        values.push(format!("(toDate(toDateTime({ts})), toDateTime({ts}), now(), 'pv{i}', 'tier2', 'sBig', 'pageview', '/p{}', 0)", i % 6));
    }
    for i in 0..5i64 {
        let ts = base + 7200 + i;
        values.push(format!("(toDate(toDateTime({ts})), toDateTime({ts}), now(), 'buy{i}', 'tier2', 'sBig', 'purchase', '/thanks', 900)"));
    }
    backend.query(&format!("INSERT INTO t2.events (event_date, ts, received_at, event_id, tier, session_id, kind, path, value) VALUES {}", values.join(", "))).await?;
    let client = mintmark_schema::client(&backend.config.clickhouse);
    rollup::run(&client, "t2").await?;
    let m = top_metrics(&client, "t2", Range { from: day, until: Day(day.0 + 1) }, &Where::none()).await?;
    assert_eq!(m.visits, 1);
    assert_eq!(m.pageviews, u64::from(caps::PAGEVIEWS), "{m:?}");
    assert!(close(m.avg_duration_secs, f64::from(caps::DURATION_SECS)), "{m:?}");
    assert!(close(m.revenue, f64::from(caps::REVENUE)), "{m:?}");
    let pages = breakdown(&client, "t2", Report::Pages, Window::from(Range { from: day, until: Day(day.0 + 1) }), &Where::none(), 1, Sort::DEFAULT).await?;
    assert_eq!(pages.rows.len() as u32, caps::PAGES_PER_VISIT, "its first distinct pages only: {pages:?}");
    assert!(pages.rows.iter().all(|g| g.visits == 1 && g.hits <= u64::from(caps::VIEWS_PER_PAGE)), "{pages:?}");
    backend.stop();
    Ok(())
}
