//! Realtime, released: the visits that began in the last five-minute
//! window that is over, their pageviews so far and the pages they saw.
//!
//! Windows are fixed (every five minutes from midnight) and a visit belongs
//! to the one it began in, so the windows of a day hold disjoint visits:
//! all of them together cost the day's shared ε once (parallel
//! composition), and polling cannot average anything, since a window is
//! released once and then read back. Realtime is unfiltered: a filtered
//! realtime question would be a new release of the same few visits every
//! five minutes.

use clickhouse::{Client, Row};
use serde::{Deserialize, Serialize};

use super::groups::{self, ReleasedGroups, Spec, ValueSpec};
use super::noise;
use super::value::{Noisy, Unit};
use super::{caps, Account, ReleaseError, Releaser};
use crate::query::Day;
use crate::stats::sql::Sql;

pub const WINDOW_SECS: i64 = 300;
/// How long after a window ends it is released (late beacons).
const LAG_SECS: i64 = 60;

const VISITS_SHARE: f64 = 0.4;
const PAGEVIEWS_SHARE: f64 = 0.2;
const PAGES_SHARE: f64 = 0.4;

fn pages_spec() -> Spec {
    Spec { groups_per_visit: caps::PAGES_PER_VISIT, values: vec![ValueSpec { per_visit: 1, share: 1.0, unit: Unit::Count }] }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Body {
    eps: f64,
    visits: i64,
    pageviews: i64,
    pages: groups::Body,
}

/// One released window.
#[derive(Debug, Clone)]
pub struct Realtime {
    pub from: i64,
    pub until: i64,
    pub visits: Noisy,
    pub pageviews: Noisy,
    pub pages: ReleasedGroups,
}

#[derive(Row, Deserialize)]
struct Counts {
    visits: u64,
    pageviews: u64,
}

#[derive(Row, Deserialize)]
struct PageCount {
    key: String,
    v: u64,
}

/// The last window released by `now`.
pub fn window(now: i64) -> (i64, i64) {
    let until = (now - LAG_SECS).div_euclid(WINDOW_SECS) * WINDOW_SECS;
    (until - WINDOW_SECS, until)
}

fn visits_in(from: i64, until: i64) -> Sql {
    // A visit's first event decides its window; a day back is enough to
    // know that it had none before.
    Sql::new("SELECT session_id, min(ts) AS first, least(countIf(kind = 'pageview'), ")
        .raw(&caps::PAGEVIEWS.to_string())
        .raw(") AS pv, arraySlice(arrayDistinct(arrayMap(x -> x.2, arraySort(groupArrayIf((ts, path), kind = 'pageview')))), 1, ")
        .raw(&caps::PAGES_PER_VISIT.to_string())
        .raw(") AS pages FROM {t2}.events FINAL WHERE event_date >= toDate(toDateTime(")
        .int(from)
        .raw(")) - 1 AND ts < toDateTime(")
        .int(until)
        .raw(") AND session_id != '' GROUP BY session_id HAVING first >= toDateTime(")
        .int(from)
        .raw(")")
}

impl Releaser {
    pub async fn realtime(&self, client: &Client, t2: &str, now: i64) -> Result<Realtime, ReleaseError> {
        let (from, until) = window(now);
        let day = Day::from_unix(from);
        let part = ((from - day.start_secs()) / WINDOW_SECS) as i32;
        let spec = pages_spec();
        let mut stored = self.store().get("", "realtime", day.0, day.0 + 1)?;
        if !stored.contains_key(&(day.0, part)) {
            let eps = self.params.shared_epsilon;
            let counts: Counts = Sql::new("SELECT toUInt64(count()) AS visits, toUInt64(sum(pv)) AS pageviews FROM (").then(visits_in(from, until)).raw(")").query(client, t2).fetch_one().await?;
            let pages: Vec<PageCount> =
                Sql::new("SELECT key, toUInt64(count()) AS v FROM (").then(visits_in(from, until)).raw(") ARRAY JOIN pages AS key GROUP BY key").query(client, t2).fetch_all().await?;
            let exact = pages.into_iter().map(|p| (p.key, vec![p.v as i64])).collect();
            let body = Body {
                eps,
                visits: counts.visits as i64 + noise::discrete_laplace(1.0 / (eps * VISITS_SHARE))?,
                pageviews: counts.pageviews as i64 + noise::discrete_laplace(f64::from(caps::PAGEVIEWS) / (eps * PAGEVIEWS_SHARE))?,
                pages: groups::draw(&spec, &exact, eps * PAGES_SHARE, self.params.delta)?,
            };
            let cell = (day.0, part, serde_json::to_string(&body).expect("a body serialises"), String::new());
            match self.store().release(&Account::Shared, self.params.shared_daily_budget, eps, "", "realtime", vec![cell], 1, now)? {
                Ok(s) => stored.extend(s.bodies),
                Err(o) => return Err(ReleaseError::Budget { account: Account::Shared, day: Day(o.day), spent: o.spent, budget: o.budget }),
            }
        }
        let body: Body = stored.get(&(day.0, part)).and_then(|b| serde_json::from_str(&b.body).ok()).ok_or_else(|| {
            ReleaseError::Store(super::store::StoreError::Db(rusqlite::Error::QueryReturnedNoRows))
        })?;
        let pages = ReleasedGroups::of(&spec, &[groups::Body { eps: body.eps * PAGES_SHARE, ..body.pages.clone() }]);
        Ok(Realtime {
            from,
            until,
            visits: Noisy::released(body.visits as f64, noise::variance(1.0 / (body.eps * VISITS_SHARE)), Unit::Count),
            pageviews: Noisy::released(body.pageviews as f64, noise::variance(f64::from(caps::PAGEVIEWS) / (body.eps * PAGEVIEWS_SHARE)), Unit::Count),
            pages,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_fixed_and_over() {
        let (from, until) = window(1_000_000);
        assert_eq!(until - from, WINDOW_SECS);
        assert_eq!(from % WINDOW_SECS, 0);
        assert!(until <= 1_000_000 - LAG_SECS);
        assert_eq!(window(until + LAG_SECS + WINDOW_SECS - 1), (from, until), "the same window until the next is over");
    }
}
