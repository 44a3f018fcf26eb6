//! The metric cells: the sums of [`SUMS`] for one day (or for each hour
//! of one day), released with noise scaled to what one visit can add.
//!
//! One visit moves every sum at once, so a cell's ε is split across them
//! ([`SPECS`]: each sum's share and its sensitivity, from
//! [`super::caps`]); by sequential composition the cell costs the whole ε.
//! The hours of a day hold disjoint visits (a visit lives in the hour it
//! started), so all 24 cost that ε once (parallel composition). Everything
//! shown from metrics (cards, chart points, funnel, tier mix, sales by
//! day, comparisons) is a sum or ratio of released cells: post-processing,
//! which costs nothing more.

use serde::{Deserialize, Serialize};

use super::caps;
use super::noise::{self, NoiseError};
use super::value::{Noisy, Unit};
use crate::stats::metrics::{Sums, SUMS};
use crate::stats::Metric;

/// One sum: what one visit can add to it, and its share of a cell's ε.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub name: &'static str,
    pub sensitivity: f64,
    pub unit: Unit,
}

const fn spec(name: &'static str, sensitivity: u32, unit: Unit) -> Spec {
    Spec { name, sensitivity: sensitivity as f64, unit }
}

/// In [`SUMS`] order. Revenue is released in cents.
pub const SPECS: [Spec; 15] = [
    spec("visits", 1, Unit::Count),
    spec("visit_pageviews", caps::PAGEVIEWS, Unit::Count),
    spec("bounces", 1, Unit::Count),
    spec("duration_sum", caps::DURATION_SECS, Unit::Count),
    spec("converted", 1, Unit::Count),
    spec("pageviews", caps::PAGEVIEWS, Unit::Count),
    spec("anonymous_hits", 1, Unit::Count),
    spec("revenue", caps::REVENUE * 100, Unit::Money),
    spec("tier2_events", caps::EVENTS, Unit::Count),
    spec("tier3_events", caps::EVENTS, Unit::Count),
    spec("funnel_1", 1, Unit::Count),
    spec("funnel_2", 1, Unit::Count),
    spec("funnel_3", 1, Unit::Count),
    spec("funnel_4", 1, Unit::Count),
    spec("purchases", caps::PURCHASES, Unit::Count),
];

/// How a cell's ε is split across its sums (each list adds up to 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Profile {
    /// The whole store's numbers: the share each needs for about the same
    /// relative error at store scale, where a sum of rare events (orders,
    /// revenue) needs far more than visits do.
    Shared,
    /// A segment's: visits first, which every ratio divides by.
    Filtered,
}

impl Profile {
    pub fn shares(self) -> [f64; 15] {
        match self {
            //                visits vpv   bnc   dur   conv  pv    anon  rev   t2    t3    f1    f2    f3    f4    purch
            Profile::Shared => [0.02, 0.05, 0.05, 0.08, 0.14, 0.05, 0.03, 0.36, 0.02, 0.02, 0.02, 0.02, 0.02, 0.03, 0.09],
            Profile::Filtered => [0.30, 0.05, 0.10, 0.10, 0.10, 0.10, 0.02, 0.10, 0.01, 0.01, 0.02, 0.02, 0.02, 0.02, 0.03],
        }
    }
}

/// The exact sums of a cell as integers, in [`SUMS`] order.
fn exact(s: &Sums) -> [i64; 15] {
    [
        s.visits as i64,
        s.visit_pageviews as i64,
        s.bounces as i64,
        s.duration_sum as i64,
        s.converted as i64,
        s.pageviews as i64,
        s.anonymous_hits as i64,
        (s.revenue * 100.0).round() as i64,
        s.tier2_events as i64,
        s.tier3_events as i64,
        s.funnel[0] as i64,
        s.funnel[1] as i64,
        s.funnel[2] as i64,
        s.funnel[3] as i64,
        s.purchases as i64,
    ]
}

/// What is stored for a cell: the ε and profile it was drawn with (the
/// noise scales follow from them) and the noisy sums.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Body {
    pub eps: f64,
    pub profile: Profile,
    pub v: Vec<i64>,
}

fn scale(i: usize, profile: Profile, eps: f64) -> f64 {
    SPECS[i].sensitivity / (profile.shares()[i] * eps)
}

/// Draws a cell's noise.
pub fn draw(s: &Sums, eps: f64, profile: Profile) -> Result<Body, NoiseError> {
    let v = exact(s).iter().enumerate().map(|(i, x)| Ok(x + noise::discrete_laplace(scale(i, profile, eps))?)).collect::<Result<Vec<i64>, NoiseError>>()?;
    Ok(Body { eps, profile, v })
}

/// A cell with no noise: only for unit tests of what is derived from cells.
#[cfg(test)]
pub fn exact_for_tests(s: &Sums) -> Body {
    Body { eps: f64::INFINITY, profile: Profile::Shared, v: exact(s).to_vec() }
}

/// [`exact_for_tests`], released: unit tests of the views' formatting.
#[cfg(test)]
pub fn for_tests(s: &Sums) -> ReleasedSums {
    ReleasedSums::of(&exact_for_tests(s))
}

/// Released sums: one cell, or the sum of several.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReleasedSums {
    sums: [Noisy; 15],
}

impl ReleasedSums {
    pub(super) fn of(body: &Body) -> ReleasedSums {
        let sums = std::array::from_fn(|i| {
            let spec = &SPECS[i];
            let var = if body.eps.is_finite() { noise::variance(scale(i, body.profile, body.eps)) } else { 0.0 };
            let v = body.v.get(i).copied().unwrap_or(0) as f64;
            match spec.unit {
                // Cents to money.
                Unit::Money => Noisy::released(v / 100.0, var / 10_000.0, Unit::Money),
                unit => Noisy::released(v, var, unit),
            }
        });
        ReleasedSums { sums }
    }

    /// Nothing released: the sum of no cells.
    pub(super) fn zero() -> ReleasedSums {
        ReleasedSums { sums: std::array::from_fn(|i| Noisy::released(0.0, 0.0, SPECS[i].unit)) }
    }

    pub fn add(&self, o: &ReleasedSums) -> ReleasedSums {
        ReleasedSums { sums: std::array::from_fn(|i| Noisy::sum([self.sums[i], o.sums[i]], SPECS[i].unit)) }
    }

    pub fn total<'a>(cells: impl IntoIterator<Item = &'a ReleasedSums>) -> ReleasedSums {
        cells.into_iter().fold(ReleasedSums::zero(), |acc, c| acc.add(c))
    }

    /// One sum by its name in [`SUMS`].
    pub fn get(&self, name: &str) -> Noisy {
        let i = SUMS.iter().position(|n| *n == name).expect("a name from SUMS");
        self.sums[i]
    }

    pub fn funnel(&self) -> [Noisy; 4] {
        ["funnel_1", "funnel_2", "funnel_3", "funnel_4"].map(|n| self.get(n))
    }

    /// The top metrics, each a released count or a ratio of two.
    pub fn metrics(&self) -> ReleasedMetrics {
        let visits = self.get("visits");
        ReleasedMetrics {
            values: Metric::ALL.map(|m| match m {
                Metric::Visits => visits,
                Metric::Pageviews => self.get("pageviews"),
                Metric::AnonymousHits => self.get("anonymous_hits"),
                Metric::BounceRate => self.get("bounces").ratio(&visits, Unit::Share),
                Metric::Duration => self.get("duration_sum").ratio(&visits, Unit::Duration),
                Metric::PagesPerVisit => self.get("visit_pageviews").ratio(&visits, Unit::Decimal),
                Metric::Conversion => self.get("converted").ratio(&visits, Unit::Share),
                Metric::Revenue => self.get("revenue"),
            }),
        }
    }
}

/// The top metrics, released.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReleasedMetrics {
    values: [Noisy; 8],
}

impl ReleasedMetrics {
    pub fn of(&self, m: Metric) -> Noisy {
        self.values[Metric::ALL.iter().position(|x| *x == m).expect("every metric is in ALL")]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_and_follow_sums() {
        for p in [Profile::Shared, Profile::Filtered] {
            let total: f64 = p.shares().iter().sum();
            assert!((total - 1.0).abs() < 1e-9, "{p:?}: {total}");
        }
        assert_eq!(SPECS.map(|s| s.name), SUMS, "one spec per sum, in order");
    }

    #[test]
    fn each_sum_has_the_sensitivity_of_its_cap() {
        // The ε a cell spends is the sum over its sums of sensitivity / scale.
        let eps = 0.7;
        for p in [Profile::Shared, Profile::Filtered] {
            let spent: f64 = (0..15).map(|i| SPECS[i].sensitivity / scale(i, p, eps)).sum();
            assert!((spent - eps).abs() < 1e-9, "{spent}");
        }
        assert_eq!(SPECS[7].sensitivity, f64::from(caps::REVENUE) * 100.0, "revenue in cents");
        assert_eq!(SPECS[3].sensitivity, f64::from(caps::DURATION_SECS));
    }

    #[test]
    fn metrics_derive_from_sums() {
        let s = Sums { visits: 200, bounces: 50, duration_sum: 12_000, visit_pageviews: 600, converted: 10, pageviews: 700, revenue: 123.45, ..Default::default() };
        let m = ReleasedSums::of(&exact_for_tests(&s)).metrics();
        assert_eq!(m.of(Metric::Visits).value(), 200.0);
        assert_eq!(m.of(Metric::BounceRate).value(), 0.25);
        assert_eq!(m.of(Metric::Duration).value(), 60.0);
        assert_eq!(m.of(Metric::PagesPerVisit).value(), 3.0);
        assert!((m.of(Metric::Revenue).value() - 123.45).abs() < 1e-9);
        let noisy = ReleasedSums::of(&draw(&s, 1.0, Profile::Filtered).unwrap());
        assert!(noisy.get("visits").error() > 0.0);
        assert!(noisy.get("revenue").error() > noisy.get("visits").error(), "revenue moves by up to {} per visit", caps::REVENUE);
    }
}
