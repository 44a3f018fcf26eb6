//! Sessions: when a visit continues and when a new one starts.
//!
//! The session cookie holds `<128-bit random id>.<last seen, Unix seconds>`.
//! The stamp lets any edge isolate see how long the visitor was idle without
//! shared state. A new session starts when there is none, after the idle
//! limit, or on an entry from outside the store (a pageview whose referrer is
//! a non-store page), so leaving the store ends tracking of that visit.

use mintmark_protocol::scope::StoreScope;
use mintmark_protocol::wire::{is_id128, BeaconEvent, EventKind};

/// The stamp is refreshed at most this often, so a busy page does not get a
/// new Set-Cookie on every batch.
pub const STAMP_REFRESH_SECS: u64 = 60;

/// Why a new session began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStart {
    New,
    Idle,
    ExternalEntry,
}

impl SessionStart {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStart::New => "new",
            SessionStart::Idle => "idle",
            SessionStart::ExternalEntry => "external_entry",
        }
    }
}

/// The session a request belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    /// Set when the cookie must be (re)written.
    pub cookie_value: Option<String>,
    /// Set when this request started the session.
    pub started: Option<SessionStart>,
}

/// Reads `<id>.<secs>`; anything else is no session.
pub fn parse(value: &str) -> Option<(&str, u64)> {
    let (id, seen) = value.split_once('.')?;
    Some((id, seen.parse().ok()?)).filter(|(id, _)| is_id128(id))
}

/// True when a pageview of this batch arrived from outside the store.
pub fn is_external_entry(events: &[BeaconEvent], scope: &StoreScope) -> bool {
    events.iter().any(|e| {
        e.kind == EventKind::Pageview && e.referrer.as_deref().is_some_and(|r| !r.is_empty() && !scope.contains(r))
    })
}

pub fn resolve(
    cookie: Option<&str>,
    external_entry: bool,
    now_secs: u64,
    idle_secs: u64,
    new_id: &mut dyn FnMut() -> String,
) -> Session {
    let stamp = |id: &str| format!("{id}.{now_secs}");
    let started = match cookie.and_then(parse) {
        None => SessionStart::New,
        Some(_) if external_entry => SessionStart::ExternalEntry,
        Some((_, seen)) if now_secs.saturating_sub(seen) > idle_secs => SessionStart::Idle,
        Some((id, seen)) => {
            let refresh = now_secs.saturating_sub(seen) >= STAMP_REFRESH_SECS;
            return Session { id: id.to_string(), cookie_value: refresh.then(|| stamp(id)), started: None };
        }
    };
    let id = new_id();
    Session { cookie_value: Some(stamp(&id)), id, started: Some(started) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "00112233445566778899aabbccddeeff";
    const NEW: &str = "ffffffffffffffffffffffffffffffff";
    const NOW: u64 = 1_800_000_000;

    fn run(cookie: Option<&str>, external: bool) -> Session {
        resolve(cookie, external, NOW, 1800, &mut || NEW.to_string())
    }

    #[test]
    fn continuing_visit_keeps_its_id() {
        let c = format!("{ID}.{}", NOW - 10);
        assert_eq!(run(Some(&c), false), Session { id: ID.into(), cookie_value: None, started: None });
        // After a minute the stamp is refreshed, the id kept.
        let c = format!("{ID}.{}", NOW - 1700);
        let s = run(Some(&c), false);
        assert_eq!((s.id.as_str(), s.cookie_value.as_deref(), s.started), (ID, Some(format!("{ID}.{NOW}").as_str()), None));
    }

    #[test]
    fn idle_external_and_missing_start_new_sessions() {
        let idle = format!("{ID}.{}", NOW - 1801);
        assert_eq!(run(Some(&idle), false).started, Some(SessionStart::Idle));
        let fresh = format!("{ID}.{NOW}");
        assert_eq!(run(Some(&fresh), true).started, Some(SessionStart::ExternalEntry));
        for junk in [None, Some("junk"), Some(ID), Some("zz.1"), Some(&format!("{ID}.x") as &str)] {
            let s = run(junk, false);
            assert_eq!((s.id.as_str(), s.started), (NEW, Some(SessionStart::New)), "{junk:?}");
        }
        assert_eq!(run(None, false).cookie_value.unwrap(), format!("{NEW}.{NOW}"));
    }

    #[test]
    fn external_entry_is_a_pageview_with_a_non_store_referrer() {
        let scope = StoreScope::new(["https://shop.example.gov"], ["/store"]);
        let ev = |kind, referrer: Option<&str>| BeaconEvent {
            id: ID.into(),
            kind,
            ts: 0,
            url: "https://shop.example.gov/store/".into(),
            referrer: referrer.map(String::from),
            title: None,
            target: None,
            props: vec![],
            value: None,
            currency: None,
            items: vec![],
        };
        assert!(is_external_entry(&[ev(EventKind::Pageview, Some("https://search.example/"))], &scope));
        assert!(is_external_entry(&[ev(EventKind::Pageview, Some("https://shop.example.gov/about/"))], &scope));
        assert!(!is_external_entry(&[ev(EventKind::Pageview, Some("https://shop.example.gov/store/x"))], &scope));
        assert!(!is_external_entry(&[ev(EventKind::Pageview, None)], &scope), "a direct visit continues the session");
        assert!(!is_external_entry(&[ev(EventKind::AddToCart, Some("https://search.example/"))], &scope));
    }
}
