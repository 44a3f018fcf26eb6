//! The spool: a local write-ahead log between the ingest endpoint and
//! ClickHouse, so nothing acknowledged is ever lost.
//!
//! Ingest appends each accepted batch and answers only after the record is
//! on disk: one appender thread takes every append waiting in its queue,
//! writes them, calls `fdatasync` once (group commit) and then releases all
//! of their acknowledgements. The writer reads records back in order, inserts
//! them into ClickHouse and only then moves the checkpoint. After a crash,
//! everything past the checkpoint is read again; writes are idempotent on
//! event id, so a record inserted just before the crash does not count twice.
//!
//! Layout: `seg-<n>.wal` files of framed records ([`record`]), a new one every
//! `segment_bytes` and on every start, and `checkpoint` (`<segment> <offset>`).
//! Segments wholly before the checkpoint are deleted.
//!
//! A spool keeps only what has not reached ClickHouse yet, give or take
//! [`RELEASE_AFTER`]: once the active segment has held records already
//! confirmed for that long, the reader has the appender start a new one,
//! and the old one is deleted as soon as the reader is past it. What a
//! Tier 3 batch identifies is sealed anyway ([`mintmark_protocol::seal`]);
//! an order names its customer in the clear, so this bound is what an
//! erasure relies on for the order spool, and [`Spool::release`] lets it
//! wait until every record from before it is gone from this collector's disk.
//!
//! An append may carry an attachment (the collector attaches the batch it
//! already parsed): it is kept in memory, bounded by the bytes of the
//! records it stands for ([`ATTACH_BUDGET`]), under the record's
//! position, published before the record is, and handed to the reader with
//! the record, so the normal path never parses a record twice. After a
//! restart or a rewind there is no attachment and the reader gets only bytes.

pub mod record;

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use std::collections::BTreeMap;
use std::sync::Mutex;

use tokio::sync::{mpsc, oneshot, watch};

/// How long confirmed records may stay on disk in the active segment.
pub const RELEASE_AFTER: Duration = Duration::from_secs(10);

/// A place in the log: just past a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

#[derive(Debug, Clone)]
pub struct SpoolConfig {
    pub dir: PathBuf,
    /// Unconfirmed bytes beyond which appends are refused (ingest answers 503).
    pub max_bytes: u64,
    pub segment_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool is full ({0} bytes waiting for ClickHouse)")]
    Full(u64),
    #[error("spool write failed: {0}")]
    Io(io::ErrorKind),
    #[error("spool is shut down")]
    Closed,
}

struct Shared<A> {
    /// Attachments of records not yet read, by position.
    attached: Mutex<Attached<A>>,
    attach_budget: u64,
    /// Bytes on disk not yet confirmed in ClickHouse.
    pending_bytes: AtomicU64,
    /// Unix ms the oldest unconfirmed batch reached the edge (0: none).
    oldest_pending_ms: AtomicU64,
    max_bytes: u64,
    /// Segment files on disk.
    segment_count: AtomicU64,
    /// Everything before this is in ClickHouse and its segments deleted.
    released: watch::Sender<Position>,
}

struct AppendRequest<A> {
    payload: Vec<u8>,
    attachment: Option<A>,
    done: oneshot::Sender<Result<Position, io::ErrorKind>>,
}

enum Request<A> {
    Append(AppendRequest<A>),
    /// Start a new segment if the active one holds anything.
    Rotate,
}

/// The appending side; cheap to clone.
pub struct Spool<A> {
    tx: mpsc::Sender<Request<A>>,
    shared: Arc<Shared<A>>,
    durable: watch::Receiver<Position>,
}

impl<A> Clone for Spool<A> {
    fn clone(&self) -> Self {
        Spool { tx: self.tx.clone(), shared: self.shared.clone(), durable: self.durable.clone() }
    }
}

/// What [`Spool::release`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Released {
    /// Segment files left on disk (the new, active one at least).
    pub segments: usize,
    /// Bytes not yet in ClickHouse (appended since the release began).
    pub pending_bytes: u64,
}

/// A read position with the bytes read up to it; see [`SpoolReader::mark`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    at: Position,
    total: u64,
}

/// One record as the reader hands it out.
pub struct Record<A> {
    /// Just past the record.
    pub at: Position,
    pub payload: Vec<u8>,
    /// What the appender attached, when it is still in memory.
    pub attachment: Option<A>,
}

/// The reading side, owned by the writer.
pub struct SpoolReader<A> {
    dir: PathBuf,
    durable: watch::Receiver<Position>,
    read: Position,
    committed: Position,
    /// Bytes read and bytes committed since the spool was opened.
    read_total: u64,
    committed_total: u64,
    shared: Arc<Shared<A>>,
    /// Asks the appender for a new segment (weak: the reader alone does not
    /// keep the appender alive).
    rotate: mpsc::WeakSender<Request<A>>,
    /// Since when the active segment holds confirmed records.
    confirmed_since: Option<std::time::Instant>,
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("seg-{n:016}.wal"))
}

fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut segs: Vec<u64> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_prefix("seg-")?.strip_suffix(".wal")?.parse().ok()
        })
        .collect();
    segs.sort_unstable();
    Ok(segs)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn read_checkpoint(dir: &Path) -> io::Result<Option<Position>> {
    match std::fs::read_to_string(dir.join("checkpoint")) {
        Ok(text) => {
            let mut parts = text.split_whitespace().map(|p| p.parse::<u64>());
            match (parts.next(), parts.next()) {
                (Some(Ok(segment)), Some(Ok(offset))) => Ok(Some(Position { segment, offset })),
                _ => Err(io::Error::new(io::ErrorKind::InvalidData, "spool checkpoint is unreadable")),
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn write_checkpoint(dir: &Path, pos: Position) -> io::Result<()> {
    let tmp = dir.join("checkpoint.tmp");
    let mut f = File::create(&tmp)?;
    writeln!(f, "{} {}", pos.segment, pos.offset)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join("checkpoint"))?;
    sync_dir(dir)
}

/// Cuts a segment after its last whole record; returns its valid length.
fn repair(path: &Path) -> io::Result<u64> {
    let file = File::open(path)?;
    let (records, damaged) = record::read_all(io::BufReader::new(file), 0, usize::MAX)?;
    let valid = records.last().map(|(end, _)| *end).unwrap_or(0);
    if damaged {
        tracing::warn!(segment = %path.display(), valid_bytes = valid, "spool segment had a torn tail (never acknowledged); truncated");
        OpenOptions::new().write(true).open(path)?.set_len(valid)?;
    }
    Ok(valid)
}

/// Payload bytes whose attachments are kept for the reader before new ones
/// are dropped. A parsed batch takes about twice its JSON in memory, so this
/// caps attachments near 64 MiB, and covers several seconds of full-speed
/// ingest: under load the writer runs that far behind, and a count of 1,024
/// records (the old bound, 50 ms of ingest) had it parse most batches twice.
pub const ATTACH_BUDGET: u64 = 32 << 20;

/// Attachments waiting for the reader, and the payload bytes they stand for.
struct Attached<A> {
    by_position: BTreeMap<Position, (A, u64)>,
    bytes: u64,
}

impl<A> Attached<A> {
    fn take(&mut self, at: &Position) -> Option<A> {
        let (a, bytes) = self.by_position.remove(at)?;
        self.bytes -= bytes;
        Some(a)
    }
}

impl<A: Send + 'static> Spool<A> {
    /// Opens (or creates) the spool in `config.dir`, repairing a torn tail,
    /// and starts the appender thread.
    pub fn open(config: &SpoolConfig) -> io::Result<(Spool<A>, SpoolReader<A>)> {
        std::fs::create_dir_all(&config.dir)?;
        let dir = config.dir.clone();
        let segments = list_segments(&dir)?;
        let checkpoint = read_checkpoint(&dir)?
            .unwrap_or(Position { segment: segments.first().copied().unwrap_or(1), offset: 0 });
        let mut pending = 0;
        for &seg in &segments {
            if seg < checkpoint.segment {
                std::fs::remove_file(segment_path(&dir, seg))?;
                continue;
            }
            let len = repair(&segment_path(&dir, seg))?;
            pending += len.saturating_sub(if seg == checkpoint.segment { checkpoint.offset } else { 0 });
        }
        // Appends always go to a fresh segment, so recovery never appends
        // behind a repaired tail.
        let active = segments.last().map(|s| s + 1).unwrap_or(checkpoint.segment).max(checkpoint.segment);
        let file = OpenOptions::new().create(true).append(true).open(segment_path(&dir, active))?;
        sync_dir(&dir)?;
        let shared = Arc::new(Shared {
            attached: Mutex::new(Attached { by_position: BTreeMap::new(), bytes: 0 }),
            attach_budget: ATTACH_BUDGET,
            pending_bytes: AtomicU64::new(pending),
            oldest_pending_ms: AtomicU64::new(0),
            max_bytes: config.max_bytes,
            segment_count: AtomicU64::new(list_segments(&dir)?.len() as u64),
            released: watch::channel(checkpoint).0,
        });
        let (durable_tx, durable_rx) = watch::channel(Position { segment: active, offset: 0 });
        let (tx, rx) = mpsc::channel::<Request<A>>(65_536);
        let appender = Appender { dir: dir.clone(), rx, file, segment: active, len: 0, segment_bytes: config.segment_bytes, durable: durable_tx, shared: shared.clone() };
        std::thread::Builder::new().name("spool-appender".into()).spawn(move || appender.run())?;
        if pending > 0 {
            tracing::info!(pending_bytes = pending, from = ?checkpoint, "spool has unconfirmed records; replaying them");
        }
        let reader = SpoolReader {
            dir,
            durable: durable_rx.clone(),
            read: checkpoint,
            committed: checkpoint,
            read_total: 0,
            committed_total: 0,
            shared: shared.clone(),
            rotate: tx.downgrade(),
            confirmed_since: None,
        };
        Ok((Spool { tx, shared, durable: durable_rx }, reader))
    }

    /// Waits until every record on disk when it was called is in
    /// ClickHouse and its segment deleted (the active one is closed for
    /// this): nothing from before stays readable in this spool. Gives up
    /// after `timeout` with what is left.
    pub async fn release(&self, timeout: Duration) -> Result<Released, Released> {
        let target = *self.durable.borrow();
        let mut released = self.shared.released.subscribe();
        let state = |dir_segments: usize| Released { segments: dir_segments, pending_bytes: self.pending_bytes() };
        let wait = async {
            if target.offset > 0 {
                let _ = self.tx.send(Request::Rotate).await;
            }
            // Released past the target's segment, or (nothing was in it) at it.
            let _ = released.wait_for(|r| r.segment > target.segment || (target.offset == 0 && *r >= target)).await;
        };
        let done = tokio::time::timeout(timeout, wait).await.is_ok();
        // Segment files on disk, as the reader and appender counted them.
        let segments = self.shared.segment_count.load(Ordering::Relaxed) as usize;
        if done { Ok(state(segments)) } else { Err(state(segments)) }
    }

    /// Appends one record; returns once it is on disk, with the position
    /// just past it (what the reader will report for it).
    pub async fn append(&self, payload: Vec<u8>, attachment: Option<A>) -> Result<Position, SpoolError> {
        let pending = self.pending_bytes();
        if pending >= self.shared.max_bytes {
            return Err(SpoolError::Full(pending));
        }
        let (done, wait) = oneshot::channel();
        self.tx.send(Request::Append(AppendRequest { payload, attachment, done })).await.map_err(|_| SpoolError::Closed)?;
        wait.await.map_err(|_| SpoolError::Closed)?.map_err(SpoolError::Io)
    }

    /// Appends several records, all of them or (on a refusal) a prefix;
    /// returns once every one is on disk. Sent together, they share the
    /// writer's group commit: one `fdatasync` for a bundle of batches.
    pub async fn append_all(&self, records: Vec<(Vec<u8>, Option<A>)>) -> Result<(), SpoolError> {
        let pending = self.pending_bytes();
        if pending >= self.shared.max_bytes {
            return Err(SpoolError::Full(pending));
        }
        let mut waits = Vec::with_capacity(records.len());
        for (payload, attachment) in records {
            let (done, wait) = oneshot::channel();
            self.tx.send(Request::Append(AppendRequest { payload, attachment, done })).await.map_err(|_| SpoolError::Closed)?;
            waits.push(wait);
        }
        for wait in waits {
            wait.await.map_err(|_| SpoolError::Closed)?.map_err(SpoolError::Io)?;
        }
        Ok(())
    }

    pub fn pending_bytes(&self) -> u64 {
        self.shared.pending_bytes.load(Ordering::Relaxed)
    }

    pub fn is_over(&self, fraction: f64) -> bool {
        self.pending_bytes() as f64 >= self.shared.max_bytes as f64 * fraction
    }

    /// Seconds since the oldest unconfirmed batch reached the edge.
    pub fn oldest_pending_age_secs(&self, now_ms: u64) -> f64 {
        match self.shared.oldest_pending_ms.load(Ordering::Relaxed) {
            0 => 0.0,
            t => now_ms.saturating_sub(t) as f64 / 1000.0,
        }
    }
}

struct Appender<A> {
    dir: PathBuf,
    rx: mpsc::Receiver<Request<A>>,
    file: File,
    segment: u64,
    len: u64,
    segment_bytes: u64,
    durable: watch::Sender<Position>,
    shared: Arc<Shared<A>>,
}

impl<A> Appender<A> {
    fn run(mut self) {
        let mut buf = Vec::with_capacity(1 << 20);
        while let Some(first) = self.rx.blocking_recv() {
            let mut group = Vec::new();
            let mut rotate = false;
            let mut next = Some(first);
            while let Some(req) = next.take() {
                match req {
                    Request::Append(a) => group.push(a),
                    Request::Rotate => rotate = true,
                }
                if group.len() < 8192 {
                    next = self.rx.try_recv().ok();
                }
            }
            if group.is_empty() {
                if rotate && self.len > 0 {
                    if let Err(e) = self.rotate() {
                        tracing::error!(error = %e, "spool segment rotation failed; continuing in the current one");
                    }
                }
                continue;
            }
            buf.clear();
            let mut ends = Vec::with_capacity(group.len());
            for req in &group {
                record::encode(&req.payload, &mut buf);
                ends.push(Position { segment: self.segment, offset: self.len + buf.len() as u64 });
            }
            let written = self.file.write_all(&buf).and_then(|_| self.file.sync_data());
            match written {
                Ok(()) => {
                    self.len += buf.len() as u64;
                    self.shared.pending_bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
                    let mut dones = Vec::with_capacity(group.len());
                    {
                        // Attachments go in before the records are published,
                        // so the reader never sees a record without its own.
                        let mut attached = self.shared.attached.lock().unwrap();
                        for (req, end) in group.into_iter().zip(&ends) {
                            if let Some(a) = req.attachment {
                                let bytes = req.payload.len() as u64;
                                if attached.bytes + bytes <= self.shared.attach_budget {
                                    attached.bytes += bytes;
                                    attached.by_position.insert(*end, (a, bytes));
                                }
                            }
                            dones.push((req.done, *end));
                        }
                    }
                    self.durable.send_replace(Position { segment: self.segment, offset: self.len });
                    for (done, end) in dones {
                        let _ = done.send(Ok(end));
                    }
                    if self.len >= self.segment_bytes || rotate {
                        if let Err(e) = self.rotate() {
                            tracing::error!(error = %e, "spool segment rotation failed; continuing in the current one");
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "spool write failed; refusing this group");
                    // Drop the partial write so later records stay readable.
                    let _ = self.file.set_len(self.len);
                    for req in group {
                        let _ = req.done.send(Err(e.kind()));
                    }
                }
            }
        }
    }

    fn rotate(&mut self) -> io::Result<()> {
        let next = self.segment + 1;
        let file = OpenOptions::new().create(true).append(true).open(segment_path(&self.dir, next))?;
        sync_dir(&self.dir)?;
        self.file = file;
        self.segment = next;
        self.len = 0;
        self.shared.segment_count.fetch_add(1, Ordering::Relaxed);
        self.durable.send_replace(Position { segment: next, offset: 0 });
        Ok(())
    }
}

impl<A> SpoolReader<A> {
    /// Up to `max_records` records after the read position, waiting up to
    /// `wait` for new ones.
    pub async fn next_chunk(&mut self, max_records: usize, wait: Duration) -> io::Result<Vec<Record<A>>> {
        loop {
            let durable = *self.durable.borrow_and_update();
            if self.read < durable {
                let chunk = self.read_some(durable, max_records)?;
                if !chunk.is_empty() {
                    return Ok(chunk);
                }
                if self.read.segment < durable.segment {
                    // Clean end of a finished segment: on to the next one,
                    // and when all of it is confirmed, it goes at once.
                    let all_confirmed = self.committed == self.read;
                    self.read = Position { segment: self.read.segment + 1, offset: 0 };
                    self.confirmed_since = None;
                    if all_confirmed {
                        self.committed = self.read;
                        self.checkpoint()?;
                    }
                    continue;
                }
            }
            match tokio::time::timeout(wait, self.durable.changed()).await {
                Ok(Ok(())) => {}
                // Timed out, or the appender is gone (every `Spool` dropped):
                // nothing more is coming now. An idle writer may not commit
                // again, so the release of confirmed records is checked here.
                Err(_) | Ok(Err(_)) => {
                    if self.read_total == self.committed_total {
                        self.maybe_rotate();
                    }
                    return Ok(Vec::new());
                }
            }
        }
    }

    fn read_some(&mut self, durable: Position, max_records: usize) -> io::Result<Vec<Record<A>>> {
        let path = segment_path(&self.dir, self.read.segment);
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        file.seek(SeekFrom::Start(self.read.offset))?;
        let limit = if self.read.segment == durable.segment { durable.offset - self.read.offset } else { u64::MAX };
        let (records, _) = record::read_all(io::BufReader::with_capacity(1 << 20, file.take(limit)), self.read.offset, max_records)?;
        let segment = self.read.segment;
        let mut attached = self.shared.attached.lock().unwrap();
        let chunk: Vec<Record<A>> = records
            .into_iter()
            .map(|(end, payload)| {
                let at = Position { segment, offset: end };
                Record { at, attachment: attached.take(&at), payload }
            })
            .collect();
        drop(attached);
        if let Some(last) = chunk.last() {
            self.read_total += last.at.offset - self.read.offset;
            self.read = last.at;
        }
        Ok(chunk)
    }

    /// Everything read so far is in ClickHouse: move the checkpoint there
    /// and delete segments that are wholly behind it. Confirmed records
    /// that have sat in the active segment for [`RELEASE_AFTER`] make it
    /// close, so they go too.
    pub fn commit(&mut self) -> io::Result<()> {
        self.commit_to(self.mark())
    }

    /// Where the reader is now, to [`commit_to`](Self::commit_to) later: a
    /// writer that keeps one insert in flight while it reads the next
    /// batch commits each batch's end once ClickHouse confirms it.
    pub fn mark(&self) -> Mark {
        Mark { at: self.read, total: self.read_total }
    }

    /// Everything up to `mark` is in ClickHouse: [`commit`](Self::commit),
    /// but only that far. A mark from before a [`rewind`](Self::rewind) must
    /// not be used.
    pub fn commit_to(&mut self, mark: Mark) -> io::Result<()> {
        // A mark past the checkpoint moves it, with or without new bytes:
        // without, the reader crossed into the next segment (while a batch
        // was in flight), and a release of the old segment waits for the
        // checkpoint to follow it there.
        if mark.at > self.committed {
            let confirmed = mark.total - self.committed_total;
            self.shared.pending_bytes.fetch_sub(confirmed.min(self.shared.pending_bytes.load(Ordering::Relaxed)), Ordering::Relaxed);
            self.committed = mark.at;
            self.committed_total = mark.total;
            self.checkpoint()?;
            if confirmed > 0 {
                self.confirmed_since.get_or_insert_with(std::time::Instant::now);
            }
        }
        self.maybe_rotate();
        Ok(())
    }

    fn maybe_rotate(&mut self) {
        if self.confirmed_since.is_some_and(|t| t.elapsed() >= RELEASE_AFTER) {
            if let Some(tx) = self.rotate.upgrade() {
                if tx.try_send(Request::Rotate).is_ok() {
                    // Asked once per segment; the next segment starts afresh.
                    self.confirmed_since = None;
                }
            }
        }
    }

    /// Writes the checkpoint at `committed` and deletes the segments wholly
    /// before it.
    fn checkpoint(&mut self) -> io::Result<()> {
        write_checkpoint(&self.dir, self.committed)?;
        let mut left = 0;
        for seg in list_segments(&self.dir)? {
            if seg < self.committed.segment {
                std::fs::remove_file(segment_path(&self.dir, seg))?;
            } else {
                left += 1;
            }
        }
        self.shared.segment_count.store(left, Ordering::Relaxed);
        self.shared.released.send_replace(self.committed);
        Ok(())
    }

    /// Goes back to the checkpoint: everything read since is read again
    /// (after a failed insert).
    pub fn rewind(&mut self) {
        self.read = self.committed;
        self.read_total = self.committed_total;
    }

    /// Records when the oldest batch the writer holds reached the edge.
    pub fn set_oldest_pending(&self, received_at_ms: u64) {
        self.shared.oldest_pending_ms.store(received_at_ms, Ordering::Relaxed);
    }

}

#[cfg(test)]
mod tests;
