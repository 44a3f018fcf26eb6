//! The analyst's tools on the whole running system: goals, funnels,
//! annotations and saved segments made through the API (tokens with and without the write
//! scope, a session with and without its CSRF header) and through the
//! pages in headless Chromium, seen on the goals page, the overview chart
//! and the filter bar, exported as CSV, and every change in the access
//! audit. Synthetic history with custom events and campaign terms goes in
//! through the collector's row transform.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use devstack::history::{self, Plan};
use devstack::{logins, Layout};
use mintmark_e2e::dash::{login, password_of};
use mintmark_e2e::{eventually, run_browser, start_stack};
use serde_json::{json, Value};

fn csrf_of(html: &str) -> String {
    html.split("name=\"csrf\" value=\"").nth(1).expect("a form with a CSRF token").split('"').next().unwrap().to_string()
}

/// A new token of `scope` for the signed-in user, through `/account`.
async fn token(http: &reqwest::Client, base: &str, cookie: &str, scope: &str) -> anyhow::Result<String> {
    let page = http.get(format!("{base}/account")).header("cookie", cookie).send().await?.text().await?;
    let made = http
        .post(format!("{base}/account/tokens"))
        .header("cookie", cookie)
        .form(&[("csrf", csrf_of(&page).as_str()), ("label", scope), ("scope", scope)])
        .send()
        .await?
        .text()
        .await?;
    Ok(made.split("id=\"new-token\">").nth(1).expect("the new token is shown").split('<').next().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analysts_make_goals_annotations_and_segments_and_see_them_everywhere() -> anyhow::Result<()> {
    let stack = start_stack("analyst_tools_browser", None).await?;
    let layout = Layout::discover()?;
    let config = &stack.config;
    let client = mintmark_schema::client(&config.clickhouse);
    let dbs = mintmark_schema::Databases::new(&config.clickhouse.database_prefix)?;
    let ids = collector::pseudonym::Pseudonyms::from_keys(&config.keys)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
    history::seed(&client, &dbs, &ids, None, Plan { events: 120_000, days: 30, until: now - 600, seed: 5 }, |_| {}).await?;
    dashboards::rollup::run(&client, &dbs.t2).await?;
    let demo = logins::ensure(&layout, &stack.state_dir, &stack.backend.config_path)?;
    logins::ensure_demo_goals(&layout, &stack.backend.config_path)?;
    let base = stack.urls.dashboards.clone();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let analyst = password_of(&demo, "analyst")?;
    let cookie = login(&http, &base, "analyst", &analyst).await?;

    // The API: a read token may read but not change; a write token may.
    let (read, write) = (token(&http, &base, &cookie, "read").await?, token(&http, &base, &cookie, "write").await?);
    let goal = json!({"name": "Big wishlist", "kind": "event", "event": "wishlist_add"});
    let refused = http.post(format!("{base}/api/v1/goals")).bearer_auth(&read).json(&goal).send().await?;
    assert_eq!(refused.status().as_u16(), 403);
    assert!(refused.text().await?.contains("write scope"));
    let made = http.post(format!("{base}/api/v1/goals")).bearer_auth(&write).json(&goal).send().await?;
    assert_eq!(made.status().as_u16(), 201);
    let made: Value = made.json().await?;
    assert_eq!((made["kind"].as_str(), made["filter"].as_str(), made["created_by"].as_str()), (Some("event"), Some("goal:is:Big wishlist"), Some("analyst")), "{made}");
    let id = made["id"].as_i64().unwrap();
    let bad = http.put(format!("{base}/api/v1/goals/{id}")).bearer_auth(&write).json(&json!({"name": "Big wishlist", "kind": "pageview", "pattern": "no-slash"})).send().await?;
    assert_eq!(bad.status().as_u16(), 400);
    assert!(bad.json::<Value>().await?["error"].as_str().unwrap().contains("starts with /"));
    let not_json = http.post(format!("{base}/api/v1/goals")).bearer_auth(&write).header("content-type", "application/json").body("{").send().await?;
    assert_eq!(not_json.status().as_u16(), 400, "a body that is not JSON is a 400 with a reason");
    let edited = http.put(format!("{base}/api/v1/goals/{id}")).bearer_auth(&write).json(&json!({"name": "Big order", "kind": "purchase", "min_value": "250"})).send().await?;
    assert_eq!(edited.status().as_u16(), 200);
    assert_eq!(edited.json::<Value>().await?["definition"], "a purchase of at least 250.00");
    let listed: Value = http.get(format!("{base}/api/v1/goals")).bearer_auth(&read).send().await?.json().await?;
    let names: Vec<&str> = listed.as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Big order", "Newsletter sign-up", "Order over $100", "Viewed a product"], "the demo's goals and the API's, by name");
    assert_eq!(http.delete(format!("{base}/api/v1/goals/{id}")).bearer_auth(&write).send().await?.status().as_u16(), 204);
    assert_eq!(http.delete(format!("{base}/api/v1/goals/{id}")).bearer_auth(&write).send().await?.status().as_u16(), 404);
    // A goal's numbers are a table like any other; an unknown goal is a 400.
    let conversions: Value = http.get(format!("{base}/api/v1/conversions?period=30d")).bearer_auth(&read).send().await?.json().await?;
    let rows = conversions["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{conversions}");
    let signups = rows.iter().find(|r| r["goal"] == "Newsletter sign-up").unwrap();
    assert!(signups["conversions"].as_f64().unwrap() > 100.0, "the demo's sign-ups are counted: {signups}");
    let unknown = http.get(format!("{base}/api/v1/top?f=goal:is:Nope")).bearer_auth(&read).send().await?;
    assert_eq!(unknown.status().as_u16(), 400);
    assert!(unknown.json::<Value>().await?["error"].as_str().unwrap().contains("no goal named \"Nope\""));
    // A session's cookie alone cannot change anything through the API; with
    // its CSRF token in the header, it can.
    let note = json!({"day": dashboards::query::Day::from_unix(now - 3 * 86_400).to_string(), "text": "Price change"});
    let no_header = http.post(format!("{base}/api/v1/annotations")).header("cookie", &cookie).json(&note).send().await?;
    assert_eq!(no_header.status().as_u16(), 403);
    let page = http.get(format!("{base}/account")).header("cookie", &cookie).send().await?.text().await?;
    let with_header = http.post(format!("{base}/api/v1/annotations")).header("cookie", &cookie).header("x-csrf-token", csrf_of(&page)).json(&note).send().await?;
    assert_eq!(with_header.status().as_u16(), 201);
    // A private segment is its owner's; another analyst cannot change it.
    let seg: Value = http
        .post(format!("{base}/api/v1/segments"))
        .bearer_auth(&write)
        .json(&json!({"name": "German phones", "filters": ["country:is:DE", "device:is:mobile"]}))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(seg["params"], "f=country%3Ais%3ADE&f=device%3Ais%3Amobile", "{seg}");
    let bad_segment = http.post(format!("{base}/api/v1/segments")).bearer_auth(&write).json(&json!({"name": "x", "filters": ["path:is:/"]})).send().await?;
    assert_eq!(bad_segment.status().as_u16(), 400);
    let marketing = login(&http, &base, "marketing", &password_of(&demo, "marketing")?).await?;
    let theirs = token(&http, &base, &marketing, "write").await?;
    let seen: Value = http.get(format!("{base}/api/v1/segments")).bearer_auth(&theirs).send().await?.json().await?;
    assert_eq!(seen, json!([]), "a private segment is not listed for others");
    let taken = http.delete(format!("{base}/api/v1/segments/{}", seg["id"])).bearer_auth(&theirs).send().await?;
    assert_eq!(taken.status().as_u16(), 403);

    // The pages, in Chromium.
    let shots = layout.target.join("screenshots");
    std::fs::create_dir_all(&shots)?;
    let day = dashboards::query::Day::from_unix(now - 5 * 86_400).to_string();
    let out = run_browser("analyst_tools.mjs", &[&base, "analyst", &analyst, shots.to_str().unwrap(), &day]).await?;
    assert_eq!(out["dialogs"], json!([]));
    assert_eq!(out["csp_violations"], 0, "{:?}", out["console_errors"]);
    let goal_names = |v: &Value| v.as_array().unwrap().iter().map(|r| r[0].as_str().unwrap().to_string()).collect::<Vec<_>>();
    assert_eq!(goal_names(&out["goals_before"]), ["Newsletter sign-up", "Order over $100", "Viewed a product"], "{out}");
    assert_eq!(goal_names(&out["goals_after"]), ["Newsletter sign-up", "Order over $100", "Viewed a product", "Wishlist"]);
    let wishlist = &out["goals_after"][3];
    assert!(!wishlist[2].as_str().unwrap().starts_with('<'), "the wishlist goal counts history: {wishlist}");
    assert_eq!(out["goals_error"], 0);
    assert!(goal_names(&out["custom_events"]).contains(&"newsletter_signup".to_string()), "{}", out["custom_events"]);
    assert!(out["goal_filter_url"].as_str().unwrap().contains("f=goal%3Ais%3AWishlist"), "{}", out["goal_filter_url"]);
    assert_eq!(out["goal_filter_chips"], json!(["goal is Wishlist ×"]));
    assert_eq!(out["goal_filter_error"], 0);
    let csv = out["csv"].as_str().unwrap();
    assert!(out["csv_name"].as_str().unwrap().starts_with("mintmark-conversions-") && csv.starts_with("goal,definition,conversions"), "{csv}");
    assert!(csv.contains("Wishlist,event wishlist_add,"), "{csv}");
    // Newest day first: the API's note (three days back), then the page's.
    let notes: Vec<Vec<String>> = out["annotations"].as_array().unwrap().iter().map(|r| r.as_array().unwrap()[..3].iter().map(|c| c.as_str().unwrap().to_string()).collect()).collect();
    assert_eq!(notes[1], [day.as_str(), "Holiday e-mail sent", "analyst"], "{notes:?}");
    assert_eq!(notes[0][1], "Price change");
    assert!(out["overview_annotations"].as_array().unwrap().iter().any(|a| a.as_str().unwrap().contains("Holiday e-mail sent")), "{}", out["overview_annotations"]);
    assert_eq!(out["chart_marked"], true);
    // The purchase funnel by default; the analyst's own, walked.
    assert_eq!(out["default_funnel"].as_array().unwrap().len(), 5, "all visits and four steps: {}", out["default_funnel"]);
    assert!(out["funnel_url"].as_str().unwrap().contains("funnel=Product+to+purchase"), "{}", out["funnel_url"]);
    assert_eq!(out["funnel_title"], "Product to purchase");
    let steps: Vec<&str> = out["funnel"].as_array().unwrap().iter().map(|r| r[0].as_str().unwrap()).collect();
    assert_eq!(steps, ["All visits", "Viewed /store/products/*", "Added to cart", "Purchased"]);
    let count = |r: &Value| r[1].as_str().unwrap().replace(',', "").trim_start_matches("< ").parse::<f64>().unwrap_or(0.0);
    let walked = out["funnel"].as_array().unwrap();
    assert!(count(&walked[1]) > count(&walked[2]) && count(&walked[1]) > 1000.0, "most visits view a product, fewer add to cart: {walked:?}");
    // Revenue per source, sorted by revenue: the goal's columns on a breakdown.
    assert!(out["revenue_url"].as_str().unwrap().contains("goal=Order+over+%24100&sort=revenue"), "{}", out["revenue_url"]);
    assert_eq!(out["revenue_title"], "Referrers · Order over $100");
    let headers: Vec<String> = out["revenue_headers"].as_array().unwrap().iter().map(|h| h.as_str().unwrap().trim().trim_end_matches(['↓', '↑']).trim().to_lowercase()).collect();
    assert_eq!(headers, ["source", "visits", "conversions", "conversion rate", "revenue", "revenue per visit"], "{headers:?}");
    let money = |r: &Value| r[4].as_str().unwrap().replace(',', "").parse::<f64>().unwrap_or(0.0);
    let revenue_rows = out["revenue_rows"].as_array().unwrap();
    assert!(revenue_rows.len() >= 2 && money(&revenue_rows[0]) > 0.0, "{revenue_rows:?}");
    assert!(revenue_rows.windows(2).filter(|w| !w[1][0].as_str().unwrap().starts_with("other")).all(|w| money(&w[0]) >= money(&w[1])), "sorted by revenue: {revenue_rows:?}");
    assert_eq!(out["segment_current"], json!(["Paid search"]), "the saved segment is the page's filters");
    assert_eq!(out["segment_applied_error"], 0);
    assert!(out["segment_applied_url"].as_str().unwrap().contains("period=7d&f=utm_medium%3Ais%3Acpc"), "{}", out["segment_applied_url"]);
    assert!(out["custom_url"].as_str().unwrap().contains(&format!("period=custom&from={day}&to={day}")), "{}", out["custom_url"]);
    assert_eq!(out["custom_span"], json!(format!("{day} – {day}")));
    let alerts = out["alerts"].as_array().unwrap();
    assert!(alerts.iter().any(|r| r[0] == "Checkout broken" && r[1].as_str().unwrap().contains("no purchase in the last 3 hours")), "{alerts:?}");
    for name in ["goals", "goal-filtered", "annotations", "overview-annotated", "funnel", "revenue-by-source", "segment-applied", "custom-period", "alerts", "account"] {
        assert!(shots.join(format!("analyst-{name}-desktop.png")).exists(), "{name}");
    }
    // Every change, by page or by API, is in the access audit.
    eventually(
        "the changes in the access audit",
        Duration::from_secs(20),
        || async { stack.clickhouse_query("SELECT count() FROM ledger.access_audit WHERE route IN ('/goals', '/annotations', '/segments') AND params LIKE '%=%'").await },
        |n: &String| n.trim().parse::<u64>().unwrap_or(0) >= 8,
    )
    .await?;
    stack.stop();
    Ok(())
}
