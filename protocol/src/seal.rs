//! Sealing: what identifies a Tier 3 visitor (customer reference,
//! persistent id, full IP, consent details) crosses the edge's queue, the
//! dead-letter queue and the collector's spool only encrypted, under a key
//! of that customer's opt-in which an erasure destroys (crypto-shredding).
//!
//! The collector's consent API makes the key when it mints the token and
//! puts it in the token (`kid`, `sk`); it keeps only a random salt from
//! which it can derive the key again (with its own secret) under the key id,
//! in `{ledger}.seal_keys`. The edge seals with the token's key; the
//! collector's writer opens with the derived one just before it writes the
//! rows. An erasure deletes the customer's salts: from then on every copy
//! of their sealed identity, wherever a queue or spool still holds one, is
//! ciphertext nobody can open, and a redelivered batch can no longer make a
//! Tier 3 row (it keeps its de-identified Tier 2 copy, which never needed
//! the seal).
//!
//! Format: `s1.<kid>.<base64url(nonce)>.<base64url(ChaCha20-Poly1305)>`,
//! the key id authenticated with the ciphertext. The nonce is 96 random
//! bits from the caller; keys are per opt-in, so a collision is out of reach.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use serde::{Deserialize, Serialize};

use crate::identity::{is_id128, Identity};

const VERSION: &str = "s1";
/// Bytes of a sealing key.
pub const KEY_BYTES: usize = 32;
/// Bytes of a nonce.
pub const NONCE_BYTES: usize = 12;

/// Why a seal could not be made or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("sealed identity is malformed")]
    Malformed,
    #[error("sealed identity does not open with its key (altered, or another key)")]
    BadSeal,
    #[error("sealing key is not {KEY_BYTES} bytes of base64url")]
    BadKey,
}

/// What is sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sealed {
    pub identity: Identity,
    /// The full client address.
    pub ip: String,
}

/// A sealing key from its base64url form (the token's `sk`).
pub fn parse_key(encoded: &str) -> Result<[u8; KEY_BYTES], SealError> {
    B64.decode(encoded).ok().and_then(|k| k.try_into().ok()).ok_or(SealError::BadKey)
}

pub fn encode_key(key: &[u8; KEY_BYTES]) -> String {
    B64.encode(key)
}

/// Seals `what` under `key`, named `kid`.
pub fn seal(key: &[u8; KEY_BYTES], kid: &str, nonce: [u8; NONCE_BYTES], what: &Sealed) -> String {
    let plain = serde_json::to_vec(what).expect("identity serializes");
    let aad = format!("{VERSION}.{kid}");
    let ct = ChaCha20Poly1305::new(key.into())
        .encrypt((&nonce).into(), Payload { msg: &plain, aad: aad.as_bytes() })
        .expect("in-memory encryption does not fail");
    format!("{aad}.{}.{}", B64.encode(nonce), B64.encode(ct))
}

/// The key id a seal names, if it is shaped like one.
pub fn kid(sealed: &str) -> Option<&str> {
    let mut parts = sealed.split('.');
    match (parts.next(), parts.next()) {
        (Some(VERSION), Some(kid)) if is_id128(kid) => Some(kid),
        _ => None,
    }
}

/// Opens a seal with its key.
pub fn open(key: &[u8; KEY_BYTES], sealed: &str) -> Result<Sealed, SealError> {
    let mut parts = sealed.split('.');
    let (Some(VERSION), Some(kid), Some(nonce), Some(ct), None) = (parts.next(), parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(SealError::Malformed);
    };
    let nonce: [u8; NONCE_BYTES] = B64.decode(nonce).ok().and_then(|n| n.try_into().ok()).ok_or(SealError::Malformed)?;
    let ct = B64.decode(ct).map_err(|_| SealError::Malformed)?;
    let aad = format!("{VERSION}.{kid}");
    let plain = ChaCha20Poly1305::new(key.into())
        .decrypt((&nonce).into(), Payload { msg: &ct, aad: aad.as_bytes() })
        .map_err(|_| SealError::BadSeal)?;
    serde_json::from_slice(&plain).map_err(|_| SealError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::OptInSource;

    const KID: &str = "0123456789abcdef0123456789abcdef";

    fn what() -> Sealed {
        Sealed {
            identity: Identity {
                visitor_id: "ffffffffffffffffffffffffffffffff".into(),
                customer_ref: "cust-881".into(),
                consent_source: OptInSource::Registration,
                policy_version: 2,
                consent_issued_at: 1_800_000_000,
            },
            ip: "2a02:8070:1234:5678::9".into(),
        }
    }

    #[test]
    fn round_trip_hides_everything_and_fails_on_any_change() {
        let key = [7u8; KEY_BYTES];
        let s = seal(&key, KID, [1; NONCE_BYTES], &what());
        for secret in ["cust-881", "ffffffff", "2a02", "registration"] {
            assert!(!s.contains(secret), "{secret} in {s}");
        }
        assert_eq!(kid(&s), Some(KID));
        assert_eq!(open(&key, &s).unwrap(), what());
        assert_eq!(open(&[8u8; KEY_BYTES], &s), Err(SealError::BadSeal), "another key");
        let other_kid = s.replacen(KID, &KID.replace('0', "1"), 1);
        assert_eq!(open(&key, &other_kid), Err(SealError::BadSeal), "the key id is authenticated");
        let mut flipped = s.clone().into_bytes();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        assert!(open(&key, std::str::from_utf8(&flipped).unwrap()).is_err());
        for junk in ["", "s1", "s1.x.y.z", "s2.a.b.c", &format!("{s}.extra")] {
            assert!(open(&key, junk).is_err(), "{junk:?}");
        }
        assert_eq!(parse_key(&encode_key(&key)).unwrap(), key);
        assert_eq!(parse_key("short"), Err(SealError::BadKey));
    }
}
