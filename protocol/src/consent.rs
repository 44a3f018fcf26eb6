//! Consent tokens: the signed proof that a customer opted in to Tier 3.
//!
//! The collector's consent API mints a token when the store's backend reports
//! an opt-in; the store sets it as a first-party cookie; the edge verifies it
//! on every beacon request. Anything short of a valid token (forged, expired,
//! unknown key, malformed) means Tier 2. Revocation is checked by the caller
//! against its revocation list, using [`ConsentClaims::subject`] (the
//! keyed hash the revocation list is keyed by: the edge holds no key to
//! compute it) and [`ConsentClaims::issued_at`]. A token also carries the
//! key the edge seals the visitor's identity with ([`crate::seal`]).
//!
//! Format: `mm1.<key id>.<base64url(JSON claims)>.<base64url(HMAC-SHA256)>`,
//! the MAC covering everything before the last dot. Only cookie-safe
//! characters, so no quoting is ever needed.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::Mac;
use serde::{Deserialize, Serialize};

use crate::keys::{Key, KeyRing};

const VERSION: &str = "mm1";
/// Tokens longer than this are not even parsed.
pub const MAX_TOKEN_LEN: usize = 1024;
/// Clock skew tolerated between the minting collector and the verifying edge.
pub const MAX_CLOCK_SKEW_SECS: u64 = 300;

pub use crate::identity::OptInSource;

/// What a token asserts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentClaims {
    /// The store's reference for the customer (opaque to us).
    #[serde(rename = "sub")]
    pub customer_ref: String,
    #[serde(rename = "src")]
    pub source: OptInSource,
    /// Version of the privacy policy the customer accepted.
    #[serde(rename = "pv")]
    pub policy_version: u32,
    /// Unix seconds.
    #[serde(rename = "iat")]
    pub issued_at: u64,
    /// Unix seconds.
    #[serde(rename = "exp")]
    pub expires_at: u64,
    /// The customer's subject ([`crate::subject`]), as the collector
    /// computed it when minting.
    #[serde(rename = "subj")]
    pub subject: String,
    /// The sealing key's id (32 hex digits) and the key itself (base64url):
    /// the edge seals this customer's identity with it.
    #[serde(rename = "kid")]
    pub seal_kid: String,
    #[serde(rename = "sk")]
    pub seal_key: String,
}

/// Why a token gave no Tier 3.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is malformed")]
    Malformed,
    #[error("token signed with unknown key id {0:?}")]
    UnknownKey(String),
    #[error("token signature does not verify")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token issued in the future")]
    NotYetValid,
    #[error("claims are invalid: {0}")]
    BadClaims(&'static str),
}

impl TokenError {
    /// A short stable label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            TokenError::Malformed => "malformed",
            TokenError::UnknownKey(_) => "unknown_key",
            TokenError::BadSignature => "bad_signature",
            TokenError::Expired => "expired",
            TokenError::NotYetValid => "not_yet_valid",
            TokenError::BadClaims(_) => "bad_claims",
        }
    }
}

impl ConsentClaims {
    fn check(&self) -> Result<(), TokenError> {
        let r = &self.customer_ref;
        if r.is_empty() || r.len() > 128 || r.chars().any(|c| c.is_control()) {
            return Err(TokenError::BadClaims("customer_ref must be 1-128 printable characters"));
        }
        if self.expires_at <= self.issued_at {
            return Err(TokenError::BadClaims("expiry must follow issue time"));
        }
        if !crate::subject::is_subject(&self.subject) {
            return Err(TokenError::BadClaims("subj must be a subject (32 hex digits)"));
        }
        if !crate::identity::is_id128(&self.seal_kid) || crate::seal::parse_key(&self.seal_key).is_err() {
            return Err(TokenError::BadClaims("kid and sk must name a sealing key"));
        }
        Ok(())
    }
}

/// A revocation stored at `revoked_at` (Unix seconds) voids every token
/// issued at or before it; a later opt-in mints a newer token that is valid.
pub fn is_revoked(claims: &ConsentClaims, revoked_at: Option<u64>) -> bool {
    revoked_at.is_some_and(|at| claims.issued_at <= at)
}

/// Mints a token with the ring's signing key.
pub fn mint(ring: &KeyRing, claims: &ConsentClaims) -> Result<String, TokenError> {
    mint_with(ring.signing_key(), claims)
}

/// Mints a token with a specific key (tests, migrations).
pub fn mint_with(key: &Key, claims: &ConsentClaims) -> Result<String, TokenError> {
    claims.check()?;
    let payload = B64.encode(serde_json::to_vec(claims).expect("claims serialize"));
    let signed = format!("{VERSION}.{}.{payload}", key.id());
    let mut mac = key.mac();
    mac.update(signed.as_bytes());
    let sig = B64.encode(mac.finalize().into_bytes());
    Ok(format!("{signed}.{sig}"))
}

/// Verifies a token at time `now` (Unix seconds) and returns its claims.
pub fn verify(ring: &KeyRing, token: &str, now: u64) -> Result<ConsentClaims, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let (signed, sig) = token.rsplit_once('.').ok_or(TokenError::Malformed)?;
    let mut parts = signed.splitn(3, '.');
    let (Some(VERSION), Some(kid), Some(payload)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(TokenError::Malformed);
    };
    let key = ring.get(kid).ok_or_else(|| TokenError::UnknownKey(kid.chars().take(32).collect()))?;
    let sig = B64.decode(sig).map_err(|_| TokenError::Malformed)?;
    let mut mac = key.mac();
    mac.update(signed.as_bytes());
    // Constant-time comparison, before the payload is even decoded.
    mac.verify_slice(&sig).map_err(|_| TokenError::BadSignature)?;
    let json = B64.decode(payload).map_err(|_| TokenError::Malformed)?;
    let claims: ConsentClaims = serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;
    claims.check()?;
    if claims.expires_at <= now {
        return Err(TokenError::Expired);
    }
    if claims.issued_at > now + MAX_CLOCK_SKEW_SECS {
        return Err(TokenError::NotYetValid);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const K2: &str = "2222222222222222222222222222222222222222222222222222222222222222";
    const NOW: u64 = 1_800_000_000;

    fn claims() -> ConsentClaims {
        ConsentClaims {
            customer_ref: "cust-42".into(),
            source: OptInSource::Purchase,
            policy_version: 3,
            issued_at: NOW - 10,
            expires_at: NOW + 86_400,
            subject: "00112233445566778899aabbccddeeff".into(),
            seal_kid: "ffeeddccbbaa99887766554433221100".into(),
            seal_key: crate::seal::encode_key(&[9; 32]),
        }
    }

    fn ring() -> KeyRing {
        KeyRing::parse([("k1", K1)]).unwrap()
    }

    #[test]
    fn round_trip() {
        let token = mint(&ring(), &claims()).unwrap();
        assert!(token.starts_with("mm1.k1."));
        assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)), "cookie-safe: {token}");
        assert_eq!(verify(&ring(), &token, NOW).unwrap(), claims());
    }

    #[test]
    fn any_tampering_fails() {
        let token = mint(&ring(), &claims()).unwrap();
        // Swap the payload for one naming another customer, keep the signature.
        let mut other = claims();
        other.customer_ref = "cust-43".into();
        let forged_payload = B64.encode(serde_json::to_vec(&other).unwrap());
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{}.{}.{}", parts[0], parts[1], forged_payload, parts[3]);
        assert_eq!(verify(&ring(), &forged, NOW), Err(TokenError::BadSignature));
        // Flip one character of the signature.
        let mut bytes = token.clone().into_bytes();
        let last = bytes.len() - 1;
        bytes[last] = if bytes[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(verify(&ring(), &String::from_utf8(bytes).unwrap(), NOW), Err(TokenError::BadSignature));
        // A token signed by someone else's key under our key id.
        let evil = KeyRing::parse([("k1", K2)]).unwrap();
        let token = mint(&evil, &claims()).unwrap();
        assert_eq!(verify(&ring(), &token, NOW), Err(TokenError::BadSignature));
    }

    #[test]
    fn expiry_is_enforced() {
        let token = mint(&ring(), &claims()).unwrap();
        assert!(verify(&ring(), &token, NOW + 86_399).is_ok());
        assert_eq!(verify(&ring(), &token, NOW + 86_400), Err(TokenError::Expired));
        let mut future = claims();
        future.issued_at = NOW + 3600;
        future.expires_at = NOW + 7200;
        let token = mint(&ring(), &future).unwrap();
        assert_eq!(verify(&ring(), &token, NOW), Err(TokenError::NotYetValid));
    }

    #[test]
    fn unknown_key_id_fails_and_rotation_works() {
        let token = mint(&KeyRing::parse([("k2", K2)]).unwrap(), &claims()).unwrap();
        assert_eq!(verify(&ring(), &token, NOW), Err(TokenError::UnknownKey("k2".into())));
        // After rotation both keys are accepted; new tokens use the first.
        let rotated = KeyRing::parse([("k2", K2), ("k1", K1)]).unwrap();
        assert!(verify(&rotated, &token, NOW).is_ok());
        let old = mint(&ring(), &claims()).unwrap();
        assert!(verify(&rotated, &old, NOW).is_ok());
        assert!(mint(&rotated, &claims()).unwrap().starts_with("mm1.k2."));
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for junk in ["", ".", "mm1", "mm1.k1", "mm1.k1.x", "mm1.k1.!!.!!", "mm2.k1.e30.AAAA", &"a".repeat(5000)] {
            let err = verify(&ring(), junk, NOW).unwrap_err();
            assert!(matches!(err, TokenError::Malformed | TokenError::UnknownKey(_) | TokenError::BadSignature), "{junk:?}: {err:?}");
        }
    }

    #[test]
    fn revocation_voids_older_tokens_only() {
        let c = claims();
        assert!(!is_revoked(&c, None));
        assert!(is_revoked(&c, Some(c.issued_at)));
        assert!(is_revoked(&c, Some(c.issued_at + 1)));
        assert!(!is_revoked(&c, Some(c.issued_at - 1)), "a re-opt-in after the revocation is valid");
    }

    #[test]
    fn bad_claims_are_not_minted() {
        let mut c = claims();
        c.customer_ref.clear();
        assert!(matches!(mint(&ring(), &c), Err(TokenError::BadClaims(_))));
        let mut c = claims();
        c.expires_at = c.issued_at;
        assert!(matches!(mint(&ring(), &c), Err(TokenError::BadClaims(_))));
        let mut c = claims();
        c.subject = "cust-42".into();
        assert!(matches!(mint(&ring(), &c), Err(TokenError::BadClaims(_))), "the subject is a hash, never the reference");
        let mut c = claims();
        c.seal_key = "short".into();
        assert!(matches!(mint(&ring(), &c), Err(TokenError::BadClaims(_))));
    }
}
