//! The collector as the second privacy layer, against the real stack: it
//! trusts only batches our edge signed, and refuses a signed batch that
//! breaks a tier invariant, whatever the edge did.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mintmark_e2e::{rows, start_stack, wait_for_count};
use mintmark_protocol::consent::OptInSource;
use mintmark_protocol::keys::KeyRing;
use mintmark_e2e::load::signed_post;
use mintmark_protocol::bundle::{self, Receipt, Refused};
use mintmark_protocol::signing::{self, BatchSignature, Payload};
use mintmark_protocol::wire::{BeaconEvent, EdgeBatch, EventKind, Identity, PageContext, Tier};

const SID: &str = "5e55105e55105e55105e55105e55105e";

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

fn batch(tier: Tier, ip: &str, event_id: &str) -> EdgeBatch {
    EdgeBatch {
        v: 1,
        received_at: now_ms(),
        tier,
        session_id: (tier != Tier::Anonymous).then(|| SID.to_string()),
        identity: (tier == Tier::Tier3).then(|| Identity {
            visitor_id: "7".repeat(32),
            customer_ref: "cust-123".into(),
            consent_source: OptInSource::Registration,
            policy_version: 1,
            consent_issued_at: 0,
        }),
        sealed: None,
        ip: ip.into(),
        user_agent: "Mozilla/5.0".into(),
        context: PageContext::default(),
        events: vec![BeaconEvent::new(event_id, EventKind::Pageview, now_ms(), "https://shop.example.gov/store/cart")],
    }
}

async fn post(url: &str, ring: &KeyRing, body: &[u8], tamper: bool) -> (u16, String) {
    let sig = signing::sign(ring, now_ms() / 1000, body);
    let mut sent = body.to_vec();
    if tamper {
        sent.push(b' ');
    }
    let resp = signed_post(&reqwest::Client::new(), url, &sig, sent)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_verifies_signatures_and_enforces_tiers() -> anyhow::Result<()> {
    let stack = start_stack("collector_ingest", None).await?;
    let ingest = format!("{}/ingest", stack.urls.collector);
    let ring = stack.config.edge_signing_keys()?;

    // Unsigned, tampered, and signed by a key the collector does not know.
    let body = serde_json::to_vec(&batch(Tier::Tier2, "203.0.113.0", &"1".repeat(32)))?;
    let unsigned = reqwest::Client::new().post(&ingest).body(body.clone()).send().await?;
    assert_eq!(unsigned.status().as_u16(), 401);
    assert_eq!(post(&ingest, &ring, &body, true).await, (401, r#"{"error":"signature_mismatch"}"#.into()));
    let stranger = KeyRing::parse([("edge-1", "99".repeat(32).as_str())])?;
    assert_eq!(post(&ingest, &stranger, &body, false).await.0, 401);

    // Signed, but a full IP below Tier 3, or an identity on Tier 2: refused.
    let full_ip = serde_json::to_vec(&batch(Tier::Tier2, "203.0.113.77", &"2".repeat(32)))?;
    assert_eq!(post(&ingest, &ring, &full_ip, false).await, (422, r#"{"error":"tier_violation"}"#.into()));
    let mut smuggled = batch(Tier::Tier2, "203.0.113.0", &"3".repeat(32));
    smuggled.identity = batch(Tier::Tier3, "203.0.113.77", "x").identity;
    assert_eq!(post(&ingest, &ring, &serde_json::to_vec(&smuggled)?, false).await.0, 422);

    // Valid anonymous, Tier 2 and Tier 3 batches are stored.
    let anonymous = serde_json::to_vec(&batch(Tier::Anonymous, "203.0.113.0", &"0".repeat(32)))?;
    assert_eq!(post(&ingest, &ring, &anonymous, false).await.0, 204);
    assert_eq!(post(&ingest, &ring, &body, false).await.0, 204);
    // A Tier 3 identity only crosses sealed: in the clear it is refused,
    // sealed under the customer's opt-in key it is stored.
    let mut tier3 = batch(Tier::Tier3, "203.0.113.77", &"4".repeat(32));
    assert_eq!(post(&ingest, &ring, &serde_json::to_vec(&tier3)?, false).await, (422, r#"{"error":"tier_violation"}"#.into()));
    let ids = collector::pseudonym::Pseudonyms::from_keys(&stack.config.keys)?;
    let seals = collector::seal_keys::SealKeys::new(mintmark_schema::client(&stack.config.clickhouse), "ledger", ids.clone());
    let key = seals.mint(ids.subject("cust-123").as_str(), (now_ms() / 1000) as u32).await?;
    mintmark_e2e::load::seal(&mut tier3, &key.kid, &key.key);
    let tier3 = serde_json::to_vec(&tier3)?;
    assert!(!String::from_utf8_lossy(&tier3).contains("cust-123"));
    assert_eq!(post(&ingest, &ring, &tier3, false).await.0, 204);

    // Replay: the very same signed request again.
    let replay_body = serde_json::to_vec(&batch(Tier::Tier2, "203.0.113.0", &"5".repeat(32)))?;
    let sig = signing::sign(&ring, now_ms() / 1000, &replay_body);
    let send = |body: Vec<u8>, timestamp: u64, mac_hex: String| {
        let sig = BatchSignature { key_id: "edge-1".into(), timestamp, mac_hex };
        signed_post(&reqwest::Client::new(), &ingest, &sig, body).send()
    };
    assert_eq!(send(replay_body.clone(), sig.timestamp, sig.mac_hex.clone()).await?.status().as_u16(), 204);
    let again = send(replay_body, sig.timestamp, sig.mac_hex).await?;
    assert_eq!((again.status().as_u16(), again.text().await?), (409, r#"{"error":"replayed"}"#.to_string()));
    // Stale: signed ten minutes ago.
    let stale_ts = now_ms() / 1000 - 600;
    let stale_body = serde_json::to_vec(&batch(Tier::Tier2, "203.0.113.0", &"6".repeat(32)))?;
    let stale = signing::sign(&ring, stale_ts, &stale_body);
    let r = send(stale_body, stale_ts, stale.mac_hex).await?;
    assert_eq!((r.status().as_u16(), r.text().await?), (401, r#"{"error":"signature_stale"}"#.to_string()));
    // Oversize and signed garbage.
    assert_eq!(post(&ingest, &ring, &vec![b' '; 200 * 1024], false).await, (413, r#"{"error":"too_large"}"#.into()));
    assert_eq!(post(&ingest, &ring, b"{\"v\":1}", false).await, (422, r#"{"error":"malformed"}"#.into()));

    wait_for_count(&stack, "SELECT count() FROM t2.events", Duration::from_secs(10), |n| n >= 4).await?;
    wait_for_count(&stack, "SELECT count() FROM t3.events", Duration::from_secs(10), |n| n >= 1).await?;
    let t2 = rows(&stack, "SELECT event_id, tier, ip_prefix, session_id FROM t2.events FINAL ORDER BY tier").await?;
    assert_eq!(t2.len(), 4, "refused batches left no rows, the replay no second row: {t2:?}");
    assert_eq!((t2[0]["tier"].as_str(), t2[0]["session_id"].as_str()), (Some("anonymous"), Some("")), "anonymous: no id at all");
    assert_eq!(t2[3]["tier"], "tier3");
    assert_eq!(t2[3]["ip_prefix"], "203.0.113.0", "the t2 copy of a Tier 3 event is de-identified");
    // Stored ids are the collector's keyed pseudonyms, never the wire's.
    assert!(t2.iter().all(|r| !r.to_string().contains(SID)), "no wire session id in t2: {t2:?}");
    assert!(t2.iter().all(|r| r["event_id"] != "4".repeat(32) && r["event_id"] != "0".repeat(32)), "{t2:?}");
    let t3 = rows(&stack, "SELECT * FROM t3.events").await?;
    assert_eq!(t3.len(), 1, "only the Tier 3 event has an identified row");
    assert_eq!(t3[0]["ip"], "203.0.113.77");
    assert_eq!(t3[0]["customer_ref"], "cust-123");
    assert!(t3[0].get("session_id").is_none(), "t3 has no session column at all: {:?}", t3[0]);
    assert!(!t3[0].to_string().contains(SID), "no session id anywhere in a t3 row");
    assert!(t3[0]["event_id"] != "4".repeat(32) && t3[0]["event_id"] != t2[3]["event_id"], "the two copies share no id: {t3:?} {t2:?}");

    // Every refusal was counted by reason.
    let metrics = reqwest::get(format!("{}/metrics", stack.urls.collector)).await?.text().await?;
    for (reason, n) in [
        ("signature_malformed", 1),
        ("signature_mismatch", 2),
        ("signature_stale", 1),
        ("tier_violation", 3),
        ("replayed", 1),
        ("malformed", 1),
        ("too_large", 1),
    ] {
        let line = format!("mintmark_collector_rejected_total{{reason=\"{reason}\"}} {n}");
        assert!(metrics.contains(&line), "missing {line} in\n{metrics}");
    }
    let ready = reqwest::get(format!("{}/readyz", stack.urls.collector)).await?;
    assert_eq!(ready.status().as_u16(), 200);

    // A bundle (the edge's queue consumer): each batch judged alone.
    let parts = [
        serde_json::to_string(&batch(Tier::Tier2, "203.0.113.0", &"7".repeat(32)))?,
        serde_json::to_string(&batch(Tier::Tier2, "203.0.113.77", &"8".repeat(32)))?,
        serde_json::to_string(&batch(Tier::Anonymous, "203.0.113.0", &"9".repeat(32)))?,
    ];
    let bundled = bundle::assemble(parts.iter().map(String::as_str)).into_bytes();
    let send_bundle = |payload: Payload, timestamp: u64| {
        let sig = signing::sign_payload(&ring, payload, timestamp, &bundled);
        signed_post(&reqwest::Client::new(), &ingest, &sig, bundled.clone()).header("content-type", bundle::CONTENT_TYPE).send()
    };
    let now = now_ms() / 1000;
    let r = send_bundle(Payload::Bundle, now).await?;
    assert_eq!(r.status().as_u16(), 200);
    let receipt: Receipt = r.json().await?;
    assert_eq!(receipt, Receipt { accepted: 2, refused: vec![Refused { index: 1, status: 422, reason: "tier_violation".into() }] });
    // The very request again is a replay; a batch signature does not pass for a bundle's.
    assert_eq!(send_bundle(Payload::Bundle, now).await?.status().as_u16(), 409);
    assert_eq!(send_bundle(Payload::Batch, now - 2).await?.status().as_u16(), 401);
    // A redelivery signed anew is accepted, and collapses on event id.
    let again: Receipt = send_bundle(Payload::Bundle, now - 1).await?.json().await?;
    assert_eq!(again.accepted, 2);
    wait_for_count(&stack, "SELECT count() FROM t2.events", Duration::from_secs(10), |n| n >= 6).await?;
    let t2 = rows(&stack, "SELECT tier FROM t2.events FINAL").await?;
    assert_eq!(t2.len(), 6, "two bundled batches kept once each, the refused one not at all: {t2:?}");

    stack.stop();
    Ok(())
}
