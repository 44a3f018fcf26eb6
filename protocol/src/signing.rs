//! Edge → collector batch signatures.
//!
//! The collector accepts a batch only if our edge signed it: an HMAC-SHA256
//! over a domain tag, the key id, the timestamp and the exact body bytes. The
//! timestamp bounds replays to a window; rejecting a batch seen twice inside
//! the window is the collector's job (it remembers signatures).

use hmac::Mac;

use crate::keys::{Key, KeyRing};

/// Header carrying the key id.
pub const HEADER_KEY_ID: &str = "x-mintmark-key-id";
/// Header carrying the Unix timestamp (seconds) the edge signed at.
pub const HEADER_TIMESTAMP: &str = "x-mintmark-timestamp";
/// Header carrying the hex MAC.
pub const HEADER_SIGNATURE: &str = "x-mintmark-signature";
/// How far a signature's timestamp may be from the verifier's clock.
pub const DEFAULT_WINDOW_SECS: u64 = 300;

/// What a signature covers. Each kind has its own MAC domain, so a
/// signature over one kind of body never verifies as the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// One edge batch (the edge's direct forward, load tools).
    Batch,
    /// A [`crate::bundle`] of edge batches (the edge's queue consumer).
    Bundle,
}

impl Payload {
    fn domain(self) -> &'static [u8] {
        match self {
            Payload::Batch => b"mintmark-batch-v1\n",
            Payload::Bundle => b"mintmark-bundle-v1\n",
        }
    }
}

/// The three header values that travel with a signed batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchSignature {
    pub key_id: String,
    pub timestamp: u64,
    pub mac_hex: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("signature headers missing or malformed")]
    Malformed,
    #[error("unknown signing key id {0:?}")]
    UnknownKey(String),
    #[error("timestamp outside the accepted window")]
    Stale,
    #[error("signature does not match the body")]
    Mismatch,
}

impl SignatureError {
    /// A short stable label for metrics and error bodies.
    pub fn reason(&self) -> &'static str {
        match self {
            SignatureError::Malformed => "signature_malformed",
            SignatureError::UnknownKey(_) => "signature_unknown_key",
            SignatureError::Stale => "signature_stale",
            SignatureError::Mismatch => "signature_mismatch",
        }
    }
}

fn mac_for(key: &Key, payload: Payload, timestamp: u64, body: &[u8]) -> crate::keys::HmacSha256 {
    let mut mac = key.mac();
    mac.update(payload.domain());
    mac.update(key.id().as_bytes());
    mac.update(b"\n");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b"\n");
    mac.update(body);
    mac
}

/// Signs `body` with the ring's signing key at `timestamp` (Unix seconds).
pub fn sign(ring: &KeyRing, timestamp: u64, body: &[u8]) -> BatchSignature {
    sign_payload(ring, Payload::Batch, timestamp, body)
}

/// Signs `body` as a `payload` with the ring's signing key at `timestamp`.
pub fn sign_payload(ring: &KeyRing, payload: Payload, timestamp: u64, body: &[u8]) -> BatchSignature {
    let key = ring.signing_key();
    BatchSignature {
        key_id: key.id().to_string(),
        timestamp,
        mac_hex: hex::encode(mac_for(key, payload, timestamp, body).finalize().into_bytes()),
    }
}

impl BatchSignature {
    /// Reads the header values; `None` values mean the header was absent.
    pub fn from_headers(key_id: Option<&str>, timestamp: Option<&str>, mac_hex: Option<&str>) -> Result<Self, SignatureError> {
        let (Some(key_id), Some(timestamp), Some(mac_hex)) = (key_id, timestamp, mac_hex) else {
            return Err(SignatureError::Malformed);
        };
        let timestamp = timestamp.trim().parse().map_err(|_| SignatureError::Malformed)?;
        if mac_hex.len() != 64 {
            return Err(SignatureError::Malformed);
        }
        Ok(BatchSignature { key_id: key_id.trim().to_string(), timestamp, mac_hex: mac_hex.trim().to_string() })
    }

    /// Checks the signature against a single batch's `body` at time `now`.
    pub fn verify(&self, ring: &KeyRing, body: &[u8], now: u64, window_secs: u64) -> Result<(), SignatureError> {
        self.verify_payload(ring, Payload::Batch, body, now, window_secs)
    }

    /// Checks the signature against `body` read as a `payload` at time `now`.
    pub fn verify_payload(&self, ring: &KeyRing, payload: Payload, body: &[u8], now: u64, window_secs: u64) -> Result<(), SignatureError> {
        let key = ring
            .get(&self.key_id)
            .ok_or_else(|| SignatureError::UnknownKey(self.key_id.chars().take(32).collect()))?;
        if now.abs_diff(self.timestamp) > window_secs {
            return Err(SignatureError::Stale);
        }
        let expected = hex::decode(&self.mac_hex).map_err(|_| SignatureError::Malformed)?;
        mac_for(key, payload, self.timestamp, body)
            .verify_slice(&expected)
            .map_err(|_| SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "abababababababababababababababababababababababababababababababab";
    const K2: &str = "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";

    fn ring() -> KeyRing {
        KeyRing::parse([("edge1", K1)]).unwrap()
    }

    #[test]
    fn round_trip_through_headers() {
        let sig = sign(&ring(), 1000, b"{\"events\":[]}");
        let read = BatchSignature::from_headers(Some(&sig.key_id), Some(&sig.timestamp.to_string()), Some(&sig.mac_hex)).unwrap();
        assert_eq!(read.verify(&ring(), b"{\"events\":[]}", 1010, DEFAULT_WINDOW_SECS), Ok(()));
    }

    #[test]
    fn tampered_body_or_timestamp_fails() {
        let sig = sign(&ring(), 1000, b"body");
        assert_eq!(sig.verify(&ring(), b"bodY", 1000, 300), Err(SignatureError::Mismatch));
        let moved = BatchSignature { timestamp: 1001, ..sig.clone() };
        assert_eq!(moved.verify(&ring(), b"body", 1000, 300), Err(SignatureError::Mismatch));
    }

    #[test]
    fn stale_and_future_timestamps_fail() {
        let sig = sign(&ring(), 1000, b"body");
        assert_eq!(sig.verify(&ring(), b"body", 1301, 300), Err(SignatureError::Stale));
        assert_eq!(sig.verify(&ring(), b"body", 699, 300), Err(SignatureError::Stale));
        assert_eq!(sig.verify(&ring(), b"body", 1300, 300), Ok(()));
    }

    #[test]
    fn unknown_and_foreign_keys_fail() {
        let foreign = KeyRing::parse([("edge1", K2)]).unwrap();
        let sig = sign(&foreign, 1000, b"body");
        assert_eq!(sig.verify(&ring(), b"body", 1000, 300), Err(SignatureError::Mismatch));
        let other_id = sign(&KeyRing::parse([("edge2", K1)]).unwrap(), 1000, b"body");
        assert_eq!(other_id.verify(&ring(), b"body", 1000, 300), Err(SignatureError::UnknownKey("edge2".into())));
    }

    #[test]
    fn a_batch_signature_is_not_a_bundle_signature() {
        let batch = sign(&ring(), 1000, b"body");
        assert_eq!(batch.verify_payload(&ring(), Payload::Bundle, b"body", 1000, 300), Err(SignatureError::Mismatch));
        let bundle = sign_payload(&ring(), Payload::Bundle, 1000, b"body");
        assert_eq!(bundle.verify(&ring(), b"body", 1000, 300), Err(SignatureError::Mismatch));
        assert_eq!(bundle.verify_payload(&ring(), Payload::Bundle, b"body", 1000, 300), Ok(()));
    }

    #[test]
    fn malformed_headers() {
        assert_eq!(BatchSignature::from_headers(None, Some("1"), Some("00")), Err(SignatureError::Malformed));
        assert_eq!(BatchSignature::from_headers(Some("k"), Some("soon"), Some(&"0".repeat(64))), Err(SignatureError::Malformed));
        assert_eq!(BatchSignature::from_headers(Some("k"), Some("1"), Some("00")), Err(SignatureError::Malformed));
        let bad_hex = BatchSignature::from_headers(Some("edge1"), Some("1000"), Some(&"z".repeat(64))).unwrap();
        assert_eq!(bad_hex.verify(&ring(), b"", 1000, 300), Err(SignatureError::Malformed));
    }
}
