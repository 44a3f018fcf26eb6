//! One beacon request in, one reply out, in two pure steps.
//!
//! [`precheck`] refuses what is not a well-formed, in-scope beacon batch from
//! a store origin (and answers CORS preflights and bots) before anything is
//! read from it. [`decide`] takes the checked batch and the consent verdict
//! and produces the cookies and the batch to forward, truncating the client
//! address unless the verdict is Tier 3. Between the two the runtime does
//! the I/O (rate limit state, revocation lookup), so both steps test natively.

use std::net::IpAddr;

use mintmark_protocol::{ip, seal};
use mintmark_protocol::redact::PiiCounts;
use mintmark_protocol::wire::{BeaconBatch, EdgeBatch, Identity, Tier, MAX_BEACON_BYTES, MAX_USER_AGENT_LEN, WIRE_VERSION};

use crate::cookies;
use crate::keys::EdgeKeys;
use crate::session::{self, SessionStart, Side};
use crate::tier::Consent;

/// The facts of a request, copied out of whatever runtime carried it.
#[derive(Debug, Clone)]
pub struct Incoming<'a> {
    pub method: &'a str,
    pub path: &'a str,
    /// `Origin` header, if the browser sent one.
    pub origin: Option<&'a str>,
    /// `Cookie` header.
    pub cookie: Option<&'a str>,
    /// The platform's `CF-Connecting-IP`.
    pub client_ip: Option<&'a str>,
    pub user_agent: &'a str,
    pub body: &'a [u8],
    pub now_ms: u64,
}

/// What happened, for the counters and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Accepted { tier: Tier, session_started: Option<SessionStart>, consent_rejected: Option<&'static str>, props: PropCounts },
    Rejected(&'static str),
    Bot,
    Preflight,
    RateLimited,
}

/// Personal-looking values removed, by the layer that removed them, and
/// the beacon's own error count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PropCounts {
    /// Dropped in the browser, as the beacon reported (one total).
    pub pii_dropped_by_beacon: u32,
    /// Still present on arrival and removed here, by field: a beacon that
    /// is not ours, a bug, or a client talking to the edge directly.
    pub pii_dropped_by_edge: PiiCounts,
    pub beacon_errors: u32,
}

/// The HTTP answer, and the batch to forward when there is one.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    /// JSON body (errors only).
    pub body: Option<String>,
    pub forward: Option<EdgeBatch>,
    pub outcome: Outcome,
}

/// How much of a refusal's detail is sent back.
const MAX_DETAIL_CHARS: usize = 300;

impl Reply {
    pub fn rejected(status: u16, reason: &'static str) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: Some(format!("{{\"error\":\"{reason}\"}}")),
            forward: None,
            outcome: Outcome::Rejected(reason),
        }
    }

    /// The same with what exactly was wrong (which field, which event), as
    /// the collector's refusals say it. It goes back to the sender only,
    /// never to a log: a value it quotes could be anything the page sent.
    pub fn rejected_because(status: u16, reason: &'static str, detail: &str) -> Reply {
        let detail: String = detail.chars().take(MAX_DETAIL_CHARS).collect();
        Reply { body: Some(serde_json::json!({ "error": reason, "detail": detail }).to_string()), ..Reply::rejected(status, reason) }
    }

    fn empty(outcome: Outcome, headers: Vec<(&'static str, String)>) -> Reply {
        Reply { status: 204, headers, body: None, forward: None, outcome }
    }

    /// The batch could not be queued: the beacon keeps it and tries again.
    pub fn unavailable(retry_after_secs: u64) -> Reply {
        let mut r = Reply::rejected(503, "queue_unavailable");
        r.headers.push(("retry-after", retry_after_secs.to_string()));
        r
    }

    pub fn rate_limited(retry_after_secs: u64) -> Reply {
        let mut r = Reply::rejected(429, "rate_limited");
        r.headers.push(("retry-after", retry_after_secs.to_string()));
        r.outcome = Outcome::RateLimited;
        r
    }
}

/// A batch that passed [`precheck`].
#[derive(Debug, Clone)]
pub struct Checked {
    pub batch: BeaconBatch,
    pub client_ip: IpAddr,
    pub props: PropCounts,
}

/// CORS headers for an allowed origin: credentials, so the store's cookies
/// travel, and `Vary` so caches keep origins apart.
fn cors(origin: Option<&str>) -> Vec<(&'static str, String)> {
    match origin {
        Some(o) => vec![
            ("access-control-allow-origin", o.to_string()),
            ("access-control-allow-credentials", "true".into()),
            ("vary", "Origin".into()),
        ],
        None => Vec::new(),
    }
}

/// Checks everything that does not need I/O. `Err` is the final reply.
pub fn precheck(keys: &EdgeKeys, req: &Incoming<'_>) -> Result<Checked, Reply> {
    let s = &keys.settings;
    if req.path != s.beacon_path {
        return Err(Reply::rejected(404, "not_found"));
    }
    if let Some(origin) = req.origin {
        if !s.scope.has_origin(origin) {
            return Err(Reply::rejected(403, "origin_not_allowed"));
        }
    }
    if req.method.eq_ignore_ascii_case("OPTIONS") {
        let mut headers = cors(req.origin);
        headers.push(("access-control-allow-methods", "POST".into()));
        headers.push(("access-control-allow-headers", "content-type".into()));
        headers.push(("access-control-max-age", "86400".into()));
        return Err(Reply::empty(Outcome::Preflight, headers));
    }
    if !req.method.eq_ignore_ascii_case("POST") {
        let mut r = Reply::rejected(405, "method_not_allowed");
        r.headers.push(("allow", "POST, OPTIONS".into()));
        return Err(r);
    }
    if crate::bots::is_bot(req.user_agent) {
        return Err(Reply::empty(Outcome::Bot, cors(req.origin)));
    }
    if req.body.len() > MAX_BEACON_BYTES {
        return Err(Reply::rejected(413, "too_large"));
    }
    let mut batch = BeaconBatch::from_json(req.body).map_err(|e| Reply::rejected_because(400, e.reason(), &e.to_string()))?;
    if !batch.events.iter().all(|e| s.scope.contains(&e.url)) {
        return Err(Reply::rejected(422, "out_of_scope"));
    }
    let client_ip = req.client_ip.and_then(|raw| ip::parse(raw).ok()).ok_or_else(|| Reply::rejected(400, "no_client_ip"))?;
    // The beacon filters personal data; this is the second layer (the
    // collector is the third).
    let props = PropCounts {
        pii_dropped_by_edge: batch.strip_personal(),
        pii_dropped_by_beacon: batch.pii_dropped,
        beacon_errors: batch.errors,
    };
    Ok(Checked { batch, client_ip, props })
}

/// Decides tier, cookies and the forwarded batch. `consent` is the verdict
/// on the consent cookie (ignored when the browser has cookies disabled);
/// `new_id` returns a fresh random 128-bit id as 32 hex digits.
pub fn decide(keys: &EdgeKeys, req: &Incoming<'_>, checked: Checked, consent: Consent, new_id: &mut dyn FnMut() -> String) -> Reply {
    let s = &keys.settings;
    let Checked { batch, client_ip, props } = checked;
    let now_secs = req.now_ms / 1000;
    let tier = match (&consent, batch.cookies) {
        (_, false) => Tier::Anonymous,
        (Consent::Valid(_), true) => Tier::Tier3,
        (_, true) => Tier::Tier2,
    };

    // The address loses its host bits here unless the visitor opted in.
    let ip = match tier {
        Tier::Tier3 => ip::unmap(client_ip),
        Tier::Tier2 | Tier::Anonymous => ip::truncate_addr(client_ip),
    };

    let mut headers = cors(req.origin);
    let mut set_cookie = |value: String| headers.push(("set-cookie", value));
    let (session_id, session_started) = match tier {
        Tier::Anonymous => (None, None),
        Tier::Tier2 | Tier::Tier3 => {
            let external = session::is_external_entry(&batch.events, &s.scope);
            let current = cookies::read(req.cookie, &s.session_cookie);
            let side = if tier == Tier::Tier3 { Side::Tier3 } else { Side::Tier2 };
            let sess = session::resolve(current, side, external, now_secs, s.session_idle_secs, new_id);
            if let Some(value) = &sess.cookie_value {
                set_cookie(cookies::session(&s.session_cookie, value, &s.cookie_path));
            }
            (Some(sess.id), sess.started)
        }
    };

    let sealed = match (tier, consent.claims()) {
        (Tier::Tier3, Some(claims)) => {
            let visitor_id = match cookies::read_id(req.cookie, &s.visitor_cookie) {
                Some(existing) => existing.to_string(),
                None => new_id(),
            };
            // Re-set on every Tier 3 request so Max-Age counts from last use.
            set_cookie(cookies::visitor(&s.visitor_cookie, &visitor_id, &s.cookie_path, s.visitor_max_age_secs));
            let identity = Identity {
                visitor_id,
                customer_ref: claims.customer_ref.clone(),
                consent_source: claims.source,
                policy_version: claims.policy_version,
                consent_issued_at: claims.issued_at,
            };
            // Who they are and where from leave here only sealed, under the
            // key of their opt-in, which an erasure destroys: the queue, the
            // dead-letter queue and the collector's spool hold ciphertext.
            let Ok(key) = seal::parse_key(&claims.seal_key) else {
                return Reply::rejected(500, "tier_invariant");
            };
            let nonce = nonce(new_id);
            Some(seal::seal(&key, &claims.seal_kid, nonce, &seal::Sealed { identity, ip: ip.to_string() }))
        }
        _ => {
            // No valid consent: a persistent id must not survive, unless we
            // merely could not check this time.
            let had_visitor = cookies::read(req.cookie, &s.visitor_cookie).is_some();
            if batch.cookies && (had_visitor || matches!(consent, Consent::Invalid(_))) && consent != Consent::Unverifiable {
                set_cookie(cookies::delete(&s.visitor_cookie, &s.cookie_path));
            }
            None
        }
    };

    let forward = EdgeBatch {
        v: WIRE_VERSION,
        received_at: req.now_ms,
        tier,
        session_id,
        identity: None,
        sealed,
        ip: ip::truncate_addr(ip).to_string(),
        user_agent: req.user_agent.chars().take(MAX_USER_AGENT_LEN).collect(),
        context: batch.context,
        events: batch.events,
    };
    // The collector runs the same check; failing it here would be a bug in
    // this function, and then nothing is forwarded.
    if forward.validate_sealed().is_err() {
        return Reply::rejected(500, "tier_invariant");
    }
    let consent_rejected = match consent {
        Consent::Invalid(reason) => Some(reason),
        Consent::Unverifiable => Some("unverifiable"),
        _ => None,
    };
    Reply {
        status: 204,
        headers,
        body: None,
        forward: Some(forward),
        outcome: Outcome::Accepted { tier, session_started, consent_rejected, props },
    }
}

/// 96 random bits for a seal's nonce, from the same source as every id.
fn nonce(new_id: &mut dyn FnMut() -> String) -> [u8; seal::NONCE_BYTES] {
    let mut out = [0u8; seal::NONCE_BYTES];
    let id = new_id();
    hex::decode_to_slice(&id[..seal::NONCE_BYTES * 2], &mut out).expect("ids are 32 hex digits");
    out
}

#[cfg(test)]
mod tests;
