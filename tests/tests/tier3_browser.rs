//! The marketing views on the whole running system: customers and orders
//! written through the collector's order path (real routing from the
//! ledger), a marketing user in headless Chromium opening every Tier 3
//! page (screenshots under `target/screenshots/marketing-*`), every read
//! recorded in the access audit with the customers it touched, analysts
//! refused, and the recommendations endpoint taking nothing but a SKU.

use std::time::{Duration, Instant};

use devstack::orders::{seed_orders, OrderPlan};
use devstack::{logins, Layout};
use mintmark_e2e::dash::{computed_page, login, password_of};
use mintmark_e2e::{eventually, rows, run_browser, start_stack};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marketing_uses_every_tier3_view_and_every_read_names_its_customers() -> anyhow::Result<()> {
    let mut stack = start_stack("tier3_browser", None).await?;
    let layout = Layout::discover()?;
    let config = &stack.config;
    let client = mintmark_schema::client(&config.clickhouse);
    let dbs = mintmark_schema::Databases::new(&config.clickhouse.database_prefix)?;
    let ids = collector::pseudonym::Pseudonyms::from_keys(&config.keys)?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
    // A pair bought together often enough in the last released block of
    // "bought together" (twelve weeks, see release::pairs) to pass its
    // threshold; written first, so whichever orders the recommender's first
    // release sees, the pair is in it.
    // (Both candidate blocks, should a block end while the test runs.)
    let settled = dashboards::query::Day::from_unix(now - i64::from(config.release.settle_minutes) * 60).0;
    let mut blocks = vec![dashboards::release::pairs::blocks(settled)[0], dashboards::release::pairs::blocks(settled + 1)[0]];
    blocks.dedup();
    for block in blocks {
        client
            .query(&format!(
                "INSERT INTO {}.orders (order_date, received_at, order_key, event, channel, value, currency, item_skus, item_quantities, item_prices, item_categories, state) \
                 SELECT toDate('{block}') + (number % 80), now(), concat('pair-{block}-', toString(number)), 'placed', 'web', 20, 'USD', ['SKU-0001', 'SKU-0002'], [1, 1], [10, 10], ['gifts', 'gifts'], 'VA' FROM numbers(250)",
                dbs.t2
            ))
            .execute()
            .await?;
    }
    let seeded = seed_orders(&client, &dbs, &ids, OrderPlan { customers: 400, orders: 3_000, days: 365, until: now - 600, seed: 11 }, |_| {}).await?;
    assert!(seeded.rows[0] > 500 && seeded.rows[2] > 100, "identified and marketplace orders both exist: {seeded:?}");
    let demo = logins::ensure(&layout, &stack.state_dir, &stack.backend.config_path)?;
    let base = stack.urls.dashboards.clone();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let marketing = login(&http, &base, "marketing", &password_of(&demo, "marketing")?).await?;
    let analyst = login(&http, &base, "analyst", &password_of(&demo, "analyst")?).await?;
    let get = |path: &str, cookie: &str| http.get(format!("{base}{path}")).header("cookie", cookie).send();

    // Analysts see aggregates only: every marketing route is refused.
    for path in ["/marketing", "/marketing/segments", "/marketing/customers/demo-customer-00001", "/marketing/export/customers"] {
        assert_eq!(get(path, &analyst).await?.status().as_u16(), 403, "{path}");
    }
    // Bad parameters are refused with a reason, nothing read.
    let bad = get("/marketing?sort=lifetime_total;DROP", &marketing).await?;
    assert_eq!(bad.status().as_u16(), 400);
    assert!(bad.text().await?.contains("sort must be one of"));

    // The customer list names the customers on the page in the audit. The
    // service notices the new orders within its check interval.
    let deadline = Instant::now() + Duration::from_secs(40);
    let html = loop {
        let page = get("/marketing?sort=-lifetime_total", &marketing).await?;
        assert_eq!(page.status().as_u16(), 200);
        let html = page.text().await?;
        if html.contains("/marketing/customers/") {
            break html;
        }
        anyhow::ensure!(Instant::now() < deadline, "the customer list never showed the seeded orders");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let shown: Vec<String> = html.match_indices("/marketing/customers/").map(|(i, _)| html[i + 21..].split('"').next().unwrap().to_string()).collect();
    assert_eq!(shown.len(), 50, "a page of 50");
    let audit = rows(
        &stack,
        "SELECT customers_touched, customer_refs FROM ledger.access_audit WHERE route = '/marketing' AND user_name = 'marketing' ORDER BY at DESC, customers_touched DESC LIMIT 1",
    )
    .await?;
    // The audit names them by keyed hash: no reference an erasure would have to remove.
    let names = dashboards::audit::Audit::new(client.clone(), &dbs.ledger, &config.keys.subject)?;
    let mut refs: Vec<String> = audit[0]["customer_refs"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    refs.sort();
    let mut expected: Vec<String> = shown.iter().map(|r| names.subject(r)).collect();
    expected.sort();
    assert_eq!(refs, expected);
    assert!(!audit[0].to_string().contains(&shown[0]), "{}", audit[0]);
    assert_eq!(audit[0]["customers_touched"], "50");

    // One customer, a segment's members: each names exactly who was shown.
    let one = &shown[0];
    assert_eq!(get(&format!("/marketing/customers/{one}"), &marketing).await?.status().as_u16(), 200);
    let csv = get("/marketing/export/segment_members?segment=champions", &marketing).await?.text().await?;
    let members: Vec<&str> = csv.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert!(!members.is_empty(), "{csv}");
    let audited = rows(
        &stack,
        "SELECT route, customer_refs FROM ledger.access_audit WHERE user_name = 'marketing' AND route != '/marketing' ORDER BY at, route",
    )
    .await?;
    let by_route = |r: &str| audited.iter().find(|a| a["route"] == r).map(|a| a["customer_refs"].clone()).unwrap_or(Value::Null);
    assert_eq!(by_route("/marketing/customers/{customer}"), serde_json::json!([names.subject(one)]));
    assert_eq!(by_route("/marketing/export/segment_members").as_array().map(Vec::len), Some(members.len()));

    // Every export answers CSV and is audited: member lists name their customers,
    // aggregates count them.
    for name in ["customers", "order_values_by_state", "order_values_by_zip3", "segments", "rfm_cut_points", "clusters", "cluster_members?cluster=0"] {
        let resp = get(&format!("/marketing/export/{name}"), &marketing).await?;
        assert_eq!(resp.status().as_u16(), 200, "{name}");
        assert!(resp.headers()["content-type"].to_str()?.starts_with("text/csv"), "{name}");
        let route = format!("/marketing/export/{}", name.split('?').next().unwrap());
        let entry = rows(&stack, &format!("SELECT customers_touched, toUInt32(length(customer_refs)) AS listed FROM ledger.access_audit WHERE route = '{route}'")).await?;
        assert_eq!(entry.len(), 1, "{route} audited once: {entry:?}");
        let touched: u64 = entry[0]["customers_touched"].as_str().unwrap().parse()?;
        assert!(touched > 0, "{route} says how many customers it touched");
        if name == "customers" || name.starts_with("cluster_members") {
            assert_eq!(entry[0]["listed"].as_u64(), Some(touched), "{route} names them");
        }
    }

    // Recommendations: a SKU in, aggregate pairs out; nothing about a customer
    // accepted. The cache notices the new orders within its check interval.
    let deadline = Instant::now() + Duration::from_secs(40);
    let recs: Value = loop {
        let r = get("/api/v1/recommendations?sku=SKU-0001&n=3", &analyst).await?;
        let status = r.status().as_u16();
        assert!(status == 200 || status == 503, "warming up is the only other answer: {status}");
        if status == 200 {
            let body: Value = r.json().await?;
            if !body["recommendations"].as_array().unwrap().is_empty() {
                break body;
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "recommendations never reflected the orders");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let list = recs["recommendations"].as_array().unwrap();
    assert!(!list.is_empty() && list.len() <= 3, "{recs}");
    assert!(list.iter().any(|r| r["sku"] == "SKU-0002" && r["together"].as_u64().is_some_and(|n| n > 100)), "the planted pair, released: {recs}");
    let customer_input = get("/api/v1/recommendations?sku=SKU-0001&customer_ref=demo-customer-00001", &analyst).await?;
    assert_eq!(customer_input.status().as_u16(), 400);
    assert!(customer_input.text().await?.contains("no customer input"));

    // Personal recommendations (Tier 3): two customers through the backend's
    // consent and order feeds, each buying SKU-0001; one stays opted in and
    // is recommended its released partner, the other opts out and gets none.
    let collector = stack.urls.collector.clone();
    let post = |path: &str, body: Value| http.post(format!("{collector}{path}")).bearer_auth(config.keys.backend_secret_for(path)).json(&body).send();
    for customer in ["rec-fan", "rec-gone"] {
        let opted = post("/consent/opt-in", serde_json::json!({"customer_ref": customer, "source": "registration", "policy_version": 1})).await?;
        assert!(opted.status().is_success(), "{}", opted.status());
        let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
        let order = serde_json::json!({"orders": [{"order_id": format!("{customer}-1"), "event": "placed", "at": at, "channel": "web", "customer_ref": customer, "value": 10.0,
            "currency": "USD", "items": [{"sku": "SKU-0001", "quantity": 1, "unit_price": 10.0}], "state": "VA", "zip": "22030"}]});
        assert_eq!(post("/orders", order).await?.status().as_u16(), 202);
        let mine = format!("SELECT count() FROM t3.orders WHERE subject = '{}'", ids.subject(customer).as_str());
        mintmark_e2e::wait_for_count(&stack, &mine, Duration::from_secs(30), |n| n == 1).await?;
    }
    assert!(post("/consent/opt-out", serde_json::json!({"customer_ref": "rec-gone"})).await?.status().is_success());
    let picks_of = |html: &str| html.split_once("data-table=\"customer_recommendations\"").and_then(|(_, rest)| rest.split("</section>").next()).unwrap_or("").to_string();
    let fan = get("/marketing/customers/rec-fan", &marketing).await?.text().await?;
    let fan_picks = picks_of(&fan);
    assert!(fan_picks.contains("SKU-0002") && fan_picks.contains("often bought with SKU-0001"), "{fan_picks}");
    assert!(!fan_picks.contains(">SKU-0001<"), "what they bought is not recommended back: {fan_picks}");
    let gone = get("/marketing/customers/rec-gone", &marketing).await?.text().await?;
    assert!(gone.contains("their opt-in does not stand now") && !picks_of(&gone).contains("SKU-0002"), "{}", picks_of(&gone));
    // In the members export of whichever segment they fell into (once the
    // order facts are rebuilt): the fan with the partner, the other with none.
    let in_members = eventually("both customers in a segment's members", Duration::from_secs(60), async || {
        let mut lines = Vec::new();
        for g in dashboards::tier3::rfm::Segment::ALL {
            let csv = get(&format!("/marketing/export/segment_members?segment={}", g.slug()), &marketing).await?.text().await?;
            assert!(csv.lines().next().is_some_and(|h| h.ends_with(",recommended")), "{csv}");
            lines.extend(csv.lines().filter(|l| l.starts_with("rec-")).map(str::to_string));
        }
        Ok(lines)
    }, |l| l.len() == 2)
    .await?;
    assert!(in_members.iter().any(|l| l.starts_with("rec-fan,") && l.contains("SKU-0002")), "{in_members:?}");
    assert!(in_members.iter().any(|l| l.starts_with("rec-gone,") && l.ends_with(',')), "none for the opted-out: {in_members:?}");
    let audited = rows(&stack, &format!("SELECT count() AS n FROM ledger.access_audit WHERE route = '/marketing/customers/{{customer}}' AND has(customer_refs, '{}')", names.subject("rec-fan"))).await?;
    assert_eq!(audited[0]["n"], "1", "the recommendation's read is audited with the customer page");

    // The clusters and segments are computed in the background, never in a
    // page's request: wait for them as a user would, then look.
    for path in ["/marketing/segments", "/marketing/clusters"] {
        computed_page(&http, &base, &marketing, path, Duration::from_secs(300)).await?;
    }
    // Chromium, as the marketing user.
    let shots = layout.target.join("screenshots");
    std::fs::create_dir_all(&shots)?;
    let out = run_browser("marketing.mjs", &[&base, "marketing", &password_of(&demo, "marketing")?, shots.to_str().unwrap()]).await?;
    assert_eq!(out["dialogs"], serde_json::json!([]));
    assert_eq!(out["csp_violations"], 0, "{out}");
    for view in ["/marketing", "/marketing/geography", "/marketing/segments", "/marketing/clusters"] {
        let v = &out["views"][view];
        let tables = v["tables"].as_array().unwrap();
        assert!(!tables.is_empty() && tables.iter().all(|t| t["rows"].as_u64().unwrap() > 0), "{view}: {v}");
    }
    assert!(out["views"]["/marketing/geography"]["charts"].as_u64().unwrap() > 2, "bar charts drawn");
    assert!(out["sorted_url"].as_str().unwrap().contains("sort=-lifetime_orders"), "{out}");
    assert_eq!(out["page2"]["pager"].as_str().unwrap().split('–').next(), Some("51"));
    assert!(out["customer_page"]["tables"].as_array().unwrap().iter().any(|t| t["name"] == "customer_orders" && t["rows"].as_u64().unwrap() > 0));
    let routes = rows(&stack, "SELECT DISTINCT route FROM ledger.access_audit WHERE user_name = 'marketing'").await?;
    let routes: Vec<&str> = routes.iter().map(|r| r["route"].as_str().unwrap()).collect();
    for route in ["/marketing", "/marketing/geography", "/marketing/segments", "/marketing/clusters"] {
        assert!(routes.contains(&route), "{route} was read but not audited: {routes:?}");
    }
    for name in ["marketing-marketing", "marketing-geography", "marketing-segments", "marketing-clusters", "marketing-customer", "marketing-customers-phone"] {
        let suffix = if name.ends_with("phone") { "" } else { "-desktop" };
        assert!(shots.join(format!("{name}{suffix}.png")).exists(), "{name}");
    }

    // Recommendation reads are tallied in memory and written once a minute;
    // a SIGTERM (what a deploy sends) writes them before the service exits.
    let tallied = "SELECT count() FROM ledger.access_audit WHERE route = '/api/v1/recommendations' AND user_name = 'analyst'";
    let before: u64 = stack.clickhouse_query(tallied).await?.trim().parse()?;
    assert_eq!(get("/api/v1/recommendations?sku=SKU-0001&n=1", &analyst).await?.status().as_u16(), 200);
    stack.stop_dashboards();
    let after: u64 = stack.clickhouse_query(tallied).await?.trim().parse()?;
    assert!(after > before, "the last read's tally was written at SIGTERM ({before} entries before, {after} after)");
    stack.stop();
    Ok(())
}
