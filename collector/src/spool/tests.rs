use super::*;

fn config(dir: &Path, max_bytes: u64, segment_bytes: u64) -> SpoolConfig {
    SpoolConfig { dir: dir.to_path_buf(), max_bytes, segment_bytes }
}

async fn drain(reader: &mut SpoolReader<()>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let chunk = reader.next_chunk(3, Duration::from_millis(50)).await.unwrap();
        if chunk.is_empty() {
            return out;
        }
        out.extend(chunk.into_iter().map(|r| r.payload));
    }
}

#[tokio::test]
async fn appended_records_are_read_back_in_order_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, mut reader) = Spool::<()>::open(&config(dir.path(), 1 << 30, 64)).unwrap();
    for i in 0..20u8 {
        spool.append(vec![i; 30], None).await.unwrap();
    }
    let got = drain(&mut reader).await;
    assert_eq!(got, (0..20u8).map(|i| vec![i; 30]).collect::<Vec<_>>());
    assert!(list_segments(dir.path()).unwrap().len() > 5, "small segments rotate");
    assert_eq!(spool.pending_bytes(), 20 * 38);
    reader.commit().unwrap();
    assert_eq!(spool.pending_bytes(), 0);
    assert!(list_segments(dir.path()).unwrap().len() <= 2, "consumed segments are deleted");
}

#[tokio::test]
async fn a_restart_replays_exactly_what_was_not_committed() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (spool, mut reader) = Spool::<()>::open(&config(dir.path(), 1 << 30, 1 << 20)).unwrap();
        for i in 0..6u8 {
            spool.append(vec![i], None).await.unwrap();
        }
        let first = reader.next_chunk(4, Duration::from_millis(50)).await.unwrap();
        assert_eq!(first.len(), 4);
        reader.commit().unwrap();
        // Two more read but never committed: they must come back.
        assert_eq!(reader.next_chunk(4, Duration::from_millis(50)).await.unwrap().len(), 2);
    }
    let (spool, mut reader) = Spool::<()>::open(&config(dir.path(), 1 << 30, 1 << 20)).unwrap();
    assert_eq!(spool.pending_bytes(), 2 * 9);
    spool.append(vec![6], None).await.unwrap();
    assert_eq!(drain(&mut reader).await, vec![vec![4], vec![5], vec![6]]);
}

#[tokio::test]
async fn a_commit_to_a_mark_keeps_what_was_read_after_it() {
    // The writer commits a confirmed batch while the next one is read.
    let dir = tempfile::tempdir().unwrap();
    {
        let (spool, mut reader) = Spool::<()>::open(&config(dir.path(), 1 << 30, 1 << 20)).unwrap();
        for i in 0..6u8 {
            spool.append(vec![i], None).await.unwrap();
        }
        assert_eq!(reader.next_chunk(3, Duration::from_millis(50)).await.unwrap().len(), 3);
        let confirmed = reader.mark();
        assert_eq!(reader.next_chunk(2, Duration::from_millis(50)).await.unwrap().len(), 2);
        reader.commit_to(confirmed).unwrap();
        assert_eq!(spool.pending_bytes(), 3 * 9, "only the first three are done");
    }
    let (_spool, mut reader) = Spool::<()>::open(&config(dir.path(), 1 << 30, 1 << 20)).unwrap();
    assert_eq!(drain(&mut reader).await, vec![vec![3], vec![4], vec![5]]);
}

#[tokio::test]
async fn a_release_completes_when_the_reader_crossed_segments_with_a_batch_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, mut reader) = Spool::<()>::open(&config(dir.path(), 1 << 30, 1 << 20)).unwrap();
    spool.append(vec![1], None).await.unwrap();
    assert_eq!(reader.next_chunk(10, Duration::from_millis(50)).await.unwrap().len(), 1);
    let in_flight = reader.mark();
    let writer = async {
        // The release rotates; the reader moves on to the new segment
        // before the batch in flight is confirmed, then goes idle.
        reader.next_chunk(10, Duration::from_millis(300)).await.unwrap();
        reader.commit_to(in_flight).unwrap();
        reader.next_chunk(10, Duration::from_millis(100)).await.unwrap();
        reader.commit().unwrap();
    };
    let (released, ()) = tokio::join!(spool.release(Duration::from_secs(5)), writer);
    assert!(released.is_ok(), "{released:?}");
}

#[tokio::test]
async fn a_torn_tail_is_cut_and_later_records_survive() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (spool, _reader) = Spool::<()>::open(&config(dir.path(), 1 << 30, 1 << 20)).unwrap();
        spool.append(b"whole".to_vec(), None).await.unwrap();
    }
    // A crash in the middle of the next write.
    let seg = *list_segments(dir.path()).unwrap().last().unwrap();
    let mut f = OpenOptions::new().append(true).open(segment_path(dir.path(), seg)).unwrap();
    f.write_all(&[50, 0, 0, 0, 1, 2]).unwrap();
    drop(f);
    let (spool, mut reader) = Spool::<()>::open(&config(dir.path(), 1 << 30, 1 << 20)).unwrap();
    spool.append(b"after".to_vec(), None).await.unwrap();
    assert_eq!(drain(&mut reader).await, vec![b"whole".to_vec(), b"after".to_vec()]);
}

#[tokio::test]
async fn a_full_spool_refuses_appends_until_the_writer_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, mut reader) = Spool::<()>::open(&config(dir.path(), 100, 1 << 20)).unwrap();
    for _ in 0..2 {
        spool.append(vec![0; 50], None).await.unwrap();
    }
    assert!(matches!(spool.append(vec![0; 50], None).await, Err(SpoolError::Full(116))));
    drain(&mut reader).await;
    reader.commit().unwrap();
    spool.append(vec![0; 50], None).await.unwrap();
}

#[tokio::test]
async fn the_reader_returns_when_the_appending_side_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, mut reader) = Spool::<()>::open(&config(dir.path(), 1 << 30, 1 << 20)).unwrap();
    spool.append(b"last".to_vec(), None).await.unwrap();
    drop(spool);
    // Must neither spin nor wait out a long timeout.
    let got = tokio::time::timeout(Duration::from_secs(5), async {
        let mut all = Vec::new();
        loop {
            let chunk = reader.next_chunk(10, Duration::from_secs(3600)).await.unwrap();
            if chunk.is_empty() {
                return all;
            }
            all.extend(chunk);
        }
    })
    .await
    .expect("reader returned");
    assert_eq!(got.len(), 1);
}

#[tokio::test]
async fn append_returns_the_position_the_reader_reports() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, mut reader) = Spool::<()>::open(&config(dir.path(), 1 << 30, 100)).unwrap();
    let mut appended = Vec::new();
    for i in 0..12u8 {
        appended.push(spool.append(vec![i; 1 + i as usize * 7], None).await.unwrap());
    }
    let mut read = Vec::new();
    loop {
        let chunk = reader.next_chunk(5, Duration::from_millis(50)).await.unwrap();
        if chunk.is_empty() {
            break;
        }
        read.extend(chunk.into_iter().map(|r| r.at));
    }
    assert_eq!(read, appended, "positions agree, across segment rotations too");
    assert!(appended.last().unwrap().segment > appended[0].segment);
}

#[tokio::test]
async fn attachments_travel_with_their_records_until_a_rewind() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, mut reader) = Spool::<u32>::open(&config(dir.path(), 1 << 30, 1 << 20)).unwrap();
    spool.append(b"a".to_vec(), Some(1)).await.unwrap();
    spool.append(b"b".to_vec(), None).await.unwrap();
    let chunk = reader.next_chunk(10, Duration::from_millis(50)).await.unwrap();
    let got: Vec<(Vec<u8>, Option<u32>)> = chunk.into_iter().map(|r| (r.payload, r.attachment)).collect();
    assert_eq!(got, vec![(b"a".to_vec(), Some(1)), (b"b".to_vec(), None)]);
    reader.rewind();
    let again = reader.next_chunk(10, Duration::from_millis(50)).await.unwrap();
    assert!(again.iter().all(|r| r.attachment.is_none()), "after a rewind the bytes are all there is");
    assert_eq!(again.len(), 2);
}

/// Whether any segment file holds `needle`.
fn on_disk(dir: &Path, needle: &[u8]) -> bool {
    list_segments(dir).unwrap().iter().any(|s| std::fs::read(segment_path(dir, *s)).unwrap_or_default().windows(needle.len()).any(|w| w == needle))
}

#[tokio::test]
async fn a_release_leaves_nothing_from_before_it_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, mut reader) = Spool::<()>::open(&config(dir.path(), 1 << 30, 1 << 20)).unwrap();
    spool.append(b"ORD-7781-A of cust-881".to_vec(), None).await.unwrap();
    // The writer's loop: read, confirm, commit, keep asking.
    let writer = tokio::spawn(async move {
        loop {
            let chunk = reader.next_chunk(16, Duration::from_millis(20)).await.unwrap();
            drop(chunk);
            reader.commit().unwrap();
        }
    });
    // Confirmed but still in the active segment, until a release.
    let r = spool.release(Duration::from_secs(10)).await.expect("released");
    assert!(!on_disk(dir.path(), b"cust-881"), "the confirmed record is gone from disk");
    assert_eq!((r.segments, r.pending_bytes), (1, 0), "only the new, empty segment is left");
    // What arrives after the release stays until it is confirmed and released in turn.
    spool.append(b"later".to_vec(), None).await.unwrap();
    assert!(on_disk(dir.path(), b"later"));
    spool.release(Duration::from_secs(10)).await.expect("released");
    assert!(!on_disk(dir.path(), b"later"));
    // Nothing written: a release returns at once.
    assert!(spool.release(Duration::from_secs(1)).await.is_ok());
    writer.abort();
}

#[tokio::test]
async fn a_release_waits_for_records_not_yet_confirmed() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, _reader) = Spool::<()>::open(&config(dir.path(), 1 << 30, 1 << 20)).unwrap();
    spool.append(b"unconfirmed".to_vec(), None).await.unwrap();
    // No writer confirms it: the release gives up, saying what is left.
    let left = spool.release(Duration::from_millis(300)).await.unwrap_err();
    assert!(left.pending_bytes > 0);
    assert!(on_disk(dir.path(), b"unconfirmed"), "an unconfirmed record is never dropped");
}

#[tokio::test]
async fn an_idle_writer_still_releases_confirmed_records() {
    let dir = tempfile::tempdir().unwrap();
    let (spool, mut reader) = Spool::<()>::open(&config(dir.path(), 1 << 30, 1 << 20)).unwrap();
    spool.append(b"cust-881".to_vec(), None).await.unwrap();
    assert_eq!(reader.next_chunk(16, Duration::from_millis(20)).await.unwrap().len(), 1);
    reader.commit().unwrap();
    // As if RELEASE_AFTER had passed; from now on the writer only polls.
    reader.confirmed_since = Some(std::time::Instant::now() - RELEASE_AFTER);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while on_disk(dir.path(), b"cust-881") {
        assert!(std::time::Instant::now() < deadline, "a confirmed record outlived RELEASE_AFTER on an idle spool");
        assert!(reader.next_chunk(16, Duration::from_millis(20)).await.unwrap().is_empty());
    }
}
