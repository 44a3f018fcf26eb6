//! Several edge batches in one signed request: how the edge's queue
//! consumer hands a queue batch to the collector, and what the collector
//! answers.
//!
//! A bundle is `{"v":1,"batches":[<edge batch>,…]}` holding each batch's
//! bytes exactly as the edge serialised them, so the collector spools each
//! batch as if it had come alone. The collector judges each batch on its
//! own: one it refuses is named in the [`Receipt`] and the others are kept,
//! so a bad batch never takes its neighbours to the dead-letter queue.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::limits::{MAX_BUNDLE_BATCHES, MAX_BUNDLE_BYTES};
use crate::wire::{WireError, WIRE_VERSION};

/// `Content-Type` of a bundle; the collector reads a body as a bundle only
/// with it (and a bundle's signature has its own domain, so the header
/// cannot turn one kind into the other).
pub const CONTENT_TYPE: &str = "application/vnd.mintmark.bundle+json";

/// Bytes a bundle adds around its batches: `{"v":1,"batches":[` … `]}`.
pub const OVERHEAD_BYTES: usize = 20;

/// The bundle of `batches`, each already JSON text.
pub fn assemble<'a>(batches: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = format!("{{\"v\":{WIRE_VERSION},\"batches\":[");
    for (i, b) in batches.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(b);
    }
    out.push_str("]}");
    out
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Bundle<'a> {
    v: u8,
    #[serde(borrow)]
    batches: Vec<&'a RawValue>,
}

/// Each batch's bytes, in order. Refuses the whole bundle only when it is
/// not one (too large, not JSON, wrong version, empty or too many).
pub fn split(body: &[u8]) -> Result<Vec<&[u8]>, WireError> {
    if body.len() > MAX_BUNDLE_BYTES {
        return Err(WireError::TooLarge(body.len()));
    }
    let bundle: Bundle = serde_json::from_slice(body).map_err(|e| {
        let mut msg = e.to_string();
        msg.truncate(160);
        WireError::Malformed(msg)
    })?;
    if bundle.v != WIRE_VERSION {
        return Err(WireError::Version(bundle.v));
    }
    if bundle.batches.is_empty() {
        return Err(WireError::Empty);
    }
    if bundle.batches.len() > MAX_BUNDLE_BATCHES {
        return Err(WireError::Malformed(format!("more than {MAX_BUNDLE_BATCHES} batches")));
    }
    Ok(bundle.batches.into_iter().map(|b| b.get().as_bytes()).collect())
}

/// The collector's answer to a bundle it read: how many batches it kept
/// (on disk), and each one it refused with the status and reason it would
/// have answered had that batch come alone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub accepted: u32,
    #[serde(default)]
    pub refused: Vec<Refused>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refused {
    /// Position of the batch in the bundle.
    pub index: u32,
    pub status: u16,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assemble_then_split_gives_back_each_batch_byte_for_byte() {
        let a = r#"{"v":1,"x":"a b"}"#;
        let b = r#"{ "v" : 1, "y" : [1, 2] }"#;
        let body = assemble([a, b]);
        assert_eq!(body.len(), a.len() + b.len() + 1 + OVERHEAD_BYTES);
        let parts = split(body.as_bytes()).unwrap();
        assert_eq!(parts, vec![a.as_bytes(), b.as_bytes()]);
    }

    #[test]
    fn refuses_what_is_not_a_bundle() {
        assert_eq!(split(b"{\"v\":1,\"batches\":[]}"), Err(WireError::Empty));
        assert_eq!(split(b"{\"v\":2,\"batches\":[{}]}"), Err(WireError::Version(2)));
        assert!(matches!(split(b"{\"v\":1,\"batches\":[{]}"), Err(WireError::Malformed(_))));
        assert!(matches!(split(b"{\"v\":1,\"batches\":[{}],\"more\":1}"), Err(WireError::Malformed(_))));
        let many = assemble(std::iter::repeat("{}").take(MAX_BUNDLE_BATCHES + 1));
        assert!(matches!(split(many.as_bytes()), Err(WireError::Malformed(_))));
        let huge = vec![b' '; MAX_BUNDLE_BYTES + 1];
        assert_eq!(split(&huge), Err(WireError::TooLarge(MAX_BUNDLE_BYTES + 1)));
    }

    #[test]
    fn receipt_round_trips() {
        let r = Receipt { accepted: 2, refused: vec![Refused { index: 1, status: 422, reason: "bad_event".into() }] };
        let text = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Receipt>(&text).unwrap(), r);
        assert_eq!(serde_json::from_str::<Receipt>(r#"{"accepted":3}"#).unwrap().refused, vec![]);
    }
}
