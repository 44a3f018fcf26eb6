//! Synthetic customers and orders: consent ledger entries and order events
//! from the store's backend, routed and written by the collector's own
//! order path ([`OrderSink::write`]: the real routing from the ledger at
//! each order's time, the real row types and pseudonyms).
//!
//! Used by `make up` (a demo store's year of orders, once) and by
//! `make bench-tier3`. Customers are `demo-customer-NNNNN`, the references
//! the synthetic browsing history ([`crate::history`]) uses for Tier 3
//! visits. Most customers opt in at some point (registration, purchase or
//! newsletter) and some later opt out; orders before a customer's opt-in,
//! guest orders and orders after an opt-out become de-identified Tier 2
//! orders, as they would in production. A few orders are cancelled or
//! partly refunded; a slice comes from a marketplace. Deterministic for a seed.

use anyhow::Context;
use collector::consent::{Action, LedgerRow};
use collector::orders::feed::{Channel, OrderAction, OrderBatch, OrderEvent, OrderItem};
use collector::orders::writer::OrderSink;
use collector::pseudonym::Pseudonyms;
use rand::distr::weighted::WeightedIndex;
use rand::distr::Distribution;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::Zipf;

const CATEGORIES: [&str; 12] = ["shoes", "shirts", "jackets", "bags", "hats", "socks", "kitchen", "garden", "toys", "books", "lamps", "gifts"];
const PRODUCTS: u64 = 800;
/// `(state, ZIP prefixes, weight)`.
const STATES: [(&str, &[&str], u32); 12] = [
    ("CA", &["900", "917", "941", "950"], 18),
    ("TX", &["750", "770", "787"], 13),
    ("NY", &["100", "112", "146"], 10),
    ("FL", &["331", "328", "336"], 9),
    ("VA", &["220", "222", "232"], 8),
    ("IL", &["606", "600"], 7),
    ("PA", &["191", "152"], 6),
    ("WA", &["981", "980"], 6),
    ("MD", &["208", "212"], 5),
    ("OH", &["432", "441"], 5),
    ("GA", &["303"], 4),
    ("VT", &["054"], 1),
];

#[derive(Debug, Clone, Copy)]
pub struct OrderPlan {
    pub customers: u32,
    pub orders: u64,
    /// Orders fall in the `days` before `until` (Unix seconds).
    pub days: i64,
    pub until: i64,
    pub seed: u64,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OrdersSeeded {
    pub opted_in: u64,
    pub orders: u64,
    /// Rows written per dataset: t3, t2, marketplace.
    pub rows: [usize; 3],
}

/// How far back the demo's opt-ins go.
pub const CONSENT_SPAN_DAYS: i64 = 545;

/// A demo customer's consent: when they opted in and, for some, out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoConsent {
    pub opt_in: u32,
    pub opt_out: Option<u32>,
}

impl DemoConsent {
    /// Whether a visit from `first` to `last` (Unix ms) lies inside the
    /// opt-in: after it, before any opt-out, before the token expires.
    pub fn covers(&self, first_ms: u64, last_ms: u64) -> bool {
        let ms = |s: u32| u64::from(s) * 1000;
        ms(self.opt_in) <= first_ms && self.opt_out.is_none_or(|o| last_ms < ms(o)) && last_ms < ms(self.opt_in + 365 * 86_400)
    }
}

/// Customer `i`'s consent under `seed`, up to the day of `until`: a
/// function of the customer alone (not of a random stream), so the
/// browsing history (`history`) and the ledger written here agree, and the
/// demo's data keeps every privacy invariant. 80 % opted in, 5 % of them
/// out again.
pub fn demo_consent(i: u32, seed: u64, until: i64) -> Option<DemoConsent> {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(i));
    if rng.random_bool(0.2) {
        return None;
    }
    let today = until - until.rem_euclid(86_400);
    let opt_in = rng.random_range(today - CONSENT_SPAN_DAYS * 86_400..today - 86_400) as u32;
    let opt_out = rng.random_bool(0.05).then(|| rng.random_range(i64::from(opt_in) + 3600..today) as u32);
    Some(DemoConsent { opt_in, opt_out })
}

pub fn customer_ref(i: u32) -> String {
    format!("demo-customer-{i:05}")
}

fn price(product: u64) -> f64 {
    (5 + (product * 37) % 195) as f64 - 0.01
}

/// Writes the plan's consent ledger and orders; `progress(orders so far)`.
pub async fn seed_orders(
    client: &clickhouse::Client,
    dbs: &mintmark_schema::Databases,
    ids: &Pseudonyms,
    plan: OrderPlan,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<OrdersSeeded> {
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let first = plan.until - plan.days * 86_400;
    let mut done = OrdersSeeded::default();
    // Consent first: routing reads it.
    let sources = ["registration", "purchase", "email_subscription"];
    let mut insert = client.insert_unescaped::<LedgerRow>(&format!("{}.consent_ledger", dbs.ledger)).await?;
    for i in 0..plan.customers {
        let Some(consent) = demo_consent(i, plan.seed, plan.until) else { continue };
        let at = consent.opt_in;
        let customer = customer_ref(i);
        insert
            .write(&LedgerRow {
                at,
                action: Action::OptIn,
                subject: ids.subject(&customer).as_str().to_string(),
                customer_ref: customer.clone(),
                source: sources[(i % 3) as usize].into(),
                policy_version: 3,
                token_expires_at: at + 365 * 86_400,
                api_key_id: "demo".into(),
                api_key_scope: "consent".into(),
                note: String::new(),
            })
            .await?;
        done.opted_in += 1;
        if let Some(out) = consent.opt_out {
            let opt_out = LedgerRow {
                at: out,
                action: Action::OptOut,
                subject: ids.subject(&customer).as_str().to_string(),
                customer_ref: customer,
                source: String::new(),
                policy_version: 0,
                token_expires_at: 0,
                api_key_id: "demo".into(),
                api_key_scope: "consent".into(),
                note: String::new(),
            };
            insert.write(&opt_out).await?;
        }
    }
    insert.end().await.context("writing the demo consent ledger")?;

    let sink = OrderSink::new(client.clone(), dbs);
    let buyers = Zipf::new(plan.customers as f64, 0.9).expect("valid Zipf");
    let products = Zipf::new(PRODUCTS as f64, 1.1).expect("valid Zipf");
    let states = WeightedIndex::new(STATES.iter().map(|s| s.2)).expect("weights");
    let channels = WeightedIndex::new([70, 8, 8, 14]).expect("weights");
    const CHUNK: u64 = 10_000;
    let mut n = 0u64;
    while n < plan.orders {
        let mut orders = Vec::with_capacity(CHUNK as usize * 11 / 10);
        for _ in 0..CHUNK.min(plan.orders - n) {
            n += 1;
            let channel = [Channel::Web, Channel::Phone, Channel::Pos, Channel::Marketplace][channels.sample(&mut rng)];
            let customer = (channel != Channel::Marketplace && rng.random_bool(0.8)).then(|| buyers.sample(&mut rng) as u32 - 1);
            // A customer ships to one place; a guest anywhere.
            let mut place = StdRng::seed_from_u64(customer.map_or(rng.random(), |c| c as u64 ^ plan.seed));
            let (state, zips, _) = STATES[states.sample(&mut place)];
            let zip = format!("{}{:02}", zips[place.random_range(0..zips.len())], place.random_range(0..100));
            let lines = 1 + (rng.random_range(0..100) as u32 / 55).min(3) + u32::from(rng.random_bool(0.15));
            let items: Vec<OrderItem> = (0..lines)
                .map(|_| {
                    let p = products.sample(&mut rng) as u64;
                    OrderItem { sku: format!("SKU-{p:04}"), quantity: 1 + u32::from(rng.random_bool(0.2)), unit_price: price(p), category: Some(CATEGORIES[(p % 12) as usize].into()) }
                })
                .collect();
            let value = items.iter().map(|i| i.unit_price * i.quantity as f64).sum::<f64>();
            let at = rng.random_range(first..plan.until) as u64;
            let order_id = format!("W{:08}", n);
            let placed = OrderEvent {
                order_id: order_id.clone(),
                event: OrderAction::Placed,
                at,
                channel,
                customer_ref: customer.map(customer_ref),
                value: (value * 100.0).round() / 100.0,
                currency: "USD".into(),
                items,
                state: Some(state.into()),
                zip: Some(zip),
            };
            let roll = rng.random_range(0..100);
            let later = (at + rng.random_range(3_600..10 * 86_400)).min(plan.until as u64);
            if roll < 3 {
                orders.push(OrderEvent { event: OrderAction::Cancelled, at: later, items: Vec::new(), ..placed.clone() });
            } else if roll < 7 {
                let back = (placed.value * 0.4 * 100.0).round() / 100.0;
                orders.push(OrderEvent { event: OrderAction::Refunded, at: later, value: back, items: Vec::new(), ..placed.clone() });
            }
            orders.push(placed);
        }
        let batch = OrderBatch { received_at: plan.until as u64, orders };
        let rows = sink.write(std::slice::from_ref(&batch), ids).await.context("writing orders")?;
        for (total, r) in done.rows.iter_mut().zip(rows) {
            *total += r;
        }
        progress(n);
    }
    done.orders = n;
    Ok(done)
}

/// The demo's orders: a year up to now, written the first time only (when
/// the consent ledger is empty).
pub async fn seed_demo_orders(config: &mintmark_config::Config) -> anyhow::Result<Option<OrdersSeeded>> {
    let client = mintmark_schema::client(&config.clickhouse);
    let dbs = mintmark_schema::Databases::new(&config.clickhouse.database_prefix)?;
    let existing: u64 = client.query(&format!("SELECT toUInt64(count()) FROM {}.orders", dbs.t2)).fetch_one().await.context("counting t2.orders")?;
    if existing > 0 {
        return Ok(None);
    }
    let ids = Pseudonyms::from_keys(&config.keys).context("the pseudonym key")?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs() as i64;
    let plan = OrderPlan { customers: 20_000, orders: 40_000, days: 365, until: now - 3600, seed: 2026 };
    Ok(Some(seed_orders(&client, &dbs, &ids, plan, |_| {}).await?))
}
