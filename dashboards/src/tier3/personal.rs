//! Personal recommendations, a Tier 3 purpose the notice names
//! ("personally-customized marketing recommendations"): for one opted-in
//! customer, the products they may want next.
//!
//! What goes in is the customer's own data only: the products they bought,
//! added to their cart and viewed ([`super::customer::interests_sql`], as
//! their page shows them), combined with the store-wide "bought together"
//! pairs the recommender holds ([`crate::recommend`]: released aggregates,
//! noisy and over the release threshold, never another customer's rows).
//! A product they bought is never recommended back; one they carted or
//! viewed without buying is, weaker than a strong pair.
//!
//! Someone whose opt-in does not stand now (opted out, expired, erasure
//! asked for, never opted in) gets none, whatever rows still exist for them
//! until the purge removes them: [`for_customers`] reads their consent
//! first and skips them.

use std::collections::{HashMap, HashSet};

use clickhouse::Row;
use serde::Deserialize;

use super::customer::{interests_sql, Interest};
use super::Tier3;
use crate::recommend::Snapshot;
use crate::stats::sql::Sql;

/// Picks per customer.
pub const PICKS: usize = 5;
/// Customers per statement (every subject is a bound value, several times
/// over: this keeps a statement well under the server's query size).
const CHUNK: usize = 200;

/// One recommended product and the strongest reason for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    pub sku: String,
    pub score: f64,
    pub because: String,
}

/// How much an interest says about what the customer wants next.
fn weight(how: &str) -> Option<f64> {
    match how {
        "bought" => Some(3.0),
        "carted" => Some(2.0),
        "viewed" => Some(1.0),
        _ => None,
    }
}

/// The best [`PICKS`] for a customer with these `interests` (theirs only),
/// given the released pairs (`None` before the recommender's first
/// refresh: their own unbought interests only). Each pair adds the
/// interest's weight times its confidence (the share of the first
/// product's orders that also hold the second); an interest not yet
/// bought adds a third of its weight to itself.
pub fn picks(interests: &[Interest], pairs: Option<&Snapshot>) -> Vec<Pick> {
    let bought: HashSet<&str> = interests.iter().filter(|i| i.how == "bought").map(|i| i.name.as_str()).collect();
    // (product, what this interest adds to it, why)
    let mut owned: Vec<(String, f64, String)> = Vec::new();
    for i in interests {
        let Some(w) = weight(&i.how) else { continue };
        if i.how != "bought" && !bought.contains(i.name.as_str()) {
            let what = if i.how == "carted" { "added to their cart" } else { "viewed" };
            owned.push((i.name.clone(), w / 3.0, format!("{what} {}×, not bought", i.times)));
        }
        for r in pairs.and_then(|p| p.by_sku.get(&i.name)).into_iter().flatten() {
            if bought.contains(r.sku.as_str()) || r.sku == i.name {
                continue;
            }
            let how = match i.how.as_str() {
                "bought" => "bought",
                "carted" => "carted",
                _ => "viewed",
            };
            owned.push((r.sku.clone(), w * r.confidence, format!("often bought with {} ({how}; {:.0} % of its orders)", i.name, 100.0 * r.confidence)));
        }
    }
    // product → (score, strongest contribution, its reason)
    let mut totals: HashMap<String, (f64, f64, String)> = HashMap::new();
    for (sku, by, why) in owned {
        let e = totals.entry(sku).or_insert((0.0, 0.0, String::new()));
        e.0 += by;
        if by > e.1 {
            e.1 = by;
            e.2 = why;
        }
    }
    let mut out: Vec<Pick> = totals.into_iter().map(|(sku, (score, _, because))| Pick { sku, score, because }).collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.sku.cmp(&b.sku)));
    out.truncate(PICKS);
    out
}

#[derive(Debug, Row, Deserialize)]
struct ConsentLine {
    subject: String,
    at: u32,
    action: String,
    expires: u32,
}

/// The picks of every customer whose subject is in `subjects` and whose
/// opt-in stands at `now`; the others are absent from the answer.
pub async fn for_customers(t: &Tier3<'_>, subjects: &[String], pairs: Option<&Snapshot>, now: u32) -> clickhouse::error::Result<HashMap<String, Vec<Pick>>> {
    let mut out = HashMap::new();
    for chunk in subjects.chunks(CHUNK) {
        let consent = Sql::new("SELECT subject, toUInt32(at) AS at, toString(action) AS action, toUInt32(token_expires_at) AS expires FROM {ledger}.consent_ledger WHERE subject")
            .text_in(chunk)
            .raw(" ORDER BY subject, at, action");
        let lines: Vec<ConsentLine> = consent.query_in(t.client, t.dbs).fetch_all().await?;
        let mut by_subject: HashMap<&str, Vec<(u32, &str, u32)>> = HashMap::new();
        for l in &lines {
            by_subject.entry(l.subject.as_str()).or_default().push((l.at, l.action.as_str(), l.expires));
        }
        let standing: Vec<String> =
            chunk.iter().filter(|s| by_subject.get(s.as_str()).is_some_and(|l| crate::privacy::record::opted_in(l, now))).cloned().collect();
        if standing.is_empty() {
            continue;
        }
        let interests: Vec<Interest> = interests_sql(&standing).query_in(t.client, t.dbs).fetch_all().await?;
        let mut of: HashMap<&str, Vec<Interest>> = HashMap::new();
        for i in &interests {
            of.entry(i.subject.as_str()).or_default().push(i.clone());
        }
        for s in &standing {
            out.insert(s.clone(), picks(of.get(s.as_str()).map(Vec::as_slice).unwrap_or(&[]), pairs));
        }
    }
    Ok(out)
}

/// The picks as one cell of an export: `SKU, SKU, …`.
pub fn listed(picks: Option<&Vec<Pick>>) -> String {
    picks.map(|p| p.iter().map(|p| p.sku.as_str()).collect::<Vec<_>>().join(", ")).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::pairs::for_tests as pair;

    fn interest(how: &str, name: &str, times: u64) -> Interest {
        Interest { subject: "s".into(), how: how.into(), name: name.into(), times }
    }

    #[test]
    fn own_interests_and_released_pairs_never_what_was_bought() {
        let pairs = Snapshot::from_pairs(vec![pair("MUG", "TEA", 9, 3.0), pair("MUG", "SPOON", 6, 2.0), pair("TEA", "MUG", 9, 3.0), pair("LAMP", "BULB", 7, 4.0)], 1);
        let mine = [interest("bought", "MUG", 2), interest("viewed", "LAMP", 3), interest("carted", "SPOON", 1), interest("bought_category", "Kitchen", 2)];
        let p = picks(&mine, Some(&pairs));
        let skus: Vec<&str> = p.iter().map(|p| p.sku.as_str()).collect();
        assert!(!skus.contains(&"MUG"), "bought: never recommended back: {p:?}");
        assert!(skus.contains(&"TEA") && skus.contains(&"BULB") && skus.contains(&"SPOON") && skus.contains(&"LAMP"), "{p:?}");
        assert!(!skus.contains(&"Kitchen"), "categories are not products");
        let spoon = p.iter().find(|p| p.sku == "SPOON").unwrap();
        let tea = p.iter().find(|p| p.sku == "TEA").unwrap();
        assert!(tea.because.contains("often bought with MUG"), "{tea:?}");
        assert!(spoon.score > p.iter().find(|p| p.sku == "LAMP").unwrap().score, "carted and paired beats viewed alone");
        assert!(p.windows(2).all(|w| w[0].score >= w[1].score));
    }

    #[test]
    fn nothing_without_interests_and_own_interests_before_any_pairs() {
        assert!(picks(&[], None).is_empty());
        let p = picks(&[interest("viewed", "LAMP", 1)], None);
        assert_eq!(p.iter().map(|p| p.sku.as_str()).collect::<Vec<_>>(), ["LAMP"]);
        assert_eq!(listed(Some(&p)), "LAMP");
        assert_eq!(listed(None), "");
    }
}
