use super::*;
use mintmark_protocol::redact::PiiField;
use crate::tier::{apply_revocation, consent_cookie};
use mintmark_protocol::consent::{self, ConsentClaims, OptInSource};
use mintmark_protocol::keys::KeyRing;
use mintmark_protocol::scope::StoreScope;
use mintmark_protocol::settings::{DeliverySettings, EdgeSettings};

const NOW_MS: u64 = 1_800_000_000_000;
const NOW: u64 = NOW_MS / 1000;
const SID: &str = "5e55105e55105e55105e55105e55105e";
const VID: &str = "0123456789abcdef0123456789abcdef";
const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
const STORE: &str = "https://shop.example.gov";

fn keys() -> EdgeKeys {
    EdgeKeys {
        settings: EdgeSettings {
            scope: StoreScope::new([STORE], ["/store"]),
            beacon_path: "/store/_mm/collect".into(),
            collector_url: "http://127.0.0.1:1/ingest".into(),
            collector_failover_urls: Vec::new(),
            cookie_path: "/store".into(),
            consent_cookie: "mm_consent".into(),
            session_cookie: "mm_sid".into(),
            visitor_cookie: "mm_vid".into(),
            session_idle_secs: 1800,
            visitor_max_age_secs: 365 * 86_400,
            rate_limit_per_minute: 60,
            delivery: DeliverySettings { retry_base_secs: 2, retry_max_secs: 300, timeout_ms: 10_000 },
        },
        signing: KeyRing::parse([("e1", "abababababababababababababababababababababababababababababababab")]).unwrap(),
        consent: KeyRing::parse([("c1", "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd")]).unwrap(),
        metrics_token: None,
    }
}

fn body(cookies: bool, url: &str) -> Vec<u8> {
    format!(r#"{{"v":1,"cookies":{cookies},"events":[{{"id":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","type":"pageview","ts":1,"url":"{url}"}}]}}"#)
        .into_bytes()
}

const SEAL_KID: &str = "66666666666666666666666666666666";
const SEAL_KEY: [u8; 32] = [6; 32];

fn token(exp: u64) -> String {
    let claims = ConsentClaims {
        customer_ref: "cust-7".into(),
        source: OptInSource::EmailSubscription,
        policy_version: 2,
        issued_at: NOW - 10,
        expires_at: exp,
        subject: "77777777777777777777777777777777".into(),
        seal_kid: SEAL_KID.into(),
        seal_key: mintmark_protocol::seal::encode_key(&SEAL_KEY),
    };
    consent::mint(&keys().consent, &claims).unwrap()
}

fn request<'a>(cookie: Option<&'a str>, body: &'a [u8], ip: &'a str) -> Incoming<'a> {
    Incoming {
        method: "POST",
        path: "/store/_mm/collect",
        origin: Some(STORE),
        cookie,
        client_ip: Some(ip),
        user_agent: UA,
        body,
        now_ms: NOW_MS,
    }
}

/// precheck → consent (with a revocation lookup result) → decide.
fn run_with(req: &Incoming<'_>, revocation: Result<Option<u64>, ()>) -> Reply {
    let k = keys();
    let checked = match precheck(&k, req) {
        Ok(c) => c,
        Err(reply) => return reply,
    };
    let consent = apply_revocation(consent_cookie(req.cookie, &k.settings.consent_cookie, &k.consent, NOW), revocation);
    let mut n = 0u8;
    decide(&k, req, checked, consent, &mut || {
        n += 1;
        format!("{:032x}", n)
    })
}

fn run(cookie: Option<&str>, body: &[u8], ip: &str) -> Reply {
    run_with(&request(cookie, body, ip), Ok(None))
}

fn cookies_set(r: &Reply) -> Vec<&str> {
    r.headers.iter().filter(|(k, _)| *k == "set-cookie").map(|(_, v)| v.as_str()).collect()
}

fn forwarded(r: &Reply) -> &EdgeBatch {
    r.forward.as_ref().unwrap_or_else(|| panic!("nothing forwarded: {r:?}"))
}

#[test]
fn tier2_gets_a_new_session_cookie_and_a_truncated_ip() {
    let r = run(None, &body(true, "https://shop.example.gov/store/"), "203.0.113.77");
    assert_eq!(r.status, 204);
    let f = forwarded(&r);
    assert_eq!((f.tier, f.ip.as_str()), (Tier::Tier2, "203.0.113.0"));
    assert_eq!(f.session_id.as_deref(), Some("00000000000000000000000000000001"));
    assert!(f.identity.is_none());
    assert_eq!(cookies_set(&r), [format!("mm_sid=00000000000000000000000000000001.{NOW}.2; HttpOnly; SameSite=Lax; Secure; Path=/store")]);
    assert_eq!(r.outcome, Outcome::Accepted {
            tier: Tier::Tier2,
            session_started: Some(SessionStart::New),
            consent_rejected: None,
            props: Default::default(),
        });
}

#[test]
fn continuing_session_is_kept_without_a_new_cookie() {
    let cookie = format!("mm_sid={SID}.{}.2", NOW - 5);
    let r = run(Some(&cookie), &body(true, "https://shop.example.gov/store/x"), "2001:db8:abcd:12::1");
    assert_eq!(forwarded(&r).session_id.as_deref(), Some(SID));
    assert_eq!(forwarded(&r).ip, "2001:db8:abcd::");
    assert!(cookies_set(&r).is_empty());
}

#[test]
fn idle_and_external_entry_rotate_the_session() {
    let idle = format!("mm_sid={SID}.{}.2", NOW - 1801);
    let r = run(Some(&idle), &body(true, "https://shop.example.gov/store/"), "203.0.113.1");
    assert_ne!(forwarded(&r).session_id.as_deref(), Some(SID));
    assert!(matches!(r.outcome, Outcome::Accepted { session_started: Some(SessionStart::Idle), .. }));
    let fresh = format!("mm_sid={SID}.{NOW}.2");
    let external = br#"{"v":1,"cookies":true,"events":[{"id":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","type":"pageview","ts":1,"url":"https://shop.example.gov/store/","referrer":"https://search.example/?q=mugs"}]}"#;
    let r = run(Some(&fresh), external, "203.0.113.1");
    assert_ne!(forwarded(&r).session_id.as_deref(), Some(SID));
    assert!(matches!(r.outcome, Outcome::Accepted { session_started: Some(SessionStart::ExternalEntry), .. }));
}

#[test]
fn cookies_disabled_is_anonymous_without_any_id() {
    let r = run(Some(&format!("mm_consent={}", token(NOW + 60))), &body(false, "https://shop.example.gov/store/"), "::ffff:198.51.100.200");
    let f = forwarded(&r);
    assert_eq!((f.tier, f.ip.as_str()), (Tier::Anonymous, "198.51.100.0"));
    assert!(f.session_id.is_none() && f.identity.is_none());
    assert!(cookies_set(&r).is_empty());
}

#[test]
fn valid_consent_is_tier3_with_full_ip_and_persistent_cookie() {
    let cookie = format!("mm_sid={SID}.{NOW}.3; mm_consent={}", token(NOW + 3600));
    let r = run(Some(&cookie), &body(true, "https://shop.example.gov/store/"), "203.0.113.77");
    let f = forwarded(&r);
    // Forwarded, the identity and the full address are sealed under the token's key.
    assert_eq!((f.tier, f.ip.as_str(), f.identity.as_ref()), (Tier::Tier3, "203.0.113.0", None));
    let wire = serde_json::to_string(f).unwrap();
    for clear in ["cust-7", "203.0.113.77", "email_subscription"] {
        assert!(!wire.contains(clear), "{clear} in the clear: {wire}");
    }
    let sealed = f.sealed.as_deref().unwrap();
    assert_eq!(mintmark_protocol::seal::kid(sealed), Some(SEAL_KID));
    let opened = mintmark_protocol::seal::open(&SEAL_KEY, sealed).unwrap();
    assert_eq!(opened.ip, "203.0.113.77");
    let id = &opened.identity;
    assert_eq!(id.customer_ref, "cust-7");
    let set = cookies_set(&r);
    assert_eq!(set.len(), 1);
    assert!(set[0].starts_with(&format!("mm_vid={}; ", id.visitor_id)));
    for attr in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/store", "Max-Age=31536000"] {
        assert!(set[0].contains(attr), "{attr} missing: {}", set[0]);
    }
}

#[test]
fn expired_forged_or_revoked_consent_is_tier2_and_deletes_the_visitor_cookie() {
    for (tok, revocation, reason) in [
        (token(NOW - 1), Ok(None), "expired"),
        ("mm1.c1.e30.AAAA".to_string(), Ok(None), "bad_signature"),
        (token(NOW + 60), Ok(Some(NOW)), "revoked"),
    ] {
        let cookie = format!("mm_sid={SID}.{NOW}.3; mm_vid={VID}; mm_consent={tok}");
        let r = run_with(&request(Some(&cookie), &body(true, "https://shop.example.gov/store/"), "203.0.113.77"), revocation);
        let f = forwarded(&r);
        assert_eq!((f.tier, f.ip.as_str()), (Tier::Tier2, "203.0.113.0"), "{reason}");
        assert!(f.identity.is_none());
        // Tier 3 ended: a new session, and the persistent id goes.
        assert_ne!(f.session_id.as_deref(), Some(SID), "{reason}");
        assert_eq!(cookies_set(&r), [
            format!("mm_sid={}.{NOW}.2; HttpOnly; SameSite=Lax; Secure; Path=/store", f.session_id.as_deref().unwrap()),
            "mm_vid=; HttpOnly; SameSite=Lax; Secure; Path=/store; Max-Age=0".to_string(),
        ], "{reason}");
        assert!(matches!(r.outcome, Outcome::Accepted { consent_rejected: Some(x), .. } if x == reason), "{:?}", r.outcome);
    }
}

#[test]
fn unreachable_revocation_store_gives_tier2_but_keeps_the_visitor_cookie() {
    let cookie = format!("mm_sid={SID}.{NOW}.3; mm_vid={VID}; mm_consent={}", token(NOW + 60));
    let r = run_with(&request(Some(&cookie), &body(true, "https://shop.example.gov/store/"), "203.0.113.77"), Err(()));
    assert_eq!(forwarded(&r).tier, Tier::Tier2);
    assert_eq!(forwarded(&r).ip, "203.0.113.0");
    // Served as Tier 2, so in a Tier 2 session of its own; the visitor cookie stays.
    let set = cookies_set(&r);
    assert!(set.len() == 1 && set[0].starts_with("mm_sid=") && set[0].contains(".2;"), "{set:?}");
}

#[test]
fn opt_out_removes_a_leftover_visitor_cookie() {
    let cookie = format!("mm_sid={SID}.{NOW}.2; mm_vid={VID}");
    let r = run(Some(&cookie), &body(true, "https://shop.example.gov/store/"), "203.0.113.77");
    assert_eq!(forwarded(&r).tier, Tier::Tier2);
    assert_eq!(cookies_set(&r), ["mm_vid=; HttpOnly; SameSite=Lax; Secure; Path=/store; Max-Age=0"]);
}

#[test]
fn tier3_begins_and_ends_with_a_new_session() {
    // Tier 2 session, then the consent cookie arrives.
    let cookie = format!("mm_sid={SID}.{NOW}.2; mm_consent={}", token(NOW + 3600));
    let r = run(Some(&cookie), &body(true, "https://shop.example.gov/store/"), "203.0.113.77");
    let tier3_sid = forwarded(&r).session_id.clone().unwrap();
    assert_eq!(forwarded(&r).tier, Tier::Tier3);
    assert_ne!(tier3_sid, SID, "the Tier 3 period starts a session of its own");
    assert!(matches!(r.outcome, Outcome::Accepted { session_started: Some(SessionStart::TierChange), .. }));
    assert!(cookies_set(&r).iter().any(|c| *c == format!("mm_sid={tier3_sid}.{NOW}.3; HttpOnly; SameSite=Lax; Secure; Path=/store")));
    // Within Tier 3 it continues.
    let cookie = format!("mm_sid={tier3_sid}.{NOW}.3; mm_consent={}", token(NOW + 3600));
    let r = run(Some(&cookie), &body(true, "https://shop.example.gov/store/x"), "203.0.113.77");
    assert_eq!(forwarded(&r).session_id.as_deref(), Some(tier3_sid.as_str()));
    // Consent gone for any reason: the next request is a new Tier 2 session.
    let cookie = format!("mm_sid={tier3_sid}.{NOW}.3");
    let r = run(Some(&cookie), &body(true, "https://shop.example.gov/store/x"), "203.0.113.77");
    // (The test's id source restarts per request, so compare the cookie, not the id.)
    let after = forwarded(&r).session_id.clone().unwrap();
    assert!(cookies_set(&r).iter().any(|c| c.starts_with(&format!("mm_sid={after}.{NOW}.2;"))), "{:?}", cookies_set(&r));
    assert!(matches!(r.outcome, Outcome::Accepted { session_started: Some(SessionStart::TierChange), .. }));
}

#[test]
fn bad_requests_are_refused_with_reasons() {
    let ok = body(true, "https://shop.example.gov/store/");
    let base = request(None, &ok, "203.0.113.1");
    let reply = |req: Incoming<'_>| run_with(&req, Ok(None));
    let r = reply(Incoming { method: "GET", ..base.clone() });
    assert_eq!((r.status, r.body.as_deref()), (405, Some(r#"{"error":"method_not_allowed"}"#)));
    assert_eq!(reply(Incoming { path: "/store/other", ..base.clone() }).status, 404);
    assert_eq!(reply(Incoming { origin: Some("https://evil.example"), ..base.clone() }).status, 403);
    assert_eq!(reply(Incoming { client_ip: None, ..base.clone() }).outcome, Outcome::Rejected("no_client_ip"));
    assert_eq!(reply(Incoming { body: b"{}", ..base.clone() }).status, 400);
    let big = vec![b' '; MAX_BEACON_BYTES + 1];
    assert_eq!(reply(Incoming { body: &big, ..base.clone() }).status, 413);
    let outside = body(true, "https://shop.example.gov/about/");
    assert_eq!(reply(Incoming { body: &outside, ..base.clone() }).outcome, Outcome::Rejected("out_of_scope"));
    for r in [reply(Incoming { method: "PUT", ..base.clone() }), reply(Incoming { body: b"x", ..base.clone() })] {
        assert!(r.forward.is_none() && cookies_set(&r).is_empty());
    }
    // A malformed batch says what is wrong with it.
    let unknown = String::from_utf8(ok.clone()).unwrap().replacen("\"cookies\"", "\"email\":\"x\",\"cookies\"", 1);
    let r = reply(Incoming { body: unknown.as_bytes(), ..base.clone() });
    let answer: serde_json::Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
    assert_eq!((r.status, answer["error"].as_str()), (400, Some("malformed")), "{answer}");
    assert!(answer["detail"].as_str().unwrap().contains("unknown field `email`"), "{answer}");
}

#[test]
fn two_consent_cookies_make_a_tier2_request() {
    let tok = token(NOW + 3600);
    let cookie = format!("mm_sid={SID}.{NOW}.3; mm_consent=planted-by-another-script; mm_consent={tok}");
    let r = run(Some(&cookie), &body(true, "https://shop.example.gov/store/"), "203.0.113.77");
    let f = forwarded(&r);
    assert_eq!((f.tier, f.ip.as_str()), (Tier::Tier2, "203.0.113.0"));
    assert!(f.identity.is_none());
    assert!(matches!(r.outcome, Outcome::Accepted { consent_rejected: Some("duplicate_cookie"), .. }), "{:?}", r.outcome);
    let same_twice = format!("mm_consent={tok}; mm_consent={tok}");
    assert_eq!(forwarded(&run(Some(&same_twice), &body(true, "https://shop.example.gov/store/"), "203.0.113.77")).tier, Tier::Tier2);
}

#[test]
fn bots_are_answered_but_dropped() {
    let ok = body(true, "https://shop.example.gov/store/");
    let r = run_with(&Incoming { user_agent: "Mozilla/5.0 (compatible; bingbot/2.0)", ..request(None, &ok, "203.0.113.1") }, Ok(None));
    assert_eq!((r.status, r.outcome.clone()), (204, Outcome::Bot));
    assert!(r.forward.is_none() && cookies_set(&r).is_empty());
}

#[test]
fn cors_answers_store_origins_only() {
    let ok = body(true, "https://shop.example.gov/store/");
    let pre = run_with(&Incoming { method: "OPTIONS", body: b"", ..request(None, &ok, "203.0.113.1") }, Ok(None));
    assert_eq!((pre.status, pre.outcome.clone()), (204, Outcome::Preflight));
    assert!(pre.headers.contains(&("access-control-allow-origin", STORE.to_string())));
    assert!(pre.headers.contains(&("access-control-allow-credentials", "true".to_string())));
    let evil = run_with(&Incoming { method: "OPTIONS", origin: Some("https://evil.example"), ..request(None, &ok, "203.0.113.1") }, Ok(None));
    assert_eq!(evil.status, 403);
    assert!(!evil.headers.iter().any(|(k, _)| k.starts_with("access-control")));
    let post = run(None, &ok, "203.0.113.1");
    assert!(post.headers.contains(&("access-control-allow-origin", STORE.to_string())));
}

#[test]
fn personal_props_that_slip_past_a_beacon_are_dropped_and_counted() {
    // What a modified beacon might send: props the real one would have dropped.
    let body = br#"{"v":1,"cookies":true,"pii_dropped":3,"errors":1,"events":[{"id":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","type":"custom",
        "ts":1,"url":"https://shop.example.gov/store/","target":"signup","props":[["plan","gold"],["email","jane@example.com"],
        ["note","call +1 555 867 5309"],["step",2]]}]}"#;
    let r = run(None, body, "203.0.113.77");
    assert_eq!(r.status, 204);
    let sent = serde_json::to_string(&forwarded(&r).events).unwrap();
    assert!(!sent.contains("jane@") && !sent.contains("867") && !sent.contains("email"), "{sent}");
    assert!(sent.contains("gold") && sent.contains("step"), "{sent}");
    let Outcome::Accepted { props, .. } = r.outcome else { panic!("{:?}", r.outcome) };
    assert_eq!((props.pii_dropped_by_beacon, props.pii_dropped_by_edge.get(PiiField::Props), props.beacon_errors), (3, 2, 1));
    assert_eq!(props.pii_dropped_by_edge.total(), 2);
}

#[test]
fn a_batch_the_queue_refused_is_a_503_the_beacon_retries() {
    let r = Reply::unavailable(5);
    assert_eq!(r.status, 503);
    assert!(r.headers.contains(&("retry-after", "5".to_string())));
    assert_eq!(r.body.as_deref(), Some(r#"{"error":"queue_unavailable"}"#));
    assert!(r.forward.is_none());
    assert!(matches!(r.outcome, Outcome::Rejected("queue_unavailable")));
}
