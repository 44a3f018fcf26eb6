//! The dashboards as an analyst meets them, on the whole running system:
//! synthetic history through the collector's row transform, plus hostile
//! text recorded by the real pipeline (beacon batches through the edge in
//! workerd) and, two days back, by enough visits through the collector's
//! transform that the release layer shows it (a day is released once it is
//! over, a group once enough visits had it), then headless Chromium logging
//! in, opening every view, filtering, exporting and taking screenshots; and
//! the HTTP surface attacked directly (SQL in every parameter, CSRF, API
//! tokens).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use devstack::history::{self, Plan};
use devstack::{logins, Layout, Stack};
use mintmark_e2e::dash::{login, password_of};
use mintmark_e2e::{run_browser, start_stack, wait_for_count};
use serde_json::{json, Value};

const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
/// A search term that is markup, and a formula for a spreadsheet.
const HOSTILE_SEARCH: &str = "=HYPERLINK(\"http://evil.example\")<img src=x onerror=alert(1)>";
const HOSTILE_TITLE: &str = "</title><script>alert('title')</script>";

fn now_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()
}

/// Visitors enough to pass the release layer's threshold: a hostile search,
/// page and title, two days back, through the collector's row transform.
const HOSTILE_VISITS: u64 = 150;

fn hostile_history(origin: &str, day_start_ms: u64) -> Vec<history::Placed> {
    use mintmark_protocol::wire::{BeaconEvent, EdgeBatch, EventKind, PageContext, Tier};
    (0..HOSTILE_VISITS)
        .map(|n| {
            let ts = day_start_ms + 12 * 3_600_000 + n * 1000;
            let mut page = BeaconEvent::new(&format!("{:08x}{:024x}", 0xbad1, n * 2), EventKind::Pageview, ts, &format!("{origin}/store/<script>alert('path')</script>"));
            page.title = Some(HOSTILE_TITLE.into());
            page.referrer = Some("https://evil.example/\"><script>alert('ref')</script>".into());
            let mut search = BeaconEvent::new(&format!("{:08x}{:024x}", 0xbad1, n * 2 + 1), EventKind::Search, ts + 500, &format!("{origin}/store/search"));
            search.target = Some(HOSTILE_SEARCH.into());
            let context = PageContext { screen_width: 1280, language: "en-US".into(), ..Default::default() };
            let batch = EdgeBatch {
                v: 1,
                received_at: ts + 1000,
                tier: Tier::Tier2,
                session_id: Some(format!("{:032x}", 0xbad1_0000 + n)),
                identity: None,
                sealed: None,
                ip: "198.51.100.0".into(),
                user_agent: CHROME.into(),
                context,
                events: vec![page, search],
            };
            (batch, "US", "Virginia", "Comcast Cable")
        })
        .collect()
}

/// One visitor (its own session) records a hostile search, page and title
/// through the edge.
async fn hostile_visit(stack: &Stack, n: u32) -> anyhow::Result<()> {
    let origin = stack.urls.store.trim_end_matches("/store/").to_string();
    let events = json!([
        {"id": format!("{:08x}{:024x}", 0xbad, n * 2), "type": "pageview", "ts": now_ms(),
         "url": format!("{origin}/store/<script>alert('path')</script>"), "title": HOSTILE_TITLE,
         "referrer": "https://evil.example/\"><script>alert('ref')</script>"},
        {"id": format!("{:08x}{:024x}", 0xbad, n * 2 + 1), "type": "search", "ts": now_ms(),
         "url": format!("{origin}/store/search"), "target": HOSTILE_SEARCH},
    ]);
    let body = json!({"v": 1, "cookies": true, "context": {"language": "en-US", "screen_width": 1280}, "events": events});
    let resp = reqwest::Client::new()
        .post(format!("{origin}/store/_mm/collect"))
        .header("origin", &origin)
        .header("user-agent", CHROME)
        .body(body.to_string())
        .send()
        .await?;
    anyhow::ensure!(resp.status().as_u16() == 204, "edge answered {}", resp.status());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analysts_use_every_view_in_chromium_and_hostile_input_stays_inert() -> anyhow::Result<()> {
    let stack = start_stack("dashboards_browser", None).await?;
    let layout = Layout::discover()?;
    let config = &stack.config;
    let client = mintmark_schema::client(&config.clickhouse);
    let dbs = mintmark_schema::Databases::new(&config.clickhouse.database_prefix)?;
    let ids = collector::pseudonym::Pseudonyms::from_keys(&config.keys)?;
    let now = (now_ms() / 1000) as i64;
    let seeded = history::seed(&client, &dbs, &ids, None, Plan { events: 60_000, days: 30, until: now - 600, seed: 3 }, |_| {}).await?;
    // Through the real pipeline (today: in the raw data, not yet released)...
    let visitors = 6u32;
    for n in 0..visitors {
        hostile_visit(&stack, n).await?;
    }
    wait_for_count(&stack, "SELECT count() FROM t2.events WHERE kind = 'search' AND target LIKE '=HYPERLINK%'", Duration::from_secs(30), |n| n >= visitors as u64).await?;
    // ...and two days back, by enough visitors that the hostile values are shown.
    let origin = stack.urls.store.trim_end_matches("/store/").to_string();
    let two_days_back = (dashboards::query::Day::from_unix(now).0 - 2) as u64 * 86_400_000;
    history::write_visits(&client, &dbs, &ids, hostile_history(&origin, two_days_back)).await?;
    // The service rebuilds the rollup every 30 s; here, at once.
    dashboards::rollup::run(&client, &dbs.t2).await?;
    let demo = logins::ensure(&layout, &stack.state_dir, &stack.backend.config_path)?;
    let analyst = password_of(&demo, "analyst")?;
    let base = stack.urls.dashboards.clone();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let cookie = login(&http, &base, "analyst", &analyst).await?;

    // Through the HTTP surface first: hostile parameters are 400s with reasons.
    for bad in [
        "period=30d'%20OR%201=1--",
        "period=custom&from=2026-01-01'&to=2026-01-02",
        "compare=previous;DROP%20TABLE%20t2.events",
        "f=country:is:x&f=path:is:/",
        "f=page:like:%25",
        "sort=visits;DELETE",
        "sort=name:sideways",
        "metric=sum(value)",
        "interval=toStartOfMinute(ts)",
        "fd=ts&fo=is&fv=1",
    ] {
        let resp = http.get(format!("{base}/content?{bad}")).header("cookie", &cookie).send().await?;
        assert_eq!(resp.status().as_u16(), 400, "{bad}");
        let body = resp.text().await?;
        assert!(body.contains("Bad request") && !body.contains("DB::Exception"), "{bad}: {body}");
        let api = http.get(format!("{base}/api/v1/pages?{bad}")).header("cookie", &cookie).send().await?;
        assert_eq!(api.status().as_u16(), 400, "api {bad}");
        assert!(api.json::<Value>().await?["error"].is_string());
    }
    // Filter values are values: an injection in one matches nothing and breaks nothing.
    let quoted = http
        .get(format!("{base}/api/v1/top?f=page:is:%27%20OR%201%3D1%20--&period=30d"))
        .header("cookie", &cookie)
        .send()
        .await?
        .json::<Value>()
        .await?;
    // It matches nothing: a released 0, "< N" or noise within a few ±.
    let (value, error) = (quoted["rows"][0]["value"].as_f64().unwrap_or(0.0), quoted["rows"][0]["value_error"].as_f64().unwrap());
    assert!(value <= 4.0 * error, "{quoted}");
    let events_after: u64 = stack.clickhouse_query("SELECT count() FROM t2.events").await?.trim().parse()?;
    assert!(events_after >= seeded.t2_events, "nothing was dropped or deleted");

    // The JSON API with a token, as a script would use it.
    let page = http.get(format!("{base}/account")).header("cookie", &cookie).send().await?.text().await?;
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    let made = http.post(format!("{base}/account/tokens")).header("cookie", &cookie).form(&[("csrf", csrf.as_str()), ("label", "bench")]).send().await?.text().await?;
    let token = made.split("id=\"new-token\">").nth(1).unwrap().split('<').next().unwrap().to_string();
    let top = http.get(format!("{base}/api/v1/top?period=30d")).bearer_auth(&token).send().await?;
    assert_eq!(top.status().as_u16(), 200);
    let top: Value = top.json().await?;
    assert_eq!(top["rows"][0]["metric"], "visits");
    assert!(top["rows"][0]["value"].as_u64().unwrap() > 1000, "{top}");
    let bad_token = http.get(format!("{base}/api/v1/top")).bearer_auth("mmt_0000").header("cookie", &cookie).send().await?;
    assert_eq!(bad_token.status().as_u16(), 401, "a bad token is refused even with a good cookie");
    let no_csrf = http.post(format!("{base}/account/tokens")).header("cookie", &cookie).form(&[("label", "x")]).send().await?;
    assert_eq!(no_csrf.status().as_u16(), 403, "no CSRF token, no new token");
    let token_form = http.post(format!("{base}/account/tokens")).bearer_auth(&token).form(&[("label", "x")]).send().await?;
    assert_eq!(token_form.status().as_u16(), 303, "a token is no session for forms: off to the login");
    // Every read above is in the access audit, with the token user's name.
    let audited: u64 = stack
        .clickhouse_query("SELECT count() FROM ledger.access_audit WHERE user_name = 'analyst' AND route = '/api/v1/top'")
        .await?
        .trim()
        .parse()?;
    assert!(audited >= 2, "{audited}");

    // CSV from the server: formulas neutralised, markup as text.
    let csv = http.get(format!("{base}/export/site_search?period=30d")).header("cookie", &cookie).send().await?;
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await?;
    assert!(csv.contains("\"'=HYPERLINK(\"\"http://evil.example\"\")<img src=x onerror=alert(1)>\""), "{csv}");
    // The HTML escapes it.
    let html = http.get(format!("{base}/report/site_search?period=30d")).header("cookie", &cookie).send().await?.text().await?;
    let cell = html.split("HYPERLINK").nth(2).unwrap_or("").chars().take(120).collect::<String>();
    assert!(!html.contains("<img src=x onerror") && (html.contains("&lt;img src=x onerror=alert(1)&gt;") || html.contains("&#60;img src=x onerror=alert(1)&#62;")), "escaped in HTML: {cell}");

    // Chromium.
    let shots = layout.target.join("screenshots");
    std::fs::create_dir_all(&shots)?;
    let out = run_browser("dashboards.mjs", &[&base, "analyst", &analyst, shots.to_str().unwrap(), HOSTILE_SEARCH]).await?;
    assert_eq!(out["dialogs"], json!([]), "no script from recorded data ran");
    assert_eq!(out["csp_violations"], 0, "{:?}", out["console_errors"]);
    let views = out["views"].as_object().unwrap();
    for (view, v) in views {
        assert_eq!(v["status_error"], false, "{view}: {v}");
        assert_eq!(v["scripts_inline"], 0, "{view}");
        assert_eq!(v["body_has_raw_hostile"], false, "{view}: the raw markup is never in the page");
    }
    let overview = &views["/"];
    assert_eq!(overview["chart"], true, "{overview}");
    assert_eq!(overview["cards"], 8);
    for view in ["/", "/content", "/acquisition", "/audience", "/technology", "/commerce"] {
        let tables = views[view]["tables"].as_array().unwrap();
        assert!(!tables.is_empty(), "{view}");
        let with_rows = tables.iter().filter(|t| t["rows"].as_u64().unwrap() > 0).count();
        assert!(with_rows * 2 >= tables.len(), "{view}: most tables have rows: {tables:?}");
    }
    let commerce: Vec<&str> = views["/commerce"]["tables"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(commerce, ["funnel", "products", "sales", "bought_together"]);
    assert!(views["/realtime"]["tables"].as_array().unwrap()[0]["rows"].as_u64().unwrap() >= 1, "realtime loaded");
    assert_eq!(out["hostile_shown_as_text"], true);
    assert!(out["filtered_url"].as_str().unwrap().contains("f=country%3Ais%3A"), "{}", out["filtered_url"]);
    assert_eq!((out["chips"].as_u64(), out["chips_after_bar"].as_u64(), out["chips_after_clear"].as_u64()), (Some(1), Some(2), Some(0)));
    assert!(out["filtered"]["tables"].as_array().unwrap().iter().any(|t| t["rows"].as_u64().unwrap() > 0));
    assert!(out["csv_name"].as_str().unwrap().starts_with("mintmark-site_search-"));
    assert!(out["csv"].as_str().unwrap().contains("'=HYPERLINK"), "the browser's download is neutralised too");
    assert!(out["series_csv_lines"].as_u64().unwrap() >= 31, "a header and 30+ days");
    assert_eq!(out["phone_overflow"], false, "nothing wider than a phone");
    for name in ["overview", "content", "acquisition", "audience", "technology", "commerce", "realtime", "filtered"] {
        assert!(shots.join(format!("dashboards-{name}-desktop.png")).exists(), "{name}");
    }
    stack.stop();
    Ok(())
}
