//! How the system names a customer wherever a name must be kept: a keyed
//! hash of the store's reference, the *subject*.
//!
//! Tier 3 rows and the consent ledger carry it beside the reference, and an
//! erasure finds and deletes the customer by it alone, so its statements
//! (which ClickHouse keeps in `system.mutations`, and in `system.query_log`
//! where an operator turns that on) never hold the reference. What must
//! outlive an erasure holds only the subject: the purge log's evidence, the
//! revocation that keeps old tokens failing, the access audit's entries.
//!
//! The key is `[keys] subject`, held by collectors and the dashboards (the
//! privacy officer looks a customer up by the reference they were given);
//! never by the edge, which reads a token's subject from the token itself.
//! Without the key a guessed reference (`cust-881`) cannot be checked
//! against a stored subject, as it could against a plain SHA-256.

use hmac::Mac;

use crate::keys::{HmacSha256, Key, KeyError};

/// Hex digits of a subject (128 bits of the HMAC).
pub const SUBJECT_LEN: usize = 32;

/// The keyed hash, ready to clone per use.
#[derive(Clone)]
pub struct Subjects {
    mac: HmacSha256,
}

impl std::fmt::Debug for Subjects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Subjects(..)")
    }
}

impl Subjects {
    pub fn new(key: &Key) -> Subjects {
        let mut mac = key.mac();
        mac.update(b"mintmark/subject\0");
        Subjects { mac }
    }

    /// From the `[keys] subject` secret (hex or base64url, 32+ bytes).
    pub fn parse(secret: &str) -> Result<Subjects, KeyError> {
        Ok(Subjects::new(&Key::parse("subject", secret)?))
    }

    /// The customer's subject: 32 lowercase hex digits.
    pub fn of(&self, customer_ref: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(customer_ref.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..SUBJECT_LEN / 2])
    }
}

/// True for the shape of a subject: 32 lowercase hex digits.
pub fn is_subject(s: &str) -> bool {
    crate::identity::is_id128(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_stable_and_not_the_reference() {
        let a = Subjects::parse(&"11".repeat(32)).unwrap();
        let b = Subjects::parse(&"22".repeat(32)).unwrap();
        let s = a.of("cust-881");
        assert!(is_subject(&s), "{s}");
        assert_eq!(s, a.of("cust-881"));
        assert_ne!(s, a.of("cust-882"));
        assert_ne!(s, b.of("cust-881"), "the key decides: a guessed reference cannot be checked without it");
        use sha2::Digest;
        assert!(!hex::encode(sha2::Sha256::digest(b"cust-881")).starts_with(&s), "not the unkeyed hash");
    }
}
