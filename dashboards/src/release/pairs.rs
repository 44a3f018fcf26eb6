//! "Bought together", released: product pairs from store orders, one order
//! being the unit protected.
//!
//! Orders are few next to visits, so pairs are released per block of twelve
//! weeks (84 days from a Monday), once the block is over, and the table and
//! the recommendations use the last one. A cell holds three noisy releases
//! of one block, each with its share of ε: the pairs (an order counts with
//! its first two products in SKU order: one pair, which keeps the noise and
//! the threshold low enough for pairs to show at a store's scale), the
//! products (the same two) and the number of orders. Pairs and products
//! pass a noisy threshold like any open-ended group; support, confidence
//! and lift are ratios of the released counts.

use std::collections::BTreeMap;

use clickhouse::{Client, Row};
use serde::{Deserialize, Serialize};

use super::groups::{self, ReleasedGroups, Spec, ValueSpec};
use super::noise;
use super::value::{Noisy, Unit};
use super::{ReleaseError, Releaser};
use crate::query::Day;
use crate::stats::sql::{Sql, Window};

/// Products of one order that count, and the pairs they make.
pub const SKUS_PER_ORDER: u32 = 2;
const PAIRS_PER_ORDER: u32 = SKUS_PER_ORDER * (SKUS_PER_ORDER - 1) / 2;
/// Days in a block, and how many blocks the table covers.
pub const BLOCK_DAYS: i32 = 84;
pub const BLOCKS: i32 = 1;
/// Day 4 (1970-01-05) is a Monday.
const FIRST_MONDAY: i32 = 4;

const PAIRS_SHARE: f64 = 0.6;
const SKUS_SHARE: f64 = 0.3;
const ORDERS_SHARE: f64 = 0.1;

fn spec(per_order: u32) -> Spec {
    Spec { groups_per_visit: per_order, values: vec![ValueSpec { per_visit: 1, share: 1.0, unit: Unit::Count }] }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Body {
    pairs: groups::Body,
    skus: groups::Body,
    orders: i64,
    eps: f64,
}

/// A released pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    pub sku: String,
    pub with_sku: String,
    pub together: Noisy,
    pub support: Noisy,
    pub confidence: Noisy,
    pub lift: Noisy,
}

/// The released pairs and the days they cover.
#[derive(Debug, Clone, Default)]
pub struct Pairs {
    pub pairs: Vec<Pair>,
    pub from: Option<Day>,
    pub until: Option<Day>,
    pub threshold: u64,
}

#[derive(Row, Deserialize)]
struct Counted {
    a: String,
    b: String,
    n: u64,
}

#[derive(Row, Deserialize)]
struct OneCount {
    n: u64,
}

/// The last [`BLOCKS`] blocks that ended by `settled` (a day number).
pub fn blocks(settled: i32) -> Vec<Day> {
    let last_end = FIRST_MONDAY + (settled - FIRST_MONDAY).div_euclid(BLOCK_DAYS) * BLOCK_DAYS;
    (1..=BLOCKS).rev().map(|k| Day(last_end - k * BLOCK_DAYS)).collect()
}

async fn exact(client: &Client, t2: &str, start: Day, marketplace: bool) -> clickhouse::error::Result<(BTreeMap<String, Vec<i64>>, BTreeMap<String, Vec<i64>>, i64)> {
    let w = Window { from: start.start_secs(), until: Day(start.0 + BLOCK_DAYS).start_secs() };
    let bounded = || {
        Sql::new("(SELECT arraySlice(arraySort(skus), 1, ").raw(&SKUS_PER_ORDER.to_string()).raw(") AS s FROM ").then(crate::stats::crosssell::orders(w, marketplace)).raw(")")
    };
    let pairs: Vec<Counted> = Sql::new("SELECT a, b, toUInt64(count()) AS n FROM (SELECT a, arrayJoin(s) AS b FROM (SELECT s, arrayJoin(s) AS a FROM ")
        .then(bounded())
        .raw(")) WHERE a < b GROUP BY a, b")
        .query(client, t2)
        .fetch_all()
        .await?;
    let skus: Vec<Counted> = Sql::new("SELECT arrayJoin(s) AS a, '' AS b, toUInt64(count()) AS n FROM ").then(bounded()).raw(" GROUP BY a").query(client, t2).fetch_all().await?;
    let orders: OneCount = Sql::new("SELECT toUInt64(count()) AS n FROM ").then(bounded()).query(client, t2).fetch_one().await?;
    let pairs = pairs.into_iter().map(|c| (format!("{}\u{1f}{}", c.a, c.b), vec![c.n as i64])).collect();
    let skus = skus.into_iter().map(|c| (c.a, vec![c.n as i64])).collect();
    Ok((pairs, skus, orders.n as i64))
}

#[derive(Row, Deserialize)]
struct State {
    rows: u64,
    last: u32,
}

/// What a block's orders look like now: rows and latest arrival.
async fn orders_version(client: &Client, t2: &str, start: Day, marketplace: bool) -> clickhouse::error::Result<String> {
    let mut parts = Vec::new();
    for table in if marketplace { vec!["orders", "marketplace_orders"] } else { vec!["orders"] } {
        let s: State = Sql::new("SELECT toUInt64(count()) AS rows, toUInt32(max(received_at)) AS last FROM {t2}.")
            .raw(table)
            .raw(" WHERE order_date >= toDate(toDateTime(")
            .int(start.start_secs())
            .raw(")) AND order_date < toDate(toDateTime(")
            .int(Day(start.0 + BLOCK_DAYS).start_secs())
            .raw("))")
            .query(client, t2)
            .fetch_one()
            .await?;
        parts.push(format!("{}:{}", s.rows, s.last));
    }
    Ok(parts.join(","))
}

impl Releaser {
    /// The pairs of the last settled block (released now if new, or if its
    /// orders changed since).
    pub async fn pairs(&self, client: &Client, t2: &str, today: Day, marketplace: bool) -> Result<Pairs, ReleaseError> {
        let settled = Day::from_unix(crate::accounts::now_secs() - i64::from(self.params.settle_minutes) * 60).0.min(today.0);
        let blocks = blocks(settled);
        let account = super::Account::Shared;
        let (eps, budget) = (self.params.shared_epsilon, self.params.shared_daily_budget);
        let (from, until) = (blocks[0].0, blocks[blocks.len() - 1].0 + BLOCK_DAYS);
        let mut bodies = self.store().get("", "pairs", from, until)?;
        let mut fresh = Vec::new();
        for b in &blocks {
            // Orders of a block can still arrive or be cancelled after it
            // ends: a block whose orders changed is released again.
            let version = orders_version(client, t2, *b, marketplace).await?;
            if bodies.get(&(b.0, -1)).is_some_and(|c| c.answers(&version, crate::accounts::now_secs())) {
                continue;
            }
            let (pairs, skus, orders) = exact(client, t2, *b, marketplace).await?;
            let delta = self.params.delta / 2.0;
            let body = Body {
                pairs: groups::draw(&spec(PAIRS_PER_ORDER), &pairs, eps * PAIRS_SHARE, delta)?,
                skus: groups::draw(&spec(SKUS_PER_ORDER), &skus, eps * SKUS_SHARE, delta)?,
                orders: orders + noise::discrete_laplace(1.0 / (eps * ORDERS_SHARE))?,
                eps,
            };
            fresh.push((b.0, -1, serde_json::to_string(&body).expect("a body serialises"), version));
        }
        if !fresh.is_empty() {
            let stale = fresh.iter().all(|(d, p, _, _)| bodies.contains_key(&(*d, *p)));
            match self.store().release(&account, budget, eps, "", "pairs", fresh, BLOCK_DAYS, crate::accounts::now_secs())? {
                Ok(stored) => bodies.extend(stored.bodies),
                // Drawn before from older orders: that answer stands.
                Err(_) if stale => {}
                Err(o) => return Err(ReleaseError::Budget { account, day: Day(o.day), spent: o.spent, budget: o.budget }),
            }
        }
        let cells: Vec<Body> = blocks.iter().filter_map(|b| serde_json::from_str(&bodies.get(&(b.0, -1))?.body).ok()).collect();
        Ok(combine(&cells, blocks.first().copied(), blocks.last().map(|b| Day(b.0 + BLOCK_DAYS))))
    }
}

fn combine(cells: &[Body], from: Option<Day>, until: Option<Day>) -> Pairs {
    if cells.is_empty() {
        return Pairs::default();
    }
    let pairs = ReleasedGroups::of(&spec(PAIRS_PER_ORDER), &cells.iter().map(|c| groups::Body { eps: c.eps * PAIRS_SHARE, ..c.pairs.clone() }).collect::<Vec<_>>());
    let skus = ReleasedGroups::of(&spec(SKUS_PER_ORDER), &cells.iter().map(|c| groups::Body { eps: c.eps * SKUS_SHARE, ..c.skus.clone() }).collect::<Vec<_>>());
    let orders = Noisy::sum(cells.iter().map(|c| Noisy::released(c.orders as f64, noise::variance(1.0 / (c.eps * ORDERS_SHARE)), Unit::Count)), Unit::Count);
    let n_sku: BTreeMap<&str, Noisy> = skus.rows.iter().map(|(k, v)| (k.as_str(), v[0])).collect();
    let mut out = Vec::new();
    for (key, v) in &pairs.rows {
        let Some((a, b)) = key.split_once('\u{1f}') else { continue };
        let (Some(na), Some(nb)) = (n_sku.get(a), n_sku.get(b)) else { continue };
        let together = v[0];
        for (x, y, nx, ny) in [(a, b, na, nb), (b, a, nb, na)] {
            // lift = together · N / (n_x · n_y)
            let lift = together.ratio(nx, Unit::Decimal).ratio(&ny.ratio(&orders, Unit::Decimal), Unit::Decimal);
            out.push(Pair {
                sku: x.to_string(),
                with_sku: y.to_string(),
                together,
                support: together.ratio(&orders, Unit::Share),
                confidence: together.ratio(nx, Unit::Share),
                lift,
            });
        }
    }
    out.sort_by(|p, q| q.lift.value().total_cmp(&p.lift.value()).then(q.together.value().total_cmp(&p.together.value())).then(p.sku.cmp(&q.sku)).then(p.with_sku.cmp(&q.with_sku)));
    Pairs { pairs: out, from, until, threshold: pairs.threshold }
}

/// A pair with exact values, for unit tests of what uses pairs.
#[cfg(test)]
pub fn for_tests(a: &str, b: &str, together: u64, lift: f64) -> Pair {
    let n = |v: f64, unit| Noisy::released(v, 0.0, unit);
    Pair { sku: a.into(), with_sku: b.into(), together: n(together as f64, Unit::Count), support: n(0.1, Unit::Share), confidence: n(0.5, Unit::Share), lift: n(lift, Unit::Decimal) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_whole_weeks_from_a_monday() {
        let b = blocks(20_424); // 2025-12-03, a Wednesday
        assert_eq!(b.len(), BLOCKS as usize);
        for d in &b {
            assert_eq!(d.date().weekday(), time::Weekday::Monday);
        }
        let last = b[b.len() - 1];
        assert!(last.0 + BLOCK_DAYS <= 20_424 && last.0 + 2 * BLOCK_DAYS > 20_424, "the last block is the latest over: {b:?}");
    }
}
