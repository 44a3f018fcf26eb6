//! RFM segments: recency, frequency and monetary scores 1–5 by quintile
//! over a window, and the named segment each score combination belongs to.
//!
//! Over the customers with at least one counted order in the window:
//! recency = days from their last order to the window's end, frequency =
//! orders, monetary = net value. The cut points are the 20th, 40th, 60th
//! and 80th percentiles (nearest rank) of each measure; a value above k cut
//! points scores k + 1 (recency the other way round: fewer days is better).
//! Ties at a cut point share a score, so when most customers have one order
//! the frequency scores bunch up; the cut points are shown so nobody is
//! misled.
//!
//! Segments ([`RULES_VERSION`]): the grid below over R and FM = ⌈(F + M) / 2⌉.
//! A table, not a list of overlapping conditions, so every one of the 125
//! combinations has exactly one segment by construction (a test checks it):
//!
//! | R \ FM | 1 | 2 | 3 | 4 | 5 |
//! |---|---|---|---|---|---|
//! | 5 | New | Promising | Potential loyalist | Champions | Champions |
//! | 4 | Promising | Potential loyalist | Potential loyalist | Loyal | Champions |
//! | 3 | Needs attention | Needs attention | Needs attention | Loyal | Loyal |
//! | 2 | Hibernating | Hibernating | At risk | At risk | Can't lose |
//! | 1 | Lost | Lost | Hibernating | At risk | Can't lose |

use clickhouse::Row;
use serde::Deserialize;

use super::{order_facts, Tier3};
use crate::stats::sql::Sql;

pub const RULES_VERSION: &str = "rfm-grid-1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Segment {
    Champions,
    Loyal,
    PotentialLoyalist,
    New,
    Promising,
    NeedsAttention,
    AtRisk,
    CantLose,
    Hibernating,
    Lost,
}

use Segment::*;

/// `GRID[r - 1][fm - 1]`.
const GRID: [[Segment; 5]; 5] = [
    [Lost, Lost, Hibernating, AtRisk, CantLose],
    [Hibernating, Hibernating, AtRisk, AtRisk, CantLose],
    [NeedsAttention, NeedsAttention, NeedsAttention, Loyal, Loyal],
    [Promising, PotentialLoyalist, PotentialLoyalist, Loyal, Champions],
    [New, Promising, PotentialLoyalist, Champions, Champions],
];

impl Segment {
    pub const ALL: [Segment; 10] = [Champions, Loyal, PotentialLoyalist, New, Promising, NeedsAttention, AtRisk, CantLose, Hibernating, Lost];

    pub fn label(self) -> &'static str {
        match self {
            Champions => "Champions",
            Loyal => "Loyal",
            PotentialLoyalist => "Potential loyalist",
            New => "New",
            Promising => "Promising",
            NeedsAttention => "Needs attention",
            AtRisk => "At risk",
            CantLose => "Can't lose",
            Hibernating => "Hibernating",
            Lost => "Lost",
        }
    }

    pub fn slug(self) -> &'static str {
        match self {
            Champions => "champions",
            Loyal => "loyal",
            PotentialLoyalist => "potential_loyalist",
            New => "new",
            Promising => "promising",
            NeedsAttention => "needs_attention",
            AtRisk => "at_risk",
            CantLose => "cant_lose",
            Hibernating => "hibernating",
            Lost => "lost",
        }
    }

    pub fn parse(s: &str) -> Option<Segment> {
        Segment::ALL.into_iter().find(|g| g.slug() == s)
    }

    /// The rule, in words, as the segments page shows it.
    pub fn rule(self) -> String {
        let cells: Vec<String> = (1..=5)
            .flat_map(|r| (1..=5).map(move |fm| (r, fm)))
            .filter(|&(r, fm)| GRID[r - 1][fm - 1] == self)
            .map(|(r, fm)| format!("R{r}·FM{fm}"))
            .collect();
        cells.join(", ")
    }
}

/// The segment of a score combination (each score 1–5).
pub fn segment(r: u8, f: u8, m: u8) -> Segment {
    let fm = (f + m).div_ceil(2);
    GRID[usize::from(r.clamp(1, 5)) - 1][usize::from(fm.clamp(1, 5)) - 1]
}

/// The 20/40/60/80th percentiles (nearest rank) of `values`.
pub fn cut_points(values: &mut [f64]) -> [f64; 4] {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return [0.0; 4];
    }
    [1, 2, 3, 4].map(|k| values[(k * n).div_ceil(5).max(1) - 1])
}

/// 1 + how many cut points `v` is above.
pub fn score_up(v: f64, cuts: &[f64; 4]) -> u8 {
    1 + cuts.iter().filter(|c| v > **c).count() as u8
}

/// Recency: fewer days scores higher.
pub fn score_down(v: f64, cuts: &[f64; 4]) -> u8 {
    6 - score_up(v, cuts)
}

#[derive(Debug, Clone, PartialEq, Row, Deserialize)]
pub struct Measures {
    pub customer_ref: String,
    pub r_days: f64,
    pub r_orders: u64,
    pub r_total: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub m: Measures,
    pub scores: (u8, u8, u8),
    pub segment: Segment,
}

#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Cuts {
    pub recency: [f64; 4],
    pub frequency: [f64; 4],
    pub monetary: [f64; 4],
}

/// Scores every customer of one window.
pub fn score(measures: Vec<Measures>) -> (Vec<Scored>, Cuts) {
    let pick = |f: fn(&Measures) -> f64| cut_points(&mut measures.iter().map(f).collect::<Vec<_>>());
    let cuts = Cuts { recency: pick(|m| m.r_days), frequency: pick(|m| m.r_orders as f64), monetary: pick(|m| m.r_total) };
    let scored = measures
        .into_iter()
        .map(|m| {
            let s = (score_down(m.r_days, &cuts.recency), score_up(m.r_orders as f64, &cuts.frequency), score_up(m.r_total, &cuts.monetary));
            Scored { segment: segment(s.0, s.1, s.2), scores: s, m }
        })
        .collect();
    (scored, cuts)
}

/// The measures of every customer with an order in `[from, until)`.
pub fn measures_sql(from: i64, until: i64) -> Sql {
    Sql::new("SELECT customer_ref, (")
        .int(until)
        .raw(" - max(placed_at)) / 86400 AS r_days, count() AS r_orders, sum(net) AS r_total FROM ")
        .then(order_facts(Some((from, until))))
        .raw(" GROUP BY customer_ref ORDER BY customer_ref")
}

pub async fn measures(t: &Tier3<'_>, from: i64, until: i64) -> clickhouse::error::Result<Vec<Measures>> {
    measures_sql(from, until).query_in(t.client, t.dbs).fetch_all().await
}

/// One segment's line on the segments page.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentSummary {
    pub segment: Segment,
    pub size: u64,
    pub revenue: f64,
    pub revenue_share: f64,
    /// Its size in the window before (same length).
    pub previous_size: u64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Segmentation {
    pub scored: Vec<Scored>,
    pub cuts: Cuts,
    pub summary: Vec<SegmentSummary>,
}

pub fn summarise(now: &[Scored], before: &[Scored]) -> Vec<SegmentSummary> {
    let total: f64 = now.iter().map(|s| s.m.r_total).sum();
    Segment::ALL
        .into_iter()
        .map(|g| {
            let members = now.iter().filter(|s| s.segment == g);
            let revenue: f64 = members.clone().map(|s| s.m.r_total).sum();
            SegmentSummary {
                segment: g,
                size: members.count() as u64,
                revenue,
                revenue_share: if total > 0.0 { revenue / total } else { 0.0 },
                previous_size: before.iter().filter(|s| s.segment == g).count() as u64,
            }
        })
        .collect()
}

/// Scores the window `[from, until)` and the one before it.
pub async fn segmentation(t: &Tier3<'_>, from: i64, until: i64) -> clickhouse::error::Result<Segmentation> {
    let span = until - from;
    let (now, before) = tokio::try_join!(measures(t, from, until), measures(t, from - span, from))?;
    let (scored, cuts) = score(now);
    let (before, _) = score(before);
    let summary = summarise(&scored, &before);
    Ok(Segmentation { scored, cuts, summary })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_combination_has_exactly_one_segment_and_every_segment_is_used() {
        let mut used = BTreeSet::new();
        for r in 1..=5 {
            for f in 1..=5 {
                for m in 1..=5 {
                    used.insert(segment(r, f, m));
                }
            }
        }
        assert_eq!(used.len(), Segment::ALL.len(), "{used:?}");
        // The rules in words list each of the 25 grid cells exactly once.
        let cells: Vec<String> = Segment::ALL.iter().flat_map(|g| g.rule().split(", ").map(String::from).collect::<Vec<_>>()).collect();
        let distinct: BTreeSet<&String> = cells.iter().collect();
        assert_eq!((cells.len(), distinct.len()), (25, 25));
        assert_eq!(segment(5, 5, 5), Champions);
        assert_eq!(segment(1, 1, 1), Lost);
        assert_eq!(segment(5, 1, 1), New);
        assert_eq!(segment(1, 5, 4), CantLose, "FM = ⌈4.5⌉ = 5");
        for g in Segment::ALL {
            assert_eq!(Segment::parse(g.slug()), Some(g));
        }
    }

    #[test]
    fn quintile_scores_by_hand() {
        // Ten customers; monetary 10..100: cuts at the 2nd, 4th, 6th, 8th values.
        let mut v: Vec<f64> = (1..=10).map(|i| i as f64 * 10.0).collect();
        let cuts = cut_points(&mut v);
        assert_eq!(cuts, [20.0, 40.0, 60.0, 80.0]);
        assert_eq!([10.0, 20.0, 30.0, 50.0, 80.0, 90.0, 100.0].map(|x| score_up(x, &cuts)), [1, 1, 2, 3, 4, 5, 5]);
        assert_eq!([1.0, 25.0, 90.0].map(|d| score_down(d, &[7.0, 14.0, 30.0, 60.0])), [5, 3, 1]);
        // Ties: most customers with one order all score 1.
        let cuts = cut_points(&mut [1.0, 1.0, 1.0, 1.0, 2.0]);
        assert_eq!(cuts, [1.0, 1.0, 1.0, 1.0]);
        assert_eq!((score_up(1.0, &cuts), score_up(2.0, &cuts)), (1, 5));
    }
}
