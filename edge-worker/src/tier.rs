//! The tier decision (DESIGN.md, "Tiers and identity").
//!
//! Cookies disabled → anonymous. A consent token that verifies → Tier 3.
//! Anything else → Tier 2. The decision uses only what the request carries:
//! the browser's `cookies` flag and the store's consent cookie.

use mintmark_protocol::consent::{self, ConsentClaims, TokenError};
use mintmark_protocol::keys::KeyRing;
use mintmark_protocol::wire::Tier;

/// The outcome, with the claims when Tier 3 and the token error when a
/// token was present but did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierDecision {
    pub tier: Tier,
    pub claims: Option<ConsentClaims>,
    pub token_error: Option<TokenError>,
}

pub fn decide(cookies_enabled: bool, consent_token: Option<&str>, ring: &KeyRing, now_secs: u64) -> TierDecision {
    if !cookies_enabled {
        return TierDecision { tier: Tier::Anonymous, claims: None, token_error: None };
    }
    match consent_token.map(|t| consent::verify(ring, t, now_secs)) {
        Some(Ok(claims)) => TierDecision { tier: Tier::Tier3, claims: Some(claims), token_error: None },
        Some(Err(e)) => TierDecision { tier: Tier::Tier2, claims: None, token_error: Some(e) },
        None => TierDecision { tier: Tier::Tier2, claims: None, token_error: None },
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

    fn token() -> String {
        let claims = ConsentClaims {
            customer_ref: "cust-9".into(),
            source: OptInSource::Registration,
            policy_version: 1,
            issued_at: NOW - 5,
            expires_at: NOW + 60,
        };
        consent::mint(&ring(), &claims).unwrap()
    }

    #[test]
    fn cookies_disabled_is_anonymous_even_with_a_token() {
        assert_eq!(decide(false, Some(&token()), &ring(), NOW).tier, Tier::Anonymous);
    }

    #[test]
    fn valid_token_is_tier3_anything_else_tier2() {
        let d = decide(true, Some(&token()), &ring(), NOW);
        assert_eq!(d.tier, Tier::Tier3);
        assert_eq!(d.claims.unwrap().customer_ref, "cust-9");
        assert_eq!(decide(true, None, &ring(), NOW).tier, Tier::Tier2);
        let expired = decide(true, Some(&token()), &ring(), NOW + 61);
        assert_eq!((expired.tier, expired.token_error), (Tier::Tier2, Some(TokenError::Expired)));
        assert_eq!(decide(true, Some("forged"), &ring(), NOW).tier, Tier::Tier2);
    }
}
