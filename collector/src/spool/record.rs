//! On-disk record framing: `[len: u32 LE][crc32(payload): u32 LE][payload]`.
//!
//! A crash can leave the last record of the last segment half written. Such
//! a record was never acknowledged (acks follow the fsync), so readers stop
//! at the first frame that is short or fails its checksum, and recovery
//! truncates the segment there.

use std::io::{self, Read};

pub const HEADER: usize = 8;
/// Larger frames are corruption, not data: no batch is near this big.
pub const MAX_PAYLOAD: usize = 16 * 1024 * 1024;

pub fn encode(payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
}

/// Reads whole records from `r`, starting at byte `start` of the segment.
/// Returns the records with the offset just past each, and whether reading
/// stopped at a damaged or incomplete frame rather than a clean end.
pub fn read_all(mut r: impl Read, start: u64, max_records: usize) -> io::Result<(Vec<(u64, Vec<u8>)>, bool)> {
    let mut out = Vec::new();
    let mut offset = start;
    let mut header = [0u8; HEADER];
    while out.len() < max_records {
        match read_exact_or_eof(&mut r, &mut header)? {
            0 => return Ok((out, false)),
            n if n < HEADER => return Ok((out, true)),
            _ => {}
        }
        let len = u32::from_le_bytes(header[..4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(header[4..].try_into().unwrap());
        if len > MAX_PAYLOAD {
            return Ok((out, true));
        }
        let mut payload = vec![0u8; len];
        if read_exact_or_eof(&mut r, &mut payload)? < len || crc32fast::hash(&payload) != crc {
            return Ok((out, true));
        }
        offset += (HEADER + len) as u64;
        out.push((offset, payload));
    }
    Ok((out, false))
}

fn read_exact_or_eof(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_torn_tail() {
        let mut buf = Vec::new();
        encode(b"first", &mut buf);
        encode(b"second", &mut buf);
        let (recs, damaged) = read_all(&buf[..], 0, usize::MAX).unwrap();
        assert_eq!(recs, vec![(13, b"first".to_vec()), (27, b"second".to_vec())]);
        assert!(!damaged);
        // Cut inside the second record: only the first survives, flagged.
        let (recs, damaged) = read_all(&buf[..buf.len() - 2], 0, usize::MAX).unwrap();
        assert_eq!(recs.len(), 1);
        assert!(damaged);
        // Flip a payload byte: checksum stops the reader.
        let mut bad = buf.clone();
        bad[HEADER + 1] ^= 0xff;
        let (recs, damaged) = read_all(&bad[..], 0, usize::MAX).unwrap();
        assert!(recs.is_empty() && damaged);
        // A limit on records.
        assert_eq!(read_all(&buf[..], 0, 1).unwrap().0.len(), 1);
    }
}
