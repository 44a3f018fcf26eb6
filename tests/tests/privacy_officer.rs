//! The privacy officer on the whole running system: customers opted in,
//! out and ordering through the collector's real APIs; every invariant
//! check counting 0 on that clean data, then failing on a deliberately bad
//! row of its own (seen in its drill-down and in `/metrics`); the access
//! audit's chain intact, then broken where a row was altered and where one
//! was deleted directly in ClickHouse; an access request exported as JSON
//! and CSV only after the password is given again, and audited; the
//! consent ledger searched and exported; the public notice; and the pages
//! in headless Chromium (screenshots `target/screenshots/privacy-*`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use devstack::{logins, Layout};
use mintmark_e2e::dash::{login, password_of};
use mintmark_e2e::{rows, run_browser, start_stack, wait_for_count};
use serde_json::{json, Value};

/// The CSRF token a page's forms carry.
fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a form with a CSRF field") + 19;
    html[at..].split('"').next().unwrap().to_string()
}

/// `mintmark_dashboards_invariant_violations{check="<id>"} <n>` → n.
fn gauge(metrics: &str, check: &str) -> i64 {
    let key = format!("mintmark_dashboards_invariant_violations{{check=\"{check}\"}} ");
    metrics.lines().find_map(|l| l.strip_prefix(&key)).unwrap_or_else(|| panic!("no gauge for {check}: {metrics}")).parse().unwrap()
}

const CHECKS: [&str; 11] = [
    "t2_email",
    "t2_phone",
    "t2_card",
    "t2_ip",
    "t2_customer_ref",
    "t3_without_opt_in",
    "t3_after_opt_out",
    "t3_session_ids",
    "marketplace_linked",
    "t3_erased",
    "past_retention",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_privacy_officer_sees_invariants_the_chain_and_answers_an_access_request() -> anyhow::Result<()> {
    let mut stack = start_stack("privacy_officer", None).await?;
    let layout = Layout::discover()?;
    let demo = logins::ensure(&layout, &stack.state_dir, &stack.backend.config_path)?;
    let base = stack.urls.dashboards.clone();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let pia = login(&http, &base, "privacy", &password_of(&demo, "privacy")?).await?;
    let analyst = login(&http, &base, "analyst", &password_of(&demo, "analyst")?).await?;
    let get = |path: &str, cookie: &str| http.get(format!("{base}{path}")).header("cookie", cookie).send();
    // /metrics names which privacy checks fail: only a scraper with its token reads it.
    let metrics_token = stack.config.keys.dashboards_metrics_token.clone();
    let scrape = async || -> anyhow::Result<String> { Ok(http.get(format!("{base}/metrics")).bearer_auth(&metrics_token).send().await?.error_for_status()?.text().await?) };
    assert_eq!(get("/metrics", "").await?.status().as_u16(), 401, "no token, no metrics");
    assert_eq!(get("/metrics", &pia).await?.status().as_u16(), 401, "a session is not the scraper's token");

    // Customers through the collector's own APIs: alice opts in and orders; bob opts in, then out.
    let keys = stack.config.keys.clone();
    let collector = stack.urls.collector.clone();
    let post = |path: &str, body: Value| http.post(format!("{collector}{path}")).bearer_auth(keys.backend_secret_for(path)).json(&body).send();
    for c in ["c-alice", "c-bob"] {
        assert!(post("/consent/opt-in", json!({"customer_ref": c, "source": "registration", "policy_version": 1})).await?.status().is_success());
    }
    let at = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() + 1;
    let order = json!({"order_id": "O-1", "event": "placed", "at": at, "channel": "web", "customer_ref": "c-alice", "value": 24.5, "currency": "USD",
                       "items": [{"sku": "MUG-1", "quantity": 2, "unit_price": 12.25}], "state": "VA", "zip": "22030"});
    assert_eq!(post("/orders", order).await?.status().as_u16(), 202);
    wait_for_count(&stack, "SELECT count() FROM t3.orders", Duration::from_secs(60), |n| n == 1).await?;
    stack.clickhouse_query("INSERT INTO t3.events (event_date, ts, received_at, event_id, customer_ref, kind, path, title) VALUES (today(), now() + 2, now(), 'e-a1', 'c-alice', 'pageview', '/store/mugs', 'Mugs')").await?;
    mintmark_e2e::fill_subjects(&stack.config).await?;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(post("/consent/opt-out", json!({"customer_ref": "c-bob"})).await?.status().is_success());

    // Only the privacy officer gets in.
    for path in ["/privacy", "/privacy/consent", "/privacy/audit", "/privacy/customers/c-alice", "/privacy/export/purge_log"] {
        assert_eq!(get(path, &analyst).await?.status().as_u16(), 403, "{path}");
    }
    let bad = get("/privacy/consent?from=yesterday", &pia).await?;
    assert_eq!(bad.status().as_u16(), 400);
    assert!(bad.text().await?.contains("from must be a date"));

    // Clean data: every check counts 0, in the report and in /metrics.
    let overview = get("/privacy", &pia).await?.text().await?;
    let token = csrf(&overview);
    let run = |cookie: &str| http.post(format!("{base}/privacy/invariants")).header("cookie", cookie).form(&[("csrf", token.as_str())]).send();
    assert_eq!(run(&pia).await?.status().as_u16(), 303);
    let metrics = scrape().await?;
    for check in CHECKS {
        assert_eq!(gauge(&metrics, check), 0, "{check} on clean data");
    }
    assert!(metrics.contains("mintmark_dashboards_invariant_checks_failing 0"), "{metrics}");
    let overview = get("/privacy", &pia).await?.text().await?;
    assert!(overview.contains("11 of 11 invariant checks pass"), "{overview}");
    assert!(overview.contains("Access audit chain intact"));

    // A bad row for every check. The collector is stopped so its erasure job
    // leaves the planted erasure request alone; its first scheduled
    // retention run (a background task, which an erasure pass holding the
    // purge lock can put off) is on record first, or it never will be.
    let scheduled = "SELECT count() FROM ledger.purge_log WHERE kind = 'retention' AND run_by = 'collector retention schedule' AND dataset = 't2_events'";
    wait_for_count(&stack, scheduled, Duration::from_secs(60), |n| n >= 1).await?;
    stack.backend.stop_collector();
    for sql in [
        "INSERT INTO t2.events (event_date, ts, event_id, path) VALUES (today(), now(), 'bad-email', '/store/u/jane.doe@example.com')",
        "INSERT INTO t2.events (event_date, ts, event_id, title) VALUES (today(), now(), 'bad-phone', 'call 703-555-0147')",
        "INSERT INTO t2.orders (order_date, order_key, item_skus) VALUES (today(), 'bad-card', ['4111 1111 1111 1111'])",
        "INSERT INTO t2.events (event_date, ts, event_id, referrer_domain) VALUES (today(), now(), 'bad-ip', '198.51.100.23')",
        "INSERT INTO t2.events (event_date, ts, event_id, target) VALUES (today(), now(), 'bad-ref', 'c-alice')",
        "INSERT INTO t3.events (event_date, ts, event_id, customer_ref, kind) VALUES (today(), now(), 'bad-nobody', 'c-nobody', 'pageview')",
        "INSERT INTO t3.events (event_date, ts, event_id, customer_ref, kind) VALUES (today(), now() + 60, 'bad-after-out', 'c-bob', 'pageview')",
        "INSERT INTO t2.events (event_date, ts, event_id, session_id) VALUES (today(), now(), 'bad-sess', 'leaked-session-1')",
        "INSERT INTO t3.events (event_date, ts, event_id, customer_ref, visitor_id, kind) VALUES (today(), now(), 'bad-sess3', 'c-alice', 'leaked-session-1', 'pageview')",
        "INSERT INTO t2.marketplace_orders (order_date, order_key, item_skus) VALUES (today(), 'bad-mkt', ['c-alice'])",
        "INSERT INTO ledger.consent_ledger (at, action, customer_ref) VALUES (now() - 3600, 'erasure_requested', 'c-carol')",
        "INSERT INTO t3.events (event_date, ts, event_id, customer_ref, kind) VALUES (today(), now(), 'bad-erased', 'c-carol', 'pageview')",
        "INSERT INTO t2.events (event_date, ts, event_id) VALUES (today() - 500, now() - 500 * 86400, 'bad-old')",
    ] {
        stack.clickhouse_query(sql).await.map_err(|e| anyhow::anyhow!("{sql}: {e}"))?;
    }
    mintmark_e2e::fill_subjects(&stack.config).await?;
    for check in CHECKS {
        let page = get(&format!("/privacy/invariants/{check}"), &pia).await?;
        assert_eq!(page.status().as_u16(), 200, "{check}");
        let html = page.text().await?;
        assert!(html.contains("rows break this invariant"), "{check} did not fail on its bad row: {html}");
    }
    let drill = get("/privacy/invariants/t2_email", &pia).await?.text().await?;
    assert!(drill.contains("jane.doe@example.com") && drill.contains("t2.events"), "the drill-down names the row: {drill}");
    assert_eq!(run(&pia).await?.status().as_u16(), 303);
    let metrics = scrape().await?;
    for check in CHECKS {
        assert!(gauge(&metrics, check) > 0, "{check} exported as failing: {metrics}");
    }
    let audited = rows(&stack, "SELECT count() AS n FROM ledger.access_audit WHERE route = '/privacy/invariants/t2_email'").await?;
    assert_eq!(audited[0]["n"], "2", "drill-downs are audited");

    // An access request: the record after the password, as JSON and CSV.
    let page = get("/privacy/customers/c-alice", &pia).await?.text().await?;
    assert!(page.contains("Opted in since") && page.contains("Export JSON"), "{page}");
    let export = |password: &str, format: &str| {
        http.post(format!("{base}/privacy/customers/c-alice/export"))
            .header("cookie", &pia)
            .form(&[("csrf", token.as_str()), ("password", password), ("format", format)])
            .send()
    };
    assert_eq!(export("not my password", "json").await?.status().as_u16(), 403);
    let resp = export(&password_of(&demo, "privacy")?, "json").await?;
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers()["content-disposition"].to_str()?.contains("mintmark-access-request-"));
    let record: Value = resp.json().await?;
    assert_eq!(record["customer_ref"], "c-alice");
    assert_eq!(record["consent"].as_array().map(Vec::len), Some(1));
    assert_eq!(record["orders"][0]["order_id"], "O-1");
    assert!(record["events"].as_array().unwrap().iter().any(|e| e["path"] == "/store/mugs"), "{record}");
    let csv = export(&password_of(&demo, "privacy")?, "csv").await?.text().await?;
    assert!(csv.starts_with("section,at,what,item,value,detail") && csv.contains("\r\norder,") && csv.contains("\r\nconsent,"), "{csv}");
    let names = dashboards::audit::Audit::new(mintmark_schema::client(&stack.config.clickhouse), "ledger", &stack.config.keys.subject)?;
    let exports = rows(&stack, "SELECT params, customer_refs FROM ledger.access_audit WHERE route = '/privacy/customers/{customer}/export' ORDER BY seq").await?;
    assert_eq!(exports.len(), 2, "the refused export showed nothing and left no entry; the two given did: {exports:?}");
    assert_eq!(exports[0]["customer_refs"], json!([names.subject("c-alice")]));
    // A drill-down lists customer references: its entry names them.
    let drilled = rows(&stack, "SELECT customer_refs FROM ledger.access_audit WHERE route = '/privacy/invariants/t3_erased' ORDER BY seq DESC LIMIT 1").await?;
    assert_eq!(drilled[0]["customer_refs"], json!([names.subject("c-carol")]), "the erased customer's rows were shown, so the audit names them");
    let drilled = rows(&stack, "SELECT customer_refs FROM ledger.access_audit WHERE route = '/privacy/invariants/t3_after_opt_out' ORDER BY seq DESC LIMIT 1").await?;
    // Bob's row after his opt-out, and Carol's after her erasure request (which revokes).
    assert_eq!(drilled[0]["customer_refs"], json!([names.subject("c-bob"), names.subject("c-carol")]), "in the order of the references");
    let bob = get("/privacy/customers/c-bob", &pia).await?.text().await?;
    assert!(bob.contains("Opted out"), "the customer's status: {bob}");

    // The ledger, searched and exported.
    let ledger = get("/privacy/consent?customer=c-alice", &pia).await?.text().await?;
    assert!(ledger.contains("c-alice") && !ledger.contains("c-bob"), "{ledger}");
    let csv = get("/privacy/export/consent_ledger?action=opt_out", &pia).await?.text().await?;
    assert_eq!(csv.lines().count(), 2, "a header and bob's opt-out: {csv}");
    assert!(csv.contains("opt out,c-bob"), "{csv}");
    let purges = get("/privacy/purges?kind=retention", &pia).await?.text().await?;
    assert!(purges.contains("t2_events") && purges.contains("collector retention schedule"), "the collector's scheduled run is on record");

    // Every privacy route that was used left its entry.
    let routes = rows(&stack, "SELECT DISTINCT route FROM ledger.access_audit WHERE user_name = 'privacy'").await?;
    let routes: Vec<&str> = routes.iter().map(|r| r["route"].as_str().unwrap()).collect();
    for route in [
        "/privacy",
        "/privacy/invariants",
        "/privacy/invariants/t3_erased",
        "/privacy/consent",
        "/privacy/purges",
        "/privacy/customers/{customer}",
        "/privacy/customers/{customer}/export",
        "/privacy/export/consent_ledger",
    ] {
        assert!(routes.contains(&route), "{route} not audited: {routes:?}");
    }

    // The notice, public.
    let notice = get("/notice", "").await?;
    assert_eq!(notice.status().as_u16(), 200);
    let notice = notice.text().await?;
    for item in ["Purpose", "What is collected", "Disclosure", "Safeguards", "Retention", "Enabled by default", "How to opt out", "If you decline", "Third-party vendors"] {
        assert!(notice.contains(item), "the notice covers {item}");
    }
    assert!(notice.contains(&format!("<code>{}</code>", stack.config.edge.session_cookie)));
    let md = get("/notice.md", "").await?;
    assert!(md.headers()["content-type"].to_str()?.starts_with("text/markdown"));

    // Chromium: every page renders, nothing runs that should not.
    let shots = layout.target.join("screenshots");
    std::fs::create_dir_all(&shots)?;
    let out = run_browser("privacy.mjs", &[&base, "privacy", &password_of(&demo, "privacy")?, shots.to_str().unwrap(), "c-alice"]).await?;
    assert_eq!(out["landed"], "/privacy", "a privacy officer lands on their own page: {out}");
    assert_eq!((&out["dialogs"], &out["csp_violations"]), (&json!([]), &json!(0)), "{out}");
    assert_eq!(out["views"]["/privacy"]["checks"].as_array().map(Vec::len), Some(11));
    assert!(out["views"]["/privacy"]["nav"].as_array().unwrap().iter().all(|h| h.as_str().unwrap().starts_with("/privacy")), "only pages they may open: {out}");
    assert!(out["views"]["customer"]["export_form"].as_bool().unwrap());
    for name in ["privacy", "consent", "purges", "audit", "customer", "notice"] {
        assert!(shots.join(format!("privacy-{name}-desktop.png")).exists(), "{name}");
    }

    // The chain: altered in place, then a row deleted, both found and placed.
    stack.clickhouse_query("ALTER TABLE ledger.access_audit UPDATE rows_returned = 999 WHERE seq = 2").await?;
    wait_for_count(&stack, "SELECT count() FROM system.mutations WHERE database = 'ledger' AND table = 'access_audit' AND is_done = 0", Duration::from_secs(60), |n| n == 0).await?;
    let page = get("/privacy/audit", &pia).await?.text().await?;
    assert!(page.contains("Access audit chain broken") && page.contains("entry 2 was altered after it was written"), "{page}");
    stack.clickhouse_query("ALTER TABLE ledger.access_audit DELETE WHERE seq = 5").await?;
    wait_for_count(&stack, "SELECT count() FROM system.mutations WHERE database = 'ledger' AND table = 'access_audit' AND is_done = 0", Duration::from_secs(60), |n| n == 0).await?;
    let page = get("/privacy/audit", &pia).await?.text().await?;
    assert!(page.contains("entries 5 to 5 are missing"), "{page}");
    stack.stop();
    Ok(())
}

/// The demo data `make up` writes (browsing history and orders with their
/// consent ledger, the same seed and schedule) keeps every invariant: the
/// checks raise no false alarm on realistic paths, titles, searches and
/// user agents, and the demo shows no violation it did not mean to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_data_keeps_every_invariant() -> anyhow::Result<()> {
    use devstack::history::{seed, Plan};
    use devstack::orders::{seed_orders, OrderPlan};
    let mut backend = devstack::Backend::start(&mintmark_e2e::state_dir("privacy_demo_invariants")?, devstack::Ports::free()?).await?;
    let config = backend.config.clone();
    let client = mintmark_schema::client(&config.clickhouse);
    let dbs = mintmark_schema::Databases::new(&config.clickhouse.database_prefix)?;
    let ids = collector::pseudonym::Pseudonyms::from_keys(&config.keys)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
    let history = seed(&client, &dbs, &ids, None, Plan { events: 60_000, days: 30, until: now - 3600, seed: 2026 }, |_| {}).await?;
    assert!(history.t3_events > 100, "the history has Tier 3 visits: {history:?}");
    seed_orders(&client, &dbs, &ids, OrderPlan { customers: 20_000, orders: 5_000, days: 365, until: now - 3600, seed: 2026 }, |_| {}).await?;
    let checker = dashboards::privacy::invariants::Checker { client: &client, dbs: &dbs, retention: &config.retention, now: now as u64 };
    let report = checker.report().await;
    let failing: Vec<_> = report.iter().filter(|o| o.violations > 0 || o.error.is_some()).collect();
    assert!(failing.is_empty(), "{failing:#?}");
    backend.stop();
    Ok(())
}
