//! Consent end to end, through every real component: the store's backend
//! calls the collector's consent API, the store sets the cookie, beacons go
//! through the store front to the edge in workerd, rows land in ClickHouse.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mintmark_e2e::{rows, start_stack, wait_for_count};
use serde_json::{json, Value};

const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";

fn beacon(store_origin: &str, n: u32) -> String {
    let ts = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis();
    format!(
        r#"{{"v":1,"cookies":true,"events":[{{"id":"{n:032x}","type":"pageview","ts":{ts},"title":"step {n}","url":"{store_origin}/store/products/mug.html"}}]}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opt_in_opt_out_and_erasure_through_the_stack() -> anyhow::Result<()> {
    let stack = start_stack("consent_flow", Some("203.0.113.77".parse()?)).await?;
    let http = reqwest::Client::new();
    let api = |path: &str| format!("{}/consent/{path}", stack.urls.collector);
    let key = stack.config.keys.backend_key(mintmark_config::BackendScope::Consent).expect("a consent key");
    let erasure_key = stack.config.keys.backend_secret_for("/consent/erasure");
    let store_origin = stack.urls.store.trim_end_matches("/store/").to_string();
    let send = |cookie: String, n: u32| {
        http.post(format!("{store_origin}/store/_mm/collect"))
            .header("origin", &store_origin)
            .header("user-agent", CHROME)
            .header("cookie", cookie)
            .body(beacon(&store_origin, n))
            .send()
    };

    // Before opting in, the visit is Tier 2.
    let first = send(String::new(), 1).await?;
    assert_eq!(first.status().as_u16(), 204);
    let sid = first.headers()["set-cookie"].to_str()?.split(';').next().unwrap().to_string();

    // The API refuses callers without a key, and marketplace consent.
    let no_key = http.post(api("opt-in")).json(&json!({"customer_ref": "c-1", "source": "purchase", "policy_version": 3})).send().await?;
    assert_eq!(no_key.status().as_u16(), 401);
    let marketplace = http
        .post(api("opt-in"))
        .bearer_auth(&key.secret)
        .json(&json!({"customer_ref": "mkt-1", "source": "marketplace", "policy_version": 3}))
        .send()
        .await?;
    assert_eq!(marketplace.status().as_u16(), 422);
    assert!(marketplace.text().await?.contains("marketplace orders never"));

    // Opt-in: a token and the cookie the store sets.
    let opt_in: Value = http
        .post(api("opt-in"))
        .bearer_auth(&key.secret)
        .json(&json!({"customer_ref": "c-1", "source": "email_subscription", "policy_version": 3}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let set_cookie = opt_in["set_cookie"].as_str().unwrap();
    for attr in ["mm_consent=", "Path=/store", "Secure", "HttpOnly", "SameSite=Lax", "Max-Age=31536000"] {
        assert!(set_cookie.contains(attr), "{attr} missing from {set_cookie}");
    }
    let consent = format!("mm_consent={}", opt_in["token"].as_str().unwrap());

    // The next beacon is Tier 3: a persistent cookie, identified t3 row.
    let tier3 = send(format!("{sid}; {consent}"), 2).await?;
    assert_eq!(tier3.status().as_u16(), 204);
    let vid_cookie = tier3.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).find(|c| c.starts_with("mm_vid=")).expect("persistent cookie");
    let vid = vid_cookie.split(';').next().unwrap().to_string();
    wait_for_count(&stack, "SELECT count() FROM t3.events", Duration::from_secs(20), |n| n >= 1).await?;
    let t3 = rows(&stack, "SELECT event_id, customer_ref, ip, consent_source, policy_version FROM t3.events").await?;
    assert_eq!(t3.len(), 1, "the event before the opt-in is not linked to the customer: {t3:?}");
    assert_ne!(t3[0]["event_id"], format!("{:032x}", 2), "stored ids are pseudonyms");
    assert_eq!((t3[0]["customer_ref"].as_str(), t3[0]["ip"].as_str()), (Some("c-1"), Some("203.0.113.77")));
    assert_eq!((t3[0]["consent_source"].as_str(), t3[0]["policy_version"].as_u64()), (Some("email_subscription"), Some(3)));

    // Opt-out: the very next request is Tier 2 and the persistent cookie goes.
    let out = http.post(api("opt-out")).bearer_auth(&key.secret).json(&json!({"customer_ref": "c-1"})).send().await?;
    assert_eq!(out.status().as_u16(), 200);
    let after = send(format!("{sid}; {vid}; {consent}"), 3).await?;
    let deleted: Vec<String> = after.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
    assert!(deleted.iter().any(|c| c.starts_with("mm_vid=;") && c.contains("Max-Age=0")), "{deleted:?}");
    wait_for_count(&stack, "SELECT count() FROM t2.events", Duration::from_secs(20), |n| n >= 3).await?;
    let t2 = rows(&stack, "SELECT event_id, tier, ip_prefix FROM t2.events ORDER BY title").await?;
    let tiers: Vec<&str> = t2.iter().map(|r| r["tier"].as_str().unwrap()).collect();
    assert_eq!(tiers, ["tier2", "tier3", "tier2"], "before opt-in, opted in, after opt-out");
    assert!(t2.iter().all(|r| r["ip_prefix"] == "203.0.113.0"), "t2 never holds the full IP: {t2:?}");
    let t3_count = stack.clickhouse_query("SELECT count() FROM t3.events").await?;
    assert_eq!(t3_count.trim(), "1", "nothing identified after the opt-out");

    // Everything is in the ledger with the caller's key id and the scope it
    // used. (Read before the erasure: the collector's erasure job removes
    // the customer's consent history, then the request, in the background.)
    let ledger = rows(&stack, "SELECT action, customer_ref, api_key_id, api_key_scope FROM ledger.consent_ledger ORDER BY at, action").await?;
    let actions: Vec<&str> = ledger.iter().map(|r| r["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["opt_in", "opt_out"], "{ledger:?}");
    assert!(ledger.iter().all(|r| r["customer_ref"] == "c-1" && r["api_key_id"] == key.id.as_str() && r["api_key_scope"] == "consent"), "{ledger:?}");

    // Erasure is recorded, then carried out: the completing evidence, and
    // nothing of the customer left in the ledger.
    let erase = http.post(api("erasure")).bearer_auth(erasure_key).json(&json!({"customer_ref": "c-1", "note": "account closed"})).send().await?;
    assert_eq!(erase.status().as_u16(), 202);
    wait_for_count(&stack, "SELECT count() FROM ledger.purge_log WHERE kind = 'erasure' AND done = 1", Duration::from_secs(60), |n| n == 1).await?;
    wait_for_count(&stack, "SELECT count() FROM ledger.consent_ledger WHERE customer_ref = 'c-1'", Duration::from_secs(60), |n| n == 0).await?;
    stack.stop();
    Ok(())
}
