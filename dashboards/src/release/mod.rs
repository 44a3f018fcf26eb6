//! The release layer: every number an analyst reads from Tier 2 data
//! leaves through here, with differential privacy, one visit being the
//! unit protected.
//!
//! The threat: an analyst (any dashboards user with the `analyst` role, or
//! a script with their API token) who also holds the store's own order
//! records, and asks whatever filtered questions they like, to learn
//! whether one visit did something (saw a page, searched a term, bought).
//! What they may learn is what the store as a whole did: released numbers
//! change by little whether or not any one visit is in the data.
//!
//! How, in one sentence per part (the manual, "Tier 2 disclosure control"):
//! - **bounded contributions**: the rollup caps what one visit puts into
//!   any sum ([`caps`]), so every sum has a known sensitivity;
//! - **cells**: a question is answered from *cells*, one view of one day
//!   (a day's metrics, a day's hours, a day's groups of one report; the
//!   products per week, realtime per five minutes), each released once with
//!   noise ([`noise`]: OpenDP's discrete Laplace) and stored ([`store`]).
//!   A period is the sum of its days' cells, so a period split in two, or
//!   asked again, or with its filters in another order, gives the same
//!   numbers and costs nothing: there is nothing to average;
//! - **thresholds**: groups of open-ended values show only when their noisy
//!   count passes a threshold set from ε and δ ([`groups`]);
//! - **budget**: a new cell costs its ε on the day it covers, charged to
//!   the shared account when unfiltered (released once for everyone) and to
//!   the analyst when filtered; a day whose budget is spent takes no new
//!   cells, so no sequence of questions learns more than the budget allows;
//! - **one way out**: the views get [`Noisy`] values from here and build
//!   [`ReleasedTable`]s, which [`seal`] refuses to make from exact numbers.
//!
//! A day is released once it is over, settled and rolled up ([`Ready`]);
//! today's metrics come hour by hour as hours close. Tier 3 views
//! (identified customers, role `marketing`) do not come through here.

pub mod caps;
pub mod groups;
pub mod metrics;
pub mod noise;
pub mod pairs;
pub mod realtime;
pub mod sealed;
pub mod store;
pub mod value;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clickhouse::{Client, Row};
use mintmark_config::ReleaseSection;
use serde::Deserialize;

pub use metrics::{ReleasedMetrics, ReleasedSums};
pub use sealed::{seal, ReleasedTable, Unreleased};
pub use store::Account;
pub use value::{Noisy, Unit};

use crate::query::{Day, Interval, Range, StatsQuery, Where};
use crate::stats::breakdown::Report;
use crate::stats::sql::{Sql, Window};

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("{}", budget_message(.account, *.day, *.spent, *.budget))]
    Budget { account: Account, day: Day, spent: f64, budget: f64 },
    #[error("reading ClickHouse: {0}")]
    ClickHouse(#[from] clickhouse::error::Error),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error("drawing noise: {0}")]
    Noise(#[from] noise::NoiseError),
}

fn budget_message(account: &Account, day: Day, spent: f64, budget: f64) -> String {
    match account {
        Account::Shared => format!(
            "the shared privacy budget for {day} is spent (ε {spent:.2} of {budget:.2}): unfiltered views that need a new release for that day cannot be answered; what was released before still is"
        ),
        Account::Analyst(_) => format!(
            "your privacy budget for {day} is spent (ε {spent:.2} of {budget:.2}): new filtered questions that cover that day cannot be answered. \
             Questions asked before are still answered, and unfiltered views are not affected. Pick a period without {day}, or remove the filters"
        ),
    }
}

impl ReleaseError {
    /// A refusal the user should read (the budget), not an outage.
    pub fn is_refusal(&self) -> bool {
        matches!(self, ReleaseError::Budget { .. })
    }
}

/// Which days (and hours of today) the rollup has built for good: a cell
/// is drawn only from data that will not change under it.
#[derive(Debug, Clone, Default)]
pub struct Ready {
    raw: BTreeMap<i32, (u64, u32)>,
    built: BTreeMap<i32, (u64, u32, u32)>,
    now: i64,
    settle: i64,
}

#[derive(Row, Deserialize)]
struct RawDay {
    day: u16,
    rows: u64,
    last: u32,
}

#[derive(Row, Deserialize)]
struct BuiltDay {
    day: u16,
    rows: u64,
    last: u32,
    built_at: u32,
}

impl Ready {
    async fn read(client: &Client, t2: &str, now: i64, settle: i64) -> clickhouse::error::Result<Ready> {
        let raw: Vec<RawDay> = client
            .query(&format!("SELECT toUInt16(event_date) AS day, toUInt64(count()) AS rows, toUInt32(max(received_at)) AS last FROM {t2}.events GROUP BY event_date"))
            .fetch_all()
            .await?;
        let built: Vec<BuiltDay> = client
            .query(&format!("SELECT toUInt16(day) AS day, source_rows AS rows, toUInt32(source_last) AS last, toUInt32(built_at) AS built_at FROM {t2}.rollup_days FINAL"))
            .fetch_all()
            .await?;
        Ok(Ready {
            raw: raw.into_iter().map(|r| (i32::from(r.day), (r.rows, r.last))).collect(),
            built: built.into_iter().map(|b| (i32::from(b.day), (b.rows, b.last, b.built_at))).collect(),
            now,
            settle,
        })
    }

    /// A past day that ended `settle` ago, whose events the rollup built
    /// after that and which has not changed since.
    pub fn day(&self, d: Day) -> bool {
        let end = Day(d.0 + 1).start_secs() + self.settle;
        if self.now < end {
            return false;
        }
        match (self.raw.get(&d.0), self.built.get(&d.0)) {
            (Some(&(rows, last)), Some(&(brows, blast, at))) => rows == brows && last == blast && i64::from(at) >= end,
            (Some(_), None) => false,
            // Raw events purged (the rollup outlives them), or emptied.
            (None, Some(&(_, _, at))) => i64::from(at) >= end,
            (None, None) => true,
        }
    }

    /// The data a released day was drawn from: the rollup's record of it.
    /// A day whose events change after its release (late arrivals, an
    /// import) is ready again under a new version, and released again.
    pub fn version(&self, d: Day) -> String {
        match self.built.get(&d.0) {
            Some((rows, last, _)) => format!("{rows}:{last}"),
            None => "0:0".into(),
        }
    }

    /// An hour (its start, Unix seconds) that ended `settle` ago and that
    /// the rollup has built since.
    pub fn hour(&self, start: i64) -> bool {
        let end = start + 3600 + self.settle;
        if self.now < end {
            return false;
        }
        let d = Day::from_unix(start);
        if self.day(d) {
            return true;
        }
        match (self.raw.get(&d.0), self.built.get(&d.0)) {
            (_, Some(&(_, _, at))) => i64::from(at) >= end,
            (None, None) => true,
            (Some(_), None) => false,
        }
    }
}

/// Who asks what: the account that pays, the scope (the normalised
/// filters; empty for the shared views) and the filters themselves.
pub struct Ask<'a> {
    pub client: &'a Client,
    pub t2: &'a str,
    pub account: Account,
    pub scope: String,
    pub filters: Where,
    /// The filters over events (the purchases of products).
    pub event_filters: Where,
    pub today: Day,
    /// ε this request spent per day, for the page to say.
    spent: Mutex<BTreeMap<Day, f64>>,
    /// The analyst who paid for questions asked on this one's behalf
    /// ([`Ask::absorb`]: a goal's conversions, a goal's columns).
    paid_by: Mutex<Option<Account>>,
}

impl<'a> Ask<'a> {
    /// The question `q` asks, by `user` (their own budget pays for
    /// filtered questions).
    pub fn new(client: &'a Client, t2: &'a str, q: &StatsQuery, user: i64, today: Day) -> Ask<'a> {
        let scope = scope(q);
        let account = if scope.is_empty() { Account::Shared } else { Account::Analyst(user) };
        Ask {
            client,
            t2,
            account,
            scope,
            filters: q.visit_filter_sql(),
            event_filters: q.filter_sql(),
            today,
            spent: Mutex::new(BTreeMap::new()),
            paid_by: Mutex::new(None),
        }
    }

    /// The question `q` with a goal's columns on its breakdowns: the goal
    /// (by its definition) is part of the scope, so the columns' cells are
    /// the asker's to pay for, never the shared account's, and an edited
    /// goal reads new ones.
    pub fn with_goal_columns(client: &'a Client, t2: &'a str, q: &StatsQuery, goal: &crate::analyst::goals::Goal, user: i64, today: Day) -> Ask<'a> {
        Ask::analysts(client, t2, q, &format!("columns:goal:{}={}", goal.name, goal.kind.definition()), user, today)
    }

    /// The question `q` walking an analyst's funnel: the same, the funnel
    /// (by its definition) in the scope.
    pub fn with_funnel(client: &'a Client, t2: &'a str, q: &StatsQuery, funnel: &crate::analyst::funnels::Funnel, user: i64, today: Day) -> Ask<'a> {
        Ask::analysts(client, t2, q, &format!("funnel:{}", funnel.definition()), user, today)
    }

    /// `q` with `what` added to its scope, paid by `user`.
    fn analysts(client: &'a Client, t2: &'a str, q: &StatsQuery, what: &str, user: i64, today: Day) -> Ask<'a> {
        let mut ask = Ask::new(client, t2, q, user, today);
        ask.scope = if ask.scope.is_empty() { what.to_string() } else { format!("{}\u{1f}{what}", ask.scope) };
        ask.account = Account::Analyst(user);
        ask
    }

    /// What this request spent, per day it charged.
    pub fn spent(&self) -> BTreeMap<Day, f64> {
        self.spent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Counts what `other` (a question asked on this one's behalf, e.g. a
    /// goal's) spent as spent by this request.
    pub fn absorb(&self, other: &Ask<'_>) {
        for (d, e) in other.spent() {
            self.charge(&[d.0], e);
        }
        if matches!(other.account, Account::Analyst(_)) {
            *self.paid_by.lock().unwrap_or_else(|e| e.into_inner()) = Some(other.account.clone());
        }
    }

    /// Whose budget this request's numbers come from: its own account, or
    /// the analyst who paid for the questions asked on its behalf.
    pub fn payer(&self) -> Account {
        self.paid_by.lock().unwrap_or_else(|e| e.into_inner()).clone().unwrap_or_else(|| self.account.clone())
    }

    fn charge(&self, days: &[i32], eps: f64) {
        let mut spent = self.spent.lock().unwrap_or_else(|e| e.into_inner());
        for d in days {
            *spent.entry(Day(*d)).or_default() += eps;
        }
    }
}

/// The filters in a canonical order: the same question written another
/// way (filters reordered, repeated) is the same scope, so it reads the
/// same cells.
pub fn scope(q: &StatsQuery) -> String {
    // A goal is named with its definition: an edited goal is a new
    // question, never answered from the old one's cells.
    let definition = |f: &crate::query::Filter| match (f.dimension, q.goal(&f.value)) {
        (crate::query::Dimension::Goal, Some(g)) => format!("={}", g.kind.definition()),
        _ => String::new(),
    };
    let mut parts: Vec<String> = q.filters.iter().map(|f| format!("{}:{}:{}{}", f.dimension.name(), f.op.label(), f.value, definition(f))).collect();
    parts.sort();
    parts.dedup();
    parts.join("\u{1f}")
}

/// Metric cells over a period: closed days, and today's closed hours.
#[derive(Debug, Clone, Default)]
pub struct Cube {
    pub days: BTreeMap<Day, ReleasedSums>,
    /// Hour start (Unix seconds) → its cell: today's closed hours, and
    /// every hour of the period when an hourly chart asked for them.
    pub hours: BTreeMap<i64, ReleasedSums>,
    /// Days of the period not released yet (today, or not settled).
    pub pending: Vec<Day>,
}

impl Cube {
    /// The whole period: its days' cells and today's hours.
    pub fn total(&self, today: Day) -> ReleasedSums {
        let today_start = today.start_secs();
        ReleasedSums::total(self.days.values().chain(self.hours.iter().filter(|(at, _)| **at >= today_start && **at < today_start + 86_400).map(|(_, s)| s)))
    }

    /// One point per bucket of `interval` over `w`, in order.
    pub fn series(&self, w: Window, interval: Interval, today: Day) -> Vec<(i64, ReleasedSums)> {
        let buckets = interval.buckets(w.from, w.until);
        let bucket_of = |at: i64| buckets.iter().rposition(|b| *b <= at);
        let mut out: Vec<(i64, ReleasedSums)> = buckets.iter().map(|b| (*b, ReleasedSums::zero())).collect();
        let today_start = today.start_secs();
        let mut add = |at: i64, s: &ReleasedSums| {
            if let Some(i) = bucket_of(at) {
                out[i].1 = out[i].1.add(s);
            }
        };
        if interval == Interval::Hour {
            for (at, s) in self.hours.range(w.from..w.until) {
                add(*at, s);
            }
        } else {
            for (d, s) in &self.days {
                add(d.start_secs(), s);
            }
            for (at, s) in self.hours.range(today_start..today_start + 86_400) {
                add(*at, s);
            }
        }
        out
    }
}

/// A report's (or the products') groups over a period.
#[derive(Debug, Clone)]
pub struct Groups {
    pub released: groups::ReleasedGroups,
    /// Days of the period with no cell (today, or not settled).
    pub pending: Vec<Day>,
}

pub struct Releaser {
    pub params: ReleaseSection,
    store: store::Store,
    ready: Mutex<Option<(Instant, i64, Ready)>>,
}

/// How long a reading of the rollup's state is reused.
const READY_FOR: Duration = Duration::from_secs(5);

impl Releaser {
    pub fn open(params: ReleaseSection, dir: &std::path::Path) -> Result<Releaser, store::StoreError> {
        Ok(Releaser { params, store: store::Store::open(dir)?, ready: Mutex::new(None) })
    }

    /// In memory, for tests.
    pub fn in_memory(params: ReleaseSection) -> Result<Releaser, store::StoreError> {
        Ok(Releaser { params, store: store::Store::in_memory()?, ready: Mutex::new(None) })
    }

    pub fn store(&self) -> &store::Store {
        &self.store
    }

    fn eps_budget(&self, account: &Account) -> (f64, f64) {
        match account {
            Account::Shared => (self.params.shared_epsilon, self.params.shared_daily_budget),
            Account::Analyst(_) => (self.params.epsilon, self.params.analyst_daily_budget),
        }
    }

    /// The ε of a cell of `kind` paid by `account`, and that account's
    /// daily budget: the whole store's metrics (days, hours) have their own ε.
    fn cell_eps(&self, account: &Account, kind: &str) -> (f64, f64) {
        match (account, kind) {
            (Account::Shared, "metrics" | "hours") => (self.params.shared_metrics_epsilon, self.params.shared_daily_budget),
            _ => self.eps_budget(account),
        }
    }

    /// The whole store's metrics (days and hours) split ε for the store's
    /// numbers; a segment's put visits first.
    fn profile(account: &Account, kind: &str) -> metrics::Profile {
        match (account, kind) {
            (Account::Shared, "metrics" | "hours") => metrics::Profile::Shared,
            _ => metrics::Profile::Filtered,
        }
    }

    async fn ready(&self, client: &Client, t2: &str) -> clickhouse::error::Result<Ready> {
        let now = crate::accounts::now_secs();
        if let Some((at, _, r)) = self.ready.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            if at.elapsed() < READY_FOR {
                return Ok(Ready { now, ..r.clone() });
            }
        }
        let r = Ready::read(client, t2, now, i64::from(self.params.settle_minutes) * 60).await?;
        *self.ready.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), now, r.clone()));
        Ok(r)
    }

    /// Refuses early, before any ClickHouse work, when a day that needs a
    /// new cell (`days`: those with none, or with one of older data) has no
    /// budget left for it.
    fn precheck(&self, ask: &Ask<'_>, kind: &str, days: &[i32], span: i32) -> Result<(), ReleaseError> {
        if days.is_empty() {
            return Ok(());
        }
        let (eps, budget) = self.cell_eps(&ask.account, kind);
        let (from, until) = (days[0], days[days.len() - 1] + span);
        let spent = self.store.spent(&ask.account, from, until)?;
        for d in days {
            for day in *d..*d + span {
                let s = spent.get(&day).copied().unwrap_or(0.0);
                if s + eps > budget + 1e-9 {
                    return Err(ReleaseError::Budget { account: ask.account.clone(), day: Day(day), spent: s, budget });
                }
            }
        }
        Ok(())
    }

    /// Whether drawing `days` again would go over the budget: then the
    /// cells drawn before, from older data, keep answering.
    fn over_budget(&self, ask: &Ask<'_>, kind: &str, days: &[Day], span: i32) -> bool {
        self.precheck(ask, kind, &days.iter().map(|d| d.0).collect::<Vec<_>>(), span).is_err()
    }

    /// Stores new cells (the stored ones win) and charges for them.
    fn commit(&self, ask: &Ask<'_>, kind: &str, cells: Vec<store::NewCell>, span: i32) -> Result<BTreeMap<(i32, i32), store::Stored1>, ReleaseError> {
        let (eps, budget) = self.cell_eps(&ask.account, kind);
        match self.store.release(&ask.account, budget, eps, &ask.scope, kind, cells, span, crate::accounts::now_secs())? {
            Ok(stored) => {
                ask.charge(&stored.charged_days, eps);
                Ok(stored.bodies)
            }
            Err(over) => Err(ReleaseError::Budget { account: ask.account.clone(), day: Day(over.day), spent: over.spent, budget: over.budget }),
        }
    }

    /// The metric cells of `range`: a cell per closed, ready day, and one
    /// per closed, ready hour of today; with `all_hours`, hour cells for
    /// every day of the range (an hourly chart).
    pub async fn sums(&self, ask: &Ask<'_>, range: Range, all_hours: bool) -> Result<Cube, ReleaseError> {
        let ready = self.ready(ask.client, ask.t2).await?;
        let mut cube = Cube::default();
        let (days, pending) = closed_days(range, ask.today, |d| ready.day(d));
        cube.pending = pending;
        // Whole days.
        let have = self.store.get(&ask.scope, "metrics", range.from.0, range.until.0)?;
        let now = crate::accounts::now_secs();
        let missing: Vec<Day> = days.iter().copied().filter(|d| !have.get(&(d.0, -1)).is_some_and(|c| c.answers(&ready.version(*d), now))).collect();
        let mut bodies = have;
        let stale_all = missing.iter().all(|d| bodies.contains_key(&(d.0, -1)));
        if !missing.is_empty() && !(stale_all && self.over_budget(ask, "metrics", &missing, 1)) {
            self.precheck(ask, "metrics", &missing.iter().map(|d| d.0).collect::<Vec<_>>(), 1)?;
            let w = days_window(&missing);
            let exact = crate::stats::metrics::sums(ask.client, ask.t2, w, &ask.filters, Some(Interval::Day)).await?;
            let eps = self.cell_eps(&ask.account, "metrics").0;
            let mut cells = Vec::new();
            for d in &missing {
                let s = exact.get(&(d.start_secs() as u32)).copied().unwrap_or_default();
                cells.push((d.0, -1, serde_json::to_string(&metrics::draw(&s, eps, Self::profile(&ask.account, "metrics"))?).expect("a body serialises"), ready.version(*d)));
            }
            bodies.extend(self.commit(ask, "metrics", cells, 1)?);
        }
        for d in &days {
            if let Some(b) = bodies.get(&(d.0, -1)).and_then(|b| serde_json::from_str::<metrics::Body>(&b.body).ok()) {
                cube.days.insert(*d, ReleasedSums::of(&b));
            }
        }
        // Hours: today's, and every day's when asked.
        let mut hour_days: Vec<Day> = if all_hours { days.clone() } else { Vec::new() };
        // Today is in the period exactly when it is pending: its hours answer.
        if cube.pending.last() == Some(&ask.today) {
            hour_days.push(ask.today);
        }
        if !hour_days.is_empty() {
            cube.hours = self.hours(ask, &ready, &hour_days).await?;
        }
        Ok(cube)
    }

    /// Hour cells of `days`: every ready hour of each, drawn once.
    async fn hours(&self, ask: &Ask<'_>, ready: &Ready, days: &[Day]) -> Result<BTreeMap<i64, ReleasedSums>, ReleaseError> {
        let (from, until) = (days[0].0, days[days.len() - 1].0 + 1);
        let mut bodies = self.store.get(&ask.scope, "hours", from, until)?;
        let wanted: Vec<(Day, i32)> = days.iter().flat_map(|d| (0..24).map(move |h| (*d, h))).filter(|(d, h)| ready.hour(d.start_secs() + i64::from(*h) * 3600)).collect();
        let missing: Vec<(Day, i32)> = wanted.iter().copied().filter(|(d, h)| !bodies.contains_key(&(d.0, *h))).collect();
        if !missing.is_empty() {
            let mut missing_days: Vec<i32> = missing.iter().map(|(d, _)| d.0).collect();
            missing_days.dedup();
            self.precheck(ask, "hours", &missing_days, 1)?;
            let w = Window { from: missing[0].0.start_secs(), until: Day(missing[missing.len() - 1].0 .0 + 1).start_secs() };
            let exact = crate::stats::metrics::sums(ask.client, ask.t2, w, &ask.filters, Some(Interval::Hour)).await?;
            let eps = self.cell_eps(&ask.account, "hours").0;
            let mut cells = Vec::new();
            for (d, h) in &missing {
                let at = d.start_secs() + i64::from(*h) * 3600;
                let s = exact.get(&(at as u32)).copied().unwrap_or_default();
                // Hours are released once (today's as they close): unversioned.
                cells.push((d.0, *h, serde_json::to_string(&metrics::draw(&s, eps, Self::profile(&ask.account, "hours"))?).expect("a body serialises"), String::new()));
            }
            bodies.extend(self.commit(ask, "hours", cells, 1)?);
        }
        Ok(wanted
            .into_iter()
            .filter_map(|(d, h)| {
                let b: metrics::Body = serde_json::from_str(&bodies.get(&(d.0, h))?.body).ok()?;
                Some((d.start_secs() + i64::from(h) * 3600, ReleasedSums::of(&b)))
            })
            .collect())
    }

    /// A report's groups over the closed, ready days of `range`.
    pub async fn report(&self, ask: &Ask<'_>, report: Report, range: Range) -> Result<Groups, ReleaseError> {
        let spec = report_spec(report);
        let kind = format!("report:{}", report.name());
        let ready = self.ready(ask.client, ask.t2).await?;
        let (days, pending) = closed_days(range, ask.today, |d| ready.day(d));
        let delta = self.params.delta;
        let (client, t2, filters) = (ask.client, ask.t2, ask.filters.clone());
        let versions: Vec<String> = days.iter().map(|d| ready.version(*d)).collect();
        let bodies = self
            .group_cells(ask, &kind, &spec, &days, &versions, 1, |missing: Vec<Day>| async move {
                let w = days_window(&missing);
                day_groups(client, t2, report, w, &filters).await
            }, delta)
            .await?;
        Ok(Groups { released: groups::ReleasedGroups::of(&spec, &bodies), pending })
    }

    /// A report's groups with a goal's columns (conversions, revenue) over
    /// the closed, ready days of `range`; `ask` is
    /// [`Ask::with_goal_columns`]'s.
    pub async fn goal_report(&self, ask: &Ask<'_>, report: Report, range: Range, goal: &crate::analyst::goals::Goal) -> Result<Groups, ReleaseError> {
        let spec = goal_report_spec(report);
        let kind = format!("report:{}:goal", report.name());
        let ready = self.ready(ask.client, ask.t2).await?;
        let (days, pending) = closed_days(range, ask.today, |d| ready.day(d));
        let delta = self.params.delta;
        let (sql, values) = goal.kind.visit_condition();
        let goal_where = Where { sql, values, facet: None };
        let (client, t2, filters) = (ask.client, ask.t2, ask.filters.clone());
        let versions: Vec<String> = days.iter().map(|d| ready.version(*d)).collect();
        let bodies = self
            .group_cells(ask, &kind, &spec, &days, &versions, 1, |missing: Vec<Day>| async move {
                let w = days_window(&missing);
                day_goal_groups(client, t2, report, w, &filters, &goal_where).await
            }, delta)
            .await?;
        Ok(Groups { released: groups::ReleasedGroups::of(&spec, &bodies), pending })
    }

    /// An analyst's funnel over the closed, ready days of `range`: how many
    /// visits reached each step. One visit reaches each step at most once,
    /// so a day's cell has one count per step, each of sensitivity 1
    /// (released as one group, whose threshold does not matter: the
    /// folded row holds it when it does not pass). `ask` is
    /// [`Ask::with_funnel`]'s.
    pub async fn funnel(&self, ask: &Ask<'_>, funnel: &crate::analyst::funnels::Funnel, range: Range) -> Result<(Vec<Noisy>, Vec<Day>), ReleaseError> {
        let n = funnel.steps.len();
        let spec = groups::Spec { groups_per_visit: 1, values: (0..n).map(|_| groups::ValueSpec { per_visit: 1, share: 1.0 / n as f64, unit: Unit::Count }).collect() };
        let ready = self.ready(ask.client, ask.t2).await?;
        let (days, pending) = closed_days(range, ask.today, |d| ready.day(d));
        let delta = self.params.delta;
        let (client, t2, filters) = (ask.client, ask.t2, ask.filters.clone());
        let versions: Vec<String> = days.iter().map(|d| ready.version(*d)).collect();
        let bodies = self
            .group_cells(ask, "funnel", &spec, &days, &versions, 1, |missing: Vec<Day>| async move {
                let w = days_window(&missing);
                let rows = crate::stats::funnels::day_steps(client, t2, funnel, w, &filters).await?;
                Ok(rows.into_iter().map(|r| (i32::from(r.day), BTreeMap::from([("steps".to_string(), r.steps.iter().map(|s| *s as i64).collect())]))).collect())
            }, delta)
            .await?;
        let released = groups::ReleasedGroups::of(&spec, &bodies);
        // The steps' counts: the group where it passed, the folded row where not.
        let shown = released.rows.iter().find(|(k, _)| k == "steps").map(|(_, v)| v.clone());
        let steps = (0..n).map(|i| Noisy::sum([shown.as_ref().map(|v| v[i]).unwrap_or_else(|| Noisy::released(0.0, 0.0, Unit::Count)), released.other[i]], Unit::Count)).collect();
        Ok((steps, pending))
    }

    /// The products bought, per week (Monday to Sunday): the whole, closed,
    /// ready weeks inside `range`. Purchases are too few per day for
    /// products to pass a day's threshold at a store's scale; a week's do.
    pub async fn products(&self, ask: &Ask<'_>, range: Range) -> Result<(Groups, Vec<Day>), ReleaseError> {
        let spec = products_spec();
        let ready = self.ready(ask.client, ask.t2).await?;
        let mut weeks = Vec::new();
        let mut monday = range.from.0 + (7 - Day(range.from.0).date().weekday().number_days_from_monday() as i32) % 7;
        while monday + 7 <= range.until.0.min(ask.today.0) {
            if (monday..monday + 7).all(|d| ready.day(Day(d))) {
                weeks.push(Day(monday));
            }
            monday += 7;
        }
        let delta = self.params.delta;
        let (client, t2, filters) = (ask.client, ask.t2, ask.event_filters.clone());
        let versions: Vec<String> = weeks.iter().map(|w| (w.0..w.0 + 7).map(|d| ready.version(Day(d))).collect::<Vec<_>>().join(",")).collect();
        let bodies = self
            .group_cells(ask, "products", &spec, &weeks, &versions, 7, |missing: Vec<Day>| async move {
                let w = Window { from: missing[0].start_secs(), until: Day(missing[missing.len() - 1].0 + 7).start_secs() };
                week_products(client, t2, w, &filters).await
            }, delta)
            .await?;
        Ok((Groups { released: groups::ReleasedGroups::of(&spec, &bodies), pending: Vec::new() }, weeks))
    }

    /// Group cells of `kind` for `blocks` (each `span` days from its
    /// start): the stored ones, and new ones drawn from `exact`, which
    /// gives `block start → key → values` for the blocks it is handed.
    #[allow(clippy::too_many_arguments)]
    async fn group_cells<F, Fut>(&self, ask: &Ask<'_>, kind: &str, spec: &groups::Spec, blocks: &[Day], versions: &[String], span: i32, exact: F, delta: f64) -> Result<Vec<groups::Body>, ReleaseError>
    where
        F: FnOnce(Vec<Day>) -> Fut,
        Fut: std::future::Future<Output = clickhouse::error::Result<BTreeMap<i32, BTreeMap<String, Vec<i64>>>>>,
    {
        if blocks.is_empty() {
            return Ok(Vec::new());
        }
        let (from, until) = (blocks[0].0, blocks[blocks.len() - 1].0 + span);
        let mut bodies = self.store.get(&ask.scope, kind, from, until)?;
        let version = |d: &Day| versions[blocks.iter().position(|b| b == d).expect("a block of the list")].clone();
        let now = crate::accounts::now_secs();
        let missing: Vec<Day> = blocks.iter().copied().filter(|d| !bodies.get(&(d.0, -1)).is_some_and(|c| c.answers(&version(d), now))).collect();
        let stale_all = missing.iter().all(|d| bodies.contains_key(&(d.0, -1)));
        if !missing.is_empty() && !(stale_all && self.over_budget(ask, kind, &missing, span)) {
            self.precheck(ask, kind, &missing.iter().map(|d| d.0).collect::<Vec<_>>(), span)?;
            let all = exact(missing.clone()).await?;
            let eps = self.cell_eps(&ask.account, kind).0;
            let empty = BTreeMap::new();
            let mut cells = Vec::new();
            for d in &missing {
                let body = groups::draw(spec, all.get(&d.0).unwrap_or(&empty), eps, delta)?;
                cells.push((d.0, -1, serde_json::to_string(&body).expect("a body serialises"), version(d)));
            }
            bodies.extend(self.commit(ask, kind, cells, span)?);
        }
        Ok(blocks.iter().filter_map(|d| serde_json::from_str(&bodies.get(&(d.0, -1))?.body).ok()).collect())
    }

    /// What `account` has spent per day over `range`, with its budget.
    pub fn budget(&self, account: &Account, range: Range) -> Result<Budget, ReleaseError> {
        let (eps, budget) = self.cell_eps(account, "");
        let spent = self.store.spent(account, range.from.0, range.until.0)?;
        Ok(Budget { per_cell: eps, daily: budget, spent: spent.into_iter().map(|(d, e)| (Day(d), e)).collect() })
    }
}

/// An account's spending over some days.
#[derive(Debug, Clone)]
pub struct Budget {
    pub per_cell: f64,
    pub daily: f64,
    pub spent: BTreeMap<Day, f64>,
}

impl Budget {
    /// The most spent on any one day, and that day.
    pub fn most(&self) -> Option<(Day, f64)> {
        self.spent.iter().max_by(|a, b| a.1.total_cmp(b.1)).map(|(d, e)| (*d, *e))
    }
}

/// The window from the first of `days` (in order) to the end of the last.
fn days_window(days: &[Day]) -> Window {
    Window { from: days[0].start_secs(), until: Day(days[days.len() - 1].0 + 1).start_secs() }
}

fn closed_days(range: Range, today: Day, ready: impl Fn(Day) -> bool) -> (Vec<Day>, Vec<Day>) {
    let (days, mut pending): (Vec<Day>, Vec<Day>) = (range.from.0..range.until.0.min(today.0)).map(Day).partition(|d| ready(*d));
    if range.until.0 > today.0 && range.from.0 <= today.0 {
        pending.push(today);
    }
    (days, pending)
}

/// How a report's cells are released: one visit is in one group of a
/// visit-wide dimension, in its first few of a list (see [`caps`]).
pub fn report_spec(report: Report) -> groups::Spec {
    let (per_visit, hits) = match report {
        Report::Pages => (caps::PAGES_PER_VISIT, caps::VIEWS_PER_PAGE),
        // The lists bounded like targets in `visit_group_selects`.
        Report::Downloads | Report::Outbound | Report::SiteSearch | Report::CustomEvents | Report::EventProps => (caps::TARGETS_PER_VISIT, caps::HITS_PER_TARGET),
        _ => (1, caps::PAGEVIEWS),
    };
    groups::Spec {
        groups_per_visit: per_visit,
        values: vec![groups::ValueSpec { per_visit: 1, share: 0.6, unit: Unit::Count }, groups::ValueSpec { per_visit: hits, share: 0.4, unit: Unit::Count }],
    }
}

/// A report with a goal's columns: visits, the count, the visits that
/// reached the goal, and their revenue (cents). Revenue gets the most ε:
/// it is what a visit can move most.
pub fn goal_report_spec(report: Report) -> groups::Spec {
    let plain = report_spec(report);
    let hits = plain.values[1].per_visit;
    groups::Spec {
        groups_per_visit: plain.groups_per_visit,
        values: vec![
            groups::ValueSpec { per_visit: 1, share: 0.3, unit: Unit::Count },
            groups::ValueSpec { per_visit: hits, share: 0.1, unit: Unit::Count },
            groups::ValueSpec { per_visit: 1, share: 0.2, unit: Unit::Count },
            groups::ValueSpec { per_visit: caps::REVENUE * 100, share: 0.4, unit: Unit::Money },
        ],
    }
}

/// Products: purchasing visits, units and revenue (cents) per product.
pub fn products_spec() -> groups::Spec {
    groups::Spec {
        groups_per_visit: caps::PRODUCTS_PER_VISIT,
        values: vec![
            groups::ValueSpec { per_visit: 1, share: 0.6, unit: Unit::Count },
            groups::ValueSpec { per_visit: caps::UNITS_PER_PRODUCT, share: 0.15, unit: Unit::Count },
            groups::ValueSpec { per_visit: caps::REVENUE_PER_PRODUCT * 100, share: 0.25, unit: Unit::Money },
        ],
    }
}

#[derive(Row, Deserialize)]
struct DayGroup {
    day: u16,
    key: String,
    v: u64,
    c: u64,
}

/// The exact groups of `report` per day of `w` (start of visit), with
/// each visit's contribution already bounded by the rollup.
async fn day_groups(client: &Client, t2: &str, report: Report, w: Window, filters: &Where) -> clickhouse::error::Result<BTreeMap<i32, BTreeMap<String, Vec<i64>>>> {
    let sql = if filters.is_empty() {
        Sql::new("SELECT toUInt16(start_day) AS day, key, toUInt64(sum(visits)) AS v, toUInt64(sum(hits)) AS c FROM {t2}.visit_groups WHERE report = '")
            .raw(report.name())
            .raw("' AND ")
            .days(w)
            .raw(" GROUP BY day, key")
    } else {
        let condition = Sql::default().days(w).raw(" AND ").matching(filters);
        let (_, select) = crate::stats::breakdown::visit_group_selects(&[report], "{t2}.visits", &condition, true).remove(0);
        Sql::new("SELECT toUInt16(start_day) AS day, key, toUInt64(sum(v)) AS v, toUInt64(sum(c)) AS c FROM (").then(select).raw(") WHERE report = '").raw(report.name()).raw("' GROUP BY day, key")
    };
    let rows: Vec<DayGroup> = sql.query(client, t2).fetch_all().await?;
    let mut out: BTreeMap<i32, BTreeMap<String, Vec<i64>>> = BTreeMap::new();
    for r in rows {
        out.entry(i32::from(r.day)).or_default().insert(r.key, vec![r.v as i64, r.c as i64]);
    }
    Ok(out)
}

#[derive(Row, Deserialize)]
struct DayGoalGroup {
    day: u16,
    key: String,
    v: u64,
    c: u64,
    g: u64,
    r: i64,
}

/// The exact groups of `report` with `goal`'s columns per day of `w`,
/// from the matching visits.
async fn day_goal_groups(client: &Client, t2: &str, report: Report, w: Window, filters: &Where, goal: &Where) -> clickhouse::error::Result<BTreeMap<i32, BTreeMap<String, Vec<i64>>>> {
    let condition = Sql::default().days(w).raw(" AND ").matching(filters);
    let rows: Vec<DayGoalGroup> = crate::stats::breakdown::goal_group_select(report, &condition, goal).query(client, t2).fetch_all().await?;
    let mut out: BTreeMap<i32, BTreeMap<String, Vec<i64>>> = BTreeMap::new();
    for r in rows {
        out.entry(i32::from(r.day)).or_default().insert(r.key, vec![r.v as i64, r.c as i64, r.g as i64, r.r]);
    }
    Ok(out)
}

#[derive(Row, Deserialize)]
struct WeekProduct {
    week: u16,
    key: String,
    v: u64,
    u: u64,
    r: i64,
}

/// The exact products per week of `w`: per purchasing visit (or, without
/// a session, per purchase) at most [`caps::PRODUCTS_PER_VISIT`] products,
/// each with its units and revenue capped.
async fn week_products(client: &Client, t2: &str, w: Window, filters: &Where) -> clickhouse::error::Result<BTreeMap<i32, BTreeMap<String, Vec<i64>>>> {
    let sql = Sql::new("SELECT toUInt16(week) AS week, key, toUInt64(count()) AS v, toUInt64(sum(u)) AS u, toInt64(sum(r)) AS r FROM (SELECT week, unit, key, least(sum(qty), ")
        .raw(&caps::UNITS_PER_PRODUCT.to_string())
        .raw(") AS u, toInt64(round(least(sum(qty * price), ")
        .raw(&caps::REVENUE_PER_PRODUCT.to_string())
        .raw(") * 100)) AS r FROM (SELECT toMonday(ts, 'UTC') AS week, if(session_id = '', concat('purchase:', toString(cityHash64(ts, item_skus, value))), session_id) AS unit, item_skus, item_quantities, item_prices FROM {t2}.purchases WHERE ")
        .then(crate::stats::sql::events_in(w, filters))
        .raw(") ARRAY JOIN item_skus AS key, item_quantities AS qty, item_prices AS price GROUP BY week, unit, key ORDER BY week, unit, r DESC, key LIMIT ")
        .raw(&caps::PRODUCTS_PER_VISIT.to_string())
        .raw(" BY week, unit) GROUP BY week, key");
    let rows: Vec<WeekProduct> = sql.query(client, t2).fetch_all().await?;
    let mut out: BTreeMap<i32, BTreeMap<String, Vec<i64>>> = BTreeMap::new();
    for r in rows {
        out.entry(i32::from(r.week)).or_default().insert(r.key, vec![r.v as i64, r.u as i64, r.r]);
    }
    Ok(out)
}
