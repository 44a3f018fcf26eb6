//! `make docs-screenshots`: the manual's pictures, taken by the browser
//! tests' own Chromium drivers (`tests/browser/`) against the demo system
//! `make up` runs (30 days of history, a year of customers and orders),
//! and copied to `docs/src/img/` under stable names.
//!
//! The browser tests themselves run on fixtures built to attack the pages
//! (script in page titles, formulas in search terms), which is what they
//! are for and not what a reader should see first.

use std::time::Duration;

use anyhow::Context;
use devstack::{logins, Layout};
use mintmark_e2e::dash::password_of;
use mintmark_e2e::redteam::Analyst;
use mintmark_e2e::{eventually, run_browser, start_stack};

/// `(what the driver wrote, the manual's name)`.
const PICTURES: [(&str, &str); 17] = [
    ("dashboards-overview-desktop.png", "dashboards-overview.png"),
    ("dashboards-content-desktop.png", "dashboards-content.png"),
    ("dashboards-acquisition-desktop.png", "dashboards-acquisition.png"),
    ("dashboards-commerce-desktop.png", "dashboards-commerce.png"),
    ("dashboards-overview-phone.png", "dashboards-overview-phone.png"),
    ("analyst-goal-filtered-desktop.png", "analyst-goal-annotation.png"),
    ("analyst-goals-desktop.png", "analyst-goals.png"),
    ("analyst-funnel-desktop.png", "analyst-funnel.png"),
    ("analyst-revenue-by-source-desktop.png", "analyst-revenue-by-source.png"),
    ("analyst-segment-applied-desktop.png", "analyst-segment.png"),
    ("marketing-marketing-desktop.png", "marketing-customers.png"),
    ("marketing-segments-desktop.png", "marketing-segments.png"),
    ("marketing-geography-desktop.png", "marketing-geography.png"),
    ("marketing-customer-desktop.png", "marketing-customer.png"),
    ("privacy-privacy-desktop.png", "privacy-overview.png"),
    ("privacy-audit-desktop.png", "privacy-audit.png"),
    ("privacy-customer-desktop.png", "privacy-customer.png"),
];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let layout = Layout::discover()?;
    let _ = std::fs::remove_dir_all(layout.target.join("e2e/docs_screenshots"));
    let stack = start_stack("docs_screenshots", None).await?;
    println!("seeding the demo history and orders ...");
    devstack::history::seed_demo(&stack.config, 300_000).await?;
    devstack::orders::seed_demo_orders(&stack.config).await?;
    let client = mintmark_schema::client(&stack.config.clickhouse);
    let dbs = mintmark_schema::Databases::new(&stack.config.clickhouse.database_prefix)?;
    dashboards::rollup::run(&client, &dbs.t2).await?;
    let demo = logins::ensure(&layout, &stack.state_dir, &stack.backend.config_path)?;
    logins::ensure_demo_goals(&layout, &stack.backend.config_path)?;

    // The numbers are there before a picture is taken.
    let base = stack.urls.dashboards.clone();
    let analyst = Analyst::create(&stack.config.dashboards.data_dir, &base, "docs-check")?;
    let http = reqwest::Client::new();
    eventually(
        "the overview has visits",
        Duration::from_secs(120),
        async || {
            let r = http.get(format!("{base}/api/v1/top?period=30d")).bearer_auth(&analyst.token).send().await?;
            Ok(r.json::<serde_json::Value>().await.unwrap_or_default())
        },
        |top| top["rows"][0]["value"].as_f64().is_some_and(|v| v > 1000.0),
    )
    .await?;

    let shots = layout.target.join("e2e/docs_screenshots/shots");
    std::fs::create_dir_all(&shots)?;
    let dir = shots.to_str().context("a UTF-8 path")?;
    println!("taking the analyst's pictures ...");
    run_browser("dashboards.mjs", &[&base, "analyst", &password_of(&demo, "analyst")?, dir, "no hostile text here"]).await?;
    // The analyst's tools: as the marketing user (who reads every analyst
    // view), whose privacy budget the pictures above did not spend.
    println!("taking the analyst tools' pictures ...");
    let five_days_back = dashboards::query::Day(dashboards::query::Day::today().0 - 5).to_string();
    run_browser("analyst_tools.mjs", &[&base, "marketing", &password_of(&demo, "marketing")?, dir, &five_days_back]).await?;
    // Segments and clusters over a year of customers take a while the first
    // time (then they are cached): ask once, patiently, before the driver does.
    println!("warming marketing's segments and clusters ...");
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(600)).build()?;
    let cookie = mintmark_e2e::dash::login(&no_redirects, &base, "marketing", &password_of(&demo, "marketing")?).await?;
    for page in ["/marketing", "/marketing/geography", "/marketing/segments", "/marketing/clusters"] {
        let status = no_redirects.get(format!("{base}{page}")).header("cookie", &cookie).send().await?.status();
        anyhow::ensure!(status.is_success(), "{page} answered {status}");
    }
    println!("taking marketing's pictures ...");
    run_browser("marketing.mjs", &[&base, "marketing", &password_of(&demo, "marketing")?, dir]).await?;
    println!("taking the privacy officer's pictures ...");
    // A customer with a handful of orders: their page fits a screen.
    let few = mintmark_e2e::rows(&stack, "SELECT customer_ref FROM t3.orders GROUP BY customer_ref HAVING count() BETWEEN 3 AND 6 ORDER BY customer_ref LIMIT 1").await?;
    let customer = few.first().and_then(|r| r["customer_ref"].as_str()).context("a demo customer with a few orders")?.to_string();
    run_browser("privacy.mjs", &[&base, "privacy", &password_of(&demo, "privacy")?, dir, &customer]).await?;

    let img = layout.root.join("docs/src/img");
    std::fs::create_dir_all(&img)?;
    for (taken, name) in PICTURES {
        std::fs::copy(shots.join(taken), img.join(name)).with_context(|| format!("the driver wrote no {taken}"))?;
        println!("wrote docs/src/img/{name}");
    }
    Ok(())
}
