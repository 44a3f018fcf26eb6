//! Our output checked by other people's tools, so drift against them fails
//! here rather than at a deployment or in a monitoring system: the
//! generated `wrangler.toml` through `wrangler deploy --dry-run` (npm
//! wrangler, the platform's own validator and bundler), and every service's
//! `/metrics` through the reference Prometheus text parser (PyPI
//! `prometheus_client`), after traffic that fills in labelled series.

use std::process::Stdio;
use std::time::Duration;

use devstack::Layout;
use mintmark_e2e::{edge_metrics, start_stack, wait_for_edge_metric};
use tokio::io::AsyncWriteExt;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrangler_accepts_the_generated_config_and_bundle() -> anyhow::Result<()> {
    let layout = Layout::discover()?;
    layout.check_built(&["edge"])?;
    let out_dir = layout.target.join("wrangler-dry-run");
    let _ = std::fs::remove_dir_all(&out_dir);
    let out = tokio::process::Command::new(layout.root.join("node_modules/.bin/wrangler"))
        .args(["deploy", "--dry-run", "--config", "edge-worker/wrangler.toml", "--outdir"])
        .arg(&out_dir)
        .current_dir(&layout.root)
        .env("WRANGLER_SEND_METRICS", "false")
        .env("CI", "true")
        .kill_on_drop(true)
        .output()
        .await?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "wrangler refused the generated config:\n{text}");
    assert!(text.contains("Total Upload") && text.contains("--dry-run: exiting now"), "{text}");
    for binding in ["env.REVOCATIONS", "env.DELIVERY", "env.DEAD_LETTERS", "env.EDGE_CONFIG"] {
        assert!(text.contains(binding), "{binding} missing from:\n{text}");
    }
    assert!(out_dir.read_dir()?.next().is_some(), "the bundle was written");
    Ok(())
}

/// Parses Prometheus text with `prometheus_client.parser`; returns the
/// metric family names, or the parser's complaint.
async fn parse_prometheus(text: &str) -> anyhow::Result<Vec<String>> {
    const PARSE: &str = "import sys\nfrom prometheus_client.parser import text_string_to_metric_families\n\
                         for f in text_string_to_metric_families(sys.stdin.read()):\n    print(f.name, len(f.samples))\n";
    let mut child = tokio::process::Command::new("python3")
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    child.stdin.take().unwrap().write_all(text.as_bytes()).await?;
    let out = child.wait_with_output().await?;
    anyhow::ensure!(out.status.success(), "the reference parser refused it: {}\n{text}", String::from_utf8_lossy(&out.stderr));
    Ok(String::from_utf8(out.stdout)?.lines().map(|l| l.split(' ').next().unwrap_or("").to_string()).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_services_metrics_parse_with_the_reference_parser() -> anyhow::Result<()> {
    let stack = start_stack("platform_metrics", Some("203.0.113.77".parse()?)).await?;
    let http = reqwest::Client::new();
    // Traffic that fills labelled series: a beacon, a refused one, a refused backend call.
    let store = stack.urls.store.trim_end_matches("/store/").to_string();
    let beacon = format!(
        r#"{{"v":1,"cookies":true,"events":[{{"id":"{:032x}","type":"pageview","ts":{},"url":"{store}/store/"}}]}}"#,
        7,
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis()
    );
    let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
    for body in [beacon, "{not json".to_string()] {
        http.post(format!("{store}/store/_mm/collect")).header("origin", &store).header("user-agent", chrome).body(body).send().await?;
    }
    http.post(format!("{}/orders", stack.urls.collector)).json(&serde_json::json!({})).send().await?;
    wait_for_edge_metric(&stack.urls.edge, &stack.config, "mintmark_edge_requests_total{outcome=\"accepted\",tier=\"tier2\"}", 1, Duration::from_secs(20)).await?;

    let edge = edge_metrics(&stack.urls.edge, &stack.config).await?;
    let collector = http.get(format!("{}/metrics", stack.urls.collector)).send().await?.text().await?;
    // The dashboards' invariant gauges appear once the first report has
    // run, which the service starts in the background: wait for it.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let dashboards = loop {
        let text =
            http.get(format!("{}/metrics", stack.urls.dashboards)).bearer_auth(&stack.config.keys.dashboards_metrics_token).send().await?.error_for_status()?.text().await?;
        if text.contains("mintmark_dashboards_invariant_violations{") {
            break text;
        }
        anyhow::ensure!(std::time::Instant::now() < deadline, "the first invariant report never ran:\n{text}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    for (service, text, expect) in [
        ("edge", &edge, "mintmark_edge_requests"),
        ("collector", &collector, "mintmark_collector_backend_refused"),
        ("dashboards", &dashboards, "mintmark_dashboards_invariant_violations"),
    ] {
        let families = parse_prometheus(text).await.map_err(|e| anyhow::anyhow!("{service}: {e}"))?;
        assert!(families.iter().any(|f| f == expect), "{service}: {expect} not among {families:?}");
    }
    // The parser is strict enough to fail: a broken line is refused.
    assert!(parse_prometheus("mintmark_broken{reason=\"x} 1\n").await.is_err());
    stack.stop();
    Ok(())
}
