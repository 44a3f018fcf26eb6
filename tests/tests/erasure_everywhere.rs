//! Erasure reaches every copy, tested as the store would use it and then
//! as an attacker with the disk would look.
//!
//! The journey, on the real stack (the store front, the edge in workerd
//! with its local queue, the collector with both spools, ClickHouse, the
//! dashboards): a customer with a guessable reference browses as Tier 2,
//! opts in, browses as Tier 3 from a public IPv6 address, places two orders
//! with a ZIP+4; the marketing user opens their page, the privacy officer
//! searches the consent ledger, the access audit and the purge log for
//! them and opens their record; then `POST /consent/erasure`. Once the
//! erasure is complete and ClickHouse has dropped the parts its mutations
//! replaced, nothing may hold the reference, an order number, the
//! persistent id, the full address or the ZIP+4: not any String of any
//! row of any table (`system.mutations` included), nor any byte of any
//! file under the stack's state directory (ClickHouse's data and metadata,
//! both spools, the edge's queue storage, SQLite files, every log).
//!
//! A batch sealed as the edge sealed this customer's, delivered again after
//! the erasure, is accepted and adds a Tier 2 copy but no Tier 3 row.
//!
//! The second test does the same with the collector SIGKILLed while the
//! erasure's deletes run, and restarted; the third on the 2 × 2 cluster,
//! every replica's tables and files searched (ZooKeeper's too), with the
//! consent ledger's replication held while the orders are routed (the
//! opt-in on one replica only must still make them the customer's).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use base64::Engine;
use devstack::{logins, ClusterStack, Layout, Ports, Stack};
use mintmark_e2e::dash::{login, password_of};
use mintmark_e2e::load::signed_post;
use mintmark_e2e::{eventually, metric, start_stack, state_dir};
use mintmark_protocol::signing;
use serde_json::{json, Value};

const CUSTOMER: &str = "cust-881";
const ORDERS: [&str; 2] = ["ORD-7781-A", "ORD-7781-B"];
const ZIP4: &str = "22030-4402";
const ADDRESS: &str = "2a02:8070:a1b2:c3d4:5e6f:7a8b:9c0d:1e2f";
const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// The system under test: one server, or the cluster.
enum Deployment {
    Single(Stack),
    Cluster(ClusterStack),
}

impl Deployment {
    fn config(&self) -> &mintmark_config::Config {
        match self {
            Deployment::Single(s) => &s.config,
            Deployment::Cluster(c) => &c.config,
        }
    }

    fn urls(&self) -> &devstack::Urls {
        match self {
            Deployment::Single(s) => &s.urls,
            Deployment::Cluster(c) => &c.urls,
        }
    }

    /// The first collector (every URL list is space-separated).
    fn collector(&self) -> String {
        self.urls().collector.split(' ').next().unwrap().to_string()
    }

    fn dashboards(&self) -> String {
        self.urls().dashboards.split(' ').next().unwrap().to_string()
    }

    fn store_origin(&self) -> String {
        self.urls().store.trim_end_matches("/store/").to_string()
    }

    fn state_dir(&self) -> std::path::PathBuf {
        match self {
            Deployment::Single(s) => s.state_dir.clone(),
            Deployment::Cluster(c) => c.state_dir.clone(),
        }
    }

    fn config_path(&self) -> std::path::PathBuf {
        match self {
            Deployment::Single(s) => s.backend.config_path.clone(),
            Deployment::Cluster(c) => c.config_path.clone(),
        }
    }

    /// Through the first server (on a cluster, its Distributed tables).
    async fn query(&self, sql: &str) -> anyhow::Result<String> {
        match self {
            Deployment::Single(s) => s.backend.query(sql).await,
            Deployment::Cluster(c) => c.cluster.query(0, sql).await,
        }
    }

    /// On every server, each its own.
    async fn query_each(&self, sql: &str) -> anyhow::Result<Vec<String>> {
        match self {
            Deployment::Single(s) => Ok(vec![s.backend.query(sql).await?]),
            Deployment::Cluster(c) => c.cluster.query_each(sql).await,
        }
    }

    async fn rows(&self, sql: &str) -> anyhow::Result<Vec<Value>> {
        let body = self.query(&format!("{sql} FORMAT JSONEachRow")).await?;
        Ok(body.lines().map(serde_json::from_str).collect::<Result<_, _>>()?)
    }

    async fn wait_for(&self, sql: &str, done: impl Fn(u64) -> bool) -> anyhow::Result<u64> {
        eventually(sql, Duration::from_secs(180), async || Ok(self.query_each(sql).await?.iter().map(|n| n.trim().parse::<u64>()).collect::<Result<Vec<_>, _>>()?), |ns| {
            ns.iter().all(|n| done(*n))
        })
        .await
        .map(|ns| ns[0])
    }

    async fn restart_collector(&mut self) -> anyhow::Result<()> {
        match self {
            Deployment::Single(s) => {
                s.backend.kill_collector();
                s.backend.start_collector().await
            }
            Deployment::Cluster(c) => {
                c.collectors.kill(0);
                c.collectors.start_one(0).await
            }
        }
    }

    /// On a cluster, stops (or starts again) every replica fetching the
    /// consent ledger's parts from the others: a write is then on one
    /// replica of its shard only, as it is for the moment replication
    /// takes, and a read must still find it.
    async fn ledger_fetches(&self, on: bool) -> anyhow::Result<()> {
        if let Deployment::Cluster(c) = self {
            let verb = if on { "START" } else { "STOP" };
            c.cluster.query_each(&format!("SYSTEM {verb} FETCHES ledger.consent_ledger_local")).await?;
        }
        Ok(())
    }

    fn stop(self) {
        match self {
            Deployment::Single(s) => s.stop(),
            Deployment::Cluster(c) => c.stop(),
        }
    }
}

/// The customer's browser: a cookie jar kept from `Set-Cookie`.
struct Browser {
    http: reqwest::Client,
    origin: String,
    jar: BTreeMap<String, String>,
    sent: u32,
}

impl Browser {
    fn new(stack: &Deployment) -> Browser {
        Browser { http: reqwest::Client::new(), origin: stack.store_origin(), jar: BTreeMap::new(), sent: 0 }
    }

    async fn visit(&mut self, page: &str) -> anyhow::Result<()> {
        self.sent += 1;
        let body = json!({"v": 1, "cookies": true, "context": {"language": "en-US"},
            "events": [{"id": format!("e7a5e000{:024x}", self.sent), "type": "pageview", "ts": now_ms(), "url": format!("{}{page}", self.origin), "title": "Store"}]});
        let status = mintmark_e2e::send_beacon(&self.http, &self.origin, CHROME, &mut self.jar, &body).await?;
        anyhow::ensure!(status == 204, "beacon answered {status}");
        Ok(())
    }
}

async fn backend_post(stack: &Deployment, path: &str, body: Value) -> anyhow::Result<reqwest::Response> {
    let key = stack.config().keys.backend_secret_for(path);
    Ok(reqwest::Client::new().post(format!("{}{path}", stack.collector())).bearer_auth(key).json(&body).send().await?)
}

/// A Tier 3 batch sealed under the token's key, as the edge seals one.
fn sealed_batch(token: &str, event_id: &str, visitor: &str) -> anyhow::Result<Vec<u8>> {
    let payload = token.split('.').nth(2).context("token shape")?;
    let claims: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload)?)?;
    let key = mintmark_protocol::seal::parse_key(claims["sk"].as_str().context("sk")?)?;
    let what = mintmark_protocol::seal::Sealed {
        identity: mintmark_protocol::wire::Identity {
            visitor_id: visitor.into(),
            customer_ref: CUSTOMER.into(),
            consent_source: mintmark_protocol::consent::OptInSource::Registration,
            policy_version: 1,
            consent_issued_at: claims["iat"].as_u64().context("iat")?,
        },
        ip: ADDRESS.into(),
    };
    let batch = json!({"v": 1, "received_at": now_ms(), "tier": "tier3", "session_id": "5ea1ed00".repeat(4),
        "sealed": mintmark_protocol::seal::seal(&key, claims["kid"].as_str().context("kid")?, rand::random(), &what),
        "ip": "2a02:8070:a1b2::", "user_agent": CHROME,
        "events": [{"id": event_id, "type": "pageview", "ts": now_ms(), "url": "https://shop.example.gov/store/redelivered", "title": "Store"}]});
    Ok(batch.to_string().into_bytes())
}

async fn ingest(stack: &Deployment, body: Vec<u8>) -> anyhow::Result<u16> {
    let ring = stack.config().edge_signing_keys()?;
    let sig = signing::sign(&ring, now_ms() / 1000, &body);
    Ok(signed_post(&reqwest::Client::new(), &format!("{}/ingest", stack.collector()), &sig, body).send().await?.status().as_u16())
}

async fn count(stack: &Deployment, sql: &str) -> anyhow::Result<u64> {
    Ok(stack.query(sql).await?.trim().parse()?)
}

/// Every file under `dir` (recursively): `(path, bytes)` of each.
fn every_file(dir: &Path, out: &mut Vec<(std::path::PathBuf, Vec<u8>)>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            every_file(&entry.path(), out)?;
        } else if kind.is_file() {
            // A file may go while we walk (ClickHouse's cleanup): skip it.
            if let Ok(bytes) = std::fs::read(entry.path()) {
                out.push((entry.path(), bytes));
            }
        }
    }
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
}

async fn journey(mut stack: Deployment, name: &str, kill_midway: bool) -> anyhow::Result<()> {
    let ids = collector::pseudonym::Pseudonyms::from_keys(&stack.config().keys)?;
    let subject = ids.subject(CUSTOMER).as_str().to_string();

    // Tier 2 first, then the opt-in, then Tier 3 browsing.
    let mut browser = Browser::new(&stack);
    browser.visit("/store/").await?;
    // The opt-in stays on the replica it was written to until the orders
    // are routed: the order writer must read it there.
    stack.ledger_fetches(false).await?;
    let opt_in = backend_post(&stack, "/consent/opt-in", json!({"customer_ref": CUSTOMER, "source": "registration", "policy_version": 1})).await?;
    anyhow::ensure!(opt_in.status().is_success(), "opt-in answered {}", opt_in.status());
    let token = opt_in.json::<Value>().await?["token"].as_str().context("token")?.to_string();
    browser.jar.insert(stack.config().edge.consent_cookie.clone(), token.clone());
    for page in ["/store/products/mug.html", "/store/cart", "/store/checkout"] {
        browser.visit(page).await?;
    }
    let visitor = browser.jar.get(&stack.config().edge.visitor_cookie).context("a persistent id")?.clone();
    let at = now_ms() / 1000;
    let order = |id: &str| json!({"order_id": id, "event": "placed", "at": at, "channel": "web", "customer_ref": CUSTOMER, "value": 24.5, "currency": "USD",
                                  "items": [{"sku": "MUG-1", "quantity": 1, "unit_price": 24.5}], "state": "VA", "zip": ZIP4});
    assert_eq!(backend_post(&stack, "/orders", json!({"orders": [order(ORDERS[0]), order(ORDERS[1])]})).await?.status().as_u16(), 202);
    let of_subject = |table: &str| format!("SELECT count() FROM {table} WHERE subject = '{subject}'");
    stack.wait_for(&of_subject("t3.events"), |n| n >= 3).await?;
    stack.wait_for(&of_subject("t3.orders"), |n| n == 2).await?;
    stack.ledger_fetches(true).await?;
    stack.wait_for(&of_subject("t3.order_facts"), |n| n == 2).await?;
    let t3 = stack.rows(&format!("SELECT ip, visitor_id FROM t3.events WHERE subject = '{subject}'")).await?;
    assert!(t3.iter().all(|r| r["ip"] == ADDRESS && r["visitor_id"] == visitor.as_str()), "the Tier 3 rows hold the full address and the persistent id: {t3:?}");

    // A batch sealed as the edge sealed these: delivered now, it makes a row.
    assert_eq!(ingest(&stack, sealed_batch(&token, &"ab".repeat(16), &visitor)?).await?, 204);
    stack.wait_for(&format!("SELECT count() FROM t3.events WHERE subject = '{subject}' AND path = '/store/redelivered'"), |n| n == 1).await?;

    // The look-ups: marketing opens the customer, the privacy officer
    // searches the ledger, the audit and the purge log, and opens the record.
    let layout = Layout::discover()?;
    let demo = logins::ensure(&layout, &stack.state_dir(), &stack.config_path())?;
    let base = stack.dashboards();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let marketing = login(&http, &base, "marketing", &password_of(&demo, "marketing")?).await?;
    let privacy = login(&http, &base, "privacy", &password_of(&demo, "privacy")?).await?;
    for (path, cookie) in [
        (format!("/marketing/customers/{CUSTOMER}"), &marketing),
        (format!("/marketing?q={CUSTOMER}"), &marketing),
        (format!("/privacy/consent?customer={CUSTOMER}"), &privacy),
        (format!("/privacy/audit?customer={CUSTOMER}"), &privacy),
        (format!("/privacy/purges?customer={CUSTOMER}"), &privacy),
        (format!("/privacy/customers/{CUSTOMER}"), &privacy),
    ] {
        let page = http.get(format!("{base}{path}")).header("cookie", cookie.as_str()).send().await?;
        let status = page.status().as_u16();
        let text = page.text().await?;
        assert_eq!(status, 200, "{path}: {text}");
        if path.contains("/customers/") {
            assert!(text.contains(ORDERS[0]) && text.contains(ZIP4), "{path} shows the customer's orders");
        }
    }
    let audited = stack.rows("SELECT params, customer_refs FROM ledger.access_audit WHERE customers_touched > 0 OR params LIKE '%customer=%'").await?;
    assert!(audited.len() >= 4, "the look-ups are audited: {audited:?}");
    assert!(audited.iter().all(|r| !r.to_string().contains(CUSTOMER)), "the audit names them by subject only: {audited:?}");

    // The erasure.
    assert_eq!(backend_post(&stack, "/consent/erasure", json!({"customer_ref": CUSTOMER, "note": "account closed"})).await?.status().as_u16(), 202);
    if kill_midway {
        // SIGKILL once a delete has started, then a fresh collector.
        let started = "SELECT count() FROM ledger.purge_log WHERE kind = 'erasure' AND statement LIKE 'started:%'";
        eventually("the erasure's first delete", Duration::from_secs(60), async || count(&stack, started).await, |n| *n >= 1).await?;
        stack.restart_collector().await?;
        assert_eq!(count(&stack, "SELECT count() FROM ledger.purge_log WHERE kind = 'erasure' AND done = 1").await?, 0, "the kill came first");
    }
    let done = format!("SELECT count() FROM ledger.purge_log WHERE kind = 'erasure' AND done = 1 AND subject_hash = '{subject}'");
    eventually(&done, Duration::from_secs(180), async || count(&stack, &done).await, |n| *n == 1).await?;
    let requests = "SELECT count() FROM ledger.consent_ledger WHERE action = 'erasure_requested'";
    eventually(requests, Duration::from_secs(60), async || count(&stack, requests).await, |n| *n == 0).await?;
    let evidence = stack.rows(&format!("SELECT dataset, statement FROM ledger.purge_log WHERE subject_hash = '{subject}' AND statement NOT LIKE 'started:%'")).await?;
    let places: Vec<&str> = evidence.iter().filter_map(|r| r["dataset"].as_str()).collect();
    for place in ["t3.events", "t3.orders", "t3.order_facts", "ledger.consent_ledger", "ledger.seal_keys", "collector spool (events)", "collector spool (orders)", "edge queue, dead-letter queue", "revocations", "ledger.access_audit", "logs", "*"] {
        assert!(places.contains(&place), "the evidence lists {place}: {places:?}");
    }

    // Redelivered after the erasure: accepted, a Tier 2 copy, no Tier 3 row.
    let t2_before = count(&stack, "SELECT count() FROM t2.events WHERE path = '/store/redelivered'").await?;
    assert_eq!(ingest(&stack, sealed_batch(&token, &"cd".repeat(16), &visitor)?).await?, 204);
    let redelivered = "SELECT count() FROM t2.events WHERE path = '/store/redelivered'";
    eventually(redelivered, Duration::from_secs(30), async || count(&stack, redelivered).await, |n| *n == t2_before + 1).await?;
    let m = eventually("the unopenable seal counted", Duration::from_secs(30), async || Ok(reqwest::get(format!("{}/metrics", stack.collector())).await?.text().await?),
        |m| metric(m, "mintmark_collector_tier3_unsealable_total{reason=\"key_gone\"}") >= 1).await?;
    assert!(metric(&m, "mintmark_collector_tier3_unsealable_total{reason=\"key_gone\"}") >= 1);
    assert_eq!(count(&stack, "SELECT count() FROM t3.events").await? - count(&stack, "SELECT count() FROM t3.events WHERE subject != ''").await?, 0);
    assert_eq!(count(&stack, &of_subject("t3.events")).await?, 0, "no Tier 3 row from the redelivery");

    // ClickHouse drops the parts its mutations replaced; the spools theirs.
    let old_parts = "SELECT count() FROM system.parts WHERE active = 0 AND database IN ('t2', 't3', 'ledger')";
    stack.wait_for(old_parts, |n| n == 0).await?;

    let needles: Vec<(&str, String)> = vec![
        ("reference", CUSTOMER.to_string()),
        ("order number", ORDERS[0].to_string()),
        ("order number", ORDERS[1].to_string()),
        ("persistent id", visitor.clone()),
        ("full address", ADDRESS.to_string()),
        ("ZIP+4", ZIP4.to_string()),
    ];
    // Every String of every row of every table, and system.mutations, on
    // every server (each reads its own local tables).
    let tables = stack.query("SELECT database, name FROM system.tables WHERE database IN ('t2', 't3', 'ledger', 'default') AND engine NOT IN ('View') FORMAT TSV").await?;
    let mut searched = 0;
    for line in tables.lines().map(|l| l.replace('\t', ".")).chain(["system.mutations".to_string()]) {
        for body in stack.query_each(&format!("SELECT * FROM {line} FORMAT TSV")).await? {
            searched += 1;
            for (what, n) in &needles {
                assert!(!find(body.as_bytes(), n.as_bytes()), "{what} {n} found in {line}");
            }
        }
    }
    assert!(searched >= 19, "{searched} tables searched");

    // Every byte of every file the stack wrote, after it has stopped.
    let state = stack.state_dir();
    stack.stop();
    let mut files = Vec::new();
    every_file(&state, &mut files)?;
    let bytes: usize = files.iter().map(|(_, b)| b.len()).sum();
    for (path, body) in &files {
        for (what, n) in &needles {
            assert!(!find(body, n.as_bytes()), "{what} {n} found in {}", path.display());
        }
    }
    for place in ["spool", "queues", "clickhouse", "log"] {
        assert!(files.iter().any(|(p, _)| p.to_string_lossy().contains(place)), "the search covered {place}");
    }
    eprintln!("erasure byte search ({name}): {} files, {bytes} bytes, {searched} tables, nothing found", files.len());
    Ok(())
}

async fn single(name: &str) -> anyhow::Result<Deployment> {
    Ok(Deployment::Single(start_stack(name, Some(ADDRESS.parse()?)).await?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_of_an_erased_customer_stays_readable_anywhere() -> anyhow::Result<()> {
    journey(single("erasure_everywhere").await?, "erasure_everywhere", false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_stays_after_a_collector_killed_during_the_erasure() -> anyhow::Result<()> {
    journey(single("erasure_everywhere_kill").await?, "erasure_everywhere_kill", true).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_stays_on_any_replica_of_the_cluster() -> anyhow::Result<()> {
    let stack = ClusterStack::start_as(state_dir("erasure_everywhere_cluster")?, Ports::free()?, Some(ADDRESS.parse()?)).await?;
    journey(Deployment::Cluster(stack), "erasure_everywhere_cluster", false).await
}
