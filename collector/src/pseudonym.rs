//! The ids stored in ClickHouse: keyed hashes of the ids on the wire, one
//! key per table and purpose.
//!
//! The browser's event id and the edge's session id never reach a table as
//! they are. A `t2` row's `event_id` is `HMAC(k_t2_event, id)`, a `t3` row's
//! is `HMAC(k_t3_event, id)`, so the de-identified Tier 2 copy of a Tier 3
//! event and its identified row share no id, yet replays of the same event
//! still collapse in each table (the hash is deterministic). A `t2`
//! `session_id` is `HMAC(k_t2_session, tier ‖ id)`: even if an edge kept one
//! session across a tier change, the Tier 3 period's copies and the Tier 2
//! rows around it would still land in different sessions.
//!
//! A customer is named by their *subject* ([`mintmark_protocol::subject`],
//! keyed by `[keys] subject`, which the dashboards hold too). The keys an
//! edge seals Tier 3 identities with ([`mintmark_protocol::seal`]) are
//! derived here from a random salt per opt-in, so only a collector can
//! derive one, and only while the salt exists.
//!
//! The per-purpose keys are derived from one secret, `[keys] pseudonym`
//! (read like every key in the config: `protocol::keys::Key::parse`),
//! which only collectors hold (the edge and the dashboards never see it).
//! Without it nobody can compute a stored id from a wire id, or the other
//! table's id from one table's. Changing it only means that replays of
//! events already stored before the change are not recognised as
//! duplicates: keep it stable, share it between collectors.

use hmac::Mac;
use mintmark_protocol::keys::{HmacSha256, Key, KeyError};
use mintmark_protocol::seal::KEY_BYTES;
use mintmark_protocol::subject::Subjects;
use mintmark_protocol::wire::Tier;
use serde::{Serialize, Serializer};

/// Why the secret is unusable.
#[derive(Debug, thiserror::Error)]
pub enum PseudonymError {
    #[error("[keys] pseudonym is missing: set it to 64 random hex digits (e.g. `openssl rand -hex 32`)")]
    Missing,
    #[error("[keys] subject is missing: set it to 64 random hex digits (e.g. `openssl rand -hex 32`), the same on every collector and dashboards process")]
    MissingSubject,
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// A stored id: 32 lowercase hex digits (128 bits of the HMAC), or empty.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RowId {
    hex: [u8; 32],
    len: u8,
}

impl RowId {
    pub const EMPTY: RowId = RowId { hex: [0; 32], len: 0 };

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.hex[..self.len as usize]).expect("hex digits are ASCII")
    }

    /// From 32 hex digits (a subject).
    fn from_hex(s: &str) -> RowId {
        let mut hex = [0u8; 32];
        hex.copy_from_slice(&s.as_bytes()[..32]);
        RowId { hex, len: 32 }
    }
}

impl std::fmt::Debug for RowId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for RowId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The keyed hashes, ready to clone per use.
#[derive(Clone)]
pub struct Pseudonyms {
    t2_event: HmacSha256,
    t3_event: HmacSha256,
    t2_session: HmacSha256,
    t2_order: HmacSha256,
    marketplace_order: HmacSha256,
    subjects: Subjects,
    seal: HmacSha256,
}

impl std::fmt::Debug for Pseudonyms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonyms(..)")
    }
}

fn derive(secret: &Key, purpose: &str) -> HmacSha256 {
    let mut mac = secret.mac();
    mac.update(purpose.as_bytes());
    HmacSha256::new_from_slice(&mac.finalize().into_bytes()).expect("HMAC takes any key length")
}

fn hash(mac: &HmacSha256, parts: &[&[u8]]) -> RowId {
    let mut mac = mac.clone();
    for p in parts {
        mac.update(p);
    }
    let digest = mac.finalize().into_bytes();
    let mut hex = [0u8; 32];
    hex::encode_to_slice(&digest[..16], &mut hex).expect("16 bytes are 32 hex digits");
    RowId { hex, len: 32 }
}

impl Pseudonyms {
    /// From the config's `[keys] pseudonym` and `[keys] subject`.
    pub fn from_keys(keys: &mintmark_config::KeysSection) -> Result<Pseudonyms, PseudonymError> {
        Pseudonyms::from_secrets(&keys.pseudonym, &keys.subject)
    }

    /// From the two secrets (hex or base64url, 32+ bytes, as every other
    /// key in the config).
    pub fn from_secrets(secret: &str, subject: &str) -> Result<Pseudonyms, PseudonymError> {
        if secret.is_empty() {
            return Err(PseudonymError::Missing);
        }
        if subject.is_empty() {
            return Err(PseudonymError::MissingSubject);
        }
        let subjects = Subjects::parse(subject)?;
        let key = Key::parse("pseudonym", secret)?;
        Ok(Pseudonyms {
            t2_event: derive(&key, "mintmark/t2/event_id"),
            t3_event: derive(&key, "mintmark/t3/event_id"),
            t2_session: derive(&key, "mintmark/t2/session_id"),
            t2_order: derive(&key, "mintmark/t2/order_key"),
            marketplace_order: derive(&key, "mintmark/marketplace/order_key"),
            subjects,
            seal: derive(&key, "mintmark/seal/key"),
        })
    }

    pub fn t2_event(&self, wire_id: &str) -> RowId {
        hash(&self.t2_event, &[wire_id.as_bytes()])
    }

    pub fn t3_event(&self, wire_id: &str) -> RowId {
        hash(&self.t3_event, &[wire_id.as_bytes()])
    }

    /// The de-identified key of an order in `{t2}.orders`: it ties the
    /// order's events together and makes replays collapse, and is no id
    /// anywhere else.
    pub fn t2_order(&self, order_id: &str) -> RowId {
        hash(&self.t2_order, &[order_id.as_bytes()])
    }

    /// As [`Pseudonyms::t2_order`], for `{t2}.marketplace_orders`.
    pub fn marketplace_order(&self, order_id: &str) -> RowId {
        hash(&self.marketplace_order, &[order_id.as_bytes()])
    }

    /// The customer's subject: how rows, the ledger, the purge log and the
    /// revocations name them.
    pub fn subject(&self, customer_ref: &str) -> RowId {
        RowId::from_hex(&self.subjects.of(customer_ref))
    }

    /// The sealing key of opt-in `kid`, from its stored salt.
    pub fn seal_key(&self, kid: &str, salt: &[u8]) -> [u8; KEY_BYTES] {
        let mut mac = self.seal.clone();
        mac.update(kid.as_bytes());
        mac.update(b"\0");
        mac.update(salt);
        mac.finalize().into_bytes().into()
    }

    /// Empty for no session (anonymous).
    pub fn t2_session(&self, tier: Tier, session: Option<&str>) -> RowId {
        match session {
            None => RowId::EMPTY,
            Some(s) => hash(&self.t2_session, &[tier.as_str().as_bytes(), b"\0", s.as_bytes()]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    const ID: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn ids_differ_per_table_and_tier_but_are_stable() {
        let p = Pseudonyms::from_secrets(KEY, KEY).unwrap();
        let (t2, t3) = (p.t2_event(ID), p.t3_event(ID));
        assert_ne!(t2, t3, "the two copies of an event share no id");
        assert_ne!(t2.as_str(), ID);
        assert_eq!(t2, p.t2_event(ID), "replays collapse");
        assert_eq!(t2.as_str().len(), 32);
        assert!(mintmark_protocol::wire::is_id128(t2.as_str()));
        let s2 = p.t2_session(Tier::Tier2, Some(ID));
        let s3 = p.t2_session(Tier::Tier3, Some(ID));
        assert_ne!(s2, s3, "one edge session on both sides of Tier 3 is two stored sessions");
        assert_eq!(p.t2_session(Tier::Anonymous, None).as_str(), "");
        let other = Pseudonyms::from_secrets(&KEY.replace('0', "1"), KEY).unwrap();
        assert_ne!(other.t2_event(ID), t2, "the key decides");
        let key = p.seal_key(ID, b"salt");
        assert_eq!(key, p.seal_key(ID, b"salt"), "a collector derives an opt-in's key again");
        assert_ne!(key, p.seal_key(ID, b"other salt"), "without its salt, no key");
        assert_ne!(key, other.seal_key(ID, b"salt"), "nor without the secret");
    }

    #[test]
    fn unusable_secrets_are_refused_with_reasons() {
        assert!(matches!(Pseudonyms::from_secrets("", KEY), Err(PseudonymError::Missing)));
        assert!(matches!(Pseudonyms::from_secrets(KEY, ""), Err(PseudonymError::MissingSubject)));
        assert!(matches!(Pseudonyms::from_secrets("abcd", KEY), Err(PseudonymError::Key(KeyError::BadSecret { .. }))), "too short");
        assert!(matches!(Pseudonyms::from_secrets(&"!?".repeat(32), KEY), Err(PseudonymError::Key(KeyError::BadSecret { .. }))), "neither hex nor base64url");
    }
}
