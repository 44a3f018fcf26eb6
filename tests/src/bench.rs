//! What the HTTP benches share: the dashboards binary started against a
//! bench's backend, timed requests, percentiles and the machine's name.

use std::time::{Duration, Instant};

use anyhow::Context;
use devstack::Layout;

/// The value at quantile `p` of sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// For the ingest benches: release binaries, and the collector's
/// production batching with room to spool the whole load.
pub fn release_collectors() {
    std::env::set_var("DEVSTACK_PROFILE", "release");
    std::env::set_var("MINTMARK_COLLECTOR__FLUSH_MS", "1000");
    std::env::set_var("MINTMARK_COLLECTOR__SPOOL_MAX_MB", "4096");
}

/// A process's peak resident memory so far (VmHWM), in MiB.
pub fn peak_rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// CPU seconds (user + system) a process has used so far.
pub fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// The CPU model, for the JSON.
pub fn machine() -> Option<String> {
    std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|c| c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
}

/// The dashboards (the build `DEVSTACK_PROFILE` names) on `config_path`,
/// once `/healthz` answers; killed when dropped.
pub struct Dashboards {
    child: std::process::Child,
    pub base: String,
}

impl Dashboards {
    pub async fn start(layout: &Layout, config_path: &std::path::Path, listen: std::net::SocketAddr, http: &reqwest::Client) -> anyhow::Result<Dashboards> {
        let child = std::process::Command::new(layout.binary("dashboards"))
            .arg("--config")
            .arg(config_path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("starting the dashboards")?;
        let d = Dashboards { child, base: format!("http://{listen}") };
        let deadline = Instant::now() + Duration::from_secs(30);
        while http.get(format!("{}/healthz", d.base)).send().await.is_err() {
            anyhow::ensure!(Instant::now() < deadline, "the dashboards did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(d)
    }
}

impl Drop for Dashboards {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One warm-up request, then `rounds` timed ones; every answer must be a
/// success. Returns the sorted timings (ms) and the warm-up's.
pub async fn time_requests(http: &reqwest::Client, url: &str, cookie: &str, rounds: usize) -> anyhow::Result<(Vec<f64>, f64)> {
    let mut ms = Vec::with_capacity(rounds);
    let mut first = 0.0;
    for round in 0..=rounds {
        let t = Instant::now();
        let resp = http.get(url).header("cookie", cookie).send().await?;
        let status = resp.status();
        let body = resp.bytes().await?;
        anyhow::ensure!(status.is_success(), "{url}: {status}: {}", String::from_utf8_lossy(&body[..body.len().min(300)]));
        let took = t.elapsed().as_secs_f64() * 1000.0;
        if round == 0 {
            first = took;
        } else {
            ms.push(took);
        }
    }
    ms.sort_by(f64::total_cmp);
    Ok((ms, first))
}

/// A bench's kept state, `target/bench-state/<name>` (wiped first with
/// `BENCH_FRESH=1`), and a backend (ClickHouse + collector) started on it.
pub async fn backend(layout: &Layout, name: &str) -> anyhow::Result<(std::path::PathBuf, devstack::Backend)> {
    let state = layout.root.join("target/bench-state").join(name);
    if std::env::var("BENCH_FRESH").is_ok_and(|v| v == "1") {
        let _ = std::fs::remove_dir_all(&state);
    }
    std::fs::create_dir_all(&state)?;
    let backend = devstack::Backend::start(&state, devstack::Ports::free()?).await?;
    Ok((state, backend))
}

/// A size from the environment (`BENCH_EVENTS=...`), or the default.
pub fn size(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Writes a bench's JSON to `target/bench/<name>.json` and returns the path.
pub fn write(name: &str, out: &serde_json::Value) -> anyhow::Result<std::path::PathBuf> {
    let dir = Layout::discover()?.root.join("target/bench");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(out)?)?;
    Ok(path)
}
