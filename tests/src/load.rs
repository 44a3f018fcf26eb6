//! A bounded loopback load generator for the collector: signed edge batches
//! of 20 events, sent by a few concurrent workers, recording which events
//! were acknowledged (2xx). Stops when told, or after `max_batches`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mintmark_protocol::consent::OptInSource;
use mintmark_protocol::keys::KeyRing;
use mintmark_protocol::signing::{self, HEADER_KEY_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use mintmark_protocol::wire::{BeaconEvent, EdgeBatch, EventKind, Identity, PageContext, Tier};

pub const EVENTS_PER_BATCH: usize = 20;

#[derive(Default)]
pub struct LoadStats {
    pub acked_ids: Mutex<Vec<String>>,
    pub acked_batches: AtomicU64,
    pub failed: AtomicU64,
    pub ack_micros: Mutex<Vec<u64>>,
    stop: AtomicBool,
}

impl LoadStats {
    pub fn acked(&self) -> u64 {
        self.acked_batches.load(Ordering::SeqCst)
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// Customers of the Tier 3 batches: `cust-0` … `cust-99`.
pub const CUSTOMERS: u64 = 100;

/// The sealing keys of each run tag's customers.
static SEAL_KEYS: std::sync::LazyLock<std::sync::RwLock<std::collections::HashMap<u32, Vec<(String, [u8; 32])>>>> = std::sync::LazyLock::new(Default::default);

/// Mints a sealing key for each load customer through the collector's own
/// key store, so Tier 3 batches open at the collector and make rows
/// (without it they are sealed under keys nobody has: Tier 2 copies only).
/// `tags` are the runs ([`start`]'s `tag`) that send to this ClickHouse.
pub async fn mint_seal_keys(client: &clickhouse::Client, ledger: &str, ids: &collector::pseudonym::Pseudonyms, tags: &[u32]) -> anyhow::Result<()> {
    let seals = collector::seal_keys::SealKeys::new(client.clone(), ledger, ids.clone());
    let mut keys = Vec::new();
    for c in 0..CUSTOMERS {
        let m = seals.mint(ids.subject(&format!("cust-{c}")).as_str(), (now_ms() / 1000) as u32).await?;
        keys.push((m.kid, m.key));
    }
    // Per run: tests of one process run at once, each on its own stack.
    let mut all = SEAL_KEYS.write().expect("not poisoned");
    for tag in tags {
        all.insert(*tag, keys.clone());
    }
    Ok(())
}

/// Seals `batch`'s identity and full address under `key`, as the edge does.
pub fn seal(batch: &mut EdgeBatch, kid: &str, key: &[u8; 32]) {
    if let Some(identity) = batch.identity.take() {
        let what = mintmark_protocol::seal::Sealed { identity, ip: batch.ip.clone() };
        let nonce: [u8; 12] = rand::random();
        batch.sealed = Some(mintmark_protocol::seal::seal(key, kid, nonce, &what));
        batch.ip = mintmark_protocol::ip::truncate(&batch.ip).map(|a| a.to_string()).unwrap_or_default();
    }
}

/// Batch `n` of run `tag`: event ids are unique across runs and batches.
/// Every tenth batch is Tier 3, sealed.
pub fn batch(tag: u32, n: u64) -> EdgeBatch {
    let mut b = open_batch(tag, n);
    let customer = (n % CUSTOMERS) as usize;
    let all = SEAL_KEYS.read().expect("not poisoned");
    match all.get(&tag).and_then(|keys| keys.get(customer)) {
        Some((kid, key)) => seal(&mut b, kid, key),
        None => seal(&mut b, &format!("{customer:032x}"), &[0; 32]),
    }
    b
}

/// The same with its identity in the clear (how the collector holds it in memory).
pub fn open_batch(tag: u32, n: u64) -> EdgeBatch {
    let tier = if n % 10 == 9 { Tier::Tier3 } else { Tier::Tier2 };
    let now = now_ms();
    EdgeBatch {
        v: 1,
        received_at: now,
        tier,
        session_id: Some(format!("{:032x}", n % 1000)),
        identity: (tier == Tier::Tier3).then(|| Identity {
            visitor_id: format!("{:032x}", n % 100),
            customer_ref: format!("cust-{}", n % CUSTOMERS),
            consent_source: OptInSource::Purchase,
            policy_version: 1,
            consent_issued_at: 0,
        }),
        sealed: None,
        ip: if tier == Tier::Tier3 { "203.0.113.77".into() } else { "203.0.113.0".into() },
        user_agent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36".into(),
        context: PageContext { screen_width: 1920, screen_height: 1080, color_depth: 24, language: "en-US".into(), ..Default::default() },
        events: (0..EVENTS_PER_BATCH as u64)
            .map(|i| {
                let kind = if i == 0 { EventKind::Pageview } else { EventKind::ProductView };
                let url = format!("https://shop.example.gov/store/products/{i}");
                BeaconEvent {
                    referrer: Some("https://shop.example.gov/store/".into()),
                    title: Some("Product".into()),
                    ..BeaconEvent::new(&format!("{tag:08x}{n:016x}{i:08x}"), kind, now, &url)
                }
            })
            .collect(),
    }
}

/// A POST of `body` to `url` carrying `sig` in the edge's signature headers:
/// how every test and bench talks to the collector's ingest.
pub fn signed_post(http: &reqwest::Client, url: &str, sig: &signing::BatchSignature, body: Vec<u8>) -> reqwest::RequestBuilder {
    http.post(url)
        .header(HEADER_KEY_ID, &sig.key_id)
        .header(HEADER_TIMESTAMP, sig.timestamp.to_string())
        .header(HEADER_SIGNATURE, &sig.mac_hex)
        .body(body)
}

/// Starts `workers` senders; returns the shared stats and their handles.
pub fn start(url: String, ring: KeyRing, tag: u32, workers: usize, max_batches: u64) -> (Arc<LoadStats>, Vec<tokio::task::JoinHandle<()>>) {
    let stats = Arc::new(LoadStats::default());
    let next = Arc::new(AtomicU64::new(0));
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let handles = (0..workers)
        .map(|_| {
            let (stats, next, http, url, ring) = (stats.clone(), next.clone(), http.clone(), url.clone(), ring.clone());
            tokio::spawn(async move {
                while !stats.stop.load(Ordering::SeqCst) {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    if n >= max_batches {
                        break;
                    }
                    let b = batch(tag, n);
                    let body = serde_json::to_vec(&b).unwrap();
                    let sig = signing::sign(&ring, now_ms() / 1000, &body);
                    let started = std::time::Instant::now();
                    let resp = signed_post(&http, &url, &sig, body).send().await;
                    match resp {
                        Ok(r) if r.status().is_success() => {
                            stats.ack_micros.lock().unwrap().push(started.elapsed().as_micros() as u64);
                            stats.acked_ids.lock().unwrap().extend(b.events.iter().map(|e| e.id.clone()));
                            stats.acked_batches.fetch_add(1, Ordering::SeqCst);
                        }
                        _ => {
                            stats.failed.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
            })
        })
        .collect();
    (stats, handles)
}

/// Sends every prepared batch with `in_flight` workers, worker `w` to
/// `urls[w % urls.len()]`; every answer must be a 2xx. Returns the
/// client-side ack latencies (ms).
pub async fn send_all(urls: &[String], prepared: &Arc<Vec<(Vec<u8>, signing::BatchSignature)>>, in_flight: usize) -> Vec<f64> {
    let http = reqwest::Client::builder().pool_max_idle_per_host(in_flight).build().unwrap();
    let next = Arc::new(AtomicU64::new(0));
    let acks = Arc::new(Mutex::new(Vec::with_capacity(prepared.len())));
    let workers: Vec<_> = (0..in_flight)
        .map(|w| {
            let (prepared, next, acks, http, url) = (prepared.clone(), next.clone(), acks.clone(), http.clone(), urls[w % urls.len()].clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some((body, sig)) = prepared.get(i) else { return };
                    let t = std::time::Instant::now();
                    let resp = signed_post(&http, &url, sig, body.clone()).send().await.expect("server answers");
                    assert!(resp.status().is_success(), "batch {i} refused: {}", resp.status());
                    acks.lock().unwrap().push(t.elapsed().as_secs_f64() * 1000.0);
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("sender task");
    }
    let acks = acks.lock().unwrap().clone();
    acks
}
