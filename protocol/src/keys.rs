//! HMAC key rings with key ids, so keys can rotate without a flag day.
//!
//! A ring holds every key that is still accepted; the first one is the key new
//! tokens and signatures are made with. Rotation is: put the new key first,
//! keep the old one until everything it signed has expired, then drop it.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub type HmacSha256 = Hmac<Sha256>;

/// Shortest secret accepted: 256 bits, the HMAC-SHA256 block-strength floor.
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key id {0:?} must be 1-32 characters of [A-Za-z0-9_-]")]
    BadId(String),
    #[error("key {id:?}: secret must be hex or base64url of at least {MIN_SECRET_BYTES} bytes")]
    BadSecret { id: String },
    #[error("key id {0:?} appears twice")]
    Duplicate(String),
    #[error("a key ring needs at least one key")]
    Empty,
}

/// Compares two secrets without an early exit, so the time taken does not
/// tell an attacker how much of a guessed bearer token was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// One named HMAC secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Key {
    id: String,
    secret: Vec<u8>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret, not even in a panic message.
        f.debug_struct("Key").field("id", &self.id).finish_non_exhaustive()
    }
}

impl Key {
    /// A key from raw bytes.
    pub fn new(id: &str, secret: Vec<u8>) -> Result<Key, KeyError> {
        if id.is_empty() || id.len() > 32 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(KeyError::BadId(id.to_string()));
        }
        if secret.len() < MIN_SECRET_BYTES {
            return Err(KeyError::BadSecret { id: id.to_string() });
        }
        Ok(Key { id: id.to_string(), secret })
    }

    /// A key whose secret is written as hex or base64url (as in config files).
    pub fn parse(id: &str, encoded: &str) -> Result<Key, KeyError> {
        use base64::Engine;
        let encoded = encoded.trim();
        let secret = hex::decode(encoded)
            .ok()
            .or_else(|| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(encoded.trim_end_matches('=')).ok())
            .ok_or_else(|| KeyError::BadSecret { id: id.to_string() })?;
        Key::new(id, secret)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// An HMAC-SHA256 keyed with this secret (the secret itself never leaves).
    pub fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.secret).expect("HMAC accepts keys of any length")
    }
}

/// The keys currently accepted; the first signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRing {
    keys: Vec<Key>,
}

impl KeyRing {
    pub fn new(keys: Vec<Key>) -> Result<KeyRing, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        for (i, k) in keys.iter().enumerate() {
            if keys[..i].iter().any(|other| other.id == k.id) {
                return Err(KeyError::Duplicate(k.id.clone()));
            }
        }
        Ok(KeyRing { keys })
    }

    /// A ring from `(id, encoded secret)` pairs, the form config files use.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<KeyRing, KeyError> {
        KeyRing::new(pairs.into_iter().map(|(id, s)| Key::parse(id, s)).collect::<Result<_, _>>()?)
    }

    /// A ring from `id:secret,id:secret`, the form worker secrets use.
    pub fn parse_list(list: &str) -> Result<KeyRing, KeyError> {
        let pairs: Vec<(&str, &str)> = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|pair| pair.split_once(':').unwrap_or((pair, "")))
            .collect();
        KeyRing::parse(pairs)
    }

    /// The inverse of [`KeyRing::parse_list`], for generating worker secrets.
    pub fn to_list(&self) -> String {
        self.keys.iter().map(|k| format!("{}:{}", k.id, hex::encode(&k.secret))).collect::<Vec<_>>().join(",")
    }

    /// The key new tokens and signatures are made with.
    pub fn signing_key(&self) -> &Key {
        &self.keys[0]
    }

    /// The key with this id, if it is still accepted.
    pub fn get(&self, id: &str) -> Option<&Key> {
        self.keys.iter().find(|k| k.id == id)
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX32: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn parses_hex_and_base64url() {
        let k = Key::parse("k1", HEX32).unwrap();
        assert_eq!(k.id(), "k1");
        let b64 = "ABEiM0RVZneImaq7zN3u_wARIjNEVWZ3iJmqu8zd7v8";
        assert_eq!(Key::parse("k1", b64).unwrap(), k);
    }

    #[test]
    fn rejects_short_secrets_and_bad_ids() {
        assert!(matches!(Key::parse("k1", "00ff"), Err(KeyError::BadSecret { .. })));
        assert!(matches!(Key::parse("k.1", HEX32), Err(KeyError::BadId(_))));
        assert!(matches!(Key::parse("", HEX32), Err(KeyError::BadId(_))));
    }

    #[test]
    fn ring_rejects_duplicates_and_emptiness() {
        assert_eq!(KeyRing::new(vec![]), Err(KeyError::Empty));
        assert_eq!(KeyRing::parse([("a", HEX32), ("a", HEX32)]), Err(KeyError::Duplicate("a".into())));
        let ring = KeyRing::parse([("new", HEX32), ("old", HEX32)]).unwrap();
        assert_eq!(ring.signing_key().id(), "new");
        assert!(ring.get("old").is_some());
        assert!(ring.get("gone").is_none());
    }

    #[test]
    fn list_form_round_trips() {
        let ring = KeyRing::parse_list(&format!("a:{HEX32}, b:{HEX32}")).unwrap();
        assert_eq!(ring.ids().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(KeyRing::parse_list(&ring.to_list()).unwrap(), ring);
        assert_eq!(KeyRing::parse_list(""), Err(KeyError::Empty));
        assert!(matches!(KeyRing::parse_list("a"), Err(KeyError::BadSecret { .. })));
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abd", b"abc"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let k = Key::parse("k1", HEX32).unwrap();
        assert!(!format!("{k:?}").contains("0011"));
    }
}
