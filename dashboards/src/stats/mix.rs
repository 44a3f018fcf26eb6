//! The tier mix (from the visits rollup) and the realtime numbers (from
//! the raw events of the last minutes: the rollup trails live traffic).

use clickhouse::{Client, Row};
use serde::{Deserialize, Serialize};

use super::breakdown::{fold, Breakdown};
use super::metrics::Sums;
use super::sql::{events_in, Sql, Window};
use crate::query::{Sort, Where};

/// Events per tier: anonymous (cookies off), Tier 2, Tier 3 (whose Tier 2
/// copy this is).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Row, Deserialize, Serialize)]
pub struct TierMix {
    pub anonymous: u64,
    pub tier2: u64,
    pub tier3: u64,
}

impl TierMix {
    pub fn total(&self) -> u64 {
        self.anonymous + self.tier2 + self.tier3
    }
}

impl From<&Sums> for TierMix {
    fn from(t: &Sums) -> TierMix {
        TierMix { anonymous: t.anonymous_hits, tier2: t.tier2_events, tier3: t.tier3_events }
    }
}

pub async fn tier_mix(client: &Client, t2: &str, w: Window, visit_filters: &Where) -> clickhouse::error::Result<TierMix> {
    Ok((&super::metrics::totals(client, t2, w, visit_filters).await?).into())
}

/// The last few minutes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Realtime {
    pub window_secs: i64,
    pub visits: u64,
    pub pageviews: u64,
    pub top_pages: Breakdown,
}

#[derive(Row, Deserialize)]
struct Counts {
    visits: u64,
    pageviews: u64,
}

/// Visits and top pages over the `window_secs` before `now`.
pub async fn realtime(client: &Client, t2: &str, now: i64, window_secs: i64, filters: &Where, min_visits: u32) -> clickhouse::error::Result<Realtime> {
    let w = Window { from: now - window_secs, until: now + 60 };
    // Visits with a matching event in the window.
    let counts = Sql::new("SELECT toUInt64(uniqExactIf(session_id, session_id != '')) AS visits, toUInt64(countIf(kind = 'pageview')) AS pageviews FROM {t2}.events FINAL WHERE ")
        .then(events_in(w, filters));
    // The rollup trails live traffic, so realtime reads the raw events.
    let pages = Sql::new("SELECT 'pages' AS report, path AS key, uniqExactIf(session_id, session_id != '') AS v, count() AS c FROM {t2}.events FINAL WHERE kind = 'pageview' AND ")
        .then(events_in(w, filters))
        .raw(" GROUP BY key");
    let (c, mut top_pages) = tokio::try_join!(counts.query(client, t2).fetch_one::<Counts>(), fold(client, t2, &["pages"], pages, min_visits, Sort::DEFAULT))?;
    let top_pages = top_pages.remove(0);
    Ok(Realtime { window_secs, visits: c.visits, pageviews: c.pageviews, top_pages })
}
