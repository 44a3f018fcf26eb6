//! Group cells: a breakdown's (or the products table's) groups of one day,
//! released by noisy threshold.
//!
//! The values of an open-ended dimension (pages, search terms, networks,
//! products) are themselves what a visit can give away, so a group is
//! shown only when its noisy visit count passes a threshold set from ε and
//! δ ([`noise::threshold`]): a group that only one visit has shows with
//! probability below δ. Every breakdown is treated so, even ones with a
//! short list of values, which costs nothing in accuracy at store scale and
//! leaves no list to keep up to date. One visit adds to at most
//! `groups_per_visit` groups of a cell (one for a visit-wide value, its
//! first few for pages and lists, see [`super::caps`]), and each of its
//! values by at most its cap; the noise is scaled to those L1 bounds.
//!
//! What did not pass is summed into one released "other" row (one more
//! group of the same cell). How many groups that stands for is not said: a
//! count of hidden groups would tell them apart.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::noise::{self, NoiseError};
use super::value::{Noisy, Unit};

/// One value of a group: its cap per visit and its share of ε.
#[derive(Debug, Clone, Copy)]
pub struct ValueSpec {
    pub per_visit: u32,
    pub share: f64,
    pub unit: Unit,
}

/// How a kind of group cell is released. Value 0 is the visit count the
/// threshold is on.
#[derive(Debug, Clone)]
pub struct Spec {
    pub groups_per_visit: u32,
    pub values: Vec<ValueSpec>,
}

impl Spec {
    fn scale(&self, i: usize, eps: f64) -> f64 {
        let v = &self.values[i];
        f64::from(self.groups_per_visit) * f64::from(v.per_visit) / (v.share * eps)
    }

    /// The noisy visit count a group needs to be shown.
    pub fn threshold(&self, eps: f64, delta: f64) -> u64 {
        noise::threshold(self.scale(0, eps), self.groups_per_visit, delta)
    }
}

/// A cell as stored: the ε and δ it was drawn with, the shown groups and
/// the "other" row, all noisy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Body {
    pub eps: f64,
    pub delta: f64,
    pub rows: Vec<(String, Vec<i64>)>,
    pub other: Vec<i64>,
}

/// Draws a cell from its exact groups (`key → values`, value 0 the visits).
pub fn draw(spec: &Spec, exact: &BTreeMap<String, Vec<i64>>, eps: f64, delta: f64) -> Result<Body, NoiseError> {
    let threshold = spec.threshold(eps, delta) as i64;
    let n = spec.values.len();
    let noisy = |i: usize, x: i64| -> Result<i64, NoiseError> { Ok(x + noise::discrete_laplace(spec.scale(i, eps))?) };
    let (mut rows, mut hidden) = (Vec::new(), vec![0i64; n]);
    for (key, values) in exact {
        let visits = noisy(0, values.first().copied().unwrap_or(0))?;
        if visits >= threshold {
            let mut out = vec![visits];
            for i in 1..n {
                out.push(noisy(i, values.get(i).copied().unwrap_or(0))?);
            }
            rows.push((key.clone(), out));
        } else {
            for (h, v) in hidden.iter_mut().zip(values) {
                *h += v;
            }
        }
    }
    let other = (0..n).map(|i| noisy(i, hidden[i])).collect::<Result<Vec<_>, _>>()?;
    Ok(Body { eps, delta, rows, other })
}

/// Groups over several cells (days): a group's values are the sums over
/// the cells in which it was shown.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleasedGroups {
    pub rows: Vec<(String, Vec<Noisy>)>,
    pub other: Vec<Noisy>,
    /// The largest threshold among the cells (what a group needed on a day).
    pub threshold: u64,
    pub cells: usize,
}

impl ReleasedGroups {
    pub(super) fn of(spec: &Spec, bodies: &[Body]) -> ReleasedGroups {
        let n = spec.values.len();
        let mut by_key: BTreeMap<String, Vec<Noisy>> = BTreeMap::new();
        let mut other: Vec<Noisy> = spec.values.iter().map(|v| Noisy::released(0.0, 0.0, v.unit)).collect();
        let mut threshold = 0;
        for b in bodies {
            let released = |i: usize, x: i64| {
                let var = noise::variance(spec.scale(i, b.eps));
                match spec.values[i].unit {
                    Unit::Money => Noisy::released(x as f64 / 100.0, var / 10_000.0, Unit::Money),
                    unit => Noisy::released(x as f64, var, unit),
                }
            };
            threshold = threshold.max(spec.threshold(b.eps, b.delta));
            for (key, values) in &b.rows {
                let entry = by_key.entry(key.clone()).or_insert_with(|| spec.values.iter().map(|v| Noisy::released(0.0, 0.0, v.unit)).collect());
                for i in 0..n {
                    entry[i] = Noisy::sum([entry[i], released(i, values.get(i).copied().unwrap_or(0))], spec.values[i].unit);
                }
            }
            for i in 0..n {
                other[i] = Noisy::sum([other[i], released(i, b.other.get(i).copied().unwrap_or(0))], spec.values[i].unit);
            }
        }
        ReleasedGroups { rows: by_key.into_iter().collect(), other, threshold, cells: bodies.len() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report_spec() -> Spec {
        Spec { groups_per_visit: 1, values: vec![ValueSpec { per_visit: 1, share: 0.6, unit: Unit::Count }, ValueSpec { per_visit: 15, share: 0.4, unit: Unit::Count }] }
    }

    #[test]
    fn small_groups_do_not_show_and_big_ones_do() {
        let spec = report_spec();
        let exact: BTreeMap<String, Vec<i64>> = [("one visit".to_string(), vec![1, 3]), ("popular".to_string(), vec![5_000, 12_000])].into();
        for _ in 0..200 {
            let b = draw(&spec, &exact, 1.0, 1e-6).unwrap();
            assert_eq!(b.rows.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(), ["popular"]);
        }
        // ε 1, share 0.6: scale 1.67; threshold 1 + 1.67 ln(1e6) ≈ 24.
        assert_eq!(spec.threshold(1.0, 1e-6), 25);
    }

    #[test]
    fn cells_sum_by_group() {
        let spec = report_spec();
        let day = |k: &str, v: i64| Body { eps: 1.0, delta: 1e-6, rows: vec![(k.to_string(), vec![v, v * 2])], other: vec![3, 4] };
        let g = ReleasedGroups::of(&spec, &[day("a", 100), day("a", 50), day("b", 70)]);
        assert_eq!(g.rows.len(), 2);
        assert_eq!((g.rows[0].0.as_str(), g.rows[0].1[0].value(), g.rows[0].1[1].value()), ("a", 150.0, 300.0));
        assert_eq!(g.other[0].value(), 9.0);
        assert!(g.rows[0].1[0].error() > g.rows[1].1[0].error(), "two days' noise against one");
    }
}
