//! The tier decision (DESIGN.md, "Tiers and identity").
//!
//! Cookies disabled → anonymous. A consent token that verifies and is not
//! revoked → Tier 3. Anything else → Tier 2. Verification is pure
//! ([`read_consent`]); the revocation lookup is I/O, so the runtime does it
//! between [`read_consent`] and [`apply_revocation`].

use mintmark_protocol::consent::{self, ConsentClaims};
use mintmark_protocol::keys::KeyRing;

/// What the consent cookie amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consent {
    /// No token: Tier 2 (and a leftover persistent cookie is deleted).
    Absent,
    /// Verified and not revoked: Tier 3.
    Valid(ConsentClaims),
    /// Forged, expired, unknown key, revoked: Tier 2, persistent cookie deleted.
    Invalid(&'static str),
    /// Could not be checked (revocation store unreachable): Tier 2 for this
    /// request, but the visitor's persistent cookie is left alone.
    Unverifiable,
}

impl Consent {
    pub fn claims(&self) -> Option<&ConsentClaims> {
        match self {
            Consent::Valid(c) => Some(c),
            _ => None,
        }
    }
}

/// The consent cookie `name` of a request's `Cookie` header. More than one
/// is trusted not at all: a script elsewhere on the site can plant a second
/// `mm_consent` scoped to `/store` beside the visitor's own (or someone
/// else's beside it), and which one a server reads first is not ours to
/// guess. That request is Tier 2, counted as `duplicate_cookie`.
pub fn consent_cookie(header: Option<&str>, name: &str, ring: &KeyRing, now_secs: u64) -> Consent {
    match crate::cookies::read_all(header, name).as_slice() {
        [] => Consent::Absent,
        [token] => read_consent(Some(token), ring, now_secs),
        _ => Consent::Invalid("duplicate_cookie"),
    }
}

pub fn read_consent(token: Option<&str>, ring: &KeyRing, now_secs: u64) -> Consent {
    match token.map(|t| consent::verify(ring, t, now_secs)) {
        None => Consent::Absent,
        Some(Ok(claims)) => Consent::Valid(claims),
        Some(Err(e)) => Consent::Invalid(e.reason()),
    }
}

/// `lookup` is the revocation time stored for the customer: `Ok(None)` when
/// there is none, `Err` when the store could not be read.
pub fn apply_revocation(consent: Consent, lookup: Result<Option<u64>, ()>) -> Consent {
    match (consent, lookup) {
        (Consent::Valid(_), Err(())) => Consent::Unverifiable,
        (Consent::Valid(c), Ok(at)) if consent::is_revoked(&c, at) => Consent::Invalid("revoked"),
        (other, _) => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mintmark_protocol::consent::OptInSource;

    const NOW: u64 = 1_800_000_000;

    fn ring() -> KeyRing {
        KeyRing::parse([("c1", "0101010101010101010101010101010101010101010101010101010101010101")]).unwrap()
    }

    fn claims() -> ConsentClaims {
        ConsentClaims {
            customer_ref: "cust-9".into(),
            source: OptInSource::Registration,
            policy_version: 1,
            issued_at: NOW - 5,
            expires_at: NOW + 60,
            subject: "99999999999999999999999999999999".into(),
            seal_kid: "88888888888888888888888888888888".into(),
            seal_key: mintmark_protocol::seal::encode_key(&[8; 32]),
        }
    }

    #[test]
    fn tokens_map_to_consent() {
        let token = consent::mint(&ring(), &claims()).unwrap();
        assert_eq!(read_consent(Some(&token), &ring(), NOW), Consent::Valid(claims()));
        assert_eq!(read_consent(None, &ring(), NOW), Consent::Absent);
        assert_eq!(read_consent(Some(&token), &ring(), NOW + 61), Consent::Invalid("expired"));
        assert_eq!(read_consent(Some("forged"), &ring(), NOW), Consent::Invalid("malformed"));
    }

    #[test]
    fn two_consent_cookies_are_trusted_not_at_all() {
        let token = consent::mint(&ring(), &claims()).unwrap();
        let one = format!("mm_sid=x; mm_consent={token}");
        assert_eq!(consent_cookie(Some(&one), "mm_consent", &ring(), NOW), Consent::Valid(claims()));
        for two in [format!("mm_consent={token}; mm_consent={token}"), format!("mm_consent=planted; mm_sid=x; mm_consent={token}")] {
            assert_eq!(consent_cookie(Some(&two), "mm_consent", &ring(), NOW), Consent::Invalid("duplicate_cookie"), "{two}");
        }
        assert_eq!(consent_cookie(None, "mm_consent", &ring(), NOW), Consent::Absent);
    }

    #[test]
    fn revocation_and_unreachable_store() {
        let valid = Consent::Valid(claims());
        assert_eq!(apply_revocation(valid.clone(), Ok(None)), valid);
        assert_eq!(apply_revocation(valid.clone(), Ok(Some(NOW))), Consent::Invalid("revoked"));
        assert_eq!(apply_revocation(valid.clone(), Ok(Some(NOW - 100))), valid, "re-opted in after the revocation");
        assert_eq!(apply_revocation(valid, Err(())), Consent::Unverifiable);
        assert_eq!(apply_revocation(Consent::Absent, Err(())), Consent::Absent);
    }
}
