//! Sessions: when a visit continues and when a new one starts.
//!
//! The session cookie holds `<128-bit random id>.<last seen, Unix seconds>.<side>`,
//! where the side is `3` for a session of Tier 3 requests and `2` otherwise.
//! The stamp lets any edge isolate see how long the visitor was idle without
//! shared state. A new session starts when there is none, after the idle
//! limit, on an entry from outside the store (a pageview whose referrer is
//! a non-store page), so leaving the store ends tracking of that visit, and
//! whenever the request's side differs from the session's: a session never
//! spans a tier change, so the de-identified Tier 2 copies of a customer's
//! Tier 3 events share no session with what they browsed before opting in
//! or after opting out. A cookie without a side (older releases) is no
//! session.

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
    /// Tier 3 began or ended.
    TierChange,
}

impl SessionStart {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStart::New => "new",
            SessionStart::Idle => "idle",
            SessionStart::ExternalEntry => "external_entry",
            SessionStart::TierChange => "tier_change",
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

/// Which side of Tier 3 a session is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Tier 2 (anonymous requests have no session at all).
    Tier2,
    Tier3,
}

impl Side {
    fn mark(self) -> char {
        match self {
            Side::Tier2 => '2',
            Side::Tier3 => '3',
        }
    }
}

/// Reads `<id>.<secs>.<side>`; anything else is no session.
pub fn parse(value: &str) -> Option<(&str, u64, Side)> {
    let (id, rest) = value.split_once('.')?;
    let (seen, side) = rest.split_once('.')?;
    let side = match side {
        "2" => Side::Tier2,
        "3" => Side::Tier3,
        _ => return None,
    };
    Some((id, seen.parse().ok()?, side)).filter(|(id, _, _)| is_id128(id))
}

/// True when a pageview of this batch arrived from outside the store.
pub fn is_external_entry(events: &[BeaconEvent], scope: &StoreScope) -> bool {
    events.iter().any(|e| {
        e.kind == EventKind::Pageview && e.referrer.as_deref().is_some_and(|r| !r.is_empty() && !scope.contains(r))
    })
}

pub fn resolve(
    cookie: Option<&str>,
    side: Side,
    external_entry: bool,
    now_secs: u64,
    idle_secs: u64,
    new_id: &mut dyn FnMut() -> String,
) -> Session {
    let stamp = |id: &str| format!("{id}.{now_secs}.{}", side.mark());
    let started = match cookie.and_then(parse) {
        None => SessionStart::New,
        Some((_, _, was)) if was != side => SessionStart::TierChange,
        Some(_) if external_entry => SessionStart::ExternalEntry,
        Some((_, seen, _)) if now_secs.saturating_sub(seen) > idle_secs => SessionStart::Idle,
        Some((id, seen, _)) => {
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
        resolve(cookie, Side::Tier2, external, NOW, 1800, &mut || NEW.to_string())
    }

    #[test]
    fn continuing_visit_keeps_its_id() {
        let c = format!("{ID}.{}.2", NOW - 10);
        assert_eq!(run(Some(&c), false), Session { id: ID.into(), cookie_value: None, started: None });
        // After a minute the stamp is refreshed, the id kept.
        let c = format!("{ID}.{}.2", NOW - 1700);
        let s = run(Some(&c), false);
        assert_eq!((s.id.as_str(), s.cookie_value.as_deref(), s.started), (ID, Some(format!("{ID}.{NOW}.2").as_str()), None));
    }

    #[test]
    fn idle_external_and_missing_start_new_sessions() {
        let idle = format!("{ID}.{}.2", NOW - 1801);
        assert_eq!(run(Some(&idle), false).started, Some(SessionStart::Idle));
        let fresh = format!("{ID}.{NOW}.2");
        assert_eq!(run(Some(&fresh), true).started, Some(SessionStart::ExternalEntry));
        let legacy = format!("{ID}.{NOW}");
        for junk in [None, Some("junk"), Some(ID), Some("zz.1"), Some(&format!("{ID}.x.2") as &str), Some(&legacy), Some(&format!("{ID}.{NOW}.4"))] {
            let s = run(junk, false);
            assert_eq!((s.id.as_str(), s.started), (NEW, Some(SessionStart::New)), "{junk:?}");
        }
        assert_eq!(run(None, false).cookie_value.unwrap(), format!("{NEW}.{NOW}.2"));
    }

    #[test]
    fn a_session_never_spans_a_tier_change() {
        let tier2 = format!("{ID}.{NOW}.2");
        let tier3 = format!("{ID}.{NOW}.3");
        let into_tier3 = resolve(Some(&tier2), Side::Tier3, false, NOW, 1800, &mut || NEW.to_string());
        assert_eq!((into_tier3.id.as_str(), into_tier3.started), (NEW, Some(SessionStart::TierChange)));
        assert_eq!(into_tier3.cookie_value.unwrap(), format!("{NEW}.{NOW}.3"));
        let out_of_tier3 = run(Some(&tier3), false);
        assert_eq!((out_of_tier3.id.as_str(), out_of_tier3.started), (NEW, Some(SessionStart::TierChange)));
        let staying = resolve(Some(&tier3), Side::Tier3, false, NOW, 1800, &mut || NEW.to_string());
        assert_eq!((staying.id.as_str(), staying.started), (ID, None));
    }

    #[test]
    fn external_entry_is_a_pageview_with_a_non_store_referrer() {
        let scope = StoreScope::new(["https://shop.example.gov"], ["/store"]);
        let ev = |kind, referrer: Option<&str>| BeaconEvent {
            referrer: referrer.map(String::from),
            ..BeaconEvent::new(ID, kind, 0, "https://shop.example.gov/store/")
        };
        assert!(is_external_entry(&[ev(EventKind::Pageview, Some("https://search.example/"))], &scope));
        assert!(is_external_entry(&[ev(EventKind::Pageview, Some("https://shop.example.gov/about/"))], &scope));
        assert!(!is_external_entry(&[ev(EventKind::Pageview, Some("https://shop.example.gov/store/x"))], &scope));
        assert!(!is_external_entry(&[ev(EventKind::Pageview, None)], &scope), "a direct visit continues the session");
        assert!(!is_external_entry(&[ev(EventKind::AddToCart, Some("https://search.example/"))], &scope));
    }
}
