//! The dashboards against the real stack: a user made with the real
//! `dashboards user add`, logged in over HTTP; every read lands in
//! `ledger.access_audit` before its data is shown, and when the audit
//! cannot be written the read is refused.

use std::io::Write;
use std::process::{Command, Stdio};

use devstack::Layout;
use mintmark_e2e::{rows, start_stack};
use reqwest::redirect::Policy;

const PW: &str = "correct horse battery";

fn add_user(config: &std::path::Path, name: &str, roles: &str) -> anyhow::Result<()> {
    let mut child = Command::new(Layout::discover()?.binary("dashboards"))
        .arg("--config")
        .arg(config)
        .args(["user", "add", name, "--roles", roles])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    child.stdin.take().unwrap().write_all(format!("{PW}\n").as_bytes())?;
    anyhow::ensure!(child.wait()?.success(), "user add failed");
    Ok(())
}

/// Logs in through the form; returns the session cookie.
async fn login(http: &reqwest::Client, base: &str, name: &str) -> anyhow::Result<String> {
    let form = http.get(format!("{base}/login")).send().await?;
    let pre = form.headers()["set-cookie"].to_str()?.split(';').next().unwrap().to_string();
    let token = pre.split_once('=').unwrap().1.to_string();
    let resp = http
        .post(format!("{base}/login"))
        .header("cookie", &pre)
        .form(&[("csrf", token.as_str()), ("name", name), ("password", PW), ("next", "/")])
        .send()
        .await?;
    anyhow::ensure!(resp.status().as_u16() == 303, "login: {}", resp.status());
    let cookie = resp.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find(|c| c.starts_with("mm_dash="));
    Ok(cookie.unwrap().split(';').next().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_read_is_audited_before_it_is_shown() -> anyhow::Result<()> {
    let stack = start_stack("dashboards_audit", None).await?;
    add_user(&stack.backend.config_path, "ana", "analyst")?;
    let http = reqwest::Client::builder().redirect(Policy::none()).build()?;
    let base = &stack.urls.dashboards;
    let ana = login(&http, base, "ana").await?;

    let page = http.get(format!("{base}/?period=7d&compare=previous")).header("cookie", &ana).send().await?;
    assert_eq!(page.status().as_u16(), 200);
    let body = page.text().await?;
    assert!(body.contains("Visits") && body.contains("Bounce rate"), "{body}");
    let audit = rows(&stack, "SELECT user_name, roles, route, params, rows_returned, customers_touched FROM ledger.access_audit").await?;
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert_eq!((audit[0]["user_name"].as_str(), audit[0]["roles"].as_str(), audit[0]["route"].as_str()), (Some("ana"), Some("analyst"), Some("/")));
    assert_eq!(audit[0]["params"], "period=7d&compare=previous", "what was asked for is on record");
    // 8 cards, 7 chart points in each of the two periods, 3 tier-mix rows;
    // the empty store has no page or referrer groups, only each one's
    // released "other" row.
    assert_eq!((audit[0]["rows_returned"].as_str(), audit[0]["customers_touched"].as_str()), (Some("27"), Some("0")), "what the page showed");
    // A request the parser refuses shows nothing and is a clear 400.
    let bad = http.get(format!("{base}/?period=forever")).header("cookie", &ana).send().await?;
    assert_eq!(bad.status().as_u16(), 400);
    assert!(bad.text().await?.contains("unknown period"));

    // No audit, no data.
    stack.clickhouse_query("RENAME TABLE ledger.access_audit TO ledger.access_audit_away").await?;
    let refused = http.get(format!("{base}/")).header("cookie", &ana).send().await?;
    assert_eq!(refused.status().as_u16(), 503);
    let body = refused.text().await?;
    assert!(body.contains("access audit cannot be written") && !body.contains("Bounce rate"), "{body}");
    stack.clickhouse_query("RENAME TABLE ledger.access_audit_away TO ledger.access_audit").await?;
    assert_eq!(http.get(format!("{base}/")).header("cookie", &ana).send().await?.status().as_u16(), 200);
    let n = stack.clickhouse_query("SELECT count() FROM ledger.access_audit").await?;
    assert_eq!(n.trim(), "2", "the refused read left no row, the next one did");
    stack.stop();
    Ok(())
}
