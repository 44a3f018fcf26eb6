//! Goals, custom events and the UTM term and content reports on a fixture
//! with answers worked out by hand, against a real ClickHouse server: a
//! goal of each kind (pageview exact and wildcard, custom event with and
//! without a property, purchase with and without a minimum), goals made
//! after the rollup counting history, an edited goal re-counting, a
//! replayed custom event counted once, and a goal filter over raw events
//! (the products of converting visits).

use dashboards::accounts::Accounts;
use dashboards::analyst::goals::GoalKind;
use dashboards::query::{Day, Range, Sort, StatsQuery};
use dashboards::rollup;
use dashboards::stats::{breakdown, commerce, top_metrics, Report, Window};
use devstack::{Backend, Ports};
use mintmark_e2e::state_dir;

const D: &str = "2026-11-18";

/// `(event_id, session, kind, path, seconds after 09:00, target, props, value, utm_term, referrer, skus)`.
type Ev = (&'static str, &'static str, &'static str, &'static str, i64, &'static str, &'static str, f64, &'static str, &'static str, &'static str);

const FIXTURE: &[Ev] = &[
    // A: a blog post, a pro sign-up, a purchase of 60, from a search term.
    ("a1", "sA", "pageview", "/", 0, "", "", 0.0, "red shoes", "search.example", ""),
    ("a2", "sA", "pageview", "/blog/first-post", 30, "", "", 0.0, "red shoes", "", ""),
    ("a3", "sA", "custom", "/blog/first-post", 40, "signup", r#"[["plan","pro"],["seats",3.0]]"#, 0.0, "red shoes", "", ""),
    ("a3", "sA", "custom", "/blog/first-post", 40, "signup", r#"[["plan","pro"],["seats",3.0]]"#, 0.0, "red shoes", "", ""), // a replay
    ("a4", "sA", "purchase", "/thanks", 90, "", "", 60.0, "red shoes", "", "coin-1"),
    // B: a nested blog page, a free sign-up, a purchase of 20.
    ("b1", "sB", "pageview", "/blog/2026/notes", 200, "", "", 0.0, "", "news.example", ""),
    ("b2", "sB", "custom", "/blog/2026/notes", 210, "signup", r#"[["plan","free"]]"#, 0.0, "", "", ""),
    ("b3", "sB", "purchase", "/thanks", 260, "", "", 20.0, "", "", "coin-2"),
    // C: the thanks page without buying, a brochure download event.
    ("c1", "sC", "pageview", "/thanks", 400, "", "", 0.0, "blue hats", "", ""),
    ("c2", "sC", "custom", "/thanks", 410, "brochure", "", 0.0, "blue hats", "", ""),
    // An anonymous sign-up: no session, never a visit, never a conversion.
    ("n1", "", "custom", "/", 500, "signup", r#"[["plan","pro"]]"#, 0.0, "", "", ""),
];

fn q(params: &[(&str, &str)], today: Day, accounts: &Accounts) -> StatsQuery {
    let pairs: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    StatsQuery::from_params(&pairs, today).unwrap().with_goals(&accounts.goals().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn goals_and_custom_events_match_hand_computed_answers() -> anyhow::Result<()> {
    let mut backend = Backend::start(&state_dir("analyst_goals")?, Ports::free()?).await?;
    let day = Day::parse(D).unwrap();
    let base = day.start_secs() + 9 * 3600;
    let values: Vec<String> = FIXTURE
        .iter()
        .enumerate()
        .map(|(i, (id, session, kind, path, dt, target, props, value, term, referrer, skus))| {
            let ts = base + dt;
            let tier = if session.is_empty() { "anonymous" } else { "tier2" };
            let items = if skus.is_empty() { "[], [], []".to_string() } else { format!("['{skus}'], [1], [{value}]") };
            format!(
                "(toDate(toDateTime({ts})), toDateTime({ts}), toDateTime({}), '{id}', '{tier}', '{session}', '{kind}', '{path}', '{target}', '{}', {value}, '{term}', '{}', '{referrer}', {items})",
                ts + i as i64,
                props.replace('\'', "\\'"),
                if term.is_empty() { "" } else { "banner" },
            )
        })
        .collect();
    backend
        .query(&format!(
            "INSERT INTO t2.events (event_date, ts, received_at, event_id, tier, session_id, kind, path, target, props, value, utm_term, utm_content, referrer_domain, item_skus, item_quantities, item_prices) VALUES {}",
            values.join(", ")
        ))
        .await?;
    let client = mintmark_schema::client(&backend.config.clickhouse);
    rollup::run(&client, "t2").await?;
    let (today, range) = (Day(day.0 + 2), Range { from: day, until: Day(day.0 + 1) });
    let w = Window::from(range);

    // Goals made after the rollup ran: they count the day already built.
    let accounts = Accounts::in_memory()?;
    let ana = accounts.add_user("ana", "a long enough password", dashboards::roles::Roles::of(&[dashboards::roles::Role::Analyst]))?;
    let goal = |name: &str, kind: GoalKind| accounts.add_goal(name, &kind, ana.id, 1).unwrap().unwrap();
    goal("Any post", GoalKind::Pageview { pattern: "/blog/*".into() });
    goal("Anything on the blog", GoalKind::Pageview { pattern: "/blog/**".into() });
    goal("Thanks page", GoalKind::Pageview { pattern: "/thanks".into() });
    goal("Signed up", GoalKind::Event { name: "signup".into(), property: None });
    goal("Pro sign-up", GoalKind::Event { name: "signup".into(), property: Some(("plan".into(), "pro".into())) });
    goal("Three seats", GoalKind::Event { name: "signup".into(), property: Some(("seats".into(), "3".into())) });
    let big = goal("Big order", GoalKind::Purchase { min_cents: Some(5000) });
    goal("Bought", GoalKind::Purchase { min_cents: None });

    let all = top_metrics(&client, "t2", range, &q(&[], today, &accounts).visit_filter_sql()).await?;
    assert_eq!((all.visits, all.anonymous_hits), (3, 1), "{all:?}");
    // (goal, conversions, revenue of the converting visits)
    let want: [(&str, u64, f64); 8] = [
        ("Any post", 1, 60.0),             // A's /blog/first-post; B's page is two levels deep
        ("Anything on the blog", 2, 80.0), // A and B
        ("Thanks page", 1, 0.0),           // C's pageview; A's and B's purchases there are not pageviews
        ("Signed up", 2, 80.0),            // A and B; the anonymous sign-up is no visit
        ("Pro sign-up", 1, 60.0),
        ("Three seats", 1, 60.0), // a number property matched from its text
        ("Big order", 1, 60.0),   // at least 50
        ("Bought", 2, 80.0),
    ];
    for (name, conversions, revenue) in want {
        let filter = format!("goal:is:{name}");
        let m = top_metrics(&client, "t2", range, &q(&[("f", &filter)], today, &accounts).visit_filter_sql()).await?;
        assert_eq!(m.visits, conversions, "{name}: {m:?}");
        assert!((m.revenue - revenue).abs() < 1e-9, "{name}: revenue {}", m.revenue);
    }
    // Not converting: the complement of the visits.
    let not = top_metrics(&client, "t2", range, &q(&[("f", "goal:is_not:Bought")], today, &accounts).visit_filter_sql()).await?;
    assert_eq!(not.visits, 1, "only C did not buy");
    // A goal and another filter: visits from a search term that bought.
    let both = top_metrics(&client, "t2", range, &q(&[("f", "goal:is:Bought"), ("f", "utm_term:is:red shoes")], today, &accounts).visit_filter_sql()).await?;
    assert_eq!(both.visits, 1);

    // Revenue and conversion per source: each referrer's visits, how many
    // reached "Bought" and what they spent (cents), as the goal columns of
    // every breakdown read them.
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct GoalGroup {
        #[allow(dead_code)]
        day: u16,
        key: String,
        v: u64,
        c: u64,
        g: u64,
        r: i64,
    }
    let bought = accounts.goals()?.into_iter().find(|g| g.name == "Bought").unwrap();
    let (sql, values) = bought.kind.visit_condition();
    let condition = dashboards::stats::sql::Sql::default().days(w).raw(" AND ").matching(&dashboards::query::Where::none());
    let select = dashboards::stats::breakdown::goal_group_select(Report::Referrers, &condition, &dashboards::query::Where { sql, values, facet: None });
    let mut per_source: Vec<(String, u64, u64, u64, i64)> = select.query(&client, "t2").fetch_all::<GoalGroup>().await?.into_iter().map(|g| (g.key, g.v, g.c, g.g, g.r)).collect();
    per_source.sort();
    assert_eq!(
        per_source,
        [(String::new(), 1, 1, 0, 0), ("news.example".into(), 1, 1, 1, 2000), ("search.example".into(), 1, 2, 1, 6000)],
        "C came direct and bought nothing; B from news spent 20, A from search 60"
    );
    let pages = dashboards::stats::breakdown::goal_group_select(Report::Pages, &condition, &dashboards::query::Where { sql: bought.kind.visit_condition().0, values: bought.kind.visit_condition().1, facet: None });
    let blog: Vec<(String, u64, u64, i64)> = pages.query(&client, "t2").fetch_all::<GoalGroup>().await?.into_iter().filter(|g| g.key.starts_with("/blog")).map(|g| (g.key, g.v, g.g, g.r)).collect();
    assert_eq!(blog.len(), 2, "a visit's revenue counts on each of its (first few) pages: {blog:?}");

    // Funnels: steps in order, each the first such event after the one
    // before, within the window of the first.
    use dashboards::analyst::funnels::Step;
    let funnel = |steps: Vec<Step>, window: u32| {
        let name = format!("f{}", accounts.funnels().unwrap().len());
        accounts.add_funnel(&name, &steps, window, ana.id, 1).unwrap().unwrap()
    };
    let walk = |f: dashboards::analyst::funnels::Funnel, filters: dashboards::query::Where| {
        let client = client.clone();
        async move {
            let days = dashboards::stats::funnels::day_steps(&client, "t2", &f, w, &filters).await?;
            anyhow::Ok((days.iter().map(|d| d.total).sum::<u64>(), days.into_iter().map(|d| d.steps).next().unwrap_or_default()))
        }
    };
    let none = dashboards::query::Where::none;
    let signup_to_purchase = vec![Step::Pageview("/".into()), Step::Event("signup".into()), Step::Commerce("purchase".into())];
    assert_eq!(walk(funnel(signup_to_purchase.clone(), 86_400), none()).await?, (3, vec![1, 1, 1]), "A did all three; B never saw /");
    assert_eq!(walk(funnel(signup_to_purchase, 60), none()).await?, (3, vec![1, 1, 0]), "A's purchase came 90 s after its first step: past a 1-minute window");
    assert_eq!(walk(funnel(vec![Step::Pageview("/blog/**".into()), Step::Commerce("purchase".into())], 3600), none()).await?, (3, vec![2, 2]));
    assert_eq!(walk(funnel(vec![Step::Commerce("purchase".into()), Step::Pageview("/blog/**".into())], 3600), none()).await?, (3, vec![2, 0]), "in order only");
    let by_term = q(&[("f", "utm_term:is:blue hats")], today, &accounts).visit_filter_sql();
    assert_eq!(walk(funnel(vec![Step::Pageview("/thanks".into()), Step::Event("brochure".into())], 3600), by_term).await?, (1, vec![1, 1]), "filtered like every view");

    // An edited goal re-counts history, and names a new scope.
    let before = dashboards::release::scope(&q(&[("f", "goal:is:Big order")], today, &accounts));
    accounts.update_goal(big.id, "Big order", &GoalKind::Purchase { min_cents: Some(1000) }, 2)?.unwrap();
    let edited = q(&[("f", "goal:is:Big order")], today, &accounts);
    assert_eq!(top_metrics(&client, "t2", range, &edited.visit_filter_sql()).await?.visits, 2, "now 10 or more: A and B");
    assert_ne!(dashboards::release::scope(&edited), before, "an edited goal never reads the old definition's cells");
    // A goal that does not exist is refused with its name.
    let unknown = StatsQuery::from_params(&[("f".into(), "goal:is:Nope".into())], today).unwrap().with_goals(&accounts.goals()?);
    assert!(matches!(unknown, Err(dashboards::query::QueryError::UnknownGoal(n)) if n == "Nope"));

    // The custom events report: visits and events per name, the replayed
    // sign-up once; the anonymous one is an event (like an anonymous
    // pageview) but no visit.
    let events = breakdown(&client, "t2", Report::CustomEvents, w, &dashboards::query::Where::none(), 1, Sort::DEFAULT).await?;
    let named: Vec<(String, u64, u64)> = events.rows.iter().map(|g| (g.name.clone(), g.visits, g.hits)).collect();
    assert_eq!(named, [("signup".to_string(), 2, 3), ("brochure".to_string(), 1, 1)]);
    // Its properties, shown as `event · key = value`.
    let props = breakdown(&client, "t2", Report::EventProps, w, &dashboards::query::Where::none(), 1, Sort { by: dashboards::query::SortBy::Name, descending: false }).await?;
    let shown: Vec<String> = props.rows.iter().map(|g| Report::EventProps.display_key(&g.name)).collect();
    assert_eq!(shown, ["signup · plan = free", "signup · plan = pro", "signup · seats = 3.0"]);
    // The same report under a filter reads the visits, with the same answer.
    let filtered = breakdown(&client, "t2", Report::CustomEvents, w, &q(&[("f", "goal:is:Bought")], today, &accounts).visit_filter_sql(), 1, Sort::DEFAULT).await?;
    assert_eq!(filtered.rows.iter().map(|g| (g.name.as_str(), g.visits)).collect::<Vec<_>>(), [("signup", 2)]);
    // UTM term and content: the visit's first event's.
    let terms = breakdown(&client, "t2", Report::UtmTerm, w, &dashboards::query::Where::none(), 1, Sort::DEFAULT).await?;
    let mut t: Vec<(String, u64)> = terms.rows.iter().map(|g| (g.name.clone(), g.visits)).collect();
    t.sort();
    assert_eq!(t, [(String::new(), 1), ("blue hats".into(), 1), ("red shoes".into(), 1)]);
    let content = breakdown(&client, "t2", Report::UtmContent, w, &dashboards::query::Where::none(), 1, Sort::DEFAULT).await?;
    assert_eq!(content.rows.iter().find(|g| g.name == "banner").map(|g| g.visits), Some(2));
    // A filter by custom event: the visits that sent it.
    let brochure = top_metrics(&client, "t2", range, &q(&[("f", "custom_event:is:brochure")], today, &accounts).visit_filter_sql()).await?;
    assert_eq!(brochure.visits, 1);

    // Over raw events (the products table): the purchases of visits that
    // reached the goal, whichever event reached it.
    let pro = q(&[("f", "goal:is:Pro sign-up")], today, &accounts);
    let (products, _) = commerce::products(&client, "t2", w, &pro.filter_sql(), 1, Sort::DEFAULT).await?;
    assert_eq!(products.iter().map(|p| p.sku.as_str()).collect::<Vec<_>>(), ["coin-1"], "A's purchase only");
    let thanks = q(&[("f", "goal:is:Anything on the blog")], today, &accounts);
    let (products, _) = commerce::products(&client, "t2", w, &thanks.filter_sql(), 1, Sort::DEFAULT).await?;
    assert_eq!(products.len(), 2);

    // A late replay of the sign-up after the rollup changes nothing.
    backend.query(&format!("INSERT INTO t2.events (event_date, ts, received_at, event_id, tier, session_id, kind, path, target, props) VALUES (toDate(toDateTime({t})), toDateTime({t}), now(), 'a3', 'tier2', 'sA', 'custom', '/blog/first-post', 'signup', '[[\"plan\",\"pro\"],[\"seats\",3.0]]')", t = base + 40)).await?;
    rollup::run(&client, "t2").await?;
    let again = breakdown(&client, "t2", Report::CustomEvents, w, &dashboards::query::Where::none(), 1, Sort::DEFAULT).await?;
    assert_eq!(again.rows[0].hits, 3, "the replay counts once");
    backend.stop();
    Ok(())
}
