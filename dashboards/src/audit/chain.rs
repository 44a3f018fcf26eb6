//! The access audit's hash chain: what makes it tamper-evident.
//!
//! Entry `n` stores `prev_hash` (entry `n-1`'s hash) and `entry_hash`,
//! SHA-256 over `prev_hash` and every field in a length-prefixed encoding
//! (so no two different entries encode alike). Altering a stored entry
//! breaks its own hash; deleting one leaves a gap in `seq` and a
//! `prev_hash` that matches nothing; inserting one forges neither without
//! rewriting every later entry, which the chain head that the dashboards
//! hold in memory and the purge log's anchors make visible too.
//!
//! Retention removes the oldest entries on purpose; the purge writes the
//! last removed entry's `seq` and hash to the purge log (`anchor`), and the
//! check lets the remaining chain start there.
//!
//! Each dashboards process writes a chain of its own, named by its writer
//! id, so several can serve at once without forking one chain; [`Chains`]
//! is the check of all of them. The writer is hashed into every entry
//! (a v2 entry), so an entry cannot be moved from one chain to another;
//! entries of the single chain from before writers (writer '') keep their
//! v1 hash.

use clickhouse::Row;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// An entry as stored, chained.
#[derive(Debug, Clone, PartialEq, Row, Serialize, Deserialize)]
pub struct Stored {
    pub at: u32,
    pub user_name: String,
    pub roles: String,
    pub route: String,
    pub params: String,
    pub rows_returned: u64,
    pub customers_touched: u64,
    /// Keyed hashes of the customers' references.
    pub customer_refs: Vec<String>,
    pub seq: u64,
    pub prev_hash: String,
    pub entry_hash: String,
    /// The dashboards process that wrote it ('' before writers).
    pub writer: String,
}

fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

/// The hash `e` must carry, given its `prev_hash` and fields.
pub fn hash(e: &Stored) -> String {
    let mut h = Sha256::new();
    if e.writer.is_empty() {
        field(&mut h, b"mintmark/access_audit/v1");
    } else {
        field(&mut h, b"mintmark/access_audit/v2");
        field(&mut h, e.writer.as_bytes());
    }
    field(&mut h, e.prev_hash.as_bytes());
    field(&mut h, &e.seq.to_le_bytes());
    field(&mut h, &e.at.to_le_bytes());
    for s in [&e.user_name, &e.roles, &e.route, &e.params] {
        field(&mut h, s.as_bytes());
    }
    field(&mut h, &e.rows_returned.to_le_bytes());
    field(&mut h, &e.customers_touched.to_le_bytes());
    field(&mut h, &(e.customer_refs.len() as u64).to_le_bytes());
    for r in &e.customer_refs {
        field(&mut h, r.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Where the chain is broken, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    /// The entry at which the chain stops holding.
    pub seq: u64,
    /// Unix seconds of that entry, as stored (it may be the altered field).
    pub at: u32,
    pub what: String,
}

/// The result of checking the whole chain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Chained entries checked.
    pub entries: u64,
    pub first_seq: u64,
    pub last_seq: u64,
    /// Where retention's purge let the chain resume, if it did.
    pub anchored_at: Option<u64>,
    pub breaks: Vec<Break>,
}

impl Report {
    pub fn intact(&self) -> bool {
        self.breaks.is_empty()
    }
}

/// Checks entries in `seq` order. `anchor` is the purge log's latest
/// `(seq, hash)` of the last entry retention removed, if any.
pub struct Verifier {
    report: Report,
    prev: Option<(u64, String)>,
    anchor: Option<(u64, String)>,
}

/// Breaks listed in one report at most; beyond, only counted in the last.
const MAX_BREAKS: usize = 100;

impl Verifier {
    pub fn new(anchor: Option<(u64, String)>) -> Verifier {
        Verifier { report: Report::default(), prev: None, anchor }
    }

    fn broke(&mut self, e: &Stored, what: String) {
        if self.report.breaks.len() < MAX_BREAKS {
            self.report.breaks.push(Break { seq: e.seq, at: e.at, what });
        }
    }

    pub fn push(&mut self, e: &Stored) {
        self.report.entries += 1;
        if self.report.entries == 1 {
            self.report.first_seq = e.seq;
        }
        self.report.last_seq = e.seq;
        match &self.prev {
            None => {
                let genesis = e.seq == 1 && e.prev_hash.is_empty();
                let anchored = self.anchor.as_ref().is_some_and(|(seq, hash)| *seq + 1 == e.seq && *hash == e.prev_hash);
                if anchored {
                    self.report.anchored_at = Some(e.seq);
                } else if !genesis {
                    let what = match &self.anchor {
                        Some((seq, _)) => format!("the chain should resume after entry {seq} (retention's anchor) but starts at entry {} with a different link", e.seq),
                        None if e.seq != 1 => format!("entries 1 to {} are missing", e.seq - 1),
                        None => "the first entry links to an entry that does not exist".into(),
                    };
                    self.broke(e, what);
                }
            }
            Some((seq, hash)) => {
                if e.seq == *seq {
                    self.broke(e, format!("entry {} appears twice", e.seq));
                } else if e.seq != seq + 1 {
                    self.broke(e, format!("entries {} to {} are missing", seq + 1, e.seq - 1));
                } else if e.prev_hash != *hash {
                    self.broke(e, format!("entry {} does not link to entry {seq}: an entry was altered or replaced", e.seq));
                }
            }
        }
        if hash(e) != e.entry_hash {
            self.broke(e, format!("entry {} was altered after it was written (its hash does not match its fields)", e.seq));
        }
        self.prev = Some((e.seq, e.entry_hash.clone()));
    }

    pub fn finish(self) -> Report {
        self.report
    }
}

/// Every writer's chain, checked one by one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Chains {
    /// `(writer, its chain's report)`, by writer.
    pub chains: Vec<(String, Report)>,
    /// Entries from before the chain existed (seq 0): not covered.
    pub unchained: u64,
}

impl Chains {
    pub fn intact(&self) -> bool {
        self.chains.iter().all(|(_, r)| r.intact())
    }

    pub fn entries(&self) -> u64 {
        self.chains.iter().map(|(_, r)| r.entries).sum()
    }

    /// Every break, with the writer whose chain it is in.
    pub fn breaks(&self) -> impl Iterator<Item = (&str, &Break)> {
        self.chains.iter().flat_map(|(w, r)| r.breaks.iter().map(move |b| (w.as_str(), b)))
    }
}

/// Retention's anchors as the purge log stores them: one `<seq> <hash>`
/// line per writer, then ` <writer>` unless it is the chain from before
/// writers.
pub fn parse_anchors(text: &str) -> Vec<(String, u64, String)> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, ' ');
            let seq = parts.next()?.parse().ok()?;
            let hash = parts.next()?.to_string();
            Some((parts.next().unwrap_or("").to_string(), seq, hash))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> Vec<Stored> {
        let mut out: Vec<Stored> = Vec::new();
        for seq in 1..=n {
            let mut e = Stored {
                at: 1_800_000_000 + seq as u32,
                user_name: "mia".into(),
                roles: "marketing".into(),
                route: "/marketing".into(),
                params: String::new(),
                rows_returned: seq,
                customers_touched: 1,
                customer_refs: vec!["ab12".into()],
                seq,
                prev_hash: out.last().map(|p| p.entry_hash.clone()).unwrap_or_default(),
                entry_hash: String::new(),
                writer: String::new(),
            };
            e.entry_hash = hash(&e);
            out.push(e);
        }
        out
    }

    fn check(entries: &[Stored], anchor: Option<(u64, String)>) -> Report {
        let mut v = Verifier::new(anchor);
        entries.iter().for_each(|e| v.push(e));
        v.finish()
    }

    #[test]
    fn an_untouched_chain_holds() {
        let r = check(&chain(5), None);
        assert!(r.intact(), "{r:?}");
        assert_eq!((r.entries, r.first_seq, r.last_seq), (5, 1, 5));
    }

    #[test]
    fn an_altered_field_breaks_at_that_entry() {
        let mut c = chain(5);
        c[2].rows_returned = 0;
        let r = check(&c, None);
        assert_eq!(r.breaks.iter().map(|b| b.seq).collect::<Vec<_>>(), [3]);
        assert!(r.breaks[0].what.contains("altered"));
    }

    #[test]
    fn a_deleted_entry_is_a_gap() {
        let mut c = chain(5);
        c.remove(1);
        let r = check(&c, None);
        assert_eq!(r.breaks.len(), 1);
        assert_eq!(r.breaks[0].what, "entries 2 to 2 are missing");
    }

    #[test]
    fn a_rehashed_forgery_still_does_not_link() {
        let mut c = chain(5);
        c[2].user_name = "someone else".into();
        c[2].entry_hash = hash(&c[2]);
        let r = check(&c, None);
        assert_eq!(r.breaks.iter().map(|b| b.seq).collect::<Vec<_>>(), [4]);
    }

    #[test]
    fn an_entry_cannot_move_to_another_writers_chain() {
        let mut e = chain(1).remove(0);
        e.writer = "dash-a".into();
        e.entry_hash = hash(&e);
        let mut moved = e.clone();
        moved.writer = "dash-b".into();
        assert_ne!(hash(&moved), e.entry_hash, "the writer is part of the hash");
        let legacy = chain(1).remove(0);
        assert_eq!(hash(&legacy), legacy.entry_hash, "entries from before writers keep their v1 hash");
    }

    #[test]
    fn anchors_name_their_writer() {
        assert_eq!(parse_anchors("7 abc"), [(String::new(), 7, "abc".to_string())]);
        assert_eq!(parse_anchors("7 abc\n3 def dash-b:8092\nrubbish"), [(String::new(), 7, "abc".into()), ("dash-b:8092".into(), 3, "def".into())]);
    }

    #[test]
    fn retention_may_cut_the_head_off_at_its_anchor_only() {
        let c = chain(6);
        let anchor = Some((3, c[2].entry_hash.clone()));
        assert!(check(&c[3..], anchor.clone()).intact());
        assert_eq!(check(&c[3..], anchor).anchored_at, Some(4));
        assert!(!check(&c[4..], Some((3, c[2].entry_hash.clone()))).intact(), "one entry past the anchor is missing");
        assert!(!check(&c[3..], None).intact(), "without an anchor, a missing head is a break");
    }
}
