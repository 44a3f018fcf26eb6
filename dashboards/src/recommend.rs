//! Cross-sell recommendations for the store's pages or backend: the
//! "bought together" pairs of the last [`WINDOW_DAYS`] days, held in memory
//! and refreshed every [`REFRESH`], so a request is a hash lookup.
//!
//! Only a SKU goes in (nothing about a customer is accepted), and only
//! released pairs come out: the same cells as the analysts' "bought
//! together" table (see [`crate::release::pairs`]), so a recommendation's
//! counts carry the same noise and the same threshold.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::Serialize;

use crate::release::pairs::Pair;
use crate::release::Releaser;

pub const REFRESH: Duration = Duration::from_secs(3600);
pub const CHECK: Duration = Duration::from_secs(10);
pub const MAX_N: usize = 20;

/// A product bought together with the one asked about, from released
/// pairs (noisy counts, over the release threshold).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Recommendation {
    #[schema(example = "SKU-2002")]
    pub sku: String,
    /// Orders holding both (released: noisy).
    pub together: u64,
    /// Share of all orders that hold both.
    pub support: f64,
    /// Share of the asked product's orders that also hold this one.
    pub confidence: f64,
    /// How much likelier together than by chance (1 = no relation).
    pub lift: f64,
}

/// What a refresh produced.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Per SKU, best lift first.
    pub by_sku: HashMap<String, Vec<Recommendation>>,
    /// Unix seconds of the refresh.
    pub computed_at: i64,
}

impl Snapshot {
    pub fn from_pairs(pairs: Vec<Pair>, computed_at: i64) -> Snapshot {
        let mut by_sku: HashMap<String, Vec<Recommendation>> = HashMap::new();
        for p in pairs {
            by_sku.entry(p.sku).or_default().push(Recommendation {
                sku: p.with_sku,
                together: p.together.value().round() as u64,
                support: p.support.value(),
                confidence: p.confidence.value(),
                lift: p.lift.value(),
            });
        }
        for recs in by_sku.values_mut() {
            recs.sort_by(|a, b| b.lift.total_cmp(&a.lift).then(b.together.cmp(&a.together)).then(a.sku.cmp(&b.sku)));
            recs.truncate(MAX_N);
        }
        Snapshot { by_sku, computed_at }
    }
}

/// The cache; `None` until the first refresh succeeds.
#[derive(Default)]
pub struct Recommender {
    current: RwLock<Option<Arc<Snapshot>>>,
}

impl Recommender {
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        self.current.read().expect("not poisoned").clone()
    }

    pub fn install(&self, s: Snapshot) {
        *self.current.write().expect("not poisoned") = Some(Arc::new(s));
    }

    pub async fn refresh(&self, releaser: &Releaser, client: &clickhouse::Client, t2: &str, marketplace: bool) -> Result<usize, crate::release::ReleaseError> {
        let now = crate::accounts::now_secs();
        let pairs = releaser.pairs(client, t2, crate::query::Day::from_unix(now), marketplace).await?.pairs;
        let n = pairs.len();
        self.install(Snapshot::from_pairs(pairs, now));
        Ok(n)
    }

    /// Refreshes now, then whenever the orders change or [`REFRESH`] has
    /// passed; a failed refresh keeps serving the previous pairs.
    pub async fn keep_refreshing(self: Arc<Self>, releaser: Arc<Releaser>, client: clickhouse::Client, t2: String, marketplace: bool) {
        let mut tables = vec![format!("{t2}.orders")];
        if marketplace {
            tables.push(format!("{t2}.marketplace_orders"));
        }
        let mut changes = crate::changes::Changes::of(&tables);
        let mut at: Option<tokio::time::Instant> = None;
        loop {
            // A failed check counts as a change: better a refresh too many.
            let state = changes.check(&client).await;
            let due = at.is_none_or(|t| t.elapsed() >= REFRESH) || !matches!(state, Ok(None));
            if due {
                match self.refresh(&releaser, &client, &t2, marketplace).await {
                    Ok(n) => {
                        tracing::debug!(pairs = n, "recommendations refreshed");
                        if let Ok(Some(state)) = state {
                            changes.accept(state);
                        }
                        at = Some(tokio::time::Instant::now());
                    }
                    Err(e) => tracing::warn!(error = %e, "recommendations refresh failed; serving the previous ones"),
                }
            }
            tokio::time::sleep(CHECK).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::pairs::for_tests as pair;

    #[test]
    fn per_sku_best_lift_first() {
        let s = Snapshot::from_pairs(vec![pair("A", "B", 5, 1.5), pair("A", "C", 9, 3.0), pair("B", "A", 5, 1.5), pair("A", "D", 6, 3.0)], 1);
        let a: Vec<&str> = s.by_sku["A"].iter().map(|r| r.sku.as_str()).collect();
        assert_eq!(a, ["C", "D", "B"], "lift, then orders together");
        assert!(!s.by_sku.contains_key("C"));
    }
}
