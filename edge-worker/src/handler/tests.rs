use super::*;
use mintmark_protocol::consent::{self, ConsentClaims, OptInSource};
use mintmark_protocol::keys::KeyRing;
use mintmark_protocol::scope::StoreScope;
use mintmark_protocol::settings::EdgeSettings;

const NOW_MS: u64 = 1_800_000_000_000;
const SID: &str = "5e55105e55105e55105e55105e55105e";
const VID: &str = "0123456789abcdef0123456789abcdef";

fn keys() -> EdgeKeys {
    EdgeKeys {
        settings: EdgeSettings {
            scope: StoreScope::new(["https://shop.example.gov"], ["/store"]),
            beacon_path: "/store/_mm/collect".into(),
            collector_url: "http://127.0.0.1:1/ingest".into(),
            cookie_path: "/store".into(),
            consent_cookie: "mm_consent".into(),
            session_cookie: "mm_sid".into(),
            visitor_cookie: "mm_vid".into(),
            session_idle_secs: 1800,
            visitor_max_age_secs: 365 * 86_400,
        },
        signing: KeyRing::parse([("e1", "abababababababababababababababababababababababababababababababab")]).unwrap(),
        consent: KeyRing::parse([("c1", "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd")]).unwrap(),
    }
}

fn body(cookies: bool, url: &str) -> Vec<u8> {
    format!(r#"{{"v":1,"cookies":{cookies},"events":[{{"id":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","type":"pageview","ts":1,"url":"{url}"}}]}}"#)
        .into_bytes()
}

fn token(exp: u64) -> String {
    let claims = ConsentClaims {
        customer_ref: "cust-7".into(),
        source: OptInSource::EmailSubscription,
        policy_version: 2,
        issued_at: NOW_MS / 1000 - 10,
        expires_at: exp,
    };
    consent::mint(&keys().consent, &claims).unwrap()
}

fn run(cookie: Option<&str>, body: &[u8], ip: &str) -> Result<Decision, Rejection> {
    let req = Incoming {
        method: "POST",
        path: "/store/_mm/collect",
        origin: Some("https://shop.example.gov"),
        cookie,
        client_ip: Some(ip),
        user_agent: "Mozilla/5.0 Test",
        body,
        now_ms: NOW_MS,
    };
    let mut n = 0u8;
    handle(&keys(), &req, &mut || {
        n += 1;
        format!("{:032x}", n)
    })
}

#[test]
fn tier2_gets_a_new_session_cookie_and_a_truncated_ip() {
    let d = run(None, &body(true, "https://shop.example.gov/store/"), "203.0.113.77").unwrap();
    assert_eq!(d.forward.tier, Tier::Tier2);
    assert_eq!(d.forward.ip, "203.0.113.0");
    assert_eq!(d.forward.session_id.as_deref(), Some("00000000000000000000000000000001"));
    assert!(d.forward.identity.is_none());
    assert_eq!(d.set_cookies, ["mm_sid=00000000000000000000000000000001; HttpOnly; SameSite=Lax; Secure; Path=/store"]);
}

#[test]
fn existing_session_is_kept_without_a_new_cookie() {
    let cookie = format!("mm_sid={SID}");
    let d = run(Some(&cookie), &body(true, "https://shop.example.gov/store/x"), "2001:db8:abcd:12::1").unwrap();
    assert_eq!(d.forward.session_id.as_deref(), Some(SID));
    assert_eq!(d.forward.ip, "2001:db8:abcd::");
    assert!(d.set_cookies.is_empty());
}

#[test]
fn cookies_disabled_is_anonymous_without_any_id() {
    let d = run(None, &body(false, "https://shop.example.gov/store/"), "::ffff:198.51.100.200").unwrap();
    assert_eq!(d.forward.tier, Tier::Anonymous);
    assert_eq!(d.forward.ip, "198.51.100.0");
    assert!(d.forward.session_id.is_none() && d.forward.identity.is_none());
    assert!(d.set_cookies.is_empty());
}

#[test]
fn valid_consent_is_tier3_with_full_ip_and_persistent_cookie() {
    let cookie = format!("mm_sid={SID}; mm_consent={}", token(NOW_MS / 1000 + 3600));
    let d = run(Some(&cookie), &body(true, "https://shop.example.gov/store/"), "203.0.113.77").unwrap();
    assert_eq!(d.forward.tier, Tier::Tier3);
    assert_eq!(d.forward.ip, "203.0.113.77");
    let id = d.forward.identity.as_ref().unwrap();
    assert_eq!(id.customer_ref, "cust-7");
    assert_eq!(d.set_cookies.len(), 1);
    assert!(d.set_cookies[0].starts_with(&format!("mm_vid={}; ", id.visitor_id)));
    for attr in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/store", "Max-Age=31536000"] {
        assert!(d.set_cookies[0].contains(attr), "{attr} missing: {}", d.set_cookies[0]);
    }
}

#[test]
fn expired_or_forged_consent_is_tier2_and_deletes_the_visitor_cookie() {
    for tok in [token(NOW_MS / 1000 - 1), "mm1.c1.e30.AAAA".to_string()] {
        let cookie = format!("mm_sid={SID}; mm_vid={VID}; mm_consent={tok}");
        let d = run(Some(&cookie), &body(true, "https://shop.example.gov/store/"), "203.0.113.77").unwrap();
        assert_eq!(d.forward.tier, Tier::Tier2);
        assert_eq!(d.forward.ip, "203.0.113.0");
        assert!(d.token_rejected.is_some());
        assert_eq!(d.set_cookies, ["mm_vid=; HttpOnly; SameSite=Lax; Secure; Path=/store; Max-Age=0"]);
    }
}

#[test]
fn bad_requests_are_refused_with_reasons() {
    let ok = body(true, "https://shop.example.gov/store/");
    let base = Incoming {
        method: "POST",
        path: "/store/_mm/collect",
        origin: None,
        cookie: None,
        client_ip: Some("203.0.113.1"),
        user_agent: "",
        body: &ok,
        now_ms: NOW_MS,
    };
    let reason = |req: Incoming<'_>| handle(&keys(), &req, &mut || SID.to_string()).unwrap_err();
    assert_eq!(reason(Incoming { method: "GET", ..base.clone() }), Rejection { status: 405, reason: "method_not_allowed" });
    assert_eq!(reason(Incoming { path: "/store/other", ..base.clone() }).status, 404);
    assert_eq!(reason(Incoming { origin: Some("https://evil.example"), ..base.clone() }).status, 403);
    assert_eq!(reason(Incoming { client_ip: None, ..base.clone() }).reason, "no_client_ip");
    assert_eq!(reason(Incoming { body: b"{}", ..base.clone() }).status, 400);
    let big = vec![b' '; MAX_BEACON_BYTES + 1];
    assert_eq!(reason(Incoming { body: &big, ..base.clone() }).status, 413);
    let outside = body(true, "https://shop.example.gov/about/");
    assert_eq!(reason(Incoming { body: &outside, ..base.clone() }), Rejection { status: 422, reason: "out_of_scope" });
}
