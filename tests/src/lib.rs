//! Helpers for the end-to-end tests: a stack per test, the browser driver,
//! and waiting on ClickHouse for rows (conditions with timeouts, never
//! fixed sleeps).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use devstack::{Layout, Ports, Stack, StackOptions};

pub mod beacon_site;
pub mod apidoc;
pub mod bench;
pub mod fake_collector;
pub mod dash;
pub mod leaks;
pub mod load;
pub mod redteam;
pub use beacon_site::BeaconSite;
pub use fake_collector::FakeCollector;

/// A fresh state directory `target/e2e/<name>` for one test.
pub fn state_dir(name: &str) -> anyhow::Result<PathBuf> {
    let dir = Layout::discover()?.target.join("e2e").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Starts a whole stack on free ports with its own state under
/// `target/e2e/<name>`, wiped first.
pub async fn start_stack(name: &str, client_ip: Option<IpAddr>) -> anyhow::Result<Stack> {
    Stack::start(StackOptions { state_dir: state_dir(name)?, ports: Ports::free()?, client_ip }).await
}

/// Runs a driver from `tests/browser/` with node (without blocking the
/// runtime, whose servers the browser talks to) and returns the JSON it printed.
pub async fn run_browser(script: &str, args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let layout = Layout::discover()?;
    let path: PathBuf = layout.root.join("tests/browser").join(script);
    let out = tokio::process::Command::new("node")
        .arg(&path)
        .args(args)
        .current_dir(&layout.root)
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("running node {}", path.display()))?;
    browser_output(script, out)
}

fn browser_output(script: &str, out: std::process::Output) -> anyhow::Result<serde_json::Value> {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let value: serde_json::Value = serde_json::from_str(&stdout).with_context(|| {
        format!("{script} printed no JSON (exit {}):\n{stdout}\n{}", out.status, String::from_utf8_lossy(&out.stderr))
    })?;
    if let Some(err) = value.get("error") {
        bail!("{script} failed: {}", err.as_str().unwrap_or_default());
    }
    Ok(value)
}

/// Polls `sql` (which must return one number) until `done(n)` or timeout.
pub async fn wait_for_count(stack: &Stack, sql: &str, timeout: Duration, done: impl Fn(u64) -> bool) -> anyhow::Result<u64> {
    let deadline = Instant::now() + timeout;
    loop {
        let body = stack.clickhouse_query(sql).await?;
        let n: u64 = body.trim().parse().with_context(|| format!("not a count: {body:?}"))?;
        if done(n) {
            return Ok(n);
        }
        if Instant::now() > deadline {
            bail!("after {timeout:?}, {sql} is still {n}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Rows of `sql` as JSON objects (`FORMAT JSONEachRow` is appended).
pub async fn rows(stack: &Stack, sql: &str) -> anyhow::Result<Vec<serde_json::Value>> {
    let body = stack.clickhouse_query(&format!("{sql} FORMAT JSONEachRow")).await?;
    body.lines().map(|l| serde_json::from_str(l).map_err(Into::into)).collect()
}

/// Polls `probe` every 50 ms until `done` accepts what it returns, for at
/// most `timeout`; returns that value. The error names `what` and the last
/// value seen. A probe error ends the wait (a probe that expects errors
/// while a server is away maps them to a value itself).
pub async fn eventually<T: std::fmt::Debug>(what: &str, timeout: Duration, probe: impl AsyncFn() -> anyhow::Result<T>, done: impl Fn(&T) -> bool) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        let got = probe().await?;
        if done(&got) {
            return Ok(got);
        }
        if Instant::now() > deadline {
            bail!("{what}: still {got:?} after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `cond` holds, polling every 20 ms.
pub async fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    while !cond() {
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// The edge's Prometheus text (metrics path beside the beacon path).
pub async fn edge_metrics(edge_url: &str, config: &mintmark_config::Config) -> anyhow::Result<String> {
    let dir = config.edge.beacon_path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
    let resp = reqwest::Client::new()
        .get(format!("{edge_url}{dir}/metrics"))
        .bearer_auth(&config.keys.edge_metrics_token)
        .send()
        .await?;
    anyhow::ensure!(resp.status().as_u16() == 200, "edge metrics answered {}", resp.status());
    Ok(resp.text().await?)
}

/// The value of one series (`name{labels}` exactly) in Prometheus text; 0 if absent.
pub fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).filter(|rest| rest.starts_with(' ')).and_then(|rest| rest.trim().parse::<f64>().ok()))
        .map(|v| v as u64)
        .unwrap_or(0)
}

/// Polls the edge's metrics until `series` reaches `at_least`; returns them.
pub async fn wait_for_edge_metric(edge_url: &str, config: &mintmark_config::Config, series: &str, at_least: u64, timeout: Duration) -> anyhow::Result<String> {
    eventually(series, timeout, async || edge_metrics(edge_url, config).await, |m| metric(m, series) >= at_least).await
}

/// Gives rows a test wrote straight into ClickHouse the subjects a
/// collector would have written with them (what the collector's backfill
/// does for rows from before subjects).
pub async fn fill_subjects(config: &mintmark_config::Config) -> anyhow::Result<()> {
    let ids = collector::pseudonym::Pseudonyms::from_keys(&config.keys)?;
    let dbs = mintmark_schema::Databases::new(&config.clickhouse.database_prefix)?;
    let layout = mintmark_schema::Layout::new(&config.clickhouse.cluster)?;
    collector::purge::backfill::run(&mintmark_schema::client(&config.clickhouse), &dbs, &layout, &ids).await?;
    Ok(())
}

/// What a browser's cookie jar does with a response: keeps each
/// `Set-Cookie` (`name` → `value`) and forgets one set with `Max-Age=0`.
pub fn keep_cookies(jar: &mut std::collections::BTreeMap<String, String>, resp: &reqwest::Response) -> anyhow::Result<()> {
    for set in resp.headers().get_all("set-cookie") {
        let set = set.to_str()?;
        let (name, value) = set.split(';').next().unwrap_or_default().split_once('=').ok_or_else(|| anyhow::anyhow!("cookie without =: {set}"))?;
        if set.contains("Max-Age=0") {
            jar.remove(name);
        } else {
            jar.insert(name.to_string(), value.to_string());
        }
    }
    Ok(())
}

/// Posts a beacon batch to the store's edge path as a browser at `origin`
/// would, with `jar`'s cookies, and keeps what it sets; the status.
pub async fn send_beacon(http: &reqwest::Client, origin: &str, user_agent: &str, jar: &mut std::collections::BTreeMap<String, String>, body: &serde_json::Value) -> anyhow::Result<u16> {
    let cookie: Vec<String> = jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let resp = http
        .post(format!("{origin}/store/_mm/collect"))
        .header("origin", origin)
        .header("user-agent", user_agent)
        .header("cookie", cookie.join("; "))
        .body(body.to_string())
        .send()
        .await?;
    keep_cookies(jar, &resp)?;
    Ok(resp.status().as_u16())
}
