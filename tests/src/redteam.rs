//! The red-team harness of the Tier 2 release layer: one visit with a
//! secret bit, planted among realistic history on a day of its own, and the
//! attacks an analyst with an API token would try on it, through the
//! running system (edge, collector, ClickHouse, dashboards over HTTP).
//!
//! The attacker is as strong as we can make them: they know every other
//! visit exactly (the harness hands them the exact answer without the
//! target, what the store's own records would tell), and want to know
//! whether the target visit happened: the visit of a known device (a rare
//! screen size, shared with twenty "cover" visits that day) from a region
//! none of the cover visits has, that opened a gift-card page nobody else
//! opens, searched a term nobody else searches and bought. Each attack
//! turns what the dashboards answer into a score whose value is the
//! target's contribution (0 or 1 visit) plus whatever noise there is, and
//! guesses "present" when the score is above ½. Every attack has an
//! analyst of its own, so each has the whole daily budget for the day.
//!
//! The same harness runs against any dashboards binary speaking the same
//! API (`DEVSTACK_DASHBOARDS_BIN`), which is how `make bench-privacy`
//! measures the release layer against main before it.

use std::collections::BTreeMap;

use anyhow::Context;
use mintmark_protocol::wire::{BeaconEvent, EdgeBatch, EventKind, Item, PageContext, Tier};
use serde_json::Value;

use devstack::history::{self, Placed, Plan};

pub const ATTACKS: [&str; 6] = [
    "a filter isolating it",
    "X against X and not Z",
    "total minus the known rest",
    "neighbouring chart points",
    "asked again and rephrased",
    "contains, extended",
];

const SCREEN: (u16, u16) = (1337, 999);
const SCREEN_NAME: &str = "1337x999";
const TARGET_REGION: &str = "Redteam County";
const COVER: usize = 20;
const UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";

/// One trial: a day and whether its target visit is in the data.
#[derive(Debug, Clone, Copy)]
pub struct Trial {
    pub day: dashboards::query::Day,
    pub bit: bool,
    /// The target's hour of the day.
    pub hour: u32,
}

impl Trial {
    fn page(&self) -> String {
        format!("/store/gift-card-{}", self.day.0)
    }

    fn term(&self) -> String {
        format!("redteam gift {}", self.day.0)
    }
}

/// What one attack answered in one trial.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub attack: &'static str,
    pub day: String,
    pub bit: bool,
    pub score: f64,
    pub guess: bool,
    /// ε the attacker's account spent on the target's day (cells another
    /// analyst released first are read free, and not counted here).
    pub epsilon_spent: f64,
    /// ε every account together spent on the day, the shared views
    /// included: what all the answers about the day are worth at most.
    pub epsilon_day_total: f64,
    /// Questions the budget refused.
    pub refused: u32,
}

fn id(seed: u64, n: u64) -> String {
    format!("{:016x}{:016x}", seed, n)
}

fn batch(session: String, ts_ms: u64, events: Vec<BeaconEvent>) -> EdgeBatch {
    let context = PageContext {
        screen_width: SCREEN.0,
        screen_height: SCREEN.1,
        color_depth: 24,
        language: "en-US".into(),
        time_zone: "America/New_York".into(),
        connection_type: "4g".into(),
        downlink_mbps: 10.0,
    };
    let received_at = events.last().map(|e| e.ts).unwrap_or(ts_ms) + 500;
    EdgeBatch { v: 1, received_at, tier: Tier::Tier2, session_id: Some(session), identity: None, sealed: None, ip: "198.51.100.0".into(), user_agent: UA.into(), context, events }
}

/// The cover visits of a trial (always there) and its target (when the bit
/// is set), as the collector would store them.
pub fn planted(origin: &str, t: &Trial, seed: u64) -> Vec<Placed> {
    let mut out = Vec::new();
    let base = t.day.start_secs() as u64 * 1000;
    for c in 0..COVER as u64 {
        let ts = base + (c * 3_600_000 * 23 / COVER as u64) + 60_000;
        let e = BeaconEvent::new(&id(seed, c * 10), EventKind::Pageview, ts, &format!("{origin}/store/"));
        let e2 = BeaconEvent::new(&id(seed, c * 10 + 1), EventKind::Pageview, ts + 30_000, &format!("{origin}/store/c/gifts"));
        out.push((batch(id(seed, 1_000 + c), ts, vec![e, e2]), "US", "Virginia", "Verizon Business"));
    }
    if t.bit {
        let ts = base + u64::from(t.hour) * 3_600_000 + 600_000;
        let page = format!("{origin}{}", t.page());
        let mut search = BeaconEvent::new(&id(seed, 900), EventKind::Search, ts + 20_000, &format!("{origin}/store/search"));
        search.target = Some(t.term());
        let mut purchase = BeaconEvent::new(&id(seed, 901), EventKind::Purchase, ts + 90_000, &format!("{origin}/store/thanks"));
        purchase.value = Some(50.0);
        purchase.currency = Some("USD".into());
        purchase.items = vec![Item { sku: "SKU-GIFT".into(), quantity: 1, price: Some(50.0) }];
        let events = vec![BeaconEvent::new(&id(seed, 902), EventKind::Pageview, ts, &page), search, purchase];
        out.push((batch(id(seed, 999), ts, events), "US", TARGET_REGION, "Verizon Business"));
    }
    out
}

/// An analyst's API client.
pub struct Analyst {
    pub name: String,
    pub id: i64,
    /// Its API token (`mmt_…`, scope `read`).
    pub token: String,
    base: String,
    http: reqwest::Client,
}

impl Analyst {
    /// A new analyst with an API token, made in the accounts database.
    pub fn create(data_dir: &std::path::Path, base: &str, name: &str) -> anyhow::Result<Analyst> {
        let accounts = dashboards::accounts::Accounts::open(data_dir)?;
        let user = match accounts.get(name)? {
            Some(u) => u,
            None => accounts.add_user(name, &format!("{name}-password-redteam"), "analyst".parse()?)?,
        };
        let (_, token) = accounts.create_token(name, "redteam", dashboards::tokens::TokenScope::Read, dashboards::accounts::now_secs(), 86_400)?;
        Ok(Analyst { name: name.into(), id: user.id, token, base: base.into(), http: reqwest::Client::new() })
    }

    /// `GET /api/v1/<path>`: `Ok(None)` when the budget refused it.
    pub async fn get(&self, path: &str) -> anyhow::Result<Option<Value>> {
        let resp = self.http.get(format!("{}/api/v1/{path}", self.base)).bearer_auth(&self.token).send().await?;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        match status {
            200 => Ok(Some(body)),
            403 if body["error"].as_str().is_some_and(|e| e.contains("budget")) => Ok(None),
            _ => anyhow::bail!("GET {path}: {status} {body}"),
        }
    }
}

/// A released number as the attacker reads it: a suppressed or unclear
/// one counts as 0, the best guess it allows.
pub fn number(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

fn metric(top: &Value, name: &str) -> f64 {
    top["rows"].as_array().and_then(|rows| rows.iter().find(|r| r["metric"] == name)).map(|r| number(&r["value"])).unwrap_or(0.0)
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Exact facts the attacker is granted: what the day looks like without
/// the target (they know every other visit).
pub struct Known {
    /// Visits of the day, all of them.
    pub day_visits: f64,
    /// Visits of the rare screen in the target's hour.
    pub hour_visits: f64,
}

/// Reads what the attacker knows, from ClickHouse, without the target.
pub async fn known(client: &clickhouse::Client, t: &Trial) -> anyhow::Result<Known> {
    #[derive(clickhouse::Row, serde::Deserialize)]
    struct N {
        n: u64,
    }
    let day = t.day.to_string();
    let visits: N = client.query(&format!("SELECT toUInt64(count()) AS n FROM t2.visits WHERE start_day = '{day}' AND visits = 1")).fetch_one().await?;
    let hour: N = client
        .query(&format!(
            "SELECT toUInt64(count()) AS n FROM t2.visits WHERE start_day = '{day}' AND visits = 1 AND screen = '{SCREEN_NAME}' AND toHour(first_ts, 'UTC') = {}",
            t.hour
        ))
        .fetch_one()
        .await?;
    let with = f64::from(u8::from(t.bit));
    Ok(Known { day_visits: visits.n as f64 - with, hour_visits: hour.n as f64 - with })
}

/// Runs every attack on one trial; `analysts` has one account per attack.
pub async fn attack(analysts: &[Analyst], t: &Trial, known: &Known, spent: impl Fn(&Analyst, dashboards::query::Day) -> f64) -> anyhow::Result<Vec<Outcome>> {
    let d = t.day.to_string();
    let one_day = format!("period=custom&from={d}&to={d}");
    let mut out = Vec::new();
    let mut record = |i: usize, score: f64, refused: u32, eps: f64| {
        out.push(Outcome { attack: ATTACKS[i], day: d.clone(), bit: t.bit, score, guess: score > 0.5, epsilon_spent: eps, epsilon_day_total: 0.0, refused });
    };
    let visits = |v: &Option<Value>| v.as_ref().map(|v| metric(v, "visits")).unwrap_or(0.0);

    // 1. The target's own page, as a filter.
    let a = &analysts[0];
    let page = enc(&format!("page:is:{}", t.page()));
    let v = visits(&a.get(&format!("top?{one_day}&f={page}")).await?);
    record(0, v, 0, spent(a, t.day));

    // 2. The rare screen, against the rare screen outside the target's region.
    let a = &analysts[1];
    let x = enc(&format!("screen:is:{SCREEN_NAME}"));
    let not_z = enc(&format!("region:is_not:{TARGET_REGION}"));
    let (all, rest) = (a.get(&format!("top?{one_day}&f={x}")).await?, a.get(&format!("top?{one_day}&f={x}&f={not_z}")).await?);
    record(1, visits(&all) - visits(&rest), u32::from(all.is_none()) + u32::from(rest.is_none()), spent(a, t.day));

    // 3. The whole store's day, less every visit the attacker knows of.
    let a = &analysts[2];
    let total = visits(&a.get(&format!("top?{one_day}")).await?);
    record(2, total - known.day_visits, 0, spent(a, t.day));

    // 4. The rare screen's hourly chart: the target's hour against what
    // the attacker knows was in it.
    let a = &analysts[3];
    let series = a.get(&format!("timeseries?{one_day}&interval=hour&f={x}")).await?;
    let at = format!("{d}T{:02}:00:00Z", t.hour);
    let point = series
        .as_ref()
        .and_then(|s| s["rows"].as_array().and_then(|rows| rows.iter().find(|r| r["period"] == "current" && r["time"] == at.as_str())).map(|r| number(&r["visits"])))
        .unwrap_or(0.0);
    record(3, point - known.hour_visits, u32::from(series.is_none()), spent(a, t.day));

    // 5. The first question again, three times, with a second filter in
    // both orders, and over two days less the day before: averaged.
    let a = &analysts[4];
    let before = dashboards::query::Day(t.day.0 - 1).to_string();
    let mut answers = Vec::new();
    let mut refused = 0;
    for q in [
        format!("top?{one_day}&f={page}"),
        format!("top?{one_day}&f={page}"),
        format!("top?{one_day}&f={page}"),
        format!("top?{one_day}&f={page}&f={x}"),
        format!("top?{one_day}&f={x}&f={page}"),
    ] {
        match a.get(&q).await? {
            Some(v) => answers.push(visits(&Some(v))),
            None => refused += 1,
        }
    }
    let two = a.get(&format!("top?period=custom&from={before}&to={d}&f={page}")).await?;
    let first = a.get(&format!("top?period=custom&from={before}&to={before}&f={page}")).await?;
    if two.is_some() && first.is_some() {
        answers.push(visits(&two) - visits(&first));
    } else {
        refused += 1;
    }
    let mean = if answers.is_empty() { 0.0 } else { answers.iter().sum::<f64>() / answers.len() as f64 };
    record(4, mean, refused, spent(a, t.day));

    // 6. The target's search term, asked in ever new ways (longer and
    // shorter prefixes, then suffixes) until the budget says no: every
    // answer that came back, averaged.
    let a = &analysts[5];
    let term = t.term();
    let chars: Vec<char> = term.chars().collect();
    let mut asked: Vec<String> = (4..=chars.len()).rev().map(|n| chars[..n].iter().collect()).collect();
    asked.extend((1..chars.len() - 3).map(|i| chars[i..].iter().collect::<String>()));
    let (mut answers, mut refused) = (Vec::new(), 0);
    for part in asked {
        let f = enc(&format!("target:contains:{part}"));
        match a.get(&format!("top?{one_day}&f={f}")).await? {
            Some(v) => answers.push(visits(&Some(v))),
            None => {
                refused += 1;
                break;
            }
        }
    }
    let mean = if answers.is_empty() { 0.0 } else { answers.iter().sum::<f64>() / answers.len() as f64 };
    record(5, mean, refused, spent(a, t.day));
    Ok(out)
}

/// The days of `n` trials: one each, the most recent two days before the
/// end of history left alone (they are not released yet).
pub fn trials(n: usize, today: dashboards::query::Day, random_bits: Option<u64>) -> Vec<Trial> {
    let mut state = random_bits.unwrap_or(0) ^ 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..n)
        .map(|i| {
            let r = next();
            let bit = match random_bits {
                Some(_) => r & 1 == 1,
                // Alternating: both cases every time.
                None => i % 2 == 0,
            };
            // Every other day: an attack that asks about the day before a
            // trial's spends nothing on another trial's day.
            Trial { day: dashboards::query::Day(today.0 - 2 - 2 * i as i32), bit, hour: 8 + (r >> 8) as u32 % 12 }
        })
        .collect()
}

/// Seeds background history over the trials' days and plants every trial.
pub async fn plant(stack: &devstack::Stack, trials: &[Trial], events_per_day: u64, seed: u64) -> anyhow::Result<()> {
    let config = &stack.config;
    let client = mintmark_schema::client(&config.clickhouse);
    let dbs = mintmark_schema::Databases::new(&config.clickhouse.database_prefix)?;
    let ids = collector::pseudonym::Pseudonyms::from_keys(&config.keys)?;
    let first = trials.iter().map(|t| t.day.0).min().context("no trials")?;
    let last = trials.iter().map(|t| t.day.0).max().context("no trials")?;
    let days = (last - first + 2) as u32;
    let until = dashboards::query::Day(last + 1).start_secs();
    history::seed(&client, &dbs, &ids, None, Plan { events: events_per_day * u64::from(days), days, until, seed }, |_| {}).await?;
    let origin = config.store.origins.first().cloned().context("the store has an origin")?;
    let mut visits = Vec::new();
    for (i, t) in trials.iter().enumerate() {
        visits.extend(planted(&origin, t, seed.wrapping_mul(1_000).wrapping_add(i as u64)));
    }
    history::write_visits(&client, &dbs, &ids, visits).await?;
    dashboards::rollup::run(&client, &dbs.t2).await?;
    Ok(())
}

/// What `a` has spent on `day`, from the release store in `data_dir`
/// (0 where there is none: a dashboards without the release layer).
pub fn spent(data_dir: &std::path::Path, a: &Analyst, day: dashboards::query::Day) -> f64 {
    if !data_dir.join(dashboards::release::store::DB_FILE).exists() {
        return 0.0;
    }
    dashboards::release::store::Store::open(data_dir)
        .and_then(|s| s.spent(&dashboards::release::Account::Analyst(a.id), day.0, day.0 + 1))
        .map(|m| m.get(&day.0).copied().unwrap_or(0.0))
        .unwrap_or(0.0)
}

/// What every account together spent on `day`.
pub fn spent_by_all(data_dir: &std::path::Path, day: dashboards::query::Day) -> f64 {
    if !data_dir.join(dashboards::release::store::DB_FILE).exists() {
        return 0.0;
    }
    dashboards::release::store::Store::open(data_dir)
        .and_then(|s| s.ledger(day.0, day.0 + 1))
        .map(|rows| rows.iter().map(|r| r.2).sum())
        .unwrap_or(0.0)
}

/// Plants `trials` among `events_per_day` of history a day and runs every
/// attack on each, one analyst per attack.
pub async fn run(stack: &devstack::Stack, trials: &[Trial], events_per_day: u64, seed: u64) -> anyhow::Result<Vec<Outcome>> {
    plant(stack, trials, events_per_day, seed).await?;
    let client = mintmark_schema::client(&stack.config.clickhouse);
    let data_dir = stack.config.dashboards.data_dir.clone();
    let analysts: Vec<Analyst> = (0..ATTACKS.len()).map(|i| Analyst::create(&data_dir, &stack.urls.dashboards, &format!("redteam{i}"))).collect::<Result<_, _>>()?;
    let mut outcomes = Vec::new();
    for t in trials {
        let known = known(&client, t).await?;
        outcomes.extend(attack(&analysts, t, &known, |a, d| spent(&data_dir, a, d)).await?);
    }
    for o in &mut outcomes {
        if let Some(day) = dashboards::query::Day::parse(&o.day) {
            o.epsilon_day_total = spent_by_all(&data_dir, day);
        }
    }
    Ok(outcomes)
}

/// Accuracy per attack over `outcomes`.
pub fn accuracy(outcomes: &[Outcome]) -> BTreeMap<&'static str, (usize, usize)> {
    let mut out: BTreeMap<&'static str, (usize, usize)> = BTreeMap::new();
    for o in outcomes {
        let e = out.entry(o.attack).or_default();
        e.0 += usize::from(o.guess == o.bit);
        e.1 += 1;
    }
    out
}

/// e^ε / (1 + e^ε): the best accuracy an ε-differentially-private answer
/// allows any guess of one bit.
pub fn bound(eps: f64) -> f64 {
    eps.exp() / (1.0 + eps.exp())
}
