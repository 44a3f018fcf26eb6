//! The tier promises tested as an attacker would, through the running
//! system (store front → edge in workerd → collector → ClickHouse), then by
//! reading every column of every table.
//!
//! 1. Linkage. A customer's visit crosses every tier transition: Tier 2,
//!    opt-in, opt-out, re-opt-in, a forged token, the valid token again,
//!    erasure, cookies disabled. Then, starting from that customer's `t3`
//!    rows, every String value (every column, found by `SELECT *`, arrays
//!    included) is looked up in every String column of `t2`, and so on from
//!    the `t2` rows that matched, until nothing new is reached. Everything
//!    reached must be a de-identified copy from a Tier 3 period. Values that
//!    an unrelated visitor's rows also hold (the same pages, browser and
//!    network) single nobody out and are not followed: a second visitor walks
//!    the same pages first, and whatever their rows contain is the population.
//!
//! 2. Personal data in URLs, campaign fields, targets and every other
//!    free-text field, plain and encoded, sent to the edge as any client can
//!    and to the collector as a compromised edge could: no `t2` row may hold
//!    it, and each layer counts what it removed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use devstack::Stack;
use mintmark_e2e::leaks::{leaks, Needle};
use mintmark_e2e::load::signed_post;
use mintmark_e2e::{rows, start_stack, wait_for_count};
use mintmark_protocol::signing;
use serde_json::{json, Value};

const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";

fn now_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()
}

/// A browser as the edge sees it: a cookie jar kept from `Set-Cookie`.
struct Visitor<'a> {
    stack: &'a Stack,
    http: reqwest::Client,
    origin: String,
    jar: BTreeMap<String, String>,
    /// Distinguishes this visitor's event ids.
    tag: u32,
    sent: u32,
}

impl<'a> Visitor<'a> {
    fn new(stack: &'a Stack, tag: u32) -> Visitor<'a> {
        let origin = stack.urls.store.trim_end_matches("/store/").to_string();
        Visitor { stack, http: reqwest::Client::new(), origin, jar: BTreeMap::new(), tag, sent: 0 }
    }

    fn event(&mut self, kind: &str, page: &str, title: &str) -> Value {
        self.sent += 1;
        json!({"id": format!("{:08x}{:024x}", self.tag, self.sent), "type": kind, "ts": now_ms(),
               "url": format!("{}{page}", self.origin), "title": title})
    }

    /// Posts `events` to the edge with the jar's cookies; returns the status.
    async fn send(&mut self, cookies: bool, events: Vec<Value>) -> anyhow::Result<u16> {
        let body = json!({"v": 1, "cookies": cookies, "context": {"language": "en-US", "time_zone": "Europe/Berlin", "screen_width": 1280},
                          "events": events});
        mintmark_e2e::send_beacon(&self.http, &self.origin, CHROME, &mut self.jar, &body).await
    }

    /// One page of a phase: a pageview whose title names the phase.
    async fn visit(&mut self, page: &str, phase: &str) -> anyhow::Result<()> {
        let e = self.event("pageview", page, phase);
        let cookies = phase != "anonymous";
        assert_eq!(self.send(cookies, vec![e]).await?, 204, "{phase} {page}");
        Ok(())
    }

    async fn consent(&self, action: &str, customer: &str) -> anyhow::Result<Value> {
        let key = self.stack.config.keys.backend_secret_for(&format!("/consent/{action}"));
        let resp = self
            .http
            .post(format!("{}/consent/{action}", self.stack.urls.collector))
            .bearer_auth(key)
            .json(&match action {
                "opt-in" => json!({"customer_ref": customer, "source": "registration", "policy_version": 1}),
                _ => json!({"customer_ref": customer}),
            })
            .send()
            .await?
            .error_for_status()?;
        Ok(resp.json().await.unwrap_or(Value::Null))
    }

    fn set_consent(&mut self, token: &str) {
        self.jar.insert(self.stack.config.edge.consent_cookie.clone(), token.to_string());
    }
}

/// The journey: (page, phase) in order; the phase is the title and says
/// which tier the edge must have decided.
const JOURNEY: [(&str, &str); 14] = [
    ("/store/", "tier2-before-opt-in"),
    ("/store/products/mug.html", "tier2-before-opt-in"),
    ("/store/products/lid.html", "tier3-after-opt-in"),
    ("/store/cart", "tier3-after-opt-in"),
    ("/store/products/mug.html", "tier2-after-opt-out"),
    ("/store/cart", "tier2-after-opt-out"),
    ("/store/checkout", "tier3-after-re-opt-in"),
    ("/store/products/lid.html", "tier2-forged-token"),
    ("/store/cart", "tier3-valid-token-again"),
    ("/store/checkout", "tier3-valid-token-again"),
    ("/store/products/mug.html", "tier2-after-erasure"),
    ("/store/", "tier2-after-erasure"),
    ("/store/cart", "anonymous"),
    ("/store/", "tier2-cookies-back"),
];

/// The String and Array(String) columns of `db.events`, from the server:
/// a column added later is searched without anyone remembering to.
async fn string_columns(stack: &Stack, db: &str) -> anyhow::Result<BTreeSet<String>> {
    let sql = format!(
        "SELECT name FROM system.columns WHERE database = '{db}' AND table = 'events' AND type IN ('String', 'Array(String)')"
    );
    Ok(rows(stack, &sql).await?.into_iter().filter_map(|r| r["name"].as_str().map(String::from)).collect())
}

/// Every non-empty value of those columns in a row, array elements included.
fn strings_of(row: &Value, columns: &BTreeSet<String>) -> Vec<String> {
    let mut out = Vec::new();
    for (name, v) in row.as_object().into_iter().flat_map(|o| o.iter()) {
        if !columns.contains(name) {
            continue;
        }
        match v {
            Value::String(s) if !s.is_empty() => out.push(s.clone()),
            Value::Array(items) => out.extend(items.iter().filter_map(Value::as_str).filter(|s| !s.is_empty()).map(String::from)),
            _ => {}
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_tier_transition_links_tier2_rows_to_the_customer() -> anyhow::Result<()> {
    let stack = start_stack("privacy_linkage", Some("203.0.113.77".parse()?)).await?;

    // The population: another visitor, never opted in, on the same pages
    // with the same browser from the same network.
    let mut other = Visitor::new(&stack, 0xb);
    for (page, phase) in JOURNEY {
        other.visit(page, phase).await?;
    }
    let population_n = JOURNEY.len() as u64;
    wait_for_count(&stack, "SELECT count() FROM t2.events", Duration::from_secs(30), |n| n >= population_n).await?;
    let population_rows = rows(&stack, "SELECT * FROM t2.events").await?;
    let t2_columns = string_columns(&stack, "t2").await?;
    let t3_columns = string_columns(&stack, "t3").await?;
    assert!(t2_columns.contains("session_id") && t3_columns.contains("customer_ref"), "{t2_columns:?} {t3_columns:?}");
    let population: BTreeSet<String> = population_rows.iter().flat_map(|r| strings_of(r, &t2_columns)).collect();
    let population_ids: BTreeSet<String> = population_rows.iter().map(|r| r["event_id"].as_str().unwrap().to_string()).collect();

    // The customer's visit, through every transition.
    let customer = "cust-linkage-7";
    let mut v = Visitor::new(&stack, 0xa);
    let mut token = String::new();
    let mut last_phase = "";
    let mut revoked_at_secs = 0;
    let tier3_n = JOURNEY.iter().filter(|(_, p)| p.starts_with("tier3")).count() as u64;
    // The customer's identified rows as they were before the erasure deleted them.
    let mut t3 = Vec::new();
    for (page, phase) in JOURNEY {
        if phase != last_phase {
            match phase {
                "tier3-after-opt-in" | "tier3-after-re-opt-in" => {
                    // Revocations void tokens issued in the same second or
                    // before: a re-opt-in is valid from the next second on.
                    let revoked_at = revoked_at_secs;
                    while (now_ms() / 1000) as u64 <= revoked_at {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    token = v.consent("opt-in", customer).await?["token"].as_str().context("no token")?.to_string();
                    v.set_consent(&token);
                }
                "tier2-after-opt-out" => {
                    v.consent("opt-out", customer).await?;
                    revoked_at_secs = (now_ms() / 1000) as u64;
                }
                "tier2-forged-token" => {
                    let mut forged = token.clone().into_bytes();
                    let last = forged.len() - 1;
                    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
                    v.set_consent(&String::from_utf8(forged)?);
                }
                "tier3-valid-token-again" => v.set_consent(&token),
                "tier2-after-erasure" => {
                    wait_for_count(&stack, "SELECT count() FROM t3.events", Duration::from_secs(30), |n| n >= tier3_n).await?;
                    t3 = rows(&stack, "SELECT * FROM t3.events FINAL").await?;
                    v.consent("erasure", customer).await?;
                }
                "tier2-cookies-back" => v.jar.remove(&stack.config.edge.consent_cookie).map(drop).unwrap_or(()),
                _ => {}
            }
            last_phase = phase;
        }
        v.visit(page, phase).await?;
    }
    wait_for_count(&stack, "SELECT count() FROM t2.events", Duration::from_secs(30), |n| n >= 2 * population_n).await?;
    // The erasure is carried out: nothing identified is left, and nothing new came.
    wait_for_count(&stack, "SELECT count() FROM t3.events", Duration::from_secs(60), |n| n == 0).await?;

    let t2 = rows(&stack, "SELECT * FROM t2.events FINAL").await?;
    assert_eq!(t3.len() as u64, tier3_n, "{t3:#?}");
    assert!(t3.iter().all(|r| r["customer_ref"] == customer));
    let mine: Vec<&Value> = t2.iter().filter(|r| !population_ids.contains(r["event_id"].as_str().unwrap())).collect();
    assert_eq!(mine.len(), JOURNEY.len(), "one t2 row per event of the journey");

    // The edge decided each phase's tier, and each phase is a session of its own.
    let mut sessions: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for r in &mine {
        let phase = r["title"].as_str().unwrap();
        let tier = r["tier"].as_str().unwrap();
        let expected = if phase == "anonymous" { "anonymous" } else { &phase[..5] };
        assert_eq!(tier, expected, "phase {phase}: {r:#}");
        sessions.entry(phase).or_default().insert(r["session_id"].as_str().unwrap());
    }
    // Phases on either side of a Tier 3 boundary never share a session
    // (anonymous → Tier 2 is no such boundary and may continue one).
    let mut epoch = BTreeMap::new();
    let (mut n, mut was_tier3) = (0, false);
    for (_, phase) in JOURNEY {
        let tier3 = phase.starts_with("tier3");
        n += usize::from(tier3 != was_tier3);
        was_tier3 = tier3;
        epoch.entry(phase).or_insert(n);
    }
    for (phase, ids) in &sessions {
        assert_eq!(ids.len(), 1, "phase {phase} is one session: {ids:?}");
        for (other_phase, other_ids) in &sessions {
            if epoch[phase] != epoch[other_phase] && !ids.contains("") {
                assert!(ids.is_disjoint(other_ids), "phases {phase} and {other_phase} share a session: {sessions:#?}");
            }
        }
    }
    assert_eq!(sessions["anonymous"], BTreeSet::from([""]), "cookies disabled: no session at all");

    // No t3 event id is a t2 event id.
    let t2_ids: BTreeSet<&str> = t2.iter().map(|r| r["event_id"].as_str().unwrap()).collect();
    for r in &t3 {
        assert!(!t2_ids.contains(r["event_id"].as_str().unwrap()), "t3 event id found in t2: {r:#}");
    }

    // The closure: what can be reached from the customer's t3 rows by exact
    // String equality, not counting values the population shares.
    let mut frontier: BTreeSet<String> =
        t3.iter().flat_map(|r| strings_of(r, &t3_columns)).filter(|s| !population.contains(s)).collect();
    let mut seen_values = frontier.clone();
    // Row index → the value that reached it.
    let mut reached: BTreeMap<usize, String> = BTreeMap::new();
    while !frontier.is_empty() {
        let mut next = BTreeSet::new();
        for (i, row) in t2.iter().enumerate() {
            let values = strings_of(row, &t2_columns);
            if let Some(via) = values.iter().find(|s| frontier.contains(*s)).filter(|_| !reached.contains_key(&i)) {
                reached.insert(i, via.clone());
                next.extend(values.into_iter().filter(|s| !population.contains(s) && seen_values.insert(s.clone())));
            }
        }
        frontier = next;
    }
    for (i, via) in &reached {
        let r = &t2[*i];
        assert_eq!(r["tier"], "tier3", "a t2 row outside the customer's Tier 3 periods is linkable from t3 through {via:?}: {r:#}");
    }
    stack.stop();
    Ok(())
}

/// Personal data as it turns up in URLs and fields, plain and encoded.
fn needles() -> [Needle; 3] {
    [Needle::Text("jane".into()), Needle::Digits("4111111111111111".into()), Needle::Digits("5558675309".into())]
}

fn personal_batch(origin: &str, tag: u32) -> Value {
    let fw_at = "\u{ff20}";
    let pages = [
        "/store/search/jane.doe@example.com".to_string(),
        "/store/orders/4111111111111111".to_string(),
        "/store/?utm_content=jane.doe%40example.com&utm_term=5558675309&utm_source=news".to_string(),
        "/store/search/jane.doe%40example.com".to_string(),
        "/store/search/JANE.DOE%2540EXAMPLE.COM".to_string(),
        format!("/store/search/jane.doe{fw_at}example.com"),
        "/store/?utm_term=555+867+5309&utm_medium=%EF%BC%A0jane.doe%40example.com".to_string(),
        "/store/account/4111-1111-1111-1111/settings".to_string(),
    ];
    let mut events: Vec<Value> = pages
        .iter()
        .enumerate()
        .map(|(i, p)| json!({"id": format!("{tag:08x}{i:024x}"), "type": "pageview", "ts": now_ms(), "url": format!("{origin}{p}"),
                             "referrer": format!("{origin}/store/customers/jane.doe@example.com")}))
        .collect();
    let n = events.len();
    let e = |i: usize, kind: &str, extra: Value| {
        let mut v = json!({"id": format!("{tag:08x}{:024x}", n + i), "type": kind, "ts": now_ms(), "url": format!("{origin}/store/")});
        v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        v
    };
    events.push(e(0, "download", json!({"target": format!("{origin}/store/files/invoice-jane.doe@example.com.pdf")})));
    events.push(e(1, "download", json!({"target": format!("{origin}/store/files/invoice-jane.doe%40example.com.pdf?x=1")})));
    events.push(e(2, "outbound", json!({"target": "jane.doe@example.com"})));
    events.push(e(3, "search", json!({"target": "jane.doe+at+example 555 867 5309"})));
    events.push(e(4, "pageview", json!({"title": "Orders of JANE.DOE%40EXAMPLE.COM"})));
    events.push(e(5, "custom", json!({"target": "signup", "props": [["note", "jane.doe%40example.com"], ["plan", "gold"]]})));
    events.push(e(6, "add_to_cart", json!({"items": [{"sku": "MUG-1", "quantity": 1}, {"sku": "jane.doe@example.com"}]})));
    events.push(e(7, "custom", json!({"target": "jane.doe@example.com"})));
    json!({"v": 1, "cookies": true, "context": {"language": "jane.doe@example.com", "time_zone": "Europe/Berlin"}, "events": events})
}

fn metric(text: &str, name: &str, labels: &str) -> u64 {
    let line = format!("{name}{{{labels}}} ");
    text.lines().find_map(|l| l.strip_prefix(&line)).and_then(|v| v.trim().parse::<f64>().ok()).map_or(0, |v| v as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_data_in_urls_and_fields_never_reaches_tier2() -> anyhow::Result<()> {
    let stack = start_stack("privacy_urls", Some("203.0.113.77".parse()?)).await?;
    let http = reqwest::Client::new();
    let origin = stack.urls.store.trim_end_matches("/store/").to_string();

    // Through the edge, as any client can send.
    let batch = personal_batch(&origin, 1);
    let n_events = batch["events"].as_array().unwrap().len() as u64;
    let resp = http
        .post(format!("{origin}/store/_mm/collect"))
        .header("origin", &origin)
        .header("user-agent", CHROME)
        .body(batch.to_string())
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 204);

    // Straight to the collector, signed, as a compromised or buggy edge could.
    let mut edge_batch = json!({"v": 1, "received_at": now_ms(), "tier": "tier2", "session_id": "5".repeat(32), "ip": "203.0.113.0",
                                "user_agent": CHROME});
    let raw = personal_batch(&origin, 2);
    edge_batch["context"] = raw["context"].clone();
    edge_batch["events"] = raw["events"].clone();
    let body = serde_json::to_vec(&edge_batch)?;
    let ring = stack.config.edge_signing_keys()?;
    let sig = signing::sign(&ring, (now_ms() / 1000) as u64, &body);
    let resp = signed_post(&http, &format!("{}/ingest", stack.urls.collector), &sig, body).send().await?;
    assert_eq!(resp.status().as_u16(), 204, "{}", resp.text().await?);

    wait_for_count(&stack, "SELECT count() FROM t2.events", Duration::from_secs(30), |n| n >= 2 * n_events).await?;
    let t2 = rows(&stack, "SELECT * FROM t2.events").await?;
    let leaked: Vec<(String, Vec<String>)> = t2
        .iter()
        .map(|r| (r["kind"].as_str().unwrap_or("").to_string(), leaks(r, &needles())))
        .filter(|(_, l)| !l.is_empty())
        .collect();
    assert!(leaked.is_empty(), "personal data in t2: {leaked:#?}");

    // Pages still count, under a placeholder; harmless campaign fields stay.
    let paths: BTreeSet<String> = t2.iter().filter_map(|r| r["path"].as_str().map(String::from)).collect();
    assert!(paths.contains("/store/orders/:redacted"), "{paths:?}");
    assert!(paths.contains("/store/search/:redacted"), "{paths:?}");
    assert!(t2.iter().any(|r| r["utm_source"] == "news"), "the harmless utm_source is kept");
    assert!(t2.iter().any(|r| r["item_skus"] == json!(["MUG-1"])), "the harmless item is kept");

    // Each layer counted what it removed, by field.
    let token = &stack.config.keys.edge_metrics_token;
    let edge_metrics = http.get(format!("{}/store/_mm/metrics", stack.urls.edge)).bearer_auth(token).send().await?.text().await?;
    for field in ["path", "campaign", "referrer", "target", "search", "title", "props", "sku", "context"] {
        let n = metric(&edge_metrics, "mintmark_edge_pii_dropped_total", &format!("layer=\"edge\",field=\"{field}\""));
        assert!(n > 0, "edge did not count {field}:\n{edge_metrics}");
    }
    let collector_metrics = http.get(format!("{}/metrics", stack.urls.collector)).send().await?.text().await?;
    for field in ["path", "campaign", "referrer", "target", "search", "title", "props", "sku", "context"] {
        let n = metric(&collector_metrics, "mintmark_collector_pii_dropped_total", &format!("field=\"{field}\""));
        assert!(n > 0, "collector did not count {field}:\n{collector_metrics}");
    }
    stack.stop();
    Ok(())
}
