//! One beacon request in, one decision out.
//!
//! The order matters: the request is checked (path, method, origin, size,
//! schema, scope) before anything is read from it, and the client address is
//! truncated as soon as the tier is known, before the batch is built. Only a
//! Tier 3 decision lets the full address through.

use mintmark_protocol::ip;
use mintmark_protocol::wire::{BeaconBatch, EdgeBatch, Identity, Tier, MAX_BEACON_BYTES, WIRE_VERSION};

use crate::cookies;
use crate::keys::EdgeKeys;
use crate::tier;

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

/// A refused request: an HTTP status and a stable reason label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    pub status: u16,
    pub reason: &'static str,
}

/// An accepted request: the cookies to set and the batch to forward.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub set_cookies: Vec<String>,
    pub forward: EdgeBatch,
    /// Set when a consent token was present but gave no Tier 3.
    pub token_rejected: Option<&'static str>,
}

fn reject(status: u16, reason: &'static str) -> Rejection {
    Rejection { status, reason }
}

/// Decides what to do with one request. `new_id` returns a fresh random
/// 128-bit id as 32 hex digits.
pub fn handle(keys: &EdgeKeys, req: &Incoming<'_>, new_id: &mut dyn FnMut() -> String) -> Result<Decision, Rejection> {
    let s = &keys.settings;
    if req.path != s.beacon_path {
        return Err(reject(404, "not_found"));
    }
    if !req.method.eq_ignore_ascii_case("POST") {
        return Err(reject(405, "method_not_allowed"));
    }
    if let Some(origin) = req.origin {
        if !s.scope.has_origin(origin) {
            return Err(reject(403, "origin_not_allowed"));
        }
    }
    if req.body.len() > MAX_BEACON_BYTES {
        return Err(reject(413, "too_large"));
    }
    let batch = BeaconBatch::from_json(req.body).map_err(|e| reject(400, e.reason()))?;
    if !batch.events.iter().all(|e| s.scope.contains(&e.url)) {
        return Err(reject(422, "out_of_scope"));
    }
    let client_ip = req.client_ip.and_then(|raw| ip::parse(raw).ok()).ok_or(reject(400, "no_client_ip"))?;

    let consent_token = cookies::read(req.cookie, &s.consent_cookie);
    let decision = tier::decide(batch.cookies, consent_token, &keys.consent, req.now_ms / 1000);
    let mut set_cookies = Vec::new();

    // The address loses its host bits here unless the visitor opted in.
    let ip = match decision.tier {
        Tier::Tier3 => ip::unmap(client_ip),
        Tier::Tier2 | Tier::Anonymous => ip::truncate_addr(client_ip),
    };

    let session_id = match decision.tier {
        Tier::Anonymous => None,
        Tier::Tier2 | Tier::Tier3 => Some(match cookies::read_id(req.cookie, &s.session_cookie) {
            Some(existing) => existing.to_string(),
            None => {
                let id = new_id();
                set_cookies.push(cookies::session(&s.session_cookie, &id, &s.cookie_path));
                id
            }
        }),
    };

    let identity = match (&decision.claims, decision.tier) {
        (Some(claims), Tier::Tier3) => {
            let visitor_id = match cookies::read_id(req.cookie, &s.visitor_cookie) {
                Some(existing) => existing.to_string(),
                None => new_id(),
            };
            // Re-set on every Tier 3 request so Max-Age counts from last use.
            set_cookies.push(cookies::visitor(&s.visitor_cookie, &visitor_id, &s.cookie_path, s.visitor_max_age_secs));
            Some(Identity {
                visitor_id,
                customer_ref: claims.customer_ref.clone(),
                consent_source: claims.source,
                policy_version: claims.policy_version,
            })
        }
        _ => {
            // No valid consent: a persistent id must not survive.
            if cookies::read(req.cookie, &s.visitor_cookie).is_some() || decision.token_error.is_some() {
                set_cookies.push(cookies::delete(&s.visitor_cookie, &s.cookie_path));
            }
            None
        }
    };

    let forward = EdgeBatch {
        v: WIRE_VERSION,
        received_at: req.now_ms,
        tier: decision.tier,
        session_id,
        identity,
        ip: ip.to_string(),
        user_agent: req.user_agent.chars().take(mintmark_protocol::wire::MAX_USER_AGENT_LEN).collect(),
        context: batch.context,
        events: batch.events,
    };
    // The collector runs the same check; failing it here means a bug in this
    // function, and nothing is forwarded.
    forward.validate().map_err(|_| reject(500, "tier_invariant"))?;
    Ok(Decision { set_cookies, forward, token_rejected: decision.token_error.map(|e| e.reason()) })
}

#[cfg(test)]
mod tests;
