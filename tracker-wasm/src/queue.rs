//! The bounded queue of events waiting for delivery, and the batches cut
//! from it.
//!
//! Events are stored as the JSON they will be sent as. A batch is a prefix
//! of the queue; it stays queued until the loader reports it delivered
//! ([`Queue::delivered`]), so a failed send is simply cut again later. A
//! batch cut while another is in flight (the page is being hidden) starts
//! from the front again: the edge and collector dedupe on event ids, so a
//! duplicate costs nothing and a gap would lose data.

use mintmark_protocol::limits::{MAX_BEACON_BYTES, MAX_EVENTS};

use crate::json::Json;

/// Bytes of queued event JSON; beyond this new events are dropped (and counted).
pub const QUEUE_BYTES: usize = 48 * 1024;
/// Events the queue holds.
pub const QUEUE_EVENTS: usize = 256;

/// Half of [`MAX_BEACON_BYTES`]: `sendBeacon` and keep-alive fetches share
/// a 64 KiB in-flight budget per page.
pub const MAX_BATCH_BYTES: usize = MAX_BEACON_BYTES / 2;

pub struct Queue {
    data: [u8; QUEUE_BYTES],
    used: usize,
    /// End offset of each queued event in `data`.
    ends: [u16; QUEUE_EVENTS],
    count: usize,
    /// Events in the batch last cut and not yet reported.
    in_flight: usize,
}

impl Queue {
    pub const fn new() -> Queue {
        Queue { data: [0; QUEUE_BYTES], used: 0, ends: [0; QUEUE_EVENTS], count: 0, in_flight: 0 }
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// A writer over the free space, for the next event. Nothing is kept
    /// until [`Queue::commit`].
    pub fn space(&mut self) -> Json<'_> {
        let free: &mut [u8] = if self.count < QUEUE_EVENTS { &mut self.data[self.used..] } else { &mut [] };
        Json::new(free)
    }

    /// Keeps the event just written by [`Queue::space`] if it fit (`written`
    /// is its length). False when it did not, or could never fit a batch.
    pub fn commit(&mut self, written: Option<usize>) -> bool {
        match written {
            Some(n) if n <= MAX_BATCH_BYTES / 2 && self.count < QUEUE_EVENTS => {
                self.used += n;
                self.ends[self.count] = self.used as u16;
                self.count += 1;
                true
            }
            _ => false,
        }
    }

    fn event(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { usize::from(self.ends[i - 1]) };
        &self.data[start..usize::from(self.ends[i])]
    }

    /// Writes `head` + as many queued events as fit one batch + `]}` into
    /// `out`, marks them in flight, and returns the length (0: nothing queued).
    pub fn cut(&mut self, head: impl FnOnce(&mut Json), out: &mut [u8]) -> usize {
        self.in_flight = 0;
        if self.count == 0 {
            return 0;
        }
        let limit = MAX_BATCH_BYTES.min(out.len());
        let out = &mut out[..limit];
        let mut j = Json::new(out);
        head(&mut j);
        let Some(mut len) = j.finish() else { return 0 };
        let mut k = 0;
        while k < self.count.min(MAX_EVENTS) {
            let event = self.event(k);
            let comma = usize::from(k > 0);
            // Room for the event and the closing `]}`.
            if len + comma + event.len() + 2 > out.len() {
                break;
            }
            out[len] = b',';
            len += comma;
            out[len..len + event.len()].copy_from_slice(event);
            len += event.len();
            k += 1;
        }
        if k == 0 {
            return 0;
        }
        out[len..len + 2].copy_from_slice(b"]}");
        self.in_flight = k;
        len + 2
    }

    /// The batch last cut arrived (or can never arrive): drop its events.
    pub fn delivered(&mut self) {
        let k = self.in_flight;
        if k == 0 {
            return;
        }
        let cut = usize::from(self.ends[k - 1]);
        self.data.copy_within(cut..self.used, 0);
        self.used -= cut;
        for i in k..self.count {
            self.ends[i - k] = self.ends[i] - cut as u16;
        }
        self.count -= k;
        self.in_flight = 0;
    }

    /// The batch last cut failed: keep its events for the next attempt.
    pub fn failed(&mut self) {
        self.in_flight = 0;
    }

    /// How many events the last cut took.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }
}

impl Default for Queue {
    fn default() -> Self {
        Queue::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(q: &mut Queue, s: &str) -> bool {
        let n = q.space().raw(s.as_bytes()).finish();
        q.commit(n)
    }

    fn cut(q: &mut Queue) -> String {
        let mut out = vec![0u8; 64 * 1024];
        let n = q.cut(|j| { j.raw(b"{\"events\":["); }, &mut out);
        String::from_utf8(out[..n].to_vec()).unwrap()
    }

    #[test]
    fn batches_are_prefixes_kept_until_delivered() {
        let mut q = Queue::new();
        assert_eq!(cut(&mut q), "");
        assert!(push(&mut q, "1") && push(&mut q, "2"));
        assert_eq!(cut(&mut q), r#"{"events":[1,2]}"#);
        q.failed();
        assert!(push(&mut q, "3"));
        assert_eq!(cut(&mut q), r#"{"events":[1,2,3]}"#, "a failed batch is resent");
        assert!(push(&mut q, "4"));
        q.delivered();
        assert_eq!(q.len(), 1);
        assert_eq!(cut(&mut q), r#"{"events":[4]}"#, "events queued during the flight stay");
        q.delivered();
        q.delivered();
        assert!(q.is_empty());
    }

    #[test]
    fn a_batch_holds_at_most_the_wire_limits() {
        let mut q = Queue::new();
        for _ in 0..150 {
            assert!(push(&mut q, "0"));
        }
        let b = cut(&mut q);
        assert_eq!(b.matches('0').count(), MAX_EVENTS);
        q.delivered();
        assert_eq!(q.len(), 50);

        let mut q = Queue::new();
        let big = "x".repeat(10_000);
        for _ in 0..4 {
            assert!(push(&mut q, &big));
        }
        let b = cut(&mut q);
        assert!(b.len() <= MAX_BATCH_BYTES, "{}", b.len());
        assert_eq!(q.in_flight(), 3);
    }

    #[test]
    fn the_queue_is_bounded() {
        let mut q = Queue::new();
        let big = "y".repeat(12_000);
        let kept = (0..10).filter(|_| push(&mut q, &big)).count();
        assert_eq!(kept, QUEUE_BYTES / 12_000);
        assert!(!push(&mut q, &"z".repeat(MAX_BATCH_BYTES)), "an event too big for any batch is refused");
        let mut q = Queue::new();
        assert_eq!((0..300).filter(|_| push(&mut q, "1")).count(), QUEUE_EVENTS);
    }

}
