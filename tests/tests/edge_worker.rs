//! The edge worker in a real Workers runtime (workerd), in front of a fake
//! collector: every row of DESIGN.md's tier table with its cookies, token
//! failures and key rotation, session rotation, IP truncation as the
//! collector sees it, refusals, bots, counters and signatures.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use devstack::{free_port, start_edge, Edge};
use mintmark_config::Config;
use mintmark_e2e::{state_dir, FakeCollector};
use mintmark_protocol::consent::{self, ConsentClaims, OptInSource};
use mintmark_protocol::keys::{Key, KeyRing};
use mintmark_protocol::signing::{Payload, DEFAULT_WINDOW_SECS};
use serde_json::Value;

const STORE: &str = "https://shop.example.gov";
const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
const EDGE_KEY: &str = "e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1";
const CONSENT_NEW: &str = "c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2";
const CONSENT_OLD: &str = "c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1c1";
const CONSENT_RETIRED: &str = "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0";
const METRICS_TOKEN: &str = "metrics-token-for-tests";

struct EdgeTest {
    edge: Edge,
    collector: FakeCollector,
    config: Config,
    http: reqwest::Client,
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

async fn setup(name: &str, rate_limit_per_minute: u32) -> anyhow::Result<EdgeTest> {
    setup_with(name, rate_limit_per_minute, &[]).await
}

/// The edge in front of a fake collector, and `failover` collectors after it.
async fn setup_with(name: &str, rate_limit_per_minute: u32, failover: &[&str]) -> anyhow::Result<EdgeTest> {
    let collector = FakeCollector::start().await?;
    let failover = failover.iter().map(|u| format!("{u:?}")).collect::<Vec<_>>().join(", ");
    let config = Config::from_toml(&format!(
        r#"
[store]
origins = ["{STORE}"]
path_prefixes = ["/store"]
[edge]
collector_url = "{url}"
collector_failover_urls = [{failover}]
rate_limit_per_minute = {rate_limit_per_minute}
visitor_max_age_days = 30
[edge.delivery]
max_batch_timeout_secs = 1
retry_base_secs = 1
retry_max_secs = 2
timeout_ms = 2000
[keys]
edge_signing = [{{ id = "e1", secret = "{EDGE_KEY}" }}]
consent = [{{ id = "c2", secret = "{CONSENT_NEW}" }}, {{ id = "c1", secret = "{CONSENT_OLD}" }}]
edge_metrics_token = "{METRICS_TOKEN}"
"#,
        url = collector.url
    ))?;
    let edge = start_edge(&state_dir(name)?, &config, free_port()?).await?;
    Ok(EdgeTest { edge, collector, config, http: reqwest::Client::new() })
}

fn beacon(cookies: bool, url: &str, referrer: Option<&str>) -> String {
    let referrer = referrer.map(|r| format!(r#","referrer":"{r}""#)).unwrap_or_default();
    format!(
        r#"{{"v":1,"cookies":{cookies},"context":{{"language":"en-US"}},"events":[{{"id":"0123456789abcdef0123456789abcdef","type":"pageview","ts":{ts},"url":"{url}"{referrer}}}]}}"#,
        ts = now() * 1000
    )
}

/// The sealing key every test token carries.
const SEAL_KID: &str = "5ea15ea15ea15ea15ea15ea15ea15ea1";
const SEAL_KEY: [u8; 32] = [0x5e; 32];

/// A customer's subject as a collector would have put it in the token.
fn subject(customer: &str) -> String {
    mintmark_protocol::subject::Subjects::parse(&"5b".repeat(32)).unwrap().of(customer)
}

/// What a forwarded Tier 3 batch sealed: `{identity, ip}`.
fn opened(b: &serde_json::Value) -> serde_json::Value {
    let sealed = b["sealed"].as_str().expect("a Tier 3 batch is sealed");
    serde_json::to_value(mintmark_protocol::seal::open(&SEAL_KEY, sealed).expect("opens with the token's key")).unwrap()
}

fn token(key_id: &str, secret: &str, customer: &str, issued_at: u64, expires_at: u64) -> String {
    let claims = ConsentClaims {
        customer_ref: customer.into(),
        source: OptInSource::Registration,
        policy_version: 1,
        issued_at,
        expires_at,
        subject: subject(customer),
        seal_kid: SEAL_KID.into(),
        seal_key: mintmark_protocol::seal::encode_key(&SEAL_KEY),
    };
    consent::mint_with(&Key::parse(key_id, secret).unwrap(), &claims).unwrap()
}

struct Answer {
    status: u16,
    set_cookies: Vec<String>,
    body: String,
}

impl EdgeTest {
    async fn send(&self, method: reqwest::Method, path: &str, headers: &[(&str, &str)], body: String) -> Answer {
        let mut req = self.http.request(method, format!("{}{path}", self.edge.url)).body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("workerd answers");
        let status = resp.status().as_u16();
        let set_cookies = resp.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
        Answer { status, set_cookies, body: resp.text().await.unwrap() }
    }

    async fn beacon(&self, cookie: Option<&str>, ip: &str, body: String) -> Answer {
        let mut headers = vec![("origin", STORE), ("user-agent", CHROME), ("cf-connecting-ip", ip)];
        if let Some(c) = cookie {
            headers.push(("cookie", c));
        }
        self.send(reqwest::Method::POST, "/store/_mm/collect", &headers, body).await
    }

    /// Sends one beacon and returns the answer and the batch it produced.
    async fn forwarded(&self, cookie: Option<&str>, ip: &str, body: String) -> (Answer, Value) {
        let before = self.collector.received().len();
        let answer = self.beacon(cookie, ip, body).await;
        assert_eq!(answer.status, 204, "accepted: {}", answer.body);
        let got = self.collector.wait_for(before + 1, Duration::from_secs(10)).await.unwrap();
        (answer, got[before].json())
    }

    async fn metrics(&self) -> String {
        let auth = format!("Bearer {METRICS_TOKEN}");
        let a = self.send(reqwest::Method::GET, "/store/_mm/metrics", &[("authorization", &auth)], String::new()).await;
        assert_eq!(a.status, 200);
        a.body
    }
}

/// The value of one counter line (`name{labels}`) in Prometheus text.
fn counter(metrics: &str, series: &str) -> u64 {
    mintmark_e2e::metric(metrics, series)
}

fn attrs(cookie: &str) -> Vec<&str> {
    cookie.split(';').map(str::trim).collect()
}

fn assert_first_party(cookie: &str) {
    for a in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/store"] {
        assert!(attrs(cookie).contains(&a), "{a} missing from {cookie}");
    }
}

fn session_of(answer: &Answer) -> String {
    let c = answer.set_cookies.iter().find(|c| c.starts_with("mm_sid=")).expect("session cookie");
    c["mm_sid=".len()..].split(';').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tier_table_cookies_and_ip_truncation() -> anyhow::Result<()> {
    let t = setup("edge_tiers", 1000).await?;
    let page = "https://shop.example.gov/store/item";

    // Anonymous: cookies disabled → no id, no cookie, truncated IP.
    let (a, b) = t.forwarded(None, "203.0.113.77", beacon(false, page, None)).await;
    assert!(a.set_cookies.is_empty(), "{:?}", a.set_cookies);
    assert_eq!((b["tier"].as_str(), b["ip"].as_str()), (Some("anonymous"), Some("203.0.113.0")));
    assert!(b.get("session_id").is_none() && b.get("identity").is_none());

    // Tier 2: session cookie without expiry; IPv4 /24, IPv6 /48, mapped IPv4.
    for (ip, truncated) in [("203.0.113.77", "203.0.113.0"), ("2001:db8:abcd:12:1:2:3:4", "2001:db8:abcd::"), ("::ffff:198.51.100.9", "198.51.100.0")] {
        let (a, b) = t.forwarded(None, ip, beacon(true, page, None)).await;
        assert_eq!(a.set_cookies.len(), 1, "{:?}", a.set_cookies);
        let c = &a.set_cookies[0];
        assert_first_party(c);
        assert!(!c.contains("Max-Age") && !c.contains("Expires"), "session cookie has no expiry: {c}");
        assert_eq!((b["tier"].as_str(), b["ip"].as_str()), (Some("tier2"), Some(truncated)), "{ip}");
        assert_eq!(b["session_id"].as_str(), Some(session_of(&a).split('.').next().unwrap()));
        assert!(b.get("identity").is_none());
    }

    // Tier 3: a token from the current key and one from the older, still active key.
    for (kid, secret) in [("c2", CONSENT_NEW), ("c1", CONSENT_OLD)] {
        let tok = token(kid, secret, "cust-42", now() - 60, now() + 3600);
        let (a, b) = t.forwarded(Some(&format!("mm_consent={tok}")), "203.0.113.77", beacon(true, page, None)).await;
        assert_eq!(b["tier"], "tier3", "token signed with {kid}");
        // Who and where from cross the queue only sealed.
        assert!(b.get("identity").is_none() && !b.to_string().contains("cust-42") && !b.to_string().contains("203.0.113.77"), "{b}");
        assert_eq!(b["ip"], "203.0.113.0", "outside the seal, the truncated address");
        let o = opened(&b);
        assert_eq!(o["ip"], "203.0.113.77", "Tier 3 keeps the full IP, sealed");
        assert_eq!(o["identity"]["customer_ref"], "cust-42");
        let visitor = a.set_cookies.iter().find(|c| c.starts_with("mm_vid=")).expect("persistent cookie");
        assert_first_party(visitor);
        assert!(attrs(visitor).contains(&"Max-Age=2592000"), "Max-Age from config (30 d): {visitor}");
        assert_eq!(&visitor["mm_vid=".len()..visitor.find(';').unwrap()], o["identity"]["visitor_id"].as_str().unwrap());
    }

    // Two consent cookies (a script elsewhere on the site planted one on
    // /store beside the visitor's): neither is trusted, Tier 2, counted.
    let tok = token("c2", CONSENT_NEW, "cust-42", now() - 60, now() + 3600);
    for cookie in [format!("mm_consent=planted; mm_consent={tok}"), format!("mm_consent={tok}; mm_consent={tok}")] {
        let (_, b) = t.forwarded(Some(&cookie), "203.0.113.77", beacon(true, page, None)).await;
        assert_eq!((b["tier"].as_str(), b["ip"].as_str()), (Some("tier2"), Some("203.0.113.0")), "{cookie}");
        assert!(b.get("identity").is_none());
    }

    // Forged, expired, rotated-out key, revoked → Tier 2, persistent cookie deleted.
    let vid = "0123456789abcdef0123456789abcdef";
    let valid = token("c2", CONSENT_NEW, "cust-99", now() - 60, now() + 3600);
    let mut forged = valid.clone();
    forged.replace_range(forged.len() - 2.., "AA");
    let cases = [
        ("forged", forged),
        ("expired", token("c2", CONSENT_NEW, "cust-99", now() - 7200, now() - 60)),
        ("retired key", token("c0", CONSENT_RETIRED, "cust-99", now() - 60, now() + 3600)),
        ("revoked", valid.clone()),
    ];
    for (what, tok) in cases {
        if what == "revoked" {
            t.edge.revoke(&subject("cust-99"), now())?;
        }
        let cookie = format!("mm_vid={vid}; mm_consent={tok}");
        let (a, b) = t.forwarded(Some(&cookie), "203.0.113.77", beacon(true, page, None)).await;
        assert_eq!((b["tier"].as_str(), b["ip"].as_str()), (Some("tier2"), Some("203.0.113.0")), "{what}");
        assert!(b.get("identity").is_none(), "{what}");
        let deleted = a.set_cookies.iter().find(|c| c.starts_with("mm_vid=")).unwrap_or_else(|| panic!("{what}: no deletion"));
        assert!(deleted.starts_with("mm_vid=;") && attrs(deleted).contains(&"Max-Age=0"), "{what}: {deleted}");
        assert_first_party(deleted);
    }
    // A new opt-in after the revocation is honoured again.
    let again = token("c2", CONSENT_NEW, "cust-99", now() + 1, now() + 3600);
    let (_, b) = t.forwarded(Some(&format!("mm_consent={again}")), "203.0.113.77", beacon(true, page, None)).await;
    assert_eq!(b["tier"], "tier3");

    let m = t.metrics().await;
    for line in [
        "mintmark_edge_requests_total{outcome=\"accepted\",tier=\"anonymous\"} 1",
        "mintmark_edge_requests_total{outcome=\"accepted\",tier=\"tier3\"} 3",
        "mintmark_edge_consent_rejected_total{reason=\"revoked\"} 1",
        "mintmark_edge_consent_rejected_total{reason=\"expired\"} 1",
        "mintmark_edge_consent_rejected_total{reason=\"unknown_key\"} 1",
        "mintmark_edge_consent_rejected_total{reason=\"bad_signature\"} 1",
        "mintmark_edge_consent_rejected_total{reason=\"duplicate_cookie\"} 2",
    ] {
        assert!(m.contains(line), "missing {line:?} in\n{m}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_rotate_after_idle_and_on_entry_from_outside() -> anyhow::Result<()> {
    let t = setup("edge_sessions", 1000).await?;
    let page = "https://shop.example.gov/store/";
    let (a, first) = t.forwarded(None, "203.0.113.5", beacon(true, page, None)).await;
    let value = session_of(&a);
    let sid = first["session_id"].as_str().unwrap().to_string();
    let id_with_stamp = |secs: u64| format!("mm_sid={sid}.{secs}.2");

    // Within the visit, navigating inside the store: same session, no new cookie.
    let (a, b) = t.forwarded(Some(&format!("mm_sid={value}")), "203.0.113.5", beacon(true, page, Some("https://shop.example.gov/store/x"))).await;
    assert_eq!(b["session_id"].as_str(), Some(sid.as_str()));
    assert!(a.set_cookies.is_empty());

    // The cookie carries the clock: a stamp 31 minutes old is an idle visit.
    let (a, b) = t.forwarded(Some(&id_with_stamp(now() - 31 * 60)), "203.0.113.5", beacon(true, page, None)).await;
    assert_ne!(b["session_id"].as_str(), Some(sid.as_str()), "idle → new session");
    assert!(session_of(&a).ends_with(&format!(".{}.2", b["received_at"].as_u64().unwrap() / 1000)));
    // 29 minutes is still the same visit (the stamp is refreshed).
    let (a, b) = t.forwarded(Some(&id_with_stamp(now() - 29 * 60)), "203.0.113.5", beacon(true, page, None)).await;
    assert_eq!(b["session_id"].as_str(), Some(sid.as_str()));
    assert!(session_of(&a).starts_with(&sid));

    // Entering from another site, or from a non-store page of the same host.
    for referrer in ["https://search.example/?q=mugs", "https://shop.example.gov/about/"] {
        let (_, b) = t.forwarded(Some(&id_with_stamp(now())), "203.0.113.5", beacon(true, page, Some(referrer))).await;
        assert_ne!(b["session_id"].as_str(), Some(sid.as_str()), "entry from {referrer} starts a new session");
    }
    let m = t.metrics().await;
    assert!(m.contains("mintmark_edge_sessions_started_total{reason=\"external_entry\"} 2"), "{m}");
    assert!(m.contains("mintmark_edge_sessions_started_total{reason=\"idle\"} 1"), "{m}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_bots_and_limits_are_refused_and_counted() -> anyhow::Result<()> {
    let t = setup("edge_refusals", 5).await?;
    // Startup probes are requests too: count from here.
    let before = t.metrics().await;
    let page = "https://shop.example.gov/store/";
    let post = reqwest::Method::POST;
    let h = |ua: &'static str| vec![("origin", STORE), ("user-agent", ua), ("cf-connecting-ip", "198.51.100.1")];

    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(70 * 1024));
    let cases: Vec<(reqwest::Method, Vec<(&str, &str)>, String, u16, &str)> = vec![
        (post.clone(), h(CHROME), big, 413, "too_large"),
        (post.clone(), h(CHROME), "{not json".into(), 400, "malformed"),
        (reqwest::Method::GET, h(CHROME), String::new(), 405, "method_not_allowed"),
        (reqwest::Method::PUT, h(CHROME), beacon(true, page, None), 405, "method_not_allowed"),
        (post.clone(), h(CHROME), beacon(true, "https://shop.example.gov/storefront/", None), 422, "out_of_scope"),
        (post.clone(), h(CHROME), beacon(true, "https://evil.example/store/", None), 422, "out_of_scope"),
        (post.clone(), vec![("origin", "https://evil.example"), ("user-agent", CHROME), ("cf-connecting-ip", "198.51.100.1")], beacon(true, page, None), 403, "origin_not_allowed"),
        (post.clone(), vec![("origin", STORE), ("user-agent", CHROME)], beacon(true, page, None), 400, "no_client_ip"),
    ];
    for (method, headers, body, status, reason) in cases {
        let a = t.send(method.clone(), "/store/_mm/collect", &headers, body).await;
        let answer: Value = serde_json::from_str(&a.body).unwrap_or_else(|e| panic!("{e}: {}", a.body));
        assert_eq!((a.status, answer["error"].as_str()), (status, Some(reason)), "{method} → {reason}: {answer}");
        assert!(a.set_cookies.is_empty());
    }
    // A malformed batch says what is wrong with it, as the collector does.
    let unknown = beacon(true, page, None).replacen("\"cookies\"", "\"customer_email\":\"x\",\"cookies\"", 1);
    let a = t.send(post.clone(), "/store/_mm/collect", &h(CHROME), unknown).await;
    let answer: Value = serde_json::from_str(&a.body)?;
    assert_eq!((a.status, answer["error"].as_str()), (400, Some("malformed")));
    assert!(answer["detail"].as_str().unwrap_or("").contains("unknown field `customer_email`"), "{answer}");
    // Bots get a 204 and nothing else.
    let bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
    let a = t.send(post.clone(), "/store/_mm/collect", &h(bot), beacon(true, page, None)).await;
    assert_eq!(a.status, 204);
    assert!(a.set_cookies.is_empty());
    // CORS: a preflight from the store is answered, with credentials.
    let pre = t.send(reqwest::Method::OPTIONS, "/store/_mm/collect", &[("origin", STORE)], String::new()).await;
    assert_eq!(pre.status, 204);

    // Rate limit: 5 per minute per /24; the sixth from the same /24 waits.
    for i in 0..5 {
        let ip = format!("192.0.2.{}", 10 + i);
        assert_eq!(t.beacon(None, &ip, beacon(true, page, None)).await.status, 204, "request {i}");
    }
    let limited = t.beacon(None, "192.0.2.99", beacon(true, page, None)).await;
    assert_eq!((limited.status, limited.body.as_str()), (429, r#"{"error":"rate_limited"}"#));
    assert_eq!(t.beacon(None, "192.0.3.1", beacon(true, page, None)).await.status, 204, "another /24 is not limited");

    // Nothing refused reached the collector: only the 6 accepted beacons.
    t.collector.wait_for(6, Duration::from_secs(10)).await?;
    assert_eq!(t.collector.received().len(), 6);

    // Every refusal was counted by reason; metrics need the token.
    let m = t.metrics().await;
    for (labels, expected) in [
        ("outcome=\"rejected\",reason=\"too_large\"", 1),
        ("outcome=\"rejected\",reason=\"malformed\"", 2),
        ("outcome=\"rejected\",reason=\"method_not_allowed\"", 2),
        ("outcome=\"rejected\",reason=\"out_of_scope\"", 2),
        ("outcome=\"rejected\",reason=\"origin_not_allowed\"", 1),
        ("outcome=\"rejected\",reason=\"no_client_ip\"", 1),
        ("outcome=\"bot\"", 1),
        ("outcome=\"preflight\"", 1),
        ("outcome=\"rate_limited\"", 1),
        ("outcome=\"accepted\",tier=\"tier2\"", 6),
    ] {
        let series = format!("mintmark_edge_requests_total{{{labels}}}");
        assert_eq!(counter(&m, &series) - counter(&before, &series), expected, "{series} in\n{m}");
    }
    let anonymous = t.send(reqwest::Method::GET, "/store/_mm/metrics", &[], String::new()).await;
    assert_eq!(anonymous.status, 404, "metrics are not public");
    let wrong = t.send(reqwest::Method::GET, "/store/_mm/metrics", &[("authorization", "Bearer wrong-token-wrong-token")], String::new()).await;
    assert_eq!(wrong.status, 404);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_batches_are_signed_at_delivery_and_retried() -> anyhow::Result<()> {
    let t = setup("edge_signing", 1000).await?;
    let ring = t.config.edge_signing_keys()?;
    let (_, _) = t.forwarded(None, "203.0.113.7", beacon(true, "https://shop.example.gov/store/", None)).await;
    let got = t.collector.received();
    assert_eq!(got[0].payload, Payload::Bundle, "the queue consumer sends bundles");
    let sig = got[0].signature.clone().expect("signature headers present");
    assert_eq!(sig.key_id, "e1");
    // The collector's verifier accepts it …
    sig.verify_payload(&ring, Payload::Bundle, &got[0].signed, now(), DEFAULT_WINDOW_SECS)?;
    // … and refuses the same signature over a tampered body, as a single
    // batch, or from another key.
    let mut tampered = got[0].signed.to_vec();
    let pos = tampered.windows(4).position(|w| w == b"tier").unwrap();
    tampered[pos] = b'T';
    assert!(sig.verify_payload(&ring, Payload::Bundle, &tampered, now(), DEFAULT_WINDOW_SECS).is_err());
    assert!(sig.verify(&ring, &got[0].signed, now(), DEFAULT_WINDOW_SECS).is_err());
    let other = KeyRing::parse([("e1", "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff")])?;
    assert!(sig.verify_payload(&other, Payload::Bundle, &got[0].signed, now(), DEFAULT_WINDOW_SECS).is_err());

    // The collector fails twice: the consumer retries with backoff, signing
    // each attempt anew, and the batch arrives once.
    t.collector.fail_next(2);
    let attempts_before = t.collector.attempts();
    let a = t.beacon(None, "203.0.113.7", beacon(true, "https://shop.example.gov/store/", None)).await;
    assert_eq!(a.status, 204, "the browser is answered once the batch is queued, whatever the collector does");
    t.collector.wait_for(2, Duration::from_secs(20)).await?;
    assert_eq!(t.collector.attempts() - attempts_before, 3, "two failures, one success");
    assert_ne!(t.collector.received()[1].signature, t.collector.received()[0].signature);
    let m = wait_for_metric(&t, "mintmark_edge_delivered_total", 2).await;
    assert_eq!(counter(&m, "mintmark_edge_queued_total"), 2, "{m}");
    assert_eq!(counter(&m, "mintmark_edge_delivery_retries_total{cause=\"status_503\"}"), 2, "{m}");
    assert_eq!(counter(&m, "mintmark_edge_queue_backlog_messages{queue=\"delivery\"}"), 0, "{m}");
    assert!(m.contains("# TYPE mintmark_edge_queue_oldest_age_seconds gauge"), "{m}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(t.collector.received().len(), 2, "nothing delivered twice");
    Ok(())
}

async fn wait_for_metric(t: &EdgeTest, series: &str, at_least: u64) -> String {
    mintmark_e2e::wait_for_edge_metric(&t.edge.url, &t.config, series, at_least, Duration::from_secs(20)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_batches_go_to_the_dead_letter_queue_and_nothing_else_does() -> anyhow::Result<()> {
    let t = setup("edge_dead_letters", 1000).await?;
    let page = "https://shop.example.gov/store/";

    // A request refused whole (a key the collector does not know: 401) is
    // not retried: its batch is dead-lettered and counted.
    t.collector.refuse_next(1, 401);
    assert_eq!(t.beacon(None, "203.0.113.7", beacon(true, page, None)).await.status, 204);
    let m = wait_for_metric(&t, "mintmark_edge_dead_lettered_total{reason=\"refused_by_test\"}", 1).await;
    assert_eq!(counter(&m, "mintmark_edge_delivery_retries_total{cause=\"status_401\"}"), 0, "{m}");

    // One batch of a bundle refused in the receipt: only it goes.
    t.collector.refuse_batches_containing(Some("poison"));
    for url in [page, "https://shop.example.gov/store/poison", "https://shop.example.gov/store/cart"] {
        assert_eq!(t.beacon(None, "203.0.113.7", beacon(true, url, None)).await.status, 204);
    }
    let got = t.collector.wait_for(2, Duration::from_secs(20)).await?;
    let m = wait_for_metric(&t, "mintmark_edge_dead_lettered_total{reason=\"bad_event\"}", 1).await;
    assert_eq!(counter(&m, "mintmark_edge_delivered_total"), 2, "{m}");
    assert_eq!(counter(&m, "mintmark_edge_queue_backlog_messages{queue=\"dead_letters\"}"), 2, "both dead letters wait in their queue:\n{m}");
    assert_eq!(counter(&m, "mintmark_edge_queue_backlog_messages{queue=\"delivery\"}"), 0, "{m}");
    let urls: Vec<String> = got.iter().map(|r| r.json()["events"][0]["url"].as_str().unwrap().to_string()).collect();
    assert!(urls.iter().all(|u| !u.contains("poison")), "{urls:?}");
    assert_eq!(urls.len(), 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_away_hands_its_batches_to_the_next() -> anyhow::Result<()> {
    let second = FakeCollector::start().await?;
    let t = setup_with("edge_failover", 1000, &[&second.url]).await?;
    // The first collector is down for good: every bundle goes to the second,
    // in the same delivery, without waiting for a retry.
    t.collector.fail_next(usize::MAX);
    for i in 0..3 {
        let url = format!("https://shop.example.gov/store/f{i}");
        assert_eq!(t.beacon(None, "203.0.113.7", beacon(true, &url, None)).await.status, 204);
    }
    let got = second.wait_for(3, Duration::from_secs(20)).await?;
    assert_eq!(got.len(), 3);
    assert!(t.collector.received().is_empty());
    let m = wait_for_metric(&t, "mintmark_edge_delivered_total", 3).await;
    assert!(counter(&m, "mintmark_edge_delivery_requests_total{collector=\"0\",answer=\"503\"}") >= 1, "{m}");
    assert!(counter(&m, "mintmark_edge_delivery_requests_total{collector=\"1\",answer=\"200\"}") >= 1, "{m}");
    assert_eq!(counter(&m, "mintmark_edge_delivery_retries_total{cause=\"status_503\"}"), 0, "no retry was needed: {m}");
    // A verdict is final: a refusal by the second is not tried elsewhere.
    t.collector.fail_next(0);
    second.refuse_next(1, 401);
    t.collector.refuse_next(1, 401);
    assert_eq!(t.beacon(None, "203.0.113.7", beacon(true, "https://shop.example.gov/store/r", None)).await.status, 204);
    let m = wait_for_metric(&t, "mintmark_edge_dead_lettered_total{reason=\"refused_by_test\"}", 1).await;
    assert_eq!(counter(&m, "mintmark_edge_delivery_requests_total{collector=\"1\",answer=\"401\"}"), 0, "{m}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_batches_survive_a_runtime_restart() -> anyhow::Result<()> {
    let mut t = setup("edge_restart", 1000).await?;
    // The collector is away: everything accepted waits in the queue.
    t.collector.fail_next(usize::MAX);
    for i in 0..5 {
        let url = format!("https://shop.example.gov/store/p{i}");
        assert_eq!(t.beacon(None, "203.0.113.7", beacon(true, &url, None)).await.status, 204);
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while t.collector.attempts() == 0 {
        assert!(std::time::Instant::now() < deadline, "no delivery attempt");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Killed mid-backoff; on start the queue's alarm fires again.
    t.edge.restart().await?;
    t.collector.fail_next(0);
    let got = t.collector.wait_for(5, Duration::from_secs(30)).await?;
    let mut urls: Vec<String> = got.iter().map(|r| r.json()["events"][0]["url"].as_str().unwrap().to_string()).collect();
    urls.sort();
    assert_eq!(urls, (0..5).map(|i| format!("https://shop.example.gov/store/p{i}")).collect::<Vec<_>>());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(t.collector.received().len(), 5, "each once");
    Ok(())
}
