//! Synthetic store history: realistic visits written straight into
//! ClickHouse through the collector's own row transform.
//!
//! Used twice: `make up` seeds 30 days of demo history the first time (so
//! the dashboards have something to show), and `make bench-dashboards`
//! writes 10 M events over 90 days. Each visit is an [`EdgeBatch`] as the
//! edge would forward it; [`Prepared`] strips personal data, parses the
//! user agent and builds the rows exactly as the collector does, with the
//! collector's pseudonym keys. Only the place (country, region, network)
//! is set by the generator afterwards: synthetic addresses have no real
//! GeoIP answer, and the demo's GeoIP data is a fixture.
//!
//! The shape: visits per day grow slowly with a weekend dip and a daily
//! curve; landing pages, products and search terms are Zipf-distributed;
//! about a third of visits bounce; a share of product views go on to the
//! cart, checkout and purchase; a slice of traffic comes from campaigns.
//! Deterministic for a seed.

use std::time::Instant;

use anyhow::Context;
use collector::enrich::Enricher;
use collector::pseudonym::Pseudonyms;
use collector::rows::Prepared;
use collector::sink::ClickHouseSink;
use mintmark_protocol::consent::OptInSource;
use mintmark_protocol::wire::{BeaconEvent, EdgeBatch, EventKind, Identity, PageContext, Tier};
use rand::distr::weighted::WeightedIndex;
use rand::distr::Distribution;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::Zipf;

const ORIGIN: &str = "https://shop.example.gov";
const PRODUCTS: u64 = 800;
const CATEGORIES: [&str; 12] = ["shoes", "shirts", "jackets", "bags", "hats", "socks", "kitchen", "garden", "toys", "books", "lamps", "gifts"];
const SEARCHES: [&str; 16] = [
    "running shoes", "rain jacket", "gift card", "red dress", "backpack", "wool socks", "desk lamp", "coffee mug",
    "sale", "kids shoes", "winter hat", "yoga mat", "return policy", "size guide", "water bottle", "phone case",
];
const DOWNLOADS: [&str; 3] = ["/store/files/size-guide.pdf", "/store/files/catalogue-2026.pdf", "/store/files/returns-form.pdf"];
const OUTBOUND: [&str; 4] = ["instagram.com", "help.shop-support.example", "maps.example.com", "youtube.com"];

/// `(user agent, screen, weight)`.
const DEVICES: [(&str, (u16, u16), u32); 7] = [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36", (1920, 1080), 33),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/19.1 Safari/605.1.15", (1440, 900), 12),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:146.0) Gecko/20100101 Firefox/146.0", (1366, 768), 6),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36 Edg/156.0.0.0", (1536, 864), 8),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 19_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/19.1 Mobile/15E148 Safari/604.1", (393, 852), 22),
    ("Mozilla/5.0 (Linux; Android 16; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36", (412, 915), 16),
    ("Mozilla/5.0 (iPad; CPU OS 19_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/19.1 Mobile/15E148 Safari/604.1", (820, 1180), 3),
];

/// `(country, regions, networks, language, time zone, weight)`.
type Country = (&'static str, &'static [&'static str], &'static [&'static str], &'static str, &'static str, u32);
const COUNTRIES: [Country; 10] = [
    ("US", &["California", "Texas", "New York", "Virginia", "Florida", "Illinois"], &["Comcast Cable", "AT&T Services", "Verizon Business", "Charter Communications"], "en-US", "America/New_York", 46),
    ("CA", &["Ontario", "Quebec", "British Columbia"], &["Rogers Communications", "Bell Canada"], "en-CA", "America/Toronto", 9),
    ("GB", &["England", "Scotland"], &["British Telecommunications", "Virgin Media"], "en-GB", "Europe/London", 8),
    ("DE", &["Bavaria", "Berlin", "Hesse"], &["Deutsche Telekom", "Vodafone GmbH"], "de-DE", "Europe/Berlin", 7),
    ("MX", &["Mexico City", "Jalisco"], &["Telmex"], "es-MX", "America/Mexico_City", 6),
    ("FR", &["Ile-de-France", "Occitanie"], &["Orange", "Free SAS"], "fr-FR", "Europe/Paris", 5),
    ("IN", &["Maharashtra", "Karnataka"], &["Reliance Jio", "Bharti Airtel"], "en-IN", "Asia/Kolkata", 5),
    ("JP", &["Tokyo", "Osaka"], &["NTT Communications"], "ja-JP", "Asia/Tokyo", 4),
    ("BR", &["Sao Paulo"], &["Claro", "Vivo"], "pt-BR", "America/Sao_Paulo", 4),
    ("AU", &["New South Wales", "Victoria"], &["Telstra"], "en-AU", "Australia/Sydney", 3),
];

/// `(referrer, utm (source, medium, campaign), weight)`.
type Source = (Option<&'static str>, Option<(&'static str, &'static str, &'static str)>, u32);
const SOURCES: [Source; 11] = [
    (None, None, 30),
    (Some("https://www.google.com/"), None, 28),
    (Some("https://www.bing.com/"), None, 5),
    (Some("https://duckduckgo.com/"), None, 3),
    (Some("https://www.facebook.com/"), None, 4),
    (Some("https://www.reddit.com/"), None, 2),
    (Some("https://news.example.com/best-gifts"), None, 2),
    (None, Some(("newsletter", "email", "black-friday")), 8),
    (Some("https://www.google.com/"), Some(("google", "cpc", "brand")), 9),
    (Some("https://www.facebook.com/"), Some(("facebook", "social", "holiday-2026")), 6),
    (Some("https://www.instagram.com/"), Some(("instagram", "social", "holiday-2026")), 3),
];

/// Visits per hour of the day (UTC), relative.
const HOURS: [u32; 24] = [3, 2, 2, 2, 2, 3, 5, 7, 9, 10, 11, 12, 13, 13, 14, 15, 16, 17, 18, 18, 16, 12, 8, 5];

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Stop after about this many events.
    pub events: u64,
    pub days: u32,
    /// The history ends here (Unix seconds).
    pub until: i64,
    pub seed: u64,
}

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seeded {
    pub visits: u64,
    pub t2_events: u64,
    pub t3_events: u64,
}

fn price(sku: u64) -> f64 {
    // Deterministic per product: 4.99 .. 199.99.
    (5 + (sku * 7919) % 195) as f64 - 0.01
}

fn hex_id(rng: &mut StdRng) -> String {
    format!("{:032x}", rng.random::<u128>())
}

struct Generator {
    rng: StdRng,
    days: WeightedIndex<f64>,
    hours: WeightedIndex<u32>,
    devices: WeightedIndex<u32>,
    countries: WeightedIndex<u32>,
    sources: WeightedIndex<u32>,
    products: Zipf<f64>,
    categories: Zipf<f64>,
    searches: Zipf<f64>,
    first_day: i64,
    /// The plan's seed and end: the demo consent schedule's inputs.
    seed: u64,
    until: i64,
}

/// One visit: its batch and where it came from.
struct Visit {
    batch: EdgeBatch,
    country: &'static str,
    region: &'static str,
    network: &'static str,
}

impl Generator {
    fn new(plan: &Plan) -> Generator {
        let last_day = plan.until.div_euclid(86_400);
        let first_day = last_day - plan.days as i64 + 1;
        // Slow growth, and weekends at 80 %.
        let weights: Vec<f64> = (0..plan.days as i64)
            .map(|d| {
                let weekday = (first_day + d + 3).rem_euclid(7); // 0 = Monday
                (1.0 + 0.4 * d as f64 / plan.days as f64) * if weekday >= 5 { 0.8 } else { 1.0 }
            })
            .collect();
        Generator {
            rng: StdRng::seed_from_u64(plan.seed),
            days: WeightedIndex::new(weights).expect("positive weights"),
            hours: WeightedIndex::new(HOURS).expect("positive weights"),
            devices: WeightedIndex::new(DEVICES.map(|d| d.2)).expect("positive weights"),
            countries: WeightedIndex::new(COUNTRIES.map(|c| c.5)).expect("positive weights"),
            sources: WeightedIndex::new(SOURCES.map(|s| s.2)).expect("positive weights"),
            products: Zipf::new(PRODUCTS as f64, 1.1).expect("valid Zipf"),
            categories: Zipf::new(CATEGORIES.len() as f64, 1.0).expect("valid Zipf"),
            searches: Zipf::new(SEARCHES.len() as f64, 1.2).expect("valid Zipf"),
            first_day,
            seed: plan.seed,
            until: plan.until,
        }
    }

    fn product(&mut self) -> u64 {
        self.products.sample(&mut self.rng) as u64
    }

    fn event(&mut self, kind: EventKind, ts_ms: u64, url: &str, referrer: Option<&str>, title: &str) -> BeaconEvent {
        let id = hex_id(&mut self.rng);
        BeaconEvent { referrer: referrer.map(String::from), title: Some(title.to_string()), ..BeaconEvent::new(&id, kind, ts_ms, url) }
    }

    fn visit(&mut self, until: i64) -> Visit {
        let r = &mut self.rng;
        let day = self.first_day + self.days.sample(r) as i64;
        let mut ts = (day * 86_400 + self.hours.sample(r) as i64 * 3600 + r.random_range(0..3600)).min(until - 1) * 1000;
        let (ua, (w, h), _) = DEVICES[self.devices.sample(r)];
        let (country, regions, networks, language, time_zone, _) = COUNTRIES[self.countries.sample(r)];
        let region = regions[r.random_range(0..regions.len())];
        let network = networks[r.random_range(0..networks.len())];
        let (referrer, utm, _) = SOURCES[self.sources.sample(r)];
        // 7 % have cookies off (anonymous), 6 % are opted-in customers.
        let roll = r.random_range(0..100);
        let tier = match roll {
            0..=6 => Tier::Anonymous,
            7..=12 => Tier::Tier3,
            _ => Tier::Tier2,
        };
        let connection = if ua.contains("Safari/6") && !ua.contains("Chrome") { "" } else { ["4g", "4g", "4g", "4g", "3g", "2g"][r.random_range(0..6)] };
        let context = PageContext {
            screen_width: w,
            screen_height: h,
            color_depth: 24,
            language: language.into(),
            time_zone: time_zone.into(),
            connection_type: connection.into(),
            downlink_mbps: if connection == "4g" { 10.0 } else { 1.5 },
        };

        let landing = match r.random_range(0..100) {
            0..=39 => "/store/".to_string(),
            40..=84 => format!("/store/products/{}", self.product()),
            _ => format!("/store/c/{}", CATEGORIES[self.categories.sample(&mut self.rng) as usize - 1]),
        };
        let r = &mut self.rng;
        // Term and content, where a real store's ads and mails carry them;
        // picked from the visit's time, not the generator, so the rest of
        // the history stays as it was.
        let pick = (ts / 1000) as usize;
        let campaign = utm
            .map(|(s, m, c)| {
                let extra = match m {
                    "cpc" => format!("&utm_term={}", ["coins", "silver+coins", "gold+bullion"][pick % 3]),
                    "email" => format!("&utm_content={}", ["hero", "footer"][pick % 2]),
                    _ => String::new(),
                };
                format!("?utm_source={s}&utm_medium={m}&utm_campaign={c}{extra}")
            })
            .unwrap_or_default();
        let bounce = r.random_bool(0.36);
        let pages = if bounce { 1 } else { 2 + (r.random::<f64>().ln() / 0.72_f64.ln()) as u32 }.min(40);
        let mut events = Vec::new();
        let mut cart: Vec<(u64, u32)> = Vec::new();
        let mut path = landing;
        let mut previous: Option<String> = referrer.map(String::from);
        for i in 0..pages {
            let url = format!("{ORIGIN}{path}{}", if i == 0 { campaign.as_str() } else { "" });
            let title = if path.starts_with("/store/products/") { "Product" } else { "mintmark demo store" };
            events.push(self.event(EventKind::Pageview, ts as u64, &url, previous.as_deref(), title));
            if let Some(sku) = path.strip_prefix("/store/products/").and_then(|s| s.parse::<u64>().ok()) {
                ts += 2_000;
                events.push(self.event(EventKind::ProductView, ts as u64, &url, None, title));
                if !bounce && self.rng.random_bool(0.14) {
                    ts += 15_000;
                    let qty = if self.rng.random_bool(0.8) { 1 } else { 2 };
                    let mut e = self.event(EventKind::AddToCart, ts as u64, &url, None, title);
                    e.value = Some(price(sku) * qty as f64);
                    e.currency = Some("USD".into());
                    events.push(e);
                    cart.push((sku, qty));
                }
            }
            // Custom events (`mintmark.track()`): a newsletter sign-up
            // from the first page of some visits, and a wishlist.
            if i == 0 && !bounce && pick % 100 < 15 {
                let mut e = self.event(EventKind::Custom, ts as u64 + 1_000, &url, None, title);
                e.target = Some("newsletter_signup".into());
                e.props = vec![("list".into(), mintmark_protocol::wire::PropValue::Str(["offers", "coins"][pick % 2].into()))];
                events.push(e);
            }
            if path.starts_with("/store/products/") && pick % 100 >= 88 && i > 0 {
                let mut e = self.event(EventKind::Custom, ts as u64 + 2_500, &url, None, title);
                e.target = Some("wishlist_add".into());
                events.push(e);
            }
            if path == "/store/search" {
                let term = SEARCHES[self.searches.sample(&mut self.rng) as usize - 1];
                let mut e = self.event(EventKind::Search, ts as u64 + 500, &url, None, title);
                e.target = Some(term.into());
                events.push(e);
            }
            if !bounce && self.rng.random_bool(0.015) {
                let mut e = self.event(EventKind::Download, ts as u64 + 3_000, &url, None, title);
                e.target = Some(format!("{ORIGIN}{}", DOWNLOADS[self.rng.random_range(0..DOWNLOADS.len())]));
                events.push(e);
            }
            if self.rng.random_bool(0.012) {
                let mut e = self.event(EventKind::Outbound, ts as u64 + 4_000, &url, None, title);
                e.target = Some(OUTBOUND[self.rng.random_range(0..OUTBOUND.len())].into());
                events.push(e);
            }
            previous = Some(url);
            ts += self.rng.random_range(8_000..150_000);
            path = match self.rng.random_range(0..100) {
                0..=57 => format!("/store/products/{}", self.product()),
                58..=82 => format!("/store/c/{}", CATEGORIES[self.categories.sample(&mut self.rng) as usize - 1]),
                83..=92 => "/store/".to_string(),
                _ => "/store/search".to_string(),
            };
        }
        if !cart.is_empty() && self.rng.random_bool(0.5) {
            let url = format!("{ORIGIN}/store/checkout");
            let total: f64 = cart.iter().map(|(s, q)| price(*s) * *q as f64).sum();
            let mut e = self.event(EventKind::CheckoutStart, ts as u64, &url, previous.as_deref(), "Checkout");
            e.value = Some(total);
            e.currency = Some("USD".into());
            events.push(e);
            if self.rng.random_bool(0.65) {
                ts += self.rng.random_range(30_000..240_000);
                let mut e = self.event(EventKind::Purchase, ts as u64, &format!("{ORIGIN}/store/thanks"), Some(&url), "Thank you");
                e.value = Some((total * 100.0).round() / 100.0);
                e.currency = Some("USD".into());
                e.items = cart.iter().map(|(s, q)| mintmark_protocol::wire::Item { sku: format!("SKU-{s:04}"), quantity: *q, price: Some(price(*s)) }).collect();
                events.push(e);
            }
        }
        let r = &mut self.rng;
        // A customer's visit is Tier 3 only inside their opt-in (the demo
        // ledger says the same); otherwise it is an ordinary Tier 2 visit.
        let customer = r.random_range(0..20_000u32);
        let (first_ms, last_ms) = (events.first().map_or(0, |e| e.ts), events.last().map_or(0, |e| e.ts));
        let consent = crate::orders::demo_consent(customer, self.seed, self.until).filter(|c| c.covers(first_ms, last_ms));
        let tier = if tier == Tier::Tier3 && consent.is_none() { Tier::Tier2 } else { tier };
        let session = (tier != Tier::Anonymous).then(|| hex_id(r));
        let identity = consent.filter(|_| tier == Tier::Tier3).map(|c| Identity {
            visitor_id: format!("{:032x}", customer as u128 * 0x9e37_79b9_7f4a_7c15),
            customer_ref: crate::orders::customer_ref(customer),
            consent_source: OptInSource::Registration,
            policy_version: 3,
            consent_issued_at: u64::from(c.opt_in),
        });
        let ip = if tier == Tier::Tier3 { format!("198.51.100.{}", r.random_range(1..255)) } else { "198.51.100.0".into() };
        let received_at = events.last().map(|e| e.ts).unwrap_or(ts as u64) + 500;
        Visit {
            batch: EdgeBatch { v: 1, received_at, tier, session_id: session, identity, sealed: None, ip, user_agent: ua.into(), context, events },
            country,
            region,
            network,
        }
    }
}

/// Writes `plan`'s history; `progress(events so far)` is called after each
/// insert block.
pub async fn seed(
    client: &clickhouse::Client,
    dbs: &mintmark_schema::Databases,
    ids: &Pseudonyms,
    enricher: Option<&Enricher>,
    plan: Plan,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<Seeded> {
    let sink = ClickHouseSink::new(client.clone(), dbs);
    let mut g = Generator::new(&plan);
    let mut done = Seeded::default();
    let started = Instant::now();
    // Blocks of visits: prepared together, inserted as one block each.
    const BLOCK: usize = 20_000;
    while done.t2_events < plan.events {
        let visits: Vec<Placed> = (0..BLOCK).map(|_| g.visit(plan.until)).map(|v| (v.batch, v.country, v.region, v.network)).collect();
        let wrote = write(&sink, ids, enricher, visits).await?;
        (done.visits, done.t2_events, done.t3_events) = (done.visits + wrote.visits, done.t2_events + wrote.t2_events, done.t3_events + wrote.t3_events);
        progress(done.t2_events);
    }
    tracing::info!(visits = done.visits, events = done.t2_events, secs = started.elapsed().as_secs_f64(), "history written");
    Ok(done)
}

/// A visit as the edge would forward it, with the place a GeoIP lookup
/// would have given it: `(batch, country, region, network)`.
pub type Placed = (EdgeBatch, &'static str, &'static str, &'static str);

/// Writes `visits` as one insert block each for t2 and t3, through the
/// collector's own row transform.
async fn write(sink: &ClickHouseSink, ids: &Pseudonyms, enricher: Option<&Enricher>, visits: Vec<Placed>) -> anyhow::Result<Seeded> {
    let mut done = Seeded::default();
    let prepared: Vec<_> = visits.into_iter().map(|(batch, country, region, network)| (Prepared::new(batch, enricher), country, region, network)).collect();
    let mut t2 = sink.open_t2().await.context("opening the t2 insert")?;
    let mut t3 = sink.open_t3().await.context("opening the t3 insert")?;
    for (prepared, country, region, network) in &prepared {
        let rows = prepared.rows(ids);
        for mut row in rows.t2 {
            (row.country, row.region, row.network) = (country, region, network);
            t2.write(&row).await?;
            done.t2_events += 1;
        }
        for mut row in rows.t3 {
            (row.country, row.region, row.network) = (country, region, network);
            t3.write(&row).await?;
            done.t3_events += 1;
        }
        done.visits += 1;
    }
    t2.end().await.context("inserting t2 rows")?;
    t3.end().await.context("inserting t3 rows")?;
    Ok(done)
}

/// Writes hand-made visits (a test's planted ones) the way [`seed`] writes
/// its own.
pub async fn write_visits(client: &clickhouse::Client, dbs: &mintmark_schema::Databases, ids: &Pseudonyms, visits: Vec<Placed>) -> anyhow::Result<Seeded> {
    write(&ClickHouseSink::new(client.clone(), dbs), ids, None, visits).await
}

/// The demo's history: 30 days up to now, written the first time only
/// (when `t2.events` is empty). Returns what was written, if anything.
pub async fn seed_demo(config: &mintmark_config::Config, events: u64) -> anyhow::Result<Option<Seeded>> {
    let client = mintmark_schema::client(&config.clickhouse);
    let dbs = mintmark_schema::Databases::new(&config.clickhouse.database_prefix)?;
    let existing: u64 = client.query(&format!("SELECT toUInt64(count()) FROM {}.events", dbs.t2)).fetch_one().await.context("counting t2.events")?;
    if existing > 0 {
        return Ok(None);
    }
    let ids = Pseudonyms::from_keys(&config.keys).context("the pseudonym key")?;
    let enricher = Enricher::open(&collector::server::enrich_config(config)).ok();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
    // Ends an hour ago, so what a live visit adds stands out in realtime.
    let plan = Plan { events, days: 30, until: now - 3600, seed: 2026 };
    Ok(Some(seed(&client, &dbs, &ids, enricher.as_ref(), plan, |_| {}).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visits_look_like_a_store() {
        let plan = Plan { events: 0, days: 30, until: 1_795_000_000, seed: 7 };
        let mut g = Generator::new(&plan);
        let visits: Vec<Visit> = (0..5_000).map(|_| g.visit(plan.until)).collect();
        let events: usize = visits.iter().map(|v| v.batch.events.len()).sum();
        let per_visit = events as f64 / visits.len() as f64;
        assert!((2.0..12.0).contains(&per_visit), "{per_visit} events per visit");
        let bounces = visits.iter().filter(|v| v.batch.events.iter().filter(|e| e.kind == EventKind::Pageview).count() == 1).count();
        assert!((0.3..0.5).contains(&(bounces as f64 / 5_000.0)), "{bounces} bounces");
        let purchases = visits.iter().filter(|v| v.batch.events.iter().any(|e| e.kind == EventKind::Purchase)).count();
        assert!(purchases > 20 && purchases < 600, "{purchases} purchases");
        let first = plan.until - 30 * 86_400;
        assert!(visits.iter().flat_map(|v| &v.batch.events).all(|e| (e.ts as i64) >= first * 1000 - 86_400_000 && (e.ts as i64) < (plan.until + 86_400) * 1000));
        for v in &visits {
            assert_eq!(v.batch.session_id.is_some(), v.batch.tier != Tier::Anonymous);
            assert_eq!(v.batch.identity.is_some(), v.batch.tier == Tier::Tier3);
            if let Some(id) = &v.batch.identity {
                let n: u32 = id.customer_ref.trim_start_matches("demo-customer-").parse().unwrap();
                let (first, last) = (v.batch.events[0].ts, v.batch.events.last().unwrap().ts);
                let consent = crate::orders::demo_consent(n, plan.seed, plan.until).expect("only opted-in customers are Tier 3");
                assert!(consent.covers(first, last) && id.consent_issued_at == u64::from(consent.opt_in), "{id:?} {consent:?}");
            }
            assert!(v.batch.validate().is_ok(), "{:?}", v.batch.validate());
        }
        let again: Vec<String> = { let mut g = Generator::new(&plan); (0..10).map(|_| g.visit(plan.until).batch.events[0].id.clone()).collect() };
        assert_eq!(again, visits[..10].iter().map(|v| v.batch.events[0].id.clone()).collect::<Vec<_>>(), "deterministic for a seed");
    }
}
