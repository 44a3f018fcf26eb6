//! Behaviour clusters: k-means (`linfa-clustering`) over standardised
//! per-customer features, k chosen by silhouette in 2..=8, seeded so the
//! same data gives the same clusters.
//!
//! Features, per customer with a counted order: days since the last order,
//! ln(1 + orders), ln(1 + lifetime net value), ln(1 + Tier 3 events) as
//! browsing intensity, and the share of their bought quantity in each of
//! the store's four biggest categories. Each is standardised (z-score)
//! before clustering so no unit dominates. The silhouette of each k is
//! measured on a seeded sample of at most [`SILHOUETTE_SAMPLE`] customers
//! (it costs O(n²)); the chosen k is then fitted on everyone. Each cluster
//! is described in words from its centroid.

use std::collections::HashMap;

use clickhouse::Row;
use linfa::prelude::*;
use linfa_clustering::KMeans;
use ndarray::{Array1, Array2, Axis};
use rand_xoshiro::rand_core::{RngCore, SeedableRng};
use rand_xoshiro::Xoshiro256Plus;
use serde::Deserialize;

use super::{rfm, Tier3};
use crate::stats::sql::Sql;

pub const SEED: u64 = 20_261_123;
pub const SILHOUETTE_SAMPLE: usize = 2_000;
const CATEGORIES: usize = 4;

/// The input: one row of features per customer.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Features {
    pub customers: Vec<String>,
    /// Column names, in order.
    pub names: Vec<String>,
    /// Raw (unstandardised) values, one row per customer.
    pub values: Array2<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    pub size: usize,
    /// The centroid in the features' own units.
    pub centroid: Vec<f64>,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Clustering {
    pub k: usize,
    /// `(k, silhouette)` for every k tried.
    pub silhouettes: Vec<(usize, f64)>,
    pub clusters: Vec<Cluster>,
    /// Cluster of each customer, in `Features::customers` order.
    pub membership: Vec<usize>,
    pub features: Features,
}

#[derive(Row, Deserialize)]
struct CategoryRow {
    customer_ref: String,
    cat: String,
    qty: u64,
}

#[derive(Row, Deserialize)]
struct EventCount {
    customer_ref: String,
    n: u64,
}

/// Reads the features of every customer with a counted order up to today.
pub async fn features(t: &Tier3<'_>) -> clickhouse::error::Result<Features> {
    let until = crate::query::Day(t.today.0 + 1).start_secs();
    let cats = Sql::new(
        "SELECT customer_ref, cat, sum(toUInt64(q)) AS qty FROM {t3}.orders FINAL ARRAY JOIN item_categories AS cat, item_quantities AS q \
         WHERE event = 'placed' GROUP BY customer_ref, cat",
    );
    let events = Sql::new("SELECT customer_ref, count() AS n FROM {t3}.events GROUP BY customer_ref");
    let (measures, cats, events) = tokio::try_join!(
        rfm::measures(t, 0, until),
        cats.query_in(t.client, t.dbs).fetch_all::<CategoryRow>(),
        events.query_in(t.client, t.dbs).fetch_all::<EventCount>(),
    )?;
    Ok(assemble(measures, cats.into_iter().map(|c| (c.customer_ref, c.cat, c.qty)).collect(), events.into_iter().map(|e| (e.customer_ref, e.n)).collect()))
}

/// Builds the feature matrix (pure, for tests).
pub fn assemble(measures: Vec<rfm::Measures>, cats: Vec<(String, String, u64)>, events: HashMap<String, u64>) -> Features {
    let mut totals: HashMap<&str, u64> = HashMap::new();
    for (_, cat, q) in &cats {
        if !cat.is_empty() {
            *totals.entry(cat).or_default() += q;
        }
    }
    let mut top: Vec<(&str, u64)> = totals.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let top: Vec<String> = top.into_iter().take(CATEGORIES).map(|(c, _)| c.to_string()).collect();
    let mut bought: HashMap<&str, (u64, [u64; CATEGORIES])> = HashMap::new();
    for (customer, cat, q) in &cats {
        let e = bought.entry(customer).or_default();
        e.0 += q;
        if let Some(i) = top.iter().position(|t| t == cat) {
            e.1[i] += q;
        }
    }
    let mut names: Vec<String> = ["days since last order", "orders (log)", "lifetime value (log)", "browsing (log events)"].map(String::from).to_vec();
    names.extend(top.iter().map(|c| format!("share {c}")));
    let width = names.len();
    let mut values = Array2::zeros((measures.len(), width));
    for (i, m) in measures.iter().enumerate() {
        let mut row = vec![m.r_days, (m.r_orders as f64).ln_1p(), m.r_total.ln_1p(), (*events.get(&m.customer_ref).unwrap_or(&0) as f64).ln_1p()];
        let (all, per) = bought.get(m.customer_ref.as_str()).copied().unwrap_or_default();
        row.extend((0..top.len()).map(|c| if all > 0 { per[c] as f64 / all as f64 } else { 0.0 }));
        for (j, v) in row.into_iter().enumerate() {
            values[[i, j]] = v;
        }
    }
    Features { customers: measures.into_iter().map(|m| m.customer_ref).collect(), names, values }
}

/// Mean and standard deviation per column (a constant column gets 1).
fn standardise(values: &Array2<f64>) -> (Array2<f64>, Array1<f64>, Array1<f64>) {
    let mean = values.mean_axis(Axis(0)).unwrap_or_else(|| Array1::zeros(values.ncols()));
    let std = values.std_axis(Axis(0), 0.0).mapv(|s| if s > 1e-12 { s } else { 1.0 });
    ((values - &mean) / &std, mean, std)
}

#[derive(Debug, thiserror::Error, Clone)]
pub enum ClusterError {
    #[error("too few customers to cluster ({0}; at least 10 are needed)")]
    TooFew(usize),
    #[error("k-means failed: {0}")]
    Fit(String),
}

/// Clusters `features`, choosing k by silhouette.
pub fn cluster(features: Features) -> Result<Clustering, ClusterError> {
    let n = features.customers.len();
    if n < 10 {
        return Err(ClusterError::TooFew(n));
    }
    let (z, mean, std) = standardise(&features.values);
    // The same seeded sample measures every k.
    let mut rng = Xoshiro256Plus::seed_from_u64(SEED);
    let sample: Vec<usize> = if n <= SILHOUETTE_SAMPLE {
        (0..n).collect()
    } else {
        // A partial Fisher–Yates shuffle: the first SILHOUETTE_SAMPLE of a seeded permutation.
        let mut idx: Vec<usize> = (0..n).collect();
        for i in 0..SILHOUETTE_SAMPLE {
            let j = i + (rng.next_u64() % (n - i) as u64) as usize;
            idx.swap(i, j);
        }
        idx.truncate(SILHOUETTE_SAMPLE);
        idx.sort_unstable();
        idx
    };
    let sample_z = z.select(Axis(0), &sample);
    let fit = |k: usize| {
        KMeans::params_with_rng(k, Xoshiro256Plus::seed_from_u64(SEED))
            .n_runs(3)
            .max_n_iterations(100)
            .tolerance(1e-4)
            .fit(&DatasetBase::from(z.clone()))
            .map_err(|e| ClusterError::Fit(e.to_string()))
    };
    let mut silhouettes = Vec::new();
    let mut best: Option<(usize, f64, _)> = None;
    for k in 2..=8.min(n - 1) {
        let model = fit(k)?;
        let labels = model.predict(&sample_z);
        let s = DatasetBase::new(sample_z.clone(), labels).silhouette_score().map_err(|e| ClusterError::Fit(e.to_string()))?;
        silhouettes.push((k, s));
        if best.as_ref().is_none_or(|(_, b, _)| s > *b) {
            best = Some((k, s, model));
        }
    }
    let (k, _, model) = best.expect("at least k = 2 was tried");
    let membership: Vec<usize> = model.predict(&z).to_vec();
    let centroids = model.centroids();
    let clusters = (0..k)
        .map(|c| {
            let zc: Vec<f64> = centroids.row(c).to_vec();
            let centroid: Vec<f64> = zc.iter().enumerate().map(|(j, v)| v * std[j] + mean[j]).collect();
            Cluster { size: membership.iter().filter(|m| **m == c).count(), description: describe(&features.names, &zc, &centroid), centroid }
        })
        .collect();
    Ok(Clustering { k, silhouettes, clusters, membership, features })
}

/// Words for a centroid: what stands out (|z| ≥ 0.5), then its numbers.
pub fn describe(names: &[String], z: &[f64], centroid: &[f64]) -> String {
    let mut traits = Vec::new();
    let word = |j: usize, high: &str, low: &str| if z[j] >= 0.5 { Some(high.to_string()) } else if z[j] <= -0.5 { Some(low.to_string()) } else { None };
    traits.extend(word(0, "lapsed", "recent"));
    traits.extend(word(1, "frequent buyers", "few orders"));
    traits.extend(word(2, "high spend", "low spend"));
    traits.extend(word(3, "heavy browsers", "light browsers"));
    if let Some((j, _)) = (4..names.len()).map(|j| (j, z[j])).filter(|(_, v)| *v >= 0.5).max_by(|a, b| a.1.total_cmp(&b.1)) {
        traits.push(format!("mostly {}", names[j].trim_start_matches("share ")));
    }
    let head = if traits.is_empty() { "Typical customers".to_string() } else { capitalise(&traits.join(", ")) };
    format!(
        "{head}: last order {:.0} days ago, {:.1} orders, {:.0} lifetime value on average",
        centroid[0],
        centroid[1].exp_m1(),
        centroid[2].exp_m1()
    )
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synthetic(n: usize) -> Features {
        // Two obvious groups: recent frequent big spenders, lapsed one-off small ones.
        let measures = (0..n)
            .map(|i| {
                let big = i % 2 == 0;
                let jitter = (i % 7) as f64;
                rfm::Measures {
                    customer_ref: format!("c-{i:04}"),
                    r_days: if big { 5.0 + jitter } else { 200.0 + jitter },
                    r_orders: if big { 10 + (i % 3) as u64 } else { 1 },
                    r_total: if big { 1000.0 + jitter * 10.0 } else { 20.0 + jitter },
                }
            })
            .collect::<Vec<_>>();
        let cats = measures.iter().map(|m| (m.customer_ref.clone(), if m.r_orders > 1 { "kitchen" } else { "garden" }.to_string(), 2)).collect();
        assemble(measures, cats, HashMap::new())
    }

    #[test]
    fn clusters_repeat_with_the_seed_and_find_obvious_groups() {
        let a = cluster(synthetic(200)).unwrap();
        let b = cluster(synthetic(200)).unwrap();
        assert_eq!(a.membership, b.membership, "same data, same seed, same clusters");
        assert_eq!(a.silhouettes, b.silhouettes);
        assert_eq!(a.k, 2, "silhouettes: {:?}", a.silhouettes);
        // Every even customer together, every odd one together.
        assert!(a.membership.iter().step_by(2).all(|m| *m == a.membership[0]));
        assert!(a.membership.iter().skip(1).step_by(2).all(|m| *m == a.membership[1]));
        let big = &a.clusters[a.membership[0]];
        assert!(big.description.starts_with("Recent, frequent buyers, high spend"), "{}", big.description);
        assert!(big.description.contains("mostly kitchen"), "{}", big.description);
        assert!(matches!(cluster(synthetic(5)), Err(ClusterError::TooFew(5))));
    }
}
