//! Enrichment through the real `collector enrich` binary: GeoIP fixtures the
//! test builds itself with known answers, in MaxMind's nested layout and
//! ip-location-db's flat one, and user agents across browsers, OSes and
//! device classes through uap-core's regexes.

use std::io::Write;
use std::process::{Command, Stdio};

use devstack::Layout;
use mintmark_e2e::state_dir;
use serde_json::Value;

fn enrich(layout: &Layout, geo: &std::path::Path, lines: &[Value]) -> anyhow::Result<Vec<Value>> {
    let mut child = Command::new(layout.binary("collector"))
        .args(["--config", "/nonexistent/mintmark.toml", "enrich"])
        .arg("--city")
        .arg(geo.join("city.mmdb"))
        .arg("--asn")
        .arg(geo.join("asn.mmdb"))
        .arg("--ua-regexes")
        .arg(layout.root.join("node_modules/uap-core/regexes.yaml"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdin = child.stdin.take().unwrap();
    for l in lines {
        writeln!(stdin, "{l}")?;
    }
    writeln!(stdin, "this is not json")?;
    drop(stdin);
    let out = child.wait_with_output()?;
    anyhow::ensure!(out.status.success(), "collector enrich failed: {}", String::from_utf8_lossy(&out.stdout));
    Ok(String::from_utf8(out.stdout)?.lines().map(|l| serde_json::from_str(l).unwrap()).collect())
}

#[test]
fn geo_from_the_truncated_address_in_both_layouts() -> anyhow::Result<()> {
    let layout = Layout::discover()?;
    for db_layout in ["maxmind", "flat"] {
        let dir = state_dir(&format!("enrichment_{db_layout}"))?;
        let status = Command::new("python3").arg(layout.root.join("scripts/geo-fixture.py")).arg(&dir).arg(db_layout).status()?;
        assert!(status.success());
        let input = [
            serde_json::json!({"ip": "203.0.113.77", "ua": ""}),
            serde_json::json!({"ip": "::ffff:198.51.100.200", "ua": ""}),
            serde_json::json!({"ip": "2001:db8:abcd:99::1", "ua": ""}),
            serde_json::json!({"ip": "100.64.0.1", "ua": ""}),
            serde_json::json!({"ip": "not-an-ip", "ua": ""}),
        ];
        let out = enrich(&layout, &dir, &input)?;
        let place = |i: usize| (out[i]["ip_prefix"].as_str(), out[i]["country"].as_str(), out[i]["region"].as_str(), out[i]["network"].as_str());
        assert_eq!(place(0), (Some("203.0.113.0"), Some("US"), Some("Virginia"), Some("Example Transit")), "{db_layout}");
        assert_eq!(place(1), (Some("198.51.100.0"), Some("DE"), Some("Berlin"), Some("Beispiel Netz")), "{db_layout}: mapped IPv4");
        assert_eq!(place(2), (Some("2001:db8:abcd::"), Some("JP"), Some("Tokyo"), Some("Example v6")), "{db_layout}: IPv6 /48");
        assert_eq!(place(3), (Some("100.64.0.0"), Some(""), Some(""), Some("")), "{db_layout}: unknown network");
        assert!(out[4]["error"].as_str().unwrap().contains("not an IP"), "{:?}", out[4]);
        assert!(out[5]["error"].is_string(), "a bad line is reported, not fatal");
    }
    Ok(())
}

#[test]
fn user_agents_map_to_os_browser_and_device_class() -> anyhow::Result<()> {
    let layout = Layout::discover()?;
    let dir = state_dir("enrichment_ua")?;
    assert!(Command::new("python3").arg(layout.root.join("scripts/geo-fixture.py")).arg(&dir).arg("maxmind").status()?.success());
    let cases = [
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36", "Windows", "Chrome", "desktop"),
        ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15", "Mac OS X", "Safari", "desktop"),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0", "Linux", "Firefox", "desktop"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36 Edg/156.0.0.0", "Windows", "Edge", "desktop"),
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1", "iOS", "Mobile Safari", "mobile"),
        ("Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36", "Android", "Chrome Mobile", "mobile"),
        ("Mozilla/5.0 (iPad; CPU OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1", "iOS", "Mobile Safari", "tablet"),
        ("Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36", "Android", "Chrome", "tablet"),
        ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", "Other", "bingbot", "bot"),
    ];
    let input: Vec<Value> = cases.iter().map(|(ua, ..)| serde_json::json!({"ip": "203.0.113.1", "ua": ua})).collect();
    let out = enrich(&layout, &dir, &input)?;
    for (i, (ua, os, browser, device)) in cases.iter().enumerate() {
        let got = (out[i]["os"].as_str().unwrap(), out[i]["browser"].as_str().unwrap(), out[i]["device"].as_str().unwrap());
        assert_eq!(got, (*os, *browser, *device), "{ua}");
    }
    Ok(())
}
