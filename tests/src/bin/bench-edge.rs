//! `make bench-edge`: CPU time per request of the edge worker inside
//! workerd, handling a 10-event beacon batch, plus the bundle size.
//!
//! CPU is read from the kernel, not from a wall clock: the sum of
//! `/proc/<workerd>/task/*/schedstat` (nanoseconds on CPU, all threads)
//! before and after each request, where "after" is once the fake collector
//! has received the forwarded batch, so the `waitUntil` signing and
//! subrequest are included. Requests are sequential over keep-alive on
//! loopback. Writes `target/bench/edge.json`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use devstack::{free_port, start_edge, Layout};
use mintmark_config::Config;
use mintmark_e2e::{state_dir, FakeCollector};
use mintmark_protocol::consent::{self, ConsentClaims, OptInSource};

const REQUESTS: usize = 1000;
const WARMUP: usize = 50;
const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";

fn cpu_ns(pid: u32) -> anyhow::Result<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let stat = std::fs::read_to_string(task?.path().join("schedstat")).unwrap_or_default();
        total += stat.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    }
    Ok(total)
}

fn batch(now_ms: u64) -> String {
    let kinds = ["pageview", "product_view", "add_to_cart", "product_view", "search", "download", "product_view", "remove_from_cart", "checkout_start", "custom"];
    let events: Vec<String> = kinds
        .iter()
        .enumerate()
        .map(|(i, k)| {
            format!(
                r#"{{"id":"{:032x}","type":"{k}","ts":{now_ms},"url":"https://shop.example.gov/store/products/item-{i}?utm_source=news","referrer":"https://shop.example.gov/store/","title":"Item {i} · Demo Store","props":[["sku","SKU-{i:04}"],["price",12.5],["quantity",2]]}}"#,
                now_ms as u128 * 100 + i as u128
            )
        })
        .collect();
    format!(
        r#"{{"v":1,"cookies":true,"context":{{"screen_width":1920,"screen_height":1080,"color_depth":24,"language":"en-US","time_zone":"America/New_York","connection_type":"4g","downlink_mbps":10.0}},"events":[{}]}}"#,
        events.join(",")
    )
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn gzip_bytes(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let out = Command::new("gzip").arg("-9").arg("-n").arg("-c").arg(&p).output()?;
                total += out.stdout.len() as u64;
            }
        }
    }
    Ok(total)
}

/// The runtime's floor: a plain JS worker that reads the body, answers 204
/// and forwards it in waitUntil, measured the same way.
async fn start_baseline(collector_url: &str, dir: &Path) -> anyhow::Result<(devstack::Supervised, String)> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("baseline.mjs"),
        format!(
            "export default {{ async fetch(req, env, ctx) {{ const body = await req.text(); \
             ctx.waitUntil(fetch({collector_url:?}, {{ method: 'POST', body }})); return new Response(null, {{ status: 204 }}); }} }};\n"
        ),
    )?;
    let port = free_port()?;
    std::fs::write(
        dir.join("baseline.capnp"),
        format!(
            r#"using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "w", worker = (modules = [(name = "baseline.mjs", esModule = embed "baseline.mjs")], compatibilityDate = "2025-09-01", globalOutbound = "loopback")),
               (name = "loopback", network = (allow = ["local", "private"])) ],
  sockets = [ (name = "http", address = "127.0.0.1:{port}", http = (), service = "w") ],
);
"#
        ),
    )?;
    let mut child = devstack::Supervised::spawn(
        "workerd-baseline",
        Command::new(Layout::discover()?.workerd()).arg("serve").arg(dir.join("baseline.capnp")),
        dir,
    )?;
    let url = format!("http://127.0.0.1:{port}");
    devstack::wait_for_http(&url, Duration::from_secs(30), Some(&mut child)).await?;
    Ok((child, url))
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_default()
}

struct Run {
    cpu_ms: Vec<f64>,
    wall_ms: Vec<f64>,
}

async fn measure(edge_url: &str, pid: u32, collector: &FakeCollector, cookie: &str, n: usize) -> anyhow::Result<Run> {
    let http = reqwest::Client::new();
    let mut run = Run { cpu_ms: Vec::with_capacity(n), wall_ms: Vec::with_capacity(n) };
    for _ in 0..n {
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64;
        let body = batch(now_ms);
        let expected = collector.received().len() + 1;
        let cpu0 = cpu_ns(pid)?;
        let t0 = Instant::now();
        let resp = http
            .post(format!("{edge_url}/store/_mm/collect"))
            .header("origin", "https://shop.example.gov")
            .header("user-agent", CHROME)
            .header("cf-connecting-ip", "203.0.113.77")
            .header("cookie", cookie)
            .body(body)
            .send()
            .await?;
        anyhow::ensure!(resp.status().as_u16() == 204, "edge answered {}", resp.status());
        run.wall_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        collector.wait_for(expected, Duration::from_secs(10)).await?;
        run.cpu_ms.push((cpu_ns(pid)? - cpu0) as f64 / 1e6);
    }
    run.cpu_ms.sort_by(f64::total_cmp);
    run.wall_ms.sort_by(f64::total_cmp);
    Ok(run)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let layout = Layout::discover()?;
    let collector = FakeCollector::start().await?;
    let consent_secret = "c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2";
    let config = Config::from_toml(&format!(
        r#"[store]
origins = ["https://shop.example.gov"]
path_prefixes = ["/store"]
[edge]
collector_url = "{}"
rate_limit_per_minute = 1000000
[keys]
edge_signing = [{{ id = "e1", secret = "e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1" }}]
consent = [{{ id = "c2", secret = "{consent_secret}" }}]
"#,
        collector.url
    ))?;
    let state = state_dir("bench_edge")?;
    let edge = start_edge(&state, &config, free_port()?).await?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let tier2 = format!("mm_sid=5e55105e55105e55105e55105e55105e.{now}");
    let claims = ConsentClaims { customer_ref: "cust-bench".into(), source: OptInSource::Purchase, policy_version: 1, issued_at: now - 60, expires_at: now + 86_400 };
    let tier3 = format!("{tier2}; mm_consent={}", consent::mint(&config.consent_keys()?, &claims)?);

    eprintln!("warming up ({WARMUP} requests) ...");
    measure(&edge.url, edge.pid(), &collector, &tier2, WARMUP).await?;
    eprintln!("measuring {REQUESTS} Tier 2 requests ...");
    let t2 = measure(&edge.url, edge.pid(), &collector, &tier2, REQUESTS).await?;
    eprintln!("measuring {REQUESTS} Tier 3 requests (token verify + revocation lookup) ...");
    let t3 = measure(&edge.url, edge.pid(), &collector, &tier3, REQUESTS).await?;

    eprintln!("measuring {REQUESTS} requests to a baseline JS worker (runtime floor) ...");
    let (baseline_child, baseline_url) = start_baseline(&collector.url, &state.join("baseline")).await?;
    measure(&baseline_url, baseline_child.pid(), &collector, &tier2, WARMUP).await?;
    let base = measure(&baseline_url, baseline_child.pid(), &collector, &tier2, REQUESTS).await?;
    drop(baseline_child);

    let dist = layout.edge_dist();
    let wasm_gzip = Command::new("gzip").args(["-9", "-n", "-c"]).arg(dist.join("edge_bg.wasm")).output()?.stdout.len();
    let json = serde_json::json!({
        "cpu_ms_p50": percentile(&t2.cpu_ms, 0.5),
        "cpu_ms_p99": percentile(&t2.cpu_ms, 0.99),
        "cpu_ms_mean": t2.cpu_ms.iter().sum::<f64>() / t2.cpu_ms.len() as f64,
        "tier3_cpu_ms_p50": percentile(&t3.cpu_ms, 0.5),
        "tier3_cpu_ms_p99": percentile(&t3.cpu_ms, 0.99),
        "baseline_cpu_ms_p50": percentile(&base.cpu_ms, 0.5),
        "baseline_cpu_ms_p99": percentile(&base.cpu_ms, 0.99),
        "worker_cpu_ms_p50_over_baseline": percentile(&t2.cpu_ms, 0.5) - percentile(&base.cpu_ms, 0.5),
        "wall_ms_p50": percentile(&t2.wall_ms, 0.5),
        "wall_ms_p99": percentile(&t2.wall_ms, 0.99),
        "bundle_gzip_bytes": gzip_bytes(&dist)?,
        "wasm_gzip_bytes": wasm_gzip,
        "requests": REQUESTS,
        "events_per_request": 10,
        "goal_cpu_ms_p50": 1.0,
        "harness": "workerd CPU time per request from /proc/<pid>/task/*/schedstat (all threads), sampled before the request and after the fake collector received the forwarded batch (includes HTTP parsing, the handler, signing and the waitUntil subrequest); sequential keep-alive requests on loopback; Tier 2 with an existing session unless prefixed tier3_; baseline_ is a plain JS worker that only reads the body, answers 204 and forwards it in waitUntil (the runtime's own floor for the same traffic)",
        "machine": format!("{} cores, {}", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0), cpu_model()),
    });
    let out_dir = layout.target.join("bench");
    std::fs::create_dir_all(&out_dir)?;
    let path = out_dir.join("edge.json");
    std::fs::write(&path, serde_json::to_string_pretty(&json)?).with_context(|| format!("writing {}", path.display()))?;
    println!("{}", serde_json::to_string_pretty(&json)?);
    drop(edge);
    Ok(())
}
