//! Scheduled reports and alerts on the whole running system, delivered to
//! a real SMTP server the test starts on loopback (aiosmtpd, writing a
//! maildir) and to a webhook receiver of its own: an analyst subscribes on
//! their account page and the week's report arrives with the dashboards'
//! own numbers; a tracking-outage alert fires once when the store's
//! traffic through the edge stops, and a recovery notice follows when it
//! resumes, each by e-mail and by a webhook whose signature verifies.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use devstack::history::{self, Plan};
use devstack::{logins, Layout, Stack};
use mintmark_e2e::dash::{login, password_of};
use mintmark_e2e::{eventually, start_stack};
use serde_json::{json, Value};

fn now_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()
}

/// The messages aiosmtpd wrote, oldest first, each as `(subject, text)`.
fn mails(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("new")).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    files.sort_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
    files
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter_map(|raw| mail_parser::MessageParser::default().parse(&raw).map(|m| (m.subject().unwrap_or("").to_string(), m.body_text(0).map(|t| t.to_string()).unwrap_or_default())))
        .collect()
}

/// One visitor's pageview through the edge, as the beacon sends it.
async fn visit(stack: &Stack, n: u64) -> anyhow::Result<()> {
    let origin = stack.urls.store.trim_end_matches("/store/").to_string();
    let events = json!([{"id": format!("{:08x}{:024x}", 0xa1e7, n), "type": "pageview", "ts": now_ms(), "url": format!("{origin}/store/")}]);
    let body = json!({"v": 1, "cookies": true, "context": {"language": "en-US", "screen_width": 1280}, "events": events});
    let resp = reqwest::Client::new()
        .post(format!("{origin}/store/_mm/collect"))
        .header("origin", &origin)
        .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36")
        .body(body.to_string())
        .send()
        .await?;
    anyhow::ensure!(resp.status().as_u16() == 204, "edge answered {}", resp.status());
    Ok(())
}

/// The SMTP server, stopped however the test ends.
struct Smtp(std::process::Child);

impl Drop for Smtp {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

type Hooks = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

/// A webhook receiver on a free loopback port: every POST's timestamp,
/// signature and body.
async fn receiver() -> anyhow::Result<(String, Hooks, tokio::task::JoinHandle<()>)> {
    let hooks: Hooks = Arc::default();
    let kept = hooks.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
            let kept = kept.clone();
            async move {
                let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                kept.lock().unwrap().push((h("x-mintmark-timestamp"), h("x-mintmark-signature"), body.to_vec()));
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.ok();
    });
    Ok((url, hooks, task))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_arrive_and_an_outage_alert_fires_once_then_recovers() -> anyhow::Result<()> {
    let layout = Layout::discover()?;
    let maildir = mintmark_e2e::state_dir("reports_alerts_mail")?;
    let smtp_port = devstack::free_port()?;
    // A maildir aiosmtpd can write into (it makes none of its own folders).
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(maildir.join(sub))?;
    }
    let log = std::fs::File::create(maildir.with_extension("log"))?;
    let smtp = Smtp(
        std::process::Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{smtp_port}"), "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?,
    );
    // The stack's dashboards send through it, and look often.
    for (k, v) in [("MINTMARK_SMTP__HOST", "127.0.0.1".to_string()), ("MINTMARK_SMTP__PORT", smtp_port.to_string()), ("MINTMARK_SMTP__SECURITY", "none".into()),
        ("MINTMARK_SMTP__FROM", "mintmark <reports@store.example>".into()), ("MINTMARK_NOTIFY__REPORTS_EVERY_SECS", "1".into()), ("MINTMARK_NOTIFY__ALERTS_EVERY_SECS", "2".into())]
    {
        // SAFETY: set before any thread of this test reads the environment;
        // the stack's processes inherit it.
        std::env::set_var(k, v);
    }
    let stack = start_stack("reports_alerts", None).await?;
    let config = &stack.config;
    let client = mintmark_schema::client(&config.clickhouse);
    let dbs = mintmark_schema::Databases::new(&config.clickhouse.database_prefix)?;
    let ids = collector::pseudonym::Pseudonyms::from_keys(&config.keys)?;
    let now = (now_ms() / 1000) as i64;
    // Visits start before `until` and run on for up to an hour or so: well
    // before now, so that the history's last arrival is in the past.
    history::seed(&client, &dbs, &ids, None, Plan { events: 60_000, days: 30, until: now - 4 * 3600, seed: 11 }, |_| {}).await?;
    let last: i64 = stack.clickhouse_query("SELECT toUInt32(max(received_at)) FROM t2.events").await?.trim().parse()?;
    assert!(last < now, "the seeded history ends in the past ({last} against {now})");
    dashboards::rollup::run(&client, &dbs.t2).await?;
    let demo = logins::ensure(&layout, &stack.state_dir, &stack.backend.config_path)?;
    logins::ensure_demo_goals(&layout, &stack.backend.config_path)?;
    let base = stack.urls.dashboards.clone();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let cookie = login(&http, &base, "analyst", &password_of(&demo, "analyst")?).await?;
    let page = http.get(format!("{base}/account")).header("cookie", &cookie).send().await?.text().await?;
    let csrf = page.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();

    // The weekly report: subscribe, and it comes with last week's numbers.
    let bad = http.post(format!("{base}/account/reports")).header("cookie", &cookie).form(&[("csrf", csrf.as_str()), ("email", "not an address"), ("frequency", "weekly")]).send().await?;
    assert!(bad.text().await?.contains("is not an e-mail address"));
    let saved = http.post(format!("{base}/account/reports")).header("cookie", &cookie).form(&[("csrf", csrf.as_str()), ("email", "ana@store.example"), ("frequency", "weekly")]).send().await?;
    assert_eq!(saved.status().as_u16(), 303);
    let report = eventually("the weekly report", Duration::from_secs(90), async || Ok(mails(&maildir)), |m| !m.is_empty()).await?.remove(0);
    let week = dashboards::notify::reports::Frequency::Weekly.last_period(dashboards::query::Day::from_unix(now));
    let (from, to) = (week.from.to_string(), dashboards::query::Day(week.until.0 - 1).to_string());
    assert_eq!(report.0, format!("mintmark: Weekly report, {from} – {to}"), "{report:?}");
    // The same numbers the API gives for that week: the same released cells.
    let read = http.post(format!("{base}/account/tokens")).header("cookie", &cookie).form(&[("csrf", csrf.as_str()), ("label", "check"), ("scope", "write")]).send().await?.text().await?;
    let token = read.split("id=\"new-token\">").nth(1).unwrap().split('<').next().unwrap().to_string();
    let top: Value = http.get(format!("{base}/api/v1/top?period=custom&from={from}&to={to}&compare=previous")).bearer_auth(&token).send().await?.json().await?;
    let visits = top["rows"][0]["value"].as_f64().unwrap();
    let line = report.1.lines().find(|l| l.trim_start().starts_with("Visits:")).unwrap_or_default().to_string();
    let in_mail: f64 = line.split(':').nth(1).unwrap().split('(').next().unwrap().trim().replace(',', "").parse()?;
    assert_eq!(in_mail, visits, "{line} against {top}");
    assert!(line.contains('%'), "with its change: {line}");
    for section in ["Top sources", "Top pages", "Goals", "Newsletter sign-up"] {
        assert!(report.1.contains(section), "{section} in {}", report.1);
    }
    // Once per period: no second report for the same week.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(mails(&maildir).len(), 1);
    let audited = stack.clickhouse_query("SELECT count() FROM ledger.access_audit WHERE route = '/reports/weekly' AND user_name = 'analyst'").await?;
    assert_eq!(audited.trim(), "1", "the report's read is audited as the subscriber's");

    // Traffic through the edge, then an outage alert while it flows.
    let mut n = 0u64;
    for _ in 0..3 {
        visit(&stack, n).await?;
        n += 1;
    }
    eventually("live events arrive", Duration::from_secs(30), async || Ok(stack.clickhouse_query("SELECT count() FROM t2.events WHERE received_at > now() - 60").await?), |c| c.trim() != "0").await?;
    let (hook, hooks, hook_task) = receiver().await?;
    let rule: Value = http
        .post(format!("{base}/api/v1/alerts"))
        .bearer_auth(&token)
        .json(&json!({"name": "Tracking outage", "kind": "tracking_outage", "threshold": 1, "email": "ops@store.example", "webhook": hook}))
        .send()
        .await?
        .json()
        .await?;
    let secret = rule["secret"].as_str().expect("the author sees the secret").to_string();
    // Keep the traffic up for a while: nothing fires.
    for _ in 0..4 {
        visit(&stack, n).await?;
        n += 1;
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    assert_eq!(mails(&maildir).len(), 1, "no alert while events arrive");
    // Stop the traffic: the alert fires, once.
    let fired = eventually("the outage alert", Duration::from_secs(150), async || Ok(mails(&maildir)), |m| m.len() >= 2).await?;
    assert!(fired[1].0.contains("FIRING: Tracking outage"), "{:?}", fired[1]);
    assert!(fired[1].1.contains("No event received for"), "{}", fired[1].1);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(mails(&maildir).len(), 2, "at most once per incident");
    // Resume: a recovery notice follows.
    visit(&stack, n).await?;
    let recovered = eventually("the recovery notice", Duration::from_secs(60), async || Ok(mails(&maildir)), |m| m.len() >= 3).await?;
    assert!(recovered[2].0.contains("recovered: Tracking outage"), "{:?}", recovered[2]);
    // The webhook got both, each signed with the rule's secret.
    // (The e-mail goes first, then the webhook: wait for its delivery too.)
    let got = eventually("both webhook deliveries", Duration::from_secs(30), async || Ok(hooks.lock().unwrap().clone()), |h| h.len() >= 2).await?;
    assert_eq!(got.len(), 2, "{got:?}");
    for ((ts, sig, body), state) in got.iter().zip(["firing", "recovered"]) {
        assert_eq!(sig, &dashboards::notify::alerts::signature(&secret, ts.parse()?, body), "the signature verifies");
        assert_ne!(sig, &dashboards::notify::alerts::signature("another secret", ts.parse()?, body));
        let notice: Value = serde_json::from_slice(body)?;
        assert_eq!((notice["alert"].as_str(), notice["state"].as_str()), (Some("Tracking outage"), Some(state)), "{notice}");
    }
    // On the page and in /metrics.
    let alerts = http.get(format!("{base}/alerts")).header("cookie", &cookie).send().await?.text().await?;
    assert!(alerts.contains("No event received for") && alerts.contains("recovered"), "the page lists what fired");
    // Counted once the delivery returns, a moment after the receiver has it.
    let metrics = eventually(
        "the recovery counted",
        Duration::from_secs(30),
        async || Ok(http.get(format!("{base}/metrics")).bearer_auth(&config.keys.dashboards_metrics_token).send().await?.text().await?),
        |m| m.contains("mintmark_alerts_recovered_total 1"),
    )
    .await?;
    assert!(metrics.contains("mintmark_alerts_fired_total 1"), "{metrics}");
    assert!(metrics.contains("mintmark_alert_firing{alert=\"Tracking outage\"} 0"), "{metrics}");
    hook_task.abort();
    stack.stop();
    drop(smtp);
    Ok(())
}
